"""The LiPS-25 data set: loading, binary cache, label categories and train/val/test splits.

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
When the full LiPS-25 is loaded (through load-atoms, or a file whose name says LiPS-25), its totals
are compared with Table 1 of the paper (:data:`PAPER_TOTALS`: 12,525 structures, 531,576 atoms)
and with :data:`PAPER_CATEGORY_COUNTS` where given; a mismatch is a :class:`DataDriftWarning` and a
note in ``LipsDataset.notes`` (copied into the report).

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
import json
import os
import re
import tempfile
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
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
#: load-atoms id of the data set.
LOAD_ATOMS_ID = "LiPS-25"
#: Totals of LiPS-25 in Table 1 of Fragapane & Deringer, JCTC 2026: structures and atoms.
PAPER_TOTALS: dict[str, int] = {"structures": 12525, "atoms": 531576}
#: Structures per category (slugs of :data:`CATEGORIES`) in Table 1; only the categories listed here
#: are checked.  Left empty: the per-category figures have not been transcribed into this package
#: (fill it, or monkeypatch it, to check them too).
PAPER_CATEGORY_COUNTS: dict[str, int] = {}
#: File names taken to hold the full LiPS-25 (case-insensitive search in the file name).
_FULL_NAME = re.compile(r"lips[-_ ]?25", re.IGNORECASE)

_SPLIT_ALIASES = {
    "train": 0,
    "training": 0,
    "val": 1,
    "valid": 1,
    "validation": 1,
    "test": 2,
    "testing": 2,
}

#: Categories of LiPS-25 structures (slugs used in metric keys) and their display names.
CATEGORIES: tuple[str, ...] = (
    "crystalline",
    "aimd",
    "random_hard_spheres",
    "dimers",
    "iter1",
    "iter2",
    "other",
)
CATEGORY_TITLES: dict[str, str] = {
    "crystalline": "crystalline",
    "aimd": "AIMD",
    "random_hard_spheres": "random hard spheres",
    "dimers": "dimers",
    "iter1": "Iter1",
    "iter2": "Iter2",
    "other": "other",
}

# Ordered rules: the first pattern that matches the (lower-cased) label wins.  Labels of the
# iterative-training rounds look like "Iter1-3" / "Iter2-5" / "iter_2"; the "Iter" rules come first
# so that e.g. "Iter2-dimer" is counted with its round.
_CATEGORY_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("iter1", re.compile(r"^iter[ _-]?0*1(?!\d)")),
    ("iter2", re.compile(r"^iter[ _-]?0*2(?!\d)")),
    ("dimers", re.compile(r"dimer")),
    ("random_hard_spheres", re.compile(r"(hard[ _-]?sphere|^rhs|random[ _-]?(structure|hs)|^random)")),
    ("aimd", re.compile(r"(aimd|ab[ _-]?initio[ _-]?md|^md[ _-]|melt|quench|^amorphous|^liquid)")),
    ("crystalline", re.compile(r"(crystal|cryst|^bulk|^li\d*p\d*s\d+|^li2s|^p2s5|^p4s)")),
)


def label_category(label: str) -> str:
    """Map a LiPS-25 structure label to its category slug (one of :data:`CATEGORIES`).

    ``"Iter1-3"`` → ``"iter1"``, ``"Iter2-5"`` → ``"iter2"``, labels mentioning ``dimer`` →
    ``"dimers"``, hard-sphere/random labels → ``"random_hard_spheres"``, AIMD (``aimd``,
    ``melt``, ``quench``) → ``"aimd"``, crystal labels (``crystal…``, ``bulk…`` or a formula such
    as ``Li3PS4_beta``) → ``"crystalline"``; anything else → ``"other"``.
    """
    text = str(label).strip().lower()
    for category, pattern in _CATEGORY_RULES:
        if pattern.search(text):
            return category
    return "other"


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
    def categories(self) -> np.ndarray:
        """(S,) category slug of every structure (see :func:`label_category`)."""
        if self._categories is None:
            unique, inverse = np.unique(self.labels, return_inverse=True)
            mapped = np.array([label_category(u) for u in unique], dtype=f"<U{_max_len(CATEGORIES)}")
            self._categories = mapped[inverse] if len(unique) else np.array([], dtype="<U1")
        return self._categories

    def label(self, i: int) -> str:
        return str(self.labels[i])

    def category(self, i: int) -> str:
        return str(self.categories[i])

    def category_counts(self, indices: Sequence[int] | np.ndarray | None = None) -> dict[str, int]:
        cats = self.categories if indices is None else self.categories[np.asarray(indices, dtype=int)]
        return {c: int(np.sum(cats == c)) for c in CATEGORIES if np.any(cats == c)}

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
) -> LipsDataset:
    """Load LiPS-25 from ``path`` or load-atoms, through the binary cache in ``cache_dir``.

    ``fresh=True`` (``--lips-fresh``) re-hashes the file instead of trusting the checksum memo.

    Raises :class:`DataUnavailable` when no source is available and :class:`LipsDataError` for a
    broken file (truncated, missing energies/forces, inconsistent split keys).
    """
    cache_dir = Path(cache_dir)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise LipsDataError(
                f"--lips-data: {path} does not exist or is not a file; give the path of the LiPS-25 "
                f"extxyz file (e.g. lips-25.extxyz from load-atoms) or leave the option out"
            )
        dataset = _load_file(path, cache_dir, split_seed, fresh=fresh)
        if _FULL_NAME.search(path.name):
            _check_against_paper(dataset)
        return dataset
    dataset = _load_via_load_atoms(cache_dir, allow_download, split_seed)
    _check_against_paper(dataset)
    return dataset


def paper_differences(
    dataset: LipsDataset, totals: dict[str, int] | None = None, category_counts: dict[str, int] | None = None
) -> list[str]:
    """How ``dataset`` differs from the paper's Table 1 (empty list: it matches).

    Compares the number of structures and atoms with ``totals`` (default :data:`PAPER_TOTALS`) and the
    structures per category with ``category_counts`` (default :data:`PAPER_CATEGORY_COUNTS`).
    """
    totals = PAPER_TOTALS if totals is None else totals
    category_counts = PAPER_CATEGORY_COUNTS if category_counts is None else category_counts
    found = {"structures": len(dataset), "atoms": dataset.total_atoms}
    out = [
        f"{what}: {found[what]:,} loaded, {expected:,} in the paper's Table 1"
        for what, expected in totals.items()
        if what in found and found[what] != expected
    ]
    counts = dataset.category_counts()
    out += [
        f"{CATEGORY_TITLES.get(cat, cat)} structures: {counts.get(cat, 0):,} loaded, {expected:,} in Table 1"
        for cat, expected in category_counts.items()
        if counts.get(cat, 0) != expected
    ]
    return out


def _check_against_paper(dataset: LipsDataset) -> None:
    differences = paper_differences(dataset)
    if not differences:
        return
    note = (
        f"{dataset.source} is taken to be the full LiPS-25 but differs from the paper ("
        + "; ".join(differences)
        + "): metrics are not comparable with published numbers"
    )
    dataset.notes.append(note)
    warnings.warn(f"pytest-lips: {note}", DataDriftWarning, stacklevel=3)


#: Where LiPS-25 lives and how to pass it (the paper's data availability statement).
LIPS25_URL = "https://github.com/nfragapane/lips-25"

_HOW_TO_GET = (
    "LiPS-25 (Fragapane & Deringer, JCTC 2026) is published at "
    f"{LIPS25_URL}: download its extxyz file and pass it with --lips-data PATH/TO/lips-25.extxyz "
    "(or the ini key lips_data) to run the test split and Task 2 on the data set; "
    "a load-atoms version that lists 'LiPS-25' also downloads it into the cache dir when network access is allowed"
)


def _distribution_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _load_via_load_atoms(cache_dir: Path, allow_download: bool, split_seed: int) -> LipsDataset:
    try:
        import load_atoms
    except ImportError:
        raise DataUnavailable(
            f"LiPS-25 not found: no --lips-data and load-atoms is not installed; {_HOW_TO_GET}"
        ) from None
    try:
        from load_atoms.database.importers.lips_25 import Importer
    except ImportError:
        version = getattr(load_atoms, "__version__", None) or _distribution_version("load-atoms") or "?"
        raise DataUnavailable(
            f"LiPS-25 not found: no --lips-data, and load-atoms {version} has no 'LiPS-25' entry; {_HOW_TO_GET}"
        ) from None
    try:
        expected = str(Importer.file_to_download().expected_hash)
    except Exception:  # pragma: no cover - load-atoms internals changed
        expected = "unknown"
    key = f"load-atoms-{LOAD_ATOMS_ID}-{expected}"
    cache_path = _cache_path(cache_dir, key)
    source = f"load-atoms:{LOAD_ATOMS_ID}"
    cached = _read_cache(cache_path, key, source)
    if cached is not None:
        return _finish(cached, cache_path, key, source, split_seed, from_cache=True)

    root = cache_dir / "load-atoms"
    have_local = (
        any(root.glob(f"{LOAD_ATOMS_ID}.*")) and (root / "database-entries" / f"{LOAD_ATOMS_ID}.yaml").is_file()
    )
    if not allow_download and not have_local:
        raise DataUnavailable(
            f"LiPS-25 not found: no --lips-data, downloads are disabled and {root} holds no copy; {_HOW_TO_GET}"
        )
    try:
        dataset = load_atoms.load_dataset(LOAD_ATOMS_ID, root=root)
        structures = list(dataset)
    except Exception as exc:  # network errors come in many types (requests, urllib3, OSError, ...)
        if type(exc).__name__ == "UnknownDatasetException":  # its catalogue does not list LiPS-25 (0.3.10)
            version = getattr(load_atoms, "__version__", None) or _distribution_version("load-atoms") or "?"
            raise DataUnavailable(
                f"LiPS-25 not found: no --lips-data, and load-atoms {version} has no 'LiPS-25' entry; {_HOW_TO_GET}"
            ) from None
        raise DataUnavailable(
            f"LiPS-25 not found: no --lips-data, and load-atoms could not get it ({type(exc).__name__}: {exc}); "
            f"{_HOW_TO_GET}"
        ) from None
    arrays = _arrays_from_structures(structures, source)
    _write_cache(cache_path, arrays, key, source)
    return _finish(arrays, cache_path, key, source, split_seed, from_cache=False)


def _load_file(path: Path, cache_dir: Path, split_seed: int, fresh: bool = False) -> LipsDataset:
    sha = file_sha256_memo(path, cache_dir, fresh=fresh)
    cache_path = _cache_path(cache_dir, sha)
    source = str(path)
    cached = _read_cache(cache_path, sha, source)
    if cached is not None:
        return _finish(cached, cache_path, sha, source, split_seed, from_cache=True)
    arrays = parse_extxyz(path)
    _write_cache(cache_path, arrays, sha, source)
    return _finish(arrays, cache_path, sha, source, split_seed, from_cache=False)


def _finish(
    arrays: dict[str, np.ndarray], cache_path: Path | None, sha: str, source: str, split_seed: int, from_cache: bool
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
    )


# ------------------------------------------------------------------------------------------------
# Parsing
# ------------------------------------------------------------------------------------------------
_FIX_FILE = (
    "re-download the file (load-atoms: delete ~/.load-atoms/LiPS-25.* and load it again) or "
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
    "CATEGORIES",
    "CATEGORY_TITLES",
    "DEFAULT_SPLIT_SEED",
    "PAPER_CATEGORY_COUNTS",
    "PAPER_TOTALS",
    "SPLIT_KEY",
    "SPLIT_NAMES",
    "CacheRebuiltWarning",
    "DataDriftWarning",
    "DataUnavailable",
    "LipsDataset",
    "file_sha256",
    "label_category",
    "load_lips_dataset",
    "paper_differences",
    "parse_extxyz",
    "stratified_split",
]
