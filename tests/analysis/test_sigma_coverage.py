"""The calibrated σ298 interval: exact cases, misfit, measured temperatures, negative repeats, coverage."""

import math

import numpy as np
import pytest

from pytest_lips.analysis import BOLTZMANN_eV_K, nernst_einstein_conductivity_mS_cm
from pytest_lips.analysis.conductivity import (
    RunDiffusion,
    calibrated_conductivity_at_298,
)

EA, D0, N_LI, VOLUME = 0.3, 5e-3, 28, 1600.0


def _D(T):
    return D0 * np.exp(-EA / (BOLTZMANN_eV_K * np.asarray(T, dtype=float)))


def _sigma298():
    return nernst_einstein_conductivity_mS_cm(float(_D(298.15)), N_LI, VOLUME, 298.15)


def test_exact_data_give_sigma298_and_a_narrow_interval_around_it():
    runs = [RunDiffusion(T, float(_D(T)), 1e-3 * float(_D(T))) for T in (500, 600, 700, 800) for _ in range(2)]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    assert est.sigma298_mS_cm == pytest.approx(_sigma298(), rel=1e-8)
    assert est.activation_energy_eV == pytest.approx(EA, rel=1e-8)
    lo, hi = est.interval_mS_cm
    assert lo < _sigma298() < hi and hi / lo < 1.05
    assert "Arrhenius misfit" in est.method or "no Arrhenius misfit" in est.method


def test_interval_width_follows_the_per_temperature_errors_by_the_delta_method():
    # 2 temperatures, 1 run each, 10 % error: se(ln D298) from the two-point line, normal quantile
    T = np.array([600.0, 800.0])
    runs = [RunDiffusion(t, float(_D(t)), 0.1 * float(_D(t))) for t in T]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    x = 1 / (BOLTZMANN_eV_K * T)
    x298 = 1 / (BOLTZMANN_eV_K * 298.15)
    # ln D298 = w1 lnD1 + w2 lnD2 with w = lever-arm weights; var = 0.1² (w1² + w2²)
    w2 = (x298 - x[0]) / (x[1] - x[0])
    se = 0.1 * math.hypot(1 - w2, w2)
    assert math.log(est.interval_mS_cm[1] / est.sigma298_mS_cm) == pytest.approx(1.959964 * se, rel=1e-3)
    assert "2 temperatures" in est.method


def test_misfit_beyond_the_errors_widens_the_interval():
    T = (400, 500, 600, 700, 800)
    wiggle = dict(zip(T, (1.3, 0.75, 1.25, 0.8, 1.2)))
    clean = [RunDiffusion(t, float(_D(t)), 0.02 * float(_D(t))) for t in T]
    bent = [RunDiffusion(t, float(_D(t)) * wiggle[t], 0.02 * float(_D(t))) for t in T]
    a = calibrated_conductivity_at_298(clean, N_LI, VOLUME)
    b = calibrated_conductivity_at_298(bent, N_LI, VOLUME)

    def width(e):
        return math.log(e.interval_mS_cm[1] / e.interval_mS_cm[0])

    assert width(b) > 5 * width(a)
    assert "covariance scaled" in b.method and b.interval_mS_cm[0] < _sigma298() < b.interval_mS_cm[1]


def test_scatter_between_repeats_counts_when_per_run_errors_are_too_small():
    runs = [RunDiffusion(t, float(_D(t)) * f, 0.001 * float(_D(t))) for t in (500, 600, 700, 800) for f in (0.8, 1.2)]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    row = est.per_temperature[600.0]
    assert row["D_sem_cm2_s"] == pytest.approx(row["D_sem_between_cm2_s"], rel=1e-3)
    assert row["D_sem_between_cm2_s"] > 10 * row["D_sem_within_cm2_s"]


def test_measured_temperatures_are_the_arrhenius_abscissa():
    # runs ran 5 % cold: D follows the measured temperature; fitting against nominal would bias Ea
    runs = [RunDiffusion(t, float(_D(0.95 * t)), 1e-3 * float(_D(0.95 * t)), 0.95 * t) for t in (500, 600, 700, 800)]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    assert est.activation_energy_eV == pytest.approx(EA, rel=1e-6)
    assert est.per_temperature[600.0]["temperature_fit_K"] == pytest.approx(570.0)
    nominal = calibrated_conductivity_at_298(
        [RunDiffusion(r.temperature_K, r.D_cm2_s, r.D_stderr_cm2_s) for r in runs], N_LI, VOLUME
    )
    assert nominal.activation_energy_eV == pytest.approx(EA / 0.95, rel=1e-6)


def test_negative_repeats_are_data_not_errors():
    d400 = float(_D(400))
    runs = [RunDiffusion(400.0, -0.5 * d400, 0.8 * d400), RunDiffusion(400.0, 1.8 * d400, 0.8 * d400)]
    runs += [RunDiffusion(t, float(_D(t)), 0.05 * float(_D(t))) for t in (600, 800)]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    assert math.isfinite(est.sigma298_mS_cm) and est.per_temperature[400.0]["used"]
    assert est.per_temperature[400.0]["D_mean_cm2_s"] == pytest.approx(0.65 * d400)
    # a whole temperature with mean D <= 0 still enters as data (D ± error), not as log(negative)
    runs[1] = RunDiffusion(400.0, 0.2 * d400, 0.8 * d400)
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    assert est.per_temperature[400.0]["D_mean_cm2_s"] < 0 and math.isfinite(est.interval_mS_cm[0])
    # fewer than 2 temperatures with a positive mean: no interval, a reason instead of an exception
    est = calibrated_conductivity_at_298(runs[:2] + runs[2:3], N_LI, VOLUME)
    assert math.isnan(est.sigma298_mS_cm) and "fewer than 2 temperatures" in est.method


def test_barely_moving_li_gives_a_reason_not_a_singular_matrix():
    """Runs at 700-1000 K whose Li barely moved (D of either sign within 3-5e-8 cm^2/s errors): the
    weighted fit cannot determine a line. It raised numpy.linalg.LinAlgError (Singular matrix), a
    harness ERROR; it must give NaN with the reason."""
    D = (-0.92e-8, 1.00e-8, -5.80e-8, 5.96e-8)
    se = (3e-8, 3e-8, 5e-8, 5e-8)
    runs = [RunDiffusion(T, d, s, T) for T, d, s in zip((700.0, 800.0, 900.0, 1000.0), D, se)]
    est = calibrated_conductivity_at_298(runs, 28, 1662.4)
    assert math.isnan(est.sigma298_mS_cm) and all(math.isnan(v) for v in est.interval_mS_cm)
    assert "do not determine the Arrhenius line" in est.method


def test_per_run_weights_do_not_follow_each_runs_own_noise():
    """A low draw (few hops: small D and a small per-ion error) must not pull the line towards itself
    as weights 1/se² would: the per-run variance is a smooth law of the fitted D. Reference: a
    weighted fit with each run's own error (scipy curve_fit), which the low error moves much more."""
    from scipy.optimize import curve_fit

    T = np.array((500.0, 600.0, 700.0, 800.0, 900.0))
    D = _D(T).copy()
    D[0] *= 0.5
    se, se_low = 0.2 * _D(T), 0.2 * _D(T)
    se_low[0] = 0.05 * _D(500.0)
    x, x298 = 1 / (BOLTZMANN_eV_K * T), 1 / (BOLTZMANN_eV_K * 298.15)

    def own_error_fit(errors):
        p, _ = curve_fit(lambda x, a, b: np.exp(a - b * x), x, D, p0=(math.log(D0), EA), sigma=errors)
        return p[0] - p[1] * x298

    def ln_D298(errors):
        runs = [RunDiffusion(t, d, s, t) for t, d, s in zip(T, D, errors)]
        return math.log(calibrated_conductivity_at_298(runs, N_LI, VOLUME).D298_cm2_s)

    shift_reference = abs(own_error_fit(se_low) - own_error_fit(se))
    assert shift_reference > 0.3
    assert abs(ln_D298(se_low) - ln_D298(se)) < 0.5 * shift_reference


def test_hidden_scatter_is_pooled_over_temperatures_with_its_degrees_of_freedom():
    """Repeats scattering 10x beyond their per-run errors: τ² is estimated from all temperatures'
    repeats and the quantile is Student-t with the pooled degrees of freedom, not normal."""
    rng = np.random.default_rng(3)
    T = (500.0, 600.0, 700.0, 800.0, 900.0)
    runs = [
        RunDiffusion(t, float(_D(t)) * math.exp(0.3 * rng.standard_normal()), 0.01 * float(_D(t)), t)
        for t in T
        for _ in range(3)
    ]
    est = calibrated_conductivity_at_298(runs, N_LI, VOLUME)
    assert "hidden run-to-run scatter" in est.method and "Student-t" in est.method
    row = est.per_temperature[700.0]
    assert row["D_sem_cm2_s"] > 5 * row["D_sem_within_cm2_s"]
    lo, hi = est.interval_mS_cm
    assert lo < _sigma298() < hi


def test_simulated_trajectories_have_the_diffusion_coefficient_they_were_given():
    """The simulator against its analytic law: the long-time MSD slope of hopping Li is 6 D (Poisson hops
    of length a at rate 6 D / a²); vibration only adds a plateau and the framework drift cancels through
    the centre-of-mass row. 224 Li over 200 ps at D = 0.05 Å²/ps (~96 hops per Li): D within 5 %."""
    from pytest_lips.analysis.diffusion import estimate_diffusion
    from pytest_lips.analysis.sigma_simulation import HopModel, simulate_li_frames

    rng = np.random.default_rng(0)
    frames = simulate_li_frames(rng, 224, 1001, 0.2, 0.05, 600.0, HopModel(drift_A2_ps=1.0))
    mobile = np.ones(225, dtype=bool)
    mobile[-1] = False
    est = estimate_diffusion(frames, 0.2, mobile, framework_mask=~mobile, fit_min_lag_ps=1.0)
    assert est.D_cm2_s * 1e4 == pytest.approx(0.05, rel=0.05)
    no_hops = simulate_li_frames(rng, 224, 201, 0.2, 0.0, 600.0, HopModel(drift_A2_ps=1.0))
    still = estimate_diffusion(no_hops, 0.2, mobile, framework_mask=~mobile, fit_min_lag_ps=1.0)
    assert abs(still.D_cm2_s) < 3 * still.D_stderr_cm2_s and still.msd_end_of_fit_A2 < 1.0


def test_simulated_trajectories_through_task3_give_the_true_sigma298():
    """Independent check of the whole chain (simulated hopping Li, vibration, drifting framework ->
    reduce_run_frames -> analyse -> thresholds): a 5 T x 2 design of 40-ps runs at a true 30 mS/cm
    gives an estimate within a factor 1.5 of the truth with an interval that holds it, in most sets."""
    from pytest_lips.tasks.task3_conductivity import Task3Protocol
    from pytest_lips.tasks.task3_simulation import simulate_design

    protocol = Task3Protocol(
        supercell=(1, 2, 1),
        temperatures_K=(600.0, 700.0, 800.0, 900.0, 1000.0),
        repeats=2,
        production_ps=40.0,
        equilibration_ps=0.0,
        sample_interval_fs=200.0,
    )
    out = simulate_design(protocol, 30.0, n_sets=30, seed=0)
    assert out.with_interval == 1.0 and out.coverage >= 0.85
    assert 0.67 < out.median_ratio < 1.5
    assert math.isclose(out.passed + out.failed + out.inconclusive, 1.0)


def test_an_activation_energy_not_resolved_above_zero_cannot_decide():
    """D falling with T within the errors (the resolved runs of a 3 x 3.5 ps ci run of the example model,
    700 K unresolved: Ea −0.30 eV): the interval is reported but marked undecidable, and the gate is
    INCONCLUSIVE, not FAIL."""
    from pytest_lips.results import Metric
    from pytest_lips.thresholds import default_thresholds

    runs = [RunDiffusion(850.0, 5.2532e-5, 1.9366e-5, 841.45), RunDiffusion(1000.0, 2.8684e-5, 8.0422e-6, 987.30)]
    est = calibrated_conductivity_at_298(runs, 28, 1662.4)
    assert est.activation_energy_interval_eV[0] < 0 and est.interval_mS_cm[1] > 61.0
    assert "not resolved above 0" in est.undecidable_reason
    metric = Metric(
        "task3.sigma298",
        est.sigma298_mS_cm,
        "mS/cm",
        interval=est.interval_mS_cm,
        model="m",
        details={"decide_on": "interval", "undecidable": est.undecidable_reason},
        note=est.undecidable_reason,
    )
    verdicts = default_thresholds().evaluate(metric)
    assert verdicts and all(v.inconclusive and v.passed is None for v in verdicts)
    positive = [RunDiffusion(T, 1e-5 * (T / 700.0) ** 6, 1e-7, T) for T in (700.0, 850.0, 1000.0)]
    assert calibrated_conductivity_at_298(positive, 28, 1662.4).undecidable_reason == ""


def test_an_interval_beyond_the_float_range_is_infinite_not_an_error():
    """Three noisy temperatures with a large misfit: ln D(298 K) ± q·se beyond exp's range gives an
    infinite bound (no finite interval: INCONCLUSIVE), never an OverflowError (a harness ERROR)."""
    runs = [  # a simulated ci data set (3 T x 1) that made exp() overflow
        RunDiffusion(700.0, 3.0073e-05, 1.1090e-05, 704.09),
        RunDiffusion(850.0, 5.5859e-06, 1.3434e-05, 867.68),
        RunDiffusion(1000.0, 1.1125e-04, 1.5994e-05, 988.80),
    ]
    est = calibrated_conductivity_at_298(runs, 224, 16000.0)
    lo, hi = est.interval_mS_cm
    assert lo >= 0.0 and math.isinf(hi)
