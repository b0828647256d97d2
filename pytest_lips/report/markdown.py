"""Markdown summary (GitHub job summary ``$GITHUB_STEP_SUMMARY``, ``python -m pytest_lips report``).

Verdicts are written as words (PASS / FAIL / NOT GATED / REPORTED) with an emoji in front, so the
meaning never depends on the emoji or on colour.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..results import format_number
from .provenance import model_provenance
from .table import BEST_LEGEND, Row, build_rows, failures, regressions

_EMOJI = {"PASS": "✅", "FAIL": "❌", "NOT GATED": "⚪", "REPORTED": "ℹ️", "NO GATES": "⚪", "NOT RUN": "⛔"}


def render_markdown(
    report: Mapping[str, Any], plot_paths: Iterable[str | os.PathLike] | None = None, *, title: str = "pytest-lips"
) -> str:
    """The Markdown document of a report: gate, models, metrics table (one column per model when
    several), failed thresholds, baseline regressions, not-gated reasons, plot links, environment."""
    models, rows = build_rows(report)
    summary = report.get("summary") or {}
    gate = summary.get("gate", "?")
    profile = (report.get("profile") or {}).get("name", "?")
    gate_line = _esc_inline(str(summary.get("gate_text") or gate))
    out: list[str] = [f"## {title}: {_EMOJI.get(gate, '')} {gate_line}".replace("  ", " "), ""]
    facts = [
        f"profile `{profile}`",
        f"protocol {report.get('protocol_version', '?')}",
        f"seed {report.get('seed')}",
        f"pytest-lips {report.get('plugin_version', '?')}",
    ]
    outcomes = summary.get("outcomes") or {}
    if outcomes:
        facts.append(", ".join(f"{n} {k}" for k, n in outcomes.items()))
    if report.get("duration_s"):
        facts.append(f"{report['duration_s']:.0f} s")
    out += [" · ".join(facts), ""]

    # models
    per_model = summary.get("models") or {}
    if report.get("models"):
        out += ["| Model | Gate | sha256 | Kind | Device | Spec |", "|---|---|---|---|---|---|"]
        for m in report["models"]:
            g = (per_model.get(m["name"]) or {}).get("gate", "")
            out.append(
                f"| {_esc(m['name'])} | {_EMOJI.get(g, '')} {g} | `{(m.get('sha256') or '')[:12]}` | "
                f"{_esc(m.get('kind', ''))} | {_esc(m.get('device', ''))} | {_esc(m.get('spec', ''))} |"
            )
        out.append("")

    differences = report.get("provenance_differences") or []
    if differences:
        out += ["> [!WARNING]", "> Not like for like:"]
        out += [f"> - {_esc_inline(d)}" for d in differences]
        out += ["", ""]
    sources = report.get("merged_from") or []
    if sources:
        out += ["Reports: " + "; ".join(f"`{e.get('file')}` ({', '.join(e.get('models') or [])})" for e in sources), ""]

    out += ["### Metrics", ""]
    if not rows:
        out += ["No pytest-lips metrics were recorded.", ""]
    elif len(models) == 1:
        out += _single(rows, models[0])
    else:
        out += _multi(rows, models)

    caveats = [
        (row.key, model, cell.metric["details"]["unconverged"])
        for row in rows
        for model in models
        if (cell := row.cells.get(model)) is not None and (cell.metric.get("details") or {}).get("unconverged")
    ]
    if caveats:
        out += ["### Relaxations NOT CONVERGED", ""]
        for key, model, names in caveats:
            who = f" ({_esc_inline(model)})" if len(models) > 1 else ""
            out.append(f"- `{key}`{who}: E_f from unconverged relaxations of {_esc_inline(', '.join(names))}")
        out.append("")

    skipped_gates = report.get("not_run") or []
    if skipped_gates:
        out += ["### Gated metrics NOT RUN", ""]
        multi = len({e.get("model") for e in skipped_gates}) > 1
        for e in skipped_gates:
            who = f" ({_esc_inline(str(e.get('model')))})" if multi else ""
            fails = " — FAIL under --lips-strict" if e.get("fails") else ""
            out.append(f"- ⛔ `{e.get('metric')}`{who}: {_esc_inline(str(e.get('reason') or 'not run'))}{fails}")
        out.append("")

    failed = failures(report)
    if failed:
        out += ["### Failed thresholds", ""]
        out += [f"- ❌ {_esc_inline(v.get('message') or v.get('metric', ''))}" for v in failed]
        out.append("")

    base = report.get("baseline")
    if base:
        regressed = regressions(report)
        compared = sum((m or {}).get("compared", 0) for m in per_model.values())
        where = f"`{base.get('path')}`" if base.get("path") else "the baseline"
        out += [
            f"### Regressions against {where}",
            "",
            f"Baseline: profile `{base.get('profile')}`, protocol {base.get('protocol_version')}, "
            f"recorded {base.get('created_at') or '?'}; {compared} metric(s) compared, "
            f"tolerances: {_tolerance_text(report)}.",
            "",
        ]
        if regressed:
            for r in regressed:
                flag = "❌ REGRESSED" if r.get("gated", True) else "⚪ worse (not gated)"
                out.append(f"- {flag}: {_esc_inline(r.get('message') or r.get('metric', ''))}")
        else:
            out.append("- ✅ no regressions")
        out.append("")

    not_gated = [
        (row, m, row.cells[m]) for row in rows for m in models if m in row.cells and row.cells[m].verdict == "NOT GATED"
    ]
    if not_gated:
        out += ["### Reported, not gated", ""]
        multi = len(models) > 1
        for row, model, cell in not_gated:
            who = f" ({_esc_inline(model)})" if multi else ""
            out.append(f"- `{row.key}`{who}: {_esc_inline(cell.reason)}")
        out.append("")

    plots = [Path(p) for p in (plot_paths or [])]
    if plots:
        out += ["### Plots", ""]
        for p in plots:
            out.append(f"- [{_esc_inline(p.stem)}]({_link(p)})")
        out.append("")

    out += _provenance(report)
    out += _details(report)
    return "\n".join(out).rstrip() + "\n"


def _single(rows: list[Row], model: str) -> list[str]:
    has_baseline = any(model in r.cells and r.cells[model].baseline for r in rows)
    head = "| Task | Metric | Value | Unit | Threshold | Verdict |" + (" Baseline |" if has_baseline else "")
    sep = "|---|---|---:|---|---|---|" + ("---|" if has_baseline else "")
    lines = [head, sep]
    for row in rows:
        cell = row.cells.get(model)
        if cell is None:
            continue
        verdict = f"{_EMOJI.get(cell.verdict, '')} {cell.verdict}"
        line = (
            f"| {row.task} | `{row.key}` | {_esc(cell.value_text)} | {_esc(row.unit)} | "
            f"{_esc(row.threshold_text) or '–'} | {verdict} |"
        )
        if has_baseline:
            line += f" {_baseline_cell(cell)} |"
        lines.append(line)
    return lines + [""]


def _multi(rows: list[Row], models: list[str]) -> list[str]:
    head = "| Task | Metric | Unit | Threshold | " + " | ".join(_esc(m) for m in models) + " |"
    sep = "|---|---|---|---|" + "---:|" * len(models)
    lines = [head, sep]
    for row in rows:
        cells = []
        for m in models:
            cell = row.cells.get(m)
            if cell is None:
                cells.append("–")
                continue
            value = _esc(cell.value_text)
            if cell.best:
                value = f"**{value}** ★"
            text = f"{value} {_EMOJI.get(cell.verdict, '')} {cell.verdict}"
            if cell.regressed:
                text += f" ({_baseline_cell(cell)})"
            cells.append(text)
        lines.append(
            f"| {row.task} | `{row.key}` | {_esc(row.unit)} | {_esc(row.threshold_text) or '–'} | "
            + " | ".join(cells)
            + " |"
        )
    return lines + ["", f"★ {_esc_inline(BEST_LEGEND[2:])}.", ""]


def _baseline_cell(cell) -> str:
    text = cell.baseline_text
    if not text:
        return "–"
    if cell.regressed and cell.baseline.get("gated", True):
        return f"❌ {text}"
    return f"✅ {text}" if cell.baseline.get("passed") else f"⚪ {text}"


def _tolerance_text(report) -> str:
    tol = report.get("tolerances") or {}
    if not tol:
        return "defaults"
    default = tol.get("default")
    return (f"default `{default}`" if default else "") + f" ({len(tol)} entries, see the JSON report)"


def _provenance(report) -> list[str]:
    entries = model_provenance(report)
    if not entries:
        return []
    out = ["### Provenance", ""]
    for entry in entries:
        out += [f"**{_esc_inline(entry.name)}**", ""]
        out += [f"- {label}: {_code_or_text(label, text)}" for label, text in entry.facts]
        out.append("")
    return out


def _code_or_text(label: str, text: str) -> str:
    return f"`{text}`" if label in ("model sha256", "probe fingerprint", "spec") else _esc_inline(text)


def _details(report) -> list[str]:
    out = ["<details><summary>Thresholds and environment</summary>", ""]
    thresholds = report.get("thresholds") or {}
    if thresholds:
        out += ["| Threshold | Value | Unit | Direction | Origin | Source |", "|---|---:|---|---|---|---|"]
        for key, t in thresholds.items():
            out.append(
                f"| `{key}` | {format_number(t.get('value'))} | {_esc(t.get('unit', ''))} | "
                f"{t.get('direction', '')} | {t.get('origin', '')} | {_esc(t.get('source', ''))} |"
            )
        out.append("")
    env = report.get("environment") or {}
    if env:
        out += ["| Package | Version |", "|---|---|"]
        out += [f"| {_esc(str(k))} | {_esc(str(v))} |" for k, v in sorted(env.items())]
        out.append("")
    out += ["</details>", ""]
    return out


def _esc(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _esc_inline(text) -> str:
    return _esc(text).replace("<", "&lt;").replace(">", "&gt;")


def _link(path: Path) -> str:
    return path.as_posix().replace(" ", "%20")
