"""Tolerances for "no worse than the baseline" (``--lips-baseline``).

A tolerance says how much a metric may get *worse* relative to a saved baseline before the run counts
as a regression. Written as text:

* ``"+5%"`` – relative: 5 % of the baseline value (``|baseline|``);
* ``"+0.01"`` – absolute, in the metric's unit;
* ``"±10%"`` (or ``"+-10%"``) – the same amounts, but a change in *either* direction is a regression
  (for physical quantities without a "better" side, such as an activation energy);
* ``"off"`` – the metric is not compared.

The leading ``+`` is optional; a negative amount is a usage error.

Which direction is "worse" comes from the metric's gate thresholds (:mod:`pytest_lips.thresholds`):

* only a ``max`` threshold → higher is worse;
* only a ``min`` threshold → lower is worse;
* both (a band such as σ298 ∈ [17, 61] mS/cm) → moving further away from the band is worse; moves
  inside the band are never regressions;
* no threshold → error-like metrics (key ending in ``_rmse``, ``_mae``, ``_error``) are "higher is
  worse"; every other metric is compared two-sided.

Keys are metric keys (``task2.force_rmse``) or shell-style patterns (``task3.D_*K``); the most specific
entry wins: an exact key, then the longest matching pattern, then ``default``.

Layers, lowest to highest priority, as for thresholds: ``default`` (the ``tolerances:`` section of
``reference_data/thresholds.yaml``), ``ini`` (ini key ``lips_tolerances``), ``hook``, ``cli``
(``--lips-tolerance KEY=VALUE``).
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml

from .errors import LipsUsageError
from .resources import thresholds_file
from .results import format_number

if TYPE_CHECKING:  # imported for the annotation only, so there is no import cycle at run time
    from .thresholds import ThresholdSet

WorseDirection = Literal["max", "min", "band", "two-sided", "off"]

_ERROR_LIKE = ("_rmse", "_mae", "_error")
_TEXT_RE = re.compile(r"^\s*(?P<sign>\+-|±|\+)?\s*(?P<num>[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*(?P<pct>%)?\s*$")

#: Used when neither the thresholds file nor an override defines ``default``.
FALLBACK_DEFAULT = "+5%"


@dataclass(frozen=True)
class Tolerance:
    """One tolerance entry.

    ``amount`` is a fraction of the baseline value when ``relative`` (``"+5%"`` → 0.05), otherwise an
    absolute amount in the metric's unit. ``two_sided`` forces comparison in both directions;
    ``off`` disables the comparison.
    """

    key: str
    text: str
    amount: float = 0.0
    relative: bool = True
    two_sided: bool = False
    off: bool = False
    origin: str = "default"

    @classmethod
    def parse(cls, key: str, text: str | float, origin: str = "default") -> Tolerance:
        raw = str(text).strip()
        if raw.lower() in ("off", "none", "no", "false"):
            return cls(key=key, text="off", off=True, origin=origin)
        match = _TEXT_RE.match(raw)
        if not match:
            raise LipsUsageError(
                f"{_origin_name(origin)}: tolerance {key} must look like '+5%' (relative), '+0.01' "
                f"(absolute, in the metric's unit), '±10%' (two-sided) or 'off'; got {raw!r}"
            )
        number = float(match["num"])
        if not math.isfinite(number):  # e.g. "+1e999": a tolerance that allows any change is "off"
            raise LipsUsageError(
                f"{_origin_name(origin)}: tolerance {key} must be a finite amount, got {raw!r}; "
                "write 'off' to stop comparing a metric"
            )
        relative = bool(match["pct"])
        return cls(
            key=key,
            text=raw,
            amount=number / 100.0 if relative else number,
            relative=relative,
            two_sided=match["sign"] in ("±", "+-"),
            origin=origin,
        )

    def allowed(self, baseline_value: float) -> float:
        """The allowed worsening for a metric whose baseline value is ``baseline_value``."""
        if self.off:
            return math.inf
        if self.relative:
            return self.amount * abs(baseline_value) if math.isfinite(baseline_value) else math.inf
        return self.amount

    def describe(self, unit: str = "") -> str:
        if self.off:
            return "not compared"
        sign = "±" if self.two_sided else "+"
        if self.relative:
            return f"{sign}{format_number(self.amount * 100)}%"
        return f"{sign}{format_number(self.amount)} {unit}".rstrip()


@dataclass(frozen=True)
class MetricRule:
    """How one metric is compared: its tolerance, worse direction and (for a band) the band."""

    metric: str
    tolerance: Tolerance
    direction: WorseDirection
    band: tuple[float, float] | None = None


@dataclass
class ToleranceSet(Mapping[str, Tolerance]):
    """All tolerances of a session keyed by metric key or pattern (read-only mapping of :class:`Tolerance`).

    ``thresholds`` (a :class:`pytest_lips.thresholds.ThresholdSet`) supplies the worse direction of
    each metric; without it every metric uses the name rule (error-like → higher is worse, else
    two-sided).
    """

    entries: dict[str, Tolerance] = field(default_factory=dict)
    thresholds: ThresholdSet | None = None

    def __post_init__(self) -> None:
        if "default" not in self.entries:
            self.entries["default"] = Tolerance.parse("default", FALLBACK_DEFAULT)

    # -- construction ------------------------------------------------------------------------
    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str | float], thresholds=None, origin: str = "default") -> ToleranceSet:
        entries = {str(k): Tolerance.parse(str(k), v, origin=origin) for k, v in (mapping or {}).items()}
        return cls(entries, thresholds)

    @classmethod
    def from_thresholds(cls, thresholds) -> ToleranceSet:
        """Build from a ThresholdSet: its ``tolerances`` (the YAML section) and its directions."""
        return cls.from_mapping(getattr(thresholds, "tolerances", {}) or {}, thresholds)

    @classmethod
    def load(cls, path: Path | None = None, thresholds=None) -> ToleranceSet:
        """Read the ``tolerances:`` section of a thresholds file (default: the shipped one)."""
        path = path or thresholds_file()
        try:
            raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise LipsUsageError(f"cannot read thresholds file {path}: {exc}") from None
        section = raw.get("tolerances") or {}
        if not isinstance(section, dict):
            raise LipsUsageError(f"{path}: 'tolerances' must be a mapping of metric key -> '+5%'")
        try:
            return cls.from_mapping(section, thresholds)
        except LipsUsageError as exc:
            raise LipsUsageError(f"{path}: {exc}") from None

    def copy(self) -> ToleranceSet:
        return ToleranceSet(dict(self.entries), self.thresholds)

    # -- mapping protocol -------------------------------------------------------------------
    def __getitem__(self, key: str) -> Tolerance:
        return self.entries[key]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    # -- changing values --------------------------------------------------------------------
    def set(self, key: str, text: str | float, origin: str) -> None:
        """Set the tolerance of ``key`` (a metric key, a pattern of the file, or ``default``)."""
        self._check_key(key, origin)
        self.entries[key] = Tolerance.parse(key, text, origin=origin)

    def __setitem__(self, key: str, text: str | float) -> None:
        self.set(key, text, origin="hook")

    def update_from_pairs(self, pairs: Iterable[str], origin: str) -> None:
        """Apply ``KEY=VALUE`` strings (ini key ``lips_tolerances``, ``--lips-tolerance``)."""
        for pair in pairs:
            pair = pair.strip()
            if not pair or pair.startswith("#"):
                continue
            if "=" not in pair:
                raise LipsUsageError(
                    f"{_origin_name(origin)}: expected KEY=VALUE, got {pair!r} (e.g. task2.force_rmse=+5%)"
                )
            key, value = (s.strip() for s in pair.split("=", 1))
            if not key or not value:
                raise LipsUsageError(
                    f"{_origin_name(origin)}: expected KEY=VALUE, got {pair!r} (e.g. task2.force_rmse=+5%)"
                )
            self.set(key, value, origin=origin)

    # -- queries ------------------------------------------------------------------------------
    def valid_keys(self) -> list[str]:
        keys = set(self.entries)
        if self.thresholds is not None:
            keys.update(t.metric for t in self.thresholds.items_.values() if t.direction != "setting")
        return sorted(keys)

    def for_metric(self, metric_key: str) -> Tolerance:
        """The tolerance of ``metric_key``: exact key, else the longest matching pattern, else default."""
        if metric_key in self.entries:
            return self.entries[metric_key]
        patterns = [k for k in self.entries if _is_pattern(k) and fnmatch.fnmatchcase(metric_key, k)]
        if patterns:
            return self.entries[max(patterns, key=len)]
        return self.entries["default"]

    def rule(self, metric_key: str) -> MetricRule:
        """Tolerance plus worse direction of ``metric_key`` (see the module docstring)."""
        tol = self.for_metric(metric_key)
        direction, band = self._direction(metric_key)
        if tol.off:
            direction = "off"
        elif tol.two_sided:
            direction, band = "two-sided", None
        return MetricRule(metric_key, tol, direction, band)

    def direction(self, metric_key: str) -> WorseDirection:
        return self.rule(metric_key).direction

    def as_dict(self) -> dict[str, str]:
        """JSON form (for the report): key -> tolerance text, sorted."""
        return {k: self.entries[k].text for k in sorted(self.entries)}

    def _direction(self, metric_key: str) -> tuple[WorseDirection, tuple[float, float] | None]:
        lows: list[float] = []
        highs: list[float] = []
        if self.thresholds is not None:
            for t in self.thresholds.for_metric(metric_key):
                (highs if t.direction == "max" else lows).append(t.value)
        if lows and highs:
            return "band", (max(lows), min(highs))
        if highs:
            return "max", None
        if lows:
            return "min", None
        if metric_key.endswith(_ERROR_LIKE):
            return "max", None
        return "two-sided", None

    def _check_key(self, key: str, origin: str) -> None:
        if key in self.entries:
            return
        valid = self.valid_keys()
        if key in valid:
            return
        if any(_is_pattern(p) and fnmatch.fnmatchcase(key, p) for p in self.entries):
            return
        listing = "\n  ".join(valid)
        raise LipsUsageError(
            f"{_origin_name(origin)}: unknown pytest-lips tolerance key {key!r}; valid keys (metric keys, "
            f"patterns with *, or 'default') are:\n  {listing}"
        )


def default_tolerances(thresholds=None) -> ToleranceSet:
    """The shipped tolerances (``tolerances:`` of ``reference_data/thresholds.yaml``).

    Directions (max / min / band) come from ``thresholds`` — pass the session's ThresholdSet so that
    overridden band edges are used; without it, the shipped default thresholds are used.
    ``thresholds.tolerances`` (already parsed by :func:`pytest_lips.thresholds.load_default_thresholds`)
    is used when present.
    """
    if thresholds is None:
        from .thresholds import default_thresholds

        thresholds = default_thresholds()
    if getattr(thresholds, "tolerances", None):
        return ToleranceSet.from_thresholds(thresholds)
    return ToleranceSet.load(thresholds=thresholds)


def _is_pattern(key: str) -> bool:
    return any(ch in key for ch in "*?[")


def _origin_name(origin: str) -> str:
    return {
        "cli": "--lips-tolerance",
        "ini": "ini key lips_tolerances",
        "hook": "pytest_lips_tolerances hook",
    }.get(origin, origin)


__all__ = ["Tolerance", "ToleranceSet", "MetricRule", "default_tolerances", "FALLBACK_DEFAULT"]
