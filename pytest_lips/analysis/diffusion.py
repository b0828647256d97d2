"""Tracer diffusion coefficient from the linear (Einstein) regime of an MSD curve.

Units: lags in ps, MSD in Å², D in cm²/s (1 Å²/ps = 1e-4 cm²/s).

Einstein relation: MSD(τ) → 2 d D τ + c for large τ, so D = slope / (2 d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["A2_PER_PS_TO_CM2_PER_S", "DiffusionFit", "fit_diffusion"]

#: 1 Å²/ps = 1e-16 cm² / 1e-12 s = 1e-4 cm²/s.
A2_PER_PS_TO_CM2_PER_S = 1e-4


@dataclass(frozen=True)
class DiffusionFit:
    """Least-squares line through the MSD in the fit window.

    Attributes:
        D_cm2_s: diffusion coefficient, cm²/s.
        D_stderr_cm2_s: ordinary-least-squares standard error of D, cm²/s. MSD values at different
            lags are strongly correlated, so this UNDERESTIMATES the true statistical uncertainty;
            use independent repeats (or kinisi) for intervals.
        slope_A2_ps: fitted slope, Å²/ps.
        intercept_A2: fitted intercept, Å² (absorbs the ballistic/vibrational offset).
        window_ps: (first, last) lag used in the fit, ps.
        n_points: number of MSD points in the window.
        dimensions: dimensionality d used in D = slope / (2 d).
    """

    D_cm2_s: float
    D_stderr_cm2_s: float
    slope_A2_ps: float
    intercept_A2: float
    window_ps: tuple[float, float]
    n_points: int
    dimensions: int


def fit_diffusion(
    lag_ps: np.ndarray,
    msd_A2: np.ndarray,
    fit_start_fraction: float = 0.1,
    fit_end_fraction: float = 0.5,
    dimensions: int = 3,
) -> DiffusionFit:
    """Fit D from MSD(τ) over a window of lags.

    The window is ``[fit_start_fraction, fit_end_fraction] × max(lag_ps)``. Defaults (0.1–0.5): skip
    the ballistic/caging start, where the MSD is not yet linear, and stop before the long lags that
    have few independent time origins. With :func:`~pytest_lips.analysis.msd.mean_squared_displacement`
    at its default ``max_lag_fraction=0.5`` this is 5 %–25 % of the trajectory length.

    Args:
        lag_ps: time lags, ps, increasing.
        msd_A2: MSD at those lags, Å².
        fit_start_fraction: start of the window as a fraction of the largest lag.
        fit_end_fraction: end of the window as a fraction of the largest lag.
        dimensions: number of Cartesian dimensions the MSD sums over (3 for bulk).

    Returns:
        :class:`DiffusionFit` (D in cm²/s).
    """
    lag = np.asarray(lag_ps, dtype=float)
    msd = np.asarray(msd_A2, dtype=float)
    if lag.shape != msd.shape or lag.ndim != 1:
        raise ValueError(f"lag_ps and msd_A2 must be 1-D of equal length, got {lag.shape} and {msd.shape}")
    if not 0.0 <= fit_start_fraction < fit_end_fraction <= 1.0:
        raise ValueError(
            "need 0 <= fit_start_fraction < fit_end_fraction <= 1, "
            f"got {fit_start_fraction}, {fit_end_fraction}"
        )
    if dimensions not in (1, 2, 3):
        raise ValueError(f"dimensions must be 1, 2 or 3, got {dimensions}")
    lag_max = lag.max()
    lo, hi = fit_start_fraction * lag_max, fit_end_fraction * lag_max
    sel = (lag >= lo - 1e-12 * lag_max) & (lag <= hi + 1e-12 * lag_max)
    n = int(sel.sum())
    if n < 3:
        raise ValueError(
            f"only {n} MSD points in the fit window [{lo:g}, {hi:g}] ps; need >= 3 "
            "(longer trajectory, more frames, or a wider window)"
        )
    res = stats.linregress(lag[sel], msd[sel])
    factor = A2_PER_PS_TO_CM2_PER_S / (2.0 * dimensions)
    return DiffusionFit(
        D_cm2_s=float(res.slope * factor),
        D_stderr_cm2_s=float(res.stderr * factor),
        slope_A2_ps=float(res.slope),
        intercept_A2=float(res.intercept),
        window_ps=(float(lag[sel][0]), float(lag[sel][-1])),
        n_points=n,
        dimensions=dimensions,
    )
