"""pytest-lips: the LiPS-25 benchmark for machine-learned interatomic potentials as pytest gates.

The science lives in plain modules (:mod:`pytest_lips.analysis`, :mod:`pytest_lips.tasks`,
:mod:`pytest_lips.md`) usable without pytest; :mod:`pytest_lips.plugin` is the thin pytest glue.
"""

from __future__ import annotations

__version__ = "0.1.0"

#: Version of the benchmark protocols shipped in ``reference_data/protocols``.  Bumped whenever a
#: change to a protocol makes numbers incomparable with earlier ones (baselines refuse to compare
#: across it).
PROTOCOL_VERSION = "1"

__all__ = ["__version__", "PROTOCOL_VERSION"]
