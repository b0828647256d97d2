"""Small statistics helpers shared by the analysis modules (pure numpy/scipy)."""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["percentile_interval", "t_interval"]


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, tuple[float, float]]:
    """Mean and Student-t confidence interval of the mean of independent values (same unit as input).

    Returns ``(mean, (low, high))``; the interval is ``(nan, nan)`` for fewer than 2 values.
    """
    x = np.asarray(values, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("t_interval needs at least one value")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    mean = float(x.mean())
    if x.size < 2:
        return mean, (float("nan"), float("nan"))
    half = stats.t.ppf(0.5 + confidence / 2.0, df=x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)
    return mean, (mean - float(half), mean + float(half))


def percentile_interval(samples: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """Central percentile interval of (e.g. bootstrap) samples, same unit as input."""
    x = np.asarray(samples, dtype=float).ravel()
    if x.size == 0:
        raise ValueError("percentile_interval needs at least one sample")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    lo, hi = np.percentile(x, [50.0 * (1.0 - confidence), 50.0 * (1.0 + confidence)])
    return float(lo), float(hi)
