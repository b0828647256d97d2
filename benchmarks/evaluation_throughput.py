"""Benchmark: structures per second, batched graph-pes evaluation vs a plain ASE-calculator loop.

Usage: ``python benchmarks/evaluation_throughput.py [--structures N] [--model lj|mace]``.
"""

from __future__ import annotations

import argparse

import numpy as np
from ase import Atoms


def structures(n: int, seed: int = 0) -> list[Atoms]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(30, 56))
        length = (k / 0.04) ** (1 / 3)
        out.append(
            Atoms(
                numbers=rng.choice([3, 15, 16], size=k),
                positions=rng.random((k, 3)) * length,
                cell=np.eye(3) * length,
                pbc=True,
            )
        )
    return out


def build_model(kind: str):
    if kind == "mace":
        from graph_pes.models import MACE

        return MACE(elements=["Li", "P", "S"], cutoff=5.0, channels=16, layers=2, l_max=1)
    from graph_pes.models import LennardJones

    return LennardJones(cutoff=5.0, epsilon=0.05, sigma=2.0)


def main() -> None:
    from pytest_lips.evaluation import evaluate_calculator, evaluate_graph_pes

    parser = argparse.ArgumentParser()
    parser.add_argument("--structures", type=int, default=200)
    parser.add_argument("--model", choices=["lj", "mace"], default="lj")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    model = build_model(args.model)
    data = structures(args.structures)
    evaluate_graph_pes(model, data[:4])  # warm-up
    batched = evaluate_graph_pes(model, data, compute_stress=False, batch_size=args.batch_size)
    loop = evaluate_calculator(model.ase_calculator(skin=0.0), data, compute_stress=False)
    diff = np.max(np.abs(batched.forces - loop.forces)) / max(1e-12, np.max(np.abs(loop.forces)))
    print(f"model {args.model}, {len(data)} structures, {sum(len(a) for a in data)} atoms")
    print(f"batched graph-pes (batch {args.batch_size}): {batched.structures_per_s:8.1f} structures/s")
    print(f"plain ASE loop:                    {loop.structures_per_s:8.1f} structures/s")
    print(
        f"speed-up {batched.structures_per_s / loop.structures_per_s:.1f}x; max |ΔF| / max |F| = {diff:.1e} (float32)"
    )


if __name__ == "__main__":
    main()
