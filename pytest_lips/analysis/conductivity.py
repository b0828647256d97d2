"""Ionic conductivity from tracer diffusion (Nernst–Einstein) and its room-temperature extrapolation.

Units: D in cm²/s, volumes in Å³, temperatures in K, conductivity in mS/cm. Internally SI
(scipy.constants): σ [S/m] = n [m⁻³] (z e [C])² D [m²/s] / (k_B [J/K] T [K]); 1 S/m = 10 mS/cm.

This is the uncorrelated (Haven ratio = 1) Nernst–Einstein conductivity from the tracer D, as used
for Li7P3S11 in LiPS-25 Task 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import constants
from scipy import stats as sps

from pytest_lips.analysis.arrhenius import ArrheniusFit, fit_arrhenius, fit_lines, inverse_thermal_energy
from pytest_lips.analysis.stats import percentile_interval

__all__ = [
    "ROOM_TEMPERATURE_K",
    "ConductivityEstimate",
    "conductivity_at_298",
    "nernst_einstein_conductivity_mS_cm",
]

ROOM_TEMPERATURE_K = 298.15
_S_PER_M_TO_mS_PER_CM = 10.0  # 1 S/m = 1e3 mS / 1e2 cm
_A3_TO_M3 = 1e-30
_CM2_S_TO_M2_S = 1e-4


def nernst_einstein_conductivity_mS_cm(
    D_cm2_s: float | np.ndarray,
    n_carriers: int,
    volume_A3: float,
    temperature_K: float,
    charge: int = 1,
) -> float | np.ndarray:
    """Nernst–Einstein conductivity σ = n (z e)² D / (k_B T).

    Args:
        D_cm2_s: tracer diffusion coefficient of the carriers, cm²/s (scalar or array).
        n_carriers: number of charge carriers (e.g. Li atoms) in the cell.
        volume_A3: cell volume, Å³ (carrier density n = n_carriers / volume).
        temperature_K: temperature, K.
        charge: carrier charge number z (1 for Li⁺).

    Returns:
        σ in mS/cm (same shape as ``D_cm2_s``).
    """
    if n_carriers <= 0 or not volume_A3 > 0 or not temperature_K > 0:
        raise ValueError("n_carriers, volume_A3 and temperature_K must be > 0")
    n_m3 = n_carriers / (volume_A3 * _A3_TO_M3)
    q_C = charge * constants.e
    D_m2_s = np.asarray(D_cm2_s, dtype=float) * _CM2_S_TO_M2_S
    sigma_S_m = n_m3 * q_C**2 * D_m2_s / (constants.k * temperature_K)
    out = sigma_S_m * _S_PER_M_TO_mS_PER_CM
    return float(out) if np.ndim(out) == 0 else out


@dataclass(frozen=True)
class ConductivityEstimate:
    """Room-temperature conductivity from an Arrhenius extrapolation of D.

    Attributes:
        sigma298_mS_cm: σ at ``temperature_K`` (298.15 K by default), mS/cm.
        interval_mS_cm: (low, high) confidence interval of σ, mS/cm (NaN if not estimable).
        D298_cm2_s: extrapolated D at ``temperature_K``, cm²/s.
        activation_energy_eV: Ea of the point-estimate fit, eV.
        activation_energy_interval_eV: (low, high) interval of Ea, eV.
        per_temperature: {T_K: {"D_cm2_s": [...], "D_mean_cm2_s", "D_sem_cm2_s", "n_repeats"}}.
        method: how the interval was obtained (bootstrap or delta method), human-readable.
        temperature_K: target temperature, K.
        confidence: confidence level of the intervals.
        arrhenius: the point-estimate :class:`ArrheniusFit` (fit of ln of per-temperature mean D).
    """

    sigma298_mS_cm: float
    interval_mS_cm: tuple[float, float]
    D298_cm2_s: float
    activation_energy_eV: float
    activation_energy_interval_eV: tuple[float, float]
    per_temperature: dict[float, dict]
    method: str
    temperature_K: float = ROOM_TEMPERATURE_K
    confidence: float = 0.95
    arrhenius: ArrheniusFit | None = field(default=None, repr=False, compare=False)


def _per_temperature(D_by_temperature: Mapping[float, Sequence[float]]) -> dict[float, np.ndarray]:
    data: dict[float, np.ndarray] = {}
    for T, values in sorted(D_by_temperature.items()):
        arr = np.atleast_1d(np.asarray(values, dtype=float)).ravel()
        if arr.size == 0:
            raise ValueError(f"no D values at T = {T} K")
        if np.any(~np.isfinite(arr)) or np.any(arr <= 0):
            raise ValueError(
                f"D values at T = {T} K must be finite and > 0 cm^2/s for an Arrhenius fit, got {arr}; "
                "a non-diffusive run cannot enter the extrapolation"
            )
        data[float(T)] = arr
    if len(data) < 2:
        raise ValueError(f"need D at >= 2 temperatures for an Arrhenius extrapolation, got {sorted(data)}")
    return data


def conductivity_at_298(
    D_by_temperature: Mapping[float, Sequence[float]],
    n_carriers: int,
    volume_A3: float,
    charge: int = 1,
    temperature_K: float = ROOM_TEMPERATURE_K,
    n_bootstrap: int = 2000,
    confidence: float = 0.95,
    seed: int | np.random.Generator | None = 0,
) -> ConductivityEstimate:
    """Per-temperature D (repeats) → Arrhenius → D(298.15 K) → Nernst–Einstein σ298 with an interval.

    Point estimate: unweighted fit of ln(mean D over repeats) against 1/(k_B T), extrapolated to
    ``temperature_K``; σ from :func:`nernst_einstein_conductivity_mS_cm` with ``volume_A3`` (the cell
    volume representative of ``temperature_K``).

    Interval: if every temperature has >= 2 repeats, a percentile bootstrap — repeats are resampled
    with replacement within each temperature, the per-temperature means recomputed and the Arrhenius
    line refitted ``n_bootstrap`` times (seeded ``numpy.random.Generator``). Otherwise (some
    temperature has a single run) the interval comes from the fit covariance by the delta method on
    ln D(T) with a Student-t quantile (dof = n_T − 2); with only 2 temperatures it is NaN.

    Args:
        D_by_temperature: {T_K: [D_cm2_s per repeat]}.
        n_carriers: number of Li (charge carriers) in the cell.
        volume_A3: cell volume, Å³.
        charge: carrier charge number.
        temperature_K: target temperature, K.
        n_bootstrap: number of bootstrap resamples.
        confidence: confidence level, e.g. 0.95.
        seed: seed or Generator for the bootstrap.

    Returns:
        :class:`ConductivityEstimate`.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    data = _per_temperature(D_by_temperature)
    temps = np.array(list(data))
    means = np.array([v.mean() for v in data.values()])
    per_temperature = {
        T: {
            "D_cm2_s": v.tolist(),
            "D_mean_cm2_s": float(v.mean()),
            "D_sem_cm2_s": float(v.std(ddof=1) / np.sqrt(v.size)) if v.size > 1 else float("nan"),
            "n_repeats": int(v.size),
        }
        for T, v in data.items()
    }
    fit = fit_arrhenius(temps, means)
    D_target = fit.extrapolate_to(temperature_K)

    def sigma(D: float | np.ndarray) -> float | np.ndarray:
        return nernst_einstein_conductivity_mS_cm(D, n_carriers, volume_A3, temperature_K, charge)

    sigma_target = float(sigma(D_target))
    min_repeats = min(v.size for v in data.values())
    if min_repeats >= 2:
        if n_bootstrap < 100:
            raise ValueError(f"n_bootstrap must be >= 100 for a percentile interval, got {n_bootstrap}")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        ln_means = np.empty((temps.size, n_bootstrap))
        for k, v in enumerate(data.values()):
            idx = rng.integers(0, v.size, size=(n_bootstrap, v.size))
            ln_means[k] = np.log(v[idx].mean(axis=1))
        Ea_b, lnD0_b = fit_lines(inverse_thermal_energy(temps), ln_means)
        D_b = np.exp(lnD0_b - Ea_b * inverse_thermal_energy(temperature_K))
        interval = percentile_interval(sigma(D_b), confidence)
        Ea_interval = percentile_interval(Ea_b, confidence)
        method = (
            f"percentile bootstrap over repeats within each temperature (n_bootstrap={n_bootstrap}, "
            f"{confidence:.0%}); Arrhenius fit of ln(mean D) over {temps.size} temperatures"
        )
    else:
        single = [T for T, v in data.items() if v.size < 2]
        if fit.dof >= 1:
            tq = float(sps.t.ppf(0.5 + confidence / 2.0, df=fit.dof))
            se = fit.ln_D_stderr(temperature_K)
            interval = (sigma_target * float(np.exp(-tq * se)), sigma_target * float(np.exp(tq * se)))
            half = tq * fit.activation_energy_err_eV
            Ea_interval = (fit.activation_energy_eV - half, fit.activation_energy_eV + half)
            how = f"Student-t, dof={fit.dof}"
        else:
            interval = Ea_interval = (float("nan"), float("nan"))
            how = "not estimable from 2 temperatures: interval is NaN"
        method = (
            f"delta method from the Arrhenius fit covariance ({confidence:.0%}, {how}); no bootstrap because "
            f"T = {', '.join(f'{T:g}' for T in single)} K has a single repeat"
        )
    return ConductivityEstimate(
        sigma298_mS_cm=sigma_target,
        interval_mS_cm=(float(interval[0]), float(interval[1])),
        D298_cm2_s=float(D_target),
        activation_energy_eV=fit.activation_energy_eV,
        activation_energy_interval_eV=(float(Ea_interval[0]), float(Ea_interval[1])),
        per_temperature=per_temperature,
        method=method,
        temperature_K=float(temperature_K),
        confidence=confidence,
        arrhenius=fit,
    )
