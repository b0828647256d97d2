"""A self-contained HTML page of a report (``python -m pytest_lips report A.json [B.json ...] --format html``).

One file, no side files: every plot is a PNG embedded as a ``data:`` URI. Sections: the gate and the
run; the reports compared (and how their inputs differ, when they do); the verdict table (one column
per model); failed thresholds; baseline regressions; the figures (with several models the comparison
figures first: each metric per model with its interval, the Arrhenius lines of all models with the
accepted band, the Task 2 error along the melt–quench per model); provenance per model (model sha256,
reference pack checksum, data, environment) and the thresholds with their sources. Verdicts are words;
colour only repeats them.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any, Protocol

from .provenance import model_provenance, threshold_rows
from .table import BEST_LEGEND, build_rows, failures, regressions

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.PASS{background:#e6f4ea}.FAIL{background:#fce8e6}.NOT-RUN{background:#fff4e5}.REGRESSED{background:#fce8e6}
.best{font-weight:bold}
.warn{background:#fff4ce;border:1px solid #e0b000;padding:.5em 1em}
figure{display:inline-block;margin:.5em;vertical-align:top;max-width:100%}
figure img{max-width:100%;border:1px solid #ddd}
figure.wide img{width:100%}
figcaption{font-size:.9em;color:#444}
dl.prov{display:grid;grid-template-columns:max-content auto;gap:.2em 1em}
dl.prov dt{font-weight:bold}dl.prov dd{margin:0;word-break:break-all}
"""


class _Figure(Protocol):
    name: str
    title: str

    def png(self, dpi: int = ...) -> bytes: ...


def data_uri(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URI of PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def render_html(
    report: Mapping[str, Any],
    plot_paths: Iterable[str | os.PathLike] | None = None,
    *,
    title: str = "pytest-lips report",
    figures: Sequence[_Figure] | None = None,
    notes: Sequence[str] = (),
) -> str:
    """Standalone HTML of ``report`` (one model or several merged side by side).

    ``figures`` (:class:`pytest_lips.report.plots.Figure`) are embedded as PNG data URIs; so are the
    ``plot_paths`` that exist as files (one that does not is linked, as before). ``notes`` (e.g. why
    a plot was skipped) are listed under the figures.
    """
    models, rows = build_rows(report)
    summary = report.get("summary") or {}
    profile = (report.get("profile") or {}).get("name", "?")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}: {escape(str(summary.get('gate_text') or summary.get('gate', '?')))}</h1>",
        f"<p>profile <code>{escape(profile)}</code>, protocol {escape(str(report.get('protocol_version')))}, "
        f"seed {escape(str(report.get('seed')))}, pytest-lips {escape(str(report.get('plugin_version')))}, "
        f"{len(models)} model(s)</p>",
    ]
    parts += _compared(report)
    parts.append("<h2>Verdicts</h2>")
    parts += _table(models, rows)
    skipped_gates = report.get("not_run") or []
    if skipped_gates:
        parts.append("<h2>Gated metrics NOT RUN</h2><ul>")
        parts += [
            f"<li><code>{escape(str(e.get('metric')))}</code> ({escape(str(e.get('model')))}): "
            f"{escape(str(e.get('reason') or 'not run'))}{' (FAIL under --lips-strict)' if e.get('fails') else ''}</li>"
            for e in skipped_gates
        ]
        parts.append("</ul>")
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
    parts += _figures(figures or [], [Path(p) for p in (plot_paths or [])], notes)
    parts += _provenance(report)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _compared(report: Mapping[str, Any]) -> list[str]:
    sources = report.get("merged_from") or []
    differences = report.get("provenance_differences") or []
    out = []
    if differences:
        out.append('<div class="warn"><strong>Not like for like:</strong><ul>')
        out += [f"<li>{escape(d)}</li>" for d in differences]
        out.append("</ul>Values that depend on these inputs are not directly comparable.</div>")
    if sources:
        out.append(
            "<h2>Reports</h2><table><thead><tr><th>File</th><th>Models</th><th>Started</th>"
            "<th>Duration (s)</th></tr></thead><tbody>"
        )
        for e in sources:
            duration = e.get("duration_s")
            out.append(
                f"<tr><td><code>{escape(str(e.get('file', '')))}</code></td>"
                f"<td>{escape(', '.join(e.get('models') or []))}</td><td>{escape(str(e.get('started_at') or ''))}</td>"
                f'<td class="num">{"" if duration is None else f"{float(duration):.0f}"}</td></tr>'
            )
        out.append("</tbody></table>")
    return out


def _table(models: list[str], rows) -> list[str]:
    parts = ["<table><thead><tr><th>Task</th><th>Metric</th><th>Unit</th><th>Threshold</th>"]
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
            extra = f"<br><small>{escape(cell.reason)}</small>" if cell.verdict in ("NOT GATED", "NOT RUN") else ""
            if cell.baseline:
                extra += f"<br><small>baseline: {escape(cell.baseline_text)}</small>"
            parts.append(f'<td class="num {" ".join(classes)}">{value} {escape(cell.verdict)}{extra}</td>')
        parts.append("</tr>")
    parts.append("</tbody></table>")
    if len(models) > 1:
        parts.append(f"<p><small>★ {escape(BEST_LEGEND[2:])}</small></p>")
    return parts


def _figures(figures: Sequence[_Figure], paths: list[Path], notes: Sequence[str]) -> list[str]:
    if not figures and not paths and not notes:
        return []
    parts = ["<h2>Figures</h2><div>"]
    for fig in figures:
        wide = ' class="wide"' if fig.name.startswith("compare_") else ""
        parts.append(
            f'<figure{wide} id="{escape(fig.name)}"><img src="{data_uri(fig.png())}" alt="{escape(fig.title)}">'
            f"<figcaption>{escape(fig.title)}</figcaption></figure>"
        )
    for p in paths:
        if p.is_file():
            src = data_uri(p.read_bytes())
            parts.append(
                f'<figure><img src="{src}" alt="{escape(p.stem)}"><figcaption>{escape(p.stem)}</figcaption></figure>'
            )
        else:  # not readable here: link it (the page is then not self-contained)
            parts.append(
                f'<a href="{escape(p.as_posix())}"><img src="{escape(p.as_posix())}" alt="{escape(p.stem)}"></a>'
            )
    parts.append("</div>")
    if notes:
        parts.append("<ul>" + "".join(f"<li><small>{escape(n)}</small></li>" for n in notes) + "</ul>")
    return parts


def _provenance(report: Mapping[str, Any]) -> list[str]:
    parts = ["<h2>Provenance</h2>"]
    for entry in model_provenance(report):
        parts.append(f'<h3>{escape(entry.name)}</h3><dl class="prov">')
        parts += [f"<dt>{escape(label)}</dt><dd>{escape(text)}</dd>" for label, text in entry.facts]
        parts.append("</dl>")
    rows = threshold_rows(report)
    if rows:
        parts.append(
            "<h3>Thresholds used</h3><table><thead><tr><th>Threshold</th><th>Value</th><th>Unit</th>"
            "<th>Direction</th><th>Origin</th><th>Source</th></tr></thead><tbody>"
        )
        for key, value, unit, direction, origin, source in rows:
            parts.append(
                f'<tr><td><code>{escape(key)}</code></td><td class="num">{escape(value)}</td><td>{escape(unit)}</td>'
                f"<td>{escape(direction)}</td><td>{escape(origin)}</td><td>{escape(source)}</td></tr>"
            )
        parts.append("</tbody></table>")
    return parts
