"""NOT RUN rows find their gate item under any system's node-id path (``lips/<system id>/test_…``)."""

from __future__ import annotations

from pytest_lips.gates import gate_item_metric, local_nodeid, not_run

THRESHOLDS = {"task2.force_rmse": {"direction": "max", "value": 0.3}}


def test_local_nodeid_drops_the_directory_part_only() -> None:
    assert local_nodeid("lips/li6ps5cl/test_task2.py::f[a/b-c]") == "test_task2.py::f[a/b-c]"
    assert local_nodeid("lips/test_task2.py::f[m]") == "test_task2.py::f[m]"


def test_a_skipped_gate_item_of_another_system_gives_its_reason_not_deselected() -> None:
    node = "lips/li6ps5cl/test_task2.py::test_task2_force_rmse[m]"
    rows = not_run(
        models=["m"],
        tasks=["task2"],
        thresholds=THRESHOLDS,
        recorded=[],
        outcomes={node: "skipped"},
        reasons={node: "Task 2 pending: 1/24 snapshots have PBEsol labels"},
    )
    assert [(r["metric"], r["outcome"], r["nodeid"]) for r in rows] == [("task2.force_rmse", "skipped", node)]
    assert rows[0]["reason"].startswith("Task 2 pending")
    assert gate_item_metric(node, ["m"]) == "task2.force_rmse"


def test_a_gate_item_that_never_ran_is_still_not_selected() -> None:
    rows = not_run(models=["m"], tasks=["task2"], thresholds=THRESHOLDS, recorded=[], outcomes={}, reasons={})
    assert rows[0]["outcome"] == "not run" and "deselected" in rows[0]["reason"]
