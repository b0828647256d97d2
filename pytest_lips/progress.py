"""Progress of an MD batch on pytest's terminal (``lips_progress``), without breaking pytest's own line.

One :class:`ProgressLine` per batch (one engine call of a task): it names the task, the runs in flight
(the engine says which through ``callback.set_running(run_ids)``; engines that don't are fine), the
steps done and the time left.

* On a terminal: ONE line under pytest's current line, rewritten in place (``\\r``) at most every
  ``min_interval_s`` / 4; when the batch ends (or the test item ends, :func:`close_all`) the line is
  erased and the cursor put back at the end of pytest's line, so pytest's ``....  [ 40%]`` line
  continues as if nothing had been written (the batch's wall time is in the report's runs). The
  escape sequences go to the terminal's file directly, so pytest's own bookkeeping of the current
  line (the ``[ 40%]`` column) is untouched.
* Not a terminal (CI logs, files, pipes): plain lines, rate-limited (every ``min_interval_s``), each
  followed by pytest's current line prefix written again (``lips/test_task3.py ``), so later results
  still sit behind their file name.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_ERASE_LINE = "\x1b[2K"
_UP = "\x1b[1A"

#: Progress lines of this process still drawn on a terminal (closed by the plugin after each test).
_LIVE: list[ProgressLine] = []


def format_eta(seconds: float) -> str:
    """``~42 s left``, ``~3 min left``, ``~1.2 h left``; ``""`` when unknown."""
    if not math.isfinite(seconds) or seconds < 0:
        return ""
    if seconds < 100:
        return f"~{seconds:.0f} s left"
    if seconds < 6000:
        return f"~{seconds / 60:.0f} min left"
    return f"~{seconds / 3600:.1f} h left"


class ProgressLine:
    """The callback ``callback(steps_done)`` of one batch of ``total_steps`` MD steps (summed over runs).

    ``set_running(run_ids)`` names the runs in flight (called by the engines before each run or batch).
    ``reporter`` is pytest's terminal reporter, ``capture`` its capture manager (or None), ``tty``
    whether the output is a terminal; ``clock`` is injectable for tests.
    """

    def __init__(
        self,
        label: str,
        total_steps: int,
        reporter: Any,
        capture: Any = None,
        *,
        tty: bool = False,
        min_interval_s: float = 10.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.label = label
        self.total_steps = max(int(total_steps), 0)
        self.reporter = reporter
        self.capture = capture
        self.tty = tty
        self.min_interval_s = min_interval_s / 4.0 if tty else min_interval_s
        self.clock = clock
        self.start = clock()
        self.last = -math.inf if tty else self.start  # plain: the first line after min_interval_s
        self.steps_done = 0
        self.running: list[str] = []
        self.finished = False
        self.drawn = False  # a terminal line is on screen
        self._column = 0  # where pytest's line ended when the progress line was opened

    # -- the callback ---------------------------------------------------------------------------------
    def set_running(self, run_ids: Sequence[str]) -> None:
        """Name the runs now being integrated (replaces the previous ones)."""
        self.running = [str(r) for r in run_ids]

    def __call__(self, steps_done: int) -> None:
        if self.finished or self.reporter is None:  # no reporter: quiet (-q, xdist worker)
            return
        now = self.clock()
        self.steps_done = int(steps_done)
        finished = self.steps_done >= self.total_steps
        if not finished and now - self.last < self.min_interval_s:
            return
        self.last = now
        self.finished = finished
        self._show(self.text(now))
        if finished:
            self.close()

    def text(self, now: float | None = None) -> str:
        """The line, e.g. ``[lips] m task3 2 runs (torch-sim): running T600K-r1, T800K-r1 · 184/400 steps
        (46 %) · 3.9 steps/s · ~55 s left``."""
        now = self.clock() if now is None else now
        elapsed = max(now - self.start, 1e-9)
        rate = self.steps_done / elapsed
        left = (self.total_steps - self.steps_done) / rate if rate > 0 else math.inf
        pct = 100.0 * self.steps_done / max(self.total_steps, 1)
        parts = [f"[lips] {self.label}:"]
        if self.running and not self.finished:
            shown = ", ".join(self.running[:4]) + (f" +{len(self.running) - 4}" if len(self.running) > 4 else "")
            parts.append(f"running {shown} ·")
        parts.append(f"{self.steps_done}/{self.total_steps} steps ({pct:.0f} %) · {rate:.1f} steps/s")
        eta = f"done in {elapsed:.0f} s" if self.finished else format_eta(left)
        if eta:
            parts.append(f"· {eta}")
        return " ".join(parts)

    # -- drawing --------------------------------------------------------------------------------------
    def _show(self, text: str) -> None:
        if self.tty and self._raw_file() is not None:
            width = self._width()
            if len(text) > width - 1:
                text = text[: max(width - 2, 10)] + "…"
            if not self.drawn:
                self._column = self.reporter._tw.width_of_current_line
                self._raw("\n" + text)
                self.drawn = True
                _LIVE.append(self)
            else:
                self._raw("\r" + _ERASE_LINE + text)
        else:
            self._plain(text)

    def close(self) -> None:
        """Erase the terminal line (if drawn) and put the cursor back at the end of pytest's line."""
        if self.drawn:
            move = f"\x1b[{self._column}C" if self._column else ""
            self._raw("\r" + _ERASE_LINE + _UP + "\r" + move)
            self.drawn = False
        if self in _LIVE:
            _LIVE.remove(self)

    def _plain(self, text: str) -> None:
        def write() -> None:
            tw = self.reporter._tw
            if tw.width_of_current_line:
                self.reporter.write("\n")
            self.reporter.write(text + "\n", flush=True)
            prefix = current_prefix(self.reporter)
            if prefix:
                self.reporter.write(prefix, flush=True)

        self._disabled(write)

    def _raw_file(self) -> Any:
        return getattr(getattr(self.reporter, "_tw", None), "_file", None)

    def _raw(self, text: str) -> None:
        file = self._raw_file()

        def write() -> None:
            file.write(text)
            file.flush()

        self._disabled(write)

    def _disabled(self, write: Any) -> None:
        if self.capture is None:
            write()
            return
        with self.capture.global_and_fixture_disabled():  # as pytest's live logging does
            write()

    def _width(self) -> int:
        try:
            return int(self.reporter._tw.fullwidth)
        except (AttributeError, TypeError, ValueError):
            return 80


def current_prefix(reporter: Any) -> str:
    """What pytest's current line starts with: ``lips/test_task3.py `` (or the verbose node id prefix)."""
    current = getattr(reporter, "currentfspath", None)
    if isinstance(current, Path):
        from _pytest.pathlib import bestrelpath

        try:
            return bestrelpath(reporter.startpath, current) + " "
        except (AttributeError, ValueError):
            return current.name + " "
    if isinstance(current, str):
        return current
    return ""


def close_all() -> None:
    """Close every progress line still drawn (a batch that raised): called after each test item."""
    for line in list(_LIVE):
        line.close()
