"""Merge several reports into one: shards of a CI matrix, or runs of different models side by side.

All reports must share the protocol version and the profile (otherwise the numbers are not
comparable and the merge is refused with :class:`LipsUsageError`). Models are merged by name:

* the same name and the same sha256 in two reports (shards of one model, e.g. ``--lips-tasks task1``
  and ``--lips-tasks task3``) → their tasks are combined; the same metric in two shards must agree;
* the same name with different sha256 (two releases of ``model.pt``) → both are kept, renamed
  ``name@<first 8 hex digits of sha256>``, so they sit side by side.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import LipsUsageError
from .json_report import _sort_results, sort_not_run, strip_timings, summarize


def merge_reports(reports: Sequence[Mapping[str, Any]], names: Sequence[str] | None = None) -> dict[str, Any]:
    """Merge ``reports`` (dicts from :func:`load_report`) into one report dict.

    ``names`` labels the reports in error messages (default: their ``_source`` file or ``report #i``).
    """
    if not reports:
        raise LipsUsageError("nothing to merge: give at least one pytest-lips report")
    names = list(names) if names else [str(r.get("_source") or f"report #{i + 1}") for i, r in enumerate(reports)]
    reports = [copy.deepcopy(dict(r)) for r in reports]
    first = reports[0]

    _check_same(
        reports,
        names,
        "protocol_version",
        lambda r: str(r.get("protocol_version")),
        "results from different protocol versions are not comparable; rerun the older shard "
        "with the same pytest-lips version",
    )
    _check_same(
        reports,
        names,
        "profile",
        lambda r: (r.get("profile") or {}).get("name"),
        "results from different profiles are not comparable; run every shard with the same --lips-profile",
    )
    _check_same(
        reports,
        names,
        "thresholds",
        lambda r: _threshold_values(r),
        "verdicts were made against different thresholds; use the same --lips-threshold / ini settings in every shard",
    )

    # rename models whose name clashes with a different sha256
    sha_by_name: dict[str, set[str]] = {}
    for r in reports:
        for m in r.get("models", []):
            sha_by_name.setdefault(m["name"], set()).add(m.get("sha256") or "")
    clashing = {name for name, shas in sha_by_name.items() if len(shas) > 1}

    environments_differ = len({repr(sorted((r.get("environment") or {}).items())) for r in reports}) > 1
    provenance_differences = _provenance_differences(reports, names)

    models: dict[str, dict] = {}
    results: dict[str, dict[str, dict[str, list]]] = {}
    outcomes: dict[str, str] = {}
    origin_of: dict[tuple[str, str, str], str] = {}
    merged_from = []
    tolerances: dict[str, str] = {}
    baseline = None
    for report, name in zip(reports, names):
        rename = {}
        for m in report.get("models", []):
            new = m["name"]
            if m["name"] in clashing:
                new = f"{m['name']}@{(m.get('sha256') or 'unknown')[:8]}"
            rename[m["name"]] = new
            models[new] = {**m, "name": new}
        for model, tasks in report.get("results", {}).items():
            new_model = rename.get(model, model)
            for task, entry in tasks.items():
                target = results.setdefault(new_model, {}).setdefault(
                    task, {"metrics": [], "verdicts": [], "baseline": [], "runs": []}
                )
                for kind in ("metrics", "verdicts", "baseline", "runs"):
                    for item in entry.get(kind, []):
                        item = dict(item)
                        if "model" in item and item["model"] == model:
                            item["model"] = new_model
                        ident = _identity(kind, item)
                        previous = next((x for x in target[kind] if _identity(kind, x) == ident), None)
                        if previous is None:
                            target[kind].append(item)
                            origin_of[(new_model, kind, repr(ident))] = name
                        elif kind == "metrics" and _comparable(previous) != _comparable(item):
                            raise LipsUsageError(
                                f"cannot merge: metric {item.get('key')} of model {new_model} differs between "
                                f"{origin_of[(new_model, kind, repr(ident))]} ({previous.get('value')}) and {name} "
                                f"({item.get('value')}); shards must not run the same task twice"
                            )
        for nodeid, outcome in report.get("outcomes", {}).items():
            for old, new in rename.items():
                if old != new and f"[{old}" in nodeid:
                    nodeid = nodeid.replace(f"[{old}", f"[{new}", 1)
            outcomes[nodeid] = outcome
        for k, v in (report.get("tolerances") or {}).items():
            tolerances.setdefault(k, v)
        baseline = baseline or report.get("baseline")
        entry = {
            "file": name,
            "profile": (report.get("profile") or {}).get("name"),
            "started_at": report.get("started_at", ""),
            "duration_s": report.get("duration_s"),
            "models": sorted(rename.values()),
        }
        if environments_differ:
            entry["environment"] = report.get("environment", {})
        if provenance_differences:
            entry["provenance"] = report.get("provenance") or {}
        merged_from.append(entry)
        # a report that was itself merged keeps its history
        for sub in report.get("merged_from") or []:
            if sub not in merged_from:
                merged_from.append(sub)

    merged = {
        "schema_version": first["schema_version"],
        "plugin_version": first.get("plugin_version", ""),
        "protocol_version": first.get("protocol_version"),
        "profile": first.get("profile"),
        "seed": first.get("seed") if len({r.get("seed") for r in reports}) == 1 else None,
        "started_at": min((r.get("started_at") or "" for r in reports), default=""),
        "duration_s": sum(float(r.get("duration_s") or 0.0) for r in reports),
        "environment": first.get("environment", {}),
        "models": [models[k] for k in sorted(models)],
        "thresholds": first.get("thresholds", {}),
        "tolerances": dict(sorted(tolerances.items())),
        "baseline": baseline,
        # an interrupted shard makes the merged report incomplete (gate INTERRUPTED, refused as a baseline)
        "interrupted": any(bool(r.get("interrupted")) for r in reports),
        "provenance": next((r["provenance"] for r in reports if r.get("provenance")), {}),
        "results": _sort_results(results),
        "outcomes": dict(sorted(outcomes.items())),
        "merged_from": sorted(merged_from, key=lambda e: (str(e.get("file")), str(e.get("started_at")))),
    }
    # a gated metric NOT RUN in one shard but measured in another is not missing from the merged report
    measured = {(model, m.get("key")) for model, tasks in results.items() for t in tasks.values() for m in t["metrics"]}
    not_run = []
    for report in reports:
        for entry in report.get("not_run") or []:
            if (entry.get("model"), entry.get("metric")) not in measured:
                not_run.append(entry)
    merged["not_run"] = sort_not_run(not_run)
    if environments_differ:
        merged["environment"] = {
            **merged["environment"],
            "note": "shards ran in different environments; see merged_from",
        }
    if provenance_differences:
        # not refused (models are often compared across packs on purpose), but never silent
        merged["provenance_differences"] = provenance_differences
    merged["summary"] = summarize(merged)
    return merged


def _provenance_differences(reports: Sequence[Mapping[str, Any]], names: Sequence[str]) -> list[str]:
    """Sentences stating how the reports' reference packs (content checksum) and data files (sha256,
    split) differ; empty when like for like. A report that did not load an input claims no difference."""
    out = []
    for label, section, fields in (
        ("reference pack", "reference_pack", ("checksum",)),
        ("data", "data", ("sha256", "split_source")),
    ):
        seen = [(name, (r.get("provenance") or {}).get(section) or {}) for r, name in zip(reports, names)]
        known = [(name, value) for name, value in seen if value.get(fields[0])]
        if len({tuple(str(v.get(f)) for f in fields) for _name, v in known}) > 1:
            from .provenance import data_text, pack_text

            text = pack_text if section == "reference_pack" else data_text
            out.append(f"the reports used different {label}s: " + "; ".join(f"{name}: {text(v)}" for name, v in known))
    return out


def _check_same(reports, names, label, get, why) -> None:
    values = [get(r) for r in reports]
    if len({repr(v) for v in values}) > 1:
        listing = "\n  ".join(f"{n}: {label} = {_short(v)}" for n, v in zip(names, values))
        raise LipsUsageError(f"cannot merge reports with different {label}:\n  {listing}\n{why}")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) < 100 else text[:97] + "..."


def _threshold_values(report) -> dict:
    return {k: (v.get("value"), v.get("direction")) for k, v in (report.get("thresholds") or {}).items()}


def _identity(kind: str, item: Mapping[str, Any]):
    if kind == "metrics":
        return item.get("key")
    if kind == "verdicts":
        return (item.get("metric"), item.get("threshold"))
    if kind == "baseline":
        return item.get("metric")
    return item.get("run_id")


def _comparable(metric: Mapping[str, Any]):
    return {k: metric.get(k) for k in ("value", "uncertainty", "interval", "unit", "gated")}


__all__ = ["merge_reports", "strip_timings"]
