"""The built-in LiPS-25 suite (collected by :mod:`pytest_lips.plugin` when a model is given) and the
pytest glue its batched MD modules share (the orchestration itself is :mod:`pytest_lips.tasks.batched`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def selected_run_ids(items: Iterable[Any], module: str, model: str, run_fixture: str) -> set[str] | None:
    """Run ids of the MD runs that the selected items of ``module`` need for ``model``; ``None``: every run.

    ``items`` are the session's items after deselection (``-k``, ``-m``, ``--lf``, ``--deselect``), so a
    batch holds only the runs a selected item reads: a per-run item (parametrized by ``run_fixture``)
    needs its own run, any other item of the module (σ298, survival, ...) needs them all.  No selected
    item of the module (a direct call) also means every run.
    """
    wanted: set[str] = set()
    found = False
    for item in items:
        if item.nodeid.partition("::")[0].rsplit("/", 1)[-1] != module:
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("lips_model") != model:
            continue
        found = True
        run = params.get(run_fixture)
        if run is None:
            return None
        wanted.add(run.run_id)
    return wanted if found else None


def batched_runs(session: Any, task: str, model: Any, store: Any, progress: Any) -> Any:
    """The :class:`~pytest_lips.tasks.batched.BatchedRuns` of a batched task for ``model``: the session's
    MD engine for the model, its key function (:meth:`~pytest_lips.session.LipsSession.run_key`) and its
    checkpoint settings (``--lips-checkpoint-minutes``, ``--lips-fresh``; a resume is announced as one line)."""
    from pytest_lips.tasks.batched import BatchedRuns, make_checkpoint

    def checkpoint(keys: Any, label: str) -> Any:
        return make_checkpoint(store, keys, label, session.settings.checkpoint_minutes, session.notice)

    return BatchedRuns(
        task=task,
        model=model,
        store=store,
        engine=session.md_engine(model),
        run_key=lambda *parts, **options: session.run_key(model, *parts, **options),
        progress=progress,
        checkpoint=checkpoint,
    )
