"""The end of a pytest-lips session: the report built from what the items recorded, the summary printed
under pytest's, the files written (``--lips-report``, ``--lips-plots``, ``--lips-save-baseline``, the GitHub
step summary) and the header lines at the start.

Functions of the :class:`~pytest_lips.session.LipsSession` (its settings, lazy resources and
:class:`~pytest_lips.gating.CollectedResults`); the rendering itself is in the sibling modules.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from .. import __version__
from ..errors import LipsUsageError

if TYPE_CHECKING:
    from ..session import LipsSession


def build_session_report(
    session: LipsSession, interrupted: bool = False, exit_status: int | None = None
) -> dict[str, Any]:
    """The report dict (:func:`pytest_lips.report.json_report.build_report`) of what was collected.

    ``interrupted`` marks a run stopped by Ctrl-C / ``pytest.exit`` (such a report is refused as a
    baseline); ``exit_status`` is pytest's exit status when known.
    """
    from .json_report import build_report, environment_info

    models = {name: model.describe() for name, model in session.loaded_models().items()}
    for name, info in session.results.model_infos.items():
        if name not in models or (info.get("probe_fingerprint") and not models[name].get("probe_fingerprint")):
            models[name] = info
    thresholds = session.thresholds.as_dict()
    skipped_gates = session.not_run_gates(models=session.model_names() or sorted(models))
    verdicts: list[dict[str, Any]] = []
    for record in session.results.metric_records:
        thresholds.update(record.get("thresholds") or {})
        verdicts.extend(dict(v, nodeid=record["nodeid"]) for v in record.get("verdicts", []))
        if record.get("regression"):
            verdicts.append(dict(record["regression"], nodeid=record["nodeid"], kind="baseline"))
    return build_report(
        plugin_version=__version__,
        protocol_version=session.profile.protocol_version,
        profile_name=session.profile.name,
        profile_description=session.profile.description,
        models=[models[name] for name in sorted(models)],
        seed=session.settings.seed,
        thresholds=thresholds,
        tolerances=session.tolerances.as_dict() if hasattr(session.tolerances, "as_dict") else {},
        metrics=[record["metric"] for record in session.results.metric_records],
        verdicts=verdicts,
        runs=session.results.run_records,
        outcomes=dict(session.results.outcomes),
        environment={**environment_info(session.settings.device), "md_engine": session.engine_info()},
        started_at=session.started_at,
        duration_s=time.time() - session.started,
        baseline=session.baseline.info(session.provenance) if session.baseline is not None else None,
        provenance=session.provenance,
        interrupted=interrupted,
        exit_status=exit_status,
        not_run=skipped_gates,
        selection=session.selection(),
    )


def engine_info(run_records: list[dict[str, Any]], choice: str) -> dict[str, Any]:
    """The ``--lips-engine`` choice and, per model, the engine and batch sizes its MD runs were computed
    with (for the report's environment). Read from the run records, which reach the xdist controller
    too, so a serial and a parallel report say the same."""
    models: dict[str, dict[str, Any]] = {}
    for run in run_records:
        extra = run.get("extra") or {}
        if not extra.get("engine"):
            continue
        entry = models.setdefault(str(run.get("model", "")), {"engines": set(), "batch_sizes": set(), "reasons": set()})
        entry["engines"].add(str(extra.get("engine_identity") or extra["engine"]))
        if extra.get("engine_reason"):
            entry["reasons"].add(str(extra["engine_reason"]))
        if extra.get("batch_size") is not None:
            entry["batch_sizes"].add(int(extra["batch_size"]))
    return {
        "choice": choice,
        "models": {
            name: {
                "engines": sorted(e["engines"]),
                "batch_sizes": sorted(e["batch_sizes"]),
                "reason": "; ".join(sorted(e["reasons"])),
            }
            for name, e in sorted(models.items())
        },
    }


def selection(config: pytest.Config, tasks: list[str]) -> dict[str, Any]:
    """Which tasks this run selected and how pytest deselected items (``-k``, ``-m``, ``--deselect``,
    ``--lf``): recorded in the report and in a baseline saved from it."""
    option = config.option
    out: dict[str, Any] = {"tasks": list(tasks)}
    for name, attribute in (("keyword", "keyword"), ("markexpr", "markexpr")):
        value = getattr(option, attribute, "") or ""
        if value:
            out[name] = str(value)
    deselect = list(getattr(option, "deselect", None) or [])
    if deselect:
        out["deselect"] = [str(d) for d in deselect]
    if getattr(option, "lf", False):
        out["last_failed"] = True
    return out


def finish(session: LipsSession, terminalreporter: Any, exitstatus: int) -> None:
    """Print the summary table and write report, plots, GitHub summary and baseline."""
    from .. import signals
    from .terminal import render_summary

    interrupted = was_interrupted(terminalreporter, exitstatus) or signals.received()
    report = session.build_report(interrupted=interrupted, exit_status=int(exitstatus))
    written: list[str] = []
    problems: list[str] = []
    plot_paths: list[Path] = []
    if session.settings.plots_dir is not None:
        from .plots import write_plots

        plot_paths = list(write_plots(report, session.settings.plots_dir))
        written.extend(str(p) for p in plot_paths)
    if session.settings.report_path is not None:
        from .json_report import write_report

        try:
            write_report(report, session.settings.report_path, option="--lips-report")
            written.append(str(session.settings.report_path))
        except LipsUsageError as exc:
            problems.append(str(exc))
    if session.settings.save_baseline_path is not None:
        from .baseline import save_baseline

        refusal = baseline_refusal(report, terminalreporter, exitstatus)
        if refusal:
            problems.append(
                f"--lips-save-baseline: did not write {session.settings.save_baseline_path}: {refusal}; "
                "the file was left as it was"
            )
        else:
            try:
                save_baseline(report, session.settings.save_baseline_path)
                written.append(str(session.settings.save_baseline_path))
            except LipsUsageError as exc:
                problems.append(str(exc))
    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file:
        from .markdown import render_markdown

        with open(summary_file, "a", encoding="utf-8") as handle:
            handle.write(render_markdown(report, plot_paths=plot_paths) + "\n")
    terminalreporter.write_sep("=", "LiPS-25 summary (pytest-lips)")
    if signals.received():
        terminalreporter.write_line(
            "pytest-lips: stopped by SIGTERM (as Ctrl-C): the report is marked interrupted, no baseline is "
            "written" + (f", {len(session.worker_pids)} xdist workers were stopped" if session.worker_pids else ""),
            red=True,
            bold=True,
        )
    if session.config.get_verbosity() < 0 and session.threads_warning():  # -q hides the header that said it
        terminalreporter.write_line(f"pytest-lips WARNING: {session.threads_warning()}", yellow=True)
    for line in render_summary(report):
        terminalreporter.write_line(line)
    for path in written:
        terminalreporter.write_line(f"pytest-lips wrote {path}")
    for nodeid, line in session.cache_warnings:
        terminalreporter.write_line(f"pytest-lips WARNING: {nodeid}: {line}", yellow=True)
    for problem in problems:
        terminalreporter.write_line(f"pytest-lips: {problem}", red=True, bold=True)


def header_lines(session: LipsSession) -> list[str]:
    """The lines under pytest's header: version, profile, models, device, seed, threads, cache, system; warnings."""
    from ..threads import applied_threads

    names = ", ".join(session.model_names())
    threads = applied_threads().get("threads_per_process")
    lines = [
        f"pytest-lips {__version__}: profile {session.settings.profile_name}, models {names}, "
        f"device {session.settings.device}, seed {session.settings.seed}, "
        f"threads {threads if threads is not None else session.settings.threads_option} per process, "
        f"cache {session.settings.cache_dir}",
        f"pytest-lips system: {session.system.name} "
        f"(reference pack {session.settings.reference_dir or 'shipped default'})"
        + (f"; {session.system.note}" if session.system.note else ""),
    ]
    if session.threads_warning():
        lines.append(f"pytest-lips WARNING: {session.threads_warning()}")
    for model in session.loaded_models().values():
        lines.extend(f"pytest-lips WARNING [{model.name}]: {text}" for text in getattr(model, "warnings", ()))
    return lines


def was_interrupted(terminalreporter: Any, exitstatus: int) -> bool:
    """Whether the session was stopped by Ctrl-C (KeyboardInterrupt) or ``pytest.exit``."""
    if int(exitstatus) == int(pytest.ExitCode.INTERRUPTED):
        return True
    return getattr(terminalreporter, "_keyboardinterrupt_memo", None) is not None


def baseline_refusal(report: dict[str, Any], terminalreporter: Any, exitstatus: int) -> str:
    """Why this run must not become a baseline (empty string: it may).

    Refused: an interrupted run, an internal or usage error, a run stopped early (``-x``,
    ``--maxfail``), a harness error (ERROR outcome: some metric is missing), and a run without any
    metric for some model.  A model failing its thresholds may still be saved: a baseline records
    the last release, not a passing one.
    """
    if report.get("interrupted"):
        return "the run was interrupted, so its metrics are incomplete"
    if int(exitstatus) in (int(pytest.ExitCode.INTERNAL_ERROR), int(pytest.ExitCode.USAGE_ERROR)):
        return f"pytest ended with exit status {int(exitstatus)} ({pytest.ExitCode(int(exitstatus)).name})"
    session = getattr(terminalreporter, "_session", None)
    stopped = getattr(session, "shouldstop", False) or getattr(session, "shouldfail", False)
    if stopped:
        return f"the run stopped early ({stopped}), so its metrics are incomplete"
    errors = sorted(node for node, outcome in (report.get("outcomes") or {}).items() if outcome == "error")
    if errors:
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        return f"{errors[0]}{more} ended in ERROR (a harness error), so metrics are missing; fix it and rerun"
    results = report.get("results") or {}
    names = [m.get("name") for m in report.get("models") or []] or list(results)
    empty = [name for name in names if not any(task.get("metrics") for task in (results.get(name) or {}).values())]
    if empty or not names:
        return f"no metrics were recorded for {', '.join(map(str, empty)) or 'any model'}"
    return ""
