import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_synthetic import make_report  # noqa: E402

from pytest_lips.thresholds import default_thresholds  # noqa: E402
from pytest_lips.tolerances import default_tolerances  # noqa: E402


@pytest.fixture
def thresholds():
    return default_thresholds()


@pytest.fixture
def tolerances(thresholds):
    return default_tolerances(thresholds)


@pytest.fixture
def report():
    return make_report()
