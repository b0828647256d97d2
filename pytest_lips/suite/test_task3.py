"""LiPS-25 Task 3: conductivity of the pack's mobile ion from NVT MD (LiPS pack: Li in Li7P3S11).

One item per MD run (``test_task3_md_run[<model>-T600K-r1]``: fails when the run stops early, with
the stop reason) and one aggregate item (``test_task3_sigma298[<model>]``: σ298 against the accepted
band, with Ea and D(T) reported). Every item gets the runs through ``lips_store.get_or_compute_many``:
the first item (or xdist worker) that asks computes every missing run with ONE call of the MD engine
(``--lips-engine``; torch-sim integrates them as one batched system), each run is cached under its own
key (sampled Li + framework-COM frames in ``<key>.npz`` next to it), and ``-k test_task3_sigma298``
alone still computes everything it needs.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import RunRecord
from pytest_lips.suite import batched_runs, selected_run_ids
from pytest_lips.tasks import task3_conductivity as task
from pytest_lips.tasks.batched import BatchedRuns, extend_until_decided


def _protocol(config: pytest.Config) -> task.Task3Protocol:
    return task.Task3Protocol.from_section(_session(config).profile.section("task3"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "task3_run" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    runs = task.plan_runs(_protocol(metafunc.config), session.settings.seed)
    metafunc.parametrize("task3_run", runs, ids=[r.run_id for r in runs])


#: When this process first asked for the Task 3 runs of a model (monotonic s): the start of the
#: wall time that ``--lips-budget-minutes`` limits (the batch is computed by whichever item asks first).
_FIRST_ASKED: dict[str, float] = {}


def _batch(config, model, store, progress) -> BatchedRuns:
    # run_key adds the reference pack's content checksum (the Task 3 cell comes from it: registry uses_pack)
    return batched_runs(_session(config), "task3", model, store, progress)


def _selected_runs(config, protocol, model, seed: int) -> list[task.Task3Run]:
    """The runs of the plan that the selected items need (``-k 600K``: the 600 K runs only; σ298: all)."""
    items = _session(config).selected_items()
    wanted = selected_run_ids(items, "test_task3.py", model.name, "task3_run")
    return [run for run in task.plan_runs(protocol, seed) if wanted is None or run.run_id in wanted]


def _get_runs(config, protocol, model, reference, store, progress, seed: int) -> dict[str, dict[str, Any]]:
    """Every selected run of the plan, by run id (:meth:`BatchedRuns.compute`: the missing ones by ONE
    engine call, each stored under its own key with its frames next to it)."""
    _FIRST_ASKED.setdefault(model.name, time.monotonic())
    batch = _batch(config, model, store, progress)
    runs = _selected_runs(config, protocol, model, seed)
    return batch.compute(
        runs,
        batch.keys(runs, task.PROTOCOL_VERSION, protocol.to_dict()),
        lambda todo: task.build_jobs(todo, task.load_structure(protocol, reference), protocol),
        lambda run, job, trajectory: task.reduce_run(run, job, trajectory, protocol, model=model.name),
    )


def _extend_runs(config, protocol, model, reference, store, progress, seed, results, production_ps):
    """Every run continued from its stored last state to ``production_ps`` (one chunk of
    ``protocol.production_ps``); each chunk is stored under its own key, so an interrupted session
    resumes from the last finished chunk."""
    batch = _batch(config, model, store, progress)
    runs = [run for run in task.plan_runs(protocol, seed) if run.run_id in results]
    arrays: dict[str, Any] = {}

    def build_jobs(todo: list[task.Task3Run]) -> list[Any]:
        for run in todo:
            arrays[run.run_id] = store.load_arrays(results[run.run_id]["frames_npz"])
        structure = task.load_structure(protocol, reference)
        return task.continuation_jobs(todo, [arrays[run.run_id] for run in todo], structure, protocol)

    def reduce(run: task.Task3Run, job: Any, trajectory: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return task.extend_arrays(results[run.run_id], arrays[run.run_id], job, trajectory, protocol)

    keys = batch.keys(runs, task.PROTOCOL_VERSION, protocol.to_dict(), lambda run: (f"production{production_ps:g}ps",))
    return batch.compute(runs, keys, build_jobs, reduce, what=f" to {production_ps:g} ps")


def test_task3_md_run(task3_run, pytestconfig, lips_model, lips_reference, lips_store, lips_progress, lips_record_run):
    protocol = _protocol(pytestconfig)
    result = _get_runs(
        pytestconfig,
        protocol,
        lips_model,
        lips_reference,
        lips_store,
        lips_progress,
        _session(pytestconfig).settings.seed,
    )[task3_run.run_id]
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
    session = _session(pytestconfig)
    by_id = _get_runs(pytestconfig, protocol, lips_model, lips_reference, lips_store, lips_progress, lips_seed)
    metrics = task.analyse(list(by_id.values()), protocol, model=lips_model.name, seed=lips_seed)
    gated = session.system.sigma298_gated  # a pack without a sigma298 band reports it, with its reason
    budget = session.settings.budget_minutes
    # runs that go on until the data decide (task3.max_production_ps, --lips-budget-minutes)
    outcome = extend_until_decided(
        by_id,
        metrics,
        production_ps=protocol.production_ps,
        max_production_ps=protocol.max_production_ps,
        decided=lambda m: task.sigma298_decided(m[0], session.thresholds),
        failed=lambda m: bool(m[0].details.get("failed_runs")),
        extend=lambda results, production_ps: _extend_runs(
            pytestconfig,
            protocol,
            lips_model,
            lips_reference,
            lips_store,
            lips_progress,
            lips_seed,
            results,
            production_ps,
        ),
        analyse=lambda results: task.analyse(list(results.values()), protocol, model=lips_model.name, seed=lips_seed),
        started_s=_FIRST_ASKED[lips_model.name],
        budget_s=None if budget is None else 60.0 * budget,
        budget_minutes=budget,
        enabled=gated,
        limit_name="task3.max_production_ps",
    )
    by_id, metrics, production = outcome.results, outcome.metrics, outcome.production_ps
    if protocol.max_production_ps is not None:
        for metric in metrics[:2]:
            metric.note = "; ".join(x for x in (metric.note, outcome.note()) if x)
            metric.details["decided_at_production_ps" if outcome.decided else "undecided_at_production_ps"] = production
    if session.settings.save_trajectories_dir is not None:
        from pytest_lips.report.trajectories import save_run_trajectory

        for run_id, result in by_id.items():
            if result.get("frames_npz"):
                save_run_trajectory(
                    session.settings.save_trajectories_dir,
                    lips_model.name,
                    run_id,
                    lips_store.load_arrays(result["frames_npz"]),
                )
    if not gated:
        metrics[0].gated = False
        metrics[0].note = "; ".join(x for x in (session.system.sigma298_reason, metrics[0].note) if x)
    lips_check(*metrics)
