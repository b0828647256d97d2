"""LiPS-25 Task 4: robustness of NPT MD from random hard-sphere Li7P3S11 cells over a T x p grid.

One item per MD run (``test_task4_md_run[<model>-T2000K-p1e+08Pa-r1]``) and two aggregate items
(``test_task4_survival``, ``test_task4_close_contacts``). A model blowing up is not a harness error:
the per-run item records the stop and FAILS only when the grid point is inside the gated domain
(``task4.gate_T_max_K``, ``task4.gate_p_max_Pa``) of a profile long enough for a verdict; elsewhere
it passes and the aggregate items report the point. Start structures (random cell relaxed with the
model) and runs go through ``lips_store.get_or_compute``, so they are computed once and shared.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import Metric, RunRecord
from pytest_lips.tasks import task4_robustness as task

pytestmark = [pytest.mark.lips, pytest.mark.lips_task4]

_START_FIELDS = ("n_atoms", "density_g_cm3", "covalent_ratio", "relax_fmax_eV_A", "relax_max_steps")


def _protocol(config: pytest.Config) -> task.Task4Protocol:
    return task.Task4Protocol.from_section(_session(config).profile.section("task4"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "task4_run" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    runs = task.plan_runs(_protocol(metafunc.config), session.settings.seed)
    metafunc.parametrize("task4_run", runs, ids=[r.run_id for r in runs])


def _hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _get_run(config, run: task.Task4Run, protocol, model, store, progress) -> dict[str, Any]:
    session = _session(config)
    start_params = {k: v for k, v in protocol.to_dict().items() if k in _START_FIELDS}
    start_key = session.run_key(model, "task4-start", task.PROTOCOL_VERSION, _hash(start_params), run.start_id,
                                f"seed{run.structure_seed}")
    key = session.run_key(model, "task4-run", task.PROTOCOL_VERSION, _hash(protocol.to_dict()), run.run_id,
                          f"seed{run.seed}", f"start{run.structure_seed}")

    def compute() -> dict[str, Any]:
        start = store.get_or_compute(start_key, lambda: task.prepare_start(run, protocol, model.new_calculator()))
        callback = progress(f"{model.name} task4 {run.run_id}", protocol.production_steps)
        return task.run_one(run, start, model.new_calculator(), protocol, progress=callback, model=model.name)

    return store.get_or_compute(key, compute)


def _all_runs(config, protocol, model, store, progress, seed) -> list[dict[str, Any]]:
    return [_get_run(config, run, protocol, model, store, progress) for run in task.plan_runs(protocol, seed)]


def test_task4_md_run(task4_run, pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress,
                      lips_record_run):
    protocol = _protocol(pytestconfig)
    result = _get_run(pytestconfig, task4_run, protocol, lips_model, lips_store, lips_progress)
    record = RunRecord.from_dict(result["record"])
    record.model = lips_model.name
    lips_record_run(record)
    passed, message = task.run_item_verdict(result, protocol, task.GateDomain.from_thresholds(lips_thresholds))
    if not passed:
        pytest.fail(f"Task 4 run of {lips_model.name}: {message}", pytrace=False)


def _metrics(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed) -> dict[str, Metric]:
    protocol = _protocol(pytestconfig)
    results = _all_runs(pytestconfig, protocol, lips_model, lips_store, lips_progress, lips_seed)
    metrics = task.analyse(
        results, protocol, lips_thresholds.value("task4.close_contact_distance_A"),
        task.GateDomain.from_thresholds(lips_thresholds), model=lips_model.name,
    )
    return {m.key: m for m in metrics}


def test_task4_survival(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed, lips_check):
    metrics = _metrics(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed)
    lips_check(metrics["task4.survival_fraction"])


def test_task4_close_contacts(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed,
                              lips_check):
    metrics = _metrics(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed)
    lips_check(metrics["task4.close_contact_fraction"])
