"""The data set of the pack's system (LiPS-25 for the LiPS pack): loading, binary cache, label categories
and train/val/test splits.

What is known about the data set — its name, where it is published, its load-atoms id, the totals of
its paper's Table 1, its label categories and their rules, its split names — is data of the reference
pack (the manifest's ``system.dataset``, :class:`DataSetSpec`), not code of this module; a pack that
declares no data set has no test split (:func:`no_data_set_reason`).

Public API (what the plugin's ``lips_dataset`` fixture calls)::

    from pytest_lips.data import DataUnavailable, load_lips_dataset
    dataset = load_lips_dataset(path, cache_dir, allow_download)   # -> LipsDataset

Source order
------------
1. ``path`` (``--lips-data PATH``): a local extxyz file in the LiPS-25 format (per structure
   ``energy`` [eV] and ``label``, optionally ``virial`` [eV, 3x3] and ``split``; per atom ``forces``
   [eV/Å]).
2. otherwise ``load_atoms.load_dataset("LiPS-25", root=cache_dir / "load-atoms")`` (downloads once
   when ``allow_download`` is true and the network allows; reads load-atoms' own copy without a
   network when it is already there).
3. otherwise :class:`DataUnavailable` (the plugin turns it into SKIPPED) whose message says how to
   get the data.

Binary cache
------------
The first load of a file converts it into ``<cache_dir>/lips-<sha256[:20]>-v<CACHE_VERSION>.npz``
(uncompressed ``.npz`` of concatenated arrays, no pickle): ``numbers``, ``positions``, ``cells``,
``pbc``, ``energies``, ``forces``, ``virials`` (NaN where a structure has none), ``offsets`` (atom
offsets, length S+1), ``labels`` (unicode array), ``file_split`` (int8; -1 where the file has no
split) and ``meta`` (a JSON string: cache version, source sha256, sizes and a sha256 of every
array's bytes).  Later loads read the cache (≥ 20x faster than parsing, see
``benchmarks/data_cache.py``).  A cache whose version, source checksum, shapes or array checksums
do not match is rebuilt with a :class:`CacheRebuiltWarning`; it is never used silently.
The sha256 of the source file is itself memoised by (resolved path, size, mtime_ns, inode, ctime_ns)
so a cached load does not have to hash the whole extxyz again; an in-place edit changes ctime_ns
even when size and mtime are restored, and ``fresh=True`` (``--lips-fresh``) always re-hashes.

Paper check
-----------
When the full data set is loaded (through load-atoms, or a file whose name matches the data set's
``file_name_pattern``), its totals are compared with Table 1 of the paper (``table1_totals``; LiPS-25:
12,525 structures, 531,576 atoms) and with ``table1_category_counts`` where given; a mismatch is a
:class:`DataDriftWarning` and a note in ``LipsDataset.notes`` (copied into the report).

Splits
------
If the file carries a per-structure info key ``split`` (values ``train``/``val``/``test``; the
spellings ``training``, ``validation``, ``valid``, ``testing`` are accepted) on every structure,
that split is used.  Otherwise the split is the 80:10:10 split stratified by label with a fixed
seed (:data:`DEFAULT_SPLIT_SEED`): :func:`stratified_split` is a pure function of the label list
and the seed (labels are sorted, each label's random stream is seeded with ``(seed,
crc32(label))``), so it is identical on every machine, in every xdist worker and independent of
``PYTHONHASHSEED`` and dict order.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LipsDataError, LipsError

#: Version of the binary cache layout; bump to invalidate every existing cache.
CACHE_VERSION = 1
#: Name of the per-structure info key that carries a predefined split.
SPLIT_KEY = "split"
#: Names of the splits, in the order of their integer codes 0, 1, 2.
SPLIT_NAMES: tuple[str, ...] = ("train", "val", "test")
#: Fractions of the stratified split (train, val, test).
SPLIT_FRACTIONS: tuple[float, float, float] = (0.8, 0.1, 0.1)
#: Seed of the stratified split used when the file carries no split.
DEFAULT_SPLIT_SEED = 20250101

_SPLIT_ALIASES = {
    "train": 0,
    "training": 0,
    "val": 1,
    "valid": 1,
    "validation": 1,
    "test": 2,
    "testing": 2,
}


# ------------------------------------------------------------------------------------------------
# The data set's facts: the pack's ``system.dataset`` section
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataSetSpec:
    """What pytest-lips knows about the data set of a material system: the ``system.dataset`` section of
    its reference pack's manifest (docs/PACK_SCHEMA.md). Nothing about a data set is written in code.

    name: the data set's name (messages, load-atoms lookups unless ``load_atoms_id`` says otherwise).
    url: where it is published (the message that says how to get it).
    source: the publication (reported).
    load_atoms_id: its load-atoms id, or "" when load-atoms does not carry it.
    file_name_pattern: a regular expression (case-insensitive); a ``--lips-data`` file whose name matches
        is taken to be the full data set and compared with ``table1_totals`` / ``table1_category_counts``.
    table1_totals: published totals ``{"structures": S, "atoms": N}`` (empty: not checked).
    table1_category_counts: published structures per category (only the categories listed are checked).
    categories: category slugs in display order (metric keys ``test_split.<slug>.*``).
    category_titles: display name of each slug.
    category_rules: ordered ``(slug, regex)``; the first regex that matches the lower-cased label wins.
    default_category: the category of a label no rule matches.
    splits: the split names of the data set (``train``, ``val``, ``test``).
    """

    name: str
    url: str = ""
    source: str = ""
    load_atoms_id: str = ""
    file_name_pattern: str = ""
    table1_totals: dict[str, int] = field(default_factory=dict)
    table1_category_counts: dict[str, int] = field(default_factory=dict)
    categories: tuple[str, ...] = ()
    category_titles: dict[str, str] = field(default_factory=dict)
    category_rules: tuple[tuple[str, str], ...] = ()
    default_category: str = "other"
    splits: tuple[str, ...] = SPLIT_NAMES

    @classmethod
    def from_section(cls, section: Any, where: Any = "manifest") -> DataSetSpec:
        """Parse a ``system.dataset`` mapping; a :class:`LipsDataError` names the key and the fix."""
        if not isinstance(section, dict) or not section.get("name"):
            raise LipsDataError(f"{where}: system.dataset needs a name (see docs/PACK_SCHEMA.md)")

        def counts(key: str) -> dict[str, int]:
            value = section.get(key) or {}
            try:
                return {str(k): int(v) for k, v in dict(value).items()}
            except (TypeError, ValueError):
                raise LipsDataError(f"{where}: system.dataset.{key} must map names to whole numbers") from None

        categories = tuple(str(c) for c in section.get("categories") or ())
        default = str(section.get("default_category") or (categories[-1] if categories else "other"))
        categories = categories or (default,)  # no categories: every structure is in the default one
        if default not in categories:
            raise LipsDataError(f"{where}: system.dataset.default_category {default!r} is not in categories")
        rules: list[tuple[str, str]] = []
        for k, rule in enumerate(section.get("category_rules") or ()):
            try:
                slug, pattern = str(rule["category"]), str(rule["pattern"])
                re.compile(pattern)
            except (KeyError, TypeError, re.error) as exc:
                raise LipsDataError(
                    f"{where}: system.dataset.category_rules[{k}] needs category and a valid regex pattern ({exc})"
                ) from None
            if slug not in categories:
                raise LipsDataError(f"{where}: system.dataset.category_rules[{k}]: {slug!r} is not in categories")
            rules.append((slug, pattern))
        splits = tuple(str(s) for s in section.get("splits") or SPLIT_NAMES)
        unknown = [s for s in splits if s.lower() not in _SPLIT_ALIASES]
        if unknown:
            raise LipsDataError(f"{where}: system.dataset.splits {unknown} are not train, val or test")
        titles = {str(k): str(v) for k, v in dict(section.get("category_titles") or {}).items()}
        pattern = str(section.get("file_name_pattern") or "")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise LipsDataError(f"{where}: system.dataset.file_name_pattern is not a regex ({exc})") from None
        return cls(
            name=str(section["name"]),
            url=str(section.get("url") or ""),
            source=str(section.get("source") or ""),
            load_atoms_id=str(section.get("load_atoms_id") or ""),
            file_name_pattern=pattern,
            table1_totals=counts("table1_totals"),
            table1_category_counts=counts("table1_category_counts"),
            categories=categories,
            category_titles={c: titles.get(c, c) for c in categories},
            category_rules=tuple(rules),
            default_category=default,
            splits=splits,
        )

    def title(self, category: str) -> str:
        """Display name of a category slug."""
        return self.category_titles.get(category, category)

    def label_category(self, label: str) -> str:
        """The category slug of a structure label: the first rule whose regex matches the lower-cased label,
        else :attr:`default_category`."""
        text = str(label).strip().lower()
        for category, pattern in _compiled_rules(self.category_rules):
            if pattern.search(text):
                return category
        return self.default_category

    def is_full_data_set_file(self, path: Path | str) -> bool:
        """Whether a ``--lips-data`` file's name says it holds the full data set (then checked against Table 1)."""
        return bool(self.file_name_pattern) and re.search(self.file_name_pattern, Path(path).name, re.I) is not None


@lru_cache(maxsize=16)
def _compiled_rules(rules: tuple[tuple[str, str], ...]) -> tuple[tuple[str, re.Pattern[str]], ...]:
    return tuple((slug, re.compile(pattern)) for slug, pattern in rules)


def data_set_of(system: Any) -> DataSetSpec | None:
    """The data set a :class:`~pytest_lips.system.PackSystem` declares (``system.dataset``), or None."""
    section = getattr(system, "dataset", None)
    return DataSetSpec.from_section(section, f"system {getattr(system, 'name', '?')}") if section else None


def default_data_set() -> DataSetSpec:
    """The data set of the shipped default pack (LiPS-25)."""
    from .system import default_system

    spec = data_set_of(default_system())
    if spec is None:  # pragma: no cover - the shipped pack declares one
        raise LipsDataError("the shipped default pack declares no data set (system.dataset); reinstall pytest-lips")
    return spec


def no_data_set_reason(pack_name: str) -> str:
    """Why data-set items are SKIPPED on a pack that declares no data set."""
    return (
        f"pack {pack_name} declares no data set (system.dataset in its manifest): the test split and the "
        "data-set part of Task 2 need one (docs/PACK_SCHEMA.md)"
    )


def label_category(label: str, spec: DataSetSpec | None = None) -> str:
    """Map a structure label to its category slug by the data set's ``category_rules`` (default: the shipped
    pack's LiPS-25: ``"Iter1-3"`` → ``"iter1"``, labels mentioning ``dimer`` → ``"dimers"``, hard-sphere/random
    labels → ``"random_hard_spheres"``, AIMD (``aimd``, ``melt``, ``quench``) → ``"aimd"``, crystal labels
    (``crystal…``, ``bulk…`` or a formula such as ``Li3PS4_beta``) → ``"crystalline"``; anything else →
    ``"other"``)."""
    return (spec or default_data_set()).label_category(label)


class DataUnavailable(LipsError):
    """The LiPS-25 data set is not available here (no ``--lips-data``, no network, no load-atoms).

    Not a :class:`LipsDataError`: the plugin turns this one into SKIPPED; a
    :class:`LipsDataError` (broken file) is an error.
    """


class CacheRebuiltWarning(UserWarning):
    """A binary cache was unreadable or inconsistent and has been rebuilt from the source."""


class DataDriftWarning(UserWarning):
    """The loaded LiPS-25 does not match the paper's Table 1 (totals or per-category counts)."""


# ------------------------------------------------------------------------------------------------
# The data set
# ------------------------------------------------------------------------------------------------
@dataclass
class LipsDataset:
    """All LiPS-25 structures as concatenated arrays.

    Attributes (units: Å, eV, eV/Å)
    ----------
    numbers: (N,) atomic numbers of all atoms, concatenated.
    positions: (N, 3) Å.
    cells: (S, 3, 3) Å (rows are cell vectors).
    pbc: (S, 3) bool.
    energies: (S,) total energies, eV.
    forces: (N, 3) eV/Å.
    virials: (S, 3, 3) eV (NaN for structures without a virial); ``stress = -virial / volume``.
    offsets: (S + 1,) atom offsets: structure ``i`` is ``numbers[offsets[i]:offsets[i+1]]``.
    labels: (S,) unicode labels.
    split: (S,) int8 split codes (0 train, 1 val, 2 test).
    split_source: ``"file"`` (info key ``split``) or ``"stratified(seed=…)"``.
    source: where the data came from (path or ``load-atoms:LiPS-25``).
    sha256: checksum of the source (the cache key).
    """

    numbers: np.ndarray
    positions: np.ndarray
    cells: np.ndarray
    pbc: np.ndarray
    energies: np.ndarray
    forces: np.ndarray
    virials: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    split_source: str = ""
    source: str = ""
    sha256: str = ""
    cache_path: Path | None = None
    loaded_from_cache: bool = False
    #: Remarks about the data for the report (e.g. a mismatch with the paper's Table 1).
    notes: list[str] = field(default_factory=list)
    #: The data set's facts (categories, Table 1) from the pack; None: the shipped pack's (LiPS-25).
    spec: DataSetSpec | None = None
    _categories: np.ndarray | None = field(default=None, repr=False)

    # -- sizes ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return int(self.energies.shape[0])

    @property
    def n_atoms(self) -> np.ndarray:
        """(S,) number of atoms per structure."""
        return np.diff(self.offsets)

    @property
    def total_atoms(self) -> int:
        return int(self.offsets[-1])

    # -- splits ----------------------------------------------------------------------------------
    def split_indices(self, name: str) -> np.ndarray:
        """Sorted structure indices of split ``name`` (``train``, ``val`` or ``test``)."""
        code = _SPLIT_ALIASES.get(str(name).lower())
        if code is None:
            raise ValueError(f"unknown split {name!r}; use one of {SPLIT_NAMES}")
        return np.flatnonzero(self.split == code)

    @property
    def train_indices(self) -> np.ndarray:
        return self.split_indices("train")

    @property
    def val_indices(self) -> np.ndarray:
        return self.split_indices("val")

    @property
    def test_indices(self) -> np.ndarray:
        return self.split_indices("test")

    # -- labels and categories --------------------------------------------------------------------
    @property
    def data_set(self) -> DataSetSpec:
        """The data set's facts (:attr:`spec`, or the shipped pack's when none was given)."""
        return self.spec if self.spec is not None else default_data_set()

    @property
    def categories(self) -> np.ndarray:
        """(S,) category slug of every structure (see :meth:`DataSetSpec.label_category`)."""
        if self._categories is None:
            spec = self.data_set
            unique, inverse = np.unique(self.labels, return_inverse=True)
            width = _max_len([*spec.categories, spec.default_category])
            mapped = np.array([spec.label_category(u) for u in unique], dtype=f"<U{width}")
            self._categories = mapped[inverse] if len(unique) else np.array([], dtype="<U1")
        return self._categories

    def label(self, i: int) -> str:
        return str(self.labels[i])

    def category(self, i: int) -> str:
        return str(self.categories[i])

    def category_counts(self, indices: Sequence[int] | np.ndarray | None = None) -> dict[str, int]:
        cats = self.categories if indices is None else self.categories[np.asarray(indices, dtype=int)]
        return {c: int(np.sum(cats == c)) for c in self.data_set.categories if np.any(cats == c)}

    # -- per structure access ---------------------------------------------------------------------
    def atom_slice(self, i: int) -> slice:
        return slice(int(self.offsets[i]), int(self.offsets[i + 1]))

    def has_virial(self, i: int) -> bool:
        return bool(np.all(np.isfinite(self.virials[i])))

    def stress(self, i: int) -> np.ndarray | None:
        """Reference stress of structure ``i`` as a 3x3 array in eV/Å^3 (``-virial / V``), or None."""
        if not self.has_virial(i):
            return None
        volume = abs(float(np.linalg.det(self.cells[i])))
        if volume <= 0:
            return None
        return -self.virials[i] / volume

    def atoms(self, i: int) -> Any:
        """Structure ``i`` as :class:`ase.Atoms` with a SinglePointCalculator (energy, forces, stress).

        ``info`` holds ``label``, ``category``, ``split`` and ``lips_index``.
        """
        from ase import Atoms
        from ase.calculators.singlepoint import SinglePointCalculator

        i = int(i)
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(f"structure index {i} out of range for {len(self)} structures")
        sl = self.atom_slice(i)
        atoms = Atoms(
            numbers=self.numbers[sl],
            positions=self.positions[sl],
            cell=self.cells[i],
            pbc=self.pbc[i],
        )
        atoms.info["label"] = self.label(i)
        atoms.info["category"] = self.category(i)
        atoms.info["split"] = SPLIT_NAMES[int(self.split[i])]
        atoms.info["lips_index"] = i
        results: dict[str, Any] = {"energy": float(self.energies[i]), "forces": self.forces[sl].copy()}
        stress = self.stress(i)
        if stress is not None:
            results["stress"] = stress
        atoms.calc = SinglePointCalculator(atoms, **results)
        return atoms

    def iter_atoms(self, indices: Iterable[int] | None = None) -> Iterator[Any]:
        """Iterate over :class:`ase.Atoms` of ``indices`` (default: all structures)."""
        for i in range(len(self)) if indices is None else indices:
            yield self.atoms(int(i))

    def __iter__(self) -> Iterator[Any]:
        return self.iter_atoms()

    def composition_matrix(
        self, indices: Sequence[int] | np.ndarray | None = None, elements: Sequence[int] | None = None
    ) -> tuple[np.ndarray, tuple[int, ...]]:
        """``(C, elements)``: C[k, e] = number of atoms of element ``elements[e]`` in structure k."""
        idx = np.arange(len(self)) if indices is None else np.asarray(indices, dtype=int)
        if elements is None:
            elements = tuple(int(z) for z in np.unique(self.numbers))
        structure_of_atom = np.repeat(np.arange(len(self)), self.n_atoms)
        counts = np.zeros((len(self), len(elements)))
        for e, z in enumerate(elements):
            counts[:, e] = np.bincount(structure_of_atom[self.numbers == z], minlength=len(self))
        return counts[idx], tuple(int(z) for z in elements)

    def describe(self) -> dict[str, Any]:
        """Short JSON summary for reports."""
        return {
            "source": self.source,
            "sha256": self.sha256,
            "structures": len(self),
            "atoms": self.total_atoms,
            "split_source": self.split_source,
            "split_sizes": {name: int(np.sum(self.split == k)) for k, name in enumerate(SPLIT_NAMES)},
            "categories": self.category_counts(),
            "notes": list(self.notes),
        }


# ------------------------------------------------------------------------------------------------
# Splits
# ------------------------------------------------------------------------------------------------
def stratified_split(
    labels: Sequence[str] | np.ndarray,
    seed: int = DEFAULT_SPLIT_SEED,
    fractions: tuple[float, float, float] = SPLIT_FRACTIONS,
) -> np.ndarray:
    """80:10:10 split stratified by label: an int8 array of codes (0 train, 1 val, 2 test).

    For every label (in sorted order) the structures carrying it (in file order) are permuted
    with ``numpy.random.default_rng([seed, crc32(label)])``; the first ``round(n·f_test)`` go to
    test, the next ``round(n·f_val)`` to val and the rest to train.  Pure function of ``labels``
    and ``seed``: no Python ``hash``, no dict order, no global random state.  Labels with fewer
    than 5 structures therefore go entirely to train.
    """
    labels = np.asarray(labels, dtype=str)
    f_train, f_val, f_test = fractions
    if min(fractions) < 0 or abs(f_train + f_val + f_test - 1.0) > 1e-9:
        raise ValueError(f"split fractions must be non-negative and sum to 1, got {fractions}")
    codes = np.zeros(len(labels), dtype=np.int8)
    if len(labels) == 0:
        return codes
    unique, inverse = np.unique(labels, return_inverse=True)  # sorted, deterministic
    for k, label in enumerate(unique):
        members = np.flatnonzero(inverse == k)
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(str(label).encode("utf-8"))])
        order = members[rng.permutation(len(members))]
        n_test = int(np.floor(len(members) * f_test + 0.5))
        n_val = int(np.floor(len(members) * f_val + 0.5))
        codes[order[:n_test]] = 2
        codes[order[n_test : n_test + n_val]] = 1
    return codes


def _split_from_file(file_split: np.ndarray, source: str) -> np.ndarray | None:
    """The file's split when every structure has one; None when none has; error when some lack it."""
    if file_split.size == 0 or np.all(file_split < 0):
        return None
    missing = np.flatnonzero(file_split < 0)
    if missing.size:
        raise LipsDataError(
            f"{source}: structure {int(missing[0])} has no '{SPLIT_KEY}' info key although other "
            f"structures have one ({missing.size} of {file_split.size} lack it); give every structure "
            f"{SPLIT_KEY}=train|val|test or remove the key from all of them to use the stratified split"
        )
    return file_split.astype(np.int8)


# ------------------------------------------------------------------------------------------------
# Loading
# ------------------------------------------------------------------------------------------------
def load_lips_dataset(
    path: Path | str | None,
    cache_dir: Path | str,
    allow_download: bool = True,
    split_seed: int = DEFAULT_SPLIT_SEED,
    fresh: bool = False,
    spec: DataSetSpec | None = None,
    system: Any = None,
) -> LipsDataset:
    """Load the data set ``spec`` (default: the shipped pack's, LiPS-25) from ``path`` or load-atoms, through
    the binary cache in ``cache_dir``.

    ``fresh=True`` (``--lips-fresh``) re-hashes the file instead of trusting the checksum memo.

    Raises :class:`DataUnavailable` when no source is available and :class:`LipsDataError` for a
    broken file (truncated, missing energies/forces, inconsistent split keys). With ``system`` (a
    :class:`~pytest_lips.system.PackSystem`) the data set is the one it declares, and a system that declares
    none raises :class:`DataUnavailable` with :func:`no_data_set_reason`.
    """
    if spec is None and system is not None:
        spec = data_set_of(system)
        if spec is None:
            raise DataUnavailable(no_data_set_reason(getattr(system, "pack", "") or getattr(system, "name", "?")))
    spec = spec if spec is not None else default_data_set()
    cache_dir = Path(cache_dir)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LipsDataError(
                f"--lips-data: {path} does not exist or is not a file; give the path of the {spec.name} "
                f"extxyz file (e.g. {spec.name.lower()}.extxyz from load-atoms) or leave the option out"
            )
        dataset = _load_file(path, cache_dir, split_seed, fresh=fresh, spec=spec)
        if spec.is_full_data_set_file(path):
            _check_against_paper(dataset)
        return dataset
    dataset = _load_via_load_atoms(cache_dir, allow_download, split_seed, spec)
    _check_against_paper(dataset)
    return dataset


def paper_differences(
    dataset: LipsDataset, totals: dict[str, int] | None = None, category_counts: dict[str, int] | None = None
) -> list[str]:
    """How ``dataset`` differs from its publication's Table 1 (empty list: it matches).

    Compares the number of structures and atoms with ``totals`` (default: the data set's
    ``table1_totals``) and the structures per category with ``category_counts`` (default: its
    ``table1_category_counts``).
    """
    spec = dataset.data_set
    totals = spec.table1_totals if totals is None else totals
    category_counts = spec.table1_category_counts if category_counts is None else category_counts
    found = {"structures": len(dataset), "atoms": dataset.total_atoms}
    out = [
        f"{what}: {found[what]:,} loaded, {expected:,} in the paper's Table 1"
        for what, expected in totals.items()
        if what in found and found[what] != expected
    ]
    counts = dataset.category_counts()
    out += [
        f"{spec.title(cat)} structures: {counts.get(cat, 0):,} loaded, {expected:,} in Table 1"
        for cat, expected in category_counts.items()
        if counts.get(cat, 0) != expected
    ]
    return out


def _check_against_paper(dataset: LipsDataset) -> None:
    differences = paper_differences(dataset)
    if not differences:
        return
    note = (
        f"{dataset.source} is taken to be the full {dataset.data_set.name} but differs from the paper ("
        + "; ".join(differences)
        + "): metrics are not comparable with published numbers"
    )
    dataset.notes.append(note)
    warnings.warn(f"pytest-lips: {note}", DataDriftWarning, stacklevel=3)


def how_to_get(spec: DataSetSpec) -> str:
    """Where the data set lives and how to pass it (from the pack's ``system.dataset``: source, url)."""
    published = f" ({spec.source})" if spec.source else ""
    where = f"is published at {spec.url}: download" if spec.url else "is not shipped with pytest-lips: get"
    text = (
        f"{spec.name}{published} {where} its extxyz file and pass it with --lips-data "
        f"PATH/TO/{spec.name.lower()}.extxyz (or the ini key lips_data) to run the test split and Task 2 on the "
        "data set"
    )
    if spec.load_atoms_id:
        text += (
            f"; a load-atoms version that lists '{spec.load_atoms_id}' also downloads it into the cache dir when "
            "network access is allowed"
        )
    return text


def _distribution_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _load_via_load_atoms(cache_dir: Path, allow_download: bool, split_seed: int, spec: DataSetSpec) -> LipsDataset:
    ident, name, how = spec.load_atoms_id, spec.name, how_to_get(spec)
    if not ident:
        raise DataUnavailable(f"{name} not found: no --lips-data, and load-atoms does not carry it; {how}")
    try:
        import load_atoms
    except ImportError:
        raise DataUnavailable(f"{name} not found: no --lips-data and load-atoms is not installed; {how}") from None
    version = getattr(load_atoms, "__version__", None) or _distribution_version("load-atoms") or "?"
    try:  # load-atoms names an importer module after the id (LiPS-25 -> lips_25)
        importer = importlib.import_module("load_atoms.database.importers." + re.sub(r"[^a-z0-9_]", "_", ident.lower()))
        Importer = importer.Importer
    except (ImportError, AttributeError):
        raise DataUnavailable(
            f"{name} not found: no --lips-data, and load-atoms {version} has no '{ident}' entry; {how}"
        ) from None
    try:
        expected = str(Importer.file_to_download().expected_hash)
    except Exception:  # pragma: no cover - load-atoms internals changed
        expected = "unknown"
    key = f"load-atoms-{ident}-{expected}"
    cache_path = _cache_path(cache_dir, key)
    source = f"load-atoms:{ident}"
    cached = _read_cache(cache_path, key, source)
    if cached is not None:
        return _finish(cached, cache_path, key, source, split_seed, from_cache=True, spec=spec)

    root = cache_dir / "load-atoms"
    have_local = any(root.glob(f"{ident}.*")) and (root / "database-entries" / f"{ident}.yaml").is_file()
    if not allow_download and not have_local:
        raise DataUnavailable(
            f"{name} not found: no --lips-data, downloads are disabled and {root} holds no copy; {how}"
        )
    try:
        dataset = load_atoms.load_dataset(ident, root=root)
        structures = list(dataset)
    except Exception as exc:  # network errors come in many types (requests, urllib3, OSError, ...)
        if type(exc).__name__ == "UnknownDatasetException":  # its catalogue does not list the id (0.3.10)
            raise DataUnavailable(
                f"{name} not found: no --lips-data, and load-atoms {version} has no '{ident}' entry; {how}"
            ) from None
        raise DataUnavailable(
            f"{name} not found: no --lips-data, and load-atoms could not get it ({type(exc).__name__}: {exc}); {how}"
        ) from None
    arrays = _arrays_from_structures(structures, source)
    _write_cache(cache_path, arrays, key, source)
    return _finish(arrays, cache_path, key, source, split_seed, from_cache=False, spec=spec)


def _load_file(
    path: Path, cache_dir: Path, split_seed: int, fresh: bool = False, spec: DataSetSpec | None = None
) -> LipsDataset:
    sha = file_sha256_memo(path, cache_dir, fresh=fresh)
    cache_path = _cache_path(cache_dir, sha)
    source = str(path)
    cached = _read_cache(cache_path, sha, source)
    if cached is not None:
        return _finish(cached, cache_path, sha, source, split_seed, from_cache=True, spec=spec)
    arrays = parse_extxyz(path)
    _write_cache(cache_path, arrays, sha, source)
    return _finish(arrays, cache_path, sha, source, split_seed, from_cache=False, spec=spec)


def _finish(
    arrays: dict[str, np.ndarray],
    cache_path: Path | None,
    sha: str,
    source: str,
    split_seed: int,
    from_cache: bool,
    spec: DataSetSpec | None = None,
) -> LipsDataset:
    split = _split_from_file(arrays["file_split"], source)
    if split is None:
        split = stratified_split(arrays["labels"], split_seed)
        split_source = f"stratified(seed={split_seed})"
    else:
        split_source = "file"
    return LipsDataset(
        numbers=arrays["numbers"],
        positions=arrays["positions"],
        cells=arrays["cells"],
        pbc=arrays["pbc"],
        energies=arrays["energies"],
        forces=arrays["forces"],
        virials=arrays["virials"],
        offsets=arrays["offsets"],
        labels=arrays["labels"],
        split=split,
        split_source=split_source,
        source=source,
        sha256=sha,
        cache_path=cache_path,
        loaded_from_cache=from_cache,
        spec=spec,
    )


# ------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------
_FIX_FILE = (
    "re-download the file (load-atoms: delete its copy under the cache dir's load-atoms/ and load it again) or "
    "regenerate it; every frame needs info 'energy' (eV), 'label' and per-atom 'forces' (eV/Å)"
)


def parse_extxyz(path: Path | str) -> dict[str, np.ndarray]:
    """Parse a LiPS-25-format extxyz into the cache's concatenated arrays (slow path, ASE reader)."""
    import ase.io

    path = Path(path)
    structures: list[Any] = []
    index = 0
    try:
        for atoms in ase.io.iread(str(path), index=":", format="extxyz"):
            structures.append(atoms)
            index += 1
    except Exception as exc:
        raise LipsDataError(
            f"{path}: cannot read frame {index} (0-based; {index} frames read before it): "
            f"{type(exc).__name__}: {exc}. The file is truncated or corrupt; {_FIX_FILE}"
        ) from None
    if not structures:
        raise LipsDataError(f"{path}: no structures in the file; {_FIX_FILE}")
    return _arrays_from_structures(structures, str(path))


def _get_result(atoms: Any, key: str) -> Any:
    if atoms.calc is not None and key in getattr(atoms.calc, "results", {}):
        return atoms.calc.results[key]
    if key in atoms.info:
        return atoms.info[key]
    if key in atoms.arrays:
        return atoms.arrays[key]
    return None


def _arrays_from_structures(structures: Sequence[Any], source: str) -> dict[str, np.ndarray]:
    n_struct = len(structures)
    n_atoms = np.fromiter((len(a) for a in structures), dtype=np.int64, count=n_struct)
    offsets = np.zeros(n_struct + 1, dtype=np.int64)
    np.cumsum(n_atoms, out=offsets[1:])
    total = int(offsets[-1])
    numbers = np.empty(total, dtype=np.int16)
    positions = np.empty((total, 3), dtype=np.float64)
    forces = np.empty((total, 3), dtype=np.float64)
    cells = np.empty((n_struct, 3, 3), dtype=np.float64)
    pbc = np.empty((n_struct, 3), dtype=bool)
    energies = np.empty(n_struct, dtype=np.float64)
    virials = np.full((n_struct, 3, 3), np.nan, dtype=np.float64)
    file_split = np.full(n_struct, -1, dtype=np.int8)
    labels: list[str] = []
    for i, atoms in enumerate(structures):
        sl = slice(int(offsets[i]), int(offsets[i + 1]))
        numbers[sl] = atoms.numbers
        positions[sl] = atoms.positions
        cells[i] = atoms.cell.array
        pbc[i] = atoms.pbc
        energy = _get_result(atoms, "energy")
        if energy is None:
            raise LipsDataError(f"{source}: frame {i} has no energy (info key 'energy', eV); {_FIX_FILE}")
        energies[i] = float(energy)
        frc = _get_result(atoms, "forces")
        if frc is None:
            raise LipsDataError(f"{source}: frame {i} has no forces (per-atom array 'forces', eV/Å); {_FIX_FILE}")
        frc = np.asarray(frc, dtype=np.float64)
        if frc.shape != (len(atoms), 3):
            raise LipsDataError(
                f"{source}: frame {i} has forces of shape {frc.shape}, expected ({len(atoms)}, 3); {_FIX_FILE}"
            )
        forces[sl] = frc
        virial = atoms.info.get("virial")
        if virial is not None:
            virials[i] = np.asarray(virial, dtype=np.float64).reshape(3, 3)
        else:
            stress = _get_result(atoms, "stress")
            if stress is not None:
                from ase.stress import voigt_6_to_full_3x3_stress

                stress = np.asarray(stress, dtype=np.float64)
                full = voigt_6_to_full_3x3_stress(stress) if stress.shape == (6,) else stress.reshape(3, 3)
                volume = abs(float(np.linalg.det(cells[i])))
                if volume > 0:
                    virials[i] = -full * volume
        labels.append(str(atoms.info.get("label", atoms.info.get("config_type", ""))))
        split_value = atoms.info.get(SPLIT_KEY)
        if split_value is not None:
            code = _SPLIT_ALIASES.get(str(split_value).strip().lower())
            if code is None:
                raise LipsDataError(f"{source}: frame {i} has {SPLIT_KEY}={split_value!r}; use train, val or test")
            file_split[i] = code
    if not np.all(np.isfinite(energies)) or not np.all(np.isfinite(forces)):
        bad = (
            int(np.flatnonzero(~np.isfinite(energies))[0])
            if not np.all(np.isfinite(energies))
            else int(np.searchsorted(offsets, np.flatnonzero(~np.isfinite(forces).all(axis=1))[0], side="right") - 1)
        )
        raise LipsDataError(f"{source}: frame {bad} has non-finite energy or forces; {_FIX_FILE}")
    label_array = np.array(labels, dtype=f"<U{max(1, _max_len(labels))}")
    return {
        "numbers": numbers,
        "positions": positions,
        "cells": cells,
        "pbc": pbc,
        "energies": energies,
        "forces": forces,
        "virials": virials,
        "offsets": offsets,
        "labels": label_array,
        "file_split": file_split,
    }


def _max_len(strings: Iterable[str]) -> int:
    return max((len(s) for s in strings), default=1)


# ------------------------------------------------------------------------------------------------
# Cache
# ------------------------------------------------------------------------------------------------
_ARRAY_KEYS = (
    "numbers",
    "positions",
    "cells",
    "pbc",
    "energies",
    "forces",
    "virials",
    "offsets",
    "labels",
    "file_split",
)


def _cache_path(cache_dir: Path, key: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", key)[:48]
    return Path(cache_dir) / f"lips-{safe}-v{CACHE_VERSION}.npz"


def _array_digest(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).view(np.uint8).reshape(-1)).hexdigest()


def _write_cache(cache_path: Path, arrays: dict[str, np.ndarray], key: str, source: str) -> None:
    """Write the cache atomically (temporary file + rename: safe with concurrent xdist workers)."""
    meta = {
        "cache_version": CACHE_VERSION,
        "key": key,
        "source": source,
        "n_structures": int(arrays["energies"].shape[0]),
        "n_atoms": int(arrays["offsets"][-1]),
        "digests": {k: _array_digest(arrays[k]) for k in _ARRAY_KEYS},
        "dtypes": {k: str(arrays[k].dtype) for k in _ARRAY_KEYS},
    }
    tmp = ""
    try:
        cache_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=cache_path.name + ".", suffix=".tmp", dir=cache_path.parent)
        with os.fdopen(fd, "wb") as handle:
            # numpy's stub types **kwds against its allow_pickle: bool keyword as well
            np.savez(handle, meta=np.array(json.dumps(meta)), **{k: arrays[k] for k in _ARRAY_KEYS})  # type: ignore[arg-type]
        os.replace(tmp, cache_path)
    except OSError as exc:
        warnings.warn(f"pytest-lips could not write the data cache {cache_path}: {exc}", stacklevel=3)
        try:
            if tmp:
                os.unlink(tmp)
        except OSError:
            pass


def _read_cache(cache_path: Path, key: str, source: str) -> dict[str, np.ndarray] | None:
    """Arrays from a valid cache; None when absent; None with a warning when invalid."""
    if not cache_path.is_file():
        return None
    try:
        arrays, problem = _validate_cache(cache_path, key)
    except Exception as exc:  # zip errors, bad JSON, bad pickle-free arrays, ...
        arrays, problem = None, f"unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return arrays
    warnings.warn(
        f"pytest-lips: the data cache {cache_path} for {source} is {problem}; rebuilding it from the source",
        CacheRebuiltWarning,
        stacklevel=4,
    )
    try:
        cache_path.unlink()
    except OSError:
        pass
    return None


def _validate_cache(cache_path: Path, key: str) -> tuple[dict[str, np.ndarray] | None, str | None]:
    with np.load(cache_path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["meta"][()]))
        if meta.get("cache_version") != CACHE_VERSION:
            return None, f"of cache version {meta.get('cache_version')} (expected {CACHE_VERSION})"
        if meta.get("key") != key:
            return None, "for another source file (checksum mismatch)"
        missing = [k for k in _ARRAY_KEYS if k not in npz.files]
        if missing:
            return None, f"missing arrays {missing}"
        arrays = {k: npz[k] for k in _ARRAY_KEYS}
    s, n = int(meta["n_structures"]), int(meta["n_atoms"])
    expected_shapes = {
        "numbers": (n,),
        "positions": (n, 3),
        "forces": (n, 3),
        "cells": (s, 3, 3),
        "pbc": (s, 3),
        "energies": (s,),
        "virials": (s, 3, 3),
        "offsets": (s + 1,),
        "labels": (s,),
        "file_split": (s,),
    }
    for k, shape in expected_shapes.items():
        if arrays[k].shape != shape:
            return None, f"inconsistent (array {k} has shape {arrays[k].shape}, expected {shape})"
    if int(arrays["offsets"][-1]) != n or np.any(np.diff(arrays["offsets"]) < 0):
        return None, "inconsistent (atom offsets)"
    for k in _ARRAY_KEYS:
        if str(arrays[k].dtype) != meta["dtypes"][k] or _array_digest(arrays[k]) != meta["digests"][k]:
            return None, f"corrupt (checksum of array {k} does not match)"
    return arrays, None


def file_sha256(path: Path | str, chunk_size: int = 1 << 20) -> str:
    """sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256_memo(path: Path, cache_dir: Path, fresh: bool = False) -> str:
    """sha256 of ``path``, memoised in ``cache_dir`` under (resolved path, size, mtime_ns, inode, ctime_ns).

    Size and mtime alone are not trusted: an in-place edit that keeps the size and restores the mtime
    still changes ctime_ns (which no user call can set), and replacing the file changes the inode.
    ``fresh=True`` hashes the file whatever the memo says (and refreshes the memo).
    """
    stat = path.stat()
    ident = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_dev}:{stat.st_ino}|{stat.st_ctime_ns}"
    memo = Path(cache_dir) / "sha256-memo" / (hashlib.sha256(ident.encode()).hexdigest()[:32] + ".txt")
    if not fresh:
        try:
            text = memo.read_text(encoding="utf-8").split()
            if len(text) == 2 and text[0] == hashlib.sha256(ident.encode()).hexdigest() and len(text[1]) == 64:
                return text[1]
        except OSError:
            pass
    sha = file_sha256(path)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        tmp = memo.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(f"{hashlib.sha256(ident.encode()).hexdigest()} {sha}\n", encoding="utf-8")
        os.replace(tmp, memo)
    except OSError:
        pass
    return sha


__all__ = [
    "CACHE_VERSION",
    "DEFAULT_SPLIT_SEED",
    "SPLIT_KEY",
    "SPLIT_NAMES",
    "CacheRebuiltWarning",
    "DataDriftWarning",
    "DataSetSpec",
    "DataUnavailable",
    "LipsDataset",
    "data_set_of",
    "default_data_set",
    "file_sha256",
    "how_to_get",
    "label_category",
    "load_lips_dataset",
    "no_data_set_reason",
    "paper_differences",
    "parse_extxyz",
    "stratified_split",
]
