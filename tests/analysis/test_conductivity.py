"""Nernst–Einstein by hand; conductivity_at_298 bootstrap and delta-method intervals."""

import numpy as np
import pytest
from scipy import stats

from pytest_lips.analysis import BOLTZMANN_eV_K, conductivity_at_298, nernst_einstein_conductivity_mS_cm

EA, D0 = 0.25, 2.0e-3  # eV, cm²/s
T = np.array([500.0, 600.0, 700.0, 800.0, 900.0])
N_LI, VOLUME = 28, 1600.0  # Li in a Li7P3S11 cell, Å³


def _D(T_K):
    return D0 * np.exp(-EA / (BOLTZMANN_eV_K * np.asarray(T_K)))


def _sigma_true():
    return nernst_einstein_conductivity_mS_cm(_D(298.15), N_LI, VOLUME, 298.15)


def test_nernst_einstein_by_hand():
    # n = 10 / 1000 Å³ = 0.01 Å⁻³ = 1e22 cm⁻³ = 1e28 m⁻³; D = 1e-6 cm²/s = 1e-10 m²/s; T = 300 K.
    # σ = n e² D / (k_B T) = 1e28 * (1.602176634e-19)² * 1e-10 / (1.380649e-23 * 300) S/m
    #   = 2.566969932e-20 / 4.141947e-21 S/m = 6.19749... S/m = 61.9749... mS/cm  (1 S/m = 10 mS/cm)
    by_hand = 1e28 * 1.602176634e-19**2 * 1e-10 / (1.380649e-23 * 300.0) * 10.0
    assert by_hand == pytest.approx(61.9749, rel=1e-5)
    assert nernst_einstein_conductivity_mS_cm(1e-6, 10, 1000.0, 300.0) == pytest.approx(by_hand, rel=1e-12)
    # z² scaling, linear in D and n, inverse in V and T.
    assert nernst_einstein_conductivity_mS_cm(1e-6, 10, 1000.0, 300.0, charge=2) == pytest.approx(4 * by_hand)
    scaled = nernst_einstein_conductivity_mS_cm(np.array([1e-6, 3e-6]), 20, 2000.0, 600.0)
    np.testing.assert_allclose(scaled, [by_hand / 2, 1.5 * by_hand])


def test_noiseless_repeats_reproduce_sigma298_with_zero_width_interval():
    est = conductivity_at_298({t: [_D(t)] * 3 for t in T}, N_LI, VOLUME, n_bootstrap=200)
    assert est.sigma298_mS_cm == pytest.approx(_sigma_true(), rel=1e-10)
    assert est.D298_cm2_s == pytest.approx(_D(298.15), rel=1e-10)
    assert est.activation_energy_eV == pytest.approx(EA, rel=1e-10)
    np.testing.assert_allclose(est.interval_mS_cm, _sigma_true(), rtol=1e-9)
    assert "bootstrap" in est.method
    assert est.per_temperature[600.0]["n_repeats"] == 3
    assert est.per_temperature[600.0]["D_mean_cm2_s"] == pytest.approx(_D(600.0))


def _datasets(n_sets, n_repeats, seed, noise=0.15):
    rng = np.random.default_rng(seed)
    return [{t: _D(t) * np.exp(rng.normal(0, noise, n_repeats)) for t in T} for _ in range(n_sets)]


def test_bootstrap_interval_covers_truth_and_shrinks_with_repeats():
    s_true = _sigma_true()

    def run(n_repeats, seed):
        data = _datasets(60, n_repeats, seed)
        ests = [conductivity_at_298(d, N_LI, VOLUME, n_bootstrap=500, seed=i) for i, d in enumerate(data)]
        covered = np.mean([e.interval_mS_cm[0] <= s_true <= e.interval_mS_cm[1] for e in ests])
        width = np.median([e.interval_mS_cm[1] - e.interval_mS_cm[0] for e in ests])
        ea_cov = np.mean([lo <= EA <= hi for lo, hi in (e.activation_energy_interval_eV for e in ests)])
        return covered, width, ea_cov

    cov5, width5, ea5 = run(5, seed=10)
    cov20, width20, ea20 = run(20, seed=11)
    # Percentile bootstrap with few repeats under-covers somewhat (variance biased by (n-1)/n).
    assert cov5 >= 0.75 and ea5 >= 0.75
    assert cov20 >= 0.85 and ea20 >= 0.85
    # Width ~ 1/sqrt(repeats): 4x the repeats should roughly halve it.
    assert width20 < 0.7 * width5


def test_bootstrap_is_seeded():
    data = _datasets(1, 4, seed=3)[0]
    a = conductivity_at_298(data, N_LI, VOLUME, n_bootstrap=300, seed=42)
    b = conductivity_at_298(data, N_LI, VOLUME, n_bootstrap=300, seed=42)
    c = conductivity_at_298(data, N_LI, VOLUME, n_bootstrap=300, seed=43)
    assert a.interval_mS_cm == b.interval_mS_cm
    assert a.interval_mS_cm != c.interval_mS_cm


def test_single_repeat_falls_back_to_delta_method():
    data = {t: v[:1] for t, v in _datasets(1, 1, seed=4)[0].items()}
    est = conductivity_at_298(data, N_LI, VOLUME)
    assert "delta method" in est.method and "single repeat" in est.method
    # Independent: regress ln D on x - x(298) so the intercept is ln D(298) with its own stderr.
    x = 1.0 / (BOLTZMANN_eV_K * T) - 1.0 / (BOLTZMANN_eV_K * 298.15)
    ref = stats.linregress(x, np.log([data[t][0] for t in T]))
    tq = stats.t.ppf(0.975, df=T.size - 2)
    s = nernst_einstein_conductivity_mS_cm(np.exp(ref.intercept), N_LI, VOLUME, 298.15)
    assert est.sigma298_mS_cm == pytest.approx(s, rel=1e-10)
    half = tq * ref.intercept_stderr
    np.testing.assert_allclose(est.interval_mS_cm, [s * np.exp(-half), s * np.exp(half)], rtol=1e-8)
    ea_ref = -ref.slope + np.array([-1.0, 1.0]) * tq * ref.stderr
    np.testing.assert_allclose(est.activation_energy_interval_eV, ea_ref, rtol=1e-8)
    assert est.interval_mS_cm[0] < _sigma_true() < est.interval_mS_cm[1]


def test_two_temperatures_single_repeat_gives_nan_interval_and_bad_input_raises():
    est = conductivity_at_298({600.0: [_D(600.0)], 800.0: [_D(800.0)]}, N_LI, VOLUME)
    assert est.sigma298_mS_cm == pytest.approx(_sigma_true(), rel=1e-10)
    assert np.isnan(est.interval_mS_cm).all() and "NaN" in est.method
    with pytest.raises(ValueError, match="> 0"):
        conductivity_at_298({600.0: [1e-6, -1e-7], 800.0: [2e-6, 3e-6]}, N_LI, VOLUME)
    with pytest.raises(ValueError, match=">= 2 temperatures"):
        conductivity_at_298({600.0: [1e-6, 2e-6]}, N_LI, VOLUME)
