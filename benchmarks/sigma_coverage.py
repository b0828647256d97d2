"""Coverage of the nominal 95 % σ298 interval on simulated Task 3 data sets of known σ298.

Usage::

    python benchmarks/sigma_coverage.py [--sets 1000] [--seed 0] [--verdict-sets 400]

For the Task 3 designs of the ``paper`` and ``ci`` profiles and a 2-repeat design (5 temperatures ×
2 repeats), simulates Arrhenius data sets with per-repeat scatter, scatter the per-run errors do not
see, Arrhenius misfit and measured temperatures (assumptions: module docstring of
:mod:`pytest_lips.analysis.sigma_simulation`), runs
:func:`pytest_lips.analysis.conductivity.calibrated_conductivity_at_298` on each and prints the
fraction of intervals that hold the true σ298 (target ≥ 0.93), the fraction of data sets that gave
an interval at all, and the median interval width in decades (the accepted band 17–61 mS/cm is
0.55 decades wide: an interval must be narrower than that to PASS).

Then, per design, the verdicts of the gate (PASS / FAIL / INCONCLUSIVE) for models of a fixed true
σ298 from 100x below to 100x above the band: how far outside the band a model must be for a design to
FAIL it, and how often it gives a wrong verdict (FAIL inside the band, PASS outside).

Per-run scatter: 0.20 (relative sd at the middle temperature) for the paper-length designs, an
assumption; 0.30 for ``ci``, measured: per-run relative standard errors of 0.22-0.38 for the example
model in 84-atom runs of 4-7 ps at 700-1000 K.
"""

from __future__ import annotations

import argparse

from pytest_lips.analysis.sigma_simulation import simulate_coverage, simulate_verdicts
from pytest_lips.profiles import load_profile

#: Relative per-run scatter at the middle temperature of each design (module docstring).
SCATTER = {"paper": 0.20, "ci": 0.30, "5T x 2 repeats": 0.20}
#: True sigma298 values of the verdict table, mS/cm (band 17-61).
SIGMA_TRUE_mS_cm = (0.17, 0.57, 1.7, 5.7, 30.0, 183.0, 610.0, 1830.0, 6100.0)


def designs() -> dict[str, tuple[tuple[float, ...], int]]:
    """{name: (temperatures_K, repeats)} from the shipped profiles, plus a 2-repeat design."""
    out = {}
    for name in ("paper", "ci"):
        section = load_profile(name).section("task3")
        out[name] = (tuple(float(t) for t in section["temperatures_K"]), int(section["repeats"]))
    out["5T x 2 repeats"] = (out["paper"][0], 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", type=int, default=1000, help="simulated data sets per design")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verdict-sets", type=int, default=400, help="data sets per design and true sigma298")
    args = parser.parse_args()
    print(f"{'design':<16} {'temperatures_K':<28} {'repeats':>7} {'coverage':>9} {'estimable':>9} {'width_dec':>9}")
    worst = 1.0
    for name, (temps, repeats) in designs().items():
        result = simulate_coverage(temps, repeats, n_sets=args.sets, seed=args.seed, scatter=SCATTER[name])
        worst = min(worst, result.coverage)
        print(
            f"{name:<16} {','.join(f'{t:g}' for t in temps):<28} {repeats:>7} {result.coverage:>9.3f} "
            f"{result.estimable:>9.3f} {result.median_width_decades:>9.2f}"
        )
    print(f"worst coverage {worst:.3f} (target >= 0.93 for a nominal 95 % interval)")
    print()
    print("verdicts of the gate (band 17-61 mS/cm) by true sigma298: PASS / FAIL / INCONCLUSIVE fractions")
    print(f"{'design':<16} " + " ".join(f"{s:>14g}" for s in SIGMA_TRUE_mS_cm))
    for name, (temps, repeats) in designs().items():
        cells = []
        for sigma in SIGMA_TRUE_mS_cm:
            r = simulate_verdicts(
                temps, repeats, sigma, n_sets=args.verdict_sets, seed=args.seed, scatter=SCATTER[name]
            )
            cells.append(f"{r.passed:.2f}/{r.failed:.2f}/{r.inconclusive:.2f}")
        print(f"{name:<16} " + " ".join(f"{c:>14}" for c in cells))


if __name__ == "__main__":
    main()
