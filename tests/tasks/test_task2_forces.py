"""Task 2 end to end on a small pack: force RMSE overall/per regime and aligned energy errors."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from lips_testdata import lj, make_pack  # noqa: E402

from pytest_lips.reference import load_reference_pack  # noqa: E402
from pytest_lips.tasks import task2_forces as task  # noqa: E402


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack2")
    make_pack(root, lj(epsilon=0.06, sigma=2.05))
    return load_reference_pack(root)


@pytest.mark.parametrize("offset", ["none", "auto"])
def test_task2_end_to_end(pack, offset):
    model = lj()
    frames = pack.task2_frames()
    result = task.run(model, frames, task.Task2Protocol.from_section({}), energy_offset=offset)
    metrics = {m.key: m for m in task.analyse(result, "lj")}

    calc = model.ase_calculator(skin=0.0)
    f_err, e_err, regimes = [], [], []
    for atoms in frames:
        ref_f, ref_e = atoms.get_forces(), atoms.get_potential_energy()
        work = atoms.copy()
        work.calc = calc
        f_err.append((work.get_forces() - ref_f).ravel())
        e_err.append(1000 * (work.get_potential_energy() - ref_e) / len(atoms))
        regimes.append(atoms.info["regime"])
    overall = math.sqrt(np.mean(np.concatenate(f_err) ** 2))
    assert metrics["task2.force_rmse"].value == pytest.approx(overall, rel=1e-4)
    assert metrics["task2.force_rmse"].gated and metrics["task2.force_rmse"].n == 9
    for regime in ("crystal", "liquid", "amorphous"):
        sel = np.concatenate([f for f, r in zip(f_err, regimes) if r == regime])
        m = metrics[f"task2.{regime}.force_rmse"]
        assert m.value == pytest.approx(math.sqrt(np.mean(sel**2)), rel=1e-4) and not m.gated
    e_err = np.array(e_err)
    expected_e = math.sqrt(np.mean((e_err - e_err.mean()) ** 2)) if offset == "auto" else math.sqrt(np.mean(e_err**2))
    assert metrics["task2.energy_rmse"].value == pytest.approx(expected_e, rel=1e-3, abs=1e-3)
    traj = metrics["task2.force_rmse"].details["trajectory"]
    assert len(traj) == 9 and traj[1]["time_ps"] == 0.5 and traj[0]["regime"] == "crystal"


def test_frame_subsample_is_strided():
    assert list(task.select_frames(10, 4)) == [0, 3, 6, 9]
    assert list(task.select_frames(3, None)) == [0, 1, 2]


def test_dataset_li7p3s11_structures(tmp_path):
    import ase.io
    from ase import Atoms
    from ase.calculators.singlepoint import SinglePointCalculator

    from pytest_lips.data import load_lips_dataset

    rng = np.random.default_rng(0)
    frames = []
    for k in range(20):
        n = (7, 3, 11) if k % 2 == 0 else (3, 1, 4)
        numbers = [3] * n[0] + [15] * n[1] + [16] * n[2]
        a = Atoms(numbers=numbers, positions=rng.random((len(numbers), 3)) * 9, cell=np.eye(3) * 9, pbc=True)
        a.calc = SinglePointCalculator(a, energy=0.0, forces=np.zeros((len(a), 3)))
        a.info["label"] = "AIMD_Li7P3S11" if k % 2 == 0 else "crystalline_Li3PS4"
        a.info["split"] = "test" if k < 10 else "train"
        frames.append(a)
    ase.io.write(tmp_path / "d.extxyz", frames, format="extxyz")
    ds = load_lips_dataset(tmp_path / "d.extxyz", tmp_path / "c", allow_download=False)
    assert list(task.composition_indices(ds, {"Li": 7, "P": 3, "S": 11})) == [0, 2, 4, 6, 8]
    from graph_pes.models import LennardJones

    metric = task.run_dataset(LennardJones(cutoff=3.0, epsilon=0.0, sigma=2.0), ds, task.Task2Protocol())
    assert metric.key == "task2.dataset.force_rmse" and metric.n == 5
    assert metric.value == pytest.approx(0.0, abs=1e-6) and list(metric.details["by_label"]) == ["AIMD_Li7P3S11"]
