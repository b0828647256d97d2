"""RunStore: computed once across processes, corrupt files recomputed, --lips-fresh semantics."""

from __future__ import annotations

import multiprocessing as mp
import time
from pathlib import Path

from pytest_lips.store import RunStore


def _slow_compute(root: str, key: str, marker_dir: str) -> dict:
    store = RunStore(Path(root))

    def compute() -> dict:
        (Path(marker_dir) / f"computed-{mp.current_process().pid}").write_text("x")
        time.sleep(0.5)
        return {"value": 42}

    return store.get_or_compute(key, compute)


def test_computed_once_across_processes(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    ctx = mp.get_context("fork")
    with ctx.Pool(3) as pool:
        results = pool.starmap(_slow_compute, [(str(tmp_path / "s"), "run|a", str(markers))] * 3)
    assert results == [{"value": 42}] * 3
    assert len(list(markers.iterdir())) == 1


def test_corrupt_file_is_recomputed(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.put("k", {"v": 1})
    store.path_for("k").write_text("{not json")
    calls = []
    assert store.get_or_compute("k", lambda: calls.append(1) or {"v": 2}) == {"v": 2}
    assert calls == [1]


def test_key_collision_is_not_reused(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.put("k1", {"v": 1})
    # a file whose recorded key differs (e.g. renamed by hand) is ignored
    store.path_for("k2").write_text(store.path_for("k1").read_text())
    assert store.get("k2") is None


def test_fresh_reuses_only_this_session(tmp_path: Path) -> None:
    RunStore(tmp_path, session_id="old").put("k", {"v": "old"})
    fresh = RunStore(tmp_path, reuse=False, session_id="new")
    assert fresh.get("k") is None
    assert fresh.get_or_compute("k", lambda: {"v": "new"}) == {"v": "new"}
    assert fresh.get_or_compute("k", lambda: {"v": "again"}) == {"v": "new"}
    assert RunStore(tmp_path).get("k") == {"v": "new"}


def test_exception_stores_nothing(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    def boom() -> dict:
        raise RuntimeError("x")

    try:
        store.get_or_compute("k", boom)
    except RuntimeError:
        pass
    assert store.get("k") is None
