"""MD: :func:`run_md` on ASE integrators, the engine interface (:mod:`.jobs`, :mod:`.engines`), early stops, timing.

No pytest and no task knowledge here; see :mod:`pytest_lips.md.engine` for units and conventions.
"""

from .calculator import (
    ModelCallError,
    NonFiniteModelOutput,
    TimedCalculator,
    TorchSimModelCalculator,
)
from .checks import (
    DEFAULT_PAIR_FLOOR_A,
    DEFAULT_VOLUME_FACTOR,
    ClosePairCheck,
    NonFiniteCheck,
    StopCheck,
    VolumeChangeCheck,
    default_stop_checks,
)
from .engine import (
    MDOutcome,
    NPTSettings,
    NVTSettings,
    initialise_velocities,
    make_integrator,
    run_md,
)
from .engines import (
    ENGINE_CHOICES,
    AseEngine,
    MDEngine,
    TorchSimEngine,
    select_engine,
    torch_sim_available,
)
from .jobs import (
    MDJob,
    MDTrajectory,
    array_stop_reason,
    kinetic_temperature_K,
    pressure_Pa,
)

__all__ = [
    "DEFAULT_PAIR_FLOOR_A",
    "DEFAULT_VOLUME_FACTOR",
    "ENGINE_CHOICES",
    "AseEngine",
    "ClosePairCheck",
    "MDEngine",
    "MDJob",
    "MDOutcome",
    "MDTrajectory",
    "ModelCallError",
    "NPTSettings",
    "NVTSettings",
    "NonFiniteCheck",
    "NonFiniteModelOutput",
    "StopCheck",
    "TimedCalculator",
    "TorchSimEngine",
    "TorchSimModelCalculator",
    "VolumeChangeCheck",
    "array_stop_reason",
    "default_stop_checks",
    "initialise_velocities",
    "kinetic_temperature_K",
    "make_integrator",
    "pressure_Pa",
    "run_md",
    "select_engine",
    "torch_sim_available",
]
