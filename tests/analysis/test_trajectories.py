"""--lips-save-trajectories files: ASE reads them back; kinisi on a saved file agrees with the plugin's D."""

import numpy as np
import pytest
from ase.io import read

from pytest_lips.analysis.diffusion import estimate_diffusion
from pytest_lips.report.trajectories import ion_frames_from_arrays, save_run_trajectory


def _arrays(seed=0, n_frames=601, n_li=28, dt_ps=0.05, D_A2_ps=0.05, box=15.0):
    """Task 3's stored arrays for a random walk: Li + framework COM (drifting), cell, temperatures."""
    rng = np.random.default_rng(seed)
    drift = np.cumsum(rng.normal(0, 0.05, (n_frames, 1, 3)), axis=0)
    li = np.cumsum(rng.normal(0, np.sqrt(2 * D_A2_ps * dt_ps), (n_frames, n_li, 3)), axis=0)
    li += rng.uniform(0, box, (1, n_li, 3)) + drift
    com = np.full((1, 1, 3), box / 2) + drift
    return {
        "positions_A": np.concatenate([li, com], axis=1),
        "cells_A": np.broadcast_to(np.eye(3) * box, (n_frames, 3, 3)).copy(),
        "temperatures_K": 600 + rng.normal(0, 20, n_frames),
        "frame_interval_ps": np.asarray(dt_ps),
        "n_li": np.asarray(n_li),
    }


def test_saved_trajectory_reads_back_with_ase(tmp_path):
    arrays = _arrays(n_frames=21)
    path = save_run_trajectory(tmp_path, "my model", "T600K-r1", arrays, mobile_ion="Li")
    assert path == tmp_path / "my_model" / "T600K-r1.extxyz"
    frames = read(path, ":")
    assert len(frames) == 21 and frames[0].get_chemical_symbols() == ["Li"] * 28
    np.testing.assert_allclose(frames[7].positions, ion_frames_from_arrays(arrays["positions_A"])[7], atol=1e-6)
    np.testing.assert_allclose(frames[7].cell.array, arrays["cells_A"][7], atol=1e-8)
    assert frames[7].info["time_ps"] == pytest.approx(0.35)
    assert frames[7].info["temperature_K"] == pytest.approx(arrays["temperatures_K"][7])
    assert frames[0].info["run_id"] == "T600K-r1" and all(frames[0].pbc)
    # drift-corrected: the framework centre of mass no longer moves the Li
    raw = arrays["positions_A"]
    np.testing.assert_allclose(
        frames[20].positions - frames[0].positions, (raw[20, :-1] - raw[0, :-1]) - (raw[20, -1] - raw[0, -1]), atol=1e-6
    )


def test_kinisi_on_a_saved_trajectory_agrees_with_the_plugin(tmp_path):
    sc = pytest.importorskip("scipp")
    kinisi_analyze = pytest.importorskip("kinisi.analyze")
    arrays = _arrays(seed=4)
    dt_ps = float(arrays["frame_interval_ps"])
    n_li = int(arrays["n_li"])
    mobile = np.arange(n_li + 1) < n_li
    ours = estimate_diffusion(
        arrays["positions_A"],
        dt_ps,
        mobile,
        framework_mask=~mobile,
        fit_start_fraction=0.1,
        fit_end_fraction=0.5,
        fit_min_lag_ps=1.0,
    )
    frames = read(save_run_trajectory(tmp_path, "m", "T600K-r1", arrays, mobile_ion="Li"), ":")
    # 60 lags (every 2nd frame) up to the end of our fit window: kinisi's GLS degrades on dense lag grids
    i_end = round(ours.window_ps[1] / dt_ps)
    dt_unit = sc.scalar(dt_ps, unit="ps")
    ana = kinisi_analyze.DiffusionAnalyzer.from_ase(
        frames,
        specie="Li",
        time_step=dt_unit,
        step_skip=sc.scalar(1),
        dt=sc.arange("time interval", 2, i_end + 1, 2) * dt_unit,
        progress=False,
    )
    ana.diffusion(
        start_dt=sc.scalar(ours.window_ps[0], unit="ps"),
        n_samples=400,
        n_burn=200,
        progress=False,
        random_state=np.random.RandomState(0),
    )
    samples = sc.to_unit(ana.D, "cm^2/s").values
    lo, hi = np.percentile(samples, [2.5, 97.5])
    assert lo <= ours.D_cm2_s <= hi
    # and the two uncertainties are of the same size (kinisi models the MSD covariance; ours is per atom)
    assert 0.4 < ours.D_stderr_cm2_s / np.std(samples) < 2.5
