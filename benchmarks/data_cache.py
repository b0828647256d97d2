"""Benchmark: parse a LiPS-25-sized extxyz vs load the binary cache.

Writes a synthetic file in the LiPS-25 format (12,525 structures, 531,576 atoms; energy, label,
virial, forces) into a temporary directory, then reports the first (parsing) load, the cached load
(goal: >= 20x faster) and peak memory.  Usage: ``python benchmarks/data_cache.py [--structures N]``.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

N_STRUCTURES = 12_525
N_ATOMS = 531_576
LABELS = ["crystalline_Li3PS4", "AIMD_Li7P3S11", "hard_spheres", "dimer_Li-S", "Iter1-3", "Iter2-5"]


def write_synthetic(path: Path, n_structures: int, n_atoms: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    sizes = np.full(n_structures, n_atoms // n_structures)
    sizes[: n_atoms - sizes.sum()] += 1
    symbols = np.array(["Li", "P", "S"])
    with open(path, "w") as out:
        for k, n in enumerate(sizes):
            length = (n / 0.04) ** (1 / 3)
            virial = " ".join(f"{v:.8f}" for v in rng.normal(size=9))
            out.write(f"{n}\n")
            out.write(
                f'Lattice="{length:.6f} 0.0 0.0 0.0 {length:.6f} 0.0 0.0 0.0 {length:.6f}" '
                f"Properties=species:S:1:pos:R:3:forces:R:3 energy={-4.0 * n + rng.normal():.8f} "
                f'label={LABELS[k % len(LABELS)]} virial="{virial}" pbc="T T T"\n'
            )
            pos = rng.random((n, 3)) * length
            frc = rng.normal(size=(n, 3))
            sym = symbols[rng.integers(0, 3, size=n)]
            out.write(
                "".join(
                    f"{s:2s} {p[0]:16.8f} {p[1]:16.8f} {p[2]:16.8f} {f[0]:16.8f} {f[1]:16.8f} {f[2]:16.8f}\n"
                    for s, p, f in zip(sym, pos, frc)
                )
            )


def main() -> None:
    from pytest_lips.data import load_lips_dataset

    parser = argparse.ArgumentParser()
    parser.add_argument("--structures", type=int, default=N_STRUCTURES)
    parser.add_argument("--atoms", type=int, default=None)
    args = parser.parse_args()
    n_atoms = args.atoms or int(round(N_ATOMS * args.structures / N_STRUCTURES))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lips-synthetic.extxyz"
        t0 = time.perf_counter()
        write_synthetic(path, args.structures, n_atoms)
        print(
            f"wrote {args.structures} structures / {n_atoms} atoms ({path.stat().st_size / 1e6:.1f} MB) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        tracemalloc.start()
        t0 = time.perf_counter()
        ds = load_lips_dataset(path, Path(tmp) / "cache", allow_download=False)
        t_parse = time.perf_counter() - t0
        peak_parse = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        cached = load_lips_dataset(path, Path(tmp) / "cache", allow_download=False)
        t_cache = time.perf_counter() - t0
        peak_cache = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert cached.loaded_from_cache and len(cached) == len(ds) == args.structures
        assert cached.total_atoms == n_atoms
        cache_mb = ds.cache_path.stat().st_size / 1e6 if ds.cache_path else float("nan")
        print(f"first load (parse + write cache): {t_parse:.2f} s, peak traced memory {peak_parse / 1e6:.0f} MB")
        print(
            f"cached load:                      {t_cache:.3f} s, peak traced memory {peak_cache / 1e6:.0f} MB "
            f"(cache file {cache_mb:.1f} MB)"
        )
        print(f"speed-up: {t_parse / t_cache:.0f}x (goal >= 20x)")
        print(f"process max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
