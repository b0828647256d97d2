"""Task 4 (robustness): protocol, plan, per-run verdicts, analysis on synthetic runs, tiny end-to-end MD."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from ase.calculators.calculator import Calculator, all_changes

from pytest_lips.profiles import load_profile
from pytest_lips.results import RunRecord
from pytest_lips.tasks import task4_robustness as task4

DOMAIN = task4.GateDomain(T_max_K=2000.0, p_max_Pa=1e8)


def test_profiles_parse_and_paper_grid():
    for name in ("smoke", "ci", "paper"):
        task4.Task4Protocol.from_section(load_profile(name).section("task4"))
    paper = task4.Task4Protocol.from_section(load_profile("paper").section("task4"))
    assert paper.n_atoms == 1008 and paper.production_ps == 100.0 and paper.repeats == 3
    assert min(paper.temperatures_K) == 1000 and max(paper.temperatures_K) == 16000
    assert min(paper.pressures_Pa) == 1e6 and max(paper.pressures_Pa) == 1e12
    assert paper.sample_interval_steps * paper.timestep_fs == 1000.0  # one frame per ps


def test_plan_ids_and_shared_start_per_repeat():
    protocol = task4.Task4Protocol(temperatures_K=(2000.0, 8000.0), pressures_Pa=(1e8, 1e10), repeats=2)
    plan = task4.plan_runs(protocol, seed=0)
    assert plan[0].run_id == "T2000K-p1e+08Pa-r1"
    assert [r.run_id for r in plan][-1] == "T8000K-p1e+10Pa-r2"
    assert len({r.seed for r in plan}) == len(plan)
    assert len({r.structure_seed for r in plan if r.repeat == 1}) == 1
    assert {r.start_id for r in plan} == {"start-r1", "start-r2"}


def _result(T, p, repeat, completed=True, d_min=(2.0, 1.9), reason=""):
    record = RunRecord(
        task="task4",
        run_id=f"T{T:g}K-p{p:.0e}Pa-r{repeat}",
        completed=completed,
        stop_reason=reason,
        steps_requested=100,
        steps_done=100 if completed else 40,
    )
    return {
        "record": record.to_dict(),
        "temperature_K": T,
        "pressure_Pa": p,
        "repeat": repeat,
        "d_min_A": list(d_min),
        "frame_steps": list(range(len(d_min))),
        "volume_A3": [1.0] * len(d_min),
    }


def test_analyse_grid_survival_and_gated_domain():
    # 100 steps of 1 fs, a frame every 50 steps: frames at steps 0, 50, 100 (3 per completed run)
    protocol = task4.Task4Protocol(
        temperatures_K=(1000.0, 2000.0, 8000.0),
        pressures_Pa=(1e8, 1e10),
        repeats=2,
        production_ps=0.1,
        sample_interval_fs=50.0,
        gate_min_production_ps=0.1,
    )
    results = [
        _result(1000, 1e8, 1),
        _result(1000, 1e8, 2),
        _result(2000, 1e8, 1),
        _result(2000, 1e8, 2, completed=False, d_min=(1.5, 0.4), reason="pair closer"),
        _result(1000, 1e10, 1, completed=False, reason="x"),
        _result(1000, 1e10, 2, completed=False, reason="y"),
        _result(8000, 1e8, 1, d_min=(0.8, 0.9)),
        _result(8000, 1e8, 2),
    ]
    survival, contacts = task4.analyse(results, protocol, 1.0, DOMAIN, model="m")
    grid = {(g["temperature_K"], g["pressure_Pa"]): g for g in survival.details["grid"]}
    assert grid[(1000.0, 1e8)]["survival"] == "all" and grid[(1000.0, 1e8)]["gated"]
    assert grid[(2000.0, 1e8)]["survival"] == "some" and grid[(2000.0, 1e8)]["gated"]
    assert grid[(1000.0, 1e10)]["survival"] == "none" and not grid[(1000.0, 1e10)]["gated"]
    assert not grid[(8000.0, 1e8)]["gated"]
    # gated: 4 runs at (1000, 1e8) and (2000, 1e8), 3 completed; outside points do not count
    assert survival.value == pytest.approx(3 / 4) and survival.gated and survival.n == 4
    assert "T2000K-p1e+08Pa-r2" in survival.note
    # close contacts at (2000, 1e8): 1 of the 4 measured frames <= 1 Å, plus the 2 frames (steps 50, 100)
    # that the run stopped at step 40 never reached, which count as close contacts: 3 of 6.
    # (8000, 1e8) has 2/4 but is outside the gated domain.
    assert contacts.value == pytest.approx(3 / 6) and contacts.gated
    assert grid[(2000.0, 1e8)]["unreached_frames"] == 2
    assert grid[(8000.0, 1e8)]["close_contact_fraction"] == pytest.approx(0.5)
    json.dumps([survival.to_dict(), contacts.to_dict()])


def test_analyse_not_gated_without_domain_points_or_when_short():
    protocol = task4.Task4Protocol(temperatures_K=(8000.0,), pressures_Pa=(1e10,), repeats=1)
    survival, contacts = task4.analyse([_result(8000, 1e10, 1)], protocol, 1.0, DOMAIN)
    assert not survival.gated and not contacts.gated and "no grid point inside" in survival.note
    short = task4.Task4Protocol(temperatures_K=(1000.0,), pressures_Pa=(1e8,), repeats=1, production_ps=0.2)
    survival, _ = task4.analyse([_result(1000, 1e8, 1)], short, 1.0, DOMAIN)
    assert not survival.gated and "shorter than" in survival.note


def test_run_item_verdict():
    long = task4.Task4Protocol()
    short = task4.Task4Protocol(production_ps=0.2)
    failed_in = _result(2000, 1e8, 1, completed=False, reason="non-finite forces")
    failed_out = _result(8000, 1e8, 1, completed=False, reason="non-finite forces")
    assert task4.run_item_verdict(_result(2000, 1e8, 1), long, DOMAIN) == (True, "")
    passed, message = task4.run_item_verdict(failed_in, long, DOMAIN)
    assert not passed and "non-finite forces" in message and "inside" in message
    passed, message = task4.run_item_verdict(failed_out, long, DOMAIN)
    assert passed and "outside" in message
    assert task4.run_item_verdict(failed_in, short, DOMAIN)[0]


def _small_calc():
    from graph_pes.models import AdditionModel, LennardJones, ZBLCoreRepulsion
    from graph_pes.utils.calculator import GraphPESCalculator

    model = AdditionModel(
        lj=LennardJones(cutoff=4.0, epsilon=0.02, sigma=1.8, shift=True), zbl=ZBLCoreRepulsion(cutoff=2.0)
    )
    return GraphPESCalculator(model, skin=0.5)


class _NaNCalc(Calculator):
    implemented_properties = ["energy", "forces", "stress"]

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        n = len(self.atoms)
        self.results = {"energy": float("nan"), "forces": np.full((n, 3), np.nan), "stress": np.zeros(6)}


def test_end_to_end_tiny_grid():
    torch.set_num_threads(1)
    protocol = task4.Task4Protocol(
        n_atoms=42,
        relax_max_steps=20,
        temperatures_K=(1000.0,),
        pressures_Pa=(1e8, 1e10),
        repeats=1,
        production_ps=0.06,
        sample_interval_fs=20.0,
        pdamp_fs=300.0,
    )
    plan = task4.plan_runs(protocol, seed=0)
    start = task4.prepare_start(plan[0], protocol, _small_calc())
    assert start["ok"] and len(start["positions"]) == 42
    results = [json.loads(json.dumps(task4.run_one(run, start, _small_calc(), protocol, model="lj"))) for run in plan]
    for r in results:
        assert r["record"]["completed"], r["record"]["stop_reason"]
        assert r["frame_steps"] == [0, 20, 40, 60]
        assert all(d > 1.0 for d in r["d_min_A"])
    survival, contacts = task4.analyse(results, protocol, 1.0, DOMAIN)
    assert survival.value == 1.0 and contacts.value == 0.0
    assert not survival.gated  # 0.06 ps is shorter than gate_min_production_ps


def test_failed_relaxation_is_a_recorded_stop():
    protocol = task4.Task4Protocol(
        n_atoms=42, temperatures_K=(1000.0,), pressures_Pa=(1e8,), repeats=1, production_ps=0.02
    )
    run = task4.plan_runs(protocol, seed=0)[0]
    start = task4.prepare_start(run, protocol, _NaNCalc())
    assert not start["ok"] and "non-finite" in start["reason"]
    result = task4.run_one(run, start, _NaNCalc(), protocol)
    assert not result["record"]["completed"] and "relaxation" in result["record"]["stop_reason"]
    survival, _ = task4.analyse([result], protocol, 1.0, DOMAIN)
    assert survival.value == 0.0 and math.isfinite(survival.value)
