"""fit_diffusion: exact lines, window selection, units; independent check against kinisi."""

import numpy as np
import pytest

from pytest_lips.analysis import fit_diffusion, mean_squared_displacement


@pytest.mark.parametrize("dimensions", [1, 2, 3])
def test_exact_line_gives_D_and_unit_conversion(dimensions):
    lag = np.linspace(0.0, 50.0, 501)
    D_A2_ps = 0.1  # = 1e-5 cm²/s
    msd = 2 * dimensions * D_A2_ps * lag + 0.7
    fit = fit_diffusion(lag, msd, dimensions=dimensions)
    assert fit.D_cm2_s == pytest.approx(1e-5, rel=1e-12)
    assert fit.slope_A2_ps == pytest.approx(2 * dimensions * 0.1, rel=1e-12)
    assert fit.intercept_A2 == pytest.approx(0.7, rel=1e-10)
    assert fit.D_stderr_cm2_s < 1e-8 * fit.D_cm2_s
    assert fit.window_ps == (5.0, 25.0)
    assert fit.n_points == 201


def test_window_excludes_ballistic_start_and_long_lag_tail():
    lag = np.arange(0.0, 10.01, 0.1)
    msd = 0.6 * lag + 0.2
    msd[lag < 1.0] = 3.0 * lag[lag < 1.0] ** 2  # ballistic/caging region
    msd[lag > 5.0] = 50.0  # garbage where origins are few
    fit = fit_diffusion(lag, msd, fit_start_fraction=0.1, fit_end_fraction=0.5)
    assert fit.window_ps == pytest.approx((1.0, 5.0))
    assert fit.D_cm2_s == pytest.approx(0.6 / 6 * 1e-4, rel=1e-10)
    # Using the whole curve gives a different answer, so the window matters.
    assert abs(fit_diffusion(lag, msd, 0.0, 1.0).D_cm2_s - fit.D_cm2_s) > 0.1 * fit.D_cm2_s


def test_too_few_points_and_bad_window_raise():
    lag = np.arange(5.0)
    with pytest.raises(ValueError, match="points"):
        fit_diffusion(lag, lag, 0.5, 0.6)
    with pytest.raises(ValueError, match="fit_start_fraction"):
        fit_diffusion(lag, lag, 0.6, 0.5)


def test_random_walk_D_agrees_with_kinisi():
    sc = pytest.importorskip("scipp")
    kinisi_analyze = pytest.importorskip("kinisi.analyze")
    from ase import Atoms

    rng = np.random.default_rng(1)
    n_frames, n_li, n_s, dt_ps, D_A2_ps, box = 801, 24, 8, 0.1, 0.1, 20.0
    li = np.cumsum(rng.normal(0, np.sqrt(2 * D_A2_ps * dt_ps), (n_frames, n_li, 3)), axis=0)
    li += rng.uniform(0, box, (1, n_li, 3))
    s = rng.uniform(0, box, (1, n_s, 3)) + rng.normal(0, 0.05, (n_frames, n_s, 3))  # vibrating framework
    pos = np.concatenate([li, s], axis=1)
    mobile = np.arange(n_li + n_s) < n_li

    res = mean_squared_displacement(pos, dt_ps, mobile)
    ours = fit_diffusion(res.lag_ps, res.msd_A2)

    # kinisi reads wrapped frames from ASE, unwraps, removes framework drift, and fits the same
    # window with a generalised-least-squares Bayesian model (posterior samples of D in cm²/s).
    frames = [Atoms(f"Li{n_li}S{n_s}", positions=p, cell=np.eye(3) * box, pbc=True) for p in pos]
    i_end = int(round(ours.window_ps[1] / dt_ps))
    dt_unit = sc.scalar(dt_ps, unit="ps")
    ana = kinisi_analyze.DiffusionAnalyzer.from_ase(
        frames,
        specie="Li",
        time_step=dt_unit,
        step_skip=sc.scalar(1),
        dt=sc.arange("time interval", 1, i_end + 1) * dt_unit,
        progress=False,
    )
    ana.diffusion(
        start_dt=sc.scalar(ours.window_ps[0], unit="ps"),
        n_samples=500,
        n_burn=300,
        progress=False,
        random_state=np.random.RandomState(0),
    )
    D_samples = sc.to_unit(ana.D, "cm^2/s").values
    D_kin, D_kin_sd = float(np.mean(D_samples)), float(np.std(D_samples, ddof=1))
    combined = np.hypot(D_kin_sd, ours.D_stderr_cm2_s)
    assert 0 < D_kin_sd < 0.5 * D_kin
    assert abs(ours.D_cm2_s - D_kin) < 3 * combined
    # Both also agree with the true D within that uncertainty.
    assert abs(ours.D_cm2_s - D_A2_ps * 1e-4) < 3 * combined


def _walks(rng, n_frames=101, n_li=28, n_fw=14, dt_ps=0.05, D_A2_ps=0.05):
    li = np.cumsum(rng.normal(0, np.sqrt(2 * D_A2_ps * dt_ps), (n_frames, n_li, 3)), axis=0)
    fw = rng.normal(0, 0.1, (n_frames, n_fw, 3))  # vibrating framework
    drift = np.cumsum(rng.normal(0, 0.2, (n_frames, 1, 3)), axis=0)  # rigid drift of the whole cell content
    return np.concatenate([li, fw], axis=1) + drift, np.arange(n_li + n_fw) < n_li


def test_per_atom_estimate_is_the_ols_slope_of_the_mean_msd():
    from pytest_lips.analysis.diffusion import estimate_diffusion

    pos, mobile = _walks(np.random.default_rng(3))
    est = estimate_diffusion(pos, 0.05, mobile, fit_min_lag_ps=0.6)
    res = mean_squared_displacement(pos, 0.05, mobile)
    ols = fit_diffusion(res.lag_ps, res.msd_A2, fit_min_lag_ps=0.6)
    np.testing.assert_allclose(est.msd_A2, res.msd_A2, rtol=1e-9, atol=1e-12)
    assert est.D_cm2_s == pytest.approx(ols.D_cm2_s, rel=1e-9)
    assert est.window_ps == pytest.approx(ols.window_ps) and est.window_ps[0] == pytest.approx(0.6)
    assert est.dof == 27 and est.interval_cm2_s[0] < est.D_cm2_s < est.interval_cm2_s[1]


def test_per_run_interval_covers_the_true_D_at_its_nominal_rate():
    """Over 500 independent random walks of known D, the 95 % per-run interval holds D 92-98 % of the time."""
    from pytest_lips.analysis.diffusion import estimate_diffusion

    rng = np.random.default_rng(0)
    D_true = 0.05 * 1e-4  # cm²/s
    hits, D_values, se_values = 0, [], []
    for _ in range(500):
        pos, mobile = _walks(rng)
        est = estimate_diffusion(pos, 0.05, mobile)
        hits += est.interval_cm2_s[0] <= D_true <= est.interval_cm2_s[1]
        D_values.append(est.D_cm2_s)
        se_values.append(est.D_stderr_cm2_s)
    assert 0.92 <= hits / 500 <= 0.98
    # and the reported standard error matches the real scatter between runs (within 10 %)
    assert np.std(D_values, ddof=1) / np.mean(se_values) == pytest.approx(1.0, abs=0.1)
    assert np.mean(D_values) == pytest.approx(D_true, rel=0.03)


def test_min_lag_past_the_window_end_is_a_clear_error():
    lag = np.linspace(0, 2.0, 41)
    with pytest.raises(ValueError, match="fit_min_lag_ps"):
        fit_diffusion(lag, 6 * lag, fit_min_lag_ps=1.5)
