"""σ298 coverage, bias and verdict rates of the Task 3 designs, from simulated Li trajectories.

Usage::

    nice python benchmarks/sigma_coverage.py [--sets-ci 400] [--sets-paper 100] [--seed 0]
    nice python benchmarks/sigma_coverage.py --designs ci --ci-variants   # the ci design study

For each design — ``paper`` (5 T × 3 repeats), 5 T × 2 repeats and ``ci`` as shipped — each true σ298
(3, 30, 300 mS/cm; the accepted band is 17–61) and each hidden run-to-run scatter (0 and 30 %),
simulates data sets of trajectories (:mod:`pytest_lips.analysis.sigma_simulation`: Li hopping on a
lattice with a Poisson rate that gives the true D, Ornstein–Uhlenbeck vibration, a drifting framework,
a mean-1 lognormal factor on each run's hop rate for the hidden scatter; Ea uniform in 0.15–0.40 eV per
set; n_Li and volume of the design's cell from the pack), feeds them through Task 3's own chain
(``reduce_run_frames`` → ``analyse`` → default thresholds, :mod:`pytest_lips.tasks.task3_simulation`)
and prints: the number of sets; the fraction with a finite 95 % interval; its coverage (target ≥ 0.93);
the median σ̂298 / σ298 with a 95 % interval of that median (target within 0.85–1.15); the PASS / FAIL /
INCONCLUSIVE fractions. Frames of the 500-ps designs are simulated every 2.5 ps (not 100 fs; the MSD
fit window 25–125 ps still has 40 lags) to keep the run time modest; ``ci`` uses its own 20 fs.

``--ci-variants`` adds candidate ci designs of about the same or larger MD cost (the design study of
``reference_data/protocols/ci.yaml``).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

from pytest_lips.analysis.sigma_simulation import HopModel
from pytest_lips.profiles import load_profile
from pytest_lips.tasks.task3_conductivity import Task3Protocol
from pytest_lips.tasks.task3_simulation import simulate_design

SIGMA_TRUE_mS_cm = (3.0, 30.0, 300.0)
HIDDEN_SCATTER = (0.0, 0.3)
#: Frame interval used for the simulated 500-ps designs, fs (module docstring).
LONG_RUN_SAMPLE_FS = 2500.0


def designs(ci_variants: bool) -> dict[str, tuple[Task3Protocol, float | None]]:
    """{name: (protocol, simulated sample interval in fs or None for the protocol's own)}."""
    paper = Task3Protocol.from_section(load_profile("paper").section("task3"))
    ci = Task3Protocol.from_section(load_profile("ci").section("task3"))
    out: dict[str, tuple[Task3Protocol, float | None]] = {
        "paper 5Tx3": (paper, LONG_RUN_SAMPLE_FS),
        "5Tx2": (replace(paper, repeats=2), LONG_RUN_SAMPLE_FS),
        "ci": (ci, None),
    }
    if ci_variants:
        base = replace(ci, temperatures_K=(700.0, 800.0, 900.0, 1000.0), repeats=1, production_ps=4.5)
        out["ci 4Tx1x15ps"] = (replace(base, production_ps=15.0), None)
        out["ci 4Tx2x4.5ps"] = (replace(base, repeats=2), None)
        out["ci 4Tx2x7ps"] = (replace(base, repeats=2, production_ps=7.0), None)
        out["ci 6Tx1x10ps"] = (
            replace(base, temperatures_K=(600.0, 700.0, 800.0, 900.0, 1000.0, 1100.0), production_ps=10.0),
            None,
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets-ci", type=int, default=400, help="simulated data sets per cell, ci-sized designs")
    parser.add_argument("--sets-paper", type=int, default=100, help="simulated data sets per cell, 500-ps designs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--designs", default="", help="comma-separated subset of the design names (default: all)")
    parser.add_argument("--ci-variants", action="store_true", help="add candidate ci designs")
    parser.add_argument("--sigma", default="", help="comma-separated true sigma298 values, mS/cm (default 3,30,300)")
    parser.add_argument("--hidden", default="", help="comma-separated hidden scatter values (default 0,0.3)")
    args = parser.parse_args()
    sigmas = tuple(float(v) for v in args.sigma.split(",")) if args.sigma else SIGMA_TRUE_mS_cm
    hidden = tuple(float(v) for v in args.hidden.split(",")) if args.hidden else HIDDEN_SCATTER
    chosen = [d.strip() for d in args.designs.split(",") if d.strip()]
    print(
        f"{'design':<15} {'sigma298':>8} {'hidden':>6} {'sets':>5} {'interval':>8} {'coverage':>8} "
        f"{'median':>6} {'median 95% CI':>13} {'PASS':>5} {'FAIL':>5} {'INCONCL':>7} {'s/set':>6}"
    )
    for name, (protocol, sample_fs) in designs(args.ci_variants).items():
        if chosen and not any(name.startswith(c) for c in chosen):
            continue
        n_sets = args.sets_paper if sample_fs is not None else args.sets_ci
        for sigma in sigmas:
            for h in hidden:
                start = time.perf_counter()
                r = simulate_design(
                    protocol,
                    sigma,
                    n_sets,
                    seed=args.seed,
                    model=HopModel(hidden_scatter=h),
                    sample_interval_fs=sample_fs,
                )
                per_set = (time.perf_counter() - start) / n_sets
                lo, hi = r.median_ratio_interval
                print(
                    f"{name:<15} {sigma:>8g} {h:>6.0%} {r.n_sets:>5} {r.with_interval:>8.2f} {r.coverage:>8.3f} "
                    f"{r.median_ratio:>6.2f} {f'[{lo:.2f}, {hi:.2f}]':>13} {r.passed:>5.2f} {r.failed:>5.2f} "
                    f"{r.inconclusive:>7.2f} {per_set:>6.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
