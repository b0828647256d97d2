"""LiPS-25 Task 2: forces along the pack's melt-quench trajectory (LiPS: Li7P3S11), and on the data set's
structures of the pack's Task 2 composition."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_lips.plugin import get_session as _session
from pytest_lips.results import Metric
from pytest_lips.tasks import task2_forces as task


def _offset(config: pytest.Config, protocol: task.Task2Protocol) -> str:
    value = _session(config).settings.energy_offset
    return value or protocol.energy_offset


@pytest.fixture
def task2_metrics(pytestconfig, lips_model, lips_profile, lips_reference, lips_store) -> dict[str, Metric]:
    pack = lips_reference
    if pack.task2 is None:
        pytest.skip(f"reference pack {pack.key} has no task2 section")
    if not pack.task2.available:
        pytest.skip(
            f"Task 2 data is {pack.task2.status} in reference pack {pack.key}: {pack.task2.reason or 'no reason given'}"
        )
    protocol = task.Task2Protocol.from_section(lips_profile.section("task2"))
    offset = _offset(pytestconfig, protocol)
    protocol = dataclasses.replace(protocol, energy_offset=offset)  # the details record the mode used
    # run_key adds the pack's content checksum: editing a snapshot and refreshing the manifest recomputes
    key = _session(pytestconfig).run_key(
        lips_model, task.cache_key("", pack.key, protocol, offset), task="task2", protocol=protocol
    )

    def compute() -> dict[str, Any]:
        result = task.run(lips_model, pack.task2_frames(), protocol, energy_offset=offset)
        return {"metrics": [m.to_dict() for m in task.analyse(result, lips_model.name)]}

    metrics = [Metric.from_dict(m) for m in lips_store.get_or_compute(key, compute)["metrics"]]
    for m in metrics:
        m.model = lips_model.name
        if pack.task2.reason:  # e.g. a pack whose snapshots are still being labelled ("partial: 12/24 ...")
            m.note = f"{m.note}; reference {pack.key}: {pack.task2.reason}" if m.note else pack.task2.reason
    return {m.key: m for m in metrics}


def test_task2_force_rmse(task2_metrics, lips_check):
    lips_check(task2_metrics["task2.force_rmse"])


@pytest.mark.parametrize("regime", task.REGIMES)
def test_task2_regime_force_rmse(regime, task2_metrics, lips_check):
    metric = task2_metrics[f"task2.{regime}.force_rmse"]
    if not metric.n:
        pytest.skip(f"no {regime} snapshots in the Task 2 trajectory")
    lips_check(metric)


def test_task2_energy_rmse(task2_metrics, lips_check):
    lips_check(task2_metrics["task2.energy_rmse"])


def test_task2_dataset_force_rmse(pytestconfig, lips_model, lips_profile, lips_dataset, lips_store, lips_check):
    protocol = task.Task2Protocol.from_section(lips_profile.section("task2"))
    session = _session(pytestconfig)
    composition = session.system.task2_composition
    if not composition:
        pytest.skip(f"the reference pack's system ({session.system.name}) gives no task2.composition")
    system_part = [f"composition={sorted(composition.items())}"] if session.system_label else []  # LiPS keys unchanged
    key = session.run_key(
        lips_model,
        f"task2-dataset/{protocol.dataset_split}/{protocol.dataset_max_structures}",
        *system_part,
        task="task2",
        dataset=lips_dataset,
        protocol=protocol,
    )

    def compute() -> dict[str, Any]:
        return task.run_dataset(lips_model, lips_dataset, protocol, lips_model.name, composition).to_dict()

    lips_check(Metric.from_dict(lips_store.get_or_compute(key, compute)))
