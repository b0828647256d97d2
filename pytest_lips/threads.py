"""CPU threads of the processes pytest-lips runs in (``--lips-threads``, ini ``lips_threads``).

Why the default is one thread per process: torch's multi-threaded CPU kernels (the scatter-add
reductions of message-passing models among them) do not fix the order in which partial sums are
added, so two evaluations of the same structure with 2 threads differ in the last bits (measured:
up to 5.7e-6 eV/Å in float32 forces of the example model on an 84-atom cell; with 1 thread: 0).
MD amplifies such differences exponentially, so two runs with the same seed end in different
trajectories (Task 1 RMSE 20.5777 vs 20.5779 meV/atom, a Task 4 shortest pair 1.199 vs 0.784 Å).
With one thread every reduction has one order: the same seed gives bit-identical metrics, serially
and under ``pytest -n N`` alike, which is what the README promises.  ``--lips-threads=auto`` trades
that for speed: usable cores (``os.sched_getaffinity``) divided by the number of processes (xdist
workers, at least 1 thread each).  On the project's 2-core machine shared with a DFT job 2 threads
were 12x *slower* per evaluation than 1 (0.73 s vs 9.2 s), which is why ``auto`` is opt-in.
"""

from __future__ import annotations

import os
from typing import Any

#: Environment variables set for child processes (xdist workers inherit them; so do BLAS/OpenMP).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: What :func:`apply_threads` did in this process (for the report's environment section).
_APPLIED: dict[str, Any] = {}


def usable_cores() -> int:
    """CPU cores this process may run on (affinity mask; ``os.cpu_count()`` where there is none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


def parse_threads(raw: Any) -> int | None:
    """``--lips-threads`` value: a whole number >= 1, or ``auto`` (returned as ``None``).

    Raises :class:`ValueError` with the fix for anything else.
    """
    text = str(raw).strip().lower()
    if text == "auto":
        return None
    try:
        number = int(text)
    except ValueError:
        raise ValueError(f"expected a whole number >= 1 or auto, got {raw!r}") from None
    if number < 1:
        raise ValueError(f"expected a whole number >= 1 or auto, got {raw!r}")
    return number


def resolve_threads(requested: int | None, processes: int, cores: int | None = None) -> int:
    """Threads per process: ``requested``, or for ``auto`` (``None``) usable cores ÷ processes, >= 1."""
    if requested is not None:
        return requested
    return max(1, (cores if cores is not None else usable_cores()) // max(1, processes))


def oversubscription_warning(threads: int, processes: int = 1, cores: int | None = None) -> str:
    """One line when ``threads`` per process x ``processes`` exceed the usable cores ("" otherwise).

    More threads than cores only make torch's threads wait on each other (measured: ``--lips-threads=999``
    on 2 cores ran 18x slower than 1 thread). One thread per process is never warned about: with more
    xdist workers than cores the oversubscription is ``-n``'s, not ``--lips-threads``'.
    """
    cores = usable_cores() if cores is None else cores
    if threads <= 1 or threads * max(1, processes) <= cores:
        return ""
    workers = f" x {processes} xdist workers" if processes > 1 else ""
    return (
        f"--lips-threads {threads}{workers} = {threads * max(1, processes)} threads on {cores} usable core(s): "
        "oversubscribed, runs will be slower (use --lips-threads=auto or 1)"
    )


def xdist_processes(config: Any) -> int:
    """Processes that run tests in this pytest session: xdist workers, else 1."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        return max(1, int(workerinput.get("workercount", 1) or 1))
    option = getattr(config, "option", None)
    if option is None or getattr(option, "dist", "no") == "no":
        return 1
    numprocesses = getattr(option, "numprocesses", None)
    if isinstance(numprocesses, int) and numprocesses > 0:
        return numprocesses
    tx = getattr(option, "tx", None) or []
    return max(1, len(tx))


def is_xdist_controller(config: Any) -> bool:
    """Whether this process is the controller of ``pytest -n N`` / ``--dist``: it runs no test."""
    option = getattr(config, "option", None)
    return not hasattr(config, "workerinput") and getattr(option, "dist", "no") != "no"


def apply_threads(threads: int, requested: str = "1", processes: int = 1, set_torch: bool = True) -> dict[str, Any]:
    """Set torch's intra-op (and, where still possible, inter-op) threads and the thread variables
    of child processes to ``threads``; returns (and remembers) what was set.

    ``set_torch=False`` (the xdist controller, which runs no test) sets only the variables and spares
    the process torch's import. The returned dict is the same either way, so a serial and an ``-n N``
    report agree; torch's own counts are not recorded for that reason.
    """
    for name in THREAD_ENV_VARS:
        os.environ[name] = str(threads)
    # (``processes`` is not recorded: a serial and an ``-n 2`` report must be equal apart from timings)
    info: dict[str, Any] = {"threads_option": requested, "threads_per_process": threads, "usable_cores": usable_cores()}
    _APPLIED.update(info)
    if not set_torch:
        return info
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return info
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # only allowed once, before any inter-op work; the intra-op count is what matters
        pass
    return info


def applied_threads() -> dict[str, Any]:
    """What :func:`apply_threads` set in this process (empty when it has not run)."""
    return dict(_APPLIED)
