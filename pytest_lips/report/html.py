"""A self-contained HTML page of a report (``python -m pytest_lips report --format html``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from html import escape
from pathlib import Path
from typing import Any

from .table import BEST_LEGEND, build_rows, failures, regressions

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.PASS{background:#e6f4ea}.FAIL{background:#fce8e6}.REGRESSED{background:#fce8e6}
.best{font-weight:bold}
img{max-width:48%;margin:.5em;border:1px solid #ddd}
"""


def render_html(
    report: Mapping[str, Any],
    plot_paths: Iterable[str | os.PathLike] | None = None,
    *,
    title: str = "pytest-lips report",
) -> str:
    """Standalone HTML: the metrics table (one column per model), failures, regressions and plots.
    Verdicts are words; colour only repeats them."""
    models, rows = build_rows(report)
    summary = report.get("summary") or {}
    profile = (report.get("profile") or {}).get("name", "?")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}: {escape(summary.get('gate', '?'))}</h1>",
        f"<p>profile <code>{escape(profile)}</code>, protocol {escape(str(report.get('protocol_version')))}, "
        f"seed {escape(str(report.get('seed')))}, pytest-lips {escape(str(report.get('plugin_version')))}</p>",
        "<table><thead><tr><th>Task</th><th>Metric</th><th>Unit</th><th>Threshold</th>",
    ]
    parts += [f"<th>{escape(m)}</th>" for m in models]
    parts.append("</tr></thead><tbody>")
    for row in rows:
        parts.append(
            f"<tr><td>{escape(row.task)}</td><td><code>{escape(row.key)}</code></td>"
            f"<td>{escape(row.unit)}</td><td>{escape(row.threshold_text or '–')}</td>"
        )
        for m in models:
            cell = row.cells.get(m)
            if cell is None:
                parts.append("<td>–</td>")
                continue
            classes = [cell.verdict.replace(" ", "-")]
            if cell.regressed:
                classes.append("REGRESSED")
            value = escape(cell.value_text)
            if cell.best:
                value = f'<span class="best">{value} ★</span>'
            extra = f"<br><small>{escape(cell.reason)}</small>" if cell.verdict == "NOT GATED" else ""
            if cell.baseline:
                extra += f"<br><small>baseline: {escape(cell.baseline_text)}</small>"
            parts.append(f'<td class="num {" ".join(classes)}">{value} {escape(cell.verdict)}{extra}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if len(models) > 1:
        parts.append(f"<p><small>★ {escape(BEST_LEGEND[2:])}</small></p>")
    failed = failures(report)
    if failed:
        parts.append("<h2>Failed thresholds</h2><ul>")
        parts += [f"<li>{escape(v.get('message') or v.get('metric', ''))}</li>" for v in failed]
        parts.append("</ul>")
    if report.get("baseline"):
        regressed = regressions(report)
        parts.append(f"<h2>Regressions against the baseline {escape(str(report['baseline'].get('path', '')))}</h2><ul>")
        parts += [f"<li>{escape(r.get('message', ''))}</li>" for r in regressed] or ["<li>none</li>"]
        parts.append("</ul>")
    plots = [Path(p) for p in (plot_paths or [])]
    if plots:
        parts.append("<h2>Plots</h2><div>")
        parts += [
            f'<a href="{escape(p.as_posix())}"><img src="{escape(p.as_posix())}" alt="{escape(p.stem)}"></a>'
            for p in plots
        ]
        parts.append("</div>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
