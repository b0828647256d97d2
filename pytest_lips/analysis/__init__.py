"""Pure numpy/scipy/ASE science for pytest-lips (no pytest, no torch).

Units are in the names: Å (``_A``), ps, K, eV, cm²/s, mS/cm.
"""

from pytest_lips.analysis.arrhenius import ArrheniusFit, BOLTZMANN_eV_K, fit_arrhenius
from pytest_lips.analysis.conductivity import (
    ROOM_TEMPERATURE_K,
    ConductivityEstimate,
    conductivity_at_298,
    nernst_einstein_conductivity_mS_cm,
)
from pytest_lips.analysis.contacts import (
    close_contact_fraction,
    close_contact_mask,
    has_close_contact,
    minimum_pair_distance_A,
)
from pytest_lips.analysis.diffusion import A2_PER_PS_TO_CM2_PER_S, DiffusionFit, fit_diffusion
from pytest_lips.analysis.msd import MSDResult, mean_squared_displacement, unwrap_positions
from pytest_lips.analysis.stats import percentile_interval, t_interval

__all__ = [
    "A2_PER_PS_TO_CM2_PER_S",
    "BOLTZMANN_eV_K",
    "ROOM_TEMPERATURE_K",
    "ArrheniusFit",
    "ConductivityEstimate",
    "DiffusionFit",
    "MSDResult",
    "close_contact_fraction",
    "close_contact_mask",
    "conductivity_at_298",
    "fit_arrhenius",
    "fit_diffusion",
    "has_close_contact",
    "mean_squared_displacement",
    "minimum_pair_distance_A",
    "nernst_einstein_conductivity_mS_cm",
    "percentile_interval",
    "t_interval",
    "unwrap_positions",
]
