"""The JSON report of a pytest-lips session (schema in ``docs/REPORT_SCHEMA.md``).

:func:`build_report` turns the plain dicts the plugin collects (metrics, verdicts, runs, outcomes) into
one deterministic document: models sorted by name, tasks in suite order, metrics by key, verdicts by
(metric, threshold), runs by ``run_id``, outcomes by node id; so a serial run and ``pytest -n 2`` give
the same report apart from the timing fields listed in :data:`TIMING_FIELDS`.
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import LipsUsageError
from ..tasks.registry import task_order

SCHEMA_VERSION = 1

#: Fields that differ between otherwise identical runs (removed by :func:`strip_timings`).
TIMING_FIELDS = {
    "top": ("started_at", "duration_s"),
    "runs": ("wall_s", "us_per_atom_step", "model_fraction"),
    "run_extra": ("cpu_s", "batch_wall_s", "model_fraction"),
    "metric_details": ("wall_s",),
    "merged_from": ("started_at", "duration_s"),
}

_FAILED_OUTCOMES = ("failed", "error")


def build_report(
    *,
    plugin_version: str,
    protocol_version: str,
    profile_name: str,
    profile_description: str = "",
    models: Iterable[Mapping[str, Any]],
    seed: int | None,
    thresholds: Mapping[str, Any],
    tolerances: Mapping[str, Any] | None = None,
    metrics: Iterable[Mapping[str, Any]] = (),
    verdicts: Iterable[Mapping[str, Any]] = (),
    runs: Iterable[Mapping[str, Any]] = (),
    outcomes: Mapping[str, str] | None = None,
    environment: Mapping[str, Any] | None = None,
    started_at: str = "",
    duration_s: float = 0.0,
    baseline: Mapping[str, Any] | None = None,
    provenance: Mapping[str, Any] | None = None,
    interrupted: bool = False,
    exit_status: int | None = None,
    not_run: Iterable[Mapping[str, Any]] = (),
    selection: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the report dict (schema_version 1).

    Parameters are the ``to_dict()`` forms of the shared types: ``models`` (``LipsModel.describe()``
    or ``{name, spec, sha256, kind, device}``), ``thresholds`` (``ThresholdSet.as_dict()``),
    ``tolerances`` (``ToleranceSet.as_dict()``), ``metrics`` (``Metric.to_dict()``), ``verdicts``
    (``Verdict.to_dict()``; dicts with ``"kind": "baseline"`` – ``Regression.to_dict()`` – are filed as
    baseline comparisons), ``runs`` (``RunRecord.to_dict()``), ``outcomes`` (node id -> outcome),
    ``environment`` (:func:`environment_info`), ``started_at`` (ISO-8601), ``duration_s`` (s),
    ``baseline`` (``Baseline.info()`` when ``--lips-baseline`` was given), ``provenance`` (what the
    results were computed from: ``{"reference_pack": {root, name, version, checksum}, "data": {source,
    sha256, split_source, split_sizes, structures, atoms, categories, notes}}``), ``interrupted`` (the
    session was stopped by Ctrl-C or ``pytest.exit``: the report is incomplete and refused as a
    baseline), ``exit_status`` (pytest's exit status), ``not_run`` (the gated metrics no item recorded,
    :func:`pytest_lips.gates.not_run`) and ``selection`` (which tasks ran and how items were deselected).

    A metric recorded twice (e.g. by an xdist worker and again on rerun) is kept once: the last one
    with the same (model, key) wins, verdicts and comparisons are de-duplicated likewise.
    """
    model_list = _dedupe_models(models)
    results: dict[str, dict[str, dict[str, list]]] = {}

    def slot(model: str, task: str) -> dict[str, list]:
        per_model = results.setdefault(model, {})
        return per_model.setdefault(task, {"metrics": [], "verdicts": [], "baseline": [], "runs": []})

    metric_task: dict[tuple[str, str], str] = {}
    seen_metrics: dict[tuple[str, str], dict] = {}
    for m in metrics:
        m = _clean(dict(m))
        task = m.get("task") or _task_of(m["key"])
        m["task"] = task
        seen_metrics[(m.get("model", ""), m["key"])] = m
        metric_task[(m.get("model", ""), m["key"])] = task
    for (model, _key), m in seen_metrics.items():
        slot(model, m["task"])["metrics"].append(m)

    seen_verdicts: dict[tuple, dict] = {}
    for v in verdicts:
        v = _clean(dict(v))
        kind = "baseline" if v.get("kind") == "baseline" else "verdicts"
        ident = (kind, v.get("model", ""), v.get("metric", ""), v.get("threshold") or "")
        seen_verdicts[ident] = v
    for (kind, model, key, _thr), v in seen_verdicts.items():
        task = metric_task.get((model, key)) or _task_of(key)
        slot(model, task)[kind].append(v)

    seen_runs: dict[tuple, dict] = {}
    for r in runs:
        r = _clean(dict(r))
        seen_runs[(r.get("model", ""), r.get("task", ""), r.get("run_id", ""))] = r
    for (model, task, _rid), r in seen_runs.items():
        slot(model, task or "other")["runs"].append(r)

    # models seen only in results still get an entry
    known = {m["name"] for m in model_list}
    for name in results:
        if name not in known:
            model_list.append({"name": name, "spec": "", "sha256": "", "kind": "", "device": ""})
    model_list.sort(key=lambda m: m["name"])

    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "plugin_version": str(plugin_version),
        "protocol_version": str(protocol_version),
        "profile": {"name": str(profile_name), "description": str(profile_description or "")},
        "seed": seed,
        "started_at": started_at,
        "duration_s": _json_float(duration_s),
        "environment": _clean(dict(environment or {})),
        "models": model_list,
        "thresholds": {k: _clean(dict(thresholds[k])) for k in sorted(thresholds)},
        "tolerances": {k: str((tolerances or {})[k]) for k in sorted(tolerances or {})},
        "baseline": _clean(dict(baseline)) if baseline else None,
        "provenance": _clean(dict(provenance or {})),
        "interrupted": bool(interrupted),
        "exit_status": exit_status,
        "results": _sort_results(results),
        "outcomes": {k: str((outcomes or {})[k]) for k in sorted(outcomes or {})},
        "not_run": sort_not_run(not_run),
        "selection": _clean(dict(selection or {})),
    }
    report["summary"] = summarize(report)
    return report


def sort_not_run(entries: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``not_run`` entries, one per (model, metric), in model, task, metric order."""
    unique = {(str(e.get("model", "")), str(e.get("metric", ""))): _clean(dict(e)) for e in entries}
    return [unique[k] for k in sorted(unique, key=lambda k: (k[0], task_order(k[1].split(".", 1)[0]), k[1]))]


def summarize(report: Mapping[str, Any]) -> dict[str, Any]:
    """Counts and the overall gate of a report (see REPORT_SCHEMA.md, "Summary")."""
    models: dict[str, Any] = {}
    any_gated = False
    any_fail = False
    for model, tasks in report.get("results", {}).items():
        counts = {"pass": 0, "fail": 0, "reported": 0}
        regressions = compared = 0
        for task in tasks.values():
            for v in task.get("verdicts", []):
                if v.get("passed") is None:
                    counts["reported"] += 1
                elif v["passed"]:
                    counts["pass"] += 1
                else:
                    counts["fail"] += 1
            for c in task.get("baseline", []):
                compared += 1
                if c.get("passed") is False and c.get("gated", True):
                    regressions += 1
        gated = counts["pass"] + counts["fail"] + compared
        any_gated = any_gated or gated > 0
        failed = counts["fail"] > 0 or regressions > 0
        any_fail = any_fail or failed
        models[model] = {
            "gate": "FAIL" if failed else ("PASS" if gated else "NO GATES"),
            "verdicts": counts,
            "regressions": regressions,
            "compared": compared,
        }
    outcome_counts: dict[str, int] = {}
    for outcome in report.get("outcomes", {}).values():
        outcome_counts[outcome] = outcome_counts.get(outcome, 0) + 1
    if any(outcome_counts.get(o) for o in _FAILED_OUTCOMES):
        any_fail = True
    not_run = list(report.get("not_run") or [])
    for entry in not_run:
        per_model = models.setdefault(
            str(entry.get("model", "")),
            {"gate": "NO GATES", "verdicts": {"pass": 0, "fail": 0, "reported": 0}, "regressions": 0, "compared": 0},
        )
        per_model["not_run"] = per_model.get("not_run", 0) + 1
        if entry.get("fails"):  # --lips-strict: a gated metric that did not run fails
            per_model["gate"] = "FAIL"
            any_fail = True
    gate = "FAIL" if any_fail else ("PASS" if any_gated else "NO GATES")
    if report.get("interrupted"):
        gate = "INTERRUPTED"  # incomplete: never PASS, whatever was measured before the interrupt
    from ..gates import gate_text

    summary: dict[str, Any] = {"gate": gate, "models": models, "outcomes": dict(sorted(outcome_counts.items()))}
    summary["not_run"] = len(not_run)
    summary["gate_text"] = gate_text(summary, not_run)
    return summary


def write_report(report: Mapping[str, Any], path: str | os.PathLike, option: str = "") -> Path:
    """Write ``report`` as JSON (sorted keys, NaN → null), creating parent folders; returns the path.

    Written to a temporary file first and renamed, so a reader never sees half a report.  When that
    fails (a directory in the way, no permission, disk full) the temporary file is removed and a
    :class:`LipsUsageError` naming ``option`` and the path is raised.
    """
    path = Path(path)
    text = dumps(report)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        where = f"{option} {path}" if option else str(path)
        raise LipsUsageError(f"{where}: cannot write ({exc.strerror or exc}); give a writable file path") from None
    return path


def check_writable(path: str | os.PathLike, option: str) -> None:
    """Raise :class:`LipsUsageError` unless ``path`` can be written as a file (checked at start-up).

    Refused: an existing directory, a parent that does not exist or is not a directory, and a place
    where no file can be created (checked by creating and removing a probe file next to it, so it also
    holds for root and read-only file systems).  Nothing is left behind.
    """
    import tempfile

    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise LipsUsageError(f"{option} {path}: is a directory; give a file path such as {path / 'lips-report.json'}")
    if not parent.exists():
        raise LipsUsageError(
            f"{option} {path}: directory {parent} does not exist; create it (mkdir -p {parent}) or give another path"
        )
    if not parent.is_dir():
        raise LipsUsageError(f"{option} {path}: {parent} is not a directory; give a file path in a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise LipsUsageError(f"{option} {path}: the file is not writable; fix its permissions or give another path")
    try:
        with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{path.name}.", suffix=".probe"):
            pass
    except OSError as exc:
        raise LipsUsageError(
            f"{option} {path}: cannot create files in {parent} ({exc.strerror or exc}); give a writable path"
        ) from None


def dumps(report: Mapping[str, Any]) -> str:
    """The canonical JSON text of a report (what :func:`write_report` writes)."""
    return json.dumps(_clean(report), indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def load_report(path: str | os.PathLike) -> dict[str, Any]:
    """Read a report written by :func:`write_report`; a clear :class:`LipsUsageError` names the file
    when it is missing, not JSON, not a pytest-lips report, or of an unknown schema version."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise LipsUsageError(
            f"pytest-lips report {path} does not exist (write one with --lips-report {path})"
        ) from None
    except OSError as exc:
        raise LipsUsageError(f"cannot read pytest-lips report {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise LipsUsageError(
            f"{path} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "was the run interrupted while writing it?"
        ) from None
    if not isinstance(data, dict) or "schema_version" not in data or "results" not in data:
        hint = ""
        if isinstance(data, dict) and data.get("kind") == "pytest-lips-baseline":
            hint = " (it is a baseline file: pass it with --lips-baseline)"
        raise LipsUsageError(f"{path} is not a pytest-lips report (no schema_version/results){hint}")
    if data["schema_version"] != SCHEMA_VERSION:
        raise LipsUsageError(
            f"{path} has report schema_version {data['schema_version']!r}; this pytest-lips reads "
            f"schema_version {SCHEMA_VERSION} (upgrade or downgrade pytest-lips to read it)"
        )
    data.setdefault("summary", summarize(data))
    data["_source"] = str(path)
    return data


def strip_timings(report: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``report`` without the timing fields (to compare two runs)."""
    out = copy.deepcopy(dict(report))
    out.pop("_source", None)
    for key in TIMING_FIELDS["top"]:
        out.pop(key, None)
    for tasks in out.get("results", {}).values():
        for task in tasks.values():
            for metric in task.get("metrics", []):
                for key in TIMING_FIELDS["metric_details"]:
                    (metric.get("details") or {}).pop(key, None)
            for run in task.get("runs", []):
                for key in TIMING_FIELDS["runs"]:
                    run.pop(key, None)
                for key in TIMING_FIELDS["run_extra"]:
                    (run.get("extra") or {}).pop(key, None)
    for entry in out.get("merged_from", []) or []:
        for key in TIMING_FIELDS["merged_from"]:
            entry.pop(key, None)
    return out


def environment_info(device: str = "") -> dict[str, Any]:
    """Versions of the software that produced a report (no host names or paths) and the threads set.

    Versions come from the installed distributions' metadata (torch's from its ``version.py``, which
    carries the build tag such as ``+cpu``), so every process of a run reports the same values without
    importing the packages: the xdist controller, which runs no test, does not pay torch's or graph-pes'
    import for its report, and a serial and an ``-n N`` report stay equal.
    """
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.system(),
        "machine": platform.machine(),
        "device": device,
    }
    for distribution in ("numpy", "scipy", "ase", "torch", "graph-pes", "pytest"):
        info[distribution] = torch_version() if distribution == "torch" else distribution_version(distribution)
    from ..threads import applied_threads

    info.update(applied_threads())  # threads_option, threads_per_process, usable_cores
    if device.startswith("cuda"):
        try:
            import torch

            if torch.cuda.is_available():
                info["device_name"] = torch.cuda.get_device_name(0)
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    return info


def distribution_version(distribution: str) -> str | None:
    """Installed version of ``distribution`` (PyPI name), None when it is not installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return None


def torch_version() -> str | None:
    """``torch.__version__`` (with its build tag, e.g. ``2.13.0+cpu``) read from ``torch/version.py``
    without importing torch; the distribution's metadata version when that file cannot be read."""
    import ast
    import importlib.util

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return None
    for location in spec.submodule_search_locations or []:
        try:
            tree = ast.parse((Path(location) / "version.py").read_text())
        except (OSError, SyntaxError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Constant):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(isinstance(t, ast.Name) and t.id == "__version__" for t in targets):
                    return str(node.value.value)
    return distribution_version("torch")


def _task_of(key: str) -> str:
    head = key.split(".", 1)[0]
    return head or "other"


def _sort_results(results: dict) -> dict:
    out: dict[str, dict] = {}
    for model in sorted(results):
        out[model] = {}
        for task in sorted(results[model], key=task_order):
            entry = results[model][task]
            out[model][task] = {
                "metrics": sorted(entry["metrics"], key=lambda m: m["key"]),
                "verdicts": sorted(entry["verdicts"], key=lambda v: (v.get("metric", ""), v.get("threshold") or "")),
                "baseline": sorted(entry["baseline"], key=lambda v: v.get("metric", "")),
                "runs": sorted(entry["runs"], key=lambda r: str(r.get("run_id", ""))),
            }
    return out


def _dedupe_models(models: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    by_name: dict[str, dict[str, Any]] = {}
    for m in models:
        m = dict(m)
        entry = {k: m.get(k, "") for k in ("name", "spec", "sha256", "kind", "device")}
        entry.update({k: v for k, v in m.items() if k not in entry})
        by_name[str(entry["name"])] = _clean(entry)
    return [by_name[k] for k in sorted(by_name)]


def _json_float(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _clean(obj: Any) -> Any:
    """JSON-safe deep copy: tuples → lists, non-finite floats → None, numpy scalars → Python."""
    if isinstance(obj, Mapping):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if hasattr(obj, "tolist"):  # numpy arrays and scalars
        return _clean(obj.tolist())
    if isinstance(obj, Path):
        return str(obj)
    try:
        return _clean(float(obj))
    except (TypeError, ValueError):
        return str(obj)
