"""The MD engine interface: ASE vs torch-sim on the same jobs, per-job early stops in a batch, selection."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_lips.errors import LipsUsageError
from pytest_lips.md import (
    AseEngine,
    MDJob,
    NPTSettings,
    NVTSettings,
    array_stop_reason,
    kinetic_temperature_K,
    select_engine,
    torch_sim_available,
)
from pytest_lips.models import model_from_graph_pes

needs_torch_sim = pytest.mark.skipif(not torch_sim_available(), reason="torch-sim is not installed (Python >= 3.12)")


def _lj_model(name: str = "lj"):
    from graph_pes.models import LennardJones

    return model_from_graph_pes(name, LennardJones(cutoff=5.0, epsilon=0.05, sigma=2.2, shift=True))


def _ts_engine(**kwargs):
    import torch

    from pytest_lips.md import TorchSimEngine

    return TorchSimEngine(dtype=torch.float64, **kwargs)


def _job(atoms, job_id="a", T=60.0, n_steps=1, sample=1, seed=0, **kwargs):
    return MDJob(
        job_id,
        atoms,
        kwargs.pop("ensemble", NVTSettings(tdamp_fs=50.0)),
        T,
        kwargs.pop("pressure_Pa", None),
        2.0,
        n_steps,
        sample,
        seed,
        **kwargs,
    )


# -- one step of each integrator against the other ----------------------------------------------


@needs_torch_sim
@pytest.mark.parametrize("n_steps", [1, 5])
def test_nvt_steps_agree_between_ase_and_torch_sim(lj_fcc, n_steps):
    """Same start (same seeded velocities), same model, float64: NHC positions agree to 1e-4 Å."""
    model = _lj_model()
    lj_fcc.rattle(0.05, seed=1)
    jobs = [_job(lj_fcc, n_steps=n_steps, sample=n_steps, T=80.0, seed=4)]
    (ase,) = AseEngine().run(jobs, model)
    (ts,) = _ts_engine().run(jobs, model)
    assert ase.completed and ts.completed and ts.engine == "torch-sim" and ase.engine == "ase"
    assert list(ase.steps) == list(ts.steps) == [0, n_steps]
    np.testing.assert_allclose(ase.positions_A[0], ts.positions_A[0], atol=1e-12)  # same start
    moved = np.abs(ase.positions_A[1] - ase.positions_A[0]).max()
    assert moved > 1e-3  # the atoms did move, so the comparison below means something
    np.testing.assert_allclose(ts.positions_A[1], ase.positions_A[1], atol=1e-4)
    np.testing.assert_allclose(ts.final_momenta, ase.final_momenta, atol=1e-3 * np.abs(ase.final_momenta).max())
    assert ts.temperatures_K[0] == pytest.approx(80.0, rel=1e-9)  # exact MB draw of initialise_velocities


@needs_torch_sim
def test_npt_step_agrees_between_ase_and_torch_sim(lj_fcc):
    """IsotropicMTKNPT (ASE) vs npt_nose_hoover_isotropic (torch-sim): positions and volume after 3 steps."""
    model = _lj_model()
    lj_fcc.rattle(0.05, seed=2)
    job = _job(
        lj_fcc, n_steps=3, sample=3, T=60.0, ensemble=NPTSettings(tdamp_fs=50.0, pdamp_fs=200.0), pressure_Pa=5e8
    )
    (ase,) = AseEngine().run([job], model)
    (ts,) = _ts_engine().run([job], model)
    np.testing.assert_allclose(ts.positions_A[-1], ase.positions_A[-1], atol=1e-4)
    v0 = ase.volumes_A3[0]
    assert abs(ase.volumes_A3[-1] - v0) > 1e-6 * v0  # the cell did move
    # the barostat masses differ slightly (torch-sim W = 3 (N + 1) kT tau_p^2, MTK/ASE N_f conventions):
    # the volume change after 3 steps agrees to ~0.1 %
    assert ts.volumes_A3[-1] - v0 == pytest.approx(ase.volumes_A3[-1] - v0, rel=3e-3)
    assert ts.pressures_Pa is not None and ase.pressures_Pa is not None
    assert ts.pressures_Pa[0] == pytest.approx(ase.pressures_Pa[0], rel=1e-5)


# -- batching --------------------------------------------------------------------------------------


@needs_torch_sim
def test_batched_systems_are_independent_and_keep_their_own_temperature(lj_fcc):
    """Two jobs at different T in one batch give exactly the trajectories they give alone."""
    model = _lj_model()
    jobs = [
        _job(lj_fcc, "cold", T=30.0, n_steps=20, sample=10, seed=1),
        _job(lj_fcc, "hot", T=90.0, n_steps=20, sample=10, seed=2),
    ]
    engine = _ts_engine()
    batch = engine.run(jobs, model)
    assert engine.batch_sizes == [2] and [t.batch_size for t in batch] == [2, 2]
    alone = [engine.run([job], model)[0] for job in jobs]
    for b, a in zip(batch, alone):
        np.testing.assert_allclose(b.positions_A, a.positions_A, atol=1e-9)
    assert batch[0].temperatures_K[0] == pytest.approx(30.0) and batch[1].temperatures_K[0] == pytest.approx(90.0)
    assert batch[0].model_calls == 21  # init + one per step, shared by the batch


@needs_torch_sim
def test_cpu_batches_are_capped_by_atoms(lj_fcc):
    model = _lj_model()
    jobs = [_job(lj_fcc, f"j{i}", T=40.0 + 10 * i, n_steps=4, sample=2, seed=i) for i in range(3)]
    capped = _ts_engine(cpu_max_atoms=2 * len(lj_fcc))
    out = capped.run(jobs, model)
    assert capped.batch_sizes == [2, 1] and [t.batch_size for t in out] == [2, 2, 1]
    whole = _ts_engine(cpu_max_atoms=None)
    for a, b in zip(out, whole.run(jobs, model)):
        np.testing.assert_allclose(a.positions_A, b.positions_A, atol=1e-9)
    assert whole.batch_sizes == [3]


@needs_torch_sim
def test_one_job_stops_early_and_the_rest_of_the_batch_goes_on(lj_fcc):
    """A job whose pair floor is reached leaves the batch at that check; the others are unaffected."""
    model = _lj_model()
    # d_min of this job (ASE): 2.469 Å at step 0, 2.352 at step 10, 2.276 at step 20, ...
    strict = _job(lj_fcc, "strict", T=120.0, n_steps=60, sample=10, seed=3, pair_floor_A=2.3)
    normal = [_job(lj_fcc, f"n{i}", T=60.0 + 10 * i, n_steps=60, sample=10, seed=10 + i) for i in range(2)]
    engine = _ts_engine()
    out = engine.run([normal[0], strict, normal[1]], model)
    stopped = out[1]
    assert not stopped.completed and "pair closer than 2.3 Å" in stopped.stop_reason
    assert 0 < stopped.steps_done < 60 and stopped.steps_done % 10 == 0 and stopped.n_frames < 7
    assert stopped.stop_reason.endswith(f"at step {stopped.steps_done}")
    assert all(t.completed and t.steps_done == 60 for t in (out[0], out[2]))
    alone = engine.run(normal, model)
    for b, a in zip((out[0], out[2]), alone):  # removing a system did not disturb the others
        np.testing.assert_allclose(b.positions_A, a.positions_A, atol=1e-9)
        np.testing.assert_allclose(b.final_momenta, a.final_momenta, atol=1e-9)
    (ase,) = AseEngine().run([strict], model)  # same stop on the ASE engine
    assert not ase.completed and ase.steps_done == stopped.steps_done


@needs_torch_sim
def test_non_finite_model_output_stops_only_that_system(lj_fcc):
    import torch

    model = _lj_model()
    inner = model.torch_sim_model(dtype=torch.float64, compute_stress=False)

    class NaNForSecondSystem(type(inner).__mro__[1]):  # a torch-sim ModelInterface
        def __init__(self):
            torch.nn.Module.__init__(self)
            self._device, self._dtype = inner.device, inner.dtype
            self._compute_stress, self._compute_forces = False, True
            self.calls = 0

        def forward(self, state, **kwargs):
            out = inner(state)
            self.calls += 1
            if self.calls > 4 and state.n_systems == 2:
                out["forces"] = out["forces"].clone()
                out["forces"][state.system_idx == 1] = float("nan")
            return out

    jobs = [_job(lj_fcc, "ok", n_steps=10, sample=5), _job(lj_fcc, "bad", n_steps=10, sample=5, seed=1)]
    ok, bad = _ts_engine().run(jobs, NaNForSecondSystem())
    assert ok.completed and ok.steps_done == 10
    assert not bad.completed and bad.steps_done == 4 and "non-finite energy or forces" in bad.stop_reason


@needs_torch_sim
def test_continuation_from_momenta_on_the_atoms(lj_fcc):
    """initialise_velocities=False continues from the carried momenta (chunks of a long run)."""
    model = _lj_model()
    first = _job(lj_fcc, n_steps=10, sample=10, T=70.0, seed=5)
    engine = _ts_engine()
    (t1,) = engine.run([first], model)
    start = t1.final_atoms(lj_fcc)
    second = _job(start, n_steps=10, sample=10, T=70.0, seed=99, initialise_velocities=False)
    for eng in (engine, AseEngine()):
        (t2,) = eng.run([second], model)
        np.testing.assert_allclose(t2.positions_A[0], t1.final_positions_A, atol=1e-12)
        assert t2.temperatures_K[0] == pytest.approx(t1.temperatures_K[-1], rel=1e-9)
    with pytest.raises(LipsUsageError, match="needs momenta"):
        engine.run([_job(lj_fcc, initialise_velocities=False)], model)


def test_ase_engine_sampling_and_record(lj_fcc):
    model = _lj_model()
    job = _job(lj_fcc, n_steps=30, sample=10, sample_from_step=10, T=50.0)
    (t,) = AseEngine().run([job], model, progress=(seen := []).append)
    assert list(t.steps) == [10, 20, 30] and t.positions_A.shape == (3, len(lj_fcc), 3)
    assert t.pressures_Pa is None and t.cells_A.shape == (3, 3, 3)
    assert t.model_calls == 31 and seen[-1] == 30
    masses = lj_fcc.get_masses()
    assert t.temperatures_K[-1] == pytest.approx(kinetic_temperature_K(t.final_momenta, masses))
    record = t.to_run_record("task3", "a", 2.0, 30, model="lj", seed=0)
    assert record.completed and record.time_ps == pytest.approx(0.06) and record.extra["engine"] == "ase"


def test_array_stop_reason_matches_the_atoms_checks(lj_fcc):
    pos, cell, z = lj_fcc.positions.copy(), lj_fcc.cell.array, lj_fcc.numbers
    kwargs = {"volume0_A3": lj_fcc.get_volume(), "npt": True, "pair_floor_A": 0.5, "volume_factor": 3.0}
    assert array_stop_reason(pos, cell, None, z, **kwargs) is None
    fused = pos.copy()
    fused[1] = fused[0] + [0.3, 0, 0]
    assert "pair closer than 0.5 Å (d_min = 0.300 Å)" == array_stop_reason(fused, cell, None, z, **kwargs)
    assert "volume changed" in array_stop_reason(pos * 1.5, cell * 1.5, None, z, **kwargs)
    assert array_stop_reason(pos * 1.5, cell * 1.5, None, z, **{**kwargs, "npt": False}) is None
    bad = pos.copy()
    bad[0, 0] = np.nan
    assert array_stop_reason(bad, cell, None, z, **kwargs) == "non-finite positions"


def test_select_engine():
    model = _lj_model()
    assert select_engine("ase", model).name == "ase"
    assert select_engine("auto", object()).name == "ase"  # no torch-sim model: ASE
    expected = "torch-sim" if torch_sim_available() else "ase"
    assert select_engine("auto", model).name == expected
    with pytest.raises(LipsUsageError, match="expected one of auto, ase, torch-sim"):
        select_engine("lammps", model)
    assert select_engine("ase").identity().startswith("ase-")


@needs_torch_sim
def test_torch_sim_engine_refuses_what_it_cannot_integrate(lj_fcc):
    model = _lj_model()
    with pytest.raises(LipsUsageError, match="langevin"):
        _ts_engine().run([_job(lj_fcc, ensemble=NVTSettings(thermostat="langevin"))], model)

    class AseOnly:
        name = "calc"

        def torch_sim_model(self, **kwargs):
            return None

    with pytest.raises(LipsUsageError, match="no torch-sim model"):
        _ts_engine().run([_job(lj_fcc)], AseOnly())


def test_mdjob_validation(lj_fcc):
    with pytest.raises(ValueError, match="needs pressure_Pa"):
        _job(lj_fcc, ensemble=NPTSettings())
    job = _job(lj_fcc, n_steps=10, sample=5, sample_from_step=5)
    assert [s for s in range(11) if job.samples_at(s)] == [5, 10]
    assert math.isfinite(job.temperature_K)


@needs_torch_sim
def test_every_job_of_a_batch_stopping_at_once_is_a_result_not_a_crash(lj_fcc):
    """All systems reaching their stop at the same check left torch-sim with an empty state (ValueError)."""
    model = _lj_model()
    jobs = [_job(lj_fcc, f"s{i}", T=120.0, n_steps=60, sample=10, seed=3, pair_floor_A=2.3) for i in range(2)]
    out = _ts_engine().run(jobs, model)
    assert all(not t.completed and "pair closer than 2.3 Å" in t.stop_reason for t in out)
    assert out[0].steps_done == out[1].steps_done > 0
