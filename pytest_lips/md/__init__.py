"""MD engine on ASE integrators: :func:`run_md`, ensemble settings, early-stop checks, timing.

No pytest and no task knowledge here; see :mod:`pytest_lips.md.engine` for units and conventions.
"""

from .calculator import ModelCallError, NonFiniteModelOutput, TimedCalculator
from .checks import (
    DEFAULT_PAIR_FLOOR_A,
    DEFAULT_VOLUME_FACTOR,
    ClosePairCheck,
    NonFiniteCheck,
    StopCheck,
    VolumeChangeCheck,
    default_stop_checks,
)
from .engine import MDOutcome, NPTSettings, NVTSettings, initialise_velocities, make_integrator, run_md

__all__ = [
    "DEFAULT_PAIR_FLOOR_A",
    "DEFAULT_VOLUME_FACTOR",
    "ClosePairCheck",
    "MDOutcome",
    "ModelCallError",
    "NPTSettings",
    "NVTSettings",
    "NonFiniteCheck",
    "NonFiniteModelOutput",
    "StopCheck",
    "TimedCalculator",
    "VolumeChangeCheck",
    "default_stop_checks",
    "initialise_velocities",
    "make_integrator",
    "run_md",
]
