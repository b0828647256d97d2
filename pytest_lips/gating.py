"""Recording and gating of metrics on pytest items, and the collection of what items recorded.

* :func:`gate_metrics` — what ``lips_check`` does: record each metric (with its verdicts, applied
  thresholds and baseline comparison) on the item, then FAIL it, or SKIP it (INCONCLUSIVE, not gated,
  not measured);
* :func:`fail_not_run_under_strict` — ``--lips-strict``: a gate item that skipped without its metric FAILS;
* :class:`CollectedResults` — metrics, runs, models, outcomes and reasons gathered from the test reports
  (serial runs and the xdist controller), and :meth:`CollectedResults.not_run_gates`.

Which gated metrics a run did not decide is :mod:`pytest_lips.gates` (pure functions of dicts); the session
(:mod:`pytest_lips.session`) holds the thresholds, baseline and tolerances handed in here.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from .results import Metric
    from .thresholds import ThresholdSet, Verdict

#: ``user_properties`` names the plugin writes on items (they travel with xdist reports).
PROPERTY_METRIC = "lips_metric"
PROPERTY_RUN = "lips_run"
PROPERTY_MODEL = "lips_model"
PROPERTY_PROVENANCE = "lips_provenance"
PROPERTY_CACHE_FAILURES = "lips_cache_failures"
#: A harness crash shown as ERROR (:func:`pytest_lips.plugin.classify_exception`).
PROPERTY_HARNESS_ERROR = "lips_harness_error"
#: A gate item that skipped and was FAILED by ``--lips-strict`` (value: the skip's reason).
PROPERTY_NOT_RUN_STRICT = "lips_not_run_strict"


def record_provenance(node: pytest.Item, provenance: Mapping[str, Any]) -> None:
    """Hand this process's pack/data provenance to the report (travels with xdist reports)."""
    if provenance:
        node.user_properties.append((PROPERTY_PROVENANCE, dict(provenance)))


def gate_metrics(
    node: pytest.Item,
    model: Any,
    metrics: Iterable[Metric],
    *,
    thresholds: ThresholdSet,
    baseline: Any,
    tolerances: Any,
    provenance: Mapping[str, Any],
) -> None:
    """Record ``metrics`` on ``node``, then fail/skip according to ``thresholds`` and ``baseline``.

    FAILED: a threshold fails, or a gated regression against the baseline.  SKIPPED: an INCONCLUSIVE
    interval verdict, a metric not measured (NaN without a gate), or only metrics reported, not gated.
    """
    failures: list[str] = []
    not_gated: list[str] = []
    not_measured: list[str] = []
    inconclusive: list[Verdict] = []
    gated_any = False
    model_name = getattr(model, "name", "") or ""
    if model is not None and hasattr(model, "describe"):
        node.user_properties.append((PROPERTY_MODEL, model.describe()))
    for metric in metrics:
        if not metric.model:
            metric.model = model_name
        verdicts = thresholds.evaluate(metric)
        regression = None
        if baseline is not None and math.isfinite(metric.value):
            regression = baseline.check(metric, tolerances, provenance=provenance)
            if regression is None and metric.gated and thresholds.for_metric(metric.key):
                regression = baseline.missing(metric, tolerances)  # a partial baseline: FAILED
        applied = {v.threshold.key: thresholds.as_dict()[v.threshold.key] for v in verdicts if v.threshold is not None}
        record = {
            "metric": metric.to_dict(),
            "verdicts": [v.to_dict() for v in verdicts],
            "thresholds": applied,
            "regression": None if regression is None else regression.to_dict(),
        }
        node.user_properties.append((PROPERTY_METRIC, record))
        for verdict in verdicts:
            if verdict.passed is False:  # includes a gated metric whose value is NaN (it should exist)
                failures.append(verdict.message)
            elif verdict.inconclusive:  # decided on its interval, which straddles the threshold
                inconclusive.append(verdict)
            elif verdict.passed is True:
                gated_any = True
            elif verdict.threshold is not None and not metric.gated:
                not_gated.append(f"{metric.key} = {metric.formatted()}: {metric.note or 'not gated'}")
            elif not math.isfinite(metric.value):  # n/a without a gate: never PASSED, SKIPPED with the reason
                not_measured.append(f"{metric.key}: {metric.note or 'no value'}")
        if regression is not None and regression.gated and not regression.passed:
            failures.append(regression.message)
    record_provenance(node, provenance)
    if failures:
        pytest.fail("\n".join(failures), pytrace=False)
    if inconclusive:
        from .thresholds import inconclusive_summary

        pytest.skip(inconclusive_summary(inconclusive))
    if not_measured and not gated_any:
        pytest.skip(
            "; ".join(
                ["not measured: " + "; ".join(not_measured)]
                + (["reported, not gated: " + "; ".join(not_gated)] if not_gated else [])
            )
        )
    if not_gated and not gated_any:
        pytest.skip("reported, not gated: " + "; ".join(not_gated))


def fail_not_run_under_strict(item: pytest.Item, report: pytest.TestReport, models: Iterable[str]) -> None:
    """``--lips-strict``: a gate item that SKIPPED without recording its gated metric (data absent,
    package missing, pack slot missing) becomes a FAILED item, like an INCONCLUSIVE verdict."""
    from .gates import gate_item_metric

    key = gate_item_metric(item.nodeid, models)
    if key is None or any(name == PROPERTY_METRIC for name, _ in item.user_properties):
        return
    reason = report_reason(report)
    report.outcome = "failed"
    report.longrepr = f"{key}: gated metric NOT RUN fails under --lips-strict: {reason}"
    report.user_properties = [*report.user_properties, (PROPERTY_NOT_RUN_STRICT, reason)]


def report_reason(report: pytest.TestReport) -> str:
    """A skip's reason (without ``Skipped:``) or the first line of a failure, for NOT RUN entries."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: ") :] if text.startswith("Skipped: ") else text
    lines = [line.strip() for line in str(getattr(report, "longreprtext", "") or "").splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith("E ")), lines[-1] if lines else "")
    return first[2:].strip() if first.startswith("E ") else first


@dataclass
class CollectedResults:
    """What the items of the suite reported (serial runs and the xdist controller)."""

    #: ``{"metric", "verdicts", "thresholds", "regression", "nodeid"}`` per recorded metric.
    metric_records: list[dict[str, Any]] = field(default_factory=list)
    #: :meth:`pytest_lips.results.RunRecord.to_dict` per MD run.
    run_records: list[dict[str, Any]] = field(default_factory=list)
    #: model name -> ``LipsModel.describe()`` as the items saw it.
    model_infos: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: node id -> passed / failed / skipped / error.
    outcomes: dict[str, str] = field(default_factory=dict)
    #: node id -> skip reason or first line of the failure (why a gated metric was NOT RUN).
    reasons: dict[str, str] = field(default_factory=dict)
    #: gate items that skipped and were FAILED by ``--lips-strict``.
    strict_failed: set[str] = field(default_factory=set)

    def collect(
        self,
        report: pytest.TestReport,
        provenance: dict[str, Any],
        note_cache_failures: Callable[[str, list[str]], None],
    ) -> None:
        """Gather metrics, runs and outcomes from one test report of a suite item (``lips/...``); the
        reported provenance fills the gaps of ``provenance``; failed cache writes go to ``note_cache_failures``."""
        if not report.nodeid.startswith("lips/"):
            return
        previous = self.outcomes.get(report.nodeid)
        if report.failed:
            harness = any(key == PROPERTY_HARNESS_ERROR for key, _ in report.user_properties)
            strict_gate = any(key == PROPERTY_NOT_RUN_STRICT for key, _ in report.user_properties)
            outcome = "error" if (report.when != "call" and not strict_gate) or harness else "failed"
            self.outcomes[report.nodeid] = "error" if previous == "error" else outcome
        elif report.skipped and previous not in ("failed", "error"):
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and previous is None:
            self.outcomes[report.nodeid] = "passed"
        strict_skip = next((v for k, v in report.user_properties if k == PROPERTY_NOT_RUN_STRICT), None)
        if strict_skip is not None:  # a gate item that skipped, FAILED by --lips-strict: keep the skip's reason
            self.reasons[report.nodeid] = str(strict_skip)
            self.strict_failed.add(report.nodeid)
        elif (report.skipped or report.failed) and report.nodeid not in self.reasons:
            self.reasons[report.nodeid] = report_reason(report)
        if report.when != "teardown":
            return
        # the plugin's own properties (PROPERTY_*) hold dicts; pytest types the values as object
        for name, value in cast("list[tuple[str, Any]]", report.user_properties):
            if name == PROPERTY_METRIC:
                self.metric_records.append(dict(value, nodeid=report.nodeid))
            elif name == PROPERTY_RUN:
                self.run_records.append(value)
            elif name == PROPERTY_MODEL:
                known = self.model_infos.get(value["name"])
                if known is None or (not known.get("probe_fingerprint") and value.get("probe_fingerprint")):
                    self.model_infos[value["name"]] = value
            elif name == PROPERTY_PROVENANCE:
                for key, info in value.items():
                    provenance.setdefault(key, info)
            elif name == PROPERTY_CACHE_FAILURES:
                note_cache_failures(report.nodeid, list(value))

    def not_run_gates(
        self, *, models: list[str], tasks: list[str], thresholds: Mapping[str, Any], strict: bool
    ) -> list[dict[str, Any]]:
        """The gated metrics of ``tasks`` that no item recorded (:func:`pytest_lips.gates.not_run`)."""
        from .gates import not_run

        return not_run(
            models=models,
            tasks=tasks,
            thresholds=thresholds,
            recorded=[(r["metric"].get("model", ""), r["metric"]["key"]) for r in self.metric_records],
            outcomes={n: ("skipped" if n in self.strict_failed else o) for n, o in self.outcomes.items()},
            reasons=self.reasons,
            strict=strict,
        )
