"""Small LiPS-25-format files, reference packs and graph-pes models for the data/task tests.

Not a test module: imported by tests/data and tests/tasks (which put this directory on sys.path).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator

LABELS = ["crystalline_Li3PS4", "AIMD_Li7P3S11", "hard_spheres_LiPS", "dimer_Li-S", "Iter1-3", "Iter2-5"]


def lj(epsilon: float = 0.05, sigma: float = 2.0, cutoff: float = 5.0) -> Any:
    """A tiny graph-pes model (Lennard-Jones, same parameters for every element)."""
    from graph_pes.models import LennardJones

    return LennardJones(cutoff=cutoff, epsilon=epsilon, sigma=sigma)


def random_structure(
    n_li: int, n_p: int, n_s: int, rng: np.random.Generator, density: float = 0.04, min_dist: float = 2.1
) -> Atoms:
    """Random periodic Li/P/S cell with no pair closer than ``min_dist`` Å."""
    numbers = [3] * n_li + [15] * n_p + [16] * n_s
    n = len(numbers)
    length = (n / density) ** (1.0 / 3.0)
    positions: list[np.ndarray] = []
    cell = np.eye(3) * length
    while len(positions) < n:
        trial = rng.random(3) * length
        if positions:
            d = np.asarray(positions) - trial
            d -= np.round(d / length) * length
            if np.min(np.linalg.norm(d, axis=1)) < min_dist:
                continue
        positions.append(trial)
    return Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)


def label_with(atoms: Atoms, model: Any, stress: bool = True) -> Atoms:
    """Copy of ``atoms`` with a SinglePointCalculator holding ``model``'s energy/forces(/stress)."""
    calc = model.ase_calculator(skin=0.0)
    work = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = calc
    results = {"energy": float(work.get_potential_energy()), "forces": work.get_forces().copy()}
    if stress:
        results["stress"] = work.get_stress(voigt=False).copy()
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info.update(atoms.info)
    out.calc = SinglePointCalculator(out, **results)
    return out


def to_lips_format(atoms: Atoms, label: str, split: str | None = None, virial: bool = True) -> Atoms:
    """LiPS-25 format: info energy, label, (virial, split); arrays forces.  Stress → virial = -σV."""
    res = atoms.calc.results
    out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    out.info["label"] = label
    if split is not None:
        out.info["split"] = split
    if virial and "stress" in res:
        out.info["virial"] = -np.asarray(res["stress"]).reshape(3, 3) * atoms.get_volume()
    out.calc = SinglePointCalculator(out, energy=res["energy"], forces=res["forces"])
    return out


def write_dataset(
    path: Path,
    model: Any,
    n_per_label: int = 10,
    with_split: bool = False,
    seed: int = 0,
    shift_eV: dict[int, float] | None = None,
) -> list[Atoms]:
    """Write a LiPS-25-format extxyz labelled by ``model`` (+ optional per-element energy shift)."""
    import ase.io

    rng = np.random.default_rng(seed)
    frames = []
    splits = ["train"] * 8 + ["val", "test"]
    for label in LABELS:
        for k in range(n_per_label):
            if label.startswith("dimer"):
                a = Atoms("LiS", positions=[[5, 5, 5], [5, 5, 5 + 2.0 + 0.1 * k]], cell=np.eye(3) * 12, pbc=True)
            else:
                n_li, n_p = int(rng.integers(2, 8)), int(rng.integers(1, 3))
                a = random_structure(n_li, n_p, int(rng.integers(3, 10)), rng)
            labelled = label_with(a, model)
            if shift_eV:
                e = labelled.calc.results["energy"] + sum(shift_eV.get(int(z), 0.0) for z in a.numbers)
                labelled.calc.results["energy"] = e
            frames.append(to_lips_format(labelled, label, splits[k % 10] if with_split else None))
    ase.io.write(str(path), frames, format="extxyz")
    return frames


def relaxed(atoms: Atoms, model: Any, fmax: float = 0.005, steps: int = 400) -> Atoms:
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    work = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    work.calc = model.ase_calculator(skin=0.0)
    FIRE(FrechetCellFilter(work), logfile=None).run(fmax=fmax, steps=steps)
    return Atoms(numbers=work.numbers, positions=work.positions, cell=work.cell, pbc=work.pbc)


# name, (n_Li, n_P, n_S), role, extrapolation
TASK1 = [
    ("Li2S", (4, 0, 2), "end_member", False),
    ("P2S5", (0, 2, 5), "end_member", False),
    ("beta-Li3PS4", (6, 2, 8), "crystal", False),
    ("Li7P3S11", (7, 3, 11), "crystal", False),
    ("Li4P2S7", (4, 2, 7), "crystal", True),
    ("HT-Li7PS6", (7, 1, 6), "crystal", True),
]


def make_pack(root: Path, labeller: Any, seed: int = 1, relax_steps: int = 0, n_frames: int = 9) -> dict[str, Any]:
    """A small reference pack labelled by ``labeller`` (task1 crystals optionally relaxed with it; task2 frames)."""
    import ase.io

    from pytest_lips.reference import write_manifest

    rng = np.random.default_rng(seed)
    (root / "task1").mkdir(parents=True, exist_ok=True)
    (root / "task2").mkdir(parents=True, exist_ok=True)
    structures = []
    for name, (n_li, n_p, n_s), role, extrap in TASK1:
        a = random_structure(n_li, n_p, n_s, rng, density=0.05, min_dist=2.2)
        if relax_steps:
            a = relaxed(a, labeller, steps=relax_steps)
        ase.io.write(str(root / "task1" / f"{name}.extxyz"), label_with(a, labeller), format="extxyz")
        x = n_li / (n_li + n_p)
        structures.append(
            {
                "name": name,
                "formula": name.split("-")[-1],
                "x_Li2S": x,
                "role": role,
                "extrapolation": extrap,
                "status": "ok",
                "reason": "",
                "file": f"task1/{name}.extxyz",
            }
        )
    structures.append(
        {
            "name": "alpha-Li3PS4",
            "formula": "Li3PS4",
            "x_Li2S": 0.75,
            "role": "crystal",
            "extrapolation": True,
            "status": "missing",
            "reason": "no open coordinates",
        }
    )
    base = random_structure(7, 3, 11, rng, density=0.05, min_dist=2.3)
    frames = []
    regimes = ["crystal"] * 3 + ["liquid"] * 3 + ["amorphous"] * (n_frames - 6)
    amplitude = {"crystal": 0.05, "liquid": 0.25, "amorphous": 0.12}
    for k, regime in enumerate(regimes):
        a = base.copy()
        a.positions += rng.normal(scale=amplitude[regime], size=a.positions.shape)
        lab = label_with(a, labeller)
        lab.info.update({"time_ps": 0.5 * k, "temperature_K": 300.0 + 100 * k, "regime": regime})
        frames.append(lab)
    ase.io.write(str(root / "task2" / "li7p3s11_melt_quench.extxyz"), frames, format="extxyz")
    manifest = {
        "schema_version": 1,
        "name": "test-pack",
        "version": "0.1",
        "description": "synthetic pack for tests",
        "method": {"code": "graph-pes LJ", "functional": "none"},
        "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3", "positions": "Å"},
        "files": [],
        "task1": {"end_members": {"Li2S": "Li2S", "P2S5": "P2S5"}, "structures": structures},
        "task2": {"file": "task2/li7p3s11_melt_quench.extxyz", "status": "ok", "reason": ""},
        "task3": {"structure": "task3/Li7P3S11.extxyz", "status": "pending", "reason": "not computed"},
    }
    write_manifest(root, manifest)
    return manifest
