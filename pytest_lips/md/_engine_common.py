"""What both MD engines share: the progress callback type, naming the runs in flight, job-id checks,
package versions, frame arrays. Units as in :mod:`pytest_lips.md.jobs`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..errors import LipsUsageError

#: ``progress(job_steps_done)``: the sum over an engine call's jobs of the steps integrated so far.
Progress = Callable[[int], None]


def announce(progress: Progress | None, run_ids: list[str]) -> None:
    """Tell a progress callback that offers ``set_running`` (``lips_progress``'s) which runs are in flight."""
    set_running = getattr(progress, "set_running", None)
    if set_running is not None:
        set_running(run_ids)


def check_unique(jobs: Sequence[Any]) -> None:
    """Job ids must be unique within one engine call (results are matched to runs by them)."""
    ids = [job.job_id for job in jobs]
    if len(set(ids)) != len(ids):
        raise LipsUsageError(f"MD job ids must be unique within one engine call: {ids}")


def package_version(distribution: str) -> str:
    """Installed version of ``distribution`` (``unknown`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def frame_arrays(frames: dict[str, list[Any]], n_atoms: int, npt: bool) -> dict[str, Any]:
    """The sampled frames of one run (lists under ``steps``, ``pos``, ``cell``, ``T``, ``V``, ``p``) as the
    :class:`~pytest_lips.md.jobs.MDTrajectory` arrays: positions (n_frames, n_atoms, 3) Å, cells
    (n_frames, 3, 3) Å, temperatures K, volumes Å³, pressures Pa (NPT only, else ``None``)."""
    return dict(
        steps=np.asarray(frames["steps"], dtype=int),
        positions_A=np.asarray(frames["pos"], dtype=float).reshape(-1, n_atoms, 3),
        cells_A=np.asarray(frames["cell"], dtype=float).reshape(-1, 3, 3),
        temperatures_K=np.asarray(frames["T"], dtype=float),
        volumes_A3=np.asarray(frames["V"], dtype=float),
        pressures_Pa=np.asarray(frames["p"], dtype=float) if npt else None,
    )
