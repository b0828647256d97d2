"""The built-in LiPS-25 suite (collected by :mod:`pytest_lips.plugin` when a model is given) and the
helpers its batched MD modules share."""

from __future__ import annotations

import hashlib
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


def batch_part(engine: Any, run_ids: Iterable[str]) -> tuple[str, ...]:
    """Key part naming the runs integrated together, for a batched engine (torch-sim): a system's bits
    depend on the other systems of its batch (measured: the Task 3 smoke runs integrated alone and in
    their batch of two differ in the last bits of the momenta after 60 steps), so a run computed in a
    smaller batch (``-k``) is never reused for a run of another batch. ASE integrates one run after the
    other: no part, results are shared whatever was selected."""
    if getattr(engine, "name", "") != "torch-sim":
        return ()
    digest = hashlib.sha256("\n".join(sorted(run_ids)).encode()).hexdigest()[:12]
    return (f"batch={digest}",)


def md_checkpoint(session: Any, store: Any, keys: Iterable[str], label: str) -> Any:
    """The :class:`~pytest_lips.md.checkpoint.MDCheckpoint` of one engine call computing ``keys``: files
    next to the results, every ``--lips-checkpoint-minutes``, ignored by ``--lips-fresh``; a resume is
    one line ``[lips] <label>: resumed at step N``."""
    from pytest_lips.md.checkpoint import MDCheckpoint

    minutes = session.settings.checkpoint_minutes
    call_id = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()
    return MDCheckpoint(
        store.root,
        call_id,
        interval_s=None if minutes <= 0 else 60.0 * minutes,
        resume=store.reuse,
        on_resume=lambda step: session.notice(f"[lips] {label}: resumed at step {step} from a checkpoint"),
    )
