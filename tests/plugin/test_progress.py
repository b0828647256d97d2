"""Progress of an MD batch: one updating line on a terminal, plain lines in logs; pytest's line intact."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import textwrap

import pytest

from pytest_lips.progress import ProgressLine, format_eta

from .test_plugin import lips_args

pytest_plugins = ["pytester"]

_MODULE = textwrap.dedent("""
    def test_before():
        pass

    def test_md_like(lips_progress):
        callback = lips_progress("m task3 2 runs (ase)", 100, min_interval_s=0)
        callback.set_running(["T600K-r1", "T800K-r1"])
        callback(50)
        callback.set_running(["T800K-r2"])
        callback(100)
        callback(100)  # engines report the end twice: one line only

    def test_after():
        pass
""")


# -- the line ------------------------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_text_names_runs_steps_rate_and_time_left():
    clock = _Clock()
    line = ProgressLine("m task3 3 runs (torch-sim)", 400, reporter=None, clock=clock)
    line.set_running(["T600K-r1", "T700K-r1", "T800K-r1"])
    line.steps_done, clock.t = 100, 20.0
    assert line.text() == (
        "[lips] m task3 3 runs (torch-sim): running T600K-r1, T700K-r1, T800K-r1 · 100/400 steps (25 %) "
        "· 5.0 steps/s · ~60 s left"
    )
    line.set_running([f"r{i}" for i in range(6)])
    assert "running r0, r1, r2, r3 +2 ·" in line.text()
    line.steps_done, line.finished, clock.t = 400, True, 80.0
    assert line.text().endswith("400/400 steps (100 %) · 5.0 steps/s · done in 80 s")
    assert [format_eta(s) for s in (42, 600, 9000, float("inf"))] == ["~42 s left", "~10 min left", "~2.5 h left", ""]


def test_quiet_line_writes_nothing_and_plain_lines_are_rate_limited():
    ProgressLine("m", 10, reporter=None)(10)  # -q / xdist worker: no reporter, no error

    class Writer:
        width_of_current_line = 0
        fullwidth = 80

    class Reporter:
        _tw = Writer()
        currentfspath = None

        def __init__(self):
            self.out = []

        def write(self, text, flush=False):
            self.out.append(text)

    reporter, clock = Reporter(), _Clock()
    line = ProgressLine("m", 100, reporter, tty=False, min_interval_s=10.0, clock=clock)
    for t, steps in ((1, 10), (5, 20), (11, 30), (15, 40), (22, 50), (23, 100), (24, 100)):
        clock.t = t
        line(steps)
    lines = [text for text in reporter.out if text.startswith("[lips]")]
    assert [re.search(r"(\d+)/100", text).group(1) for text in lines] == ["30", "50", "100"]


# -- in pytest -----------------------------------------------------------------------------------------
def test_plain_lines_keep_pytests_progress_line(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(test_progress=_MODULE)
    args = [*lips_args(lips_inputs, "--lips-tasks=test_split"), "-k", "before or md_like or after"]
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(
        [
            "test_progress.py .",
            "[[]lips[]] m task3 2 runs (ase): running T600K-r1, T800K-r1 · 50/100 steps (50 %) · * steps/s*",
            "[[]lips[]] m task3 2 runs (ase): 100/100 steps (100 %) · * steps/s · done in * s",
            "test_progress.py ..*[[]100%[]]",
        ]
    )
    assert result.stdout.str().count("100/100 steps") == 1
    assert "\x1b" not in result.stdout.str()  # no terminal control sequences in a log
    quiet = pytester.runpytest(*args, "-q")
    quiet.stdout.no_fnmatch_line("*[[]lips[]] m task3*")


def _screen(raw: str) -> list[str]:
    """What a terminal shows after ``raw``: handles \\r, \\n, ESC[K / ESC[2K, ESC[nA, ESC[nC, SGR colours."""
    rows: list[list[str]] = [[]]
    r = c = 0
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\x1b":
            m = re.match(r"\x1b\[(\d*)([A-Za-z])", raw[i:])
            if m:
                n, op = int(m.group(1) or 0), m.group(2)
                if op == "A":
                    r = max(r - max(n, 1), 0)
                elif op == "C":
                    c += max(n, 1)
                elif op == "K":
                    row = rows[r]
                    rows[r] = [] if n == 2 else row[:c]
                i += len(m.group(0))
                continue
        if ch == "\n":
            r += 1
            c = 0
            while len(rows) <= r:
                rows.append([])
        elif ch == "\r":
            c = 0
        else:
            row = rows[r]
            while len(row) < c:
                row.append(" ")
            if c < len(row):
                row[c] = ch
            else:
                row.append(ch)
            c += 1
        i += 1
    return ["".join(row).rstrip() for row in rows]


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal (pty)")
def test_terminal_line_updates_in_place_and_leaves_pytests_line_intact(pytester: pytest.Pytester, lips_inputs):
    import pty

    pytester.makepyfile(test_progress=_MODULE)
    args = [
        *lips_args(lips_inputs, "--lips-tasks=test_split"),
        "-k",
        "before or md_like or after",
        "-p",
        "no:cacheprovider",
    ]
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "120", "TERM": "xterm"}
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], cwd=pytester.path, stdin=slave, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 120)
        if not ready:
            proc.kill()
            break
        try:
            data = os.read(master, 65536)
        except OSError:  # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    raw = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    assert proc.returncode == 0, raw[-3000:]
    # the line was shown, updated in place (\r + erase) with the runs in flight
    assert "[lips] m task3 2 runs (ase): running T600K-r1, T800K-r1 · 50/100 steps (50 %)" in raw
    assert "\r\x1b[2K[lips] m task3 2 runs (ase): 100/100 steps (100 %)" in raw
    screen = _screen(raw)
    assert not any("[lips] m task3" in row for row in screen), screen  # erased when the batch ended
    rows = [row for row in screen if row.startswith("test_progress.py")]
    assert len(rows) == 1 and re.fullmatch(r"test_progress\.py \.\.\. +\[100%\]", rows[0]), screen
