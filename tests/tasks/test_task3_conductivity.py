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
    from pytest_lips.tasks.structures import (
        random_hard_sphere_cell,
        stoichiometric_counts,
    )

    return random_hard_sphere_cell(stoichiometric_counts(42, {"Li": 7, "P": 3, "S": 11}), seed=0, density_g_cm3=1.88)


def test_profiles_parse_and_paper_is_672_atoms(li7p3s11):
    for name in ("smoke", "ci", "paper"):
        task3.Task3Protocol.from_section(load_profile(name).section("task3"))
    paper = task3.Task3Protocol.from_section(load_profile("paper").section("task3"))
    assert paper.production_ps == 500.0 and paper.repeats == 3
    assert len(supercell(li7p3s11, paper.supercell)) == 672
    assert paper.fit_min_lag_ps == 1.0 and paper.max_production_ps is None
    ci = task3.Task3Protocol.from_section(load_profile("ci").section("task3"))
    assert len(ci.temperatures_K) >= 4  # >= 2 degrees of freedom for the Arrhenius misfit
    smoke = task3.Task3Protocol.from_section(load_profile("smoke").section("task3"))
    assert smoke.total_steps % smoke.sample_interval_steps == 0


def test_unknown_or_bad_keys_are_usage_errors():
    with pytest.raises(LipsUsageError, match="unknown keys"):
        task3.Task3Protocol.from_section({"temperature": [300]})
    with pytest.raises(LipsUsageError, match="temperatures_K"):
        task3.Task3Protocol.from_section({"temperatures_K": [600]})
    with pytest.raises(LipsUsageError, match="fit_min_lag_ps"):
        task3.Task3Protocol.from_section({"production_ps": 2.0, "sample_interval_fs": 20.0, "fit_min_lag_ps": 1.0})
    with pytest.raises(LipsUsageError, match="max_production_ps"):
        task3.Task3Protocol.from_section({"max_production_ps": 100.0})


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
        results.append(
            {
                "record": record.to_dict(),
                "temperature_K": run.temperature_K,
                "n_li": n_li,
                "mobile_ion": "Li",  # as reduce_run records it (the pack's system.mobile_ion)
                "volume_A3": volume,
                "D_cm2_s": D,
                "D_stderr_cm2_s": noise * abs(D),
                "temperature_K_measured": run.temperature_K,
                "msd_end_of_fit_A2": msd,
            }
        )
    return results


def test_analyse_recovers_arrhenius_and_gates_long_profiles():
    protocol = task3.Task3Protocol()  # paper defaults: 5 T x 3 repeats, 500 ps
    metrics = {m.key: m for m in task3.analyse(_synthetic(protocol), protocol, model="m")}
    sigma, ea = metrics["task3.sigma298"], metrics["task3.activation_energy"]
    assert set(metrics) == {
        "task3.sigma298",
        "task3.activation_energy",
        *(f"task3.D_{t}K" for t in (400, 500, 600, 700, 800)),
    }
    assert ea.value == pytest.approx(0.25, abs=0.03)
    expected = nernst_einstein_conductivity_mS_cm(
        1e-2 * math.exp(-0.25 / (BOLTZMANN_eV_K * 298.15)), 224, 14000.0, 298.15
    )
    assert sigma.value == pytest.approx(expected, rel=0.5)
    assert sigma.gated and sigma.interval is not None and sigma.interval[0] < sigma.value < sigma.interval[1]
    assert sigma.unit == "mS/cm" and metrics["task3.D_600K"].unit == "cm^2/s"
    json.dumps([m.to_dict() for m in metrics.values()])


def _verdicts(metric, strict=False):
    from pytest_lips.thresholds import default_thresholds

    thresholds = default_thresholds()
    thresholds.strict_intervals = strict
    return thresholds.evaluate(metric)


def test_sigma298_is_decided_on_its_interval():
    protocol = task3.Task3Protocol()
    # D0 chosen so that sigma298 lands near the band's middle (~30 mS/cm) / far below / far above
    for D0, expected in ((3.2e-3, True), (1e-4, False), (1.0, False)):
        sigma = task3.analyse(_synthetic(protocol, D0=D0, noise=0.02), protocol, model="m")[0]
        assert sigma.details["decide_on"] == "interval" and sigma.gated
        verdicts = _verdicts(sigma)
        assert {v.passed for v in verdicts} == ({True} if expected else {True, False}), [v.message for v in verdicts]
        assert not any(v.inconclusive for v in verdicts)
    # noisy data around the band edge: the interval straddles 17 mS/cm -> INCONCLUSIVE, FAILED when strict
    sigma = task3.analyse(_synthetic(protocol, D0=1.5e-3, noise=0.6, seed=2), protocol, model="m")[0]
    lo, hi = sigma.interval
    assert lo < 17.0 < hi
    verdicts = _verdicts(sigma)
    assert any(v.inconclusive and v.passed is None for v in verdicts)
    assert all(v.passed is not False for v in verdicts)
    assert "INCONCLUSIVE" in next(v.message for v in verdicts if v.inconclusive)
    strict = _verdicts(sigma, strict=True)
    assert any(v.inconclusive and v.passed is False and "--lips-strict" in v.message for v in strict)


def test_an_interval_straddling_both_band_edges_is_summarised_once():
    """Both band edges INCONCLUSIVE: one line with the value and the note once, both thresholds named."""
    from pytest_lips.thresholds import inconclusive_summary

    protocol = task3.Task3Protocol()
    sigma = task3.analyse(_synthetic(protocol, D0=3.2e-3, noise=1.2, seed=5), protocol, model="m")[0]
    lo, hi = sigma.interval
    assert lo < 17.0 and hi > 61.0, sigma.interval
    sigma.note = "not decided at 7 ps of production per run"
    verdicts = [v for v in _verdicts(sigma) if v.inconclusive]
    assert len(verdicts) == 2
    text = inconclusive_summary(verdicts)
    assert text.count("INCONCLUSIVE") == 1 and text.count(sigma.note) == 1
    assert "task3.sigma298_min" in text and "task3.sigma298_max" in text


def test_unresolved_temperatures_give_a_reason_not_an_error():
    """Li that barely hops (the fitted line gives < gate_min_msd_A2 of MSD from hops at the end of the fit
    window at every temperature): σ298 is reported with its interval but INCONCLUSIVE with the reason."""
    protocol = task3.Task3Protocol(
        temperatures_K=(600.0, 800.0), repeats=1, production_ps=4.0, equilibration_ps=0.1, sample_interval_fs=10.0
    )
    sigma = task3.analyse(_synthetic(protocol, D0=1e-4), protocol)[0]
    assert "Li hops resolved at 0 temperature(s)" in sigma.note and "600, 800 K" in sigma.note
    assert sigma.details["mobile_ion"] == "Li"
    # the message names the runs' mobile ion, not a hard-coded element
    other = [{**r, "mobile_ion": "Na"} for r in _synthetic(protocol, D0=1e-4)]
    assert "Na hops resolved at 0 temperature(s)" in task3.analyse(other, protocol)[0].note
    assert sigma.details["resolved_temperatures_K"] == [] and sigma.details["fit_temperatures_K"] == [600.0, 800.0]
    (verdict, *_) = _verdicts(sigma)
    assert verdict.inconclusive and verdict.passed is None
    # the same runs with 100x faster Li are resolved at both temperatures and decide
    sigma = task3.analyse(_synthetic(protocol, D0=1e-2), protocol)[0]
    assert sigma.details["resolved_temperatures_K"] == [600.0, 800.0] and "undecidable" not in sigma.details


def test_resolution_follows_the_fitted_line_not_a_temperatures_own_msd():
    """Which temperatures count as resolved must not depend on each temperature's own noisy MSD (that
    kept the runs whose noise came out high and biased σ298 upward): the stored MSD of a run changes
    nothing; every temperature enters the fit."""
    protocol = task3.Task3Protocol(temperatures_K=(400.0, 600.0, 800.0), repeats=2)
    results = _synthetic(protocol)
    a = task3.analyse(results, protocol)[0]
    for r in results:
        if r["temperature_K"] == 400.0:
            r["msd_end_of_fit_A2"] = 0.5
    b = task3.analyse(results, protocol)[0]
    assert a.value == b.value and a.interval == b.interval
    assert b.details["fit_temperatures_K"] == [400.0, 600.0, 800.0]


def test_negative_repeat_is_data_and_measured_temperature_is_used():
    protocol = task3.Task3Protocol(temperatures_K=(400.0, 600.0, 800.0), repeats=2)
    results = _synthetic(protocol, noise=0.05)
    results[0]["D_cm2_s"] = -abs(results[0]["D_cm2_s"])  # T400K-r1 came out negative (few hops:
    results[0]["D_stderr_cm2_s"] = results[1]["D_stderr_cm2_s"] = 1.5 * abs(results[0]["D_cm2_s"])  # large errors)
    for r in results:
        r["temperature_K_measured"] = 0.97 * r["temperature_K"]
    sigma, _ea, *per_T = task3.analyse(results, protocol)
    assert math.isfinite(sigma.value) and sigma.interval is not None
    assert sigma.details["fit_temperatures_measured_K"] == pytest.approx([388.0, 582.0, 776.0])
    assert per_T[0].details["D_cm2_s"][0] < 0
    del results[0]["temperature_K_measured"]
    sigma = task3.analyse(results, protocol)[0]
    assert "nominal temperature used" in sigma.note


def test_failed_run_makes_sigma_nan():
    protocol = task3.Task3Protocol(temperatures_K=(400.0, 600.0, 800.0), repeats=2)
    results = _synthetic(protocol)
    results[0]["record"]["completed"] = False
    results[0]["record"]["stop_reason"] = "non-finite forces from the model at step 3"
    sigma = task3.analyse(results, protocol)[0]
    assert math.isnan(sigma.value) and sigma.gated and "T400K-r1" in sigma.note
    assert "decide_on" not in sigma.details and all(v.passed is False for v in _verdicts(sigma))


def test_end_to_end_tiny_cell(li7p3s11):
    from graph_pes.models import LennardJones
    from graph_pes.utils.calculator import GraphPESCalculator

    torch.set_num_threads(1)
    protocol = task3.Task3Protocol.from_section(
        {
            "supercell": [1, 1, 1],
            "temperatures_K": [600, 900],
            "repeats": 1,
            "timestep_fs": 2.0,
            "equilibration_ps": 0.04,
            "production_ps": 0.2,
            "sample_interval_fs": 10.0,
            "fit_min_lag_ps": 0.0,
        }
    )
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
    assert metrics[0].gated and metrics[0].details["decide_on"] == "interval"


def test_runs_continue_from_their_last_state_in_chunks(li7p3s11):
    from ase.calculators.lj import LennardJones

    from pytest_lips.md import AseEngine
    from pytest_lips.thresholds import default_thresholds

    protocol = task3.Task3Protocol.from_section(
        {
            "supercell": [1, 1, 1],
            "temperatures_K": [600, 900],
            "repeats": 1,
            "timestep_fs": 2.0,
            "equilibration_ps": 0.02,
            "production_ps": 0.1,
            "sample_interval_fs": 4.0,
            "fit_min_lag_ps": 0.0,
            "max_production_ps": 0.2,
        }
    )
    (run,) = task3.plan_runs(protocol, seed=1)[:1]
    structure = li7p3s11

    def calculator():
        return LennardJones(sigma=1.8, epsilon=0.01, rc=4.0, smooth=True)

    (job,) = task3.build_jobs([run], structure, protocol)
    (trajectory,) = AseEngine().run([job], calculator)
    result, arrays = task3.reduce_run(run, job, trajectory, protocol)
    assert result["record"]["completed"], result["record"]["stop_reason"]
    n_frames = arrays["positions_A"].shape[0]
    (cont,) = task3.continuation_jobs([run], [arrays], structure, protocol)
    assert not cont.initialise_velocities and cont.n_steps == protocol.production_steps
    np.testing.assert_allclose(cont.atoms.get_momenta(), arrays["final_momenta"])
    (chunk,) = AseEngine().run([cont], calculator)
    extended, new_arrays = task3.extend_arrays(result, arrays, cont, chunk, protocol)
    assert new_arrays["positions_A"].shape[0] == n_frames + protocol.production_steps // protocol.sample_interval_steps
    # continuous: the first new frame is one sample interval after the last old one (no jump, no restart)
    step = np.linalg.norm(new_arrays["positions_A"][n_frames, :-1] - arrays["positions_A"][-1, :-1], axis=1)
    assert step.max() < 0.5
    assert extended["record"]["steps_done"] == job.n_steps + cont.n_steps and extended["record"]["completed"]
    assert extended["production_ps_analysed"] == pytest.approx(2 * result["production_ps_analysed"], rel=0.05)
    assert math.isfinite(extended["D_cm2_s"]) and extended["D_cm2_s"] != result["D_cm2_s"]
    # a straddling interval is not decided; a clearly outside one is
    straddle = Metric("task3.sigma298", 20.0, "mS/cm", interval=(5.0, 80.0), details={"decide_on": "interval"})
    outside = Metric("task3.sigma298", 1.0, "mS/cm", interval=(0.5, 2.0), details={"decide_on": "interval"})
    assert not task3.sigma298_decided(straddle, default_thresholds())
    assert task3.sigma298_decided(outside, default_thresholds())


def test_li_that_barely_moved_gives_a_verdict_with_a_reason_not_an_error():
    """ci runs at 700-1000 K whose Li barely moved (D -0.92, +1.00, -5.80, +5.96 x 1e-8 cm^2/s, errors
    3-5 x 1e-8): analyse() raised numpy.linalg.LinAlgError (Singular matrix), a harness ERROR. Now
    σ298 has no interval and is INCONCLUSIVE with the reason."""
    protocol = task3.Task3Protocol.from_section(load_profile("ci").section("task3"))
    results = _synthetic(protocol, n_li=28, volume=1662.4)
    for r, D, se in zip(results, (-0.92e-8, 1.00e-8, -5.80e-8, 5.96e-8), (3e-8, 3e-8, 5e-8, 5e-8)):
        r["D_cm2_s"], r["D_stderr_cm2_s"] = D, se
    sigma = task3.analyse(results, protocol)[0]
    assert sigma.interval is None and "do not determine the Arrhenius line" in sigma.note
    verdicts = _verdicts(sigma)
    assert verdicts and all(v.inconclusive and v.passed is None for v in verdicts)
