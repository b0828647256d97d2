import pytest
from report_synthetic import make_report

from pytest_lips.errors import LipsUsageError
from pytest_lips.report import dumps, merge_reports, strip_timings


def _shard(tasks, **kw):
    rep = make_report(**kw)
    for model in rep["results"]:
        rep["results"][model] = {t: v for t, v in rep["results"][model].items() if t in tasks}
    from pytest_lips.report import summarize

    rep["summary"] = summarize(rep)
    return rep


def test_merge_two_shards_equals_full_run():
    full = make_report()
    a = _shard({"test_split", "task1", "task2"}, outcomes={"test_task1[mace-a]": "passed"})
    b = _shard({"task3", "task4"}, outcomes={"test_task3_sigma298[mace-a]": "passed"}, duration_s=30.0)
    merged = merge_reports([a, b], names=["shard-a.json", "shard-b.json"])
    assert merged["results"] == full["results"]
    assert merged["duration_s"] == pytest.approx(42.0)
    assert set(merged["outcomes"]) == {"test_task1[mace-a]", "test_task3_sigma298[mace-a]"}
    assert [e["file"] for e in merged["merged_from"]] == ["shard-a.json", "shard-b.json"]
    assert merged["summary"]["gate"] == "PASS"
    # order of the shards does not matter
    again = merge_reports([b, a], names=["shard-b.json", "shard-a.json"])
    assert dumps(strip_timings(again)) == dumps(strip_timings(merged))


def test_merge_models_side_by_side_and_same_name_clash():
    a, b = make_report(models=("mace-a",)), make_report(models=("mace-b",))
    merged = merge_reports([a, b])
    assert sorted(merged["results"]) == ["mace-a", "mace-b"]
    # two releases of "model" with different sha256 are kept apart
    c = make_report(models=("model",))
    d = make_report(models=("model",), force_scales={"model": 1.2})
    d["models"][0]["sha256"] = "f" * 64
    merged = merge_reports([c, d], names=["old.json", "new.json"])
    names = sorted(merged["results"])
    assert len(names) == 2 and all(n.startswith("model@") for n in names)
    assert any(n == "model@ffffffff" for n in names)
    assert merged["results"]["model@ffffffff"]["task2"]["metrics"][0]["model"] == "model@ffffffff"


def test_merge_refuses_incompatible():
    a = make_report()
    with pytest.raises(LipsUsageError, match="different protocol_version") as err:
        merge_reports([a, make_report(protocol_version="2")], names=["a.json", "b.json"])
    assert "a.json" in str(err.value) and "b.json" in str(err.value)
    with pytest.raises(LipsUsageError, match="different profile"):
        merge_reports([a, make_report(profile_name="paper")])
    other = make_report()
    other["thresholds"]["task2.force_rmse"]["value"] = 0.1
    with pytest.raises(LipsUsageError, match="different thresholds"):
        merge_reports([a, other])
    with pytest.raises(LipsUsageError, match="nothing to merge"):
        merge_reports([])


def test_merge_conflicting_metric():
    a = _shard({"task2"})
    b = _shard({"task2"}, force_scales={"mace-a": 2.0})
    with pytest.raises(LipsUsageError, match="task2.force_rmse of model mace-a differs"):
        merge_reports([a, b], names=["a.json", "b.json"])
    # the same shard twice is harmless
    assert merge_reports([a, a])["results"] == a["results"]
