"""Task 3 on simulated trajectories: σ298 verdicts, coverage and bias of a design from the outside.

Simulated Li frames (:mod:`pytest_lips.analysis.sigma_simulation`: hopping, vibrating Li on a lattice,
a drifting framework, optional hidden run-to-run scatter) go through Task 3's own chain —
:func:`~pytest_lips.tasks.task3_conductivity.reduce_run_frames` per run, then
:func:`~pytest_lips.tasks.task3_conductivity.analyse` and the default thresholds — exactly as MD runs
would. Used by ``benchmarks/sigma_coverage.py`` and the tests.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from ..analysis.sigma_simulation import DEFAULT_HOP_MODEL, HopModel, arrhenius_D_A2_ps, simulate_li_frames
from ..thresholds import ThresholdSet, default_thresholds
from .task3_conductivity import Task3Protocol, analyse, reduce_run_frames

__all__ = ["DesignOutcome", "SetOutcome", "simulate_design", "simulate_set", "simulated_run_results"]

#: Li atoms and volume (Å³) of one 42-atom Li7P3S11 reference cell of the pack (Li14P6S22, 831.2 Å³).
LI_PER_CELL, VOLUME_PER_CELL_A3 = 14, 831.2128
#: Range of the true activation energies drawn per data set, eV (uniform).
EA_RANGE_eV = (0.15, 0.40)


def simulated_run_results(
    rng: np.random.Generator,
    protocol: Task3Protocol,
    sigma298_mS_cm: float,
    activation_energy_eV: float,
    model: HopModel = DEFAULT_HOP_MODEL,
) -> list[dict[str, Any]]:
    """Run results as :func:`~pytest_lips.tasks.task3_conductivity.reduce_run` returns them, from simulated frames.

    The cell is ``protocol.supercell`` copies of the pack's Li7P3S11 cell; frames every
    ``protocol.sample_interval_fs`` over ``protocol.production_ps``.
    """
    cells = int(np.prod(protocol.supercell))
    n_li, volume = LI_PER_CELL * cells, VOLUME_PER_CELL_A3 * cells
    frame_ps = protocol.sample_interval_steps * protocol.timestep_fs / 1000.0
    n_frames = protocol.production_steps // protocol.sample_interval_steps + 1
    hidden_ln = math.sqrt(math.log1p(model.hidden_scatter**2))
    results = []
    for T in protocol.temperatures_K:
        offset = rng.normal(0.0, model.misfit_ln) if model.misfit_ln > 0 else 0.0
        for repeat in range(1, protocol.repeats + 1):
            T_meas = T * (1.0 + 0.01 * rng.standard_normal())
            D = arrhenius_D_A2_ps(sigma298_mS_cm, activation_energy_eV, n_li, volume, T_meas) * math.exp(offset)
            D *= math.exp(hidden_ln * rng.standard_normal() - hidden_ln**2 / 2.0)  # mean-1 lognormal
            frames = simulate_li_frames(rng, n_li, n_frames, frame_ps, D, T_meas, model)
            result = {
                "record": {"completed": True, "run_id": f"T{T:g}K-r{repeat}", "stop_reason": ""},
                "temperature_K": float(T),
                "n_li": n_li,
                "volume_A3": volume,
            }
            result.update(reduce_run_frames(frames, protocol, np.full(n_frames, T_meas)))
            results.append(result)
    return results


@dataclass(frozen=True)
class SetOutcome:
    """One simulated data set through the chain.

    Attributes:
        verdict: ``PASS``, ``FAIL`` or ``INCONCLUSIVE`` of the σ298 gate (default thresholds).
        ratio: σ̂298 / true σ298 (NaN when no point estimate).
        covered: whether the 95 % interval holds the truth (None when there is no finite interval).
        reason: the metric's note (why INCONCLUSIVE, what was left out).
    """

    verdict: str
    ratio: float
    covered: bool | None
    reason: str


def simulate_set(
    rng: np.random.Generator,
    protocol: Task3Protocol,
    sigma298_mS_cm: float,
    model: HopModel = DEFAULT_HOP_MODEL,
    thresholds: ThresholdSet | None = None,
) -> SetOutcome:
    """Draw Ea (uniform in :data:`EA_RANGE_eV`), simulate one data set and decide it like Task 3 does."""
    Ea = rng.uniform(*EA_RANGE_eV)
    results = simulated_run_results(rng, protocol, sigma298_mS_cm, Ea, model)
    sigma = analyse(results, protocol)[0]
    verdicts = (thresholds if thresholds is not None else default_thresholds()).evaluate(sigma)
    if any(v.passed is False for v in verdicts):
        verdict = "FAIL"
    elif verdicts and all(v.passed is True for v in verdicts):
        verdict = "PASS"
    else:
        verdict = "INCONCLUSIVE"
    interval = sigma.interval
    covered = None
    if interval is not None and all(math.isfinite(v) for v in interval):
        covered = bool(interval[0] <= sigma298_mS_cm <= interval[1])
    ratio = sigma.value / sigma298_mS_cm if math.isfinite(sigma.value) else math.nan
    return SetOutcome(verdict, ratio, covered, sigma.note)


@dataclass(frozen=True)
class DesignOutcome:
    """Summary over data sets of one design and true σ298.

    Attributes:
        n_sets: data sets simulated; with_interval: fraction with a finite 95 % interval.
        coverage: fraction of those intervals holding the truth (NaN when none).
        median_ratio: median σ̂298 / σ298 over the sets with a point estimate (NaN when none).
        median_ratio_interval: distribution-free 95 % interval of that median (order statistics).
        passed, failed, inconclusive: verdict fractions over all sets.
    """

    n_sets: int
    with_interval: float
    coverage: float
    median_ratio: float
    median_ratio_interval: tuple[float, float]
    passed: float
    failed: float
    inconclusive: float


def simulate_design(
    protocol: Task3Protocol,
    sigma298_mS_cm: float,
    n_sets: int,
    seed: int = 0,
    model: HopModel = DEFAULT_HOP_MODEL,
    sample_interval_fs: float | None = None,
) -> DesignOutcome:
    """:func:`simulate_set` ``n_sets`` times; ``sample_interval_fs`` coarsens the frames (speed) if given."""
    if sample_interval_fs is not None:
        protocol = replace(protocol, sample_interval_fs=sample_interval_fs)
    rng = np.random.default_rng(seed)
    thresholds = default_thresholds()
    outcomes = [simulate_set(rng, protocol, sigma298_mS_cm, model, thresholds) for _ in range(n_sets)]
    counts = Counter(o.verdict for o in outcomes)
    covered = [o.covered for o in outcomes if o.covered is not None]
    ratios = np.sort([o.ratio for o in outcomes if math.isfinite(o.ratio)])
    median_ci = (math.nan, math.nan)
    if ratios.size >= 10:
        half = 1.959964 * math.sqrt(ratios.size) / 2.0
        lo, hi = int(math.floor(ratios.size / 2.0 - half)), int(math.ceil(ratios.size / 2.0 + half))
        median_ci = (float(ratios[max(lo, 0)]), float(ratios[min(hi, ratios.size - 1)]))
    return DesignOutcome(
        n_sets=n_sets,
        with_interval=len(covered) / n_sets,
        coverage=float(np.mean(covered)) if covered else math.nan,
        median_ratio=float(np.median(ratios)) if ratios.size else math.nan,
        median_ratio_interval=median_ci,
        passed=counts["PASS"] / n_sets,
        failed=counts["FAIL"] / n_sets,
        inconclusive=counts["INCONCLUSIVE"] / n_sets,
    )
