"""Tracer diffusion coefficient from the linear (Einstein) regime of an MSD curve.

Units: lags in ps, MSD in Å², D in cm²/s (1 Å²/ps = 1e-4 cm²/s).

Einstein relation: MSD(τ) → 2 d D τ + c for large τ, so D = slope / (2 d).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pytest_lips.analysis.msd import framework_com_displacement

__all__ = [
    "A2_PER_PS_TO_CM2_PER_S",
    "DiffusionEstimate",
    "DiffusionFit",
    "estimate_diffusion",
    "fit_diffusion",
    "fit_window_mask",
    "per_ion_msd_A2",
]

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
    fit_min_lag_ps: float = 0.0,
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
        fit_min_lag_ps: the window never starts before this lag, ps (keeps the sub-picosecond
            ballistic/caging regime out of short runs, where a fraction alone would start too early).

    Returns:
        :class:`DiffusionFit` (D in cm²/s).
    """
    lag = np.asarray(lag_ps, dtype=float)
    msd = np.asarray(msd_A2, dtype=float)
    if lag.shape != msd.shape or lag.ndim != 1:
        raise ValueError(f"lag_ps and msd_A2 must be 1-D of equal length, got {lag.shape} and {msd.shape}")
    if not 0.0 <= fit_start_fraction < fit_end_fraction <= 1.0:
        raise ValueError(
            f"need 0 <= fit_start_fraction < fit_end_fraction <= 1, got {fit_start_fraction}, {fit_end_fraction}"
        )
    if dimensions not in (1, 2, 3):
        raise ValueError(f"dimensions must be 1, 2 or 3, got {dimensions}")
    sel = fit_window_mask(lag, fit_start_fraction, fit_end_fraction, fit_min_lag_ps)
    n = int(sel.sum())
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


def fit_window_mask(
    lag_ps: np.ndarray,
    fit_start_fraction: float = 0.1,
    fit_end_fraction: float = 0.5,
    fit_min_lag_ps: float = 0.0,
) -> np.ndarray:
    """Boolean mask of the lags in the fit window ``[max(start·τmax, fit_min_lag_ps), end·τmax]`` (ps).

    Raises ValueError (naming the window) when it holds fewer than 3 lags.
    """
    lag = np.asarray(lag_ps, dtype=float)
    lag_max = float(lag.max())
    lo = max(fit_start_fraction * lag_max, float(fit_min_lag_ps))
    hi = fit_end_fraction * lag_max
    sel = (lag >= lo - 1e-12 * lag_max) & (lag <= hi + 1e-12 * lag_max)
    n = int(sel.sum())
    if n < 3:
        raise ValueError(
            f"only {n} MSD points in the fit window [{lo:g}, {hi:g}] ps; need >= 3 "
            "(longer trajectory, more frames, a wider window or a smaller fit_min_lag_ps)"
        )
    return sel


def per_ion_msd_A2(
    positions_A: np.ndarray,
    n_lags: int,
    mobile_mask: np.ndarray,
    framework_mask: np.ndarray | None = None,
    masses: np.ndarray | None = None,
) -> np.ndarray:
    """Origin-averaged MSD of each mobile atom separately, Å², shape ``(n_lags, n_mobile)``.

    Same estimator as :func:`~pytest_lips.analysis.msd.mean_squared_displacement` (all time origins,
    framework centre-of-mass drift removed, FFT); its mean over atoms is that function's MSD.
    """
    pos = np.asarray(positions_A, dtype=float)
    mobile = np.asarray(mobile_mask, dtype=bool)
    framework = ~mobile if framework_mask is None else np.asarray(framework_mask, dtype=bool)
    mob = pos[:, mobile, :]
    if framework.any():
        mob = mob - framework_com_displacement(pos, framework, masses)[:, None, :]
    mob = mob - mob[0]
    n = mob.shape[0]
    m = np.arange(n_lags)
    n_orig = (n - m)[:, None]
    sq = (mob**2).sum(axis=2)  # (n_frames, n_mobile)
    cs = np.concatenate([np.zeros((1, sq.shape[1])), np.cumsum(sq, axis=0)])
    s1 = (cs[n - m] + (cs[n] - cs[m])) / n_orig
    f = np.fft.rfft(mob, n=2 * n, axis=0)
    acf = np.fft.irfft((f.real**2 + f.imag**2).sum(axis=2), n=2 * n, axis=0)[:n_lags]
    out = s1 - 2.0 * acf / n_orig
    out[0] = 0.0
    return out


@dataclass(frozen=True)
class DiffusionEstimate:
    """D of one trajectory with an uncertainty that reflects its real statistical scatter.

    D is the least-squares slope of the atom- and origin-averaged MSD over the fit window (identical
    to :func:`fit_diffusion`). Because a least-squares slope is linear in the MSD, it is also the mean
    of the slopes fitted to each mobile atom's own MSD, ``D_i``. Each ``D_i`` uses that atom's whole
    trajectory, so all time correlations are inside it; treating the atoms as independent samples,
    ``D_stderr = std(D_i) / sqrt(n_mobile)`` and the interval is Student-t with ``n_mobile − 1``
    degrees of freedom (a cluster-robust, "block over ions" standard error). It matches the scatter
    between independent runs for uncorrelated ions (tests/analysis/test_diffusion.py checks coverage
    on random walks); correlated ion motion (concerted hops) would make it too small, which is why
    the σ298 interval also uses the scatter between repeats.

    Attributes:
        D_cm2_s: diffusion coefficient, cm²/s.
        D_stderr_cm2_s: standard error of D from the per-atom scatter, cm²/s.
        interval_cm2_s: (low, high) ``confidence`` interval of D, cm²/s.
        dof: degrees of freedom of the interval (n_mobile − 1).
        window_ps: (first, last) lag of the fit window, ps.
        n_points: lags in the window.
        n_mobile: atoms averaged over.
        msd_end_of_fit_A2: mean MSD at the last lag of the window, Å² (resolution check).
        lag_ps: lags, ps; msd_A2: atom-averaged MSD at those lags, Å².
        confidence: confidence level of the interval.
    """

    D_cm2_s: float
    D_stderr_cm2_s: float
    interval_cm2_s: tuple[float, float]
    dof: int
    window_ps: tuple[float, float]
    n_points: int
    n_mobile: int
    msd_end_of_fit_A2: float
    lag_ps: np.ndarray
    msd_A2: np.ndarray
    confidence: float = 0.95


def estimate_diffusion(
    positions_A: np.ndarray,
    frame_interval_ps: float,
    mobile_mask: np.ndarray,
    framework_mask: np.ndarray | None = None,
    masses: np.ndarray | None = None,
    max_lag_fraction: float = 0.5,
    fit_start_fraction: float = 0.1,
    fit_end_fraction: float = 0.5,
    fit_min_lag_ps: float = 0.0,
    dimensions: int = 3,
    confidence: float = 0.95,
) -> DiffusionEstimate:
    """D with a per-atom ("block over ions") standard error from unwrapped positions.

    Args:
        positions_A: UNWRAPPED positions, Å, shape ``(n_frames, n_atoms, 3)``.
        frame_interval_ps: time between frames, ps.
        mobile_mask: boolean ``(n_atoms,)`` of the diffusing atoms (Li); at least 2.
        framework_mask: atoms whose centre-of-mass drift is removed (default: all not mobile).
        masses: masses for the framework centre of mass (``None``: equal weights).
        max_lag_fraction: largest lag as a fraction of the trajectory length.
        fit_start_fraction, fit_end_fraction: fit window as fractions of the largest lag.
        fit_min_lag_ps: earliest lag of the window, ps.
        dimensions: Cartesian dimensions summed in the MSD (3).
        confidence: level of ``interval_cm2_s``.

    Returns:
        :class:`DiffusionEstimate`.
    """
    pos = np.asarray(positions_A, dtype=float)
    if pos.ndim != 3 or pos.shape[2] != 3 or pos.shape[0] < 2:
        raise ValueError(f"positions_A must have shape (n_frames >= 2, n_atoms, 3), got {pos.shape}")
    if not frame_interval_ps > 0:
        raise ValueError(f"frame_interval_ps must be > 0, got {frame_interval_ps}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mobile = np.asarray(mobile_mask, dtype=bool)
    n_mobile = int(mobile.sum())
    if n_mobile < 2:
        raise ValueError(f"need >= 2 mobile atoms for a per-atom standard error, got {n_mobile}")
    n_frames = pos.shape[0]
    n_lags = max(int(np.floor(max_lag_fraction * (n_frames - 1))) + 1, 2)
    per_ion = per_ion_msd_A2(pos, n_lags, mobile, framework_mask, masses)
    lag = np.arange(n_lags) * float(frame_interval_ps)
    msd = per_ion.mean(axis=1)
    sel = fit_window_mask(lag, fit_start_fraction, fit_end_fraction, fit_min_lag_ps)
    x = lag[sel]
    w = (x - x.mean()) / ((x - x.mean()) ** 2).sum()  # OLS slope = w · y
    factor = A2_PER_PS_TO_CM2_PER_S / (2.0 * dimensions)
    D_i = (w @ per_ion[sel]) * factor
    D = float(D_i.mean())
    se = float(D_i.std(ddof=1) / np.sqrt(n_mobile))
    half = float(stats.t.ppf(0.5 + confidence / 2.0, df=n_mobile - 1)) * se
    return DiffusionEstimate(
        D_cm2_s=D,
        D_stderr_cm2_s=se,
        interval_cm2_s=(D - half, D + half),
        dof=n_mobile - 1,
        window_ps=(float(x[0]), float(x[-1])),
        n_points=int(sel.sum()),
        n_mobile=n_mobile,
        msd_end_of_fit_A2=float(msd[sel][-1]),
        lag_ps=lag,
        msd_A2=np.maximum(msd, 0.0),
        confidence=confidence,
    )
