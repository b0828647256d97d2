"""The whole suite (test split, Tasks 1-4) end to end in seconds: a Lennard-Jones graph-pes model,
the shipped reference pack and a tiny profile.

Covers the suite's own logic (collection, items per task, store sharing, gating, the JSON report)
without the slow README run.  The numbers are those of a pair potential, so the test checks outcomes
and the report's structure and consistency, not physics.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

#: Every task, as small as the protocols allow: Task 1 on two crystals plus the end members with 5
#: relaxation steps; Task 2 on 4 melt-quench snapshots; Task 3 on the 42-atom cell at 2 temperatures,
#: 25 steps each; Task 4 on one 42-atom random cell, 10 NPT steps, gated (gate_min_production_ps
#: below the production) so that the gate logic runs.
TINY_PROFILE = """\
name: tiny
protocol_version: "1"
description: fast end-to-end test of the suite
test_split:
  split: test
  max_structures: 20
task1:
  fmax_eV_A: 0.1
  max_steps: 5
  structures: [gamma-Li3PS4, Li2P2S6]
task2:
  max_frames: 4
  dataset_max_structures: 10
task3:
  supercell: [1, 1, 1]
  temperatures_K: [600, 800]
  repeats: 1
  timestep_fs: 2.0
  equilibration_ps: 0.004
  production_ps: 0.05
  sample_interval_fs: 2.0
  fit_min_lag_ps: 0.0
task4:
  n_atoms: 42
  relax_fmax_eV_A: 0.5
  relax_max_steps: 3
  temperatures_K: [2000]
  pressures_Pa: [1.0e+8]
  repeats: 1
  timestep_fs: 1.0
  production_ps: 0.01
  sample_interval_fs: 5.0
  gate_min_production_ps: 0.005
"""


@pytest.fixture(scope="module")
def tiny_profile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-profile") / "tiny.yaml"
    path.write_text(TINY_PROFILE)
    return path


def tiny_args(inputs: dict[str, Path], profile: Path, *extra: str) -> list[str]:
    return [
        f"--lips-model={inputs['model']}",
        f"--lips-profile={profile}",
        f"--lips-data={inputs['data']}",
        "--lips-offline",
        "-p",
        "no:randomly",
        *extra,
    ]


def test_all_tasks_end_to_end(pytester: pytest.Pytester, lips_inputs, tiny_profile) -> None:
    report_path = pytester.path / "report.json"
    result = pytester.runpytest(*tiny_args(lips_inputs, tiny_profile, f"--lips-report={report_path}", "-v", "-rs"))
    out = result.stdout.str()
    # every task collected its items, each with the model first in the id
    for item in (
        "test_test_split_force_rmse[[]good[]]",
        "test_task1_structure[[]good-gamma-Li3PS4[]]",
        "test_task1_ef_rmse[[]good-relaxed[]]",
        "test_task2_*[[]good[]]",
        "test_task3_md_run[[]good-T600K-r1[]]",
        "test_task3_md_run[[]good-T800K-r1[]]",
        "test_task3_sigma298[[]good[]]",
        "test_task4_md_run[[]good-T2000K-p1e+08Pa-r1[]]",
        "test_task4_survival[[]good[]]",
        "test_task4_close_contacts[[]good[]]",
    ):
        result.stdout.fnmatch_lines([f"*{item}*"])
    assert "Traceback" not in out
    # known library noise is filtered for the run (ASE's NumPy 2.5 deprecation: thousands per MD run)
    assert "Setting the shape on a NumPy array" not in out
    result.stdout.fnmatch_lines(["*LiPS-25 summary (pytest-lips)*", f"*pytest-lips wrote {report_path}*"])
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) == 0, out[-3000:]
    report = json.loads(report_path.read_text())
    assert report["profile"]["name"] == "tiny"
    assert report["environment"]["threads_per_process"] == 1  # the deterministic default
    metrics = {m["key"]: m for task in report["results"]["good"].values() for m in task["metrics"]}
    # Metrics of every task are in the report with units; the pair model gives finite errors.
    for key, unit in (
        ("test_split.force_rmse", "eV/Å"),
        ("task1.ef_rmse_relaxed", "meV/atom"),
        ("task1.ef_rmse_single_point", "meV/atom"),
        ("task2.force_rmse", "eV/Å"),
        ("task4.survival_fraction", "1"),
        ("task4.close_contact_fraction", "1"),
    ):
        assert key in metrics, sorted(metrics)
        assert metrics[key]["unit"] == unit
    for key in ("test_split.force_rmse", "task1.ef_rmse_relaxed", "task2.force_rmse"):
        assert math.isfinite(metrics[key]["value"]) and metrics[key]["value"] >= 0
    assert "task3.sigma298" in metrics
    # MD runs: 2 Task 3 temperatures and 1 Task 4 grid point, each recorded once.
    runs = [run for task in report["results"]["good"].values() for run in task.get("runs", [])]
    assert sorted(r["run_id"] for r in runs if r["task"] == "task3") == ["T600K-r1", "T800K-r1"]
    assert [r["run_id"] for r in runs if r["task"] == "task4"] == ["T2000K-p1e+08Pa-r1"]
    # The Task 4 verdicts agree with the values: survival 1 passes, anything less fails.
    survival = metrics["task4.survival_fraction"]["value"]
    survival_outcome = next(line for line in result.stdout.lines if "test_task4_survival[good]" in line)
    assert ("PASSED" in survival_outcome) == (survival == 1.0), survival_outcome
    # Nothing passes over nothing: every n/a metric is SKIPPED "not measured", not PASSED.
    for key, metric in metrics.items():
        if metric["value"] is None or not math.isfinite(float(metric["value"])):
            assert not any(v.get("passed") for v in report.get("verdicts", []) if v.get("metric") == key), key


def test_same_items_pass_from_the_cache(pytester: pytest.Pytester, lips_inputs, tiny_profile) -> None:
    """A second session reuses the stored results: same metrics, and the MD is not run again."""
    first, second = pytester.path / "a.json", pytester.path / "b.json"
    args = tiny_args(lips_inputs, tiny_profile, "--lips-tasks=task3,task4")
    pytester.runpytest(*args, f"--lips-report={first}")
    pytester.runpytest(*args, f"--lips-report={second}")

    def values(path: Path) -> dict[str, float]:
        data = json.loads(path.read_text())
        return {m["key"]: m["value"] for task in data["results"]["good"].values() for m in task["metrics"]}

    assert values(first) == values(second) and values(first)


def test_tiny_profile_is_valid_and_small() -> None:
    """The profile above parses under the same validation as the shipped ones (and stays tiny)."""
    import yaml

    from pytest_lips.profiles import Profile, parse_protocols

    raw = yaml.safe_load(textwrap.dedent(TINY_PROFILE))
    profile = Profile(
        name="tiny",
        protocol_version="1",
        description="",
        sections={k: raw[k] for k in ("test_split", "task1", "task2", "task3", "task4")},
    )
    parsed = parse_protocols(profile, profile.tasks)
    assert parsed["task3"].production_steps <= 25 and parsed["task4"].production_steps <= 10


def _worker_of_lines(lines: list[str], needle: str) -> set[str]:
    """xdist workers (``gw0``…) that reported items whose line contains ``needle`` (``-v`` output)."""
    return {line.split("]")[0].lstrip("[") for line in lines if needle in line and line.startswith("[gw")}


def test_xdist_keeps_each_md_batch_on_one_worker(pytester: pytest.Pytester, lips_inputs, tiny_profile) -> None:
    """Under ``-n 2`` (xdist's implicit ``--dist load``) the items of one MD batch run on one worker, so
    no worker waits on the lock of a batch the other is computing."""
    pytest.importorskip("xdist")
    args = tiny_args(lips_inputs, tiny_profile, "--lips-tasks=test_split,task3,task4", "-n", "2", "-v")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret in (0, 1), result.stdout.str()[-3000:]
    lines = result.stdout.lines
    task3, task4 = _worker_of_lines(lines, "test_task3_"), _worker_of_lines(lines, "test_task4_")
    assert len(task3) == 1 and len(task4) == 1, (task3, task4)
    assert task3 != task4  # the two batches start on different workers


def test_md_batch_scope_groups_one_model_per_batched_module() -> None:
    from pytest_lips.plugin import md_batch_scope

    models = sorted(["m", "m-large", "other"], key=len, reverse=True)
    assert md_batch_scope("lips/test_task3.py::test_task3_md_run[m-T600K-r1]", models) == "lips/test_task3.py::m"
    assert md_batch_scope("lips/test_task3.py::test_task3_sigma298[m]", models) == "lips/test_task3.py::m"
    large = "lips/test_task4.py::test_task4_md_run[m-large-T2000K-p1e+08Pa-r1]"
    assert md_batch_scope(large, models) == "lips/test_task4.py::m-large"
    assert md_batch_scope("lips/test_task1.py::test_task1_structure[m-Li2S]", models) is None
    assert md_batch_scope("tests/test_task3.py::test_x[m]", models) is None  # not a suite item
    assert md_batch_scope("lips/test_task3.py::test_task3_md_run[unknown-T600K-r1]", models) is None


def test_budget_counts_the_batch_computed_by_earlier_items(
    pytester: pytest.Pytester, lips_inputs, tmp_path_factory
) -> None:
    """``--lips-budget-minutes`` limits Task 3's wall time from the first Task 3 item on: the batch is
    computed by the first md_run item, so the sigma298 item must count it (it used to start its clock
    itself, so that a budget never stopped a continuation)."""
    import yaml

    raw = yaml.safe_load(TINY_PROFILE)
    raw["task3"]["max_production_ps"] = 0.1  # one continuation chunk of 0.05 ps allowed
    profile = tmp_path_factory.mktemp("budget") / "budget.yaml"
    profile.write_text(yaml.safe_dump(raw))
    report_path = pytester.path / "report.json"
    args = tiny_args(lips_inputs, profile, "--lips-tasks=task3", f"--lips-report={report_path}")
    pytester.runpytest(*args, "--lips-budget-minutes=0.002")
    sigma = next(
        m
        for task in json.loads(report_path.read_text())["results"]["good"].values()
        for m in task["metrics"]
        if m["key"] == "task3.sigma298"
    )
    assert "--lips-budget-minutes 0.002 would be exceeded" in sigma["note"], sigma["note"]
    assert sigma["details"]["undecided_at_production_ps"] == pytest.approx(0.05)
