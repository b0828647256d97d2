"""Where the shipped reference data lives, in a wheel and in a source checkout.

In a built wheel ``reference_data/`` is installed as ``pytest_lips/reference_data``; in a source
checkout or an editable install it is the top-level ``reference_data/`` folder next to the package.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def reference_data_dir() -> Path:
    """Return the directory holding ``thresholds.yaml``, ``protocols/`` and the default pack."""
    for candidate in (_PACKAGE_DIR / "reference_data", _PACKAGE_DIR.parent / "reference_data"):
        if (candidate / "thresholds.yaml").is_file():
            return candidate
    raise FileNotFoundError(
        "pytest-lips cannot find its reference_data directory (looked in "
        f"{_PACKAGE_DIR / 'reference_data'} and {_PACKAGE_DIR.parent / 'reference_data'}); "
        "reinstall the package: pip install --force-reinstall pytest-lips"
    )


def protocols_dir() -> Path:
    """Directory of the profile files ``<name>.yaml``."""
    return reference_data_dir() / "protocols"


def default_pack_dir() -> Path:
    """Directory of the default (open PBEsol) reference pack."""
    return reference_data_dir() / "pack"


def thresholds_file() -> Path:
    """The default thresholds file."""
    return reference_data_dir() / "thresholds.yaml"
