import json

import pytest
from report_synthetic import make_metrics, make_report

from pytest_lips.errors import LipsUsageError
from pytest_lips.report import Baseline, load_baseline, save_baseline
from pytest_lips.results import Metric


def _metric(key, metrics):
    return next(m for m in metrics if m.key == key)


def test_round_trip(tmp_path, report):
    path = save_baseline(report, tmp_path / "sub" / "baseline.json")
    raw = json.loads(path.read_text())
    assert raw["kind"] == "pytest-lips-baseline" and raw["profile"] == "ci" and raw["protocol_version"] == "1"
    assert raw["models"][0]["sha256"] and raw["environment"]["python"]
    entry = raw["metrics"]["mace-a"]["task3.sigma298"]
    assert entry["interval"] == [20.0, 42.0] and "details" not in entry
    base = load_baseline(path)
    assert base.model_names == ["mace-a"]
    assert base.metrics["mace-a"]["task2.force_rmse"]["value"] == pytest.approx(0.15)
    # a full report works as a baseline too
    (tmp_path / "r.json").write_text(json.dumps(report))
    assert load_baseline(tmp_path / "r.json").metrics == base.metrics


def test_worsened_forces_regress(tolerances, report):
    base = Baseline.from_report(report)
    worse = make_metrics("mace-a", force_scale=1.1)  # every force error +10 %
    reg = base.compare(_metric("task2.force_rmse", worse), tolerances)
    assert reg is not None and not reg.passed
    assert reg.worsening == pytest.approx(0.015)
    assert reg.allowed == pytest.approx(0.0075)
    for word in ("task2.force_rmse", "0.165", "0.15", "+5%", "0.0075", "+10.0%"):
        assert word in reg.message, (word, reg.message)
    # unchanged metrics, and improvements, pass
    assert base.compare(_metric("task1.ef_rmse_relaxed", worse), tolerances) is None
    better = make_metrics("mace-a", force_scale=0.8)
    check = base.check(_metric("task2.force_rmse", better), tolerances)
    assert check.passed and check.worsening < 0
    # per-category force RMSE has +10 %: exactly 10 % worse is still within tolerance
    assert base.compare(_metric("test_split.li2s.force_rmse", worse), tolerances) is None


def test_no_baseline_no_regression_in_report(tolerances):
    report = make_report(force_scales={"mace-a": 1.1})
    assert report["summary"]["gate"] == "PASS"
    assert all(not t["baseline"] for t in report["results"]["mace-a"].values())


def test_worsened_report_fails_gate(tolerances, report):
    base = Baseline.from_report(report)
    worse = make_report(force_scales={"mace-a": 1.1}, baseline=base, tolerances=tolerances)
    assert worse["summary"]["gate"] == "FAIL"
    # test_split.force_rmse and task2.force_rmse (+10 % > +5 %); the per-category one has +10 % allowed
    assert worse["summary"]["models"]["mace-a"]["regressions"] == 2
    same = make_report(baseline=base, tolerances=tolerances)
    assert same["summary"]["gate"] == "PASS"


def test_change_inside_combined_uncertainty_is_not_regression(tolerances):
    base = Baseline.from_report(make_report(sigma={"mace-a": 20.0}))  # interval [20, 42] (value at low edge)
    # sigma below the band: 14 vs 20 is 3 mS/cm further from the band (allowed 10 % of 20 = 2), but the
    # facing half-widths (25 - 14 = 11 and 0) make the 6 mS/cm change insignificant
    now = Metric("task3.sigma298", 14.0, "mS/cm", "mace-a", "task3", interval=(10.0, 25.0))
    check = base.check(now, tolerances)
    assert check.direction == "band" and check.worsening == pytest.approx(3.0)
    assert check.combined_uncertainty == pytest.approx(11.0)
    assert check.passed and "inside the combined 95 % uncertainty" in check.note
    # the same move with tight intervals is a regression
    tight = Metric("task3.sigma298", 14.0, "mS/cm", "mace-a", "task3", interval=(13.9, 14.1))
    base_tight = Baseline(
        {
            "kind": "pytest-lips-baseline",
            "protocol_version": "1",
            "profile": "ci",
            "metrics": {"mace-a": {"task3.sigma298": {"value": 20.0, "unit": "mS/cm", "interval": [19.9, 20.1]}}},
        }
    )
    assert base_tight.compare(tight, tolerances) is not None


def test_band_moves_inside_band_never_regress(tolerances):
    base = Baseline.from_report(make_report(sigma={"mace-a": 30.0}))
    inside = Metric("task3.sigma298", 58.0, "mS/cm", "mace-a", "task3")
    assert base.compare(inside, tolerances) is None


def test_symmetric_uncertainty(tolerances):
    base = Baseline(
        {
            "kind": "pytest-lips-baseline",
            "protocol_version": "1",
            "profile": "ci",
            "metrics": {"m": {"task2.force_rmse": {"value": 0.10, "unit": "eV/Å", "uncertainty": 0.01}}},
        }
    )
    m = Metric("task2.force_rmse", 0.112, "eV/Å", "m", "task2", uncertainty=0.01)  # +12 %, combined 0.0141
    assert base.compare(m, tolerances) is None
    m = Metric("task2.force_rmse", 0.12, "eV/Å", "m", "task2", uncertainty=0.01)  # +20 % > 0.0141
    assert base.compare(m, tolerances) is not None


def test_two_sided_and_nan(tolerances):
    base = Baseline.from_report(make_report())
    ea = Metric("task3.activation_energy", 0.15, "eV", "mace-a", "task3", uncertainty=0.001)  # -25 %
    reg = base.compare(ea, tolerances)
    assert reg is not None and reg.direction == "two-sided"
    nan = Metric("task2.force_rmse", float("nan"), "eV/Å", "mace-a", "task2")
    reg = base.compare(nan, tolerances)
    assert reg is not None and "not finite" in reg.message


def test_model_matching(tolerances, report):
    base = Baseline.from_report(report)
    other = _metric("task2.force_rmse", make_metrics("mace-new", force_scale=1.1))
    reg = base.compare(other, tolerances)
    assert reg is not None and reg.baseline_model == "mace-a" and "baseline holds one model" in reg.note
    two = Baseline.from_report(make_report(models=("a", "b")))
    assert two.compare(other, tolerances) is None  # ambiguous: not compared
    assert two.check(_metric("task2.force_rmse", make_metrics("b", 1.1)), tolerances).baseline_model == "b"


def test_not_gated_metric_reports_but_does_not_gate(tolerances, report):
    base = Baseline.from_report(report)
    m = Metric("task2.force_rmse", 0.5, "eV/Å", "mace-a", "task2", gated=False, note="smoke profile")
    reg = base.compare(m, tolerances)
    assert reg is not None and reg.gated is False and "not gated" in reg.note


def test_refuses_other_protocol_or_profile(tmp_path, report):
    path = save_baseline(report, tmp_path / "b.json")
    base = load_baseline(path)
    base.check_compatible("ci", "1")
    with pytest.raises(LipsUsageError, match="protocol version '1'.*protocol version '2'") as err:
        base.check_compatible("ci", "2")
    assert str(path) in str(err.value)
    with pytest.raises(LipsUsageError, match="profile 'ci'.*profile 'paper'"):
        base.check_compatible("paper", "1")


def test_load_errors_name_the_file(tmp_path):
    with pytest.raises(LipsUsageError, match="missing.json does not exist"):
        load_baseline(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(LipsUsageError, match="bad.json is not valid JSON"):
        load_baseline(bad)
    other = tmp_path / "other.json"
    other.write_text("[1, 2]")
    with pytest.raises(LipsUsageError, match="other.json is neither"):
        load_baseline(other)


def test_unit_change_is_refused(tolerances, report):
    base = Baseline.from_report(report)
    with pytest.raises(LipsUsageError, match="meV/Å"):
        base.check(Metric("task2.force_rmse", 150.0, "meV/Å", "mace-a", "task2"), tolerances)
