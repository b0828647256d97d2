"""Baselines: "this release is no worse than the last one" (``--lips-baseline``).

A baseline keeps, per model, each metric's value, unit and uncertainty together with the protocol
version, profile, model sha256 and environment of the run that produced it (format in
``docs/REPORT_SCHEMA.md``). Any full report written by ``--lips-report`` can also serve as a baseline.

:meth:`Baseline.compare` flags a :class:`Regression` when a metric got worse (in the direction given by
:class:`pytest_lips.tolerances.ToleranceSet`) by more than its tolerance **and** by more than the
combined 95 % uncertainty of the two values, ``sqrt(u_now² + u_baseline²)`` (the half-widths on the
facing sides of asymmetric intervals). A baseline from another protocol version or profile is refused,
and so are a baseline without metrics, one whose ``metrics`` is not ``{model: {metric key: {...}}}``,
one saved from an interrupted run, and (:meth:`Baseline.check_covers`) one without any metric for a
model under test. A comparison across different reference packs or data files says so in its note.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import LipsUsageError
from ..results import Metric, format_number
from .json_report import SCHEMA_VERSION, _clean, load_report, write_report

BASELINE_KIND = "pytest-lips-baseline"


@dataclass
class Regression:
    """The comparison of one metric with its baseline value.

    ``passed`` is False for a regression. ``worsening`` is the change in the worse direction
    (negative: improved); ``allowed`` the tolerance in the metric's unit; ``combined_uncertainty``
    the 95 % half-width of the difference (0 when neither value has one).
    """

    metric: str
    model: str
    baseline_model: str
    unit: str
    value: float | None
    baseline_value: float | None
    direction: str
    worsening: float | None
    allowed: float
    tolerance: str
    combined_uncertainty: float
    passed: bool
    gated: bool = True
    uncertainty: float | None = None
    baseline_uncertainty: float | None = None
    band: tuple[float, float] | None = None
    note: str = ""
    message: str = ""
    #: The baseline holds no value for this gated metric (saved from a run that did not measure it).
    missing: bool = False

    @property
    def regressed(self) -> bool:
        return not self.passed

    def to_dict(self) -> dict[str, Any]:
        """Verdict-like dict (``"kind": "baseline"``) for ``build_report(verdicts=...)``."""
        data = _clean(asdict(self))
        data["kind"] = "baseline"
        return data


class Baseline:
    """A loaded baseline file (see :func:`load_baseline`)."""

    def __init__(self, data: Mapping[str, Any], path: str | os.PathLike | None = None):
        self.path = Path(path) if path is not None else None
        self.data = dict(data)
        self.protocol_version = str(data.get("protocol_version", ""))
        self.profile = str(data.get("profile", ""))
        self.plugin_version = str(data.get("plugin_version", ""))
        self.created_at = str(data.get("created_at", ""))
        self.environment = dict(data.get("environment") or {})
        where = f"--lips-baseline {self.path}" if self.path else "baseline"
        if data.get("interrupted"):
            raise LipsUsageError(
                f'{where}: comes from an interrupted run ("interrupted": true), so its metrics are '
                "incomplete; record the baseline again with a complete run (--lips-save-baseline)"
            )
        models = data.get("models") or []
        if not isinstance(models, list) or not all(isinstance(m, Mapping) for m in models):
            raise LipsUsageError(
                f'{where}: "models" must be a list of objects; record the baseline again '
                "(--lips-save-baseline PATH or python -m pytest_lips baseline REPORT -o PATH)"
            )
        self.models: list[dict[str, Any]] = [dict(m) for m in models]
        self.metrics: dict[str, dict[str, dict[str, Any]]] = _parse_metrics(data.get("metrics"), where)
        self.provenance: dict[str, Any] = (
            dict(data.get("provenance") or {}) if isinstance(data.get("provenance") or {}, Mapping) else {}
        )
        #: What the run that saved it selected and did not measure: ``{"selection": {...}, "not_run": [...]}``.
        coverage = data.get("coverage") or {}
        self.coverage: dict[str, Any] = dict(coverage) if isinstance(coverage, Mapping) else {}

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_report(cls, report: Mapping[str, Any], path: str | os.PathLike | None = None) -> Baseline:
        return cls(baseline_dict(report), path)

    def __repr__(self) -> str:
        return (
            f"Baseline({self.path}, profile={self.profile!r}, protocol={self.protocol_version!r}, "
            f"models={self.model_names})"
        )

    @property
    def model_names(self) -> list[str]:
        return sorted(self.metrics)

    def info(self, provenance: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """What the report records about this baseline (``build_report(baseline=...)``).

        With the current run's ``provenance``, ``provenance_differences`` lists how the baseline's reference
        pack and data differ from this run's (empty when they match or are unknown).
        """
        info = {
            "path": str(self.path) if self.path else "",
            "profile": self.profile,
            "protocol_version": self.protocol_version,
            "plugin_version": self.plugin_version,
            "created_at": self.created_at,
            "models": [{"name": m.get("name", ""), "sha256": m.get("sha256", "")} for m in self.models],
            "provenance": dict(self.provenance),
        }
        if provenance is not None:
            info["provenance_differences"] = self.provenance_differences(provenance)
        return info

    def provenance_differences(self, provenance: Mapping[str, Any] | None, metric: str | None = None) -> list[str]:
        """How this baseline's inputs differ from ``provenance`` (the current run's), as sentences.

        ``metric`` (a metric key) limits the comparison to what that metric depends on, as the task registry
        says (:func:`pytest_lips.tasks.registry.metric_inputs`: the data set for the test split and the
        ``task2.dataset*`` metrics, the reference pack for the tasks that read it); ``None`` compares both.
        Unknown on either side: no difference claimed.
        """
        from ..tasks.registry import metric_inputs

        current = dict(provenance or {})
        out: list[str] = []
        wants_pack, wants_data = (True, True) if metric is None else metric_inputs(metric)
        old_pack, new_pack = self.provenance.get("reference_pack") or {}, current.get("reference_pack") or {}
        if (
            wants_pack
            and old_pack.get("checksum")
            and new_pack.get("checksum")
            and old_pack["checksum"] != new_pack["checksum"]
        ):
            out.append(
                f"baseline used reference pack {old_pack.get('name')}@{old_pack.get('version')} "
                f"(checksum {str(old_pack['checksum'])[:12]}), this run "
                f"{new_pack.get('name')}@{new_pack.get('version')} (checksum {str(new_pack['checksum'])[:12]})"
            )
        old_data, new_data = self.provenance.get("data") or {}, current.get("data") or {}
        if wants_data and old_data.get("sha256") and new_data.get("sha256"):
            if old_data["sha256"] != new_data["sha256"]:
                out.append(
                    f"baseline used data {old_data.get('source')} (sha256 {str(old_data['sha256'])[:12]}), "
                    f"this run {new_data.get('source')} (sha256 {str(new_data['sha256'])[:12]})"
                )
            elif old_data.get("split_source") != new_data.get("split_source"):
                out.append(
                    f"baseline split the data {old_data.get('split_source')}, this run {new_data.get('split_source')}"
                )
        return out

    def check_covers(self, model_names: list[str]) -> None:
        """Raise :class:`LipsUsageError` when a model under test has no metric in this baseline."""
        where = f"--lips-baseline {self.path}" if self.path else "baseline"
        for name in model_names:
            if name in self.metrics or len(self.metrics) == 1:
                base = name if name in self.metrics else next(iter(self.metrics))
                if self.metrics[base]:
                    continue
            held = ", ".join(self.model_names) or "none"
            raise LipsUsageError(
                f"{where}: holds no metric for model {name!r} (models in it: {held}); give --lips-model the name "
                f"the baseline was saved under, or record a baseline of this model with --lips-save-baseline"
            )

    # -- checks ------------------------------------------------------------------------------
    def check_compatible(self, profile_name: str, protocol_version: str) -> None:
        """Raise :class:`LipsUsageError` unless this baseline used ``profile_name`` and ``protocol_version``."""
        where = f"baseline {self.path}" if self.path else "baseline"
        if str(protocol_version) != self.protocol_version:
            raise LipsUsageError(
                f"--lips-baseline: {where} was recorded with protocol version {self.protocol_version!r} "
                f"(profile {self.profile!r}, pytest-lips {self.plugin_version or '?'}); this run uses protocol "
                f"version {str(protocol_version)!r}. Numbers from different protocol versions are not "
                "comparable: record a new baseline with this version of pytest-lips "
                "(python -m pytest_lips baseline lips-report.json -o baseline.json)."
            )
        if str(profile_name) != self.profile:
            raise LipsUsageError(
                f"--lips-baseline: {where} was recorded with profile {self.profile!r}; this run uses profile "
                f"{str(profile_name)!r}. Comparing across profiles is refused: run with --lips-profile "
                f"{self.profile} or record a baseline with --lips-profile {profile_name}."
            )

    def entry_for(self, metric_key: str, model: str) -> tuple[dict[str, Any], str, str] | None:
        """``(baseline entry, baseline model name, note)`` for a metric, or None when absent.

        Matched by model name; when the baseline holds exactly one model and ``model`` is not in it,
        that model is used and the note says so.
        """
        note = ""
        if model in self.metrics:
            base_model = model
        elif len(self.metrics) == 1:
            base_model = next(iter(self.metrics))
            note = f"compared with baseline model {base_model!r} (the baseline holds one model)"
        else:
            return None
        entry = self.metrics[base_model].get(metric_key)
        if entry is None:
            return None
        return entry, base_model, note

    def check(self, metric: Metric, tolerances, provenance: Mapping[str, Any] | None = None) -> Regression | None:
        """Compare ``metric`` with the baseline: a :class:`Regression` record whether or not it regressed
        (``.passed``), or None when the baseline has no value for it or its tolerance is ``off``.

        With the current run's ``provenance``, a comparison across different reference packs or data
        files says so in its note (and so in its message)."""
        found = self.entry_for(metric.key, metric.model)
        if found is None:
            return None
        entry, base_model, note = found
        rule = tolerances.rule(metric.key)
        if rule.direction == "off":
            return None
        base_value = _float(entry.get("value"))
        if base_value is None:
            return None
        value = _float(metric.value)
        unit = metric.unit or str(entry.get("unit", ""))
        if entry.get("unit") and metric.unit and entry["unit"] != metric.unit:
            raise LipsUsageError(
                f"--lips-baseline: {metric.key} is in {metric.unit} now but in {entry['unit']} in baseline "
                f"{self.path}; record a new baseline"
            )
        allowed = rule.tolerance.allowed(base_value)
        cur_lo, cur_hi = _halfwidths(metric.value, metric.uncertainty, metric.interval)
        base_lo, base_hi = _halfwidths(base_value, _float(entry.get("uncertainty")), entry.get("interval"))

        if value is None:
            worsening = None
            combined = 0.0
            passed = False
            reason = "value is not finite"
        else:
            delta = value - base_value
            if rule.direction == "max":
                worsening = delta
            elif rule.direction == "min":
                worsening = -delta
            elif rule.direction == "band":
                worsening = _band_distance(value, rule.band) - _band_distance(base_value, rule.band)
            else:
                worsening = abs(delta)
            # uncertainty on the facing sides: value above baseline -> value's lower half, baseline's upper
            combined = math.hypot(cur_lo, base_hi) if delta >= 0 else math.hypot(cur_hi, base_lo)
            beyond_tolerance = worsening > allowed + 1e-12 * max(1.0, abs(base_value))
            beyond_noise = abs(delta) > combined
            passed = not (beyond_tolerance and beyond_noise)
            reason = ""
            if beyond_tolerance and not beyond_noise:
                reason = (
                    f"change {format_number(delta)} {unit} is inside the combined 95 % uncertainty "
                    f"±{format_number(combined)} {unit}"
                ).replace("  ", " ")
        if not metric.gated:
            note = "; ".join(filter(None, [note, "reported, not gated" + (f": {metric.note}" if metric.note else "")]))
        if reason:
            note = "; ".join(filter(None, [note, reason]))
        if provenance is not None:
            differences = self.provenance_differences(provenance, metric.key)
            if differences:
                note = "; ".join(filter(None, [note, "NOT LIKE FOR LIKE: " + "; ".join(differences)]))
        reg = Regression(
            metric=metric.key,
            model=metric.model,
            baseline_model=base_model,
            unit=unit,
            value=value,
            baseline_value=base_value,
            direction=rule.direction,
            worsening=worsening,
            allowed=allowed,
            tolerance=rule.tolerance.describe(unit),
            combined_uncertainty=combined,
            passed=passed,
            gated=bool(metric.gated),
            uncertainty=_float(metric.uncertainty),
            baseline_uncertainty=_float(entry.get("uncertainty")),
            band=rule.band,
            note=note,
        )
        reg.message = _message(reg)
        return reg

    def missing(self, metric: Metric, tolerances) -> Regression | None:
        """A failed comparison when this baseline holds no entry for ``metric`` (a gated metric the run
        measured), else None: a baseline saved from a run with ``-k``/``-m``/``--deselect``/``--lf``, a
        partial ``--lips-tasks`` or without the data set compares nothing for it, which must not read
        as "no regression".  The message says why the baseline lacks it (its ``coverage``) and the fix."""
        if self.entry_for(metric.key, metric.model) is not None or tolerances.rule(metric.key).direction == "off":
            return None
        base_model = metric.model if metric.model in self.metrics else next(iter(self.metrics), "")
        why = self._why_missing(metric.key, base_model)
        where = f"baseline {self.path}" if self.path else "the baseline"
        reg = Regression(
            metric=metric.key,
            model=metric.model,
            baseline_model=base_model,
            unit=metric.unit,
            value=_float(metric.value),
            baseline_value=None,
            direction=tolerances.rule(metric.key).direction,
            worsening=None,
            allowed=0.0,
            tolerance="",
            combined_uncertainty=0.0,
            passed=False,
            gated=True,
            note=why,
            missing=True,
        )
        who = f" [model {metric.model}]" if metric.model else ""
        reg.message = (
            f"{metric.key} = {metric.formatted()} cannot be compared: {where} has no value for this gated metric{who} "
            f"({why}); record a complete baseline (every task, no -k/-m/--deselect/--lf) with --lips-save-baseline, "
            "or drop --lips-baseline"
        )
        return reg

    def _why_missing(self, key: str, model: str) -> str:
        """Why the baseline lacks ``key`` of ``model``, from its ``coverage`` (empty for old baselines)."""
        for entry in self.coverage.get("not_run") or []:
            if entry.get("metric") == key and entry.get("model") in (model, None, ""):
                reason = str(entry.get("reason") or "not run").split(";", 1)[0]
                return f"the run that saved it did not measure it: {reason}"
        selection = self.coverage.get("selection") or {}
        tasks = selection.get("tasks")
        task = key.split(".", 1)[0]
        if tasks is not None and task not in tasks:
            return f"it covers tasks {', '.join(tasks) or 'none'} only"
        how = []
        if selection.get("keyword"):
            how.append(f"-k {selection['keyword']!r}")
        if selection.get("markexpr"):
            how.append(f"-m {selection['markexpr']!r}")
        if selection.get("deselect"):
            how.append("--deselect " + " ".join(selection["deselect"]))
        if selection.get("last_failed"):
            how.append("--lf")
        if how:
            return f"it was saved from a run with {' '.join(how)}"
        return "the run that saved it did not record it"

    def compare(self, metric: Metric, tolerances) -> Regression | None:
        """The :class:`Regression` when ``metric`` got worse beyond tolerance and uncertainty, else None."""
        result = self.check(metric, tolerances)
        return result if result is not None and not result.passed else None


def baseline_dict(report: Mapping[str, Any]) -> dict[str, Any]:
    """The baseline document of a report (metrics without details, runs or verdicts)."""
    if report.get("interrupted"):
        where = report.get("_source") or "the report"
        raise LipsUsageError(
            f'{where} comes from an interrupted run ("interrupted": true); its metrics are '
            "incomplete and it cannot be a baseline: run the suite to the end first"
        )
    if report.get("kind") == BASELINE_KIND:
        return dict(report)
    metrics: dict[str, dict[str, Any]] = {}
    for model, tasks in (report.get("results") or {}).items():
        for task in tasks.values():
            for m in task.get("metrics", []):
                metrics.setdefault(model, {})[m["key"]] = {
                    k: m.get(k) for k in ("value", "unit", "uncertainty", "interval", "n", "gated", "task")
                }
    profile = report.get("profile") or {}
    return _clean(
        {
            "schema_version": SCHEMA_VERSION,
            "kind": BASELINE_KIND,
            "plugin_version": report.get("plugin_version", ""),
            "protocol_version": str(report.get("protocol_version", "")),
            "profile": profile.get("name", "") if isinstance(profile, Mapping) else str(profile),
            "created_at": report.get("started_at") or datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "environment": report.get("environment") or {},
            "models": [
                {k: m.get(k, "") for k in ("name", "sha256", "spec", "kind", "device")}
                for m in report.get("models", [])
            ],
            "metrics": {model: dict(sorted(entries.items())) for model, entries in sorted(metrics.items())},
            "provenance": report.get("provenance") or {},
            # which tasks ran, how items were deselected, which gated metrics were NOT RUN (and why)
            "coverage": {
                "selection": report.get("selection") or {},
                "not_run": [
                    {k: e.get(k) for k in ("model", "task", "metric", "reason")} for e in report.get("not_run") or []
                ],
            },
        }
    )


def save_baseline(report: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write the baseline of ``report`` (a report dict) to ``path`` (JSON)."""
    return write_report(baseline_dict(report), path)


def load_baseline(path: str | os.PathLike) -> Baseline:
    """Read a baseline file (or a full ``--lips-report`` file); errors name the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LipsUsageError(
            f"--lips-baseline: baseline file {path} does not exist (create one from a report with "
            "python -m pytest_lips baseline lips-report.json -o baseline.json)"
        ) from None
    except OSError as exc:
        raise LipsUsageError(f"--lips-baseline: cannot read {path}: {exc}") from None
    except json.JSONDecodeError as exc:
        raise LipsUsageError(f"--lips-baseline: {path} is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if isinstance(data, dict) and data.get("kind") == BASELINE_KIND:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise LipsUsageError(
                f"--lips-baseline: {path} has schema_version {data.get('schema_version')!r}; "
                f"this pytest-lips reads {SCHEMA_VERSION}"
            )
        baseline = Baseline(data, path)
    elif isinstance(data, dict) and "results" in data and "schema_version" in data:
        report = load_report(path)
        if report.get("interrupted"):
            raise LipsUsageError(
                f'--lips-baseline {path}: the report comes from an interrupted run ("interrupted": true), so its '
                "metrics are incomplete; record the baseline again with a complete run (--lips-save-baseline)"
            )
        if not isinstance(report.get("results"), Mapping):
            raise LipsUsageError(
                f'--lips-baseline {path}: "results" is not an object; give a report written by '
                "--lips-report or a baseline written by --lips-save-baseline"
            )
        baseline = Baseline.from_report(report, path)
    else:
        raise LipsUsageError(
            f'--lips-baseline: {path} is neither a pytest-lips baseline nor a report (no "kind": '
            f'"{BASELINE_KIND}" and no "results"); record one from a complete run with '
            "--lips-save-baseline PATH, or from a report with python -m pytest_lips baseline lips-report.json -o PATH"
        )
    if not any(baseline.metrics.values()):
        raise LipsUsageError(
            f"--lips-baseline {path}: holds no metrics (saved from an empty or interrupted run?); record it again "
            "from a complete run with --lips-save-baseline PATH"
        )
    return baseline


def _parse_metrics(raw: Any, where: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{model: {metric key: entry}}`` of a baseline, or a :class:`LipsUsageError` naming the fix."""
    fix = (
        "record the baseline again (--lips-save-baseline PATH, or python -m pytest_lips baseline "
        "lips-report.json -o PATH)"
    )
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise LipsUsageError(
            f'{where}: "metrics" must be an object {{model: {{metric key: {{value, unit, ...}}}}}}, '
            f"not {type(raw).__name__}; {fix}"
        )
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for model, entries in raw.items():
        if not isinstance(entries, Mapping) or not all(isinstance(v, Mapping) for v in entries.values()):
            raise LipsUsageError(
                f'{where}: "metrics" of model {model!r} must map metric keys to objects {{value, unit, ...}}; {fix}'
            )
        for key, entry in entries.items():
            value = entry.get("value")
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            ):  # NaN / Infinity (which Python's json reads) would switch the comparison off
                raise LipsUsageError(
                    f"{where}: metric {key!r} of model {model!r} has value {value!r}; a baseline value must be "
                    f"a number (finite: not NaN or Infinity; null for a metric that was not measured); {fix}"
                )
        out[str(model)] = {str(k): dict(v) for k, v in entries.items()}
    return out


def _message(reg: Regression) -> str:
    unit = f" {reg.unit}" if reg.unit and reg.unit != "1" else ""
    who = f" [model {reg.model}]" if reg.model else ""
    base = f"{format_number(reg.baseline_value)}{unit}"
    if reg.value is None:
        return f"{reg.metric} is not finite; baseline {base}{who}"
    now = f"{format_number(reg.value)}{unit}"
    assert reg.baseline_value is not None  # check() builds no Regression without a baseline value
    change = reg.value - reg.baseline_value
    rel = f" ({change / abs(reg.baseline_value):+.1%})" if reg.baseline_value else ""
    worse = {
        "max": "higher is worse",
        "min": "lower is worse",
        "band": "further from the accepted band is worse",
        "two-sided": "any change counts",
    }.get(reg.direction, reg.direction)
    allowed = f"allowed {reg.tolerance}"
    if reg.tolerance.endswith("%"):
        allowed += f" = {format_number(reg.allowed)}{unit}"
    if reg.combined_uncertainty:
        allowed += f", combined uncertainty ±{format_number(reg.combined_uncertainty)}{unit}"
    verb = "regressed" if not reg.passed else "within tolerance"
    extra = f"; {reg.note}" if reg.note else ""
    return (
        f"{reg.metric} {verb}: {now} vs baseline {base}, change {format_number(change)}{unit}{rel} "
        f"({worse}; {allowed}){who}{extra}"
    )


def _band_distance(value: float, band: tuple[float, float] | None) -> float:
    if band is None:
        return 0.0
    lo, hi = band
    return max(lo - value, 0.0, value - hi)


def _halfwidths(value, uncertainty, interval) -> tuple[float, float]:
    """(lower, upper) half-widths of the 95 % interval, 0 when unknown."""
    v = _float(value)
    if interval is not None and v is not None:
        lo, hi = (_float(x) for x in interval)
        if lo is not None and hi is not None:
            return max(v - lo, 0.0), max(hi - v, 0.0)
    u = _float(uncertainty)
    if u is not None:
        return abs(u), abs(u)
    return 0.0, 0.0


def _float(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None
