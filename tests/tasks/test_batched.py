"""pytest_lips.tasks.batched: one engine call for the missing runs, frame files, checkpoints, chunks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_lips.store import RunStore
from pytest_lips.tasks.batched import BatchedRuns, extend_until_decided, make_checkpoint


@dataclass(frozen=True)
class Run:
    run_id: str
    seed: int


@dataclass
class Job:
    job_id: str
    n_steps: int


@dataclass
class Traj:
    job_id: str
    value: float


class Engine:
    name = "fake"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def run(self, jobs: list[Job], model: Any, progress: Any = None, checkpoint: Any = None) -> list[Traj]:
        self.calls.append([job.job_id for job in jobs])
        progress(sum(job.n_steps for job in jobs))
        return [Traj(job.job_id, float(len(job.job_id))) for job in jobs]


class Model:
    name = "m"


class Checkpoint:
    def __init__(self) -> None:
        self.cleared = False

    def clear(self) -> None:
        self.cleared = True


def _batch(store: RunStore, engine: Engine, progress_log: list, checkpoints: list) -> BatchedRuns:
    def checkpoint(keys: Any, label: str) -> Checkpoint:
        checkpoints.append(Checkpoint())
        return checkpoints[-1]

    def progress(label: str, total: int) -> Any:
        progress_log.append((label, total))
        return lambda steps: progress_log.append(steps)

    return BatchedRuns(
        task="task9",
        model=Model(),
        store=store,
        engine=engine,
        run_key=lambda *parts, task: "|".join([*parts, f"task={task}"]),
        progress=progress,
        checkpoint=checkpoint,
    )


def _reduce(run: Run, job: Job | None, traj: Traj | None) -> tuple[dict[str, Any], dict[str, Any] | None]:
    if traj is None:
        return {"run": run.run_id, "computed": False}, None
    return {"run": run.run_id, "value": traj.value}, {"x": np.arange(3.0) + traj.value}


def test_missing_runs_are_computed_by_one_engine_call_with_their_frames(tmp_path: Path) -> None:
    store, engine, log, checkpoints = RunStore(tmp_path), Engine(), [], []
    batch = _batch(store, engine, log, checkpoints)
    runs = [Run("a", 1), Run("bb", 2), Run("ccc", 3)]
    keys = batch.keys(runs, "v1", {"dt": 1.0})
    assert keys["a"].startswith("task9-run|v1|") and "|a|seed1|task=task9" in keys["a"]
    built: list[list[str]] = []

    def build(todo: list[Run]) -> list[Job]:
        built.append([r.run_id for r in todo])
        return [Job(r.run_id, 10) for r in todo if r.run_id != "bb"]  # bb gets no job (a failed start)

    out = batch.compute(runs, keys, build, _reduce, what=" to 2 ps")
    assert engine.calls == [["a", "ccc"]] and built == [["a", "bb", "ccc"]]
    assert log[0] == ("m task9 2 runs to 2 ps (fake)", 20) and log[1] == 20
    assert out["bb"] == {"run": "bb", "computed": False} and "frames_npz" not in out["bb"]
    np.testing.assert_array_equal(store.load_arrays(out["ccc"]["frames_npz"])["x"], [3.0, 4.0, 5.0])
    assert [c.cleared for c in checkpoints] == [True]
    # a second call reads everything from the store; a new run alone is computed alone
    again = batch.compute(runs, keys, build, _reduce)
    assert again == out and engine.calls == [["a", "ccc"]]
    more = [*runs, Run("dddd", 4)]
    batch.compute(more, batch.keys(more, "v1", {"dt": 1.0}), build, _reduce)
    assert engine.calls == [["a", "ccc"], ["dddd"]]


def test_an_engine_error_stores_nothing_and_keeps_the_checkpoint(tmp_path: Path) -> None:
    store, log, checkpoints = RunStore(tmp_path), [], []

    class Broken(Engine):
        def run(self, jobs: list[Job], model: Any, progress: Any = None, checkpoint: Any = None) -> list[Traj]:
            raise KeyboardInterrupt

    batch = _batch(store, Broken(), log, checkpoints)
    runs = [Run("a", 1)]
    keys = batch.keys(runs, "v1", {})
    with pytest.raises(KeyboardInterrupt):
        batch.compute(runs, keys, lambda todo: [Job(r.run_id, 5) for r in todo], _reduce)
    assert store.get(keys["a"]) is None and [c.cleared for c in checkpoints] == [False]


def test_make_checkpoint_names_the_call_by_its_keys(tmp_path: Path) -> None:
    store = RunStore(tmp_path, reuse=False)
    lines: list[str] = []
    one = make_checkpoint(store, ["k2", "k1"], "lbl", 2.0, lines.append)
    assert one.call_id == make_checkpoint(store, ["k1", "k2"], "lbl", 2.0).call_id
    assert one.call_id != make_checkpoint(store, ["k1"], "lbl", 2.0).call_id
    assert one.interval_s == 120.0 and make_checkpoint(store, ["k1"], "lbl", 0).interval_s is None
    assert one.resume is False
    one.resumed("b", 40)
    assert lines == ["[lips] lbl: resumed at step 40 from a checkpoint"]


def _loop(decide_at: float | None, budget_s: float | None, clock_s: float, wall_s: float = 0.0, failed: bool = False):
    extended: list[float] = []

    def extend(results: dict, production_ps: float) -> dict:
        extended.append(production_ps)
        return {k: {"record": {"wall_s": wall_s * production_ps}, "ps": production_ps} for k in results}

    outcome = extend_until_decided(
        {"r": {"record": {"wall_s": wall_s * 5.0}, "ps": 5.0}},
        [5.0],
        production_ps=5.0,
        max_production_ps=20.0,
        decided=lambda m: decide_at is not None and m[0] >= decide_at,
        failed=lambda m: failed,
        extend=extend,
        analyse=lambda results: [results["r"]["ps"]],
        started_s=0.0,
        budget_s=budget_s,
        budget_minutes=None if budget_s is None else budget_s / 60.0,
        limit_name="task9.max_production_ps",
        clock=lambda: clock_s,
    )
    return outcome, extended


def test_chunks_until_decided_or_a_limit() -> None:
    outcome, extended = _loop(decide_at=15.0, budget_s=None, clock_s=1.0)
    assert extended == [10.0, 15.0] and outcome.decided and outcome.production_ps == 15.0
    assert outcome.note() == "decided at 15 ps of production per run"
    outcome, extended = _loop(decide_at=None, budget_s=None, clock_s=1.0)
    assert extended == [10.0, 15.0, 20.0] and not outcome.decided
    assert outcome.note() == "not decided at 20 ps of production per run (task9.max_production_ps 20 ps reached)"
    outcome, extended = _loop(decide_at=None, budget_s=None, clock_s=1.0, failed=True)
    assert extended == [] and outcome.stop == "runs stopped early"


def test_budget_counts_the_recorded_md_wall_of_cached_runs() -> None:
    # 10 s spent of 60 (no recorded MD wall): each next 5 ps chunk is expected to cost at most 10 s: all fit
    outcome, extended = _loop(decide_at=None, budget_s=60.0, clock_s=10.0)
    assert extended == [10.0, 15.0, 20.0]
    # runs from the cache recorded 40 s of MD for 5 ps: the next chunk is expected to cost 40 s, 10 + 40 > 45
    outcome, extended = _loop(decide_at=None, budget_s=45.0, clock_s=10.0, wall_s=8.0)
    assert extended == [] and outcome.stop == "--lips-budget-minutes 0.75 would be exceeded by another chunk"
