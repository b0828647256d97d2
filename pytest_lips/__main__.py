"""Command line: ``python -m pytest_lips`` (also installed as ``pytest-lips``).

Subcommands::

    report  A.json [B.json ...] [--format text|markdown|html] [--output FILE] [--plots DIR] [--check]
            Render saved reports; several reports are merged first (one column per model). HTML is one
            self-contained page (plots embedded; with several models also the comparison figures) with
            provenance per model; Markdown links the plots written with --plots.
    merge   A.json B.json ... -o merged.json
            Merge shard reports of a CI matrix (same profile and protocol version) into one report.
    baseline REPORT.json -o baseline.json
            Save the baseline of a report (for --lips-baseline).
    compare REPORT.json --baseline baseline.json [--tolerance KEY=VALUE ...]
            Check a saved report against a baseline offline; exit 1 on regressions.
    pack refresh PACK_DIR
            After editing files of a reference pack: recompute the sha256 of every file its
            manifest.yaml lists and rewrite the manifest (then --lips-reference PACK_DIR loads it).

Exit status: 0 success, 1 gate failed / regressions (``--check``, ``compare``), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import LipsUsageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_lips",
        description="Render, merge and compare pytest-lips reports (LiPS-25 benchmark gates).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rep = sub.add_parser("report", help="render saved reports (merged side by side when several)")
    rep.add_argument("reports", nargs="+", type=Path, help="report JSON files written by --lips-report")
    rep.add_argument("--format", choices=("text", "markdown", "html"), default="text")
    rep.add_argument("--output", "-o", type=Path, help="write here instead of standard output")
    rep.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="also write the plots as PNG files into DIR (text and Markdown link them; HTML always embeds them)",
    )
    rep.add_argument("--width", type=int, default=120, help="text width for --format text (default 120)")
    rep.add_argument("--check", action="store_true", help="exit 1 when the (merged) gate is FAIL")

    mer = sub.add_parser("merge", help="merge shard reports into one report")
    mer.add_argument("reports", nargs="+", type=Path)
    mer.add_argument("--output", "-o", type=Path, required=True, help="merged report file")

    base = sub.add_parser("baseline", help="save the baseline of a report (for --lips-baseline)")
    base.add_argument("report", type=Path)
    base.add_argument("--output", "-o", type=Path, required=True, help="baseline file to write")

    cmp_ = sub.add_parser("compare", help="compare a saved report with a baseline; exit 1 on regressions")
    cmp_.add_argument("report", type=Path)
    cmp_.add_argument("--baseline", type=Path, required=True)
    cmp_.add_argument(
        "--tolerance",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a tolerance, e.g. task2.force_rmse=+10%% (repeatable)",
    )
    cmp_.add_argument("--format", choices=("text", "markdown"), default="text")

    pack = sub.add_parser("pack", help="maintain a reference pack (refresh its manifest after editing files)")
    pack.add_argument("action", choices=("refresh",), help="refresh: recompute the sha256 of every listed file")
    pack.add_argument("pack_dir", type=Path, metavar="PACK_DIR", help="directory holding manifest.yaml")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (also used by the ``pytest-lips`` console script)."""
    args = _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except LipsUsageError as exc:
        print(f"pytest-lips: error: {exc}", file=sys.stderr)
        return 2


def _load_all(paths):
    from .report import load_report, merge_reports

    reports = [load_report(p) for p in paths]
    return reports[0] if len(reports) == 1 else merge_reports(reports, names=[str(p) for p in paths])


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(text, encoding="utf-8")
        print(f"pytest-lips: wrote {output}", file=sys.stderr)


def _cmd_report(args) -> int:
    from .report import render_html, render_markdown, render_summary

    report = _load_all(args.reports)
    notes: list[str] = []
    figures = []
    if args.format == "html" or args.plots is not None:
        try:
            from .report.plots import report_figures
        except ImportError as exc:  # matplotlib missing: the page is still written, without figures
            notes.append(f"no figures: {exc} (pip install 'pytest-lips[plots]')")
        else:
            figures = report_figures(report, notes=notes)
    plots: list[Path] = []
    if args.plots is not None:
        args.plots.mkdir(parents=True, exist_ok=True)
        for figure in figures:
            path = args.plots / f"{figure.name}.png"
            path.write_bytes(figure.png(dpi=120))
            plots.append(path)
        if args.output is not None:  # link relative to the rendered file
            plots = [_relative(p, args.output.parent) for p in plots]
    for note in notes:
        print(f"pytest-lips: {note}", file=sys.stderr)
    if args.format == "text":
        text = "\n".join(render_summary(report, width=args.width)) + "\n"
        if plots:
            text += "plots:\n" + "".join(f"  {p}\n" for p in plots)
    elif args.format == "markdown":
        text = render_markdown(report, plots)
    else:  # every figure embedded: one file, no side files
        text = render_html(report, figures=figures, notes=notes)
    _emit(text, args.output)
    if args.check and (report.get("summary") or {}).get("gate") in ("FAIL", "INTERRUPTED"):
        return 1
    return 0


def _cmd_merge(args) -> int:
    from .report import load_report, merge_reports, write_report

    merged = merge_reports([load_report(p) for p in args.reports], names=[str(p) for p in args.reports])
    write_report(merged, args.output)
    models = ", ".join(m["name"] for m in merged["models"]) or "no models"
    print(
        f"pytest-lips: merged {len(args.reports)} report(s) ({models}) into {args.output}; "
        f"gate {merged['summary']['gate']}",
        file=sys.stderr,
    )
    return 0


def _cmd_baseline(args) -> int:
    from .report import load_report, save_baseline

    report = load_report(args.report)
    save_baseline(report, args.output)
    print(
        f"pytest-lips: wrote baseline {args.output} (profile {report['profile']['name']}, "
        f"protocol {report['protocol_version']}, models {', '.join(sorted(report['results']))})",
        file=sys.stderr,
    )
    return 0


def _cmd_compare(args) -> int:
    from .report import load_baseline, load_report
    from .report.table import regressions
    from .results import Metric
    from .tolerances import ToleranceSet

    report = load_report(args.report)
    baseline = load_baseline(args.baseline)
    baseline.check_compatible(report["profile"]["name"], report["protocol_version"])
    thresholds = thresholds_from_dict(report.get("thresholds") or {})
    tolerances = (
        ToleranceSet.from_mapping(report["tolerances"], thresholds)
        if report.get("tolerances")
        else ToleranceSet.load(thresholds=thresholds)
    )
    tolerances.update_from_pairs(args.tolerance, origin="cli")
    comparisons = []
    for tasks in report["results"].values():
        for task in tasks.values():
            for m in task.get("metrics", []):
                metric = Metric.from_dict(m)
                result = baseline.check(metric, tolerances)
                if result is None and metric.gated and thresholds.for_metric(metric.key):
                    result = baseline.missing(metric, tolerances)  # a partial baseline compares nothing: FAILED
                if result is not None:
                    comparisons.append(result)
                    task["baseline"] = [c for c in task.get("baseline", []) if c.get("metric") != m["key"]]
                    task["baseline"].append(result.to_dict())
    report["baseline"] = baseline.info()
    regressed = regressions(report)
    gated = [r for r in regressed if r.get("gated", True)]
    if args.format == "markdown":
        lines = [f"### Regressions against `{args.baseline}`", ""]
        lines += [f"- ❌ {r['message']}" for r in regressed] or ["- ✅ no regressions"]
        lines.append(f"\n{len(comparisons)} metric(s) compared.")
    else:
        lines = [
            f"pytest-lips: {len(comparisons)} metric(s) of {args.report} compared with {args.baseline}: "
            f"{len(gated)} regression(s)"
        ]
        lines += [f"  REGRESSED {r['message']}" + ("" if r.get("gated", True) else " (not gated)") for r in regressed]
    print("\n".join(lines))
    return 1 if gated else 0


def _cmd_pack(args) -> int:
    from .errors import LipsError
    from .reference import MANIFEST_NAME, refresh_manifest

    try:
        changed = refresh_manifest(args.pack_dir)
    except LipsError as exc:  # no manifest, a listed file missing, a path leaving the pack: one line
        raise LipsUsageError(str(exc)) from None
    what = f"{len(changed)} checksum(s) changed: {', '.join(changed)}" if changed else "no checksum changed"
    print(f"pytest-lips: refreshed {args.pack_dir / MANIFEST_NAME} ({what})", file=sys.stderr)
    return 0


def thresholds_from_dict(data: dict):
    """A ThresholdSet from the ``thresholds`` section of a report (``ThresholdSet.as_dict()``)."""
    from .thresholds import Threshold, ThresholdSet

    items = {}
    for key, t in data.items():
        items[key] = Threshold(
            key=key,
            value=float(t["value"]),
            unit=str(t.get("unit", "")),
            direction=t.get("direction", "max"),
            metric=str(t.get("metric", key)),
            source=str(t.get("source", "")),
            origin=str(t.get("origin", "report")),
        )
    return ThresholdSet(items)


def _relative(path: Path, base: Path) -> Path:
    import os

    try:
        return Path(os.path.relpath(path.resolve(), base.resolve()))
    except ValueError:
        return path


_COMMANDS = {
    "report": _cmd_report,
    "merge": _cmd_merge,
    "baseline": _cmd_baseline,
    "compare": _cmd_compare,
    "pack": _cmd_pack,
}


if __name__ == "__main__":
    sys.exit(main())
