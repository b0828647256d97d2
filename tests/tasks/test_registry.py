"""The task registry is the one list of tasks: profiles, ``--lips-tasks``, markers, collection, xdist
batching, gate items, report order, plots, baseline scopes and run keys all read it.

A task added to :data:`pytest_lips.tasks.registry.TASKS` (here by monkeypatching, or from a conftest.py in a
pytester run) is validated in profiles, selected by its alias, collected from its own suite module, marked,
gated and reported in the registry's order, without touching any other module of ``pytest_lips/``.
"""

from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest

from pytest_lips.errors import LipsUsageError
from pytest_lips.tasks import registry
from pytest_lips.tasks.registry import GateItem, TaskSpec, task_names, task_spec

TOY = TaskSpec(
    name="toytask",
    aliases=("toy",),
    title="a toy task added by a test",
    suite_module="lips_toy_suite",
    uses_pack=False,
    batched_md=True,
    gates=(GateItem("toytask.value", "test_toy_value"),),
)


def with_toy(monkeypatch: pytest.MonkeyPatch, position: int = 1) -> None:
    """TASKS with the toy task inserted at ``position`` (after the test split: before Task 1)."""
    tasks = list(registry.TASKS)
    tasks.insert(position, TOY)
    monkeypatch.setattr(registry, "TASKS", tuple(tasks))


# -- the shipped registry ------------------------------------------------------------------------------------
def test_shipped_tasks_in_canonical_order_and_aliases() -> None:
    assert task_names() == ("test_split", "task1", "task2", "task3", "task4")
    assert task_spec("3") is task_spec("task3") is task_spec(" TASK3 ")
    assert task_spec("split").name == "test_split"
    with pytest.raises(KeyError, match="unknown task 'task9'"):
        task_spec("task9")
    assert [s.marker for s in registry.TASKS] == [f"lips_{n}" for n in task_names()]
    assert {s.name for s in registry.TASKS if s.batched_md} == {"task3", "task4"}
    assert {s.name for s in registry.TASKS if not s.uses_pack} == {"test_split", "task4"}


def test_every_spec_points_at_real_code() -> None:
    """Suite modules exist and define the gate functions; protocols parse an empty section; plots resolve."""
    for spec in registry.TASKS:
        path = spec.suite_path()
        assert path.is_file() and path.name == spec.suite_file
        functions = {n.name for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.FunctionDef)}
        for gate in spec.gates:
            assert gate.function in functions, (spec.name, gate.function)
            assert gate.metric.startswith(spec.metric_prefix)
        protocol = spec.protocol_type()
        assert protocol is not None and dataclasses.is_dataclass(protocol.from_section({}))
        for plot in spec.plots:
            assert callable(plot.builder()) and plot.metric.startswith(spec.metric_prefix)
        for _name, _title, function in spec.comparison_plots:
            assert callable(registry.resolve(function))


def test_metric_inputs_follow_the_registry() -> None:
    assert registry.metric_inputs("test_split.force_rmse") == (False, True)
    assert registry.metric_inputs("task1.ef_rmse_relaxed") == (True, False)
    assert registry.metric_inputs("task2.force_rmse") == (True, False)
    assert registry.metric_inputs("task2.dataset_force_rmse") == (False, True)
    assert registry.metric_inputs("task4.survival_fraction") == (False, False)
    assert registry.metric_inputs("other.x") == (False, False)


# -- an added task reaches every consumer -----------------------------------------------------------------------
def test_profiles_validate_sections_against_the_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_lips.profiles import load_profile, parse_protocols

    path = tmp_path / "toy.yaml"
    path.write_text("name: toy\ntask1: {}\ntoytask: {}\ntest_split: {}\n")
    with pytest.raises(LipsUsageError, match=r"unknown sections \['toytask'\]"):
        load_profile(str(path))
    with_toy(monkeypatch)
    profile = load_profile(str(path))
    assert profile.tasks == ("test_split", "toytask", "task1")  # the registry's order, not the file's
    parsed = parse_protocols(profile, profile.tasks)
    assert parsed["toytask"] is None and parsed["task1"] is not None  # a task without settings


def test_tasks_option_gates_order_and_batching_read_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_lips.gates import gate_nodeid, gated_metrics
    from pytest_lips.plugin import md_batch_scope
    from pytest_lips.report.json_report import task_order
    from pytest_lips.settings import parse_tasks

    with pytest.raises(pytest.UsageError, match="unknown task 'toy'"):
        parse_tasks("toy")
    assert md_batch_scope("lips/lips_toy_suite.py::test_toy_run[m-r1]", ["m"]) is None
    with_toy(monkeypatch)
    assert parse_tasks("task1, toy") == ["task1", "toytask"]
    assert registry.markers()["lips_toytask"] == TOY.title
    assert md_batch_scope("lips/lips_toy_suite.py::test_toy_run[m-r1]", ["m"]) == "lips/lips_toy_suite.py::m"
    assert sorted(["task1", "toytask", "test_split", "zzz"], key=task_order) == [
        "test_split",
        "toytask",
        "task1",
        "zzz",
    ]
    thresholds = {
        "task1.ef_rmse_relaxed": {"metric": "task1.ef_rmse_relaxed", "direction": "max"},
        "toytask.value": {"metric": "toytask.value", "direction": "max"},
    }
    assert gated_metrics(thresholds, ["task1", "toytask"]) == ["toytask.value", "task1.ef_rmse_relaxed"]
    assert gate_nodeid("toytask.value", "m") == "lips/lips_toy_suite.py::test_toy_value[m]"


def test_report_plots_read_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    """A plot a task declares is drawn (and titled) from its spec; the report's task order is the registry's."""
    from pytest_lips.report.plots import report_figures

    spec = dataclasses.replace(
        TOY,
        plots=(registry.PlotSpec("toy_parity", "toytask.value", "Toy parity", f"{__name__}:_toy_plot"),),
    )
    monkeypatch.setattr(registry, "TASKS", (*registry.TASKS, spec))
    metric = {"key": "toytask.value", "value": 2.0, "unit": "1", "task": "toytask", "details": {}}
    report = {"results": {"m": {"toytask": {"metrics": [metric]}}}, "thresholds": {}}
    [figure] = report_figures(report)
    assert figure.name == "m_toy_parity" and figure.title == "m: Toy parity"


def _toy_plot(metrics, *, model: str = "", thresholds=None):
    from matplotlib.figure import Figure

    fig = Figure()
    fig.add_subplot().bar([0], [metrics["toytask.value"]["value"]])
    return fig


SUITE = """
from pytest_lips.results import Metric


def test_toy_value(lips_model, lips_check):
    lips_check(Metric(key="toytask.value", value=2.0, unit="1", task="toytask"))


def test_toy_reported(lips_model, lips_check):
    lips_check(Metric(key="toytask.reported", value=0.5, unit="1", task="toytask", gated=False, note="a toy"))
"""

CONFTEST = """
import pytest

from pytest_lips.tasks import registry
from pytest_lips.tasks.registry import GateItem, TaskSpec
from pytest_lips.thresholds import Threshold

registry.TASKS = (
    registry.TASKS[0],
    TaskSpec(
        name="toytask",
        aliases=("toy",),
        title="a toy task added by a conftest",
        suite_module="lips_toy_suite",
        protocol=None,
        uses_pack=False,
        gates=(GateItem("toytask.value", "test_toy_value"),),
    ),
    *registry.TASKS[1:],
)


def pytest_lips_thresholds(config, thresholds):
    thresholds.items_["toytask.value"] = Threshold(
        key="toytask.value", value=1.0, unit="1", direction="max", metric="toytask.value", source="toy"
    )
"""

MODEL = """
from ase.calculators.lj import LennardJones


def make():
    return LennardJones(sigma=2.2, epsilon=0.05, rc=5.0, smooth=True)
"""


def test_a_task_added_to_the_registry_is_collected_marked_gated_and_reported(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """No module of pytest_lips/ names the toy task: the conftest's TaskSpec, its suite and profile section suffice."""
    pytester.makepyfile(lips_toy_suite=SUITE, toy_model=MODEL, conftest=CONFTEST)
    profile = pytester.path / "toy.yaml"
    profile.write_text('name: toy\nprotocol_version: "1"\ntask1: {}\ntoytask: {}\n')
    report = tmp_path / "report.json"
    common = ["--lips-model=toy_model:make", f"--lips-profile={profile}", f"--lips-cache-dir={tmp_path / 'cache'}"]
    result = pytester.runpytest_subprocess(
        *common,
        "--lips-tasks=task1,toy",
        "-m",
        "lips_toytask and lips",
        "--strict-markers",
        "-v",
        f"--lips-report={report}",
    )
    result.stdout.fnmatch_lines(
        [
            "*lips/lips_toy_suite.py::test_toy_value?toy_model.make? FAILED*",
            "*lips/lips_toy_suite.py::test_toy_reported?toy_model.make? PASSED*",
        ]
    )
    assert "Traceback" not in result.stdout.str()
    data = json.loads(report.read_text())
    metrics = {m["key"]: m for m in data["results"]["toy_model.make"]["toytask"]["metrics"]}
    assert metrics["toytask.value"]["value"] == 2.0
    assert data["selection"]["tasks"] == ["toytask", "task1"]  # the registry's order, not the option's
    # the marker came from the registry: registered (else --strict-markers stops the run) and applied (-m)
    # deselected, the toy gate is NOT RUN and names its item from the registry's GateItem; strict fails the run
    strict = pytester.runpytest_subprocess(*common, "--lips-tasks=toy", "-k", "not toy_value", "--lips-strict")
    assert strict.ret == pytest.ExitCode.TESTS_FAILED
    text = " ".join(strict.stdout.str().split())
    assert "toytask.value" in text and "NOT RUN" in text
