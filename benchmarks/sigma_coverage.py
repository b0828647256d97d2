"""Coverage of the nominal 95 % σ298 interval on simulated Task 3 data sets of known σ298.

Usage::

    python benchmarks/sigma_coverage.py [--sets 1000] [--seed 0]

For the Task 3 designs of the ``paper`` and ``ci`` profiles and a 2-repeat design (5 temperatures ×
2 repeats), simulates Arrhenius data sets with per-repeat scatter, scatter the per-run errors do not
see, Arrhenius misfit and measured temperatures (assumptions: module docstring of
:mod:`pytest_lips.analysis.sigma_simulation`), runs
:func:`pytest_lips.analysis.conductivity.calibrated_conductivity_at_298` on each and prints the
fraction of intervals that hold the true σ298 (target ≥ 0.93), the fraction of data sets that gave
an interval at all, and the median interval width in decades (the accepted band 17–61 mS/cm is
0.55 decades wide: an interval must be narrower than that to PASS).
"""

from __future__ import annotations

import argparse

from pytest_lips.analysis.sigma_simulation import simulate_coverage
from pytest_lips.profiles import load_profile


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
    args = parser.parse_args()
    print(f"{'design':<16} {'temperatures_K':<28} {'repeats':>7} {'coverage':>9} {'estimable':>9} {'width_dec':>9}")
    worst = 1.0
    for name, (temps, repeats) in designs().items():
        result = simulate_coverage(temps, repeats, n_sets=args.sets, seed=args.seed)
        worst = min(worst, result.coverage)
        print(
            f"{name:<16} {','.join(f'{t:g}' for t in temps):<28} {repeats:>7} {result.coverage:>9.3f} "
            f"{result.estimable:>9.3f} {result.median_width_decades:>9.2f}"
        )
    print(f"worst coverage {worst:.3f} (target >= 0.93 for a nominal 95 % interval)")


if __name__ == "__main__":
    main()
