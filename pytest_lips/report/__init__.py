"""Reports of a pytest-lips session: JSON, terminal table, Markdown/HTML, plots, baselines, merging.

The plugin calls (see ``docs/REPORT_SCHEMA.md`` for the JSON layout):

* :func:`build_report` / :func:`write_report` / :func:`load_report`;
* :func:`render_summary` (terminal lines), :func:`render_markdown` (GITHUB_STEP_SUMMARY),
  :func:`render_html`;
* :func:`write_plots` (PNG files, needs matplotlib);
* :func:`load_baseline` → :class:`Baseline` (``check_compatible``, ``check``, ``compare``),
  :func:`save_baseline`;
* :func:`merge_reports`.
"""

from __future__ import annotations

from .baseline import Baseline, Regression, baseline_dict, load_baseline, save_baseline
from .html import render_html
from .json_report import (
    SCHEMA_VERSION,
    build_report,
    dumps,
    environment_info,
    load_report,
    strip_timings,
    summarize,
    write_report,
)
from .markdown import render_markdown
from .merge import merge_reports
from .terminal import render_summary


def write_plots(report, out_dir, **kwargs):
    """Write the PNG plots of ``report`` into ``out_dir``; see :func:`pytest_lips.report.plots.write_plots`.

    Imported lazily so that matplotlib is only needed when plots are asked for.
    """
    from .plots import write_plots as _write_plots

    return _write_plots(report, out_dir, **kwargs)


__all__ = [
    "SCHEMA_VERSION",
    "Baseline",
    "Regression",
    "baseline_dict",
    "build_report",
    "dumps",
    "environment_info",
    "load_baseline",
    "load_report",
    "merge_reports",
    "render_html",
    "render_markdown",
    "render_summary",
    "save_baseline",
    "strip_timings",
    "summarize",
    "write_plots",
    "write_report",
]
