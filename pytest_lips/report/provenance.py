"""Provenance per model of a (possibly merged) report, for the Markdown and HTML comparison views.

A merged report keeps one top-level ``provenance`` and ``environment``; when the merged reports
differ in them, :func:`pytest_lips.report.merge_reports` stores each report's own under its
``merged_from`` entry and states the differences in ``provenance_differences``. :func:`model_provenance`
resolves, for every model, the entry of the report it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelProvenance:
    """Where one model's numbers come from. ``facts`` are ``(label, text)`` pairs in display order."""

    name: str
    facts: list[tuple[str, str]] = field(default_factory=list)


def pack_text(pack: Mapping[str, Any]) -> str:
    """``lips-open-pbesol@1.2 (checksum 0123456789ab)`` or ``""``."""
    if not pack:
        return ""
    text = f"{pack.get('name', '?')}@{pack.get('version', '?')}"
    if pack.get("checksum"):
        text += f" (checksum {str(pack['checksum'])[:12]})"
    return text


def data_text(data: Mapping[str, Any]) -> str:
    """``lips25.xyz (sha256 0123456789ab), 12525 structures, split file`` or ``""``."""
    if not data:
        return ""
    text = str(data.get("source", "?"))
    if data.get("sha256"):
        text += f" (sha256 {str(data['sha256'])[:12]})"
    if data.get("structures") is not None:
        text += f", {data['structures']} structures"
    if data.get("split_source"):
        text += f", split {data['split_source']}"
    return text


def environment_text(env: Mapping[str, Any], model: str | None = None) -> str:
    """Versions and threads of a report's environment, and the MD engine ``model`` ran with."""
    parts = [
        f"{k} {env[k]}"
        for k in ("python", "torch", "graph-pes", "ase", "numpy", "scipy", "pytest")
        if env.get(k) is not None
    ]
    if env.get("platform"):
        parts.append(f"{env['platform']} {env.get('machine', '')}".strip())
    if env.get("threads_per_process") is not None:
        parts.append(f"{env['threads_per_process']} thread(s) per process")
    engines = (((env.get("md_engine") or {}).get("models") or {}).get(model or "") or {}).get("engines")
    if engines:
        parts.append("MD engine " + ", ".join(str(e) for e in engines))
    if env.get("note"):
        parts.append(str(env["note"]))
    return ", ".join(parts)


def _entry_for(report: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    for entry in report.get("merged_from") or []:
        if model in (entry.get("models") or []):
            return entry
    return {}


def model_provenance(report: Mapping[str, Any]) -> list[ModelProvenance]:
    """One :class:`ModelProvenance` per model of ``report`` (sorted by name): identity (sha256, spec, kind,
    device, factory), source report file, reference pack, data file, environment."""
    out = []
    models = {m["name"]: m for m in report.get("models") or []}
    for name in sorted(set(models) | set(report.get("results") or {})):
        m = models.get(name, {})
        entry = _entry_for(report, name)
        provenance = entry.get("provenance") or report.get("provenance") or {}
        env = entry.get("environment") or report.get("environment") or {}
        facts: list[tuple[str, str]] = []
        if m.get("sha256"):
            facts.append(("model sha256", str(m["sha256"])))
        for label, key in (("spec", "spec"), ("kind", "kind"), ("device", "device"), ("factory", "factory")):
            if m.get(key):
                facts.append((label, str(m[key])))
        if m.get("factory_kwargs"):
            facts.append(("factory kwargs", str(m["factory_kwargs"])))
        if m.get("probe_fingerprint"):
            facts.append(("probe fingerprint", str(m["probe_fingerprint"])[:16]))
        for warning in m.get("warnings") or []:
            facts.append(("warning", str(warning)))
        if entry.get("file"):
            when = f", started {entry['started_at']}" if entry.get("started_at") else ""
            facts.append(("report", f"{entry['file']}{when}"))
        pack = pack_text(provenance.get("reference_pack") or {})
        facts.append(("reference pack", pack or "not used by this run"))
        data = data_text(provenance.get("data") or {})
        facts.append(("data", data or "not used by this run"))
        for note in (provenance.get("data") or {}).get("notes") or []:
            facts.append(("data note", str(note)))
        env_text = environment_text(env, name)
        if env_text:
            facts.append(("environment", env_text))
        out.append(ModelProvenance(name, facts))
    return out


def threshold_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """``(key, value, unit, direction, origin, source)`` of every threshold the report's verdicts used."""
    from ..results import format_number

    rows = []
    for key, t in sorted((report.get("thresholds") or {}).items()):
        rows.append(
            (
                key,
                format_number(t.get("value")),
                str(t.get("unit", "")),
                str(t.get("direction", "")),
                str(t.get("origin", "")),
                str(t.get("source", "")),
            )
        )
    return rows
