"""LiPS-25 Task 4: robustness of NPT MD from random hard-sphere cells over a T x p grid.

The cells have the composition and density of the reference pack's ``system.task4`` (LiPS pack:
Li7P3S11 at 1.88 g/cm³).

One item per MD run (``test_task4_md_run[<model>-T2000K-p1e+08Pa-r1]``) and two aggregate items
(``test_task4_survival``, ``test_task4_close_contacts``). A model blowing up is not a harness error:
the per-run item records the stop and FAILS only when the grid point is inside the gated domain
(``task4.gate_T_max_K``, ``task4.gate_p_max_Pa``) of a profile long enough for a verdict; elsewhere
it passes and the aggregate items report the point. Start structures (random cell relaxed with the
model) go through ``lips_store.get_or_compute``; the runs through ``lips_store.get_or_compute_many``: the
first item that asks computes every missing grid point with ONE call of the MD engine
(``--lips-engine``; torch-sim integrates them as one batched NPT system, per-system T and p), and each
run is cached under its own key.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import Metric, RunRecord
from pytest_lips.suite import batched_runs, selected_run_ids
from pytest_lips.tasks import task4_robustness as task

_START_FIELDS = ("n_atoms", "density_g_cm3", "covalent_ratio", "relax_fmax_eV_A", "relax_max_steps")


def _protocol(config: pytest.Config) -> task.Task4Protocol:
    session = _session(config)
    return task.for_system(task.Task4Protocol.from_section(session.profile.section("task4")), session.system)


def _system_parts(config: pytest.Config) -> list[str]:
    """Key parts naming the composition of a non-default pack's cells (none for the LiPS pack: its keys
    stay what they were; its density and atom count are in the protocol)."""
    session = _session(config)
    if not session.system_label:
        return []
    return [f"system={session.system_label}:{sorted(task.system_composition(session.system).items())}"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "task4_run" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    runs = task.plan_runs(_protocol(metafunc.config), session.settings.seed)
    metafunc.parametrize("task4_run", runs, ids=[r.run_id for r in runs])


def _get_runs(config, protocol, model, store, progress, seed: int) -> dict[str, dict[str, Any]]:
    """Every selected run of the grid, by run id: start structures first (one per repeat, cached on their
    own), then the missing runs by ONE engine call (:meth:`BatchedRuns.compute`: a batched engine
    integrates all grid points together, each at its own T and p), each cached under its own key."""
    session = _session(config)
    wanted = selected_run_ids(session.selected_items(), "test_task4.py", model.name, "task4_run")
    runs = [run for run in task.plan_runs(protocol, seed) if wanted is None or run.run_id in wanted]
    batch = batched_runs(session, "task4", model, store, progress)  # random cells: the registry says no pack
    system = _system_parts(config)
    start_settings = {k: v for k, v in protocol.to_dict().items() if k in _START_FIELDS}
    starts: dict[str, dict[str, Any]] = {}

    def build_jobs(todo: list[task.Task4Run]) -> list[Any]:
        for run in todo:
            if run.start_id not in starts:
                key = batch.key(
                    "task4-start", task.PROTOCOL_VERSION, start_settings, run.start_id, run.structure_seed, *system
                )
                starts[run.start_id] = store.get_or_compute(
                    key, lambda run=run: task.prepare_start(run, protocol, model.new_calculator(), session.system)
                )
        return task.build_jobs(todo, starts, protocol)

    def reduce(run: task.Task4Run, job: Any, trajectory: Any) -> tuple[dict[str, Any], None]:
        return task.reduce_run(run, starts[run.start_id], trajectory, protocol, model=model.name), None

    keys = batch.keys(
        runs, task.PROTOCOL_VERSION, protocol.to_dict(), lambda run: (f"start{run.structure_seed}", *system)
    )
    return batch.compute(runs, keys, build_jobs, reduce)


def _all_runs(config, protocol, model, store, progress, seed) -> list[dict[str, Any]]:
    return list(_get_runs(config, protocol, model, store, progress, seed).values())


def test_task4_md_run(task4_run, pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_record_run):
    protocol = _protocol(pytestconfig)
    result = _get_runs(
        pytestconfig, protocol, lips_model, lips_store, lips_progress, _session(pytestconfig).settings.seed
    )[task4_run.run_id]
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
        results,
        protocol,
        lips_thresholds.value("task4.close_contact_distance_A"),
        task.GateDomain.from_thresholds(lips_thresholds),
        model=lips_model.name,
    )
    return {m.key: m for m in metrics}


def test_task4_survival(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed, lips_check):
    metrics = _metrics(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed)
    lips_check(metrics["task4.survival_fraction"])


def test_task4_close_contacts(
    pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed, lips_check
):
    metrics = _metrics(pytestconfig, lips_model, lips_thresholds, lips_store, lips_progress, lips_seed)
    lips_check(metrics["task4.close_contact_fraction"])
