"""Do the two MD engines give the same Li diffusion? Task 3 run through pytest once per engine.

Usage::

    python benchmarks/engine_agreement.py [--temperatures 800 1000] [--repeats 3] [--production-ps 3]
                                          [--equilibration-ps 1] [--model examples/lips-example-model.pt]
                                          [--out .benchmarks/engine_agreement] [--serial] [--print-only]

It writes a profile (the ``ci`` profile with the Task 3 plan replaced by the options above: 84-atom
Li7P3S11 cells), runs ``pytest --lips-tasks=task3`` with ``--lips-engine=torch-sim`` and with
``--lips-engine=ase`` (both at once, one process and one thread each, unless ``--serial``), each with
its own empty result cache, and prints from the two JSON reports:

* per temperature and engine: mean D(Li) with its 95 % interval and every repeat's D, and whether the
  two engines' intervals overlap;
* the relative scatter of D between repeats, pooled over both engines (what the ``ci`` design's
  coverage simulation assumes, ``benchmarks/sigma_coverage.py``);
* σ298 of all runs of both engines pooled (:func:`calibrated_conductivity_at_298`): the best estimate
  this budget gives of the model's σ298, to hold a single ``ci`` verdict against.

The runs are the suite's own (same jobs, seeds and analysis), so the figures are what a user sees.
Measured 2026-11-29 (README, *MD engines*): 800/1000 K x 3 repeats x 3 ps per engine, ~10-12 min.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from pytest_lips.analysis.conductivity import RunDiffusion, calibrated_conductivity_at_298
from pytest_lips.resources import reference_data_dir

ENGINES = ("torch-sim", "ase")


def write_profile(out: Path, args: argparse.Namespace) -> Path:
    profile = yaml.safe_load((reference_data_dir() / "protocols" / "ci.yaml").read_text())
    profile["name"] = "engine-agreement"
    profile["task3"].update(
        temperatures_K=[float(t) for t in args.temperatures],
        repeats=args.repeats,
        production_ps=args.production_ps,
        equilibration_ps=args.equilibration_ps,
        max_production_ps=None,
    )
    path = out / "engine-agreement.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


def pytest_command(engine: str, profile: Path, out: Path, model: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"--lips-model={model}", f"--lips-profile={profile}", "--lips-offline", "--lips-tasks=task3",
        f"--lips-engine={engine}", "--lips-threads=1", "--lips-fresh",
        f"--lips-cache-dir={out / ('cache-' + engine)}", f"--lips-report={out / ('report-' + engine + '.json')}",
    ]  # fmt: skip


def run_engines(profile: Path, out: Path, model: str, serial: bool) -> dict[str, float]:
    walls: dict[str, float] = {}
    started = {}
    procs = {}
    for engine in ENGINES:
        log = open(out / f"pytest-{engine}.log", "w")  # noqa: SIM115 - closed with the process
        started[engine] = time.perf_counter()
        # run in the output folder, so that pytest collects only the LiPS-25 suite, not a project's tests
        command = pytest_command(engine, profile, out, model)
        procs[engine] = (subprocess.Popen(command, cwd=out, stdout=log, stderr=log), log)
        if serial:
            procs[engine][0].wait()
    for engine, (proc, log) in procs.items():
        proc.wait()
        log.close()
        walls[engine] = time.perf_counter() - started[engine]
        if not (out / f"report-{engine}.json").exists():
            raise SystemExit(f"pytest with --lips-engine={engine} wrote no report; see {out / f'pytest-{engine}.log'}")
    return walls


def task3_result(report: dict) -> dict:
    (model,) = report["results"]
    return report["results"][model]["task3"]


def task3_runs(report: dict) -> list[dict]:
    return task3_result(report)["runs"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--temperatures", nargs="+", type=float, default=[800.0, 1000.0], help="K (at least 2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--production-ps", type=float, default=3.0)
    ap.add_argument("--equilibration-ps", type=float, default=1.0)
    ap.add_argument("--model", default=str(Path(__file__).resolve().parents[1] / "examples" / "lips-example-model.pt"))
    ap.add_argument("--out", type=Path, default=Path(".benchmarks/engine_agreement"))
    ap.add_argument("--serial", action="store_true", help="one engine after the other (default: both at once)")
    ap.add_argument("--print-only", action="store_true", help="print from the reports already in --out")
    args = ap.parse_args()
    args.out = args.out.resolve()
    args.model = str(Path(args.model).resolve())
    args.out.mkdir(parents=True, exist_ok=True)
    walls: dict[str, float] = {}
    if not args.print_only:
        walls = run_engines(write_profile(args.out, args), args.out, args.model, args.serial)
    reports = {e: json.loads((args.out / f"report-{e}.json").read_text()) for e in ENGINES}
    runs = {e: task3_runs(reports[e]) for e in ENGINES}
    metrics = {e: {m["key"]: m for m in task3_result(reports[e])["metrics"]} for e in ENGINES}
    wall = ", ".join(f"{e} {walls[e]:.0f} s" for e in ENGINES) if walls else "not measured (--print-only)"
    print(f"Task 3 runs per engine: {len(args.temperatures)} T x {args.repeats} repeats, "
          f"{args.equilibration_ps} + {args.production_ps} ps, 84 atoms; wall {wall}")  # fmt: skip
    print(f"{'T (K)':>7} {'engine':>10} {'D mean (cm2/s)':>15} {'95 % interval':>24}  repeats")
    relative_scatter = []
    for T in args.temperatures:
        intervals = []
        pooled = []
        for e in ENGINES:
            m = metrics[e].get(f"task3.D_{T:g}K")
            values = [r["extra"]["D_cm2_s"] for r in runs[e] if r["extra"].get("temperature_K") == T]
            pooled += values
            if m is None or m.get("interval") is None:
                print(f"{T:7g} {e:>10} {'not resolved':>15}")
                continue
            lo, hi = m["interval"]
            intervals.append((lo, hi))
            print(f"{T:7g} {e:>10} {m['value']:15.3e} [{lo:10.3e}, {hi:10.3e}]  "
                  + " ".join(f"{v:.3e}" for v in values))  # fmt: skip
        if len(intervals) == 2:
            overlap = max(intervals[0][0], intervals[1][0]) <= min(intervals[0][1], intervals[1][1])
            print(f"{'':7} {'':>10} intervals overlap: {'yes' if overlap else 'NO'}")
        if len(pooled) >= 2 and statistics.mean(pooled) > 0:
            relative_scatter.append(statistics.stdev(pooled) / statistics.mean(pooled))
            print(f"{'':7} {'':>10} both engines: mean {statistics.mean(pooled):.3e}, relative scatter "
                  f"between runs {relative_scatter[-1]:.2f} (n = {len(pooled)})")  # fmt: skip
    everything = [
        RunDiffusion(r["extra"]["temperature_K"], r["extra"]["D_cm2_s"], math.nan,
                     r["extra"].get("temperature_K_measured", math.nan))
        for e in ENGINES for r in runs[e] if r.get("completed") and "D_cm2_s" in r["extra"]
    ]  # fmt: skip
    volume = runs[ENGINES[0]][0]["extra"]["volume_A3_initial"]
    density = metrics[ENGINES[0]]["task3.sigma298"]["details"]["li_number_density_cm3"]  # Li per cm³
    n_li = round(density * volume * 1e-24)
    est = calibrated_conductivity_at_298(everything, n_carriers=int(n_li), volume_A3=volume)
    lo, hi = est.interval_mS_cm
    ea_lo, ea_hi = est.activation_energy_interval_eV
    print(
        f"pooled over both engines ({len(everything)} runs): Ea {est.activation_energy_eV:.3f} "
        f"[{ea_lo:.3f}, {ea_hi:.3f}] eV, sigma298 {est.sigma298_mS_cm:.3g} [{lo:.3g}, {hi:.3g}] mS/cm"
    )
    if est.undecidable_reason:
        print(f"  (not decidable: {est.undecidable_reason})")
    if relative_scatter:
        print(f"relative scatter of D between runs (mean over temperatures): {statistics.mean(relative_scatter):.2f}")


if __name__ == "__main__":
    main()
