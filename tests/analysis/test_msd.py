"""MSD: brute-force equality, exact drift removal, mass weighting, random-walk D, unwrapping."""

import numpy as np
import pytest

from pytest_lips.analysis import fit_diffusion, mean_squared_displacement, unwrap_positions


def _brute_force_msd(pos, mobile, framework, masses):
    """Independent reference: explicit loops over lags, origins and atoms."""
    n_frames, n_atoms, _ = pos.shape
    w = np.ones(n_atoms) if masses is None else np.asarray(masses, float)
    fw = [i for i in range(n_atoms) if framework[i]]
    com = np.array([sum(w[i] * pos[t, i] for i in fw) / sum(w[i] for i in fw) for t in range(n_frames)])
    corr = pos - (com - com[0])[:, None, :]
    mob = [i for i in range(n_atoms) if mobile[i]]
    out = []
    for m in range(n_frames):
        acc = []
        for t0 in range(n_frames - m):
            for i in mob:
                d = corr[t0 + m, i] - corr[t0, i]
                acc.append(d @ d)
        out.append(np.mean(acc))
    return np.array(out)


def test_msd_equals_brute_force_double_loop():
    rng = np.random.default_rng(7)
    pos = np.cumsum(rng.normal(0.0, 0.3, (17, 6, 3)), axis=0) + rng.uniform(0, 10, (1, 6, 3))
    mobile = np.array([True, True, True, False, False, False])
    framework = np.array([False, False, False, True, True, True])
    masses = np.array([6.94, 6.94, 6.94, 30.97, 32.06, 32.06])
    res = mean_squared_displacement(pos, 0.05, mobile, framework, masses, max_lag_fraction=1.0)
    ref = _brute_force_msd(pos, mobile, framework, masses)
    np.testing.assert_allclose(res.msd_A2, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.lag_ps, 0.05 * np.arange(17))
    np.testing.assert_array_equal(res.n_origins, 17 - np.arange(17))
    assert res.n_mobile == 3
    # Default framework (None) = complement of mobile, and max_lag_fraction truncates the lags.
    half = mean_squared_displacement(pos, 0.05, mobile, None, masses)
    assert half.lag_ps.size == 9
    np.testing.assert_allclose(half.msd_A2, ref[:9], rtol=1e-10, atol=1e-12)


def test_constant_drift_of_all_atoms_is_removed_exactly():
    rng = np.random.default_rng(3)
    n_frames, n_atoms = 200, 10
    pos = np.cumsum(rng.normal(0.0, 0.1, (n_frames, n_atoms, 3)), axis=0)
    mobile = np.arange(n_atoms) < 4
    masses = rng.uniform(5, 40, n_atoms)
    v = np.array([0.3, -0.2, 0.5])  # Å per frame
    drifted = pos + v * np.arange(n_frames)[:, None, None]
    a = mean_squared_displacement(pos, 0.1, mobile, masses=masses)
    b = mean_squared_displacement(drifted, 0.1, mobile, masses=masses)
    np.testing.assert_allclose(b.msd_A2, a.msd_A2, rtol=1e-9, atol=1e-9)
    # Without correction the same drift is clearly visible (so the check above can fail).
    c = mean_squared_displacement(drifted, 0.1, mobile, framework_mask=np.zeros(n_atoms, bool))
    assert c.msd_A2[50] > 10 * a.msd_A2[50]


def test_rigid_drift_analytic_and_mass_weighting():
    n_frames = 50
    t = np.arange(n_frames)[:, None]
    v = np.array([0.1, 0.0, 0.0])  # Å per frame
    pos = np.zeros((n_frames, 3, 3))
    pos[:, 0] = [1.0, 1.0, 1.0]  # static mobile atom
    pos[:, 1] = [5.0, 5.0, 5.0]  # heavy static framework atom
    pos[:, 2] = [7.0, 7.0, 7.0] + v * t  # light framework atom moving at v
    mobile = np.array([True, False, False])
    masses = np.array([7.0, 30.0, 10.0])
    res = mean_squared_displacement(pos, 1.0, mobile, masses=masses, max_lag_fraction=1.0)
    # Framework COM moves at v * m2/(m1+m2) = v/4, so the static Li appears to move at -v/4.
    lag = np.arange(n_frames)
    np.testing.assert_allclose(res.msd_A2, (0.1 * 10 / 40 * lag) ** 2, atol=1e-12)
    unweighted = mean_squared_displacement(pos, 1.0, mobile, max_lag_fraction=1.0)
    np.testing.assert_allclose(unweighted.msd_A2, (0.1 / 2 * lag) ** 2, atol=1e-12)


def _random_walk(rng, n_frames, n_atoms, step_sigma_A):
    return np.cumsum(rng.normal(0.0, step_sigma_A, (n_frames, n_atoms, 3)), axis=0)


def test_random_walk_recovers_known_D_within_statistical_error():
    # Gaussian steps with per-component variance s² per frame: MSD = 3 s² m, D = s²/(2 Δt).
    D_A2_ps, dt_ps = 0.1, 0.1
    s = np.sqrt(2 * D_A2_ps * dt_ps)
    D_true_cm2_s = D_A2_ps * 1e-4
    rng = np.random.default_rng(2024)
    n_rep, n_frames, n_atoms = 16, 1001, 24
    mobile = np.ones(n_atoms, bool)
    Ds = []
    for _ in range(n_rep):
        res = mean_squared_displacement(_random_walk(rng, n_frames, n_atoms, s), dt_ps, mobile)
        Ds.append(fit_diffusion(res.lag_ps, res.msd_A2).D_cm2_s)
    Ds = np.array(Ds)
    spread = Ds.std(ddof=1)  # expected statistical error of one estimate, from independent replicas
    assert 0.005 < spread / D_true_cm2_s < 0.2
    # One trajectory within 3 sigma; the replica mean (bias check) within 3 sigma / sqrt(n).
    assert abs(Ds[0] - D_true_cm2_s) < 3 * spread
    assert abs(Ds.mean() - D_true_cm2_s) < 3 * spread / np.sqrt(n_rep)


def test_msd_input_validation():
    pos = np.zeros((10, 2, 3))
    with pytest.raises(ValueError, match="mobile_mask"):
        mean_squared_displacement(pos, 0.1, np.array([1, 0]))
    with pytest.raises(ValueError, match="no atoms"):
        mean_squared_displacement(pos, 0.1, np.zeros(2, bool))
    with pytest.raises(ValueError, match="shape"):
        mean_squared_displacement(np.zeros((10, 2)), 0.1, np.ones(2, bool))


def test_unwrap_recovers_continuous_trajectory_triclinic():
    rng = np.random.default_rng(11)
    cell = np.array([[8.0, 0.0, 0.0], [3.0, 7.0, 0.0], [1.0, 2.0, 9.0]])
    true = np.cumsum(rng.normal(0.0, 0.4, (300, 5, 3)), axis=0)  # crosses many boundaries
    frac = true @ np.linalg.inv(cell)
    wrapped_frac = frac % 1.0
    assert np.abs(np.diff(wrapped_frac, axis=0)).max() > 0.5  # wrapping did happen
    wrapped = wrapped_frac @ cell
    un = unwrap_positions(wrapped, cell)
    np.testing.assert_allclose(un - un[0], true - true[0], atol=1e-9)
    np.testing.assert_allclose(un[0], wrapped[0])
    un_s = unwrap_positions(wrapped_frac, np.broadcast_to(cell, (300, 3, 3)), scaled=True)
    np.testing.assert_allclose(un_s, un, atol=1e-9)
