"""Gate thresholds: defaults from ``reference_data/thresholds.yaml`` and the layers above them.

Layers, lowest to highest priority (each recorded as the threshold's ``origin``):

1. ``default``  – ``reference_data/thresholds.yaml`` (each entry states unit, direction and source);
1b. ``pack``    – the reference pack's ``system.thresholds`` and its σ298 band (``system.task3``), with
   their sources (:func:`apply_system`);
2. ``ini``      – the ``lips_thresholds`` ini key (lines ``KEY=VALUE``);
3. ``hook``     – a ``pytest_lips_thresholds(config, thresholds)`` hook in a conftest.py;
4. ``cli``      – ``--lips-threshold KEY=VALUE`` (repeatable).

A fixture override of ``lips_thresholds`` replaces the whole set.  Unknown keys are a usage error
that lists the valid keys.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from .errors import LipsUsageError
from .resources import thresholds_file
from .results import Metric, format_number, unit_suffix

Direction = Literal["max", "min", "setting"]


@dataclass(frozen=True)
class Threshold:
    """One gate (or one gate setting).

    ``direction="max"``: the metric passes when ``value <= threshold``; ``"min"``: when
    ``value >= threshold``; ``"setting"``: not a comparison, a knob of a gate (e.g. the temperature
    up to which Task 4 gates survival).
    """

    key: str
    value: float
    unit: str
    direction: Direction
    metric: str
    source: str = ""
    description: str = ""
    origin: str = "default"

    def passes(self, measured: float) -> bool:
        """Whether ``measured`` satisfies this threshold (NaN never does)."""
        if self.direction == "setting":
            raise ValueError(f"threshold {self.key!r} is a setting, not a gate")
        if not math.isfinite(measured):
            return False
        return measured <= self.value if self.direction == "max" else measured >= self.value

    def margin(self, measured: float) -> float:
        """Distance to the threshold, positive when passing (same unit as the metric)."""
        if self.direction == "max":
            return self.value - measured
        return measured - self.value

    def describe(self) -> str:
        symbol = {"max": "≤", "min": "≥", "setting": "="}[self.direction]
        return f"{symbol} {format_number(self.value)}{unit_suffix(self.unit)}"


@dataclass
class Verdict:
    """The outcome of comparing one metric with one threshold.

    ``passed`` is ``None`` when the metric is not gated (reported only).
    """

    metric: Metric
    threshold: Threshold | None
    passed: bool | None
    margin: float | None = None
    message: str = ""
    #: True when the metric is decided on its interval and the interval straddles the threshold.
    inconclusive: bool = False
    #: Why an INCONCLUSIVE verdict is so (without the metric's value and note), for summaries.
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "inconclusive": self.inconclusive,
            "metric": self.metric.key,
            "model": self.metric.model,
            "threshold": None if self.threshold is None else self.threshold.key,
            "threshold_value": None if self.threshold is None else self.threshold.value,
            "direction": None if self.threshold is None else self.threshold.direction,
            "passed": self.passed,
            "margin": self.margin,
            "message": self.message,
        }


@dataclass
class ThresholdSet(Mapping[str, Threshold]):
    """All thresholds of a session, keyed by threshold key.

    Behaves as a read-only mapping of :class:`Threshold`; ``thresholds[key] = 0.2`` (or
    :meth:`set`) changes a value and keeps unit, direction and source.
    """

    items_: dict[str, Threshold] = field(default_factory=dict)
    tolerances: dict[str, str] = field(default_factory=dict)
    #: ``--lips-strict``: an interval-decided metric whose interval straddles a threshold FAILS.
    strict_intervals: bool = False

    # -- mapping protocol -------------------------------------------------------------------
    def __getitem__(self, key: str) -> Threshold:
        self._check_key(key)
        return self.items_[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.items_)

    def __len__(self) -> int:
        return len(self.items_)

    def __setitem__(self, key: str, value: float) -> None:
        self.set(key, value, origin="hook")

    # -- changing values --------------------------------------------------------------------
    def set(self, key: str, value: float | str, origin: str) -> None:
        """Set threshold ``key`` to ``value`` (a number or a numeric string) from layer ``origin``."""
        self._check_key(key)
        number = _parse_number(value, key=key, origin=origin)
        threshold = self.items_[key]
        if threshold.direction == "max" and number < 0:
            # every gated metric (an error, a fraction, a conductivity) is >= 0: a gate that can never pass
            raise LipsUsageError(
                f"{_origin_name(origin)}: threshold {key} {threshold.describe().split()[0]} {value} can never pass "
                f"({threshold.metric} is never negative); give a value >= 0"
            )
        self.items_[key] = replace(threshold, value=number, origin=origin)

    def update_from_pairs(self, pairs: Iterable[str], origin: str) -> None:
        """Apply ``KEY=VALUE`` strings (the ini and command-line form)."""
        for pair in pairs:
            pair = pair.strip()
            if not pair or pair.startswith("#"):
                continue
            key, value = parse_pair(pair, origin=origin)
            self.set(key, value, origin=origin)

    def copy(self) -> ThresholdSet:
        return ThresholdSet(dict(self.items_), dict(self.tolerances), self.strict_intervals)

    # -- queries ------------------------------------------------------------------------------
    def for_metric(self, metric_key: str) -> list[Threshold]:
        """Gate thresholds (not settings) that apply to ``metric_key``."""
        return [t for t in self.items_.values() if t.metric == metric_key and t.direction != "setting"]

    def value(self, key: str) -> float:
        return self[key].value

    def evaluate(self, metric: Metric) -> list[Verdict]:
        """Compare ``metric`` with every threshold that applies to it.

        A metric with ``gated=False`` gets one verdict with ``passed=None``; a metric without any
        threshold also gets ``passed=None`` (reported, not gated).
        """
        thresholds = self.for_metric(metric.key)
        if not metric.gated or not thresholds:
            reason = metric.note or ("no threshold for this metric" if not thresholds else "not gated")
            return [Verdict(metric, thresholds[0] if thresholds else None, None, None, reason)]
        if metric.details.get("decide_on") == "interval":
            return [evaluate_interval(metric, t, self.strict_intervals) for t in thresholds]
        verdicts = []
        for threshold in thresholds:
            passed = threshold.passes(metric.value)
            margin = threshold.margin(metric.value) if math.isfinite(metric.value) else None
            verdicts.append(Verdict(metric, threshold, passed, margin, failure_message(metric, threshold)))
        return verdicts

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """JSON form of the thresholds actually used (for the report)."""
        return {
            key: {
                "value": t.value,
                "unit": t.unit,
                "direction": t.direction,
                "metric": t.metric,
                "origin": t.origin,
                "source": t.source,
            }
            for key, t in self.items_.items()
        }

    def _check_key(self, key: str) -> None:
        if key not in self.items_:
            valid = "\n  ".join(sorted(self.items_))
            raise LipsUsageError(f"unknown pytest-lips threshold {key!r}; valid keys are:\n  {valid}")


def evaluate_interval(metric: Metric, threshold: Threshold, strict: bool = False) -> Verdict:
    """Decide ``metric`` on its 95 % interval rather than its point estimate.

    Used for metrics whose ``details["decide_on"] == "interval"`` (Task 3 σ298). The whole interval
    satisfies the threshold: passed; the whole interval violates it: failed; it straddles the
    threshold (or there is no finite interval, or ``details["undecidable"]`` gives a reason why the
    interval must not decide, e.g. an activation energy not resolved above 0; the metric's note says
    why): INCONCLUSIVE — ``passed=None, inconclusive=True`` (reported, not gated), or ``passed=False``
    when ``strict`` (``--lips-strict``).
    """
    interval = metric.interval
    finite = interval is not None and all(math.isfinite(v) for v in interval)
    model = f" [model {metric.model}]" if metric.model else ""
    where = f"{metric.key} = {metric.formatted()}"
    undecidable = str((metric.details or {}).get("undecidable") or "")
    if finite and undecidable:
        margin = None
        reason = f"the 95 % interval cannot decide threshold {threshold.key} {threshold.describe()} (see the note)"
    elif finite:
        lo, hi = sorted(interval)  # type: ignore[arg-type]
        ok_lo, ok_hi = threshold.passes(lo), threshold.passes(hi)
        margin = threshold.margin(metric.value) if math.isfinite(metric.value) else None
        if ok_lo and ok_hi:
            return Verdict(
                metric,
                threshold,
                True,
                margin,
                f"{where}: whole 95 % interval within threshold {threshold.key} {threshold.describe()}{model}",
            )
        if not ok_lo and not ok_hi:
            return Verdict(
                metric,
                threshold,
                False,
                margin,
                f"{where}: whole 95 % interval violates threshold {threshold.key} {threshold.describe()}{model}",
            )
        reason = f"the 95 % interval straddles threshold {threshold.key} {threshold.describe()}"
    else:
        margin = None
        reason = f"no finite 95 % interval to decide threshold {threshold.key} {threshold.describe()} on"
    note = f"; {metric.note}" if metric.note else ""
    if strict:
        return Verdict(
            metric,
            threshold,
            False,
            margin,
            f"{where}: INCONCLUSIVE ({reason}) fails under --lips-strict{model}{note}",
            True,
            reason,
        )
    return Verdict(metric, threshold, None, margin, _not_gated_message(metric, [reason]), True, reason)


def _not_gated_message(metric: Metric, reasons: list[str]) -> str:
    """``<key> = <value>: INCONCLUSIVE, not gated: <reasons>; <note>`` (one or several thresholds)."""
    note = f"; {metric.note}" if metric.note else ""
    return f"{metric.key} = {metric.formatted()}: INCONCLUSIVE, not gated: {'; '.join(reasons)}{note}"


def inconclusive_summary(verdicts: list[Verdict]) -> str:
    """One message per metric for INCONCLUSIVE verdicts: a σ298 interval straddling both band edges
    names both thresholds once, with the value and the metric's note once (not once per edge)."""
    by_metric: dict[tuple[str, str], list[Verdict]] = {}
    for verdict in verdicts:
        by_metric.setdefault((verdict.metric.key, verdict.metric.model), []).append(verdict)
    lines: list[str] = []
    for group in by_metric.values():
        if len(group) == 1 or not all(v.reason for v in group):
            lines.extend(dict.fromkeys(v.message for v in group))
            continue
        lines.append(_not_gated_message(group[0].metric, list(dict.fromkeys(v.reason for v in group))))
    return "; ".join(lines)


def failure_message(metric: Metric, threshold: Threshold) -> str:
    """One line naming metric, value with uncertainty, unit, threshold and margin."""
    passed = threshold.passes(metric.value)
    relation = "within" if passed else "violates"
    if math.isfinite(metric.value):
        margin = threshold.margin(metric.value)
        margin_text = f"margin {format_number(margin)}{unit_suffix(threshold.unit)}"
    else:
        margin_text = "value is not finite"
    model = f" [model {metric.model}]" if metric.model else ""
    return (
        f"{metric.key} = {metric.formatted()} {relation} threshold {threshold.key} "
        f"{threshold.describe()} ({margin_text}){model}"
    )


def parse_pair(pair: str, origin: str) -> tuple[str, str]:
    """Split ``KEY=VALUE`` (also ``KEY: VALUE``); a malformed pair is a usage error."""
    for sep in ("=", ":"):
        if sep in pair:
            key, value = pair.split(sep, 1)
            if key.strip() and value.strip():
                return key.strip(), value.strip()
    raise LipsUsageError(f"{_origin_name(origin)}: expected KEY=VALUE, got {pair!r} (e.g. task2.force_rmse=0.2)")


def _parse_number(value: float | str, key: str, origin: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LipsUsageError(f"{_origin_name(origin)}: threshold {key} needs a number, got {value!r}") from None
    if not math.isfinite(number):
        # an infinite threshold would be a gate that cannot fail (the table printed "≤ nan")
        raise LipsUsageError(
            f"{_origin_name(origin)}: threshold {key} must be a finite number, got {value!r}; to stop "
            "gating a metric, raise its threshold to a large finite value"
        )
    return number


def _origin_name(origin: str) -> str:
    return {
        "cli": "--lips-threshold",
        "ini": "ini key lips_thresholds",
        "hook": "pytest_lips_thresholds hook",
    }.get(origin, origin)


def load_default_thresholds(path: Path | None = None) -> ThresholdSet:
    """Read the thresholds file (default: the shipped ``reference_data/thresholds.yaml``)."""
    path = path or thresholds_file()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LipsUsageError(f"cannot read thresholds file {path}: {exc}") from None
    items: dict[str, Threshold] = {}
    for key, entry in (raw.get("thresholds") or {}).items():
        try:
            direction = entry["direction"]
            if direction not in ("max", "min", "setting"):
                raise ValueError(f"direction must be max, min or setting, not {direction!r}")
            value = float(entry["value"])
            if not math.isfinite(value):
                raise ValueError(f"value must be a finite number, got {entry['value']!r}")
            items[key] = Threshold(
                key=key,
                value=value,
                unit=str(entry.get("unit", "")),
                direction=direction,
                metric=str(entry.get("metric", key)),
                source=str(entry.get("source", "")),
                description=str(entry.get("description", "")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise LipsUsageError(f"{path}: threshold {key!r} is malformed ({exc})") from None
    tolerances = {str(k): str(v) for k, v in (raw.get("tolerances") or {}).items()}
    return ThresholdSet(items, tolerances)


_DEFAULTS: ThresholdSet | None = None

#: Threshold keys of the σ298 band that :func:`apply_system` builds from ``system.task3``.
SIGMA298_BAND_KEYS = ("task3.sigma298_min", "task3.sigma298_max")


def apply_system(thresholds: ThresholdSet, system: Any) -> ThresholdSet:
    """Layer the pack's defaults (origin ``pack``) onto ``thresholds`` in place; returns it.

    ``system`` is a :class:`pytest_lips.system.PackSystem`: each ``system.thresholds`` entry replaces
    the value (and the source, unit, direction when given) of a shipped key, or adds a new key (then
    unit and direction are required); a σ298 band adds ``task3.sigma298_min``/``_max`` on the metric
    ``task3.sigma298`` with the pack's sources.
    """
    for key, entry in (system.thresholds or {}).items():
        base = thresholds.items_.get(key)
        if base is None and not {"unit", "direction"} <= set(entry):
            raise LipsUsageError(
                f"reference pack system.thresholds.{key}: not a shipped threshold, so it needs unit and direction"
            )
        fields = {
            "value": float(entry["value"]),
            "unit": str(entry.get("unit", base.unit if base else "")),
            "direction": entry.get("direction", base.direction if base else "max"),
            "metric": str(entry.get("metric", base.metric if base else key)),
            "source": str(entry.get("source", base.source if base else "")),
            "description": str(entry.get("description", base.description if base else "")),
            "origin": "pack",
        }
        thresholds.items_[key] = Threshold(key=key, **fields)
    band = system.sigma298_band_mS_cm
    if band is not None:
        what = "room-temperature conductivity of the mobile ion"
        for key, value, direction, side in zip(SIGMA298_BAND_KEYS, band, ("min", "max"), ("min", "max")):
            thresholds.items_[key] = Threshold(
                key=key,
                value=float(value),
                unit="mS/cm",
                direction=direction,  # type: ignore[arg-type]
                metric="task3.sigma298",
                source=str((system.sigma298_sources or {}).get(side, f"reference pack {system.name}")),
                description=f"{'lower' if side == 'min' else 'upper'} edge of the accepted {what} ({system.name})",
                origin="pack",
            )
    return thresholds


def default_thresholds(system: Any = None) -> ThresholdSet:
    """A fresh copy of the shipped defaults (parsed once per process) with the pack's layer on top.

    ``system``: the :class:`~pytest_lips.system.PackSystem` of the reference pack in use (default: the
    shipped default pack's, the LiPS σ298 band included).
    """
    global _DEFAULTS
    if _DEFAULTS is None:
        _DEFAULTS = load_default_thresholds()
    if system is None:
        from .system import default_system

        system = default_system()
    return apply_system(copy.deepcopy(_DEFAULTS), system)
