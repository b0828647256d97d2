"""Mean-squared displacement (MSD) of mobile ions from MD trajectories.

Units: positions in Å, times in ps, MSD in Å².

The MSD is the time-origin average

    MSD(τ) = < |r_i(t0 + τ) - r_i(t0)|² >_{i ∈ mobile, t0}

computed for every lag τ = m·Δt with all N - m available origins, using the FFT algorithm of
Kneller et al. (nMoldyn, Comput. Phys. Commun. 91, 191 (1995)) — O(N log N) per atom. Positions must be
*unwrapped* (continuous across periodic boundaries); :func:`unwrap_positions` produces them from
wrapped frames. Before averaging, the displacement of the framework centre of mass is subtracted from
every atom, so a rigid drift of the whole cell content (thermostat artefacts, momentum leaks) does not
count as diffusion.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

import numpy as np

__all__ = ["MSDResult", "mean_squared_displacement", "unwrap_positions"]

#: Upper bound on complex FFT elements held in memory at once (≈ 16 bytes each).
_FFT_CHUNK_ELEMENTS = 8_000_000


@dataclass(frozen=True)
class MSDResult:
    """Origin-averaged MSD of the mobile atoms.

    Attributes:
        lag_ps: time lags τ in ps, starting at 0 (shape ``(n_lags,)``).
        msd_A2: MSD(τ) in Å², averaged over mobile atoms and all time origins.
        n_origins: number of time origins averaged at each lag (``n_frames - m``).
        n_mobile: number of mobile atoms averaged over.
        frame_interval_ps: time between consecutive frames in ps.
    """

    lag_ps: np.ndarray
    msd_A2: np.ndarray
    n_origins: np.ndarray
    n_mobile: int
    frame_interval_ps: float


@overload
def _as_mask(mask: np.ndarray, n_atoms: int, name: str) -> np.ndarray: ...
@overload
def _as_mask(mask: None, n_atoms: int, name: str) -> None: ...
@overload
def _as_mask(mask: np.ndarray | None, n_atoms: int, name: str) -> np.ndarray | None: ...
def _as_mask(mask: np.ndarray | None, n_atoms: int, name: str) -> np.ndarray | None:
    if mask is None:
        return None
    arr = np.asarray(mask)
    if arr.dtype != bool or arr.shape != (n_atoms,):
        raise ValueError(f"{name} must be a boolean array of shape ({n_atoms},), got {arr.dtype} {arr.shape}")
    return arr


def framework_com_displacement(
    positions_A: np.ndarray,
    framework_mask: np.ndarray,
    masses: np.ndarray | None = None,
) -> np.ndarray:
    """Displacement of the (mass-weighted) framework centre of mass relative to frame 0.

    Args:
        positions_A: unwrapped positions, Å, shape ``(n_frames, n_atoms, 3)``.
        framework_mask: boolean mask of framework atoms, shape ``(n_atoms,)``.
        masses: atomic masses (any consistent unit, e.g. amu), shape ``(n_atoms,)``; ``None`` = equal.

    Returns:
        Array ``(n_frames, 3)`` in Å; zero in frame 0.
    """
    pos = np.asarray(positions_A, dtype=float)
    fw = pos[:, framework_mask, :]
    if masses is None:
        com = fw.mean(axis=1)
    else:
        w = np.asarray(masses, dtype=float)[framework_mask]
        if np.any(w <= 0):
            raise ValueError("masses must be positive")
        com = np.einsum("tad,a->td", fw, w) / w.sum()
    return com - com[0]


def _msd_fft_sum(x: np.ndarray, n_lags: int) -> np.ndarray:
    """Sum over atoms and Cartesian components of the origin-averaged MSD for lags 0..n_lags-1.

    ``x`` has shape ``(n_frames, n_series)`` (each column one atom-component time series).
    Uses MSD(m) = S1(m) - 2 S2(m) with S2 the FFT autocorrelation and S1 from cumulative sums.
    """
    n = x.shape[0]
    m = np.arange(n_lags)
    n_orig = n - m
    # S1(m) = 1/(N-m) Σ_{k=0}^{N-1-m} [x(k)² + x(k+m)²], summed over series.
    sq = np.einsum("ts,ts->t", x, x)
    cs = np.concatenate(([0.0], np.cumsum(sq)))
    s1 = (cs[n - m] + (cs[n] - cs[m])) / n_orig
    # S2(m) = 1/(N-m) Σ_k x(k) x(k+m), via zero-padded FFT, accumulated over series in chunks.
    nfft = 2 * n
    acf = np.zeros(n_lags)
    chunk = max(1, _FFT_CHUNK_ELEMENTS // (nfft // 2 + 1))
    for start in range(0, x.shape[1], chunk):
        f = np.fft.rfft(x[:, start : start + chunk], n=nfft, axis=0)
        power = (f.real**2 + f.imag**2).sum(axis=1)
        acf += np.fft.irfft(power, n=nfft)[:n_lags]
    s2 = acf / n_orig
    return s1 - 2.0 * s2


def mean_squared_displacement(
    positions_A: np.ndarray,
    frame_interval_ps: float,
    mobile_mask: np.ndarray,
    framework_mask: np.ndarray | None = None,
    masses: np.ndarray | None = None,
    max_lag_fraction: float = 0.5,
) -> MSDResult:
    """Origin-averaged, drift-corrected MSD of the mobile atoms.

    Args:
        positions_A: UNWRAPPED Cartesian positions in Å, shape ``(n_frames, n_atoms, 3)``.
        frame_interval_ps: time between stored frames in ps (MD timestep × write interval).
        mobile_mask: boolean ``(n_atoms,)``, atoms whose MSD is averaged (e.g. Li).
        framework_mask: boolean ``(n_atoms,)``, atoms whose centre-of-mass displacement is subtracted
            from all positions (drift removal). ``None`` means "all atoms not in ``mobile_mask``";
            an all-False mask (or no non-mobile atoms) disables the correction.
        masses: atomic masses ``(n_atoms,)`` (amu) for a mass-weighted framework centre of mass;
            ``None`` weights framework atoms equally.
        max_lag_fraction: largest lag returned, as a fraction of the trajectory length
            ``(n_frames - 1) Δt``; long lags have few independent origins.

    Returns:
        :class:`MSDResult` with lags 0, Δt, …, ⌊f (n_frames-1)⌋ Δt.
    """
    pos = np.asarray(positions_A, dtype=float)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions_A must have shape (n_frames, n_atoms, 3), got {pos.shape}")
    n_frames, n_atoms, _ = pos.shape
    if n_frames < 2:
        raise ValueError("need at least 2 frames for an MSD")
    if not frame_interval_ps > 0:
        raise ValueError(f"frame_interval_ps must be > 0, got {frame_interval_ps}")
    if not 0.0 < max_lag_fraction <= 1.0:
        raise ValueError(f"max_lag_fraction must be in (0, 1], got {max_lag_fraction}")
    mobile = _as_mask(mobile_mask, n_atoms, "mobile_mask")
    if not mobile.any():
        raise ValueError("mobile_mask selects no atoms")
    framework = _as_mask(framework_mask, n_atoms, "framework_mask")
    if framework is None:
        framework = ~mobile
    if masses is not None and np.shape(masses) != (n_atoms,):
        raise ValueError(f"masses must have shape ({n_atoms},), got {np.shape(masses)}")

    mob = pos[:, mobile, :]
    if framework.any():
        mob = mob - framework_com_displacement(pos, framework, masses)[:, None, :]
    # Shifting each series by its frame-0 value leaves displacements unchanged and improves precision.
    mob = mob - mob[0]

    n_lags = int(np.floor(max_lag_fraction * (n_frames - 1))) + 1
    n_lags = max(n_lags, 2)
    n_mob = int(mobile.sum())
    total = _msd_fft_sum(mob.reshape(n_frames, n_mob * 3), n_lags)
    msd = np.maximum(total / n_mob, 0.0)
    msd[0] = 0.0
    lags = np.arange(n_lags)
    return MSDResult(
        lag_ps=lags * float(frame_interval_ps),
        msd_A2=msd,
        n_origins=n_frames - lags,
        n_mobile=n_mob,
        frame_interval_ps=float(frame_interval_ps),
    )


def unwrap_positions(
    positions: np.ndarray,
    cells: np.ndarray,
    scaled: bool = False,
) -> np.ndarray:
    """Unwrap periodic-boundary-wrapped frames into continuous Cartesian trajectories.

    Frame-to-frame minimum-image steps: for every pair of consecutive frames the wrapped Cartesian
    step is reduced by the lattice translation of the *later* cell nearest to it (the "TOR" scheme of
    Bullerjahn, von Bülow & Hummer, J. Chem. Phys. 153, 024116 (2020), valid for NPT cells), and
    steps are accumulated from frame 0. Assumes no atom moves more than half a cell length (for a
    triclinic cell, half the shortest perpendicular width) between frames.

    Args:
        positions: wrapped positions, shape ``(n_frames, n_atoms, 3)``: Cartesian in Å, or fractional
            if ``scaled`` is True.
        cells: lattice vectors as rows (ASE convention), Å; shape ``(3, 3)`` or ``(n_frames, 3, 3)``.
        scaled: whether ``positions`` are fractional coordinates.

    Returns:
        Unwrapped Cartesian positions in Å, shape ``(n_frames, n_atoms, 3)``; frame 0 equals the
        input frame 0 (in Cartesian).
    """
    pos = np.asarray(positions, dtype=float)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions must have shape (n_frames, n_atoms, 3), got {pos.shape}")
    n_frames = pos.shape[0]
    cell = np.asarray(cells, dtype=float)
    if cell.shape == (3, 3):
        cell = np.broadcast_to(cell, (n_frames, 3, 3))
    if cell.shape != (n_frames, 3, 3):
        raise ValueError(f"cells must have shape (3, 3) or ({n_frames}, 3, 3), got {cell.shape}")
    cart = np.einsum("tai,tij->taj", pos, cell) if scaled else pos
    if n_frames == 1:
        return cart.copy()
    step = np.diff(cart, axis=0)
    inv_next = np.linalg.inv(cell[1:])
    frac_step = np.einsum("tai,tij->taj", step, inv_next)
    step = step - np.einsum("tai,tij->taj", np.rint(frac_step), cell[1:])
    out = np.empty_like(cart)
    out[0] = cart[0]
    out[1:] = cart[0] + np.cumsum(step, axis=0)
    return out
