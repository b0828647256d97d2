"""Reference packs: DFT labels for Tasks 1–3 (and optionally an open data set) with a manifest.

A pack is a directory holding ``manifest.yaml``::

    schema_version: 2
    name: lips-open-pbesol
    version: "2026.11"
    description: ...
    method: {code: "GPAW 22.8.0", functional: PBEsol, basis: ..., kpoints: ..., scf: ..., setups: ...}
    units: {energy: eV, forces: eV/Å, stress: eV/Å^3, positions: Å}
    system: {...}               # the chemistry: see pytest_lips.system and docs/PACK_SCHEMA.md
    files:
      - {path: task1/Li2S.extxyz, sha256: ..., description: ..., provenance: ..., method: {...}}
    task1:
      end_members: {Li2S: Li2S, P2S5: P2S5}
      structures:
        - {name: Li2S, formula: Li2S, role: end_member, extrapolation: false,
           status: ok, reason: "", file: task1/Li2S.extxyz, relaxation_file: task1/relax/Li2S.extxyz}
    task2: {file: task2/li7p3s11_melt_quench.extxyz, status: ok, reason: ""}
    task3: {structure: task3/Li7P3S11.extxyz, status: ok, reason: ""}
    data: {file: data/lips_open.extxyz, status: ok}

Further keys of a task1 entry (the LiPS pack's ``x_Li2S``) are optional and informative (kept in
:attr:`Task1Entry.properties` and the report's details): formation energies come
from the composition of each structure and the end members named in ``system.end_members``
(:func:`pytest_lips.analysis.formation.composition_balance`).  A ``schema_version: 1`` pack (no
``system`` section) still loads; its chemistry is that of the shipped LiPS pack, and
``pack.system.note`` says so.

Statuses: ``ok`` | ``missing`` | ``pending``.  :func:`load_reference_pack` validates the manifest
(schema version, required keys, the sha256 of every listed file, every file an ``ok`` entry refers
to is listed) and raises :class:`~pytest_lips.errors.LipsDataError` naming the file and the fix; a
directory without ``manifest.yaml`` raises :class:`~pytest_lips.data.DataUnavailable` (the pack has
not been generated yet: the plugin skips).  :func:`write_manifest` writes a manifest with fresh
checksums (for tests and for the pack generator).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .data import DataUnavailable, file_sha256
from .errors import LipsDataError
from .system import PackSystem, parse_system, resolve_pack, system_of_manifest

SCHEMA_VERSION = 2
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.yaml"
STATUSES = ("ok", "missing", "pending")
REQUIRED_KEYS = ("schema_version", "name", "version", "method", "units", "files")
TASK2_REGIMES = ("crystal", "liquid", "amorphous")
_TASK1_KEYS = frozenset({"name", "formula", "role", "extrapolation", "status", "reason", "file", "relaxation_file"})

_REGENERATE = (
    "re-generate the pack (reference_data/build) or, if you changed a file on purpose, refresh the "
    "checksums with: python -m pytest_lips pack refresh PACK_DIR"
)


@dataclass(frozen=True)
class PackFile:
    """One file listed under ``files:``."""

    path: str
    sha256: str
    description: str = ""
    provenance: str = ""
    method: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task1Entry:
    """One crystal of Task 1.  ``path``/``relaxation_path`` are absolute (None when absent)."""

    name: str
    formula: str
    role: str = "crystal"
    extrapolation: bool = False
    status: str = "ok"
    reason: str = ""
    file: str | None = None
    relaxation_file: str | None = None
    path: Path | None = None
    relaxation_path: Path | None = None
    #: Further keys of the manifest entry (e.g. a LiPS entry's Li2S fraction), copied into the report's details.
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def available(self) -> bool:
        return self.status == "ok" and self.path is not None

    @property
    def is_end_member(self) -> bool:
        return self.role == "end_member"

    def atoms(self) -> Any:
        """The DFT-relaxed structure (last frame of ``file``) with its DFT energy/forces/stress."""
        if not self.available:
            raise LipsDataError(f"task1 structure {self.name} is {self.status} in the pack: {self.reason}")
        return read_frames(self.path)[-1]  # type: ignore[arg-type]

    def relaxation_start(self) -> Any:
        """First frame of ``relaxation_file`` (the DFT relaxation's start), else :meth:`atoms`."""
        if self.relaxation_path is not None and self.relaxation_path.is_file():
            return read_frames(self.relaxation_path)[0]
        return self.atoms()


@dataclass(frozen=True)
class PackItem:
    """A single-file section (``task2``, ``task3``, ``data``)."""

    file: str | None
    status: str = "ok"
    reason: str = ""
    path: Path | None = None

    @property
    def available(self) -> bool:
        return self.status == "ok" and self.path is not None


@dataclass
class ReferencePack:
    """A validated reference pack (see module docstring)."""

    root: Path
    manifest: dict[str, Any]
    files: dict[str, PackFile]
    task1: list[Task1Entry]
    end_members: dict[str, str]
    #: Single-file task sections by task name (``task2``, ``task3``: the tasks whose
    #: :attr:`~pytest_lips.tasks.registry.TaskSpec.pack_item` names the section's file key); absent ones left out.
    items: dict[str, PackItem]
    data: PackItem | None
    #: The chemistry (``system:`` section; inferred for a schema-1 pack, see :attr:`PackSystem.note`).
    system: PackSystem = field(default_factory=lambda: system_of_manifest({}))

    def item(self, task: str) -> PackItem | None:
        """The pack's single-file section of ``task``, or ``None`` when the manifest has none."""
        return self.items.get(task)

    def _item_slots(self) -> list[tuple[str, PackItem | None]]:
        """``(task, item or None)`` for every task that reads a single-file section, in task order."""
        from .tasks.registry import iter_tasks

        return [(spec.name, self.items.get(spec.name)) for spec in iter_tasks() if spec.pack_item]

    @property
    def task2(self) -> PackItem | None:
        return self.item("task2")

    @property
    def task3(self) -> PackItem | None:
        return self.item("task3")

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def method(self) -> dict[str, Any]:
        return dict(self.manifest.get("method") or {})

    @property
    def units(self) -> dict[str, Any]:
        return dict(self.manifest.get("units") or {})

    @property
    def key(self) -> str:
        """``name@version`` (used in cache keys)."""
        return f"{self.name}@{self.version}"

    def method_for(self, relpath: str) -> dict[str, Any]:
        """The pack's method with the file's ``method`` override applied."""
        merged = self.method
        entry = self.files.get(relpath)
        if entry is not None:
            merged.update(entry.method)
        return merged

    # -- Task 1 -----------------------------------------------------------------------------------
    def task1_entries(self, include_unavailable: bool = True) -> list[Task1Entry]:
        return [e for e in self.task1 if include_unavailable or e.available]

    def task1_entry(self, name: str) -> Task1Entry:
        for entry in self.task1:
            if entry.name == name:
                return entry
        raise KeyError(f"pack {self.key} has no task1 structure {name!r}; it has {[e.name for e in self.task1]}")

    def task1_end_member(self, which: str) -> Task1Entry:
        """Entry of end member ``which`` (a formula of ``system.end_members``)."""
        return self.task1_entry(self.end_members[which])

    # -- Task 2 -----------------------------------------------------------------------------------
    def task2_frames(self) -> list[Any]:
        """Melt-quench snapshots (ase.Atoms with energy/forces/stress; info time_ps, temperature_K, regime)."""
        if self.task2 is None or not self.task2.available:
            reason = (
                "the pack has no task2 section" if self.task2 is None else f"{self.task2.status}: {self.task2.reason}"
            )
            raise DataUnavailable(f"pack {self.key}: Task 2 data unavailable ({reason})")
        frames = read_frames(self.task2.path)  # type: ignore[arg-type]
        for i, atoms in enumerate(frames):
            regime = str(atoms.info.get("regime", ""))
            if regime not in TASK2_REGIMES:
                raise LipsDataError(
                    f"{self.task2.path}: frame {i} has regime={regime!r}; each frame needs info "
                    f"regime in {TASK2_REGIMES}; {_REGENERATE}"
                )
        return frames

    # -- Task 3 and data ---------------------------------------------------------------------------
    def task3_structure(self) -> Any:
        """The Task 3 cell; ``info["mobile_ion"]`` and ``info["mobile_ion_charge"]`` name the pack's mobile ion.

        A pending or missing cell raises :class:`~pytest_lips.data.DataUnavailable` (the item is SKIPPED
        with the pack's reason)."""
        if self.task3 is None or not self.task3.available:
            reason = (
                "the pack has no task3 section" if self.task3 is None else f"{self.task3.status}: {self.task3.reason}"
            )
            raise DataUnavailable(f"pack {self.key}: Task 3 structure unavailable ({reason})")
        atoms = read_frames(self.task3.path)[-1]  # type: ignore[arg-type]
        atoms.info["mobile_ion"] = self.system.mobile_ion
        atoms.info["mobile_ion_charge"] = self.system.mobile_ion_charge
        return atoms

    def data_file(self) -> Path | None:
        """Path of the pack's open data set (LiPS-25 extxyz format), or None."""
        return self.data.path if self.data is not None and self.data.available else None

    def describe(self) -> dict[str, Any]:
        return {
            "root": str(self.root),
            "name": self.name,
            "version": self.version,
            "system": self.system.name,
            "method": self.method,
            "task1": {e.name: e.status for e in self.task1},
            **{task: (None if item is None else item.status) for task, item in self._item_slots()},
            "data": None if self.data is None else self.data.status,
        }


# ------------------------------------------------------------------------------------------------
def read_frames(path: Path) -> list[Any]:
    """All frames of an extxyz file as ase.Atoms; a broken file is a LipsDataError."""
    import ase.io

    from .quiet import quiet_library_warnings

    frames: list[Any] = []
    try:
        with quiet_library_warnings():  # ASE's ndarray.shape under NumPy 2.5
            for atoms in ase.io.iread(str(path), index=":", format="extxyz"):
                frames.append(atoms)
    except Exception as exc:
        raise LipsDataError(
            f"{path}: cannot read frame {len(frames)}: {type(exc).__name__}: {exc}; {_REGENERATE}"
        ) from None
    if not frames:
        raise LipsDataError(f"{path}: holds no structures; {_REGENERATE}")
    return frames


def confined_path(root: Path, rel: str, what: str, where: Path | str) -> Path:
    """``root / rel`` when it stays inside the pack directory ``root``; else a :class:`LipsDataError`.

    Manifest paths are relative to the pack: an absolute path, or one that leaves the pack through
    ``..`` or a symbolic link, is refused (a manifest must not make the plugin read files elsewhere).
    """
    if Path(rel).is_absolute() or str(rel).startswith("~"):
        raise LipsDataError(
            f"{where}: {what} has the absolute path {rel!r}; manifest paths must be relative to the pack "
            f"directory {root}"
        )
    path = root / rel
    try:
        inside = path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        inside = False
    if not inside:
        raise LipsDataError(
            f"{where}: {what} path {rel!r} resolves to {path.resolve()}, outside the pack directory {root} "
            "(through '..' or a symbolic link); copy the file into the pack and list it by its relative path"
        )
    return path


def _read_manifest(root: Path) -> dict[str, Any]:
    manifest_path = root / MANIFEST_NAME
    if not root.is_dir():
        raise LipsDataError(
            f"--lips-reference: {root} is not a directory; give the directory that holds {MANIFEST_NAME}"
        )
    if not manifest_path.is_file():
        raise DataUnavailable(
            f"reference pack {root} has no {MANIFEST_NAME} (not generated yet?); generate it "
            f"(reference_data/build) or point --lips-reference at a complete pack"
        )
    try:
        raw = yaml.safe_load(manifest_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise LipsDataError(f"{manifest_path}: cannot read the manifest ({exc}); {_REGENERATE}") from None
    if not isinstance(raw, dict):
        raise LipsDataError(f"{manifest_path}: not a mapping; {_REGENERATE}")
    return raw


def task1_structure_names(pack_dir: Path | str | None = None) -> list[str]:
    """Names of the Task 1 structures listed in a pack's manifest, without checking checksums.

    Cheap: meant for collection time (``pytest_generate_tests``).  Returns ``[]`` when the pack or
    its manifest is missing or unreadable (the test items then report the problem).
    """
    from .resources import default_pack_dir

    root = Path(pack_dir) if pack_dir is not None else default_pack_dir()
    try:
        raw = _read_manifest(root)
    except Exception:
        return []
    structures = ((raw.get("task1") or {}).get("structures")) or []
    return [str(s["name"]) for s in structures if isinstance(s, dict) and "name" in s]


def load_reference_pack(pack_dir: Path | str | None = None, verify_checksums: bool = True) -> ReferencePack:
    """Load and validate the pack in ``pack_dir`` (default: the shipped pack)."""
    from .resources import default_pack_dir

    root = Path(pack_dir) if pack_dir is not None else default_pack_dir()
    raw = _read_manifest(root)
    where = root / MANIFEST_NAME
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        raise LipsDataError(f"{where}: missing required keys {missing}; {_REGENERATE}")
    if raw["schema_version"] not in SUPPORTED_SCHEMA_VERSIONS:
        raise LipsDataError(
            f"{where}: schema_version {raw['schema_version']!r} is not supported (this pytest-lips reads "
            f"schema_version {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))}); upgrade pytest-lips or re-generate "
            "the pack"
        )
    system = parse_system(raw, where)
    files: dict[str, PackFile] = {}
    for k, spec in enumerate(raw.get("files") or []):
        if not isinstance(spec, dict) or "path" not in spec or "sha256" not in spec:
            raise LipsDataError(f"{where}: files[{k}] needs 'path' and 'sha256'; {_REGENERATE}")
        entry = PackFile(
            path=str(spec["path"]),
            sha256=str(spec["sha256"]),
            description=str(spec.get("description", "")),
            provenance=str(spec.get("provenance", "")),
            method=dict(spec.get("method") or {}),
        )
        file_path = confined_path(root, entry.path, f"files[{k}]", where)
        if not file_path.is_file():
            raise LipsDataError(f"{where}: listed file {file_path} does not exist; {_REGENERATE}")
        if verify_checksums:
            actual = file_sha256(file_path)
            if actual != entry.sha256:
                raise LipsDataError(
                    f"reference pack file {file_path} has sha256 {actual}, but {where} lists {entry.sha256}: "
                    f"the file was modified or truncated; {_REGENERATE}"
                )
        files[entry.path] = entry

    def resolve(rel: Any, what: str, status: str) -> Path | None:
        if rel in (None, ""):
            if status == "ok":
                raise LipsDataError(f"{where}: {what} has status ok but no file; {_REGENERATE}")
            return None
        rel = str(rel)
        if status != "ok":
            return None
        if rel not in files:
            raise LipsDataError(
                f"{where}: {what} refers to {rel}, which is not listed under files: with its sha256; {_REGENERATE}"
            )
        return confined_path(root, rel, what, where)

    def status_of(section: dict[str, Any], what: str) -> str:
        status = str(section.get("status", "ok"))
        if status not in STATUSES:
            raise LipsDataError(f"{where}: {what} has status {status!r}; use one of {STATUSES}")
        return status

    # task1
    task1_raw = raw.get("task1") or {}
    task1: list[Task1Entry] = []
    seen: set[str] = set()
    for k, s in enumerate(task1_raw.get("structures") or []):
        what = f"task1.structures[{k}]"
        if not isinstance(s, dict) or not {"name", "formula"} <= set(s):
            raise LipsDataError(f"{where}: {what} needs name and formula; {_REGENERATE}")
        name = str(s["name"])
        if name in seen:
            raise LipsDataError(f"{where}: task1 structure name {name!r} appears twice")
        seen.add(name)
        status = status_of(s, f"task1 structure {name}")
        path = resolve(s.get("file"), f"task1 structure {name}", status)
        relax_rel = s.get("relaxation_file")
        relax_path = resolve(relax_rel, f"task1 structure {name} relaxation_file", status) if relax_rel else None
        task1.append(
            Task1Entry(
                name=name,
                formula=str(s["formula"]),
                role=str(s.get("role", "crystal")),
                extrapolation=bool(s.get("extrapolation", False)),
                status=status,
                reason=str(s.get("reason", "") or ""),
                file=None if s.get("file") is None else str(s["file"]),
                relaxation_file=None if relax_rel is None else str(relax_rel),
                path=path,
                relaxation_path=relax_path,
                properties={str(k): v for k, v in s.items() if k not in _TASK1_KEYS},
            )
        )
    end_members = {str(k): str(v) for k, v in (task1_raw.get("end_members") or {}).items()}
    if task1:
        for which in system.end_members:
            if which not in end_members:
                raise LipsDataError(
                    f"{where}: task1.end_members needs {which} (an end member of system.end_members) mapped to a "
                    f"task1 structure; {_REGENERATE}"
                )
            if end_members[which] not in seen:
                raise LipsDataError(
                    f"{where}: task1 end member {which} = {end_members[which]!r} is not among task1.structures"
                )

    def item(section_name: str, file_key: str) -> PackItem | None:
        section = raw.get(section_name)
        if section is None:
            return None
        if not isinstance(section, dict):
            raise LipsDataError(f"{where}: {section_name} must be a mapping")
        status = status_of(section, section_name)
        return PackItem(
            file=None if section.get(file_key) is None else str(section[file_key]),
            status=status,
            reason=str(section.get("reason", "") or ""),
            path=resolve(section.get(file_key), section_name, status),
        )

    from .tasks.registry import iter_tasks

    task_items = {spec.name: item(spec.name, spec.pack_item) for spec in iter_tasks() if spec.pack_item}
    return ReferencePack(
        root=root,
        manifest=raw,
        files=files,
        task1=task1,
        end_members=end_members,
        items={name: found for name, found in task_items.items() if found is not None},
        data=item("data", "file"),
        system=system,
    )


def referenced_files(manifest: dict[str, Any]) -> list[str]:
    """Relative paths that the task sections of ``manifest`` refer to (status ok)."""
    paths: list[str] = []
    for s in ((manifest.get("task1") or {}).get("structures")) or []:
        if str(s.get("status", "ok")) == "ok":
            paths += [str(p) for p in (s.get("file"), s.get("relaxation_file")) if p]
    from .tasks.registry import iter_tasks

    sections = [(spec.name, spec.pack_item) for spec in iter_tasks() if spec.pack_item]
    for section, key in [*sections, ("data", "file")]:
        sec = manifest.get(section) or {}
        if sec.get(key) and str(sec.get("status", "ok")) == "ok":
            paths.append(str(sec[key]))
    return list(dict.fromkeys(paths))


def write_manifest(pack_dir: Path | str, manifest: dict[str, Any], extra_files: Iterable[str] = ()) -> Path:
    """Write ``pack_dir/manifest.yaml`` with fresh sha256 sums.

    Every file listed under ``manifest["files"]``, every file the task sections refer to (status
    ok) and ``extra_files`` get an entry ``{path, sha256, ...}`` (existing descriptions and
    provenance are kept).  ``schema_version`` defaults to :data:`SCHEMA_VERSION` when the manifest has a
    ``system`` section, else to 1 (the chemistry of the shipped LiPS pack).  Returns the path.
    """
    root = Path(pack_dir)
    data = copy.deepcopy(manifest)
    data.setdefault("schema_version", SCHEMA_VERSION if "system" in data else 1)
    entries: dict[str, dict[str, Any]] = {}
    for item in data.get("files") or []:
        entries[str(item["path"])] = dict(item)
    for rel in [*referenced_files(data), *extra_files]:
        entries.setdefault(str(rel), {"path": str(rel)})
    for rel, entry in entries.items():
        path = root / rel
        if not path.is_file():
            raise LipsDataError(f"write_manifest: {path} does not exist")
        entry["sha256"] = file_sha256(path)
    data["files"] = list(entries.values())
    out = root / MANIFEST_NAME
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return out


def refresh_manifest(pack_dir: Path | str) -> list[str]:
    """Recompute the sha256 of every file ``pack_dir/manifest.yaml`` lists or refers to, rewrite the
    manifest (descriptions, provenance and statuses kept) and return the paths whose checksum changed
    (``python -m pytest_lips pack refresh DIR``).  The refreshed pack is loaded once to check it."""
    root = Path(pack_dir)
    raw = _read_manifest(root)
    before = {str(f.get("path")): str(f.get("sha256")) for f in raw.get("files") or [] if isinstance(f, dict)}
    for k, rel in enumerate([*(str(f.get("path")) for f in raw.get("files") or [] if isinstance(f, dict))]):
        confined_path(root, rel, f"files[{k}]", root / MANIFEST_NAME)
    write_manifest(root, raw)
    after = {str(f["path"]): str(f["sha256"]) for f in _read_manifest(root).get("files") or []}
    load_reference_pack(root)
    return sorted(path for path, digest in after.items() if before.get(path) != digest)


__all__ = [
    "MANIFEST_NAME",
    "PackFile",
    "PackItem",
    "PackSystem",
    "ReferencePack",
    "SCHEMA_VERSION",
    "Task1Entry",
    "load_reference_pack",
    "read_frames",
    "refresh_manifest",
    "resolve_pack",
    "task1_structure_names",
    "write_manifest",
]
