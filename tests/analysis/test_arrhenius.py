"""fit_arrhenius against noiseless data, scipy.stats.linregress and scipy.optimize.curve_fit."""

import numpy as np
import pytest
from scipy import optimize, stats

from pytest_lips.analysis import BOLTZMANN_eV_K, fit_arrhenius

EA, D0 = 0.25, 2.0e-3  # eV, cm²/s
T = np.array([500.0, 600.0, 700.0, 800.0, 900.0])


def _D(T_K):
    return D0 * np.exp(-EA / (BOLTZMANN_eV_K * np.asarray(T_K)))


def test_boltzmann_constant_in_eV_per_K():
    assert BOLTZMANN_eV_K == pytest.approx(8.617333262e-5, rel=1e-9)


@pytest.mark.parametrize("with_errors", [False, True])
def test_noiseless_data_give_Ea_and_D298_to_1e10(with_errors):
    fit = fit_arrhenius(T, _D(T), D_err=0.1 * _D(T) if with_errors else None)
    assert fit.activation_energy_eV == pytest.approx(EA, rel=1e-10)
    assert fit.prefactor_cm2_s == pytest.approx(D0, rel=1e-10)
    D298 = D0 * np.exp(-EA / (8.617333262e-5 * 298.15))
    assert fit.extrapolate_to(298.15) == pytest.approx(D298, rel=1e-10)
    assert fit.extrapolate_to() == pytest.approx(D298, rel=1e-10)
    np.testing.assert_allclose(fit.predict(np.array([300.0, 1000.0])), _D([300.0, 1000.0]), rtol=1e-10)
    assert fit.weighted is with_errors
    if not with_errors:
        assert fit.activation_energy_err_eV < 1e-8


def test_unweighted_errors_match_linregress_and_delta_method():
    rng = np.random.default_rng(0)
    D = _D(T) * np.exp(rng.normal(0, 0.2, T.size))
    fit = fit_arrhenius(T, D)
    x = 1.0 / (BOLTZMANN_eV_K * T)
    ref = stats.linregress(x, np.log(D))
    assert fit.activation_energy_eV == pytest.approx(-ref.slope, rel=1e-10)
    assert fit.ln_prefactor == pytest.approx(ref.intercept, rel=1e-10)
    assert fit.activation_energy_err_eV == pytest.approx(ref.stderr, rel=1e-8)
    assert fit.ln_prefactor_err == pytest.approx(ref.intercept_stderr, rel=1e-8)
    # Delta-method stderr of ln D(298 K) equals the intercept stderr of a line centred at x(298 K).
    x298 = 1.0 / (BOLTZMANN_eV_K * 298.15)
    centred = stats.linregress(x - x298, np.log(D))
    assert np.log(fit.extrapolate_to(298.15)) == pytest.approx(centred.intercept, rel=1e-10)
    assert fit.ln_D_stderr(298.15) == pytest.approx(centred.intercept_stderr, rel=1e-8)


def test_weighted_fit_matches_curve_fit_absolute_sigma():
    rng = np.random.default_rng(1)
    rel_err = np.array([0.05, 0.1, 0.2, 0.1, 0.3])
    D = _D(T) * np.exp(rng.normal(0, rel_err))
    fit = fit_arrhenius(T, D, D_err=rel_err * D)

    def model(T_K, Ea, lnD0):
        return lnD0 - Ea / (BOLTZMANN_eV_K * T_K)

    p, cov = optimize.curve_fit(model, T, np.log(D), p0=[0.2, -6.0], sigma=rel_err, absolute_sigma=True)
    assert fit.activation_energy_eV == pytest.approx(p[0], rel=1e-6)
    assert fit.ln_prefactor == pytest.approx(p[1], rel=1e-6)
    np.testing.assert_allclose(fit.covariance, cov, rtol=1e-5)


def test_two_points_and_invalid_input():
    fit = fit_arrhenius(T[:2], _D(T[:2]))
    assert fit.activation_energy_eV == pytest.approx(EA, rel=1e-10)
    assert np.isnan(fit.activation_energy_err_eV)
    with pytest.raises(ValueError, match="> 0"):
        fit_arrhenius(T, -_D(T))
    with pytest.raises(ValueError, match="2 distinct"):
        fit_arrhenius([600.0, 600.0], [1e-6, 2e-6])
