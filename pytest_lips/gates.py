"""Which gated metrics a run decided, and which it did not (``NOT RUN``), with the reason.

A gated metric is one with a ``max``/``min`` threshold (``reference_data/thresholds.yaml``).  Every
gated metric of every selected task of every model is either recorded by its gate item (PASS, FAIL,
NOT GATED, INCONCLUSIVE) or listed as ``NOT RUN`` with why: its item SKIPPED (data absent, package
missing, pack slot missing: the skip reason), ended in FAILED/ERROR before recording it, or did not run
at all (deselected with ``-k``, ``-m``, ``--deselect``, ``--lf``, or the run stopped early).  The overall
gate is then never a bare PASS (:func:`gate_text`); ``--lips-strict`` makes a NOT RUN gate FAIL.

Pure functions of plain dicts (no pytest), shared by the session, the report and its renderers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .tasks.registry import gate_items, task_order

#: Why a gate item that never reported did not run.
NOT_SELECTED = "its test was not run (deselected with -k, -m, --deselect or --lf, or the run stopped before it)"


def task_of(metric_key: str) -> str:
    return metric_key.split(".", 1)[0]


def gated_metrics(thresholds: Mapping[str, Mapping[str, Any]], tasks: Iterable[str]) -> list[str]:
    """Metric keys with a ``max``/``min`` threshold that belong to ``tasks``, in task then key order."""
    wanted = set(tasks)
    keys = {
        str(t.get("metric") or key)
        for key, t in thresholds.items()
        if t.get("direction") in ("max", "min") and task_of(str(t.get("metric") or key)) in wanted
    }
    return sorted(keys, key=lambda k: (task_order(task_of(k))[0], k))


def local_nodeid(nodeid: str) -> str:
    """A node id without its directory part (``lips/li6ps5cl/test_task2.py::f[m]`` -> ``test_task2.py::f[m]``):
    a pack other than the default puts its system id in the suite's node ids, the gate items are the same."""
    path, sep, rest = nodeid.partition("::")
    return path.rsplit("/", 1)[-1] + sep + rest


def gate_nodeid(metric_key: str, model: str) -> str | None:
    """Node id of the item that gates ``metric_key`` for ``model`` (``None`` when unknown)."""
    found = gate_items().get(metric_key)
    if found is None:
        return None
    module, function, suffix = found
    return f"lips/{module}::{function}[{model}{suffix}]"


def gate_item_metric(nodeid: str, models: Iterable[str]) -> str | None:
    """The gated metric an item (node id) gates, or ``None`` for any other item."""
    for model in models:
        for key in gate_items():
            gate = gate_nodeid(key, model)
            if gate is not None and local_nodeid(gate) == local_nodeid(nodeid):
                return key
    return None


def not_run(
    *,
    models: Iterable[str],
    tasks: Iterable[str],
    thresholds: Mapping[str, Mapping[str, Any]],
    recorded: Iterable[tuple[str, str]],
    outcomes: Mapping[str, str],
    reasons: Mapping[str, str],
    strict: bool = False,
) -> list[dict[str, Any]]:
    """The gated metrics of ``tasks`` that no item recorded, per model: ``{model, task, metric, reason,
    nodeid, outcome, fails}``.

    ``recorded`` holds (model, metric key) of every recorded metric, ``outcomes`` node id -> outcome
    (passed/failed/skipped/error), ``reasons`` node id -> skip reason or failure text.  ``fails`` is
    True under ``strict`` (``--lips-strict``: a gate that did not run fails).
    """
    done = set(recorded)
    tasks = list(tasks)
    by_local = {local_nodeid(n): n for n in outcomes}  # the gate items under whatever system path they ran
    out: list[dict[str, Any]] = []
    for model in sorted(models):
        task_items = {
            task: [n for n in outcomes if local_nodeid(n).startswith(f"test_{task}.py::") and f"[{model}" in n]
            for task in tasks
        }
        for key in gated_metrics(thresholds, tasks):
            if (model, key) in done:
                continue
            gate = gate_nodeid(key, model)
            nodeid = by_local.get(local_nodeid(gate), gate) if gate is not None else None
            outcome = outcomes.get(nodeid or "")
            if outcome is None:
                reason = NOT_SELECTED
                nodeid_seen = None
                # a gated metric without a known gate item (a new task): a skipped item of its task says more
                for other in task_items.get(task_of(key), []) if nodeid is None else []:
                    if outcomes[other] == "skipped" and reasons.get(other):
                        reason, nodeid_seen = reasons[other], other
                        break
            else:
                nodeid_seen = nodeid
                text = reasons.get(nodeid or "", "")
                if outcome == "skipped":
                    reason = text or "its test was SKIPPED"
                else:
                    reason = f"its test ended in {outcome.upper()} before the metric was recorded" + (
                        f": {text}" if text else ""
                    )
            out.append(
                {
                    "model": model,
                    "task": task_of(key),
                    "metric": key,
                    "reason": reason,
                    "nodeid": nodeid_seen or nodeid,
                    "outcome": outcome or "not run",
                    "fails": bool(strict),
                }
            )
    return out


def short_reason(reason: str, limit: int = 110) -> str:
    """The first clause of a reason (up to ``;``), at most ``limit`` characters."""
    first = reason.split(";", 1)[0].strip().rstrip(".")
    return first if len(first) <= limit else first[: limit - 1].rstrip() + "…"


def gate_text(summary: Mapping[str, Any], not_run_entries: Iterable[Mapping[str, Any]]) -> str:
    """The overall gate as one phrase: ``PASS`` or e.g. ``PASS (2 gated metrics NOT RUN:
    test_split.energy_rmse, test_split.force_rmse — LiPS-25 is not available…; see "NOT RUN" below)``."""
    gate = str(summary.get("gate", "?"))
    entries = list(not_run_entries)
    if not entries:
        return gate
    models = {e.get("model") for e in entries}
    names = [f"{e['metric']}" + (f" [{e['model']}]" if len(models) > 1 else "") for e in entries]
    reasons = list(dict.fromkeys(short_reason(str(e.get("reason", ""))) for e in entries))
    why = reasons[0] if len(reasons) == 1 else f"{reasons[0]}; and {len(reasons) - 1} other reason(s)"
    count = f"{len(entries)} gated metric{'s' if len(entries) != 1 else ''} NOT RUN"
    return f'{gate} ({count}: {", ".join(names)} — {why}; see "NOT RUN" below)'
