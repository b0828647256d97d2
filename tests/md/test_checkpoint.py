"""MD checkpoints (issue 23, case 10): a torch-sim batch interrupted after a checkpoint resumes from it and
ends in the trajectories of an uninterrupted run, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_lips.md import MDJob, NPTSettings, NVTSettings, torch_sim_available
from pytest_lips.md.checkpoint import MDCheckpoint

pytestmark = pytest.mark.skipif(not torch_sim_available(), reason="torch-sim is not installed (Python >= 3.12)")

ARRAYS = ("steps", "positions_A", "cells_A", "temperatures_K", "volumes_A3", "final_positions_A", "final_momenta")


def _model():
    from graph_pes.models import LennardJones

    from pytest_lips.models import model_from_graph_pes

    return model_from_graph_pes("lj", LennardJones(cutoff=5.0, epsilon=0.05, sigma=2.2, shift=True))


def _jobs(atoms, npt: bool, n_steps: int = 40) -> list[MDJob]:
    ensemble = NPTSettings(tdamp_fs=50.0, pdamp_fs=200.0) if npt else NVTSettings(tdamp_fs=50.0)
    jobs = []
    for k, (T, steps) in enumerate(((60.0, n_steps), (90.0, n_steps - 7))):  # unequal lengths: one leaves early
        cell = atoms.copy()
        cell.rattle(0.02, seed=k)
        jobs.append(MDJob(f"j{k}", cell, ensemble, T, 5e8 if npt else None, 2.0, steps, 5, seed=10 + k))
    return jobs


class _Interrupt:
    """A progress callback that raises KeyboardInterrupt once the batch has done ``at`` job-steps."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, job_steps: int) -> None:
        if job_steps >= self.at:
            raise KeyboardInterrupt


@pytest.mark.parametrize("npt", [False, True], ids=["nvt", "npt"])
def test_resumed_batch_equals_the_uninterrupted_one_bit_for_bit(lj_fcc, tmp_path, npt) -> None:
    import torch

    from pytest_lips.md import TorchSimEngine

    engine = TorchSimEngine(dtype=torch.float32)
    model = _model()
    jobs = _jobs(lj_fcc, npt)
    reference = engine.run(jobs, model)

    resumed_steps: list[int] = []
    first = MDCheckpoint(tmp_path, "call", interval_s=0.0)  # a checkpoint at every step
    with pytest.raises(KeyboardInterrupt):
        engine.run(jobs, model, progress=_Interrupt(2 * 21), checkpoint=first)
    assert first.saves > 0 and list(tmp_path.glob("md-checkpoint-*.pt"))
    again = MDCheckpoint(tmp_path, "call", interval_s=None, on_resume=resumed_steps.append)
    resumed = engine.run(jobs, model, checkpoint=again)
    assert resumed_steps == [20]  # the last checkpoint before the interrupt at step 21
    for ref, res in zip(reference, resumed):
        for name in ARRAYS:
            np.testing.assert_array_equal(getattr(res, name), getattr(ref, name), err_msg=name)
        if npt:
            np.testing.assert_array_equal(res.pressures_Pa, ref.pressures_Pa)
        assert (res.steps_done, res.completed, res.model_calls) == (ref.steps_done, ref.completed, ref.model_calls)
        assert res.extra["temperature_K_mean"] == ref.extra["temperature_K_mean"]
        assert res.extra["resumed_at_step"] == 20 and "resumed_at_step" not in ref.extra
    again.clear()
    assert not list(tmp_path.glob("md-checkpoint-*.pt"))


def test_checkpoints_belong_to_their_call_and_fresh_ignores_them(lj_fcc, tmp_path) -> None:
    import torch

    from pytest_lips.md import TorchSimEngine

    engine = TorchSimEngine(dtype=torch.float32)
    jobs = _jobs(lj_fcc, npt=False, n_steps=20)
    with pytest.raises(KeyboardInterrupt):
        engine.run(jobs, _model(), progress=_Interrupt(20), checkpoint=MDCheckpoint(tmp_path, "call", 0.0))
    seen: list[int] = []
    other = MDCheckpoint(tmp_path, "another-call", None, on_resume=seen.append)
    fresh = MDCheckpoint(tmp_path, "call", None, resume=False, on_resume=seen.append)
    for checkpoint in (other, fresh):
        (run, _) = engine.run(jobs, _model(), checkpoint=checkpoint)
        assert "resumed_at_step" not in run.extra
    assert seen == []
    # a truncated file is no checkpoint
    (path,) = tmp_path.glob("md-checkpoint-*.pt")
    path.write_bytes(path.read_bytes()[:100])
    assert MDCheckpoint(tmp_path, "call").load("j0|j1") is None


def test_the_ase_engine_ignores_checkpoints(lj_fcc, tmp_path) -> None:
    from pytest_lips.md import AseEngine

    jobs = _jobs(lj_fcc, npt=False, n_steps=10)
    AseEngine().run(jobs, _model(), checkpoint=MDCheckpoint(tmp_path, "call", 0.0))
    assert not list(tmp_path.iterdir())
