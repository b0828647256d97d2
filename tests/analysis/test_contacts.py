"""Close contacts with periodic minimum-image distances (orthogonal and skewed cells)."""

import itertools

import numpy as np
import pytest
from ase import Atoms

from pytest_lips.analysis import (
    close_contact_fraction,
    close_contact_mask,
    has_close_contact,
    minimum_pair_distance_A,
)


def _pair(x2, pbc=True):
    # Atom 1 at x = 0.3 Å; atom 2 at x2: across the x boundary the distance is 10 - x2 + 0.3.
    return Atoms("LiS", positions=[[0.3, 5.0, 5.0], [x2, 5.0, 5.0]], cell=np.eye(3) * 10.0, pbc=pbc)


def _brute_force_min_distance(atoms, reach=3):
    pos, cell = atoms.get_positions(), atoms.cell.array
    best = np.inf
    for n in itertools.product(range(-reach, reach + 1), repeat=3):
        shift = np.array(n) @ cell
        for i in range(len(atoms)):
            for j in range(len(atoms)):
                if i == j and not any(n):
                    continue
                best = min(best, np.linalg.norm(pos[j] + shift - pos[i]))
    return best


def test_contact_through_the_boundary_of_a_cubic_cell():
    close = _pair(9.4)  # 0.9 Å apart through the boundary, 9.1 Å directly
    assert minimum_pair_distance_A(close) == pytest.approx(0.9, abs=1e-12)
    assert has_close_contact(close, cutoff_A=1.0)
    far = _pair(9.2)  # 1.1 Å through the boundary
    assert minimum_pair_distance_A(far) == pytest.approx(1.1, abs=1e-12)
    assert not has_close_contact(far, cutoff_A=1.0)
    # Without periodicity the same coordinates are 9.1 Å apart: no contact.
    isolated = _pair(9.4, pbc=False)
    assert not has_close_contact(isolated, cutoff_A=1.0)
    assert minimum_pair_distance_A(isolated) == pytest.approx(9.1, abs=1e-12)


def test_contact_in_a_skewed_non_orthogonal_cell():
    cell = np.array([[10.0, 0.0, 0.0], [9.0, 4.0, 0.0], [2.0, 1.5, 9.0]])  # strongly sheared
    d = np.array([0.3, 0.6, 0.5])  # |d| = 0.8367 Å
    f1 = np.array([0.98, 0.99, 0.5])  # next to the a/b faces, so atom 2 wraps to the far side
    f2 = f1 + d @ np.linalg.inv(cell)
    atoms = Atoms("LiS", scaled_positions=[f1, f2], cell=cell, pbc=True)
    atoms.wrap()
    assert np.linalg.norm(atoms.positions[1] - atoms.positions[0]) > 3.0  # far apart as stored
    assert minimum_pair_distance_A(atoms) == pytest.approx(np.linalg.norm(d), abs=1e-10)
    assert minimum_pair_distance_A(atoms) == pytest.approx(_brute_force_min_distance(atoms), abs=1e-10)
    assert has_close_contact(atoms, 1.0) and not has_close_contact(atoms, 0.8)
    # Random skewed structure: agrees with a brute-force search over images.
    rng = np.random.default_rng(5)
    rnd = Atoms("Li6", scaled_positions=rng.random((6, 3)), cell=cell, pbc=True)
    assert minimum_pair_distance_A(rnd) == pytest.approx(_brute_force_min_distance(rnd), abs=1e-10)


def test_self_image_and_degenerate_cases():
    tiny = Atoms("Li", positions=[[0.0, 0.0, 0.0]], cell=np.eye(3) * 0.8, pbc=True)
    assert has_close_contact(tiny, 1.0)
    assert minimum_pair_distance_A(tiny) == pytest.approx(0.8)
    assert minimum_pair_distance_A(Atoms("Li", positions=[[0, 0, 0]])) == np.inf
    with pytest.raises(ValueError):
        has_close_contact(tiny, 0.0)


def test_per_frame_mask_and_fraction():
    frames = [_pair(9.4), _pair(9.2), _pair(5.0), _pair(9.35)]
    np.testing.assert_array_equal(close_contact_mask(frames, 1.0), [True, False, False, True])
    assert close_contact_fraction(frames, 1.0) == 0.5
    assert close_contact_fraction(frames, 1.2) == 0.75
    with pytest.raises(ValueError):
        close_contact_fraction([], 1.0)
