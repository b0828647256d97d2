"""SIGTERM handled like Ctrl-C (``--lips-report`` written and marked interrupted, no baseline written).

CI runners stop a job with SIGTERM (a cancelled run, a time limit); Python's default for it is to die at
once, which leaves no report, no message, and under ``pytest -n N`` xdist workers that go on computing
until they notice their controller is gone. While the LiPS suite runs, :func:`install` makes SIGTERM
raise :class:`KeyboardInterrupt` in the main thread, exactly what Ctrl-C does: pytest stops, the summary
and the report are written (marked ``interrupted``), ``--lips-save-baseline`` refuses the partial run,
and an MD batch's last checkpoint is kept for the rerun. On the xdist controller the signal is passed
on to the workers as SIGINT (what a terminal's Ctrl-C sends them), so they stop too and xdist's
shutdown reaps them. A handler installed by someone else is left alone.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from typing import Any

_STATE: dict[str, Any] = {"installed": False, "previous": None, "received": None, "children": None}


def install(children: Callable[[], list[int]] | None = None) -> bool:
    """Make SIGTERM raise KeyboardInterrupt in this process (main thread only; SIGTERM at its default).

    ``children()``: pids to send SIGINT to first (the xdist workers). Returns whether it was installed.
    """
    if _STATE["installed"] or threading.current_thread() is not threading.main_thread():
        return False
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return False
    _STATE.update(installed=True, previous=previous, received=None, children=children)
    signal.signal(signal.SIGTERM, _handler)
    return True


def _handler(signum: int, frame: Any) -> None:
    first = _STATE["received"] is None
    _STATE["received"] = signum
    if first and _STATE["children"] is not None:
        for pid in _STATE["children"]():
            try:
                os.kill(pid, signal.SIGINT)
            except OSError:  # already gone
                pass
    raise KeyboardInterrupt("SIGTERM")


def uninstall() -> None:
    """Restore SIGTERM's previous handler (end of the pytest session, after the summary was written)."""
    if _STATE["installed"] and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _STATE["previous"])
    _STATE.update(installed=False, previous=None, received=None, children=None)


def received() -> bool:
    """Whether a SIGTERM arrived while :func:`install`'s handler was active."""
    return _STATE["received"] is not None
