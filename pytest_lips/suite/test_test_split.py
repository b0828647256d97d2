"""LiPS-25 test split: energy, force and stress errors (one item per gated metric + per category)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from pytest_lips.data import data_set_of
from pytest_lips.plugin import get_session as _session
from pytest_lips.results import Metric
from pytest_lips.tasks import test_split as task


def _metrics(config: pytest.Config, model: Any, profile: Any, dataset: Any, store: Any) -> dict[str, Metric]:
    """All test-split metrics of ``model``, computed once per session/store (shared by the items)."""
    protocol = task.TestSplitProtocol.from_section(profile.section("test_split"))
    session = _session(config)
    offset = session.settings.energy_offset if session.settings.energy_offset else protocol.energy_offset
    protocol = dataclasses.replace(protocol, energy_offset=offset)  # the details record the mode used
    key = session.run_key(
        model, task.cache_key("", dataset, protocol, offset), dataset=dataset, protocol=protocol, task="test_split"
    )

    def compute() -> dict[str, Any]:
        metrics = task.run_and_analyse(model, dataset, protocol, energy_offset=offset)
        return {"metrics": [m.to_dict() for m in metrics]}

    result = store.get_or_compute(key, compute)
    metrics = [Metric.from_dict(m) for m in result["metrics"]]
    for m in metrics:
        m.model = model.name
    return {m.key: m for m in metrics}


@pytest.fixture
def test_split_metrics(pytestconfig, lips_model, lips_profile, lips_dataset, lips_store) -> dict[str, Metric]:
    return _metrics(pytestconfig, lips_model, lips_profile, lips_dataset, lips_store)


def test_test_split_energy_rmse(test_split_metrics, lips_check):
    lips_check(test_split_metrics["test_split.energy_rmse"])


def test_test_split_force_rmse(test_split_metrics, lips_check):
    lips_check(test_split_metrics["test_split.force_rmse"])


def test_test_split_energy_mae(test_split_metrics, lips_check):
    lips_check(test_split_metrics["test_split.energy_mae"])


def test_test_split_force_mae(test_split_metrics, lips_check):
    lips_check(test_split_metrics["test_split.force_mae"])


def test_test_split_stress_rmse(test_split_metrics, lips_check):
    lips_check(test_split_metrics["test_split.stress_rmse"])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """The categories are those of the pack's data set (``system.dataset.categories``); a pack that declares
    no data set keeps one SKIPPED item per model (plugin.py), none of these."""
    if "category" in metafunc.fixturenames:
        spec = data_set_of(_session(metafunc.config).system)
        metafunc.parametrize("category", list(spec.categories) if spec is not None else [])


@pytest.mark.parametrize("quantity", task.CATEGORY_METRICS)
def test_test_split_category(category, quantity, test_split_metrics, lips_check):
    key = f"test_split.{category}.{quantity}"
    if key not in test_split_metrics:
        pytest.skip(f"no {category} structures among the evaluated test-split structures")
    lips_check(test_split_metrics[key])
