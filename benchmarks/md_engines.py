"""Throughput of the MD engines: sequential ASE vs batched torch-sim, same model, same jobs, one run.

Usage::

    python benchmarks/md_engines.py [--sizes ci|paper|all] [--steps 20] [--paper-steps 3]
                                    [--model examples/lips-example-model.pt] [--device cpu] [--threads 1]

For every case it builds the jobs exactly as the suite does (``task3.build_jobs`` /
``task4.build_jobs`` from the profile's plan; Task 4 starts are random hard-sphere cells relaxed
with the model for a few FIRE steps), runs them once with :class:`~pytest_lips.md.AseEngine` (one
trajectory after the other) and once with :class:`~pytest_lips.md.TorchSimEngine` (all of them as
one batched system), after a 2-step warm-up of each engine (imports, graph building), and prints
atom-steps per second (wall and CPU) and the ratio torch-sim / ASE — the ratio last.

Cases: ``ci`` = the ci profile's Task 3 plan (84-atom cells, every temperature x repeat) and Task 4
grid (84-atom cells); ``paper`` = the paper profile's Task 3 plan (15 x 672 atoms) and a Task 4 slice
(one temperature x every pressure, 1008 atoms), few steps. On a shared machine the CPU figures are
the steadier ones.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import torch

from pytest_lips.md import AseEngine, TorchSimEngine
from pytest_lips.models import load_lips_model
from pytest_lips.profiles import load_profile
from pytest_lips.tasks import task3_conductivity as task3
from pytest_lips.tasks import task4_robustness as task4


def task3_jobs(profile: str, steps: int):
    protocol = task3.Task3Protocol.from_section(load_profile(profile).section("task3"))
    runs = task3.plan_runs(protocol, seed=0)
    jobs = task3.build_jobs(runs, task3.load_structure(protocol), protocol)
    return [
        dataclasses.replace(j, n_steps=steps, sample_from_step=0, sample_interval_steps=max(1, steps // 4))
        for j in jobs
    ]


def task4_jobs(profile: str, steps: int, model, slice_first_temperature: bool = False):
    protocol = task4.Task4Protocol.from_section(load_profile(profile).section("task4"))
    protocol = dataclasses.replace(protocol, relax_max_steps=min(protocol.relax_max_steps, 20), repeats=1)
    if slice_first_temperature:
        protocol = dataclasses.replace(protocol, temperatures_K=protocol.temperatures_K[:1])
    runs = task4.plan_runs(protocol, seed=0)
    starts = {}
    for run in runs:
        if run.start_id not in starts:
            starts[run.start_id] = task4.prepare_start(run, protocol, model.new_calculator())
    jobs = task4.build_jobs(runs, starts, protocol)
    return [dataclasses.replace(j, n_steps=steps, sample_interval_steps=max(1, steps // 4)) for j in jobs]


def paper_atom_steps(task: str) -> float:
    """Atom-steps of the whole paper-profile task (every run, equilibration + production)."""
    if task == "task3":
        protocol = task3.Task3Protocol.from_section(load_profile("paper").section("task3"))
        runs = task3.plan_runs(protocol, seed=0)
        n_atoms = len(task3.build_jobs(runs[:1], task3.load_structure(protocol), protocol)[0].atoms)
        return float(len(runs) * n_atoms * protocol.total_steps)
    protocol4 = task4.Task4Protocol.from_section(load_profile("paper").section("task4"))
    return float(len(task4.plan_runs(protocol4, seed=0)) * protocol4.n_atoms * protocol4.production_steps)


def timed(engine, jobs, model) -> tuple[float, float, int, list]:
    start, cpu = time.perf_counter(), time.process_time()
    out = engine.run(jobs, model)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    atom_steps = sum(len(j.atoms) * t.steps_done for j, t in zip(jobs, out))
    return wall, cpu, atom_steps, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", choices=("ci", "paper", "all"), default="ci")
    parser.add_argument("--steps", type=int, default=20, help="MD steps per job at ci sizes")
    parser.add_argument("--paper-steps", type=int, default=3, help="MD steps per job at paper sizes")
    parser.add_argument(
        "--model",
        default="examples/lips-example-model.pt",
        help="graph-pes model file, or 'mace-sized' (untrained graph-pes MACE: 128 channels, "
        "l_max 3, 2 layers, cutoff 5 Å — the cost of a MACE-MP-sized model)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument(
        "--cpu-max-atoms",
        type=int,
        default=1024,
        help="torch-sim on CPU: batch consecutive jobs up to this many atoms (0: one batch)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model == "mace-sized":
        from graph_pes.models import MACE

        from pytest_lips.models import model_from_graph_pes

        torch.manual_seed(0)
        model = model_from_graph_pes(
            "mace-sized",
            MACE(elements=["Li", "P", "S"], cutoff=5.0, channels=128, l_max=3, layers=2),
            device=args.device,
        )
    else:
        model = load_lips_model(args.model, device=args.device)
    ase, ts = (
        AseEngine(),
        TorchSimEngine(device=args.device, dtype=getattr(torch, args.dtype), cpu_max_atoms=args.cpu_max_atoms or None),
    )

    cases = []
    if args.sizes in ("ci", "all"):
        cases += [("task3 ci", task3_jobs("ci", args.steps)), ("task4 ci", task4_jobs("ci", args.steps, model))]
    if args.sizes in ("paper", "all"):
        cases += [
            ("task3 paper", task3_jobs("paper", args.paper_steps)),
            ("task4 paper slice", task4_jobs("paper", args.paper_steps, model, slice_first_temperature=True)),
        ]

    warm = cases[0][1][:1]
    for engine in (ase, ts):  # imports, graph building, torch lazy state
        engine.run([dataclasses.replace(warm[0], n_steps=2)], model)

    print(f"model {args.model} on {args.device} ({args.dtype} for torch-sim), torch threads {args.threads}")
    print(
        f"{'case':<18} {'jobs':>4} {'atoms':>6} {'steps':>5}  {'ASE atom-steps/s':>16} {'(CPU)':>8}  "
        f"{'torch-sim':>10} {'(CPU)':>8}  {'ratio':>6} {'(CPU)':>6}"
    )
    ratios = []
    estimates = []
    for name, jobs in cases:
        w_a, c_a, n_a, out_a = timed(ase, jobs, model)
        w_t, c_t, n_t, out_t = timed(ts, jobs, model)
        stopped = sum(not t.completed for t in out_a) + sum(not t.completed for t in out_t)
        rate = (n_a / w_a, n_a / c_a, n_t / w_t, n_t / c_t)
        ratios.append((name, rate[2] / rate[0], rate[3] / rate[1]))
        if name.startswith(("task3 paper", "task4 paper")):
            total = paper_atom_steps(name.split()[0])
            estimates.append(
                f"{name.split()[0]} paper ({total:.3g} atom-steps): ASE {total / rate[0] / 3600:.1f} h, "
                f"torch-sim {total / rate[2] / 3600:.1f} h (batches as measured here)"
            )
        print(
            f"{name:<18} {len(jobs):>4} {len(jobs[0].atoms):>6} {jobs[0].n_steps:>5}  "
            f"{rate[0]:>16.0f} {rate[1]:>8.0f}  "
            f"{rate[2]:>10.0f} {rate[3]:>8.0f}  {rate[2] / rate[0]:>6.2f} {rate[3] / rate[1]:>6.2f}"
            + f"  batches {ts.batch_sizes}"
            + (f"  ({stopped} runs stopped early)" if stopped else "")
        )
    for line in estimates:
        print("extrapolated wall time of", line)
    print("ratio torch-sim / ASE (wall, CPU): " + "; ".join(f"{n} {w:.2f}x, {c:.2f}x" for n, w, c in ratios))


if __name__ == "__main__":
    main()
