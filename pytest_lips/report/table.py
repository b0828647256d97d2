"""The metrics table shared by the terminal, Markdown and HTML renderers.

One :class:`Row` per (task, metric key); one :class:`Cell` per model. Verdict words:

* ``PASS`` / ``FAIL`` – the metric is gated and meets / violates its threshold(s);
* ``NOT GATED`` – the metric has a threshold but is reported only (``Metric.gated`` is False, e.g.
  the profile is too short for a verdict); the reason is the metric's note;
* ``REPORTED`` – the metric has no threshold (informational);
* ``NOT RUN`` – a gated metric of a selected task that no item recorded (report ``not_run``: its item
  SKIPPED, ended in ERROR, or was deselected); the reason is the entry's ``reason``.

Best of several models (marked ``*``): for a metric with only ``max`` thresholds the lowest value,
only ``min`` thresholds the highest, a band (both) the value closest to the band – every value inside
the band counts as best; for a metric without threshold, error-like keys (``_rmse``, ``_mae``,
``_error``) the lowest, otherwise nothing is marked (no "better" side, e.g. an activation energy).
Ties are all marked. Non-finite values are never best.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..results import format_number
from ..tasks.registry import task_order

BEST_LEGEND = (
    "* best of the models: lowest for ≤ thresholds and error metrics, highest for ≥ thresholds, "
    "inside/closest to a band; not marked for metrics without a better side"
)


@dataclass
class Cell:
    model: str
    metric: dict[str, Any]
    value_text: str
    verdict: str  # PASS / FAIL / NOT GATED / REPORTED / NOT RUN
    reason: str = ""
    messages: list[str] = field(default_factory=list)  # failure messages
    baseline: dict[str, Any] | None = None  # Regression.to_dict()
    best: bool = False

    @property
    def regressed(self) -> bool:
        return self.baseline is not None and self.baseline.get("passed") is False

    @property
    def baseline_text(self) -> str:
        """``ok -2.1%`` / ``REGRESSED +10.0%`` / ``""``."""
        b = self.baseline
        if not b:
            return ""
        change = ""
        value, base = b.get("value"), b.get("baseline_value")
        if value is not None and base not in (None, 0):
            change = f" {(value - base) / abs(base):+.1%}"
        elif value is not None and base is not None:
            change = f" {format_number(value - base)}"
        if b.get("missing"):
            return "MISSING from baseline"
        word = "ok" if b.get("passed") else ("REGRESSED" if b.get("gated", True) else "worse (not gated)")
        return f"{word}{change}"


@dataclass
class Row:
    task: str
    key: str
    unit: str
    threshold_text: str
    cells: dict[str, Cell]


def threshold_text(thresholds: Mapping[str, Mapping[str, Any]], metric_key: str) -> str:
    """``≤ 0.3``, ``≥ 1``, ``[17, 61]`` or ``""`` for the thresholds of a metric."""
    gates = [t for t in thresholds.values() if t.get("metric") == metric_key and t.get("direction") in ("max", "min")]
    highs = [t["value"] for t in gates if t["direction"] == "max"]
    lows = [t["value"] for t in gates if t["direction"] == "min"]
    if highs and lows:
        return f"[{format_number(max(lows))}, {format_number(min(highs))}]"
    if highs:
        return f"≤ {format_number(min(highs))}"
    if lows:
        return f"≥ {format_number(max(lows))}"
    return ""


def better_direction(thresholds: Mapping[str, Mapping[str, Any]], metric_key: str):
    """``("low", None)``, ``("high", None)``, ``("band", (lo, hi))`` or ``(None, None)``."""
    gates = [t for t in thresholds.values() if t.get("metric") == metric_key and t.get("direction") in ("max", "min")]
    highs = [t["value"] for t in gates if t["direction"] == "max"]
    lows = [t["value"] for t in gates if t["direction"] == "min"]
    if highs and lows:
        return "band", (max(lows), min(highs))
    if highs:
        return "low", None
    if lows:
        return "high", None
    if metric_key.endswith(("_rmse", "_mae", "_error")):
        return "low", None
    return None, None


def not_measured(metric: Mapping[str, Any]) -> bool:
    """True for a metric computed over no sample (``n`` = 0) whose value is therefore missing or nan."""
    value = metric.get("value")
    return metric.get("n") == 0 and (value is None or not math.isfinite(value))


def format_value(metric: Mapping[str, Any]) -> str:
    """``0.1234 ± 0.01`` or ``25.3 [18.2, 33.1]`` (no unit); ``n/a`` for a metric over nothing (``n`` = 0,
    e.g. no extrapolation crystal in the pack), whose reason is the metric's note."""
    if not_measured(metric):
        return "n/a"
    text = format_number(metric.get("value"))
    interval = metric.get("interval")
    if interval is not None and len(interval) == 2:
        text += f" [{format_number(interval[0])}, {format_number(interval[1])}]"
    elif metric.get("uncertainty") is not None:
        text += f" ± {format_number(metric['uncertainty'])}"
    return text


def build_rows(report: Mapping[str, Any]) -> tuple[list[str], list[Row]]:
    """``(model names, rows)`` of a report, rows in task order then metric key."""
    thresholds = report.get("thresholds") or {}
    results = report.get("results") or {}
    models = sorted(results)
    rows: dict[tuple[str, str], Row] = {}
    for model in models:
        for task, entry in results[model].items():
            verdicts: dict[str, list[dict]] = {}
            for v in entry.get("verdicts", []):
                verdicts.setdefault(v.get("metric", ""), []).append(v)
            comparisons = {c.get("metric", ""): c for c in entry.get("baseline", [])}
            for m in entry.get("metrics", []):
                key = m["key"]
                row = rows.get((task, key))
                if row is None:
                    row = rows[(task, key)] = Row(task, key, m.get("unit", ""), threshold_text(thresholds, key), {})
                word, reason, messages = _verdict(m, verdicts.get(key, []), bool(row.threshold_text))
                row.cells[model] = Cell(model, m, format_value(m), word, reason, messages, comparisons.get(key))
    for entry in report.get("not_run") or []:  # gated metrics no item recorded: shown, with the reason
        key, model = str(entry.get("metric", "")), str(entry.get("model", ""))
        task = str(entry.get("task") or key.split(".", 1)[0])
        if model not in models:
            models.append(model)
        row = rows.get((task, key))
        if row is None:
            unit = next((str(t.get("unit", "")) for t in thresholds.values() if t.get("metric") == key), "")
            row = rows[(task, key)] = Row(task, key, unit, threshold_text(thresholds, key), {})
        if model not in row.cells:
            reason = str(entry.get("reason", ""))
            metric = {"key": key, "value": None, "unit": row.unit, "model": model, "task": task, "note": reason}
            row.cells[model] = Cell(model, metric, "-", "NOT RUN", reason)
    models.sort()
    ordered = [rows[k] for k in sorted(rows, key=lambda k: (task_order(k[0]), k[1]))]
    if len(models) > 1:
        for row in ordered:
            _mark_best(row, thresholds)
    return models, ordered


def regressions(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All baseline comparisons that regressed (gated or not), sorted by model and metric."""
    out: list[dict[str, Any]] = []
    for _model, tasks in sorted((report.get("results") or {}).items()):
        for task in tasks.values():
            out.extend(c for c in task.get("baseline", []) if c.get("passed") is False)
    return sorted(out, key=lambda c: (c.get("model", ""), c.get("metric", "")))


def failures(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All failed threshold verdicts, sorted by model and metric."""
    out: list[dict[str, Any]] = []
    for _model, tasks in sorted((report.get("results") or {}).items()):
        for task in tasks.values():
            out.extend(v for v in task.get("verdicts", []) if v.get("passed") is False)
    return sorted(out, key=lambda v: (v.get("model", ""), v.get("metric", ""), v.get("threshold") or ""))


def _verdict(metric: Mapping[str, Any], verdicts: list[dict], has_threshold: bool) -> tuple[str, str, list[str]]:
    decided = [v for v in verdicts if v.get("passed") is not None]
    if decided:
        failed = [v for v in decided if not v["passed"]]
        return ("FAIL" if failed else "PASS"), "", [v.get("message", "") for v in failed]
    reason = metric.get("note") or next((v.get("message") for v in verdicts if v.get("message")), "")
    if has_threshold or (verdicts and any(v.get("threshold") for v in verdicts)):
        return "NOT GATED", reason or "not gated", []
    return "REPORTED", reason if reason and reason != "no threshold for this metric" else "no threshold", []


def _mark_best(row: Row, thresholds) -> None:
    direction, band = better_direction(thresholds, row.key)
    if direction is None:
        return
    scores: dict[str, float] = {}
    for model, cell in row.cells.items():
        value = cell.metric.get("value")
        if value is None or not math.isfinite(float(value)):
            continue
        value = float(value)
        if direction == "low":
            scores[model] = value
        elif direction == "high":
            scores[model] = -value
        else:
            lo, hi = band
            scores[model] = max(lo - value, 0.0, value - hi)
    if len(scores) < 2:
        return
    best = min(scores.values())
    tol = 1e-12 * max(1.0, abs(best))
    for model, score in scores.items():
        if score <= best + tol:
            row.cells[model].best = True
