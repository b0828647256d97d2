"""Shared inputs for the plugin tests: a small graph-pes model file, a LiPS-format data file, a profile.

Everything is built here, seeded, in a few seconds; nothing needs the network.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import write

LABELS = ["crystalline", "AIMD", "RHS", "dimers", "Iter1-2", "Iter2-4"]


def make_model(epsilon: float = 0.05, offsets: tuple[float, float, float] = (-1.9, -5.4, -4.1)) -> torch.nn.Module:
    """A small graph-pes model for Li, P and S: per-element offsets plus a Lennard-Jones pair term."""
    from graph_pes.models import AdditionModel, FixedOffset, LennardJones

    li, p, s = offsets
    return AdditionModel(offset=FixedOffset(Li=li, P=p, S=s), pair=LennardJones(epsilon=epsilon, sigma=2.2, cutoff=5.0))


def random_cell(rng: np.random.Generator, n_atoms: int = 8, length: float = 7.0) -> Atoms:
    numbers = rng.choice([3, 15, 16], size=n_atoms)
    numbers[:3] = [3, 15, 16]
    positions = []
    while len(positions) < n_atoms:
        trial = rng.random(3) * length
        if all(np.linalg.norm((np.array(p) - trial + length / 2) % length - length / 2) > 2.0 for p in positions):
            positions.append(trial)
    return Atoms(numbers=numbers, positions=positions, cell=np.eye(3) * length, pbc=True)


def write_lips_extxyz(path: Path, labeller: torch.nn.Module, n_structures: int = 60, seed: int = 0) -> Path:
    """Structures in the LiPS-25 extxyz format: info energy (eV), label, virial (eV); arrays forces (eV/Å)."""
    rng = np.random.default_rng(seed)
    calc_model = labeller
    frames = []
    for i in range(n_structures):
        atoms = random_cell(rng)
        from graph_pes.utils.calculator import GraphPESCalculator

        atoms.calc = GraphPESCalculator(calc_model, skin=0.0)
        energy = float(atoms.get_potential_energy())
        forces = atoms.get_forces().copy()
        stress = atoms.get_stress(voigt=False)
        out = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        out.info["energy"] = energy
        out.info["label"] = LABELS[i % len(LABELS)]
        out.info["virial"] = (-stress * atoms.get_volume()).copy()
        out.arrays["forces"] = forces
        frames.append(out)
    write(path, frames, format="extxyz")
    return path


PROFILE = """\
name: micro
protocol_version: "1"
description: plugin tests only
test_split:
  split: test
  max_structures: 20
"""


@pytest.fixture(scope="session")
def lips_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("lips-inputs")
    model = root / "good.pt"
    torch.save(make_model(), model)
    base = root / "base.pt"
    torch.save(make_model(epsilon=0.06), base)
    worse = root / "worse.pt"
    torch.save(make_model(epsilon=0.08), worse)
    data = write_lips_extxyz(root / "lips-small.extxyz", make_model(epsilon=0.05, offsets=(-1.9, -5.4, -4.1)))
    profile = root / "micro.yaml"
    profile.write_text(PROFILE)
    return {"model": model, "base": base, "worse": worse, "data": data, "profile": profile, "root": root}
