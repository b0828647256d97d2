"""RunStore.get_or_compute_many: several run keys filled by one batched computation."""

from __future__ import annotations

import pytest

from pytest_lips.errors import LipsDataError
from pytest_lips.store import RunStore


def test_missing_keys_are_computed_by_one_call_and_cached_one_by_one(tmp_path):
    store = RunStore(tmp_path)
    store.put("b", {"v": "cached"})
    calls = []

    def compute_many(missing):
        calls.append(list(missing))
        return {key: {"v": key.upper()} for key in missing}

    out = store.get_or_compute_many(["a", "b", "c"], compute_many)
    assert calls == [["a", "c"]]  # only the missing ones, in the order asked, in one call
    assert out == {"a": {"v": "A"}, "b": {"v": "cached"}, "c": {"v": "C"}}
    assert list(out) == ["a", "b", "c"]
    assert store.get("a") == {"v": "A"} and store.get("c") == {"v": "C"}  # each cached on its own
    assert store.get_or_compute("c", lambda: pytest.fail("recomputed")) == {"v": "C"}
    assert store.get_or_compute_many(["c", "a"], lambda m: pytest.fail("recomputed")) == {
        "c": {"v": "C"},
        "a": {"v": "A"},
    }


def test_a_result_missing_from_the_batch_stores_nothing(tmp_path):
    store = RunStore(tmp_path)
    with pytest.raises(LipsDataError, match=r"no result for \['b'\]"):
        store.get_or_compute_many(["a", "b"], lambda missing: {"a": {"v": 1}})
    assert store.get("a") is None and store.get("b") is None


def test_fresh_store_recomputes_results_of_earlier_sessions(tmp_path):
    RunStore(tmp_path, session_id="old").put("a", {"v": "old"})
    store = RunStore(tmp_path, reuse=False, session_id="new")
    out = store.get_or_compute_many(["a"], lambda missing: {k: {"v": "new"} for k in missing})
    assert out == {"a": {"v": "new"}}
