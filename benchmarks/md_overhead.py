"""MD cost of a small graph-pes MACE: µs/atom/step, share of time outside the model, ci estimate.

Usage::

    python benchmarks/md_overhead.py [--atoms-cells 4] [--steps 50] [--threads 2] [--profile ci]

Builds an untrained graph-pes MACE (channels 16, 2 layers, cutoff 5 Å — the "small MACE" the ci
profile is sized for; untrained weights cost the same as trained ones), runs NVT (Nosé–Hoover
chain) on a Li7P3S11 supercell of the reference pack and prints the wall time per atom per step,
the share of the step time spent outside the model calculator (integrator, checks, sampling, ASE
bookkeeping) and the model calls per step. Then it times short NVT/NPT runs at the sizes of the
chosen profile's Task 3 and Task 4 sections and estimates their total wall time.
"""

from __future__ import annotations

import argparse
import time

import torch
from graph_pes.models import MACE
from graph_pes.utils.calculator import GraphPESCalculator

from pytest_lips.md import NVTSettings, run_md
from pytest_lips.profiles import load_profile
from pytest_lips.tasks import task3_conductivity as task3
from pytest_lips.tasks import task4_robustness as task4
from pytest_lips.tasks.structures import random_hard_sphere_cell, stoichiometric_counts, supercell


def small_mace() -> MACE:
    torch.manual_seed(0)
    return MACE(elements=["Li", "P", "S"], cutoff=5.0, channels=16, layers=2)


def timed_run(model, atoms, ensemble, steps, T, p=None):
    calc = GraphPESCalculator(model, skin=1.0)
    # warm-up (first call builds the graph and any lazy torch state)
    run_md(atoms.copy(), GraphPESCalculator(model, skin=1.0), ensemble, 3, 1.0, T, pressure_Pa=p, seed=0)
    return run_md(atoms, calc, ensemble, steps, 1.0 if ensemble.npt else 2.0, T, pressure_Pa=p, seed=1)


def cpu_us(outcome) -> float:
    """CPU µs per atom per step (process time over all threads)."""
    return outcome.cpu_s / (outcome.steps_done * outcome.n_atoms) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cells", type=int, default=4, help="reference cells in the supercell (4 -> 168 atoms, 16 -> 672)"
    )
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--profile", default="ci")
    parser.add_argument("--estimate-steps", type=int, default=40, help="steps timed per size for the estimate")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model = small_mace()
    protocol3 = task3.Task3Protocol.from_section(load_profile(args.profile).section("task3"))
    protocol4 = task4.for_system(task4.Task4Protocol.from_section(load_profile(args.profile).section("task4")))
    cell = task3.load_structure(protocol3)

    atoms = supercell(cell, args.cells)
    out = timed_run(model, atoms, NVTSettings(), args.steps, 600.0)
    print(f"NVT {len(atoms)} atoms, {out.steps_done} steps, torch threads {args.threads}")
    print(f"  wall: {out.us_per_atom_step:.1f} us/atom/step ({out.wall_s / out.steps_done * 1e3:.1f} ms/step)")
    print(f"  cpu:  {cpu_us(out):.1f} us/atom/step (process CPU time, all threads; robust on a shared machine)")
    print(f"  outside the model: {100 * out.outside_model_fraction:.2f} % of the step time")
    print(f"  model calls per step: {(out.model_calls - 1) / out.steps_done:.2f}")

    # --- estimate of the profile's Task 3 and Task 4 wall time
    t3_atoms = supercell(cell, protocol3.supercell)
    o3 = timed_run(model, t3_atoms, protocol3.ensemble, args.estimate_steps, 600.0)
    n3 = len(task3.plan_runs(protocol3, 0)) * protocol3.total_steps
    est3 = n3 * o3.wall_s / o3.steps_done
    cpu3 = n3 * o3.cpu_s / o3.steps_done
    t4_atoms = random_hard_sphere_cell(
        stoichiometric_counts(protocol4.n_atoms, task4.system_composition()),
        seed=0,
        density_g_cm3=protocol4.density_g_cm3,
    )
    o4 = timed_run(model, t4_atoms, protocol4.ensemble, args.estimate_steps, 2000.0, 1e8)
    runs4 = task4.plan_runs(protocol4, 0)
    n4 = len(runs4) * protocol4.production_steps
    relax = protocol4.repeats * protocol4.relax_max_steps * o4.wall_s / o4.steps_done  # upper bound
    est4 = n4 * o4.wall_s / o4.steps_done + relax
    cpu4 = (n4 + protocol4.repeats * protocol4.relax_max_steps) * o4.cpu_s / o4.steps_done
    print(f"profile {args.profile}:")
    print(
        f"  task3: {len(t3_atoms)} atoms NVT, {o3.us_per_atom_step:.0f} (wall) / {cpu_us(o3):.0f} (cpu) us/atom/step, "
        f"{len(task3.plan_runs(protocol3, 0))} runs x {protocol3.total_steps} steps -> ~{est3:.0f} s wall, "
        f"{cpu3:.0f} s cpu"
    )
    print(
        f"  task4: {len(t4_atoms)} atoms NPT, {o4.us_per_atom_step:.0f} (wall) / {cpu_us(o4):.0f} (cpu) us/atom/step, "
        f"{len(runs4)} runs x {protocol4.production_steps} steps + relaxations (<= {protocol4.relax_max_steps} "
        f"steps) -> ~{est4:.0f} s wall, {cpu4:.0f} s cpu"
    )
    print(
        f"  task3 + task4: ~{(est3 + est4) / 60:.1f} min wall here, {(cpu3 + cpu4) / 60:.1f} min of CPU time "
        f"(= wall time on {args.threads} idle core(s) if the threads scale perfectly)"
    )


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(benchmark wall time {time.perf_counter() - t0:.0f} s)")
