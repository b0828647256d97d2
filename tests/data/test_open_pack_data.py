"""The shipped PBEsol data file (``reference_data/pack/data/lips_open.extxyz``) read as ``--lips-data``.

It is assembled by ``reference_data/build/manifest.py`` from the pack's DFT frames; these tests read it with
the plugin's own loader and check it against the pack entries it was assembled from.
"""

from __future__ import annotations

import numpy as np
import pytest

from pytest_lips.data import load_lips_dataset
from pytest_lips.reference import load_reference_pack


@pytest.fixture(scope="module")
def pack():
    return load_reference_pack()


@pytest.fixture(scope="module")
def open_data(pack, tmp_path_factory):
    if pack.data is None or not pack.data.available:
        pytest.skip("the default pack ships no data file yet")
    return load_lips_dataset(pack.data.path, tmp_path_factory.mktemp("cache"), allow_download=False)


def test_every_frame_is_fully_labelled(open_data):
    assert len(open_data) > 0
    assert np.isfinite(open_data.energies).all()
    assert np.isfinite(open_data.forces).all() and open_data.forces.shape == (open_data.total_atoms, 3)
    assert all(open_data.has_virial(i) for i in range(len(open_data)))
    assert set(np.unique(open_data.numbers)) <= {3, 15, 16}


def test_labels_map_to_lips25_categories(open_data):
    # relaxation steps and rattled crystals count as crystalline, melt-quench snapshots as the first
    # iteration round, the training-only CHGNet-MD frames (label Iter2-md-...) as the second
    assert set(open_data.categories) <= {"crystalline", "iter1", "iter2"}
    assert "crystalline" in set(open_data.categories)
    iter2 = [i for i in range(len(open_data)) if open_data.categories[i] == "iter2"]
    assert all(str(open_data.labels[i]).startswith("Iter2-md-") for i in iter2)


def test_split_comes_from_the_file_and_keeps_task2_out_of_training(open_data):
    assert open_data.split_source == "file"
    test = set(open_data.split_indices("test").tolist())
    iter1 = {i for i in range(len(open_data)) if open_data.categories[i] == "iter1"}
    assert iter1 <= test, "Task-2 snapshots must never be offered for training"
    relax = [i for i in range(len(open_data)) if open_data.categories[i] == "crystalline"]
    n_train = sum(1 for i in relax if i in set(open_data.split_indices("train").tolist()))
    # 80 % expected for the hashed relaxation frames; 4 binomial sigmas either way
    sigma = (len(relax) * 0.8 * 0.2) ** 0.5
    assert abs(n_train - 0.8 * len(relax)) <= 4 * sigma


def test_relaxed_crystals_appear_with_their_pack_energies(pack, open_data):
    """Each finished Task-1 structure is in the data file once, as "crystalline", with the same energy
    (a provisional stand-in for an unfinished relaxation stays a relaxation step)."""
    relaxed = [i for i in range(len(open_data)) if open_data.labels[i] == "crystalline"]
    finished = [e for e in pack.task1 if e.available and not e.reason.startswith("provisional")]
    assert len(relaxed) == len(finished)
    data_energies = sorted(float(open_data.energies[i]) for i in relaxed)
    pack_energies = sorted(float(e.atoms().get_potential_energy()) for e in finished)
    assert np.allclose(data_energies, pack_energies, atol=1e-6)
