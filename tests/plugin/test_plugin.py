"""The plugin end to end through pytester: options, ini keys, threshold layers, models, reports, errors."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def lips_args(inputs: dict[str, Path], *extra: str, model: str = "model") -> list[str]:
    return [
        f"--lips-model={inputs[model]}",
        f"--lips-profile={inputs['profile']}",
        f"--lips-data={inputs['data']}",
        "--lips-offline",
        "-p",
        "no:randomly",
        *extra,
    ]


def read_report(path: Path) -> dict:
    return json.loads(path.read_text())


def metric_values(report: dict, key: str) -> dict[str, float]:
    out = {}
    for model, tasks in report["results"].items():
        for task in tasks.values():
            for metric in task["metrics"]:
                if metric["key"] == key:
                    out[model] = metric["value"]
    return out


def test_no_model_adds_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_unrelated(): pass")
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("*lips/*")
    result.stdout.no_fnmatch_line("*LiPS-25 summary*")


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    for option in (
        "--lips-model",
        "--lips-profile",
        "--lips-tasks",
        "--lips-device",
        "--lips-seed",
        "--lips-report",
        "--lips-cache-dir",
        "--lips-threshold",
        "--lips-data",
        "--lips-reference",
        "--lips-energy-offset",
        "--lips-baseline",
        "--lips-save-baseline",
        "--lips-tolerance",
        "--lips-plots",
        "--lips-fresh",
        "--lips-offline",
    ):
        result.stdout.fnmatch_lines([f"*{option}*"])
    result.stdout.fnmatch_lines(["*lips_model*", "*lips_thresholds*"])  # ini keys


def test_main_run_summary_report_and_ids(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "report.json"
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={report}", "-v"))
    result.stdout.fnmatch_lines(
        [
            "*lips/test_test_split.py::test_test_split_energy_rmse[[]good[]] PASSED*",
            "*lips/test_test_split.py::test_test_split_force_rmse[[]good[]] PASSED*",
            "*LiPS-25 summary (pytest-lips)*",
            "*force_rmse*",
            f"*pytest-lips wrote {report}*",
        ]
    )
    assert result.ret == 0
    data = read_report(report)
    [model] = data["models"]
    assert model["name"] == "good" and len(model["sha256"]) == 64
    assert data["profile"]["name"] == "micro"
    assert "test_split.force_rmse" in data["thresholds"]
    assert metric_values(data, "test_split.force_rmse")["good"] == pytest.approx(0.0, abs=1e-5)


def test_ini_keys(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makeini(
        textwrap.dedent(f"""
        [pytest]
        lips_model = {lips_inputs["worse"]}
        lips_profile = {lips_inputs["profile"]}
        lips_data = {lips_inputs["data"]}
        lips_offline = true
        lips_tasks = test_split
        lips_thresholds =
            test_split.force_rmse=1e-9
    """)
    )
    result = pytester.runpytest("-p", "no:randomly")
    result.stdout.fnmatch_lines(["*FAILED*test_test_split_force_rmse*worse*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_threshold_layers_hook_then_cli(pytester: pytest.Pytester, lips_inputs) -> None:
    # Measure the worse model's force RMSE with default thresholds first.
    report = pytester.path / "r.json"
    pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={report}", model="worse"))
    rmse = metric_values(read_report(report), "test_split.force_rmse")["worse"]
    assert rmse > 0
    # A conftest hook tightening the threshold below the measured value turns the pass into a fail...
    pytester.makeconftest(
        textwrap.dedent(f"""
        def pytest_lips_thresholds(config, thresholds):
            thresholds["test_split.force_rmse"] = {rmse / 2!r}
            thresholds["test_split.energy_rmse"] = 1e6
    """)
    )
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={report}", model="worse"))
    result.stdout.fnmatch_lines(["*test_split.force_rmse = * violates threshold test_split.force_rmse ≤ *margin -*"])
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert read_report(report)["thresholds"]["test_split.force_rmse"]["origin"] == "hook"
    # ...and --lips-threshold, the top layer, wins over the hook.
    result = pytester.runpytest(
        *lips_args(
            lips_inputs, f"--lips-threshold=test_split.force_rmse={rmse * 2}", f"--lips-report={report}", model="worse"
        )
    )
    assert result.ret == 0
    used = read_report(report)["thresholds"]["test_split.force_rmse"]
    assert used["origin"] == "cli" and used["value"] == pytest.approx(rmse * 2)


def test_several_models_side_by_side(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "r.json"
    args = lips_args(lips_inputs, f"--lips-model={lips_inputs['worse']}", f"--lips-report={report}", "-v")
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["*test_test_split_force_rmse[[]good[]]*", "*test_test_split_force_rmse[[]worse[]]*"])
    values = metric_values(read_report(report), "test_split.force_rmse")
    assert set(values) == {"good", "worse"} and values["worse"] > values["good"]
    result.stdout.fnmatch_lines(["*Metric*good*worse*"])  # one column per model


def test_k_and_last_failed(pytester: pytest.Pytester, lips_inputs) -> None:
    args = lips_args(lips_inputs, "--lips-threshold=test_split.force_rmse=1e-9", model="worse")
    result = pytester.runpytest(*args, "-k", "test_test_split_force_rmse")
    result.assert_outcomes(failed=1)
    result = pytester.runpytest(*args, "--lf", "-v")
    result.stdout.fnmatch_lines(["*run-last-failure: rerun previous 1 failure*"])
    result.assert_outcomes(failed=1)


def test_junit_xml(pytester: pytest.Pytester, lips_inputs) -> None:
    junit = pytester.path / "junit.xml"
    result = pytester.runpytest(*lips_args(lips_inputs, f"--junitxml={junit}", "-k", "force_rmse or energy_rmse"))
    assert result.ret == 0
    text = junit.read_text()
    assert 'classname="lips.test_test_split"' in text
    assert 'name="lips_metric"' in text  # metrics travel as junit properties


def test_xdist_gives_the_serial_report(pytester: pytest.Pytester, lips_inputs) -> None:
    pytest.importorskip("xdist")
    from pytest_lips.report import strip_timings

    serial, parallel = pytester.path / "serial.json", pytester.path / "parallel.json"
    assert pytester.runpytest_subprocess(*lips_args(lips_inputs, f"--lips-report={serial}")).ret == 0
    result = pytester.runpytest_subprocess(*lips_args(lips_inputs, f"--lips-report={parallel}", "-n", "2"))
    assert result.ret == 0
    assert strip_timings(read_report(serial)) == strip_timings(read_report(parallel))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: str(root / "missing.pt"), "ERROR: --lips-model */missing.pt: no such file*"),
        (
            lambda root: (root / "text.pt").write_text("x") and str(root / "text.pt"),
            "ERROR: --lips-model */text.pt: not a graph-pes model file*",
        ),
        ("no-lips", "ERROR: --lips-model */no-lips.pt: the model has never seen Li, P, S*"),
        ("nan", "ERROR: --lips-model */nan.pt: the model returns non-finite energy or forces*"),
    ],
    ids=["missing-file", "not-a-model", "no-li-p-s", "returns-nan"],
)
def test_bad_models_are_clear_usage_errors(pytester: pytest.Pytester, make, message) -> None:
    import torch
    from graph_pes.models import AdditionModel, FixedOffset, LennardJones

    root = pytester.path
    if make == "no-lips":
        torch.save(AdditionModel(offset=FixedOffset(H=-1.0, C=-2.0), pair=LennardJones()), root / "no-lips.pt")
        spec = str(root / "no-lips.pt")
    elif make == "nan":
        torch.save(LennardJones(epsilon=float("nan")), root / "nan.pt")
        spec = str(root / "nan.pt")
    else:
        spec = make(root)
    result = pytester.runpytest(f"--lips-model={spec}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_bad_models_under_xdist_are_clear(pytester: pytest.Pytester, lips_inputs) -> None:
    """Under ``-n 2`` the controller loads no model: it refuses what is surely not a model at start-up
    (USAGE_ERROR); a model that only loading can refuse is the ERROR of each of its items, with the
    same message, never a crashed worker."""
    pytest.importorskip("xdist")
    import torch
    from graph_pes.models import AdditionModel, FixedOffset, LennardJones

    root = pytester.path
    torch.save({"weights": torch.zeros(3)}, root / "state.pt")
    result = pytester.runpytest_subprocess(*lips_args({**lips_inputs, "model": root / "state.pt"}, "-n", "2"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --lips-model */state.pt: the file holds a builtins.dict, not a graph-pes*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()

    torch.save(AdditionModel(offset=FixedOffset(H=-1.0, C=-2.0), pair=LennardJones()), root / "no-lips.pt")
    result = pytester.runpytest_subprocess(
        *lips_args({**lips_inputs, "model": root / "no-lips.pt"}, "-n", "2", "-k", "force_rmse or energy_rmse")
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    outcomes = result.parseoutcomes()
    assert outcomes.get("errors", 0) >= 2 and not outcomes.get("passed") and not outcomes.get("failed")
    result.stdout.fnmatch_lines(["*--lips-model */no-lips.pt: the model has never seen Li, P, S*"])
    assert "node down" not in result.stdout.str() and "Traceback" not in result.stdout.str()


@pytest.mark.parametrize(
    ("option", "message"),
    [
        ("--lips-threshold=task9.x=1", "*unknown pytest-lips threshold 'task9.x'; valid keys are:*"),
        ("--lips-profile=nonsense", "*unknown profile 'nonsense'; choose one of ci, paper, smoke*"),
        ("--lips-tasks=task7", "*unknown task 'task7'*"),
        ("--lips-seed=abc", "*--lips-seed / lips_seed: expected an integer*"),
        ("--lips-energy-offset=maybe", "*expected auto or none*"),
    ],
)
def test_bad_options_are_usage_errors(pytester: pytest.Pytester, lips_inputs, option, message) -> None:
    result = pytester.runpytest(f"--lips-model={lips_inputs['model']}", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_missing_data_is_skipped_with_instructions(pytester: pytest.Pytester, lips_inputs) -> None:
    result = pytester.runpytest(
        f"--lips-model={lips_inputs['model']}", f"--lips-profile={lips_inputs['profile']}", "--lips-offline", "-rs"
    )
    result.stdout.fnmatch_lines(["*SKIPPED*--lips-data*"])
    assert result.ret == 0


def test_corrupt_data_file_is_an_error_not_a_traceback(pytester: pytest.Pytester, lips_inputs) -> None:
    broken = pytester.path / "broken.extxyz"
    text = Path(lips_inputs["data"]).read_text().splitlines()
    broken.write_text("\n".join(text[: len(text) // 2 - 3]) + "\n")
    result = pytester.runpytest(
        f"--lips-model={lips_inputs['model']}",
        f"--lips-profile={lips_inputs['profile']}",
        f"--lips-data={broken}",
        "--lips-offline",
    )
    result.stdout.fnmatch_lines(["*ERROR at setup of*", f"*{broken.name}*"])
    assert "Traceback" not in result.stdout.str()


def test_conftest_fixture_override_of_the_model(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makeconftest(
        textwrap.dedent(f"""
        import pytest, torch
        from pytest_lips.models import model_from_graph_pes

        @pytest.fixture(scope="session")
        def lips_model():
            return model_from_graph_pes("in-memory", torch.load({str(lips_inputs["model"])!r}, weights_only=False))
    """)
    )
    report = pytester.path / "r.json"
    result = pytester.runpytest(
        f"--lips-profile={lips_inputs['profile']}",
        f"--lips-data={lips_inputs['data']}",
        "--lips-offline",
        f"--lips-report={report}",
    )
    assert result.ret == 0
    assert [m["name"] for m in read_report(report)["models"]] == ["in-memory"]
    # --lips-model as well: the override would be tested under the --lips-model name -- refused at once
    result = pytester.runpytest(*lips_args(lips_inputs))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --lips-model */good.pt: */conftest.py overrides the lips_model fixture*"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_not_gated_metric_is_skipped_with_reason(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(
        conftest=textwrap.dedent("""
        import pytest
        from pytest_lips.results import Metric

        @pytest.fixture
        def too_short():
            return Metric("task2.force_rmse", 0.1, "eV/Å", gated=False, note="profile too short for a verdict")
    """)
    )
    pytester.makepyfile(
        test_inner=textwrap.dedent("""
        def test_inner(lips_check, too_short):
            lips_check(too_short)
    """)
    )
    result = pytester.runpytest(*lips_args(lips_inputs, "-rs", "--lips-tasks=test_split", "-k", "inner"))
    result.stdout.fnmatch_lines(["*SKIPPED*reported, not gated: task2.force_rmse = 0.1 eV/Å: profile too short*"])


def test_suite_is_not_collected_twice_when_the_package_is_under_the_test_path(
    pytester: pytest.Pytester, lips_inputs
) -> None:
    from pytest_lips.plugin import SUITE_DIR

    result = pytester.runpytest(str(SUITE_DIR.parent), *lips_args(lips_inputs), "--co", "-q")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert ids and all(line.startswith("lips/") for line in ids), ids[:5]
    assert len(ids) == len(set(ids))


def test_progress_lines_and_quiet(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(
        test_progress=textwrap.dedent("""
        def test_md_like(lips_progress):
            callback = lips_progress("demo run", 100)
            for step in range(0, 101, 10):
                callback(step)
    """)
    )
    args = [*lips_args(lips_inputs, "--lips-tasks=test_split"), "-k", "md_like"]
    result = pytester.runpytest(*args)
    result.stdout.fnmatch_lines(["[[]lips[]] demo run: 100/100 steps (100 %)*done in * s"])
    quiet = pytester.runpytest(*args, "-q")
    quiet.stdout.no_fnmatch_line("*demo run*")
