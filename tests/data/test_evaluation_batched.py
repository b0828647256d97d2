"""Batched graph-pes evaluation agrees with the plain ASE-calculator loop."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from ase import Atoms

sys.path.insert(0, str(Path(__file__).resolve().parent))
from lips_testdata import lj, random_structure  # noqa: E402

from pytest_lips.evaluation import evaluate, evaluate_calculator, evaluate_graph_pes  # noqa: E402


def test_batched_equals_loop():
    rng = np.random.default_rng(3)
    structures = [random_structure(int(rng.integers(1, 6)), 1, int(rng.integers(2, 6)), rng) for _ in range(12)]
    structures.append(Atoms("LiS", positions=[[0, 0, 0], [0, 0, 2.4]]))  # no cell: no stress
    model = lj()
    batched = evaluate_graph_pes(model, structures, compute_stress=True, batch_size=4, max_atoms_per_batch=30)
    loop = evaluate_calculator(model.ase_calculator(skin=0.0), structures, compute_stress=True)
    assert batched.method == "graph-pes-batched" and loop.method == "ase-loop"
    np.testing.assert_allclose(batched.energies, loop.energies, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batched.forces, loop.forces, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(batched.stresses[:-1], loop.stresses[:-1], rtol=1e-4, atol=1e-7)
    assert np.all(np.isnan(batched.stresses[-1]))
    assert len(batched.forces_of(3)) == len(structures[3])
    # dispatch: a graph-pes model goes through the batched path
    assert evaluate(model, structures[:3]).method == "graph-pes-batched"
