"""Orchestration of the batched MD tasks (Tasks 3 and 4): keys, one engine call, frame files, chunks.

A batched task plans its runs (``plan_runs``), turns the missing ones into
:class:`~pytest_lips.md.MDJob`\\ s (``build_jobs``) and reduces each trajectory to a stored result
(``reduce_run``). What is common to both tasks lives here, without pytest:

* :class:`BatchedRuns` — one task of one model: the result key of every run (through
  :mod:`pytest_lips.identity`: :func:`~pytest_lips.identity.md_run_parts`, and
  :func:`~pytest_lips.identity.batch_part` for a batched engine), and :meth:`BatchedRuns.compute`: the
  runs missing from the :class:`~pytest_lips.store.RunStore` computed by ONE call of the MD engine
  (torch-sim integrates them as one batched system), with a progress line, a checkpoint of the call
  (:class:`~pytest_lips.md.checkpoint.MDCheckpoint`, spent once the results are stored), and each
  run's sampled arrays written next to its result (``<key>.npz``, named by ``frames_npz``);
* :func:`extend_until_decided` — Task 3's loop that continues the runs chunk by chunk until the
  metric is decided, ``max_production_ps`` is reached or the wall-clock budget
  (``--lips-budget-minutes``) would be exceeded by another chunk.

The suite modules (:mod:`pytest_lips.suite`) hand in what pytest knows (the session's key function,
progress factory and checkpoint settings) and read the results back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..identity import batch_part, keys_digest, md_run_parts

#: ``progress(label, total_steps) -> callback(steps_done)`` (``lips_progress``).
ProgressFactory = Callable[[str, int], Callable[[int], None]]
#: ``checkpoint(keys, label) -> MDCheckpoint | None`` for one engine call computing ``keys``.
CheckpointFactory = Callable[[Sequence[str], str], Any]
#: ``reduce(run, job, trajectory) -> (result, arrays)``; ``job``/``trajectory`` are ``None`` for a run
#: that got no job (a Task 4 start that failed); ``arrays`` ``None``: no frame file.
Reduce = Callable[[Any, Any, Any], "tuple[dict[str, Any], dict[str, Any] | None]"]


class PlannedRun(Protocol):
    """What :class:`BatchedRuns` reads of a task's run (``Task3Run``, ``Task4Run``)."""

    @property
    def run_id(self) -> str: ...

    @property
    def seed(self) -> int: ...


def make_checkpoint(
    store: Any, keys: Sequence[str], label: str, minutes: float, notice: Callable[[str], None] | None = None
) -> Any:
    """The :class:`~pytest_lips.md.checkpoint.MDCheckpoint` of one engine call computing ``keys``: files
    next to the results (``store.root``), every ``minutes`` (``--lips-checkpoint-minutes``; 0: none),
    ignored when the store does not reuse results (``--lips-fresh``); a resume is one line
    ``[lips] <label>: resumed at step N from a checkpoint`` through ``notice``."""
    from ..md.checkpoint import MDCheckpoint

    def on_resume(step: int) -> None:
        if notice is not None:
            notice(f"[lips] {label}: resumed at step {step} from a checkpoint")

    return MDCheckpoint(
        store.root,
        keys_digest(keys),
        interval_s=None if minutes <= 0 else 60.0 * minutes,
        resume=store.reuse,
        on_resume=on_resume,
    )


@dataclass
class BatchedRuns:
    """The MD runs of one batched task for one model.

    Parameters
    ----------
    task:
        ``task3`` / ``task4``: the first word of the key kind (``task3-run``) and of the progress label.
    model:
        The :class:`~pytest_lips.models.LipsModel` (its ``name`` labels the progress line).
    store:
        The :class:`~pytest_lips.store.RunStore`.
    engine:
        The MD engine (:func:`pytest_lips.md.engines.select_engine`).
    run_key:
        ``run_key(*parts, task=...) -> key``: :meth:`pytest_lips.session.LipsSession.run_key` bound to
        the model, which completes the parts into :func:`pytest_lips.identity.result_key` (the task registry
        says whether the task's runs read the reference pack: Task 3's cell does, Task 4's random cells do not).
    progress:
        The progress factory (``lips_progress``).
    checkpoint:
        ``checkpoint(keys, label)``: the checkpoint of one engine call (:func:`make_checkpoint`).
    """

    task: str
    model: Any
    store: Any
    engine: Any
    run_key: Callable[..., str]
    progress: ProgressFactory
    checkpoint: CheckpointFactory
    #: The engine calls made by :meth:`compute` (labels), for tests.
    calls: list[str] = field(default_factory=list)

    def key(self, kind: str, protocol_version: Any, settings: Any, run_id: str, seed: int, *extra: Any) -> str:
        """The result key of one run (or start structure): :func:`pytest_lips.identity.md_run_parts`."""
        parts = md_run_parts(kind, protocol_version, settings, run_id, seed, *extra)
        return self.run_key(*parts, task=self.task)

    def keys(
        self,
        runs: Sequence[PlannedRun],
        protocol_version: Any,
        settings: Any,
        extra: Callable[[Any], Sequence[Any]] = lambda run: (),
    ) -> dict[str, str]:
        """Result key of every run, by run id: ``<task>-run``, the protocol version, the digest of the
        protocol ``settings``, run id, seed, ``extra(run)``, and the batch of a batched engine (a run's
        bits depend on the runs integrated with it, so the batch is named)."""
        batch = batch_part(self.engine, [run.run_id for run in runs])
        return {
            run.run_id: self.key(
                f"{self.task}-run", protocol_version, settings, run.run_id, run.seed, *extra(run), *batch
            )
            for run in runs
        }

    def compute(
        self,
        runs: Sequence[PlannedRun],
        keys: Mapping[str, str],
        build_jobs: Callable[[list[Any]], list[Any]],
        reduce: Reduce,
        what: str = "",
    ) -> dict[str, dict[str, Any]]:
        """Every run's stored result, by run id; the missing ones computed by ONE engine call.

        ``build_jobs(todo)`` gives the :class:`~pytest_lips.md.MDJob`\\ s of the runs to compute (job id =
        run id; a run may get none), ``reduce(run, job, trajectory)`` each run's result and arrays; the
        arrays go to ``<key>.npz`` next to the result (``result["frames_npz"]``). ``what`` is added to the
        progress label (``" to 10 ps"``). The checkpoints of the call are removed once the results are
        stored.
        """
        checkpoints: list[Any] = []

        def compute_many(missing: list[str]) -> dict[str, dict[str, Any]]:
            todo = [run for run in runs if keys[run.run_id] in missing]
            jobs = build_jobs(todo)
            label = f"{self.model.name} {self.task} {len(jobs)} runs{what} ({self.engine.name})"
            self.calls.append(label)
            callback = self.progress(label, sum(job.n_steps for job in jobs))
            checkpoints.append(self.checkpoint(missing, label))
            computed = self.engine.run(jobs, self.model, progress=callback, checkpoint=checkpoints[-1]) if jobs else []
            job_by_id = {job.job_id: job for job in jobs}
            trajectories = {job.job_id: trajectory for job, trajectory in zip(jobs, computed)}
            out = {}
            for run in todo:
                key = keys[run.run_id]
                result, arrays = reduce(run, job_by_id.get(run.run_id), trajectories.get(run.run_id))
                if arrays is not None:
                    result["frames_npz"] = self.store.save_arrays(key, arrays)
                out[key] = result
            return out

        results = self.store.get_or_compute_many(list(keys.values()), compute_many)
        for checkpoint in checkpoints:  # the results are stored: the checkpoints of their runs are spent
            if checkpoint is not None:
                checkpoint.clear()
        return {run_id: results[key] for run_id, key in keys.items()}


@dataclass
class ChunkedOutcome:
    """Where :func:`extend_until_decided` stopped: the runs' results, the metrics computed from them, the
    production per run (ps), whether the metric was decided, and why the loop stopped otherwise."""

    results: dict[str, dict[str, Any]]
    metrics: list[Any]
    production_ps: float
    decided: bool
    stop: str = ""

    def note(self) -> str:
        """``decided at 10 ps of production per run`` or ``not decided at 20 ps ... (<why it stopped>)``."""
        if self.decided:
            return f"decided at {self.production_ps:g} ps of production per run"
        return f"not decided at {self.production_ps:g} ps of production per run ({self.stop})"


def extend_until_decided(
    results: dict[str, dict[str, Any]],
    metrics: list[Any],
    *,
    production_ps: float,
    max_production_ps: float | None,
    decided: Callable[[list[Any]], bool],
    failed: Callable[[list[Any]], bool],
    extend: Callable[[dict[str, dict[str, Any]], float], dict[str, dict[str, Any]]],
    analyse: Callable[[dict[str, dict[str, Any]]], list[Any]],
    started_s: float,
    budget_s: float | None = None,
    budget_minutes: float | None = None,
    enabled: bool = True,
    limit_name: str = "max_production_ps",
    clock: Callable[[], float] = time.monotonic,
) -> ChunkedOutcome:
    """Continue the runs by chunks of ``production_ps`` until the metrics are ``decided``.

    Stops when a run stopped early (``failed``), when another chunk would pass ``max_production_ps``
    (``None``: no chunks at all), or when the wall time since ``started_s`` (``clock`` seconds) plus the
    next chunk's expected cost would pass ``budget_s``. The next chunk is expected to cost per ps what
    the runs so far cost: the larger of the time spent in this session and the MD wall time the runs
    recorded (``record.wall_s``; they may come from the cache). ``extend(results, production_ps)``
    continues every run to ``production_ps`` and returns the new results; ``analyse`` gives the metrics.
    ``enabled`` False (a metric that is not gated) never extends; ``limit_name`` names
    ``max_production_ps`` in the stop reason (``task3.max_production_ps``).
    """
    chunk = production_ps
    production = production_ps
    stop = ""
    while enabled and max_production_ps is not None and not decided(metrics):
        if failed(metrics):
            stop = "runs stopped early"
            break
        if production + chunk > max_production_ps + 1e-9:
            stop = f"{limit_name} {max_production_ps:g} ps reached"
            break
        spent = clock() - started_s
        recorded = sum(float(r.get("record", {}).get("wall_s") or 0.0) for r in results.values())
        if budget_s is not None and spent + max(spent, recorded) / production * chunk > budget_s:
            stop = f"--lips-budget-minutes {budget_minutes:g} would be exceeded by another chunk"
            break
        production += chunk
        results = extend(results, production)
        metrics = analyse(results)
    return ChunkedOutcome(results, metrics, production, decided(metrics), stop)


__all__ = [
    "BatchedRuns",
    "ChunkedOutcome",
    "PlannedRun",
    "extend_until_decided",
    "make_checkpoint",
]
