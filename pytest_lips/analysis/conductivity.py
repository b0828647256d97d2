"""Ionic conductivity from tracer diffusion (Nernst–Einstein) and its room-temperature extrapolation.

Units: D in cm²/s, volumes in Å³, temperatures in K, conductivity in mS/cm. Internally SI
(scipy.constants): σ [S/m] = n [m⁻³] (z e [C])² D [m²/s] / (k_B [J/K] T [K]); 1 S/m = 10 mS/cm.

This is the uncorrelated (Haven ratio = 1) Nernst–Einstein conductivity from the tracer D, as used
for Li7P3S11 in LiPS-25 Task 3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import constants, optimize
from scipy import stats as sps

from pytest_lips.analysis.arrhenius import (
    ArrheniusFit,
    BOLTZMANN_eV_K,
    fit_arrhenius,
    fit_lines,
    inverse_thermal_energy,
)
from pytest_lips.analysis.stats import percentile_interval

__all__ = [
    "ROOM_TEMPERATURE_K",
    "ConductivityEstimate",
    "RunDiffusion",
    "calibrated_conductivity_at_298",
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
        undecidable_reason: why the interval must not decide a gate although it is finite ("" when it
            may): the Ea interval reaches 0 eV or below, so the data do not resolve D rising with T and
            the direction of the extrapolation to 298 K rests on noise.
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
    undecidable_reason: str = ""


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
        interval = percentile_interval(np.asarray(sigma(D_b)), confidence)
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


@dataclass(frozen=True)
class RunDiffusion:
    """D of one MD run as it enters the calibrated σ298 interval.

    Attributes:
        temperature_K: nominal temperature of the run (groups repeats), K.
        D_cm2_s: diffusion coefficient of the run, cm²/s (may be ≤ 0: a run whose Li barely moved).
        D_stderr_cm2_s: its standard error, cm²/s (per-atom estimate,
            :func:`~pytest_lips.analysis.diffusion.estimate_diffusion`); NaN if unknown.
        temperature_measured_K: mean kinetic temperature of the production, K (NaN: use nominal).
    """

    temperature_K: float
    D_cm2_s: float
    D_stderr_cm2_s: float = float("nan")
    temperature_measured_K: float = float("nan")


def _exp(x: float) -> float:
    """exp(x), inf beyond the float range (an interval bound that says nothing, not a crash)."""
    return math.exp(x) if x < 709.0 else math.inf


def calibrated_conductivity_at_298(
    runs: Sequence[RunDiffusion],
    n_carriers: int,
    volume_A3: float,
    charge: int = 1,
    temperature_K: float = ROOM_TEMPERATURE_K,
    confidence: float = 0.95,
) -> ConductivityEstimate:
    """σ298 with an interval that carries per-run errors, scatter between repeats and Arrhenius misfit.

    1. Per nominal temperature: the Arrhenius abscissa is the mean *measured* temperature of its runs
       (nominal where not measured); D̄ is the mean of the repeats; its variance is the larger of the
       mean per-run variance / R (within-run information) and the sample variance of the repeats / R
       (scatter between repeats, when R ≥ 2). A temperature with D̄ ≤ 0 cannot enter a log fit and is
       left out (listed in ``per_temperature`` with ``used=False``); single runs with D ≤ 0 are data.
    2. Weighted least squares of ln D̄ on 1/(k_B T) with σ_lnD = sd(D̄)/D̄.
    3. Misfit: with ≥ 3 temperatures the covariance is multiplied by the Birge ratio
       max(1, χ²/(n_T − 2)); if the ratio exceeds 1 the quantile is Student-t with n_T − 2 degrees of
       freedom, otherwise normal. With 2 temperatures no misfit can be seen; the interval then rests on
       the per-temperature variances alone (the method text says so).
    4. ln D(298 K) ± q · se (delta method) → Nernst–Einstein σ at ``temperature_K``.
    5. Decidability: when the Ea interval reaches 0 eV or below (D not resolved to rise with T), the
       interval is still returned but ``undecidable_reason`` says why it must not decide a gate: a
       negative slope from noise extrapolates to an arbitrarily large σ298 whose whole interval can
       lie above the band (measured: a 3 x 3.5 ps ci run of the example model gave Ea −0.30
       [−0.74, 0.15] eV and σ298 [74, 1.3e12] mS/cm, where 7–8 ps runs gave Ea 0.20–0.24 eV).

    Calibration: ``benchmarks/sigma_coverage.py`` (assumptions stated there). The interval is for the
    Arrhenius extrapolation of this cell's tracer D: it does not include finite-size effects, a Haven
    ratio ≠ 1, or a change of mechanism between the lowest simulated temperature and 298 K.

    Args:
        runs: one :class:`RunDiffusion` per completed run.
        n_carriers: Li atoms in the cell; volume_A3: cell volume, Å³; charge: carrier charge number.
        temperature_K: target temperature, K; confidence: level of the interval.

    Returns:
        :class:`ConductivityEstimate` (``interval_mS_cm`` NaN when fewer than 2 temperatures are usable).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    groups: dict[float, list[RunDiffusion]] = {}
    for run in runs:
        if not math.isfinite(run.D_cm2_s):
            raise ValueError(f"run at {run.temperature_K:g} K has a non-finite D ({run.D_cm2_s})")
        groups.setdefault(float(run.temperature_K), []).append(run)
    per_temperature: dict[float, dict] = {}
    x_list, y_list, s_list, used = [], [], [], []
    for T_nominal in sorted(groups):
        group = groups[T_nominal]
        D = np.array([r.D_cm2_s for r in group], dtype=float)
        se = np.array([r.D_stderr_cm2_s for r in group], dtype=float)
        T_meas = np.array([r.temperature_measured_K for r in group], dtype=float)
        measured = bool(np.all(np.isfinite(T_meas)))
        T_fit = float(T_meas.mean()) if measured else T_nominal
        R = D.size
        mean = float(D.mean())
        within = float(np.mean(se**2) / R) if np.all(np.isfinite(se)) else math.nan
        between = float(D.var(ddof=1) / R) if R >= 2 else math.nan
        var = float(np.nanmax([within, between])) if np.isfinite([within, between]).any() else math.nan
        ok = math.isfinite(var) and var > 0
        per_temperature[T_nominal] = {
            "D_cm2_s": D.tolist(),
            "D_mean_cm2_s": mean,
            "D_sem_cm2_s": math.sqrt(var) if math.isfinite(var) else math.nan,
            "D_sem_within_cm2_s": math.sqrt(within) if math.isfinite(within) else math.nan,
            "D_sem_between_cm2_s": math.sqrt(between) if math.isfinite(between) else math.nan,
            "n_repeats": R,
            "temperature_fit_K": T_fit,
            "temperature_measured": measured,
            "used": ok,
        }
        if ok:
            x_list.append(float(inverse_thermal_energy(T_fit)))
            y_list.append(mean)
            s_list.append(math.sqrt(var))
            used.append(T_nominal)

    def sigma(D_value: float) -> float:
        return float(nernst_einstein_conductivity_mS_cm(D_value, n_carriers, volume_A3, temperature_K, charge))

    nan2 = (math.nan, math.nan)
    if len(used) < 2 or sum(m > 0 for m in y_list) < 2:
        reason = (
            f"fewer than 2 temperatures with mean D > 0 and a known uncertainty "
            f"(usable: {', '.join(f'{t:g}' for t in used) or 'none'} K)"
        )
        return ConductivityEstimate(
            math.nan, nan2, math.nan, math.nan, nan2, per_temperature, reason, float(temperature_K), confidence, None
        )
    x, D_mean, sd_D = np.array(x_list), np.array(y_list), np.array(s_list)
    A = np.column_stack([np.ones_like(x), -x])  # ln D = ln D0 − Ea x
    positive = D_mean > 0
    # start: unweighted line through the positive means; then weighted least squares in D itself
    # (not in ln D: a mean with a large relative error, or ≤ 0, is data with its own error bar)
    start = np.linalg.lstsq(A[positive], np.log(D_mean[positive]), rcond=None)[0]

    def residuals(beta: np.ndarray) -> np.ndarray:
        return (D_mean - np.exp(A @ beta)) / sd_D

    def jacobian(beta: np.ndarray) -> np.ndarray:
        return -(np.exp(A @ beta) / sd_D)[:, None] * A

    solution = optimize.least_squares(residuals, start, jac=jacobian, method="lm")
    beta = solution.x
    J = jacobian(beta)
    cov = np.linalg.inv(J.T @ J)
    chi2 = float(np.sum(residuals(beta) ** 2))

    dof = len(used) - 2
    birge = max(1.0, chi2 / dof) if dof >= 1 else 1.0
    cov = cov * birge
    if birge > 1.0:
        # misfit beyond the error bars: covariance scaled by the Birge ratio χ²/dof, and a Student-t
        # quantile because that ratio is estimated from n_T − 2 residuals
        q = float(sps.t.ppf(0.5 + confidence / 2.0, df=dof))
        how = f"Arrhenius misfit χ²/dof = {chi2 / dof:.2f} > 1: covariance scaled by it, Student-t (dof {dof})"
    else:
        q = float(sps.norm.ppf(0.5 + confidence / 2.0))
        how = (
            f"no Arrhenius misfit beyond the errors (χ²/dof = {chi2 / dof:.2f}), normal quantile"
            if dof >= 1
            else "2 temperatures: Arrhenius misfit not estimable, normal quantile"
        )
    x298 = float(inverse_thermal_energy(temperature_K))
    g = np.array([1.0, -x298])
    ln_D298 = float(g @ beta)
    se298 = float(np.sqrt(g @ cov @ g))
    D298 = _exp(ln_D298)
    Ea, Ea_se = float(beta[1]), float(np.sqrt(cov[1, 1]))
    fit = ArrheniusFit(
        activation_energy_eV=Ea,
        prefactor_cm2_s=math.exp(beta[0]),
        activation_energy_err_eV=Ea_se,
        ln_prefactor=float(beta[0]),
        ln_prefactor_err=float(np.sqrt(cov[0, 0])),
        covariance=np.array([[cov[1, 1], cov[0, 1]], [cov[1, 0], cov[0, 0]]]),
        temperatures_K=1.0 / (x * BOLTZMANN_eV_K),
        D_cm2_s=D_mean,
        weighted=True,
    )
    method = (
        f"weighted Arrhenius fit of ln(mean D) over {len(used)} temperatures (per-temperature "
        f"variance: max of per-run errors and scatter between repeats); {how}; "
        f"{confidence:.0%} delta-method interval of ln D({temperature_K:g} K)"
    )
    Ea_interval = (Ea - q * Ea_se, Ea + q * Ea_se)
    undecidable = (
        f"activation energy not resolved above 0: Ea {Ea:.3g} eV, {confidence:.0%} interval "
        f"[{Ea_interval[0]:.3g}, {Ea_interval[1]:.3g}] eV reaches 0, so the extrapolation to "
        f"{temperature_K:g} K cannot decide"
        if not Ea_interval[0] > 0
        else ""
    )
    return ConductivityEstimate(
        sigma298_mS_cm=sigma(D298),
        # in ln D: a wide interval (few, noisy temperatures) must give 0 or inf, not an OverflowError
        interval_mS_cm=(sigma(_exp(ln_D298 - q * se298)), sigma(_exp(ln_D298 + q * se298))),
        D298_cm2_s=D298,
        activation_energy_eV=Ea,
        activation_energy_interval_eV=Ea_interval,
        per_temperature=per_temperature,
        method=method,
        temperature_K=float(temperature_K),
        confidence=confidence,
        arrhenius=fit,
        undecidable_reason=undecidable,
    )
