import json

import pytest
from report_synthetic import make_report

from pytest_lips.errors import LipsUsageError
from pytest_lips.report import SCHEMA_VERSION, dumps, load_report, strip_timings, write_report
from pytest_lips.results import Metric


def test_structure(report):
    assert report["schema_version"] == SCHEMA_VERSION == 1
    assert report["profile"] == {"name": "ci", "description": "CI profile"}
    assert list(report["results"]["mace-a"]) == ["test_split", "task1", "task2", "task3", "task4"]
    task3 = report["results"]["mace-a"]["task3"]
    assert [m["key"] for m in task3["metrics"]] == ["task3.activation_energy", "task3.sigma298"]
    assert {v["threshold"] for v in task3["verdicts"] if v["metric"] == "task3.sigma298"} == {
        "task3.sigma298_min",
        "task3.sigma298_max",
    }
    assert [r["run_id"] for r in task3["runs"]] == ["T600K-r1", "T600K-r2", "T700K-r1", "T700K-r2"]
    assert report["summary"]["gate"] == "PASS"
    assert report["summary"]["models"]["mace-a"]["verdicts"]["fail"] == 0


def test_deterministic_ordering_apart_from_timings(tmp_path):
    serial = make_report(models=("b-model", "a-model"))
    shuffled = make_report(
        models=("a-model", "b-model"), shuffle_seed=3, started_at="2026-02-02T10:00:00+00:00", duration_s=99.0
    )
    for tasks in shuffled["results"].values():  # xdist workers: other wall times
        for task in tasks.values():
            for run in task["runs"]:
                run["wall_s"] += 1.0
                run.setdefault("extra", {})["batch_wall_s"] = 5.0  # engine timings of the batch
            for metric in task.get("metrics", []):
                metric.setdefault("details", {})["wall_s"] = 0.93  # e.g. Task 2's evaluation time
    assert dumps(serial) != dumps(shuffled)
    assert dumps(strip_timings(serial)) == dumps(strip_timings(shuffled))
    a = write_report(serial, tmp_path / "a.json").read_text()
    assert a == dumps(serial)
    assert [m["name"] for m in serial["models"]] == ["a-model", "b-model"]


def test_duplicates_and_nan_are_handled():
    m = Metric(
        "task2.force_rmse",
        float("nan"),
        "eV/Å",
        "x",
        "task2",
        uncertainty=float("inf"),
        details={"arr": (1.0, float("nan"))},
    )
    rep = make_report(models=("x",), metrics=[m.to_dict(), m.to_dict()], verdicts=[], runs=[])
    metrics = rep["results"]["x"]["task2"]["metrics"]
    assert len(metrics) == 1 and metrics[0]["value"] is None and metrics[0]["uncertainty"] is None
    assert metrics[0]["details"]["arr"] == [1.0, None]
    json.loads(dumps(rep))  # strict JSON


def test_baseline_verdicts_are_filed_separately(report):
    from pytest_lips.report import Baseline
    from pytest_lips.thresholds import default_thresholds
    from pytest_lips.tolerances import default_tolerances

    tol = default_tolerances(default_thresholds())
    rep = make_report(baseline=Baseline.from_report(report, "b.json"), tolerances=tol)
    task2 = rep["results"]["mace-a"]["task2"]
    assert [c["metric"] for c in task2["baseline"]] == ["task2.force_rmse"]
    assert all("kind" not in v for v in task2["verdicts"])
    assert rep["baseline"]["path"] == "b.json" and rep["tolerances"]["default"] == "+5%"


def test_failed_outcome_fails_gate():
    rep = make_report(outcomes={"test_task1[x]": "failed"})
    assert rep["summary"]["gate"] == "FAIL"
    assert rep["summary"]["outcomes"] == {"failed": 1}


def test_load_report_errors(tmp_path, report):
    with pytest.raises(LipsUsageError, match="nope.json does not exist"):
        load_report(tmp_path / "nope.json")
    (tmp_path / "trunc.json").write_text(dumps(report)[:200])
    with pytest.raises(LipsUsageError, match="trunc.json is not valid JSON"):
        load_report(tmp_path / "trunc.json")
    (tmp_path / "x.json").write_text('{"a": 1}')
    with pytest.raises(LipsUsageError, match="x.json is not a pytest-lips report"):
        load_report(tmp_path / "x.json")
    future = dict(report, schema_version=99)
    (tmp_path / "f.json").write_text(json.dumps(future))
    with pytest.raises(LipsUsageError, match="f.json has report schema_version 99"):
        load_report(tmp_path / "f.json")
    write_report(report, tmp_path / "ok.json")
    loaded = load_report(tmp_path / "ok.json")
    assert strip_timings(loaded) == strip_timings(json.loads(dumps(report)))
