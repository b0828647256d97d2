"""Small real graph-pes models and cells for the MD engine tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    torch.set_num_threads(1)


def lj_calculator(sigma: float = 2.2, epsilon: float = 0.05, cutoff: float = 5.0):
    """A fresh GraphPESCalculator around a Lennard-Jones pair model (graph-pes)."""
    from graph_pes.models import LennardJones
    from graph_pes.utils.calculator import GraphPESCalculator

    model = LennardJones(cutoff=cutoff, epsilon=epsilon, sigma=sigma, shift=True)
    return GraphPESCalculator(model, skin=0.5)


@pytest.fixture
def lj_fcc():
    """32-atom fcc 'Ar-like' crystal at the LJ nearest-neighbour distance 2^(1/6) sigma (sigma=2.2 Å)."""
    nn = 2 ** (1 / 6) * 2.2
    atoms = bulk("Ar", "fcc", a=nn * np.sqrt(2), cubic=True).repeat((2, 2, 2))
    return atoms


@pytest.fixture
def make_lj_calculator():
    return lj_calculator
