"""The material system of a reference pack: the ``system:`` section of its manifest (schema 2).

Everything the tasks need to know about the chemistry is data of the pack, not code of the plugin::

    system:
      id: lips                          # short slug: names the system in test ids of a non-default pack
      name: Li-P-S (Li2S-P2S5)          # shown in the summary and the reports
      elements: [Li, P, S]              # a model must know each one (else a one-line usage error)
      mobile_ion: {element: Li, charge: 1}   # Task 3: MSD selection and Nernst-Einstein charge
      end_members: [Li2S, P2S5]         # Task 1: formation energies relative to these (composition balance)
      task2: {structure: Li7P3S11, composition: Li7P3S11}   # the data-set part searches multiples of it
      task3:
        structure: Li7P3S11
        sigma298_band_mS_cm: [17.0, 61.0]    # or null
        sigma298_gated: true                 # false: sigma298 reported, not gated, with sigma298_reason
        sigma298_reason: ""
        sigma298_sources: {min: "...", max: "..."}
      task4: {composition: Li7P3S11, density_g_cm3: 1.88}
      thresholds:                       # the pack's defaults, between thresholds.yaml and the user's layers
        task1.ef_rmse_relaxed: {value: 10.0, unit: meV/atom, direction: max, source: "..."}
      dataset: {name: ..., categories: [...], ...}   # the system's data set (test split); absent: none

A manifest of ``schema_version: 1`` has no ``system`` section: its chemistry is that of the shipped
default pack (the LiPS pack), and :attr:`PackSystem.note` says so.  See docs/PACK_SCHEMA.md.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from .errors import LipsDataError, LipsUsageError

MANIFEST = "manifest.yaml"
THRESHOLD_DIRECTIONS = ("max", "min", "setting")


def formula_counts(formula: str, where: Any = "manifest") -> dict[str, int]:
    """Atoms per element of a chemical formula (``"Li7P3S11"`` → ``{"Li": 7, "P": 3, "S": 11}``)."""
    from ase.data import chemical_symbols
    from ase.formula import Formula

    try:
        counts = {str(k): int(v) for k, v in Formula(str(formula)).count().items() if v}
    except (ValueError, TypeError) as exc:
        raise LipsDataError(f"{where}: {formula!r} is not a chemical formula ({exc})") from None
    unknown = [k for k in counts if k not in chemical_symbols[1:]]
    if not counts or unknown:
        raise LipsDataError(f"{where}: {formula!r} is not a chemical formula (unknown element(s) {unknown})")
    return counts


@dataclass(frozen=True)
class PackSystem:
    """The chemistry of a reference pack (see the module docstring; units in the field names)."""

    id: str
    name: str
    elements: tuple[str, ...]
    mobile_ion: str
    mobile_ion_charge: int
    end_members: tuple[str, ...]
    task2_structure: str = ""
    task2_composition: dict[str, int] | None = None
    task3_structure: str = ""
    sigma298_band_mS_cm: tuple[float, float] | None = None
    sigma298_gated: bool = True
    sigma298_reason: str = ""
    sigma298_sources: dict[str, str] = field(default_factory=dict)
    task4_composition: dict[str, int] | None = None
    task4_density_g_cm3: float | None = None
    #: The pack's default thresholds ``{key: {value, unit, direction, source, ...}}``.
    thresholds: dict[str, dict[str, Any]] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    #: Non-empty when the chemistry was inferred (a schema-1 pack).
    note: str = ""
    #: The ``name`` of the pack whose manifest declares this system ("" when parsed from a bare section).
    pack: str = ""

    def end_member_counts(self) -> dict[str, dict[str, int]]:
        """Atoms per element of one formula unit of each end member."""
        return {f: formula_counts(f, "system.end_members") for f in self.end_members}

    def describe(self) -> dict[str, Any]:
        """JSON form for reports."""
        return {
            "id": self.id,
            "name": self.name,
            "elements": list(self.elements),
            "mobile_ion": {"element": self.mobile_ion, "charge": self.mobile_ion_charge},
            "end_members": list(self.end_members),
            **({"note": self.note} if self.note else {}),
        }


def _mapping(value: Any, what: str, where: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LipsDataError(f"{where}: {what} must be a mapping, got {type(value).__name__}")
    return value


def _composition(value: Any, what: str, where: Any, elements: tuple[str, ...]) -> dict[str, int] | None:
    if value in (None, ""):
        return None
    counts = formula_counts(str(value), f"{where}: {what}")
    outside = sorted(set(counts) - set(elements))
    if outside:
        raise LipsDataError(f"{where}: {what} {value} contains {outside}, which are not in system.elements {elements}")
    return counts


def parse_system_section(section: Any, where: Any, note: str = "") -> PackSystem:
    """Validate a ``system:`` mapping; a :class:`~pytest_lips.errors.LipsDataError` names the key and the fix."""
    from ase.data import chemical_symbols

    sec = _mapping(section, "system", where)
    missing = [k for k in ("name", "elements", "mobile_ion", "end_members") if k not in sec]
    if missing:
        raise LipsDataError(
            f"{where}: system needs {', '.join(missing)} (see docs/PACK_SCHEMA.md for the system section)"
        )
    elements = tuple(str(e) for e in sec["elements"] or ())
    bad = [e for e in elements if e not in chemical_symbols[1:]]
    if not elements or bad or len(set(elements)) != len(elements):
        raise LipsDataError(f"{where}: system.elements {list(elements)} must list distinct chemical symbols")
    ion = _mapping(sec["mobile_ion"], "system.mobile_ion", where)
    if str(ion.get("element")) not in elements:
        raise LipsDataError(f"{where}: system.mobile_ion.element {ion.get('element')!r} is not in system.elements")
    try:
        charge = int(ion.get("charge", 1))
        assert charge != 0 and charge == float(ion.get("charge", 1))
    except (TypeError, ValueError, AssertionError):
        raise LipsDataError(
            f"{where}: system.mobile_ion.charge must be a non-zero integer, got {ion.get('charge')!r}"
        ) from None
    end_members = tuple(str(f) for f in sec["end_members"] or ())
    if not end_members:
        raise LipsDataError(f"{where}: system.end_members must list at least one formula")
    for f in end_members:
        _composition(f, "system.end_members entry", where, elements)
    t2 = _mapping(sec.get("task2"), "system.task2", where)
    t3 = _mapping(sec.get("task3"), "system.task3", where)
    t4 = _mapping(sec.get("task4"), "system.task4", where)
    band_raw = t3.get("sigma298_band_mS_cm")
    band: tuple[float, float] | None = None
    if band_raw is not None:
        try:
            lo, hi = (float(v) for v in band_raw)
            assert math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi
        except (TypeError, ValueError, AssertionError):
            raise LipsDataError(
                f"{where}: system.task3.sigma298_band_mS_cm must be [low, high] in mS/cm or null, got {band_raw!r}"
            ) from None
        band = (lo, hi)
    gated = bool(t3.get("sigma298_gated", band is not None))
    reason = str(t3.get("sigma298_reason") or "")
    if band is None and gated:
        raise LipsDataError(f"{where}: system.task3.sigma298_gated is true but sigma298_band_mS_cm is null")
    if not gated and not reason:
        if "sigma298_gated" in t3:
            raise LipsDataError(f"{where}: system.task3.sigma298_gated is false: give sigma298_reason (why not gated)")
        reason = "reported, not gated: the reference pack's system gives no sigma298 band (system.task3)"
    density = t4.get("density_g_cm3")
    if density is not None:
        try:
            density = float(density)
            assert math.isfinite(density) and density > 0
        except (TypeError, ValueError, AssertionError):
            raise LipsDataError(f"{where}: system.task4.density_g_cm3 must be > 0 g/cm³, got {density!r}") from None
    thresholds = {str(k): dict(_mapping(v, f"system.thresholds.{k}", where)) for k, v in
                  _mapping(sec.get("thresholds"), "system.thresholds", where).items()}  # fmt: skip
    for key, entry in thresholds.items():
        try:
            value = float(entry["value"])
            assert math.isfinite(value)
            if "direction" in entry:
                assert entry["direction"] in THRESHOLD_DIRECTIONS
        except (KeyError, TypeError, ValueError, AssertionError):
            raise LipsDataError(
                f"{where}: system.thresholds.{key} needs a finite value (and direction max, min or setting)"
            ) from None
    sources = t3.get("sigma298_sources") or {}
    return PackSystem(
        id=str(sec.get("id") or sec["name"]),
        name=str(sec["name"]),
        elements=elements,
        mobile_ion=str(ion["element"]),
        mobile_ion_charge=charge,
        end_members=end_members,
        task2_structure=str(t2.get("structure") or ""),
        task2_composition=_composition(t2.get("composition"), "system.task2.composition", where, elements),
        task3_structure=str(t3.get("structure") or ""),
        sigma298_band_mS_cm=band,
        sigma298_gated=gated,
        sigma298_reason=reason,
        sigma298_sources={str(k): str(v) for k, v in _mapping(sources, "sigma298_sources", where).items()},
        task4_composition=_composition(t4.get("composition"), "system.task4.composition", where, elements),
        task4_density_g_cm3=density,
        thresholds=thresholds,
        dataset=dict(_mapping(sec.get("dataset"), "system.dataset", where)),
        note=note,
    )


def parse_system(raw: dict[str, Any], where: Any) -> PackSystem:
    """The system of a parsed manifest: its ``system:`` section (schema 2) or, for schema 1, the default's."""
    if raw.get("schema_version") == 1 or "system" not in raw:
        if raw.get("schema_version", 1) != 1:
            raise LipsDataError(
                f"{where}: schema_version {raw.get('schema_version')} needs a system section (elements, mobile ion, "
                "end members; see docs/PACK_SCHEMA.md)"
            )
        base = default_system()
        note = (
            f"schema_version 1 pack: no system section, so its chemistry is inferred as that of the shipped "
            f"{base.name} pack (elements {', '.join(base.elements)}; end members {', '.join(base.end_members)}); "
            "re-generate the pack with a system section to state it"
        )
        return PackSystem(**{**base.__dict__, "note": note, "pack": str(raw.get("name") or "")})
    return dataclasses.replace(parse_system_section(raw["system"], where), pack=str(raw.get("name") or ""))


def system_of_manifest(raw: dict[str, Any], where: Any = "manifest") -> PackSystem:
    """:func:`parse_system` with ``where`` defaulted (for dataclass defaults)."""
    return parse_system(raw, where)


# ---------------------------------------------------------------------------------------------
# shipped packs and cheap reading


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LipsDataError(f"{path}: cannot read the manifest ({exc})") from None
    if not isinstance(raw, dict):
        raise LipsDataError(f"{path}: not a mapping")
    return raw


@lru_cache(maxsize=1)
def default_system() -> PackSystem:
    """The system of the shipped default pack (the LiPS pack)."""
    from .resources import default_pack_dir

    path = default_pack_dir() / MANIFEST
    raw = _read_yaml(path)
    if "system" not in raw:
        raise LipsDataError(f"{path}: the shipped default pack has no system section; reinstall pytest-lips")
    return dataclasses.replace(parse_system_section(raw["system"], path), pack=str(raw.get("name") or ""))


@lru_cache(maxsize=32)
def _pack_system_cached(manifest: Path, mtime_ns: int) -> PackSystem:
    return parse_system(_read_yaml(manifest), manifest)


def read_pack_system(pack_dir: Path | str | None = None) -> PackSystem:
    """The system of the pack in ``pack_dir`` (default: the shipped one) from its manifest alone.

    Cheap (no checksums): meant for start-up (thresholds, the elements a model must know, test ids).
    """
    from .resources import default_pack_dir

    manifest = (Path(pack_dir) if pack_dir is not None else default_pack_dir()) / MANIFEST
    try:
        mtime = manifest.stat().st_mtime_ns
    except OSError:
        raise LipsDataError(f"{manifest}: no such manifest") from None
    return _pack_system_cached(manifest, mtime)


def shipped_packs() -> dict[str, Path]:
    """Packs installed with pytest-lips, by their manifest ``name`` (directories ``reference_data/pack*``)."""
    from .resources import reference_data_dir

    out: dict[str, Path] = {}
    for d in sorted(reference_data_dir().glob("pack*")):
        manifest = d / MANIFEST
        if manifest.is_file():
            try:
                out[str(_read_yaml(manifest).get("name"))] = d
            except LipsDataError:
                continue
    return out


def resolve_pack(value: str | Path) -> Path:
    """``--lips-reference`` value → pack directory: a directory holding a manifest, or a shipped pack's name."""
    path = Path(str(value)).expanduser()
    if (path / MANIFEST).is_file():
        return path
    shipped = shipped_packs()
    if str(value) in shipped:
        return shipped[str(value)]
    if path.is_dir():
        raise LipsUsageError(f"--lips-reference {value}: not a reference pack (no {MANIFEST} in it)")
    raise LipsUsageError(
        f"--lips-reference {value}: neither a pack directory nor the name of a shipped pack; shipped packs: "
        f"{', '.join(sorted(shipped)) or 'none'}"
    )


def is_default_system(system: PackSystem) -> bool:
    """Whether ``system`` is the shipped default's (its test ids then carry no system name)."""
    try:
        return system.id == default_system().id
    except LipsDataError:
        return False


__all__ = [
    "PackSystem",
    "default_system",
    "formula_counts",
    "is_default_system",
    "parse_system",
    "parse_system_section",
    "read_pack_system",
    "resolve_pack",
    "shipped_packs",
]
