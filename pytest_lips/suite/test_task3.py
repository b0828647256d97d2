"""LiPS-25 Task 3: Li-ion conductivity of Li7P3S11 from NVT MD.

One item per MD run (``test_task3_md_run[<model>-T600K-r1]``: fails when the run stops early, with
the stop reason) and one aggregate item (``test_task3_sigma298[<model>]``: σ298 against the accepted
band, with Ea and D(T) reported). Every item gets its runs through ``lips_store.get_or_compute``, so a
run is computed once per model/profile/seed — by whichever item (or xdist worker) asks first — and
``-k test_task3_sigma298`` alone still computes everything it needs.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import RunRecord
from pytest_lips.tasks import task3_conductivity as task

pytestmark = [pytest.mark.lips, pytest.mark.lips_task3]


def _protocol(config: pytest.Config) -> task.Task3Protocol:
    return task.Task3Protocol.from_section(_session(config).profile.section("task3"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "task3_run" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    runs = task.plan_runs(_protocol(metafunc.config), session.settings.seed)
    metafunc.parametrize("task3_run", runs, ids=[r.run_id for r in runs])


def _protocol_hash(protocol: task.Task3Protocol) -> str:
    return hashlib.sha256(json.dumps(protocol.to_dict(), sort_keys=True).encode()).hexdigest()[:16]


def _get_run(config, run: task.Task3Run, protocol, model, reference, store, progress) -> dict[str, Any]:
    key = _session(config).run_key(
        model, "task3-run", task.PROTOCOL_VERSION, _protocol_hash(protocol), run.run_id, f"seed{run.seed}"
    )

    def compute() -> dict[str, Any]:
        structure = task.load_structure(protocol, reference)
        callback = progress(f"{model.name} task3 {run.run_id}", protocol.total_steps)
        return task.run_one(run, structure, model.new_calculator(), protocol, progress=callback, model=model.name)

    return store.get_or_compute(key, compute)


def test_task3_md_run(task3_run, pytestconfig, lips_model, lips_reference, lips_store, lips_progress,
                      lips_record_run):
    protocol = _protocol(pytestconfig)
    result = _get_run(pytestconfig, task3_run, protocol, lips_model, lips_reference, lips_store, lips_progress)
    record = RunRecord.from_dict(result["record"])
    record.model = lips_model.name
    lips_record_run(record)
    if not record.completed:
        pytest.fail(
            f"Task 3 run {record.run_id} of {lips_model.name} stopped after {record.steps_done}/"
            f"{record.steps_requested} steps ({record.time_ps:.3g} ps): {record.stop_reason}",
            pytrace=False,
        )


def test_task3_sigma298(pytestconfig, lips_model, lips_reference, lips_store, lips_progress, lips_seed, lips_check):
    protocol = _protocol(pytestconfig)
    runs = task.plan_runs(protocol, lips_seed)
    results = [_get_run(pytestconfig, run, protocol, lips_model, lips_reference, lips_store, lips_progress)
               for run in runs]
    lips_check(*task.analyse(results, protocol, model=lips_model.name, seed=lips_seed))
