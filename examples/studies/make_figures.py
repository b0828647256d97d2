"""Figures and tables of the two studies in examples/studies/ from their pytest-lips JSON reports.

    python examples/studies/make_figures.py cutoff       # Study 1: metrics vs MACE radial cutoff
    python examples/studies/make_figures.py foundation   # Study 2: zero-shot vs fine-tuned foundation models

Reads the reports with the package's own loader (``pytest_lips.report.load_report``), renders the side-by-side
comparison page with the package's report command (``python -m pytest_lips report A.json B.json ...``;
HTML and Markdown) and draws the study figure (PNG) and the Markdown table next to the reports. Nothing is
recomputed: every number comes from a report.
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from pytest_lips.report import load_report  # noqa: E402

BAND_MS_CM = (17.0, 61.0)
REGIMES = ("crystal", "liquid", "amorphous")


# --------------------------------------------------------------------------------------------- reading
def metrics_of(report: Mapping[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """``model -> metric key -> metric dict`` over every task of the report."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, tasks in report.get("results", {}).items():
        for task in tasks.values():
            for m in task.get("metrics", []):
                out.setdefault(model, {})[m["key"]] = m
    return out


def verdicts_of(report: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """``model -> metric key -> PASS | FAIL | INCONCLUSIVE | REPORTED`` from the report's verdicts/outcomes."""
    out: dict[str, dict[str, str]] = {}
    for model, tasks in report.get("results", {}).items():
        for task in tasks.values():
            for v in task.get("verdicts", []):
                word = {True: "PASS", False: "FAIL", None: "not gated"}[v.get("passed")]
                if v.get("passed") is None and "INCONCLUSIVE" in str(v.get("message", "")):
                    word = "INCONCLUSIVE"
                prev = out.setdefault(model, {}).get(v["metric"])
                if prev != "FAIL":  # one FAIL of several thresholds (band min/max) decides
                    out[model][v["metric"]] = word
    return out


def value(metric: Mapping[str, Any] | None) -> float:
    if metric is None or metric.get("value") is None:
        return math.nan
    return float(metric["value"])


def interval(metric: Mapping[str, Any] | None) -> tuple[float, float]:
    iv = (metric or {}).get("interval")
    if not iv or iv[0] is None or iv[1] is None:
        return (math.nan, math.nan)
    return (float(iv[0]), float(iv[1]))


def threshold(report: Mapping[str, Any], key: str) -> float | None:
    t = report.get("thresholds", {}).get(key)
    return None if t is None else float(t["value"])


def regime_energy_rmse(metric: Mapping[str, Any] | None) -> dict[str, float]:
    """Task 2 energy RMSE per regime (meV/atom) from the per-snapshot errors in the metric's details,
    offset-aligned when the run used ``--lips-energy-offset=auto`` (as the reported ``task2.energy_rmse``)."""
    details = (metric or {}).get("details") or {}
    traj = details.get("trajectory") or []
    key = "energy_error_aligned_meV_atom" if details.get("energy_offset") == "auto" else "energy_error_meV_atom"
    out = {}
    for regime in REGIMES:
        errs = [float(p[key]) for p in traj if p.get("regime") == regime and p.get(key) is not None]
        out[regime] = math.sqrt(sum(e * e for e in errs) / len(errs)) if errs else math.nan
    return out


def fmt(x: float, digits: int = 3) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.2e}"


def render_with_package(reports: list[Path], out_stem: Path) -> list[Path]:
    """The package's own comparison page of these reports (HTML and Markdown)."""
    made = []
    for fmt_, suffix in (("html", ".html"), ("markdown", ".md")):
        out = out_stem.with_suffix(suffix)
        rel = [str(p.resolve().relative_to(ROOT)) for p in reports]  # the page names them from the repository root
        cmd = [sys.executable, "-m", "pytest_lips", "report", *rel, "--format", fmt_, "-o", str(out)]
        run = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        if run.returncode not in (0, 1):
            print(f"warning: {' '.join(cmd[1:])} exited {run.returncode}: {run.stderr.strip()[-400:]}")
        elif out.exists():
            made.append(out)
    return made


# --------------------------------------------------------------------------------------------- Study 1
CUTOFF_METRICS = [
    # key, label, unit, log axis
    ("task1.ef_rmse_relaxed", "Task 1 RMSE(E_f), relaxed", "meV/atom", False),
    ("task1.ef_rmse_single_point", "Task 1 RMSE(E_f), single point", "meV/atom", False),
    ("task2.force_rmse", "Task 2 force RMSE", "eV/Å", False),
    ("task2.energy_rmse", "Task 2 energy RMSE", "meV/atom", False),
    ("task4.survival_fraction", "Task 4 survival fraction (gated point)", "", False),
    ("task3.sigma298", "Task 3 σ298 (95 % interval)", "mS/cm", True),
]


def cutoff_reports(recipe_dir: Path) -> dict[float, Path]:
    """``cutoff -> report``: per cutoff the complete ci report when there is one, else the partial one."""
    found: dict[float, Path] = {}
    for path in sorted(recipe_dir.glob("cutoff-c*.json")):
        m = re.match(r"cutoff-c(\d+(?:\.\d+)?)\.(ci(?:-.*)?)\.json$", path.name)
        if not m:
            continue
        c = float(m.group(1))
        if c not in found or m.group(2) == "ci":
            found[c] = path
    return dict(sorted(found.items()))


def study_cutoff(recipes: list[str]) -> None:
    """Figure, table and comparison page of Study 1; the first recipe is drawn as the line, the others
    (e.g. the shipped full-recipe 5 A model) as open markers at their cutoffs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {}  # (recipe, cutoff) -> (report, model, metrics, verdicts)
    paths = []
    for recipe in recipes:
        for c, p in cutoff_reports(HERE / "cutoff" / "reports" / recipe).items():
            rep = load_report(p)
            ((model, ms),) = metrics_of(rep).items()
            rows[(recipe, c)] = (rep, model, ms, verdicts_of(rep).get(model, {}))
            paths.append(p)
    if not rows:
        raise SystemExit("no reports under examples/studies/cutoff/reports/ (run examples/studies/cutoff/run_ci.sh)")
    first = next(iter(rows.values()))[0]

    fig, axes = plt.subplots(2, 3, figsize=(12, 6.5), constrained_layout=True)
    for ax, (key, label, unit, _log) in zip(axes.flat, CUTOFF_METRICS):
        for k, recipe in enumerate(recipes):
            cut = [c for (r, c) in rows if r == recipe]
            style = (
                dict(color="k", marker="o", ls="-")
                if k == 0
                else dict(color="tab:gray", marker="s", ls="none", mfc="none", ms=8)
            )
            name = f"recipe {recipe}" + (" (shipped 5 Å model)" if recipe == "e80-100" else "")
            ms_ = [rows[(recipe, c)][2] for c in cut]
            ys = [value(m.get(key)) for m in ms_]
            if key == "task3.sigma298":
                for c, m, y in zip(cut, ms_, ys):
                    a, b = interval(m.get(key))
                    if math.isfinite(y):
                        yerr = [[y - a], [b - y]] if math.isfinite(a) and math.isfinite(b) else None
                        ax.errorbar([c], [y], yerr=yerr, capsize=3, **{**style, "ls": "none"})
            else:
                ax.plot(cut, ys, label=name, **style)
            if key == "task2.force_rmse" and k == 0:
                for regime, colour in zip(REGIMES, ("tab:blue", "tab:orange", "tab:purple")):
                    ax.plot(
                        cut, [value(m.get(f"task2.{regime}.force_rmse")) for m in ms_], ".:", color=colour, label=regime
                    )
            missing = [c for c, y in zip(cut, ys) if not math.isfinite(y)]
            if missing and k == 0:
                ax.text(
                    0.02,
                    0.02,
                    "not run: " + ", ".join(f"{c:g} Å" for c in missing),
                    transform=ax.transAxes,
                    fontsize=8,
                    color="grey",
                )
        if key == "task3.sigma298":
            ax.axhspan(*BAND_MS_CM, color="tab:green", alpha=0.15, label="17–61 mS/cm band")
            ax.set_yscale("log")
        else:
            thr = threshold(first, key)
            if thr is not None:
                ax.axhline(thr, color="tab:red", ls="--", lw=1, label=f"gate {thr:g} {unit}")
            if key != "task4.survival_fraction":
                ax.set_ylim(bottom=0)
        ax.legend(loc="best", fontsize=7)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("MACE radial cutoff (Å)")
        ax.set_ylabel(unit)
        ax.set_xticks(sorted({c for (_, c) in rows}))
    fig.suptitle(f"Study 1: example-model recipe vs radial cutoff, ci profile ({', '.join(recipes)})")
    tag = "_".join(recipes)
    png = HERE / "cutoff" / f"cutoff_sweep_{tag}.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)

    cols = list(rows)
    head = [f"{c:g} Å ({r})" for r, c in cols]
    lines = ["| metric | unit | gate | " + " | ".join(head) + " |", "|---|---|---|" + "---|" * len(cols)]
    keys = (
        [k for k, *_ in CUTOFF_METRICS[:4]]
        + [f"task2.{r}.force_rmse" for r in REGIMES]
        + ["task4.survival_fraction", "task4.close_contact_fraction", "task3.sigma298", "task3.activation_energy"]
    )
    for key in keys:
        cells = []
        for col in cols:
            m = rows[col][2].get(key)
            if m is None:
                cells.append("not run")
                continue
            cell = fmt(value(m))
            a, b = interval(m)
            if math.isfinite(a):
                cell += f" [{fmt(a, 2)}, {fmt(b, 2)}]"
            verdict = rows[col][3].get(key)
            cells.append(cell + (f" {verdict}" if verdict in ("PASS", "FAIL", "INCONCLUSIVE") else ""))
        unit = next((rows[col][2][key]["unit"] for col in cols if key in rows[col][2]), "")
        thr = threshold(first, key)
        gate = "17–61" if key == "task3.sigma298" else ("–" if thr is None else f"{thr:g}")
        lines.append(f"| `{key}` | {unit} | {gate} | " + " | ".join(cells) + " |")
    walls = [fmt(float(rows[col][0].get("duration_s") or math.nan) / 60, 3) for col in cols]
    lines.append("| session wall time (last run) | min | | " + " | ".join(walls) + " |")
    table = HERE / "cutoff" / f"table_{tag}.md"
    table.write_text("\n".join(lines) + "\n")
    made = render_with_package(paths, HERE / "cutoff" / f"comparison_{tag}")
    print(
        f"wrote {png.relative_to(ROOT)}, {table.relative_to(ROOT)}, "
        + ", ".join(str(p.relative_to(ROOT)) for p in made)
    )
    print(table.read_text())


# --------------------------------------------------------------------------------------------- Study 2
def sigma_panel(ax: Any, entries: list[tuple[str, dict, dict, Any]]) -> None:
    """Task 3 sigma298 per model with its 95 % interval and the accepted band (the paper's Fig. 6 / Table 3);
    models without a Task 3 report are named as not run."""
    ran = [(k, label, ms["task3.sigma298"]) for k, (label, ms, _, _) in enumerate(entries) if "task3.sigma298" in ms]
    for k, label, m in ran:
        y = value(m)
        a, b = interval(m)
        if not math.isfinite(y):
            continue
        yerr = [[y - a], [b - y]] if math.isfinite(a) and math.isfinite(b) else None
        ax.errorbar([k], [y], yerr=yerr, fmt="s" if "_ft" in label else "o", capsize=4, color=f"C{k}", label=label)
    ax.axhspan(*BAND_MS_CM, color="tab:green", alpha=0.15, label="17–61 mS/cm band")
    ax.set_yscale("log")
    ax.set_xticks(range(len(entries)), [e[0] for e in entries], rotation=30, ha="right", fontsize=7)
    missing = [e[0] for e in entries if "task3.sigma298" not in e[1]]
    if missing:
        ax.text(0.02, 0.02, "not run: " + ", ".join(missing), transform=ax.transAxes, fontsize=7, color="grey")
    designs = sorted({str(m.get("profile")) for _, _, m in ran})
    ax.set_title("Task 3 σ298 (95 % interval)" + (f"\nprofile {', '.join(designs)}" if designs else ""), fontsize=10)
    ax.set_ylabel("mS/cm")
    ax.legend(fontsize=7)


def study_foundation() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rdir = HERE / "foundation" / "reports"
    paths = sorted(rdir.glob("*.json"))
    if not paths:
        raise SystemExit(f"no reports in {rdir.relative_to(ROOT)}")
    by_profile: dict[str, list[Path]] = {}  # the package compares reports of one profile on one page
    for p in paths:
        rep = load_report(p)
        if not rep.get("interrupted"):
            by_profile.setdefault(str((rep.get("profile") or {}).get("name")), []).append(p)
    page = []
    for name, group in sorted(by_profile.items()):
        stem = "comparison" if name == "ci" else f"comparison_{name}"
        page += render_with_package(group, HERE / "foundation" / stem)
    merged: dict[str, tuple[dict, dict]] = {}  # model -> (metrics, verdicts) over its reports (one per task)
    for p in paths:
        rep = load_report(p)
        if rep.get("interrupted"):
            continue
        verdicts = verdicts_of(rep)
        profile = str((rep.get("profile") or {}).get("name"))
        for model, ms in metrics_of(rep).items():
            label = model.split(".")[-1]
            merged.setdefault(label, ({}, {}))
            if "task3.sigma298" in ms:  # the design it came from, for the figure and the table
                ms = {**ms, "task3.sigma298": {**ms["task3.sigma298"], "profile": profile}}
            merged[label][0].update(ms)
            merged[label][1].update(verdicts.get(model, {}))
    known = ["chgnet", "chgnet_ft_s0", "chgnet_ft_s1", "chgnet_ft_s2", "sevennet0", "sevennet0_ft_s0"]
    entries = [(label, ms, vs, None) for label, (ms, vs) in merged.items()]
    entries.sort(key=lambda e: (known.index(e[0]) if e[0] in known else len(known), e[0]))
    fig, axes = plt.subplots(1, 5, figsize=(21, 4.2), constrained_layout=True)
    x = range(len(REGIMES) + 1)
    width = 0.8 / max(1, len(entries))
    for k, (label, ms, _, _) in enumerate(entries):
        f = [value(ms.get(f"task2.{r}.force_rmse")) for r in REGIMES] + [value(ms.get("task2.force_rmse"))]
        e = list(regime_energy_rmse(ms.get("task2.force_rmse")).values()) + [value(ms.get("task2.energy_rmse"))]
        hatch = "//" if "_ft" in label else None
        axes[0].bar([i + k * width for i in x], e, width, label=label, hatch=hatch)
        axes[1].bar([i + k * width for i in x], f, width, label=label, hatch=hatch)
    for ax, title, unit in (
        (axes[0], "Task 2 energy RMSE (offset-aligned)", "meV/atom"),
        (axes[1], "Task 2 force RMSE", "eV/Å"),
    ):
        ax.set_xticks([i + 0.4 - width / 2 for i in x], [*REGIMES, "all"])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(unit)
    axes[1].legend(fontsize=7)
    for k, (label, ms, _, _) in enumerate(entries):  # along the melt-quench, as the paper's Fig. 5
        traj = ((ms.get("task2.force_rmse") or {}).get("details") or {}).get("trajectory") or []
        pts = sorted((float(p["time_ps"]), float(p["force_rmse"])) for p in traj if p.get("time_ps") is not None)
        if pts:
            axes[3].plot(*zip(*pts), "o-" if "_ft" not in label else "s--", ms=3, color=f"C{k}", label=label)
    axes[3].set_title("Task 2 force RMSE along the melt–quench", fontsize=10)
    axes[3].set_xlabel("time (ps)")
    axes[3].set_ylabel("eV/Å")
    axes[3].legend(fontsize=7)
    for k, (label, ms, _, _) in enumerate(entries):  # Task 1: relaxed (solid) and single point (light)
        for j, (kind, alpha) in enumerate((("relaxed", 1.0), ("single_point", 0.45))):
            y = value(ms.get(f"task1.ef_rmse_{kind}"))
            axes[2].bar(
                k + (j - 0.5) * 0.38,
                y if math.isfinite(y) else 0.0,
                0.38,
                color=f"C{k}",
                alpha=alpha,
                hatch="//" if "_ft" in label else None,
                label=kind.replace("_", " ") if k == 0 else None,
            )
    gate = next((threshold(load_report(p), "task1.ef_rmse_relaxed") for p in paths), None)
    if gate is not None:
        axes[2].axhline(gate, color="tab:red", ls="--", lw=1, label=f"gate {gate:g} meV/atom")
    no_t1 = [e[0] for e in entries if "task1.ef_rmse_relaxed" not in e[1]]
    axes[2].set_ylim(0, 1.25 * axes[2].get_ylim()[1])  # room for the note above the bars
    if no_t1:
        axes[2].text(0.02, 0.92, "not run: " + ", ".join(no_t1), transform=axes[2].transAxes, fontsize=7, color="grey")
    axes[2].set_xticks(range(len(entries)), [e[0] for e in entries], rotation=30, ha="right", fontsize=7)
    axes[2].set_title("Task 1 RMSE(E_f): relaxed / single point", fontsize=10)
    axes[2].set_ylabel("meV/atom")
    axes[2].legend(fontsize=7, loc="center right")
    sigma_panel(axes[4], entries)
    fig.suptitle("Study 2: zero-shot vs fine-tuned (_ft: 13 training-only Li7P3S11 PBEsol frames), ci profile")
    png = HERE / "foundation" / "foundation_task2.png"
    fig.savefig(png, dpi=120)
    plt.close(fig)

    head = [
        "model",
        "Task 1 RMSE(E_f) relaxed / single point",
        "Task 2 F all",
        *(f"F {r}" for r in REGIMES),
        "Task 2 E all",
        *(f"E {r}" for r in REGIMES),
        "σ298 [95 %]",
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        "| unit | meV/atom | eV/Å | eV/Å | eV/Å | eV/Å | meV/atom | meV/atom | meV/atom | meV/atom | mS/cm |",
    ]
    for label, ms, _, _ in entries:
        er = regime_energy_rmse(ms.get("task2.force_rmse"))
        s = ms.get("task3.sigma298")
        a, b = interval(s)
        sig = "not run" if s is None else f"{fmt(value(s))} [{fmt(a, 2)}, {fmt(b, 2)}] ({s.get('profile')})"
        cells = [
            label,
            f"{fmt(value(ms.get('task1.ef_rmse_relaxed')))} / {fmt(value(ms.get('task1.ef_rmse_single_point')))}",
            fmt(value(ms.get("task2.force_rmse"))),
            *(fmt(value(ms.get(f"task2.{r}.force_rmse"))) for r in REGIMES),
            fmt(value(ms.get("task2.energy_rmse"))),
            *(fmt(er[r]) for r in REGIMES),
            sig,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    table = HERE / "foundation" / "table.md"
    table.write_text("\n".join(lines) + "\n")
    print(
        f"wrote {png.relative_to(ROOT)}, {table.relative_to(ROOT)}, "
        + ", ".join(str(p.relative_to(ROOT)) for p in page)
    )
    print(table.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("study", choices=["cutoff", "foundation"])
    ap.add_argument(
        "--recipe",
        action="append",
        help="Study 1: reports/<RECIPE>/ to draw, repeatable; the first is the line (default: e16-20 and e80-100)",
    )
    args = ap.parse_args()
    if args.study == "cutoff":
        study_cutoff(args.recipe or ["e16-20", "e80-100"])
    else:
        study_foundation()


if __name__ == "__main__":
    main()
