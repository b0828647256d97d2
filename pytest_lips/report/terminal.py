"""Plain-text summary for the terminal (``pytest_terminal_summary``) and ``python -m pytest_lips report``.

No colour, no box-drawing characters beyond ``-``; every line is at most ``width`` columns (long
messages are wrapped, wide multi-model tables are split into blocks of models).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

from .table import BEST_LEGEND, Row, build_rows, failures, not_measured, regressions

DEFAULT_WIDTH = 120


def render_summary(report: Mapping[str, Any], width: int = DEFAULT_WIDTH) -> list[str]:
    """Lines of the pytest-lips summary: header, metrics table, failures, not-gated reasons, regressions.

    One model: columns Task, Metric, Value, Unit, Threshold, Verdict (and Baseline when compared).
    Several models: one row per metric, one column per model (``value VERDICT``), best marked ``*``.
    """
    width = max(60, int(width))
    models, rows = build_rows(report)
    lines = _header(report, models, width)
    if report.get("interrupted"):
        lines += textwrap.wrap(
            "run INTERRUPTED (Ctrl-C or pytest.exit): the metrics below are incomplete, the report "
            'is marked "interrupted": true and no baseline was saved from it',
            width,
        )
    if not rows:
        if report.get("interrupted"):
            lines.append("no pytest-lips metrics were recorded before the interrupt")
            return lines
        outcomes = (report.get("summary") or {}).get("outcomes") or {}
        if outcomes:
            counts = ", ".join(f"{n} {k}" for k, n in outcomes.items())
            lines.append(f"no pytest-lips metrics were recorded ({counts}; rerun with -rs to see why tests skipped)")
        else:
            lines.append("no pytest-lips metrics were recorded (no model given, or every task was deselected)")
        return lines
    if len(models) == 1:
        lines += _single_table(rows, models[0], width)
    else:
        lines += _multi_table(rows, models, width)
    lines += _notes(report, rows, models, width)
    return lines


# -- pieces -------------------------------------------------------------------------------------------
def _header(report, models, width) -> list[str]:
    profile = (report.get("profile") or {}).get("name", "?")
    summary = report.get("summary") or {}
    gate = summary.get("gate_text") or summary.get("gate", "?")
    described = []
    by_name = {m.get("name"): m for m in report.get("models", [])}
    for name in models:
        sha = (by_name.get(name, {}).get("sha256") or "")[:12]
        described.append(f"{name} (sha256 {sha})" if sha else name)
    head = (
        f"pytest-lips {report.get('plugin_version', '')}: profile {profile}, protocol "
        f"{report.get('protocol_version', '?')}, seed {report.get('seed')} -- gate {gate}"
    )
    lines = textwrap.wrap(head, width) or [head]
    if described:
        lines += textwrap.wrap("models: " + ", ".join(described), width, subsequent_indent="  ")
    provenance = report.get("provenance") or {}
    system, pack = provenance.get("system") or {}, provenance.get("reference_pack") or {}
    if system.get("name"):
        where = " ".join(str(p) for p in (pack.get("name"), pack.get("version")) if p)
        text = f"system: {system['name']}" + (f" (reference pack {where})" if where else "")
        lines += textwrap.wrap(text, width, subsequent_indent="  ")
    for name in models:  # also here, not only in the header: under xdist the controller loads no model
        for text in by_name.get(name, {}).get("warnings") or []:
            lines += textwrap.wrap(f"WARNING [{name}]: {text}", width, subsequent_indent="  ")
    base = report.get("baseline")
    if base:
        lines += textwrap.wrap(
            f"baseline: {base.get('path') or '?'} (profile {base.get('profile')}, "
            f"recorded {base.get('created_at') or '?'})",
            width,
            subsequent_indent="  ",
        )
        for difference in base.get("provenance_differences") or []:
            lines += textwrap.wrap(f"baseline NOT LIKE FOR LIKE: {difference}", width, subsequent_indent="  ")
    engines = ((report.get("environment") or {}).get("md_engine") or {}).get("models") or {}
    for name, info in engines.items():  # which MD engine computed Tasks 3-4, and why (--lips-engine auto)
        if info.get("reason"):
            who = f" [{name}]" if len(engines) > 1 else ""
            text = f"MD engine{who}: {', '.join(info.get('engines') or [])} ({info['reason']})"
            lines += textwrap.wrap(text, width, subsequent_indent="  ")
    data = (report.get("provenance") or {}).get("data") or {}
    for note in data.get("notes") or []:
        lines += textwrap.wrap(f"data: {note}", width, subsequent_indent="  ")
    lines.append("")
    return lines


def _short_key(row: Row) -> str:
    prefix = row.task + "."
    return row.key[len(prefix) :] if row.key.startswith(prefix) else row.key


def _single_table(rows: Sequence[Row], model: str, width: int) -> list[str]:
    has_baseline = any(r.cells.get(model) and r.cells[model].baseline for r in rows)
    header = ["Task", "Metric", "Value", "Unit", "Threshold", "Verdict"] + (["Baseline"] if has_baseline else [])
    body = []
    last_task = None
    for row in rows:
        cell = row.cells.get(model)
        if cell is None:
            continue
        verdict = cell.verdict + (" [*]" if cell.verdict in ("NOT GATED",) else "")
        line = [
            row.task if row.task != last_task else "",
            _short_key(row),
            cell.value_text,
            row.unit,
            row.threshold_text or "-",
            verdict,
        ]
        if has_baseline:
            line.append(cell.baseline_text or "-")
        body.append(line)
        last_task = row.task
    return _grid(header, body, width, shrink_col=2)


def _multi_table(rows: Sequence[Row], models: Sequence[str], width: int) -> list[str]:
    fixed_header = ["Task", "Metric", "Unit", "Threshold"]
    fixed = []
    cells: list[list[str]] = []
    last_task = None
    for row in rows:
        fixed.append([row.task if row.task != last_task else "", _short_key(row), row.unit, row.threshold_text or "-"])
        last_task = row.task
        line = []
        for model in models:
            cell = row.cells.get(model)
            if cell is None:
                line.append("-")
                continue
            text = f"{cell.value_text} {_short_verdict(cell.verdict)}"
            if cell.best:
                text += " *"
            if cell.regressed:
                text += " !"
            line.append(text)
        cells.append(line)
    fixed_widths = [max(len(h), *(len(r[i]) for r in fixed)) for i, h in enumerate(fixed_header)]
    fixed_total = sum(fixed_widths) + 2 * len(fixed_widths)
    col_widths = [max(len(m), *(len(c[j]) for c in cells)) for j, m in enumerate(models)]
    # split the models into blocks that fit the width
    blocks: list[list[int]] = [[]]
    used = fixed_total
    for j, w in enumerate(col_widths):
        w = min(w, width - fixed_total - 2) if width - fixed_total > 12 else w
        if blocks[-1] and used + w + 2 > width:
            blocks.append([])
            used = fixed_total
        blocks[-1].append(j)
        used += w + 2
    out: list[str] = []
    for b, block in enumerate(blocks):
        if b:
            out.append("")
        header = fixed_header + [models[j] for j in block]
        body = [f + [c[j] for j in block] for f, c in zip(fixed, cells)]
        out += _grid(header, body, width, shrink_col=1)
    out.append("")
    out += textwrap.wrap(
        BEST_LEGEND + "; ! regressed against the baseline; ng = not gated, rep = reported (no threshold)", width
    )
    return out


def _short_verdict(word: str) -> str:
    return {"NOT GATED": "ng", "REPORTED": "rep", "NOT RUN": "not run"}.get(word, word)


def _grid(header: list[str], body: list[list[str]], width: int, shrink_col: int) -> list[str]:
    """Left-aligned columns separated by two spaces; shrink ``shrink_col`` (then truncate) to fit."""
    widths = [max(len(h), *(len(r[i]) for r in body)) if body else len(h) for i, h in enumerate(header)]
    total = sum(widths) + 2 * (len(widths) - 1)
    if total > width:
        excess = total - width
        widths[shrink_col] = max(8, widths[shrink_col] - excess)

    def fmt(cols):
        parts = []
        for c, w in zip(cols, widths):
            c = c if len(c) <= w else c[: max(1, w - 1)] + "~"
            parts.append(c.ljust(w))
        return "  ".join(parts).rstrip()[:width]

    lines = [fmt(header), "  ".join("-" * w for w in widths)[:width]]
    lines += [fmt(r) for r in body]
    return lines


def _notes(report, rows, models, width) -> list[str]:
    out: list[str] = []
    multi = len(models) > 1

    def who(model):
        return f" [{model}]" if multi else ""

    not_gated = []
    for row in rows:
        for model in models:
            cell = row.cells.get(model)
            if cell is not None and cell.verdict == "NOT GATED":
                not_gated.append(f"{row.key}{who(model)}: {cell.reason}")
    if not_gated:
        out += ["", "[*] reported, not gated:"]
        for text in not_gated:
            out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ")
    absent = [
        f"{row.key}{who(model)}: {row.cells[model].metric.get('note') or 'nothing to measure'}"
        for row in rows
        for model in models
        if row.cells.get(model) is not None and not_measured(row.cells[model].metric)
    ]
    if absent:
        out += ["", "n/a, not measured:"]
        for text in absent:
            out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    caveats = [
        f"{row.key}{who(model)}: E_f from unconverged relaxations of {', '.join(cell.metric['details']['unconverged'])}"
        for row in rows
        for model in models
        if (cell := row.cells.get(model)) is not None and (cell.metric.get("details") or {}).get("unconverged")
    ]
    if caveats:
        out += ["", "relaxation NOT CONVERGED (see the metric's note):"]
        for text in caveats:
            out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    skipped_gates = report.get("not_run") or []
    if skipped_gates:
        strict = any(e.get("fails") for e in skipped_gates)
        out += ["", "NOT RUN, gated metrics not measured" + (" (FAIL under --lips-strict):" if strict else ":")]
        by_reason: dict[str, list[str]] = {}  # one reason (e.g. the data set is absent) said once
        for e in skipped_gates:
            by_reason.setdefault(str(e.get("reason") or "not run"), []).append(
                f"{e.get('metric')}{who(e.get('model'))}"
            )
        for reason, names in by_reason.items():
            text = f"{', '.join(names)}: {reason}"
            out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ", break_on_hyphens=False)
    failed = failures(report)
    if failed:
        out += ["", "FAILED thresholds:"]
        for v in failed:
            out += textwrap.wrap(
                v.get("message") or v.get("metric", ""), width, initial_indent="  ", subsequent_indent="    "
            )
    regressed = regressions(report)
    if regressed:
        out += ["", f"REGRESSIONS against the baseline ({len(regressed)}):"]
        for r in regressed:
            text = r.get("message") or r.get("metric", "")
            if not r.get("gated", True):
                text += " (not gated)"
            out += textwrap.wrap(text, width, initial_indent="  ", subsequent_indent="    ")
    outcomes = (report.get("summary") or {}).get("outcomes") or {}
    if outcomes:
        out += ["", "tests: " + ", ".join(f"{n} {k}" for k, n in outcomes.items())]
    return out
