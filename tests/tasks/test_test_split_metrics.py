"""Test-split task: error metrics vs numpy, per-element offsets, end-to-end evaluation."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from lips_testdata import lj, write_dataset  # noqa: E402

from pytest_lips.analysis import errors as E  # noqa: E402
from pytest_lips.analysis.offsets import composition_matrix, fit_element_offsets  # noqa: E402
from pytest_lips.data import load_lips_dataset  # noqa: E402
from pytest_lips.tasks import test_split as task  # noqa: E402


def test_error_metrics_match_numpy():
    rng = np.random.default_rng(0)
    p, r = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert E.rmse(p, r) == pytest.approx(np.sqrt(np.mean((p - r) ** 2)))
    assert E.mae(p, r) == pytest.approx(np.mean(np.abs(p - r)))
    n = np.array([2, 3, 5])
    np.testing.assert_allclose(E.energy_per_atom_errors([1.0, 2.0, 3.0], [0.0, 0.5, 3.5], n), [0.5, 0.5, -0.1])
    groups = np.array(["a", "b", "a"])
    s = E.summarise_by_group(np.array([1.0, 2.0, -3.0]), groups)
    assert s["a"].rmse == pytest.approx(np.sqrt(5.0)) and s["a"].mae == 2.0 and s["b"].n == 1
    offsets = np.array([0, 2, 5])
    f_p, f_r = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    per = E.per_structure_force_rmse(f_p, f_r, offsets)
    assert per[1] == pytest.approx(np.sqrt(np.mean((f_p[2:] - f_r[2:]) ** 2)))
    assert list(E.per_atom_groups(["x", "y"], [1, 2], 3)) == ["x"] * 3 + ["y"] * 6
    assert math.isnan(E.rmse([]))
    with pytest.raises(ValueError):
        E.rmse([1, 2], [1, 2, 3])


def test_offsets_recover_known_shift_exactly():
    rng = np.random.default_rng(1)
    sizes = rng.integers(3, 20, size=40)
    numbers = rng.choice([3, 15, 16], size=int(sizes.sum()))
    offs = np.concatenate([[0], np.cumsum(sizes)])
    comp, elements = composition_matrix(numbers, offs)
    assert elements == (3, 15, 16)
    mu = {3: -0.731, 15: 2.5, 16: -1.25}
    pred = rng.normal(size=40)
    ref = pred + comp @ np.array([mu[z] for z in elements])
    fitted = fit_element_offsets(ref, pred, comp, elements)
    for z in elements:
        assert fitted.values_eV[z] == pytest.approx(mu[z], abs=1e-10)
    np.testing.assert_allclose(fitted.apply(pred, comp, elements), ref, atol=1e-10)
    assert fitted.to_dict()["offsets_eV_per_atom"]["Li"] == pytest.approx(-0.731)


@pytest.fixture(scope="module")
def dataset_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("ts")
    labeller = lj(epsilon=0.06, sigma=2.05)
    write_dataset(root / "plain.extxyz", labeller, n_per_label=10, seed=4)
    write_dataset(root / "shifted.extxyz", labeller, n_per_label=10, seed=4, shift_eV={3: -1.9, 15: -5.4, 16: -4.1})
    return root


def test_test_split_end_to_end(dataset_files, tmp_path):
    ds = load_lips_dataset(dataset_files / "plain.extxyz", tmp_path, allow_download=False)
    model = lj()
    protocol = task.TestSplitProtocol.from_section({"max_structures": None})
    metrics = {m.key: m for m in task.run_and_analyse(model, ds, protocol)}
    idx = ds.test_indices
    calc = model.ase_calculator(skin=0.0)
    e_err, f_err, s_err = [], [], []
    for i in idx:
        a = ds.atoms(int(i))
        ref_e, ref_f, ref_s = a.get_potential_energy(), a.get_forces(), a.get_stress(voigt=False)
        a.calc = calc
        e_err.append(1000 * (a.get_potential_energy() - ref_e) / len(a))
        f_err.append((a.get_forces() - ref_f).ravel())
        s_err.append((a.get_stress(voigt=False) - ref_s).ravel() * 160.21766208)
    e_err, f_err, s_err = np.array(e_err), np.concatenate(f_err), np.concatenate(s_err)
    assert metrics["test_split.energy_rmse"].value == pytest.approx(np.sqrt(np.mean(e_err**2)), rel=1e-4)
    assert metrics["test_split.energy_mae"].value == pytest.approx(np.mean(np.abs(e_err)), rel=1e-4)
    assert metrics["test_split.force_rmse"].value == pytest.approx(np.sqrt(np.mean(f_err**2)), rel=1e-4)
    assert metrics["test_split.force_mae"].value == pytest.approx(np.mean(np.abs(f_err)), rel=1e-4)
    assert metrics["test_split.stress_rmse"].value == pytest.approx(np.sqrt(np.mean(s_err**2)), rel=1e-3)
    assert metrics["test_split.energy_rmse"].n == len(idx) == 6 and metrics["test_split.energy_rmse"].gated
    assert "all 6 test structures" in metrics["test_split.energy_rmse"].note
    assert not metrics["test_split.dimers.force_rmse"].gated
    # capped, seeded subsample
    capped = task.TestSplitProtocol.from_section({"max_structures": 3, "subsample_seed": 2})
    sel = task.select_structures(ds, capped)
    assert len(sel) == 3 and set(sel) <= set(idx) and list(sel) == list(task.select_structures(ds, capped))
    m = {x.key: x for x in task.run_and_analyse(model, ds, capped)}
    assert "seeded subsample of 3 of the 6" in m["test_split.force_rmse"].note


def test_auto_offsets_remove_per_element_shift(dataset_files, tmp_path):
    ds = load_lips_dataset(dataset_files / "shifted.extxyz", tmp_path, allow_download=False)
    labeller = lj(epsilon=0.06, sigma=2.05)
    protocol = task.TestSplitProtocol.from_section({"offset_fit_max_structures": None})
    raw = {m.key: m for m in task.run_and_analyse(labeller, ds, protocol, energy_offset="none")}
    fixed = {m.key: m for m in task.run_and_analyse(labeller, ds, protocol, energy_offset="auto")}
    assert raw["test_split.energy_rmse"].value > 1000  # eV-scale shift per atom
    assert fixed["test_split.energy_rmse"].value == pytest.approx(0.0, abs=0.05)
    assert fixed["test_split.force_rmse"].value == pytest.approx(0.0, abs=1e-5)
    offs = fixed["test_split.energy_rmse"].details["offsets"]["offsets_eV_per_atom"]
    assert offs["P"] == pytest.approx(-5.4, abs=1e-3) and offs["Li"] == pytest.approx(-1.9, abs=1e-3)
    assert "offsets fitted on" in fixed["test_split.energy_rmse"].note
