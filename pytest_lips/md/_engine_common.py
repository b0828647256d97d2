"""What both MD engines share: the progress callback type, naming the runs in flight, job-id checks,
package versions. Units as in :mod:`pytest_lips.md.jobs`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

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
