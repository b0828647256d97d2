"""Simulated Task 3 data sets of known σ298, for checking the coverage of the σ298 interval.

Used by ``benchmarks/sigma_coverage.py`` and ``tests/analysis/test_sigma_coverage.py``. What the
simulation assumes (stated, not tuned to the method):

* Truth: Arrhenius, ln D = ln D0 − Ea/(k_B T), Ea uniform in [0.15, 0.40] eV, D0 set so that the true
  σ298 is log-uniform in [3, 300] mS/cm (672-atom cell: 224 Li in 16 × 1000 Å³... the density only
  scales σ). The interval is scored against the Arrhenius line at 298.15 K.
* Arrhenius misfit: each simulated temperature's true ln D is off the line by a fixed offset
  ~ N(0, ``misfit_ln``) (default 0.08, ~8 % in D), the same for all repeats at that temperature.
* Per-repeat scatter: relative sd ``scatter`` (default 0.20) at the middle temperature of the design,
  growing as D^(−1/2) towards lower temperatures (fewer hops in the same production time).
  A share ``hidden_fraction`` (default 0.4) of the variance is invisible to the per-run standard
  error (correlated ion motion the per-atom error cannot see); the visible part is reported with a
  per-run standard error that is itself estimated (χ² with ``per_run_dof`` degrees of freedom).
  Runs may come out with D ≤ 0 at low temperature: they are kept, as in the real analysis.
* Measured temperatures scatter by 1 % (sd) around nominal; the truth uses the measured temperature.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pytest_lips.analysis.arrhenius import BOLTZMANN_eV_K
from pytest_lips.analysis.conductivity import (
    ROOM_TEMPERATURE_K,
    RunDiffusion,
    calibrated_conductivity_at_298,
    nernst_einstein_conductivity_mS_cm,
)

__all__ = ["CoverageResult", "VerdictRates", "simulate_coverage", "simulate_verdicts"]

N_LI, VOLUME_A3 = 224, 16000.0


@dataclass(frozen=True)
class CoverageResult:
    """Coverage of the nominal interval over simulated data sets.

    Attributes:
        coverage: fraction of data sets with an interval whose interval holds the true σ298.
        estimable: fraction of data sets that gave an interval (≥ 2 usable temperatures).
        median_width_decades: median log10(high/low) of the intervals.
        n_sets: data sets simulated.
    """

    coverage: float
    estimable: float
    median_width_decades: float
    n_sets: int


def _simulated_runs(
    rng: np.random.Generator,
    T: np.ndarray,
    repeats: int,
    sigma_true: float,
    Ea: float,
    scatter: float,
    misfit_ln: float,
    hidden_fraction: float,
    per_run_dof: int,
) -> list[RunDiffusion]:
    """One simulated data set (assumptions: module docstring)."""
    T_mid = float(np.median(T))
    D298 = sigma_true / nernst_einstein_conductivity_mS_cm(1.0, N_LI, VOLUME_A3, ROOM_TEMPERATURE_K)
    ln_D0 = math.log(D298) + Ea / (BOLTZMANN_eV_K * ROOM_TEMPERATURE_K)

    def line(T_K: np.ndarray | float) -> np.ndarray:
        return np.exp(ln_D0 - Ea / (BOLTZMANN_eV_K * np.asarray(T_K)))

    offsets = rng.normal(0.0, misfit_ln, T.size)
    runs = []
    for k, T_nom in enumerate(T):
        rel = scatter * math.sqrt(float(line(T_mid) / line(T_nom)))
        rel_visible = rel * math.sqrt(1.0 - hidden_fraction)
        rel_hidden = rel * math.sqrt(hidden_fraction)
        for _r in range(repeats):
            T_meas = T_nom * (1.0 + 0.01 * rng.standard_normal())
            D_true = float(line(T_meas)) * math.exp(offsets[k])
            D = D_true * (1.0 + rel_hidden * rng.standard_normal() + rel_visible * rng.standard_normal())
            se = D_true * rel_visible * math.sqrt(rng.chisquare(per_run_dof) / per_run_dof)
            runs.append(RunDiffusion(float(T_nom), D, se, T_meas))
    return runs


def simulate_coverage(
    temperatures_K: Sequence[float],
    repeats: int,
    n_sets: int = 1000,
    seed: int = 0,
    scatter: float = 0.20,
    misfit_ln: float = 0.08,
    hidden_fraction: float = 0.4,
    per_run_dof: int = 27,
    confidence: float = 0.95,
) -> CoverageResult:
    """Coverage of :func:`calibrated_conductivity_at_298` on ``n_sets`` simulated data sets."""
    rng = np.random.default_rng(seed)
    T = np.asarray(temperatures_K, dtype=float)
    hits, estimable, widths = 0, 0, []
    for _ in range(n_sets):
        Ea = rng.uniform(0.15, 0.40)
        sigma_true = 10 ** rng.uniform(math.log10(3.0), math.log10(300.0))
        runs = _simulated_runs(rng, T, repeats, sigma_true, Ea, scatter, misfit_ln, hidden_fraction, per_run_dof)
        est = calibrated_conductivity_at_298(runs, N_LI, VOLUME_A3, confidence=confidence)
        lo, hi = est.interval_mS_cm
        if not (math.isfinite(lo) and math.isfinite(hi)):
            continue
        estimable += 1
        hits += lo <= sigma_true <= hi
        widths.append(math.log10(hi / lo))
    return CoverageResult(
        coverage=hits / max(estimable, 1),
        estimable=estimable / n_sets,
        median_width_decades=float(np.median(widths)) if widths else math.nan,
        n_sets=n_sets,
    )


@dataclass(frozen=True)
class VerdictRates:
    """How often the interval gate decides, for data sets of one true σ298.

    Attributes:
        sigma_true_mS_cm: the true σ298 of every simulated data set, mS/cm.
        passed, failed, inconclusive: fractions of data sets whose 95 % interval lies wholly inside the
            band, wholly outside it, or straddles a band edge (or is not estimable, or may not decide:
            ``undecidable_reason``, an activation energy not resolved above 0).
        n_sets: data sets simulated.
    """

    sigma_true_mS_cm: float
    passed: float
    failed: float
    inconclusive: float
    n_sets: int


def simulate_verdicts(
    temperatures_K: Sequence[float],
    repeats: int,
    sigma_true_mS_cm: float,
    band_mS_cm: tuple[float, float] = (17.0, 61.0),
    n_sets: int = 500,
    seed: int = 0,
    scatter: float = 0.20,
    misfit_ln: float = 0.08,
    hidden_fraction: float = 0.4,
    per_run_dof: int = 27,
    confidence: float = 0.95,
) -> VerdictRates:
    """Fractions of PASS / FAIL / INCONCLUSIVE of the σ298 gate for a model whose true σ298 is given.

    Same simulated data as :func:`simulate_coverage` (Ea uniform in [0.15, 0.40] eV), with σ298 fixed:
    the decision power of a design (how far outside the band a model must be for a FAIL) and its
    wrong verdicts (a FAIL for a model inside the band, a PASS for one outside).
    """
    rng = np.random.default_rng(seed)
    T = np.asarray(temperatures_K, dtype=float)
    low, high = band_mS_cm
    passed = failed = 0
    for _ in range(n_sets):
        Ea = rng.uniform(0.15, 0.40)
        runs = _simulated_runs(rng, T, repeats, sigma_true_mS_cm, Ea, scatter, misfit_ln, hidden_fraction, per_run_dof)
        est = calibrated_conductivity_at_298(runs, N_LI, VOLUME_A3, confidence=confidence)
        lo, hi = est.interval_mS_cm
        if not (math.isfinite(lo) and math.isfinite(hi)) or est.undecidable_reason:
            continue
        passed += low <= lo and hi <= high
        failed += hi < low or lo > high
    return VerdictRates(
        sigma_true_mS_cm=float(sigma_true_mS_cm),
        passed=passed / n_sets,
        failed=failed / n_sets,
        inconclusive=(n_sets - passed - failed) / n_sets,
        n_sets=n_sets,
    )
