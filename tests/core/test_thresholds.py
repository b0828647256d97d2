"""Threshold layers, parsing and verdict messages."""

from __future__ import annotations

import math

import pytest

from pytest_lips.errors import LipsUsageError
from pytest_lips.results import Metric
from pytest_lips.thresholds import default_thresholds, load_default_thresholds


def test_defaults_have_unit_direction_and_source() -> None:
    thresholds = default_thresholds()
    assert len(thresholds) >= 10
    for key, threshold in thresholds.items():
        assert threshold.unit, key
        assert threshold.direction in ("max", "min", "setting"), key
        assert threshold.source, key
    assert thresholds["task3.sigma298_min"].metric == "task3.sigma298"
    assert thresholds.value("task3.sigma298_max") == 61.0


def test_max_threshold_pass_fail_and_margin() -> None:
    thresholds = default_thresholds()
    ok = Metric("task2.force_rmse", 0.25, "eV/Å", model="m")
    bad = Metric("task2.force_rmse", 0.41, "eV/Å", model="m", uncertainty=0.02)
    [good_verdict] = thresholds.evaluate(ok)
    [bad_verdict] = thresholds.evaluate(bad)
    assert good_verdict.passed is True and math.isclose(good_verdict.margin, 0.05)
    assert bad_verdict.passed is False and math.isclose(bad_verdict.margin, -0.11)
    # The message names metric, value with uncertainty, unit, threshold and margin.
    for fragment in ("task2.force_rmse", "0.41 ± 0.02 eV/Å", "≤ 0.3 eV/Å", "margin -0.11"):
        assert fragment in bad_verdict.message


def test_band_gives_two_verdicts() -> None:
    thresholds = default_thresholds()
    verdicts = thresholds.evaluate(Metric("task3.sigma298", 70.0, "mS/cm", interval=(50.0, 90.0)))
    assert sorted(v.threshold.key for v in verdicts) == ["task3.sigma298_max", "task3.sigma298_min"]
    assert [v.passed for v in verdicts if v.threshold.direction == "max"] == [False]
    assert [v.passed for v in verdicts if v.threshold.direction == "min"] == [True]


def test_nan_never_passes() -> None:
    [verdict] = default_thresholds().evaluate(Metric("task2.force_rmse", float("nan"), "eV/Å"))
    assert verdict.passed is False
    assert "not finite" in verdict.message


def test_not_gated_metric_is_reported_only() -> None:
    metric = Metric("task2.force_rmse", 9.0, "eV/Å", gated=False, note="profile too short")
    [verdict] = default_thresholds().evaluate(metric)
    assert verdict.passed is None and verdict.message == "profile too short"


def test_layers_record_origin_and_keep_unit() -> None:
    thresholds = default_thresholds()
    thresholds.update_from_pairs(["task2.force_rmse=0.2", "# comment", ""], origin="ini")
    thresholds["task1.ef_rmse_relaxed"] = 5
    thresholds.update_from_pairs(["task2.force_rmse=0.1"], origin="cli")
    assert thresholds["task2.force_rmse"].value == 0.1
    assert thresholds["task2.force_rmse"].origin == "cli"
    assert thresholds["task2.force_rmse"].unit == "eV/Å"
    assert thresholds["task1.ef_rmse_relaxed"].origin == "hook"
    # the shipped defaults are untouched
    assert default_thresholds()["task2.force_rmse"].value == 0.30


def test_unknown_key_lists_valid_keys() -> None:
    thresholds = default_thresholds()
    with pytest.raises(LipsUsageError) as info:
        thresholds.update_from_pairs(["task9.nothing=1"], origin="cli")
    assert "task9.nothing" in str(info.value) and "task2.force_rmse" in str(info.value)


@pytest.mark.parametrize("pair", ["task2.force_rmse", "task2.force_rmse=abc", "=3", "task2.force_rmse=nan"])
def test_malformed_pairs_are_usage_errors(pair: str) -> None:
    with pytest.raises(LipsUsageError, match="--lips-threshold"):
        default_thresholds().update_from_pairs([pair], origin="cli")


def test_malformed_thresholds_file_names_the_file(tmp_path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text("thresholds:\n  a.b: {value: 1, direction: sideways, unit: x}\n")
    with pytest.raises(LipsUsageError, match=str(path)):
        load_default_thresholds(path)
