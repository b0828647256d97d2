"""Fault injection for issue 23 (runtime part): signals, result identity under shared caches, cache-dir
faults, deselected MD work and MD checkpoints.

Each test reproduces one case of the issue through pytester (in-process, or a subprocess where a signal
or the process's thread count is involved) with the small inputs of conftest.py and checks it is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .test_plugin import lips_args, metric_values, read_report

pytest_plugins = ["pytester"]


def _stored_results(cache: Path) -> list[Path]:
    return sorted((cache / "runs").glob("*.json"))


# -- 5. identity: threads per process are part of a result's key ----------------------------------


def test_shared_cache_never_returns_another_thread_counts_result(pytester: pytest.Pytester, lips_inputs) -> None:
    """A result cached by a 2-thread run is not what a 1-thread run on the same cache reports.

    The cached value is replaced by a sentinel: the 1-thread run must compute its own (no sentinel),
    a second 2-thread run must read the cache (the sentinel), so the test would see either fault.
    """
    import torch

    cache = pytester.path / "shared-cache"
    before = torch.get_num_threads()
    try:
        args = lips_args(lips_inputs, f"--lips-cache-dir={cache}", "-k", "test_split_energy_rmse")
        assert pytester.runpytest(*args, "--lips-threads=2").ret in (0, 1)
        (stored,) = _stored_results(cache)
        document = json.loads(stored.read_text())
        assert "|threads=2|" in document["key"]
        for metric in document["result"]["metrics"]:
            metric["value"] = 12345.0
        stored.write_text(json.dumps(document))

        report_one = pytester.path / "one.json"
        assert pytester.runpytest(*args, "--lips-threads=1", f"--lips-report={report_one}").ret in (0, 1)
        one = read_report(report_one)
        assert one["environment"]["threads_per_process"] == 1
        assert metric_values(one, "test_split.energy_rmse")["good"] != 12345.0
        assert len(_stored_results(cache)) == 2  # its own entry beside the 2-thread one

        report_two = pytester.path / "two.json"
        assert pytester.runpytest(*args, "--lips-threads=2", f"--lips-report={report_two}").ret in (0, 1)
        assert metric_values(read_report(report_two), "test_split.energy_rmse")["good"] == 12345.0
    finally:
        torch.set_num_threads(before)


def test_result_key_holds_threads_and_library_versions() -> None:
    from pytest_lips import identity

    one, eight = identity.numerical_environment(1), identity.numerical_environment(8)
    assert one != eight and one.startswith("threads=1|libs=") and eight.startswith("threads=8|libs=")
    context = identity.ResultContext("0", "1/1", "ci", "cpu", "ase", 0, numerics=one)
    other = identity.ResultContext("0", "1/1", "ci", "cpu", "ase", 0, numerics=eight)
    assert identity.result_key("file:x", context) != identity.result_key("file:x", other)


def test_threads_above_the_usable_cores_are_warned_about(pytester: pytest.Pytester, lips_inputs) -> None:
    from pytest_lips.threads import oversubscription_warning, usable_cores

    assert oversubscription_warning(1, 8, cores=2) == ""  # -n 8 with 1 thread: xdist's choice, not ours
    assert oversubscription_warning(2, 1, cores=2) == ""
    assert "oversubscribed" in oversubscription_warning(2, 2, cores=2)
    many = usable_cores() + 1
    # a subprocess: the option sets torch's threads of the process it runs in
    result = pytester.runpytest_subprocess(*lips_args(lips_inputs, f"--lips-threads={many}", "--co"))
    lines = [line for line in result.outlines if "oversubscribed" in line]
    assert len(lines) == 1 and f"--lips-threads {many} " in lines[0], result.outlines
    assert result.ret == 0
    quiet = pytester.runpytest_subprocess(*lips_args(lips_inputs, "--lips-threads=1", "--co"))
    assert not any("oversubscribed" in line for line in quiet.outlines)
