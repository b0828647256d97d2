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
import yaml

from .test_end_to_end_fast import TINY_PROFILE, tiny_args
from .test_plugin import lips_args, metric_values, read_report

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-profile") / "tiny.yaml"
    path.write_text(TINY_PROFILE)
    return path


@pytest.fixture(scope="module")
def long_task3_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny profile with a Task 3 long enough (2 x 400 steps) to be interrupted in the middle."""
    raw = yaml.safe_load(TINY_PROFILE)
    raw["task3"].update(production_ps=0.8, sample_interval_fs=20.0)
    path = tmp_path_factory.mktemp("long-profile") / "long.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


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


# -- 6. the cache directory: checked at start-up, write failures later are one line per item ------------


@pytest.mark.parametrize("where", ["file", "below-a-file"])
def test_cache_dir_that_cannot_hold_results_is_a_usage_error(pytester: pytest.Pytester, lips_inputs, where) -> None:
    blocker = pytester.path / "cache-is-a-file"
    blocker.write_text("not a directory\n")
    cache = blocker if where == "file" else blocker / "sub"
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-cache-dir={cache}"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.errlines if "--lips-cache-dir" in line]
    assert len(errors) == 1 and str(blocker) in errors[0], result.errlines
    assert "Traceback" not in "\n".join(result.outlines + result.errlines)


def test_cache_dir_without_free_space_is_refused(tmp_path: Path) -> None:
    from pytest_lips.store import check_directory

    check_directory(tmp_path / "new" / "cache", min_free_bytes=1)  # created, writable
    assert (tmp_path / "new" / "cache").is_dir() and not list((tmp_path / "new" / "cache").iterdir())
    with pytest.raises(OSError, match="MB free, less than"):
        check_directory(tmp_path, min_free_bytes=2**70)


FULL_DISK_CONFTEST = """
import errno

from pytest_lips.store import RunStore

_saved = {}


def _full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def pytest_configure(config):
    _saved["text"], _saved["arrays"] = RunStore.__dict__["_write_text"], RunStore.__dict__["_write_arrays"]
    RunStore._write_text = staticmethod(_full)
    RunStore._write_arrays = staticmethod(_full)


def pytest_unconfigure(config):
    RunStore._write_text, RunStore._write_arrays = _saved["text"], _saved["arrays"]
"""


def test_disk_full_mid_run_reports_the_computed_results(pytester: pytest.Pytester, lips_inputs) -> None:
    """Every cache write fails after start-up: the metrics are still the computed ones, each failed
    write is one line naming its item, nothing is a traceback or an ERROR, and nothing is recomputed."""
    healthy = pytester.path / "healthy.json"
    assert pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={healthy}")).ret == 0
    pytester.makeconftest(FULL_DISK_CONFTEST)
    cache, report = pytester.path / "full-cache", pytester.path / "full.json"
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-cache-dir={cache}", f"--lips-report={report}"))
    text = "\n".join(result.outlines + result.errlines)
    assert result.ret == 0, text
    assert "Traceback" not in text and " ERROR" not in text
    warned = [line for line in result.outlines if "could not cache" in line]
    # the first item computes the test-split metrics (one write fails); the others read them from memory
    assert len(warned) == 1 and "lips/test_test_split.py::" in warned[0] and "No space left" in warned[0], warned
    assert not _stored_results(cache)
    full, ok = read_report(report), read_report(healthy)
    for key in ("test_split.energy_rmse", "test_split.force_rmse"):
        assert metric_values(full, key) == metric_values(ok, key)


# -- 8. deselection selects MD work ----------------------------------------------------------------


def _task3_results(cache: Path) -> list[str]:
    """Keys of the stored Task 3 runs."""
    keys = [json.loads(p.read_text())["key"] for p in _stored_results(cache)]
    return [key for key in keys if "|task3-run|" in key]


def test_k_runs_only_the_selected_temperature(pytester: pytest.Pytester, lips_inputs, tiny_profile) -> None:
    cache = pytester.path / "cache"
    args = tiny_args(lips_inputs, tiny_profile, "--lips-tasks=task3", f"--lips-cache-dir={cache}", "-k", "600K")
    result = pytester.runpytest(*args)
    assert result.ret == 0
    result.assert_outcomes(passed=1, deselected=2)
    stored = _task3_results(cache)
    assert len(stored) == 1 and "|T600K-r1|" in stored[0], stored
    result.stdout.fnmatch_lines(["*good task3 1 runs*"])  # the progress line names the batch


@pytest.mark.parametrize("engine", ["ase", "torch-sim"])
def test_a_run_of_a_smaller_batch_never_changes_the_full_runs_result(
    pytester: pytest.Pytester, lips_inputs, tiny_profile, engine
) -> None:
    """``-k 600K`` first, then the whole task on the same cache: σ298's inputs equal those of a fresh cache
    bit for bit. ASE reuses the 600 K run (runs are independent); torch-sim recomputes it in the full
    batch, because a system's last bits depend on the batch it was integrated in."""
    if engine == "torch-sim":
        pytest.importorskip("torch_sim")
    shared, fresh = pytester.path / "shared", pytester.path / "fresh"
    base = tiny_args(lips_inputs, tiny_profile, "--lips-tasks=task3", f"--lips-engine={engine}")
    assert pytester.runpytest(*base, f"--lips-cache-dir={shared}", "-k", "600K").ret == 0
    reports = {}
    for name, cache in (("shared", shared), ("fresh", fresh)):
        reports[name] = pytester.path / f"{name}.json"
        assert pytester.runpytest(*base, f"--lips-cache-dir={cache}", f"--lips-report={reports[name]}").ret in (0, 1)
    for key in ("task3.D_600K", "task3.D_800K"):
        values = [metric_values(read_report(reports[n]), key)["good"] for n in ("shared", "fresh")]
        assert values[0] == values[1], (key, values)
    assert len(_task3_results(shared)) == (2 if engine == "ase" else 3)


# -- 4 and 10. SIGTERM stops the run like Ctrl-C; the rerun resumes the MD from its checkpoint --------


def _pytest_process(pytester: pytest.Pytester, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=pytester.path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def _wait_for(predicate, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(x) for x in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads worker pids from /proc (Linux)")
@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "n2"])
def test_sigterm_writes_an_interrupted_report_and_the_rerun_resumes(
    pytester: pytest.Pytester, lips_inputs, long_task3_profile, xdist
) -> None:
    pytest.importorskip("torch_sim")
    cache = pytester.path / "cache"
    report, baseline = pytester.path / "report.json", pytester.path / "baseline.json"
    args = tiny_args(lips_inputs, long_task3_profile, "--lips-tasks=task3", f"--lips-cache-dir={cache}")
    args += ["--lips-checkpoint-minutes=0.0005", *(["-n", "2"] if xdist else [])]
    process = _pytest_process(pytester, *args, f"--lips-report={report}", f"--lips-save-baseline={baseline}")
    try:
        _wait_for(lambda: list((cache / "runs").glob("md-checkpoint-*.pt")), 300, "a checkpoint")
        workers = _children(process.pid)
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stopped_at = time.monotonic()
    assert process.returncode == pytest.ExitCode.INTERRUPTED, output
    assert [line for line in output.splitlines() if "stopped by SIGTERM" in line], output
    assert read_report(report)["interrupted"] is True
    assert not baseline.exists()
    if xdist:
        assert len(workers) == 2, workers
        _wait_for(lambda: not any(_alive(pid) for pid in workers), 5, "the xdist workers to stop")
        assert time.monotonic() - stopped_at < 5
    assert list((cache / "runs").glob("md-checkpoint-*.pt"))  # kept for the rerun

    resumed = _pytest_process(pytester, *args, f"--lips-report={report}")
    output, _ = resumed.communicate(timeout=600)
    assert resumed.returncode in (0, 1), output
    if not xdist:  # workers print no progress lines; their run records say it
        assert [line for line in output.splitlines() if "resumed at step" in line], output
    runs = read_report(report)["results"]["good"]["task3"]["runs"]
    assert runs and all(r["extra"].get("resumed_at_step", 0) > 0 for r in runs), runs
    assert not list((cache / "runs").glob("md-checkpoint-*.pt"))  # spent once the results are stored

    reference = pytester.path / "reference.json"
    fresh = tiny_args(lips_inputs, long_task3_profile, "--lips-tasks=task3", f"--lips-cache-dir={pytester.path / 'b'}")
    uninterrupted = _pytest_process(pytester, *fresh, f"--lips-report={reference}", "--lips-checkpoint-minutes=0")
    output, _ = uninterrupted.communicate(timeout=600)
    for key in ("task3.D_600K", "task3.D_800K", "task3.sigma298"):
        assert metric_values(read_report(report), key) == metric_values(read_report(reference), key), key
