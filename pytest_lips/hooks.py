"""Hook specifications of pytest-lips (implement them in a conftest.py or a plugin)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .thresholds import ThresholdSet


@pytest.hookspec(historic=False)
def pytest_lips_thresholds(config: pytest.Config, thresholds: ThresholdSet) -> None:
    """Adjust the gate thresholds of this session, in place.

    Called once per session after the defaults and the ``lips_thresholds`` ini key were applied and
    before ``--lips-threshold`` options.  Example, in a conftest.py::

        def pytest_lips_thresholds(config, thresholds):
            thresholds["task2.force_rmse"] = 0.20   # eV/Å, stricter than the default 0.30
    """
