"""Simulated Li trajectories of known D(T), for checking the σ298 estimator from the outside.

Used by ``benchmarks/sigma_coverage.py`` (through :mod:`pytest_lips.tasks.task3_simulation`, which feeds
these frames to Task 3's own ``reduce_run_frames`` → ``analyse`` → default thresholds) and the tests.
The simulation knows nothing about how the estimator works; what it assumes (stated, not tuned):

* **Hops.** Each Li jumps between sites of a simple cubic lattice of spacing ``hop_A`` (default 2.5 Å,
  of the order of the Li–Li site distance of Li7P3S11) as a Poisson process whose rate gives the
  true tracer D: Γ = 6 D / a² per ion (Γ/6 along each of ±x, ±y, ±z). Ions hop independently
  within a run.
* **Vibration.** On top of its site each Li vibrates as a 3-D Ornstein–Uhlenbeck process (relaxation
  time ``vib_tau_ps``, default 0.1 ps) with a per-axis sd ``vib_A`` · sqrt(T / 700 K) (default 0.35 Å):
  the MSD has a sub-picosecond rise to ~6 sd² before the hops' linear part.
* **Drifting framework.** The framework centre of mass random-walks (``drift_A2_ps``, default 0.05 Å²/ps
  per axis) and carries every Li with it; it is the last "atom" of the frames, as Task 3 stores them.
* **Hidden run-to-run scatter.** Each run's hop rate is multiplied by a lognormal factor of mean 1 and
  relative sd ``hidden_scatter`` (0 or 0.3 in the benchmark): correlated dynamics that the per-ion
  scatter inside one run cannot see.
* **Temperatures.** The measured temperature of a run is its nominal one × (1 + 0.01 N(0, 1)); the
  true D follows the measured temperature. Truth: Arrhenius, ln D = ln D0 − Ea / (k_B T), optionally
  with a fixed per-temperature offset ~ N(0, ``misfit_ln``) shared by the repeats (Arrhenius misfit).
  σ298 is scored against the line at 298.15 K.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

from pytest_lips.analysis.arrhenius import BOLTZMANN_eV_K
from pytest_lips.analysis.conductivity import ROOM_TEMPERATURE_K, nernst_einstein_conductivity_mS_cm

__all__ = ["DEFAULT_HOP_MODEL", "HopModel", "arrhenius_D_A2_ps", "simulate_li_frames"]

#: 1 cm²/s = 1e4 Å²/ps.
_CM2_S_TO_A2_PS = 1e4


@dataclass(frozen=True)
class HopModel:
    """Parameters of the simulated Li motion (module docstring). Lengths in Å, times in ps."""

    hop_A: float = 2.5
    vib_A: float = 0.35
    vib_tau_ps: float = 0.1
    drift_A2_ps: float = 0.05
    hidden_scatter: float = 0.0
    misfit_ln: float = 0.0


#: The defaults of :class:`HopModel` (no hidden scatter, no misfit).
DEFAULT_HOP_MODEL = HopModel()


def arrhenius_D_A2_ps(
    sigma298_mS_cm: float, activation_energy_eV: float, n_li: int, volume_A3: float, temperature_K: float
) -> float:
    """True tracer D at ``temperature_K`` (Å²/ps) on the Arrhenius line through σ298 (mS/cm) with Ea (eV)."""
    D298_cm2_s = sigma298_mS_cm / nernst_einstein_conductivity_mS_cm(1.0, n_li, volume_A3, ROOM_TEMPERATURE_K)
    ln_ratio = activation_energy_eV / BOLTZMANN_eV_K * (1.0 / ROOM_TEMPERATURE_K - 1.0 / temperature_K)
    return float(D298_cm2_s) * math.exp(ln_ratio) * _CM2_S_TO_A2_PS


def simulate_li_frames(
    rng: np.random.Generator,
    n_li: int,
    n_frames: int,
    frame_ps: float,
    D_A2_ps: float,
    temperature_K: float,
    model: HopModel = DEFAULT_HOP_MODEL,
) -> np.ndarray:
    """Unwrapped Li positions plus the framework centre of mass, Å, shape ``(n_frames, n_li + 1, 3)``.

    ``D_A2_ps`` is the hop-part tracer D of this run (any hidden per-run factor already applied);
    the long-time MSD slope is 6 D. Vibration and drift as in the module docstring.
    """
    if n_li < 1 or n_frames < 2 or not frame_ps > 0 or D_A2_ps < 0:
        raise ValueError("need n_li >= 1, n_frames >= 2, frame_ps > 0 and D_A2_ps >= 0")
    # hop events: a Poisson number per ion over the run (rate Γ = 6 D / a²), each at a uniform random
    # frame interval, along a random axis with a random sign (same law as a Poisson process per direction)
    n_steps = n_frames - 1
    counts = rng.poisson(6.0 * D_A2_ps / model.hop_A**2 * n_steps * frame_ps, n_li)
    if counts.sum() <= n_steps * n_li * 3:
        ion = np.repeat(np.arange(n_li), counts)
        cell = (rng.integers(0, n_steps, ion.size) * n_li + ion) * 3 + rng.integers(0, 3, ion.size)
        sign = rng.integers(0, 2, ion.size) * 2.0 - 1.0
        steps = np.bincount(cell, weights=sign, minlength=n_steps * n_li * 3).reshape(n_steps, n_li, 3)
    else:  # many hops per frame: net hops per axis and frame, Poisson(+) − Poisson(−)
        lam = D_A2_ps / model.hop_A**2 * frame_ps
        steps = (rng.poisson(lam, (n_steps, n_li, 3)) - rng.poisson(lam, (n_steps, n_li, 3))).astype(float)
    sites = np.zeros((n_frames, n_li, 3))
    sites[1:] = np.cumsum(steps, axis=0) * model.hop_A
    sites += rng.integers(0, 8, (1, n_li, 3)) * model.hop_A
    # Ornstein–Uhlenbeck vibration, started in its stationary state
    sd = model.vib_A * math.sqrt(temperature_K / 700.0)
    phi = math.exp(-frame_ps / model.vib_tau_ps)
    noise = rng.standard_normal((n_frames, n_li, 3)) * (sd * math.sqrt(1.0 - phi * phi))
    zi = (rng.standard_normal((n_li, 3)) * sd * phi)[None]
    vib, _ = signal.lfilter([1.0], [1.0, -phi], noise, axis=0, zi=zi)
    drift = np.cumsum(rng.standard_normal((n_frames, 1, 3)) * math.sqrt(2.0 * model.drift_A2_ps * frame_ps), axis=0)
    out = np.empty((n_frames, n_li + 1, 3))
    out[:, :n_li] = sites + vib + drift
    out[:, n_li] = drift[:, 0]
    return out
