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


def _not_estimable(
    per_temperature: dict[float, dict], reason: str, temperature_K: float, confidence: float
) -> ConductivityEstimate:
    nan2 = (math.nan, math.nan)
    return ConductivityEstimate(
        math.nan, nan2, math.nan, math.nan, nan2, per_temperature, reason, float(temperature_K), confidence, None
    )


def calibrated_conductivity_at_298(
    runs: Sequence[RunDiffusion],
    n_carriers: int,
    volume_A3: float,
    charge: int = 1,
    temperature_K: float = ROOM_TEMPERATURE_K,
    confidence: float = 0.95,
) -> ConductivityEstimate:
    """σ298 with an interval that carries per-run errors, scatter between repeats and Arrhenius misfit.

    Every temperature enters (none is selected on its own outcome: a rule such as "keep a temperature
    when its Li MSD is large" keeps the runs whose noise came out high and biases σ298 upward).

    1. Per nominal temperature k: the Arrhenius abscissa is the mean *measured* temperature of its R_k
       runs (nominal where not measured); D̄_k is the mean of the repeats (a run with D ≤ 0 is data).
    2. Variance model of one run: its per-run variance (the mean squared per-run standard error at
       that temperature) plus a hidden relative scatter τ² D̂_k² that per-ion errors cannot see,
       evaluated on the *fitted* line D̂_k, not on the noisy D̄_k (weights that follow a point's own
       noise pull the line towards low draws). τ² is pooled over the temperatures with R_k ≥ 2 by the
       method of moments from the scatter between repeats beyond the per-run errors (≥ 0), with its
       Satterthwaite degrees of freedom ν_τ (≤ Σ (R_k − 1)). Var D̄_k = (per-run + τ² D̂_k²) / R_k.
    3. Weighted least squares of D̄_k on exp(ln D0 − Ea/(k_B T)) in D (not ln D: a mean ≤ 0 is data),
       iterated with the variances of step 2 (at most 50 times).
    4. Misfit: with ≥ 3 temperatures the covariance is multiplied by max(1, χ²/(n_T − 2)).
    5. Quantile: Student-t with ν degrees of freedom, the Satterthwaite combination of the per-run part
       (ν = ∞) and the τ² part (ν_τ) of var ln D(298 K); with ≥ 3 temperatures and χ²/(n_T − 2) > 1,
       ν = min(that, n_T − 2) (the scale is then estimated from n_T − 2 residuals). With one run per
       temperature and ≥ 3 temperatures (no τ² estimable) the scale always comes from the residuals:
       ν = n_T − 2.
    6. ln D(298 K) ± q · se (delta method) → Nernst–Einstein σ at ``temperature_K``.
    7. Decidability: when the Ea interval reaches 0 eV or below (D not resolved to rise with T), the
       interval is still returned but ``undecidable_reason`` says why it must not decide a gate: a
       negative slope from noise extrapolates to an arbitrarily large σ298 whose whole interval can
       lie above the band (measured: a 3 x 3.5 ps ci run of the example model gave Ea −0.30
       [−0.74, 0.15] eV and σ298 [74, 1.3e12] mS/cm, where 7–8 ps runs gave Ea 0.20–0.24 eV).
    8. Data that do not determine a line (fewer than 2 temperatures with a mean D > 0 and a known
       error, a singular or non-finite fit) give NaN with the reason in ``method``, never an exception.

    Calibration: ``benchmarks/sigma_coverage.py`` (simulated trajectories through Task 3's chain). The
    interval is for the Arrhenius extrapolation of this cell's tracer D: it does not include finite-size
    effects, a Haven ratio ≠ 1, or a change of mechanism between the lowest simulated temperature and
    298 K.

    Args:
        runs: one :class:`RunDiffusion` per completed run.
        n_carriers: Li atoms in the cell; volume_A3: cell volume, Å³; charge: carrier charge number.
        temperature_K: target temperature, K; confidence: level of the interval.

    Returns:
        :class:`ConductivityEstimate` (``interval_mS_cm`` NaN when the data do not determine a line).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    groups: dict[float, list[RunDiffusion]] = {}
    for run in runs:
        if not math.isfinite(run.D_cm2_s):
            raise ValueError(f"run at {run.temperature_K:g} K has a non-finite D ({run.D_cm2_s})")
        groups.setdefault(float(run.temperature_K), []).append(run)
    per_temperature: dict[float, dict] = {}
    x_list, y_list, within_list, between_list, R_list, used = [], [], [], [], [], []
    for T_nominal in sorted(groups):
        group = groups[T_nominal]
        D = np.array([r.D_cm2_s for r in group], dtype=float)
        se = np.array([r.D_stderr_cm2_s for r in group], dtype=float)
        T_meas = np.array([r.temperature_measured_K for r in group], dtype=float)
        measured = bool(np.all(np.isfinite(T_meas)))
        T_fit = float(T_meas.mean()) if measured else T_nominal
        R = D.size
        mean = float(D.mean())
        run_var = float(np.mean(se**2)) if np.all(np.isfinite(se)) else math.nan
        s2 = float(D.var(ddof=1)) if R >= 2 else math.nan
        if not math.isfinite(run_var) and math.isfinite(s2):
            run_var = s2  # no per-run errors: the repeats' scatter is the per-run variance
        ok = math.isfinite(run_var) and run_var > 0
        per_temperature[T_nominal] = {
            "D_cm2_s": D.tolist(),
            "D_mean_cm2_s": mean,
            "D_sem_cm2_s": math.sqrt(run_var / R) if ok else math.nan,
            "D_sem_within_cm2_s": math.sqrt(run_var / R) if ok else math.nan,
            "D_sem_between_cm2_s": math.sqrt(s2 / R) if math.isfinite(s2) else math.nan,
            "n_repeats": R,
            "temperature_fit_K": T_fit,
            "temperature_measured": measured,
            "used": ok,
        }
        if ok:
            x_list.append(float(inverse_thermal_energy(T_fit)))
            y_list.append(mean)
            within_list.append(run_var)
            between_list.append(s2)
            R_list.append(R)
            used.append(T_nominal)

    def sigma(D_value: float) -> float:
        return float(nernst_einstein_conductivity_mS_cm(D_value, n_carriers, volume_A3, temperature_K, charge))

    if len(used) < 2 or sum(m > 0 for m in y_list) < 2:
        reason = (
            f"fewer than 2 temperatures with mean D > 0 and a known uncertainty "
            f"(usable: {', '.join(f'{t:g}' for t in used) or 'none'} K)"
        )
        return _not_estimable(per_temperature, reason, temperature_K, confidence)
    x, D_mean = np.array(x_list), np.array(y_list)
    within, s2_between, R_k = np.array(within_list), np.array(between_list), np.array(R_list, dtype=float)
    A = np.column_stack([np.ones_like(x), -x])  # ln D = ln D0 − Ea x
    positive = D_mean > 0
    beta = np.linalg.lstsq(A[positive], np.log(D_mean[positive]), rcond=None)[0]
    repeated = np.isfinite(s2_between) & (R_k >= 2)
    tau2, nu_tau = 0.0, math.inf
    fit_fail = ""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        for _ in range(50):
            D_hat = np.exp(A @ beta)
            per_run = _per_run_variance_on_line(within, D_hat, R_k)
            if repeated.any():
                tau2, nu_tau = _pooled_hidden_scatter(
                    s2_between[repeated], per_run[repeated], D_hat[repeated], R_k[repeated], tau2
                )
            var = (per_run + tau2 * D_hat**2) / R_k
            sd = np.sqrt(var)
            if not (np.all(np.isfinite(D_hat)) and np.all(sd > 0)):
                fit_fail = "the fitted line left the range of floating-point numbers"
                break

            def residuals(b: np.ndarray, sd: np.ndarray = sd) -> np.ndarray:
                return (D_mean - np.exp(A @ b)) / sd

            def jacobian(b: np.ndarray, sd: np.ndarray = sd) -> np.ndarray:
                return -(np.exp(A @ b) / sd)[:, None] * A

            try:
                new = optimize.least_squares(residuals, beta, jac=jacobian, method="lm").x
            except (ValueError, np.linalg.LinAlgError) as exc:
                fit_fail = f"weighted Arrhenius fit failed ({exc})"
                break
            converged = bool(np.all(np.abs(new - beta) <= 1e-9 * (1.0 + np.abs(beta))))
            beta = new
            if converged:
                break
        if not fit_fail:
            D_hat = np.exp(A @ beta)
            per_run = _per_run_variance_on_line(within, D_hat, R_k)
            var = (per_run + tau2 * D_hat**2) / R_k
            J = -(D_hat / np.sqrt(var))[:, None] * A
            info = J.T @ J
            if not np.all(np.isfinite(info)) or np.linalg.cond(info) > 1e14:
                fit_fail = "the data do not determine the Arrhenius line (singular fit: D does not resolve a slope)"
    if fit_fail:
        return _not_estimable(per_temperature, fit_fail, temperature_K, confidence)
    cov = np.linalg.inv(info)
    chi2 = float(np.sum(((D_mean - D_hat) ** 2) / var))
    for k, T_nominal in enumerate(used):
        per_temperature[T_nominal]["D_sem_cm2_s"] = float(np.sqrt(var[k]))
        per_temperature[T_nominal]["D_fit_cm2_s"] = float(D_hat[k])

    n_T = len(used)
    dof = n_T - 2
    birge = max(1.0, chi2 / dof) if dof >= 1 else 1.0
    cov = cov * birge
    x298 = float(inverse_thermal_energy(temperature_K))
    g = np.array([1.0, -x298])
    # Satterthwaite degrees of freedom of var ln D298 from its per-run part (known) and τ² part (ν_τ)
    if tau2 > 0 and math.isfinite(nu_tau):
        grad = (g @ cov @ A.T) * (D_hat / var) / birge  # d lnD298 / d D̄_k (unscaled weights)
        part_tau = float(np.sum(grad**2 * tau2 * D_hat**2 / R_k))
        part_run = float(np.sum(grad**2 * per_run / R_k))
        nu = (part_tau + part_run) ** 2 / (part_tau**2 / nu_tau) if part_tau > 0 else math.inf
    else:
        nu = math.inf
    if dof >= 1 and (birge > 1.0 or not repeated.any()):
        nu = min(nu, float(dof))
        how = (
            f"χ²/dof = {chi2 / dof:.2f}; covariance scaled by max(1, χ²/dof), Student-t (dof {nu:.3g}: "
            "the scale is estimated from the Arrhenius residuals)"
        )
    elif dof >= 1:
        how = f"no Arrhenius misfit beyond the errors (χ²/dof = {chi2 / dof:.2f})"
    else:
        how = "2 temperatures: Arrhenius misfit not estimable"
    if repeated.any():
        how += f"; hidden run-to-run scatter τ = {math.sqrt(tau2):.3g} (relative, pooled, dof {nu_tau:.3g})"
    q = (
        float(sps.t.ppf(0.5 + confidence / 2.0, df=nu))
        if math.isfinite(nu)
        else float(sps.norm.ppf(0.5 + confidence / 2.0))
    )
    how += f"; quantile {q:.3g}" + (f" (Student-t, dof {nu:.3g})" if math.isfinite(nu) else " (normal)")
    ln_D298 = float(g @ beta)
    se298 = float(np.sqrt(g @ cov @ g))
    D298 = _exp(ln_D298)
    Ea, Ea_se = float(beta[1]), float(np.sqrt(cov[1, 1]))
    fit = ArrheniusFit(
        activation_energy_eV=Ea,
        prefactor_cm2_s=_exp(float(beta[0])),
        activation_energy_err_eV=Ea_se,
        ln_prefactor=float(beta[0]),
        ln_prefactor_err=float(np.sqrt(cov[0, 0])),
        covariance=np.array([[cov[1, 1], cov[0, 1]], [cov[1, 0], cov[0, 0]]]),
        temperatures_K=1.0 / (x * BOLTZMANN_eV_K),
        D_cm2_s=D_mean,
        weighted=True,
    )
    method = (
        f"weighted Arrhenius fit of mean D over {n_T} temperatures (per-temperature variance: per-run "
        f"errors plus hidden scatter on the fitted line); {how}; "
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


def _per_run_variance_on_line(mean_se2: np.ndarray, D_hat: np.ndarray, R: np.ndarray) -> np.ndarray:
    """Per-run variance of D at each temperature from a smooth law fitted to all runs' errors, cm⁴/s².

    The per-ion standard error of a run follows its own noise: a run whose Li happened to hop less has
    a smaller D *and* a smaller error, and weights 1/se² would pull the line towards such draws. The
    per-run variance is therefore modelled as a + b·D̂ (vibration floor plus hop shot noise, which grows
    with the number of hops, i.e. with D) on the fitted line D̂, with a, b ≥ 0 fitted to the squared
    errors of all runs (non-negative least squares, rows scaled by the previous prediction: relative
    residuals). With 2 temperatures (no check of the law possible) the runs' own errors are used.
    """
    w = np.sqrt(R)
    pred = np.full_like(mean_se2, float(np.average(mean_se2, weights=R)))
    if mean_se2.size < 3:
        return mean_se2
    X = np.column_stack([np.ones_like(D_hat), D_hat])
    for _ in range(3):
        scale = w / pred
        coef, _ = optimize.nnls(X * scale[:, None], mean_se2 * scale)
        new = X @ coef
        if not np.all(new > 0):
            break
        pred = new
    return pred


def _pooled_hidden_scatter(
    s2: np.ndarray, per_run: np.ndarray, D_hat: np.ndarray, R: np.ndarray, tau2_start: float
) -> tuple[float, float]:
    """Relative run-to-run variance τ² beyond the per-run errors, pooled over temperatures, and its dof.

    Method of moments: E[s_k²] = per-run_k + τ² D̂_k² for the sample variance s_k² of the R_k repeats
    (R_k − 1 dof). Each temperature's estimate r_k = (s_k² − per-run_k) / D̂_k² is weighted by
    1 / var(r_k) ∝ (R_k − 1) / c_k² with c_k = per-run_k / D̂_k² + τ² (two passes); τ² = max(0, Σ w r / Σ w).
    Degrees of freedom: Satterthwaite, (Σ w c)² / Σ (w c)² / (R_k − 1).
    """
    tau2 = tau2_start
    r = (s2 - per_run) / D_hat**2
    for _ in range(2):
        c = per_run / D_hat**2 + tau2
        w = (R - 1.0) / c**2
        tau2 = max(0.0, float(np.sum(w * r) / np.sum(w)))
    c = per_run / D_hat**2 + tau2
    w = (R - 1.0) / c**2
    nu = float(np.sum(w * c) ** 2 / np.sum((w * c) ** 2 / (R - 1.0)))
    return tau2, nu
