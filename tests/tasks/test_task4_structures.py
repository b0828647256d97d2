"""Random hard-sphere cells and supercell helpers (pytest_lips.tasks.structures)."""

from __future__ import annotations

import numpy as np
import pytest
from ase.neighborlist import neighbor_list

from pytest_lips.tasks import structures as st

LI7P3S11 = {"Li": 7, "P": 3, "S": 11}  # the LiPS pack's Task 4 composition (system.task4)


def test_stoichiometry():
    assert st.stoichiometric_counts(1008, LI7P3S11) == {"Li": 336, "P": 144, "S": 528}
    assert st.stoichiometric_counts(42, LI7P3S11) == {"Li": 14, "P": 6, "S": 22}
    with pytest.raises(ValueError):
        st.stoichiometric_counts(50, LI7P3S11)


def test_random_cell_respects_minimum_distances_and_density():
    atoms = st.random_hard_sphere_cell(st.stoichiometric_counts(168, LI7P3S11), seed=11, density_g_cm3=1.88)
    assert atoms.get_chemical_formula() == "Li56P24S88"
    assert st.density_g_cm3(atoms) == pytest.approx(1.88, rel=1e-9)
    blmin = st.minimum_separations_A(["Li", "P", "S"])
    assert blmin[("Li", "S")] == pytest.approx(0.7 * (1.28 + 1.05), abs=1e-6)
    i, j, d = neighbor_list("ijd", atoms, max(blmin.values()))
    symbols = np.array(atoms.get_chemical_symbols())
    need = np.array([blmin[(a, b)] for a, b in zip(symbols[i], symbols[j])])
    assert np.all(d >= need - 1e-9)


def test_random_cell_is_seeded():
    counts = st.stoichiometric_counts(84, LI7P3S11)
    a = st.random_hard_sphere_cell(counts, seed=5, density_g_cm3=1.88)
    b = st.random_hard_sphere_cell(counts, seed=5, density_g_cm3=1.88)
    c = st.random_hard_sphere_cell(counts, seed=6, density_g_cm3=1.88)
    assert np.array_equal(a.positions, b.positions)
    assert not np.allclose(a.positions, c.positions)


def test_supercell_helpers():
    from ase.build import bulk

    cell = bulk("Si", "diamond", a=5.43, orthorhombic=True)  # a x b x c = 3.84 x 3.84 x 5.43 Å (4 atoms)
    rep = st.most_isotropic_repeat(cell, 2)
    assert sorted(rep) == [1, 1, 2] and rep[2] == 1  # doubles a short axis, not the long one
    big = st.supercell(cell, rep)
    assert len(big) == 8 and big.info["supercell"] == list(rep)
    assert min(st.perpendicular_widths_A(big)) == pytest.approx(3.84, abs=0.01)
