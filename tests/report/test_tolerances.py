import math

import pytest

from pytest_lips.errors import LipsUsageError
from pytest_lips.tolerances import Tolerance, ToleranceSet


def test_parse_forms():
    assert Tolerance.parse("k", "+5%").amount == pytest.approx(0.05)
    assert Tolerance.parse("k", "+5%").relative
    t = Tolerance.parse("k", "+0.01")
    assert not t.relative and t.amount == pytest.approx(0.01) and not t.two_sided
    assert Tolerance.parse("k", "±10%").two_sided
    assert Tolerance.parse("k", "+-10%").two_sided
    assert Tolerance.parse("k", "3").amount == 3
    assert Tolerance.parse("k", "off").off
    assert math.isinf(Tolerance.parse("k", "off").allowed(1.0))
    assert Tolerance.parse("k", "+5%").allowed(-2.0) == pytest.approx(0.1)
    for bad in ("-5%", "five", "5%%", ""):
        with pytest.raises(LipsUsageError, match="tolerance k"):
            Tolerance.parse("k", bad)


def test_directions_from_thresholds(tolerances):
    assert tolerances.rule("task2.force_rmse").direction == "max"
    assert tolerances.rule("task4.survival_fraction").direction == "min"
    rule = tolerances.rule("task3.sigma298")
    assert rule.direction == "band" and rule.band == (17.0, 61.0)
    # no threshold: error-like -> max, others two-sided
    assert tolerances.rule("test_split.li2s.force_rmse").direction == "max"
    assert tolerances.rule("task3.activation_energy").direction == "two-sided"
    assert tolerances.rule("task3.D_600K").direction == "two-sided"


def test_most_specific_key_wins(tolerances):
    assert tolerances.for_metric("task2.force_rmse").key == "task2.force_rmse"
    assert tolerances.for_metric("test_split.li2s.force_rmse").key == "test_split.*.force_rmse"
    assert tolerances.for_metric("task3.D_700K").text == "±25%"
    assert tolerances.for_metric("brand.new_metric").key == "default"


def test_layers_and_unknown_key(tolerances):
    tolerances.update_from_pairs(["task2.force_rmse=+7%", "# comment", "", "default=+1%"], origin="ini")
    assert tolerances.for_metric("task2.force_rmse").amount == pytest.approx(0.07)
    assert tolerances.for_metric("task2.force_rmse").origin == "ini"
    tolerances.update_from_pairs(["task2.force_rmse=+0.02"], origin="cli")
    assert tolerances.for_metric("task2.force_rmse").origin == "cli"
    assert not tolerances.for_metric("task2.force_rmse").relative
    # a concrete key matching a shipped pattern is accepted
    tolerances.update_from_pairs(["task3.D_900K=off"], origin="cli")
    assert tolerances.rule("task3.D_900K").direction == "off"
    with pytest.raises(LipsUsageError) as err:
        tolerances.update_from_pairs(["task9.nonsense=+5%"], origin="cli")
    text = str(err.value)
    assert "--lips-tolerance" in text and "task9.nonsense" in text and "task2.force_rmse" in text
    with pytest.raises(LipsUsageError, match="KEY=VALUE"):
        tolerances.update_from_pairs(["task2.force_rmse"], origin="cli")


def test_shipped_section_parses_and_covers_gated_metrics(thresholds):
    tol = ToleranceSet.load(thresholds=thresholds)
    assert tol["default"].text == "+5%"
    for t in thresholds.values():
        if t.direction != "setting":
            assert t.metric in tol.entries, f"no explicit tolerance for gated metric {t.metric}"
    assert tol.as_dict() == dict(sorted(tol.as_dict().items()))


def test_without_thresholds_falls_back_to_names():
    tol = ToleranceSet.from_mapping({"x.sigma": "+5%"})
    assert tol.rule("x.sigma").direction == "two-sided"
    assert tol.rule("x.force_rmse").direction == "max"
    assert tol["default"].text == "+5%"


def test_default_tolerances_without_thresholds_keeps_directions():
    from pytest_lips.tolerances import default_tolerances

    tol = default_tolerances()
    assert tol.rule("task3.sigma298").direction == "band"
    assert tol.rule("task4.survival_fraction").direction == "min"
