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

import hashlib
import json
import time
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import RunRecord
from pytest_lips.suite import batch_part, md_checkpoint, selected_run_ids
from pytest_lips.tasks import task3_conductivity as task


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


#: When this process first asked for the Task 3 runs of a model (monotonic s): the start of the
#: wall time that ``--lips-budget-minutes`` limits (the batch is computed by whichever item asks first).
_FIRST_ASKED: dict[str, float] = {}


def _selected_runs(config, protocol, model, seed: int) -> list[task.Task3Run]:
    """The runs of the plan that the selected items need (``-k 600K``: the 600 K runs only; σ298: all)."""
    items = _session(config).selected_items()
    wanted = selected_run_ids(items, "test_task3.py", model.name, "task3_run")
    return [run for run in task.plan_runs(protocol, seed) if wanted is None or run.run_id in wanted]


def _get_runs(config, protocol, model, reference, store, progress, seed: int) -> dict[str, dict[str, Any]]:
    """Every selected run of the plan, by run id: the missing ones computed by ONE engine call (a batched
    engine integrates them together), each stored under its own key with its frames next to it."""
    _FIRST_ASKED.setdefault(model.name, time.monotonic())
    session = _session(config)
    runs = _selected_runs(config, protocol, model, seed)
    batch = batch_part(session.md_engine(model), [run.run_id for run in runs])
    # run_key adds the reference pack's content checksum (the Task 3 cell comes from it) and the engine
    keys = {
        run.run_id: session.run_key(
            model,
            "task3-run",
            task.PROTOCOL_VERSION,
            _protocol_hash(protocol),
            run.run_id,
            f"seed{run.seed}",
            *batch,
            task="task3",
        )
        for run in runs
    }

    checkpoints: list[Any] = []

    def compute_many(missing: list[str]) -> dict[str, dict[str, Any]]:
        todo = [run for run in runs if keys[run.run_id] in missing]
        jobs = task.build_jobs(todo, task.load_structure(protocol, reference), protocol)
        engine = session.md_engine(model)
        label = f"{model.name} task3 {len(jobs)} runs ({engine.name})"
        callback = progress(label, sum(j.n_steps for j in jobs))
        checkpoints.append(md_checkpoint(session, store, missing, label))
        trajectories = engine.run(jobs, model, progress=callback, checkpoint=checkpoints[-1])
        out = {}
        for run, job, trajectory in zip(todo, jobs, trajectories):
            result, arrays = task.reduce_run(run, job, trajectory, protocol, model=model.name)
            out[keys[run.run_id]] = _with_frames(store, keys[run.run_id], result, arrays)
        return out

    results = store.get_or_compute_many(list(keys.values()), compute_many)
    for checkpoint in checkpoints:  # the results are stored: the checkpoints of their runs are spent
        checkpoint.clear()
    return {run_id: results[key] for run_id, key in keys.items()}


def _with_frames(store: Any, key: str, result: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Any]:
    """Write a run's sampled arrays next to its stored result (``<key>.npz``) and name the file in it."""
    result["frames_npz"] = store.save_arrays(key, arrays)
    return result


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


def _extend_runs(config, protocol, model, reference, store, progress, seed, results, production_ps):
    """Every run continued from its stored last state to ``production_ps`` (one chunk of
    ``protocol.production_ps``); each chunk is stored under its own key, so an interrupted session
    resumes from the last finished chunk."""
    session = _session(config)
    runs = [run for run in task.plan_runs(protocol, seed) if run.run_id in results]
    batch = batch_part(session.md_engine(model), [run.run_id for run in runs])
    keys = {
        run.run_id: session.run_key(
            model,
            "task3-run",
            task.PROTOCOL_VERSION,
            _protocol_hash(protocol),
            run.run_id,
            f"seed{run.seed}",
            f"production{production_ps:g}ps",
            *batch,
            task="task3",
        )
        for run in runs
    }

    def compute_many(missing: list[str]) -> dict[str, dict[str, Any]]:
        todo = [run for run in runs if keys[run.run_id] in missing]
        previous, arrays = [], []
        for run in todo:
            previous.append(results[run.run_id])
            arrays.append(store.load_arrays(results[run.run_id]["frames_npz"]))
        jobs = task.continuation_jobs(todo, arrays, task.load_structure(protocol, reference), protocol)
        engine = session.md_engine(model)
        label = f"{model.name} task3 {len(jobs)} runs to {production_ps:g} ps ({engine.name})"
        callback = progress(label, sum(j.n_steps for j in jobs))
        checkpoints.append(md_checkpoint(session, store, missing, label))
        trajectories = engine.run(jobs, model, progress=callback, checkpoint=checkpoints[-1])
        out = {}
        for run, job, trajectory, result, arr in zip(todo, jobs, trajectories, previous, arrays):
            new_result, new_arrays = task.extend_arrays(result, arr, job, trajectory, protocol)
            out[keys[run.run_id]] = _with_frames(store, keys[run.run_id], new_result, new_arrays)
        return out

    checkpoints: list[Any] = []
    stored = store.get_or_compute_many(list(keys.values()), compute_many)
    for checkpoint in checkpoints:
        checkpoint.clear()
    return {run_id: stored[key] for run_id, key in keys.items()}


def test_task3_sigma298(pytestconfig, lips_model, lips_reference, lips_store, lips_progress, lips_seed, lips_check):
    protocol = _protocol(pytestconfig)
    session = _session(pytestconfig)
    by_id = _get_runs(pytestconfig, protocol, lips_model, lips_reference, lips_store, lips_progress, lips_seed)
    metrics = task.analyse(list(by_id.values()), protocol, model=lips_model.name, seed=lips_seed)
    production, chunk = protocol.production_ps, protocol.production_ps
    budget_s = None if session.settings.budget_minutes is None else 60.0 * session.settings.budget_minutes
    stop = ""
    gated = session.system.sigma298_gated  # a pack without a sigma298 band reports it, with its reason
    # runs that go on until the data decide (task3.max_production_ps, --lips-budget-minutes)
    while (
        gated and protocol.max_production_ps is not None and not task.sigma298_decided(metrics[0], session.thresholds)
    ):
        if metrics[0].details.get("failed_runs"):
            stop = "runs stopped early"
            break
        if production + chunk > protocol.max_production_ps + 1e-9:
            stop = f"task3.max_production_ps {protocol.max_production_ps:g} ps reached"
            break
        # spent: this session's Task 3 time so far; the next chunk costs per ps what the runs so far cost
        # (their recorded MD wall when they came from the cache)
        spent = time.monotonic() - _FIRST_ASKED[lips_model.name]
        recorded = sum(float(r.get("record", {}).get("wall_s") or 0.0) for r in by_id.values())
        if budget_s is not None and spent + max(spent, recorded) / production * chunk > budget_s:
            stop = f"--lips-budget-minutes {session.settings.budget_minutes:g} would be exceeded by another chunk"
            break
        production += chunk
        by_id = _extend_runs(
            pytestconfig, protocol, lips_model, lips_reference, lips_store, lips_progress, lips_seed, by_id, production
        )
        metrics = task.analyse(list(by_id.values()), protocol, model=lips_model.name, seed=lips_seed)
    if protocol.max_production_ps is not None:
        decided = task.sigma298_decided(metrics[0], session.thresholds)
        text = (
            f"decided at {production:g} ps of production per run"
            if decided
            else f"not decided at {production:g} ps of production per run ({stop})"
        )
        for metric in metrics[:2]:
            metric.note = "; ".join(x for x in (metric.note, text) if x)
            metric.details["decided_at_production_ps" if decided else "undecided_at_production_ps"] = production
    if session.settings.save_trajectories_dir is not None:
        from pytest_lips.report.trajectories import save_run_trajectory

        for run_id, result in by_id.items():
            if result.get("frames_npz"):
                save_run_trajectory(
                    session.settings.save_trajectories_dir,
                    lips_model.name,
                    run_id,
                    lips_store.load_arrays(result["frames_npz"]),
                    mobile_ion=session.system.mobile_ion,
                )
    if not gated:
        metrics[0].gated = False
        metrics[0].note = "; ".join(x for x in (session.system.sigma298_reason, metrics[0].note) if x)
    lips_check(*metrics)
