"""Both MD engines sample the same physics with the shipped example model (slow: real MD, ~1-2 min).

NVT at 800 K on the 42-atom Li7P3S11 cell: D(Li) of each engine (per-atom interval of
:func:`pytest_lips.analysis.diffusion.estimate_diffusion`, pooled over repeats) agree within their combined
95 % intervals, and the mean kinetic temperatures are within 2 % of each other and of 800 K. NPT at
800 K / 1 GPa: the mean volumes agree within the combined standard error of the means over repeats.
The engines integrate the same jobs (same seeds, same starting momenta); the runs decorrelate within
a few hundred fs, and each engine's repeats are independent trajectories.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from pytest_lips.md import (
    AseEngine,
    MDJob,
    NPTSettings,
    NVTSettings,
    initialise_velocities,
    torch_sim_available,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not torch_sim_available(), reason="torch-sim is not installed (Python >= 3.12)"),
]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lips-example-model.pt"
T_K = 800.0
REPEATS = 4
EQ_STEPS, PROD_STEPS, SAMPLE = 60, 240, 5  # 2 fs: 0.12 ps + 0.48 ps, frames every 10 fs


@pytest.fixture(scope="module")
def example_model():
    if not EXAMPLE.is_file():
        pytest.skip(f"{EXAMPLE} not found (source checkout only)")
    from pytest_lips.models import load_lips_model

    return load_lips_model(str(EXAMPLE))


@pytest.fixture(scope="module")
def cell():
    from pytest_lips.tasks.task3_conductivity import Task3Protocol, load_structure

    return load_structure(Task3Protocol())


def _hot_start(atoms, seed):
    """Momenta at 2 T: after equipartition with the potential energy the system sits near T at once."""
    start = atoms.copy()
    initialise_velocities(start, 2 * T_K, seed)
    return start


def _run_both(jobs, model):
    from pytest_lips.md import TorchSimEngine

    return AseEngine().run(jobs, model), TorchSimEngine().run(jobs, model)


def test_nvt_diffusion_and_temperature_agree_between_engines(example_model, cell):
    from pytest_lips.analysis.diffusion import estimate_diffusion

    jobs = [
        MDJob(
            f"r{i}",
            _hot_start(cell, 100 + i),
            NVTSettings(tdamp_fs=25.0),
            T_K,
            None,
            2.0,
            EQ_STEPS + PROD_STEPS,
            SAMPLE,
            100 + i,
            sample_from_step=EQ_STEPS,
            initialise_velocities=False,
        )
        for i in range(REPEATS)
    ]
    li = np.array(cell.get_chemical_symbols()) == "Li"
    summary = {}
    for name, trajectories in zip(("ase", "torch-sim"), _run_both(jobs, example_model)):
        assert all(t.completed for t in trajectories), [t.stop_reason for t in trajectories]
        # repeats as extra ions: the per-atom interval then pools every Li of every repeat
        positions = np.concatenate([t.positions_A for t in trajectories], axis=1)
        est = estimate_diffusion(
            positions,
            SAMPLE * 2.0 / 1000.0,
            np.tile(li, REPEATS),
            framework_mask=np.tile(~li, REPEATS),
            masses=np.tile(cell.get_masses(), REPEATS),
            max_lag_fraction=0.5,
            fit_start_fraction=0.2,
            fit_end_fraction=1.0,
        )
        t_means = [float(np.mean(t.temperatures_K)) for t in trajectories]
        summary[name] = (est, float(np.mean(t_means)))
    (d_a, t_a), (d_t, t_t) = summary["ase"], summary["torch-sim"]
    print(
        f"D ase {d_a.D_cm2_s:.3e} {d_a.interval_cm2_s}, torch-sim {d_t.D_cm2_s:.3e} {d_t.interval_cm2_s}; "
        f"T ase {t_a:.1f} K, torch-sim {t_t:.1f} K"
    )
    assert d_a.D_cm2_s > 0 and d_t.D_cm2_s > 0
    half = [(hi - lo) / 2 for lo, hi in (d_a.interval_cm2_s, d_t.interval_cm2_s)]
    assert abs(d_a.D_cm2_s - d_t.D_cm2_s) <= math.hypot(*half)
    assert t_t == pytest.approx(t_a, rel=0.02)
    assert t_a == pytest.approx(T_K, rel=0.02) and t_t == pytest.approx(T_K, rel=0.02)


def test_npt_mean_volume_agrees_between_engines(example_model, cell):
    jobs = [
        MDJob(
            f"p{i}",
            _hot_start(cell, 200 + i),
            NPTSettings(tdamp_fs=25.0, pdamp_fs=250.0),
            T_K,
            1e9,
            1.0,
            300,
            5,
            200 + i,
            sample_from_step=100,
            initialise_velocities=False,
        )
        for i in range(REPEATS)
    ]
    means = {}
    for name, trajectories in zip(("ase", "torch-sim"), _run_both(jobs, example_model)):
        assert all(t.completed for t in trajectories), [t.stop_reason for t in trajectories]
        per_repeat = np.array([np.mean(t.volumes_A3) for t in trajectories])
        means[name] = (per_repeat.mean(), per_repeat.std(ddof=1) / math.sqrt(REPEATS))
    (v_a, se_a), (v_t, se_t) = means["ase"], means["torch-sim"]
    print(f"V ase {v_a:.1f} ± {se_a:.1f} Å^3, torch-sim {v_t:.1f} ± {se_t:.1f} Å^3 (start {cell.get_volume():.1f})")
    assert abs(v_a - v_t) <= 2 * math.hypot(se_a, se_t) + 1e-6 * v_a
