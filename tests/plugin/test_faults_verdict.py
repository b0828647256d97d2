"""Issue 23, items 1-3, 7 and 9: nothing undecided reads as PASS.

Item 1: a gated metric that never ran is NOT RUN (table, reports, gate line; FAILED under --lips-strict).
Item 2: a baseline records its coverage; one that lacks a gated metric the run measures fails it.
Item 3: non-finite baseline values are refused.  Item 7: smaller holes.  Item 9: facts that change a
verdict's meaning are said.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .test_faults_validation import usage_error
from .test_plugin import lips_args

pytest_plugins = ["pytester"]

#: The test split (no data given: SKIPPED) and one Task 1 crystal (gates loosened so that it passes).
SPLIT_AND_TASK1 = """\
name: split-task1
protocol_version: "1"
description: issue 23 -- the test split without its data, Task 1 on one crystal
test_split:
  split: test
  max_structures: 20
task1:
  fmax_eV_A: 0.05
  max_steps: 5
  structures: [Li2P2S6]
"""

LOOSE_TASK1 = ["--lips-threshold=task1.ef_rmse_relaxed=1000", "--lips-threshold=task1.ef_rmse_single_point=1000"]


def _no_data_args(pytester: pytest.Pytester, lips_inputs, *extra: str) -> list[str]:
    profile = pytester.path / "split-task1.yaml"
    profile.write_text(SPLIT_AND_TASK1)
    return [
        f"--lips-model={lips_inputs['model']}",
        f"--lips-profile={profile}",
        "--lips-offline",
        f"--lips-cache-dir={pytester.path / 'cache'}",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
        *LOOSE_TASK1,
        *extra,
    ]


# -- item 1: gated metrics that did not run -----------------------------------------------------------


def test_gated_metrics_without_data_are_not_run_never_a_bare_pass(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "r.json"
    result = pytester.runpytest(*_no_data_args(pytester, lips_inputs, f"--lips-report={report}"))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-3000:]
    out = result.stdout.str()
    # the gate line names the metrics and the reason; it is never a bare "gate PASS"
    assert "gate PASS (2 gated metrics NOT RUN: test_split.energy_rmse, test_split.force_rmse" in " ".join(out.split())
    assert "-- gate PASS\n" not in out
    result.stdout.fnmatch_lines(["test_split*energy_rmse*-*NOT RUN*", "*force_rmse*-*NOT RUN*"])
    # the LiPS-25 skip reason says where the data set lives and how to pass it
    flat = " ".join(out.split())
    assert "https://github.com/nfragapane/lips-25" in flat and "--lips-data" in flat
    data = json.loads(report.read_text())
    assert data["summary"]["gate"] == "PASS" and data["summary"]["not_run"] == 2
    assert data["summary"]["gate_text"].startswith("PASS (2 gated metrics NOT RUN")
    entries = {e["metric"]: e for e in data["not_run"]}
    assert set(entries) == {"test_split.energy_rmse", "test_split.force_rmse"}
    assert all(e["outcome"] == "skipped" and "LiPS-25 not found" in e["reason"] for e in entries.values())
    assert entries["test_split.energy_rmse"]["nodeid"].endswith("test_test_split_energy_rmse[good]")
    # the Markdown and HTML reports say it too
    for fmt, needle in (("markdown", "Gated metrics NOT RUN"), ("html", "<h2>Gated metrics NOT RUN</h2>")):
        rendered = subprocess.run(
            [sys.executable, "-m", "pytest_lips", "report", str(report), "--format", fmt],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert needle in rendered and "NOT RUN" in rendered.split(needle, 1)[0], fmt
        assert "test_split.force_rmse" in rendered and "lips-25" in rendered


def test_strict_makes_a_gated_metric_that_did_not_run_fail(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "r.json"
    result = pytester.runpytest(*_no_data_args(pytester, lips_inputs, "--lips-strict", f"--lips-report={report}"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    # FAILED (a gate), not ERROR (a harness crash), although the skip came from a fixture in setup
    result.stdout.fnmatch_lines(
        [
            "test_split.energy_rmse: gated metric NOT RUN fails under --lips-strict: LiPS-25 not found*",
            "FAILED lips/test_test_split.py::test_test_split_energy_rmse[[]good[]]*",
        ]
    )
    result.assert_outcomes(failed=2, passed=5, skipped=26)
    data = json.loads(report.read_text())
    assert data["summary"]["gate"] == "FAIL" and all(e["fails"] for e in data["not_run"])


def test_deselected_gate_is_not_run_and_fails_under_strict(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "r.json"
    args = lips_args(lips_inputs, "-k", "not test_test_split_force_rmse", f"--lips-report={report}")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.OK
    [entry] = json.loads(report.read_text())["not_run"]
    assert entry["metric"] == "test_split.force_rmse" and "deselected" in entry["reason"]
    assert entry["outcome"] == "not run"
    assert "1 gated metric NOT RUN: test_split.force_rmse" in " ".join(result.stdout.str().split())
    strict = pytester.runpytest(*args, "--lips-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    assert json.loads(report.read_text())["summary"]["gate"] == "FAIL"


def test_gate_items_exist_for_every_gated_metric(pytester: pytest.Pytester, lips_inputs) -> None:
    """Every gated metric of thresholds.yaml has a gate item, and that item is collected under its id."""
    from pytest_lips.gates import gate_nodeid, gated_metrics
    from pytest_lips.tasks.registry import gate_items, task_names
    from pytest_lips.thresholds import default_thresholds

    keys = gated_metrics(default_thresholds().as_dict(), task_names())
    assert set(keys) == set(gate_items())
    result = pytester.runpytest(
        f"--lips-model={lips_inputs['model']}", "--lips-profile=smoke", "--collect-only", "-q", "-p", "no:randomly"
    )
    collected = result.stdout.str()
    for key in keys:
        assert gate_nodeid(key, "good") in collected, key


# -- item 2: baselines are complete or refused -------------------------------------------------------


def test_partial_baseline_records_coverage_and_fails_missing_gates(pytester: pytest.Pytester, lips_inputs) -> None:
    baseline = pytester.path / "b.json"
    saved = pytester.runpytest(*lips_args(lips_inputs, "-k", "energy_rmse", f"--lips-save-baseline={baseline}"))
    assert saved.ret == pytest.ExitCode.OK and baseline.is_file()
    data = json.loads(baseline.read_text())
    assert data["coverage"]["selection"]["keyword"] == "energy_rmse"
    assert "test_split.force_rmse" in {e["metric"] for e in data["coverage"]["not_run"]}
    assert "test_split.force_rmse" not in data["metrics"]["good"]

    # a full run of a worse model against it: the metric the baseline lacks is FAILED, never a silent PASS
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-baseline={baseline}", model="worse"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["FAILED*test_test_split_force_rmse*"])
    flat = " ".join(result.stdout.str().split())
    assert "test_split.force_rmse = " in flat and "has no value for this gated metric" in flat
    assert "did not measure it: its test was not run (deselected" in flat
    assert "--lips-save-baseline" in flat


# -- item 3: non-finite baseline values ---------------------------------------------------------------


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_baseline_value_is_refused(pytester: pytest.Pytester, lips_inputs, bad: str) -> None:
    baseline = pytester.path / "b.json"
    saved = pytester.runpytest(*lips_args(lips_inputs, f"--lips-save-baseline={baseline}"))
    assert saved.ret == 0
    text = baseline.read_text()
    data = json.loads(text)
    old = data["metrics"]["good"]["test_split.force_rmse"]["value"]
    baseline.write_text(text.replace(json.dumps(old), bad, 1))
    assert bad in baseline.read_text()
    usage_error(
        pytester.runpytest(*lips_args(lips_inputs, f"--lips-baseline={baseline}")),
        f"*--lips-baseline {baseline}: metric 'test_split.*' of model 'good' has value *; a baseline value must be "
        "a number (finite: not NaN or Infinity*",
    )


# -- item 7: smaller holes ----------------------------------------------------------------------------


def test_negative_threshold_on_a_max_metric_is_refused(pytester: pytest.Pytester, lips_inputs) -> None:
    usage_error(
        pytester.runpytest(*lips_args(lips_inputs, "--lips-threshold=task2.force_rmse=-1")),
        "*--lips-threshold: threshold task2.force_rmse ≤ -1 can never pass (task2.force_rmse is never negative); "
        "give a value >= 0*",
    )
    zero = pytester.runpytest(*lips_args(lips_inputs, "--lips-threshold=task4.close_contact_fraction=0", "-q"))
    assert zero.ret == 0  # 0 is a meaningful gate (no close contact at all)


def test_sections_of_unselected_tasks_are_validated(pytester: pytest.Pytester, lips_inputs) -> None:
    profile = pytester.path / "typo.yaml"
    profile.write_text(Path(lips_inputs["profile"]).read_text() + "task1:\n  fmax_eV_A: 0.05\n  max_stepz: 5\n")
    args = [a for a in lips_args(lips_inputs) if not a.startswith("--lips-profile")]
    usage_error(
        pytester.runpytest(*args, f"--lips-profile={profile}", "--lips-tasks=test_split"),
        "*--lips-profile micro*max_stepz*",
    )


def test_empty_baseline_names_the_fix(pytester: pytest.Pytester, lips_inputs) -> None:
    baseline = pytester.path / "empty.json"
    baseline.write_text("{}")
    usage_error(
        pytester.runpytest(*lips_args(lips_inputs, f"--lips-baseline={baseline}")),
        f"*--lips-baseline: {baseline} is neither a pytest-lips baseline nor a report*record one from a complete "
        "run with --lips-save-baseline PATH*",
    )


def test_pack_refresh_command_after_editing_a_pack(tmp_path: Path) -> None:
    import shutil

    from pytest_lips.errors import LipsDataError
    from pytest_lips.reference import load_reference_pack
    from pytest_lips.resources import default_pack_dir

    pack = tmp_path / "pack"
    shutil.copytree(default_pack_dir(), pack)
    edited = next(p for p in sorted(pack.rglob("*.extxyz")) if p.stat().st_size < 200_000)
    edited.write_text(edited.read_text() + "\n")
    with pytest.raises(LipsDataError, match=r"python -m pytest_lips pack refresh PACK_DIR"):
        load_reference_pack(pack)
    done = subprocess.run(
        [sys.executable, "-m", "pytest_lips", "pack", "refresh", str(pack)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rel = edited.relative_to(pack).as_posix()
    assert f"1 checksum(s) changed: {rel}" in done.stderr
    load_reference_pack(pack)  # verified again
    missing = subprocess.run(
        [sys.executable, "-m", "pytest_lips", "pack", "refresh", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
    )
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert "nowhere" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1


FAKE_LIBRARY = '''\
import torch


class Irreps(torch.nn.Module):
    """Unpickles only with the layout that pickled it (as e3nn 0.6.0 meeting a graph-pes e3nn 0.4.4 model)."""

    def __getstate__(self):
        return {**self.__dict__, "pairs": (1, 2, 3)}

    def __setstate__(self, state):
        first, second = state["pairs"]
        super().__setstate__(state)
'''


def _model_with_fake_library(root: Path) -> Path:
    """A graph-pes model file holding an object of ``fakelib`` 0.6.0 (an installed distribution) that
    fails to unpickle with the error e3nn 0.6.0 gives on graph-pes's e3nn 0.4.4 objects."""
    (root / "fakelib").mkdir()
    (root / "fakelib" / "__init__.py").write_text(FAKE_LIBRARY)
    info = root / "fakelib-0.6.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakelib\nVersion: 0.6.0\n")
    (info / "top_level.txt").write_text("fakelib\n")
    path = root / "saved-with-fakelib.pt"
    script = textwrap.dedent(f"""\
        import sys, torch
        sys.path[:0] = [{str(root)!r}, {str(Path(__file__).parent)!r}]
        from conftest import make_model
        from fakelib import Irreps
        model = make_model()
        model.irreps = Irreps()
        torch.save(model, {str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", script], check=True)
    return path


def test_model_load_failure_names_the_library_and_prints_once_under_xdist(
    pytester: pytest.Pytester, lips_inputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("xdist")
    import os

    model = _model_with_fake_library(pytester.path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path), os.environ.get("PYTHONPATH", "")]))
    args = [a for a in lips_args(lips_inputs) if not a.startswith("--lips-model")]
    result = pytester.runpytest_subprocess(f"--lips-model={model}", *args, "-n", "2")  # workers need PYTHONPATH
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    message = (
        f"--lips-model {model}: loading failed inside fakelib 0.6.0 (ValueError: too many values to unpack "
        "(expected 2)): the file was most likely saved with another version of that library*"
    )
    result.stdout.fnmatch_lines([message])
    assert "not a graph-pes model file" not in out
    assert "During handling of the above exception" not in out
    errors = out.count("ERROR at setup of")
    printed = [line for line in out.splitlines() if line.startswith(f"--lips-model {model}: loading failed")]
    assert errors > 0 and len(printed) == errors  # once per item


def test_library_requirement_is_read_from_graph_pes_metadata() -> None:
    from importlib.metadata import requires

    from pytest_lips.models import required_by

    declared = [r for r in requires("graph-pes") or [] if r.replace(" ", "").startswith("e3nn")]
    assert declared, "graph-pes declares no e3nn requirement"
    assert required_by("graph-pes", "e3nn") == declared[0].replace(" ", "")[len("e3nn") :]
    assert required_by("graph-pes", "no-such-library") == ""


FACTORY_IMPORTING_GRAPH_PES = """
import torch
from graph_pes.utils.calculator import GraphPESCalculator


def make():
    return GraphPESCalculator(torch.load({path!r}, weights_only=False), skin=0.0)
"""


def test_factory_model_prints_no_library_warnings_before_the_header(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(factory_model=FACTORY_IMPORTING_GRAPH_PES.format(path=str(lips_inputs["model"])))
    args = [a for a in lips_args(lips_inputs) if not a.startswith("--lips-model")]
    result = pytester.runpytest_subprocess("--lips-model=factory_model:make", *args, "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK, result.stderr.str()[-2000:]
    assert "DeprecationWarning" not in result.stdout.str() + result.stderr.str()


# -- item 9: facts that change a verdict's meaning ----------------------------------------------------

SHORT_RELAX_AND_MD = """\
name: short-relax-md
protocol_version: "1"
description: issue 23 -- Task 1 relaxations cut at 1 step, one tiny Task 4 run
task1:
  fmax_eV_A: 0.001
  max_steps: 1
  structures: [Li2P2S6]
task4:
  n_atoms: 42
  relax_fmax_eV_A: 0.5
  relax_max_steps: 2
  temperatures_K: [1000]
  pressures_Pa: [1.0e+8]
  repeats: 1
  timestep_fs: 1.0
  production_ps: 0.005
  sample_interval_fs: 5.0
"""


def test_unconverged_relaxation_and_engine_choice_are_said(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(factory_model=FACTORY_IMPORTING_GRAPH_PES.format(path=str(lips_inputs["model"])))
    pytester.syspathinsert()
    profile = pytester.path / "short.yaml"
    profile.write_text(SHORT_RELAX_AND_MD)
    report = pytester.path / "r.json"
    result = pytester.runpytest(
        "--lips-model=factory_model:make",
        f"--lips-profile={profile}",
        "--lips-engine=auto",
        f"--lips-report={report}",
        f"--lips-cache-dir={pytester.path / 'cache'}",
        "-p",
        "no:randomly",
        *LOOSE_TASK1,
    )
    flat = " ".join(result.stdout.str().split())
    data = json.loads(report.read_text())
    task1 = {m["key"]: m for m in data["results"]["factory_model.make"]["task1"]["metrics"]}
    relaxed = task1["task1.ef_rmse_relaxed"]
    assert "relaxation NOT CONVERGED within 1 steps" in relaxed["note"]
    assert "Li2P2S6" in relaxed["details"]["unconverged"] and "P2S5 (end member)" in relaxed["details"]["unconverged"]
    assert task1["task1.ef_rmse_single_point"]["details"]["unconverged"] == []  # no relaxation there
    assert "relaxation NOT CONVERGED (see the metric's note):" in result.stdout.str()
    assert "task1.ef_rmse_relaxed: E_f from unconverged relaxations of" in flat
    # --lips-engine auto: the report and the summary say which engine and why
    engine = data["environment"]["md_engine"]["models"]["factory_model.make"]
    assert engine["engines"][0].startswith("ase-")
    assert engine["reason"].startswith("auto: the model is a plain ASE calculator")
    assert "MD engine: ase-" in flat and "(auto: the model is a plain ASE calculator" in flat
