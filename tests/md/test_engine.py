"""Tests of the MD engine (pytest_lips.md) with small real graph-pes models."""

from __future__ import annotations

import math

import numpy as np
import pytest
from ase.calculators.calculator import Calculator, all_changes

from pytest_lips.md import (
    ClosePairCheck,
    NPTSettings,
    NVTSettings,
    TimedCalculator,
    VolumeChangeCheck,
    initialise_velocities,
    run_md,
)


class NaNAfter(Calculator):
    """Wraps a calculator and returns NaN forces from the ``n``-th call on."""

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self, inner, n):
        super().__init__()
        self.inner, self.n, self.count = inner, n, 0

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(atoms, properties, system_changes)
        self.results = dict(self.inner.results)
        self.count += 1
        if self.count >= self.n:
            self.results["forces"] = np.full_like(self.results["forces"], np.nan)


def test_nvt_nose_hoover_controls_temperature(lj_fcc, make_lj_calculator):
    out = run_md(
        lj_fcc,
        make_lj_calculator(),
        NVTSettings(tdamp_fs=50.0),
        n_steps=600,
        timestep_fs=2.0,
        temperature_K=60.0,
        seed=3,
        check_interval_steps=5,
    )
    assert out.completed and out.stop_reason == ""
    assert out.steps_done == 600 and math.isclose(out.time_ps, 1.2)
    # 32 atoms: instantaneous T fluctuates by ~sqrt(2/(3N)) ~ 15 %; the mean is much tighter
    assert out.observables["temperature_K_mean"] == pytest.approx(60.0, rel=0.2)


def test_one_model_call_per_step_nvt_and_npt(lj_fcc, make_lj_calculator):
    out = run_md(
        lj_fcc.copy(), make_lj_calculator(), NVTSettings(), n_steps=50, timestep_fs=2.0, temperature_K=50.0, seed=1
    )
    assert out.model_calls == 50 + 1  # initial forces + one per step
    out = run_md(
        lj_fcc.copy(),
        make_lj_calculator(),
        NPTSettings(),
        n_steps=50,
        timestep_fs=2.0,
        temperature_K=50.0,
        pressure_Pa=1e5,
        seed=1,
    )
    assert out.model_calls == 50 + 1
    assert 0.0 < out.model_fraction <= 1.0
    assert out.us_per_atom_step > 0


def test_timed_calculator_computes_energy_with_forces(lj_fcc, make_lj_calculator):
    timed = TimedCalculator(make_lj_calculator(), ("energy", "forces", "stress"))
    lj_fcc.calc = timed
    lj_fcc.get_forces()
    lj_fcc.get_potential_energy()
    lj_fcc.get_stress()
    assert timed.calls == 1


def test_seeded_velocities_are_reproducible(lj_fcc):
    a, b, c = lj_fcc.copy(), lj_fcc.copy(), lj_fcc.copy()
    initialise_velocities(a, 300.0, seed=7)
    initialise_velocities(b, 300.0, seed=7)
    initialise_velocities(c, 300.0, seed=8)
    assert np.array_equal(a.get_momenta(), b.get_momenta())
    assert not np.array_equal(a.get_momenta(), c.get_momenta())
    assert a.get_temperature() == pytest.approx(300.0 * (len(a) * 3) / (len(a) * 3), rel=0.05)
    assert np.allclose(a.get_momenta().sum(axis=0), 0.0, atol=1e-10)


def test_nvt_runs_are_deterministic(lj_fcc, make_lj_calculator):
    a, b = lj_fcc.copy(), lj_fcc.copy()
    run_md(a, make_lj_calculator(), NVTSettings(), 30, 2.0, 80.0, seed=5)
    run_md(b, make_lj_calculator(), NVTSettings(), 30, 2.0, 80.0, seed=5)
    assert np.allclose(a.positions, b.positions, atol=1e-10)


def test_npt_volume_shrinks_under_high_pressure(lj_fcc, make_lj_calculator):
    low, high = lj_fcc.copy(), lj_fcc.copy()
    settings = NPTSettings(tdamp_fs=50.0, pdamp_fs=200.0)
    o_low = run_md(low, make_lj_calculator(), settings, 300, 2.0, 50.0, pressure_Pa=1e5, seed=2)
    o_high = run_md(high, make_lj_calculator(), settings, 300, 2.0, 50.0, pressure_Pa=5e9, seed=2)
    assert o_low.completed and o_high.completed
    v0 = lj_fcc.get_volume()
    assert high.get_volume() < 0.97 * v0
    assert high.get_volume() < low.get_volume()


def test_stops_on_nan_forces(lj_fcc, make_lj_calculator):
    calls = []
    out = run_md(
        lj_fcc,
        NaNAfter(make_lj_calculator(), n=12),
        NVTSettings(),
        100,
        2.0,
        50.0,
        seed=0,
        progress_callback=calls.append,
    )
    assert not out.completed
    assert "non-finite forces" in out.stop_reason
    assert out.steps_done == 10  # call 1 = initial forces, call 12 = forces after step 11
    assert calls[-1] == out.steps_done


def test_stops_on_close_contact(lj_fcc, make_lj_calculator):
    lj_fcc.positions[1] = lj_fcc.positions[0] + [0.3, 0.0, 0.0]
    # a soft model that does not push them apart fast enough: tiny epsilon
    out = run_md(
        lj_fcc,
        make_lj_calculator(epsilon=1e-6),
        NVTSettings(),
        100,
        1.0,
        10.0,
        seed=0,
        stop_checks=[ClosePairCheck(0.5)],
        check_interval_steps=5,
    )
    assert not out.completed
    assert out.stop_reason.startswith("pair closer than 0.5 Å")
    assert out.steps_done == 0  # the start is checked too


def test_stops_on_volume_blow_up(lj_fcc, make_lj_calculator):
    # large negative pressure (tension) pulls the crystal apart; a tight factor shows the check
    out = run_md(
        lj_fcc,
        make_lj_calculator(),
        NPTSettings(pdamp_fs=100.0),
        500,
        2.0,
        50.0,
        pressure_Pa=-5e9,
        seed=0,
        stop_checks=[VolumeChangeCheck(1.2)],
        check_interval_steps=5,
    )
    assert not out.completed
    assert "volume changed by more than a factor 1.2" in out.stop_reason
    assert out.steps_done % 5 == 0 and 0 < out.steps_done < 500


def test_sampling_and_progress(lj_fcc, make_lj_calculator):
    samples, progress = [], []
    out = run_md(
        lj_fcc,
        make_lj_calculator(),
        NVTSettings(),
        40,
        2.0,
        50.0,
        seed=0,
        sample_interval_steps=8,
        on_sample=lambda step, at: samples.append((step, at.positions.copy())),
        progress_callback=progress.append,
        progress_interval_steps=10,
    )
    assert out.completed
    assert [s for s, _ in samples] == [0, 8, 16, 24, 32, 40]
    assert progress == [10, 20, 30, 40]
    record = out.to_run_record("task3", "T50K-r1", model="lj", seed=0, extra={"temperature_K": 50.0})
    assert record.completed and record.steps_done == 40 and record.extra["temperature_K"] == 50.0


@pytest.mark.parametrize("thermostat", ["bussi", "langevin"])
def test_other_thermostats_run(lj_fcc, make_lj_calculator, thermostat):
    out = run_md(
        lj_fcc, make_lj_calculator(), NVTSettings(thermostat=thermostat, tdamp_fs=50.0), 100, 2.0, 50.0, seed=0
    )
    assert out.completed


class Raising(Calculator):
    implemented_properties = ["energy", "forces"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        raise RuntimeError("graph too large")


def test_model_exception_is_a_recorded_stop(lj_fcc):
    out = run_md(lj_fcc, Raising(), NVTSettings(), 10, 2.0, 50.0, seed=0)
    assert not out.completed and out.steps_done == 0
    assert "model calculator raised RuntimeError: graph too large" in out.stop_reason


def test_outcome_serialises(lj_fcc, make_lj_calculator):
    import json

    out = run_md(lj_fcc, make_lj_calculator(), NPTSettings(), 10, 1.0, 50.0, pressure_Pa=1e5, seed=0)
    data = json.loads(json.dumps(out.to_dict()))
    assert data["completed"] and data["time_ps"] == pytest.approx(0.01) and data["cpu_s"] >= 0
    assert "volume_A3_mean" in data["observables"]


def test_bad_intervals_are_usage_errors(lj_fcc, make_lj_calculator):
    from pytest_lips.errors import LipsUsageError

    with pytest.raises(LipsUsageError):
        run_md(lj_fcc, make_lj_calculator(), NVTSettings(), 10, 1.0, 50.0, check_interval_steps=0)
    with pytest.raises(LipsUsageError):
        run_md(lj_fcc, make_lj_calculator(), NPTSettings(), 10, 1.0, 50.0)  # no pressure
