"""Task 3 (conductivity): protocol parsing, run plan, analysis on synthetic runs, tiny end-to-end MD."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from ase.io import read

from pytest_lips.analysis import BOLTZMANN_eV_K, nernst_einstein_conductivity_mS_cm
from pytest_lips.errors import LipsUsageError
from pytest_lips.profiles import load_profile
from pytest_lips.results import Metric, RunRecord
from pytest_lips.tasks import task3_conductivity as task3
from pytest_lips.tasks.structures import supercell


@pytest.fixture(scope="module")
def li7p3s11():
    """The pack's 42-atom cell if present, else a fixture cell with the same composition."""
    from pytest_lips.resources import default_pack_dir

    path = default_pack_dir() / "task3" / "Li7P3S11.extxyz"
    if path.is_file():
        return read(path, index=-1)
    from pytest_lips.tasks.structures import random_hard_sphere_cell, stoichiometric_counts

    return random_hard_sphere_cell(stoichiometric_counts(42), seed=0)


def test_profiles_parse_and_paper_is_672_atoms(li7p3s11):
    for name in ("smoke", "ci", "paper"):
        task3.Task3Protocol.from_section(load_profile(name).section("task3"))
    paper = task3.Task3Protocol.from_section(load_profile("paper").section("task3"))
    assert paper.production_ps == 500.0 and paper.repeats == 3
    assert len(supercell(li7p3s11, paper.supercell)) == 672
    assert paper.verdict_supported()[0]
    smoke = task3.Task3Protocol.from_section(load_profile("smoke").section("task3"))
    assert not smoke.verdict_supported()[0]
    assert smoke.total_steps % smoke.sample_interval_steps == 0


def test_unknown_or_bad_keys_are_usage_errors():
    with pytest.raises(LipsUsageError, match="unknown keys"):
        task3.Task3Protocol.from_section({"temperature": [300]})
    with pytest.raises(LipsUsageError, match="temperatures_K"):
        task3.Task3Protocol.from_section({"temperatures_K": [600]})


def test_plan_ids_and_seeds_are_stable():
    protocol = task3.Task3Protocol(temperatures_K=(600.0, 800.0), repeats=2)
    plan = task3.plan_runs(protocol, seed=0)
    assert [r.run_id for r in plan] == ["T600K-r1", "T600K-r2", "T800K-r1", "T800K-r2"]
    assert plan == task3.plan_runs(protocol, seed=0)
    assert len({r.seed for r in plan}) == 4
    assert [r.seed for r in task3.plan_runs(protocol, seed=1)] != [r.seed for r in plan]


def _synthetic(protocol, Ea=0.25, D0=1e-2, noise=0.05, seed=0, n_li=224, volume=14000.0, msd=20.0):
    rng = np.random.default_rng(seed)
    results = []
    for run in task3.plan_runs(protocol, 0):
        D = D0 * math.exp(-Ea / (BOLTZMANN_eV_K * run.temperature_K)) * (1 + noise * rng.standard_normal())
        record = RunRecord(task="task3", run_id=run.run_id, steps_requested=10, steps_done=10, completed=True)
        results.append({"record": record.to_dict(), "temperature_K": run.temperature_K, "n_li": n_li,
                        "volume_A3": volume, "D_cm2_s": D, "msd_end_of_fit_A2": msd})
    return results


def test_analyse_recovers_arrhenius_and_gates_long_profiles():
    protocol = task3.Task3Protocol()  # paper defaults: 5 T x 3 repeats, 500 ps
    metrics = {m.key: m for m in task3.analyse(_synthetic(protocol), protocol, model="m")}
    sigma, ea = metrics["task3.sigma298"], metrics["task3.activation_energy"]
    assert set(metrics) == {"task3.sigma298", "task3.activation_energy", *(f"task3.D_{t}K" for t in (400, 500, 600, 700, 800))}
    assert ea.value == pytest.approx(0.25, abs=0.03)
    expected = nernst_einstein_conductivity_mS_cm(1e-2 * math.exp(-0.25 / (BOLTZMANN_eV_K * 298.15)), 224, 14000.0, 298.15)
    assert sigma.value == pytest.approx(expected, rel=0.5)
    assert sigma.gated and sigma.interval is not None and sigma.interval[0] < sigma.value < sigma.interval[1]
    assert sigma.unit == "mS/cm" and metrics["task3.D_600K"].unit == "cm^2/s"
    json.dumps([m.to_dict() for m in metrics.values()])


def test_short_profile_is_reported_not_gated():
    protocol = task3.Task3Protocol(temperatures_K=(600.0, 800.0), repeats=1, production_ps=0.4, equilibration_ps=0.1,
                                   sample_interval_fs=10.0)
    sigma = task3.analyse(_synthetic(protocol), protocol)[0]
    assert not sigma.gated and "not gated" in sigma.note and "50 ps" in sigma.note
    assert math.isfinite(sigma.value)


def test_failed_run_makes_sigma_nan_and_unresolved_temperatures_are_dropped():
    protocol = task3.Task3Protocol(temperatures_K=(400.0, 600.0, 800.0), repeats=2)
    results = _synthetic(protocol)
    results[0]["record"]["completed"] = False
    results[0]["record"]["stop_reason"] = "non-finite forces from the model at step 3"
    sigma = task3.analyse(results, protocol)[0]
    assert math.isnan(sigma.value) and sigma.gated and "T400K-r1" in sigma.note
    results = _synthetic(protocol)
    for r in results:
        if r["temperature_K"] == 400.0:
            r["msd_end_of_fit_A2"] = 0.5
    sigma = task3.analyse(results, protocol)[0]
    assert sigma.details["fit_temperatures_K"] == [600.0, 800.0]
    assert "400" in sigma.note


def test_end_to_end_tiny_cell(li7p3s11):
    from graph_pes.models import LennardJones
    from graph_pes.utils.calculator import GraphPESCalculator

    torch.set_num_threads(1)
    protocol = task3.Task3Protocol.from_section({
        "supercell": [1, 1, 1], "temperatures_K": [600, 900], "repeats": 1, "timestep_fs": 2.0,
        "equilibration_ps": 0.04, "production_ps": 0.2, "sample_interval_fs": 10.0,
    })
    results, progress = [], []
    for run in task3.plan_runs(protocol, seed=3):
        calc = GraphPESCalculator(LennardJones(cutoff=4.0, epsilon=0.01, sigma=1.8, shift=True), skin=0.5)
        out = task3.run_one(run, li7p3s11, calc, protocol, progress=progress.append, model="lj")
        assert out["record"]["completed"], out["record"]["stop_reason"]
        assert out["record"]["steps_done"] == protocol.total_steps == 120
        assert math.isfinite(out["D_cm2_s"]) and out["n_li"] == 14
        assert len(out["lag_ps"]) == len(out["msd_A2"]) <= task3.MAX_STORED_MSD_POINTS
        assert len(json.dumps(out)) < 20_000
        results.append(json.loads(json.dumps(out)))
    assert progress[-1] == protocol.total_steps
    metrics = task3.analyse(results, protocol, model="lj")
    assert isinstance(metrics[0], Metric) and metrics[0].key == "task3.sigma298"
    assert math.isfinite(metrics[0].value) and not metrics[0].gated
