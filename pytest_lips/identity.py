"""Result identity: what a cached result depends on, in one place.

Every result pytest-lips caches in its :class:`~pytest_lips.store.RunStore` (an MD run, a relaxation,
a test-split evaluation) is stored under a key built by :func:`result_key`.  The key holds

* the **model identity** (:func:`model_identity`): the sha256 of a model file; for a calculator
  factory ``module:qualname``, the keyword arguments it is called with, the sha256 of its module's
  source and a fingerprint of its energy, forces and stress on a fixed 12-atom Li-P-S probe cell
  (:func:`probe_fingerprint`), so two factories of one module never share results; a model built
  in Python without a checksum only reuses results of its own session;
* the **content checksum of the inputs** (:class:`ResultContext`): the reference pack
  (:func:`pack_checksum`: its manifest's content, which lists the sha256 of every file, verified on
  load), the data file (:func:`data_checksum`: its sha256 and where the split came from) when the
  result uses it, and the task's protocol as canonical JSON (:func:`protocol_checksum`);
* the MD engine (``LipsSession.engine_identity()``), the base seed, the device, the profile, the
  protocol version and the plugin version;
* the **numerical environment** (:func:`numerical_environment`): CPU threads per process (torch's
  multi-threaded reductions add in an order that depends on the thread count, so 1 and 8 threads give
  results that differ in the last bits), the versions of the libraries that compute the numbers
  (torch, numpy, ASE, graph-pes, torch-sim) and the machine architecture;
* the caller's own parts (task, run id, per-run seed, ...).

Nothing here talks to pytest; :meth:`pytest_lips.session.LipsSession.run_key` fills the context.

This is the one module that hashes key material: the caller's parts are built here too
(:func:`key_digest` of a protocol's settings, :func:`md_run_parts` of an MD run, :func:`batch_part` of a
torch-sim batch), and the checkpoint of an engine call is named from its keys (:func:`keys_digest`).
``tests/core/test_identity_keys.py`` fails when another module of ``pytest_lips`` imports ``hashlib``
for anything but file checksums.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Bump to invalidate every cached result (change of the key layout).
IDENTITY_VERSION = 3

#: Libraries whose version changes computed bits (the model's kernels, the integrators, the analysis).
NUMERICAL_LIBRARIES = ("torch", "numpy", "ase", "graph-pes", "torch-sim-atomistic")

#: Decimals kept of the probe energy (eV), forces (eV/Å) and stress (eV/Å³) in the fingerprint:
#: well above the noise of repeated evaluations, far below any difference between two models.
PROBE_DECIMALS = 5

#: Characters of a sha256 kept in keys (80 bits).
DIGEST_CHARS = 20


def canonical_json(obj: Any) -> str:
    """Canonical JSON text (sorted keys, no spaces, NaN as null, tuples as lists, dataclasses as dicts)."""
    return json.dumps(_plain(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _plain(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        obj = obj.to_dict() if hasattr(obj, "to_dict") else dataclasses.asdict(obj)
    if isinstance(obj, Mapping):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in obj]
        return sorted(items, key=repr) if isinstance(obj, (set, frozenset)) else items
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if hasattr(obj, "tolist"):  # numpy
        return _plain(obj.tolist())
    return str(obj)


# ---------------------------------------------------------------------------------------------
# inputs


def protocol_checksum(protocol: Any) -> str:
    """sha256 (shortened) of a protocol dataclass or dict as canonical JSON."""
    return sha256_text(canonical_json(protocol))[:DIGEST_CHARS]


def pack_checksum(pack: Any) -> str:
    """Content checksum of a reference pack (:class:`pytest_lips.reference.ReferencePack`).

    The sha256 of the manifest's content (canonical JSON of the parsed ``manifest.yaml``) together with
    the sha256 of every listed file.  :func:`pytest_lips.reference.load_reference_pack` has verified each
    file against the manifest, so editing any file and refreshing the manifest changes this checksum,
    and editing a file without refreshing it is an error before any key is built.
    """
    files = sorted((str(path), str(getattr(entry, "sha256", entry))) for path, entry in (pack.files or {}).items())
    return sha256_text(canonical_json({"manifest": pack.manifest, "files": files}))


def data_checksum(dataset: Any) -> str:
    """Identity of a loaded LiPS-25 data set: the sha256 of its source and the origin of its split."""
    return f"{dataset.sha256}/{dataset.split_source}"


# ---------------------------------------------------------------------------------------------
# models


def probe_fingerprint(calculator: Any, elements: Any = None) -> str:
    """sha256 (shortened) of energy, forces and stress of ``calculator`` on the fixed probe cell.

    The cell is :func:`pytest_lips.models.probe_structure` of the system's ``elements`` (default: the
    shipped default pack's; for the LiPS pack antifluorite Li2S with one S replaced by P,
    12 atoms).  Values are rounded to :data:`PROBE_DECIMALS` decimals; a calculator without stress
    contributes none.  Raises whatever the calculator raises.
    """
    import numpy as np

    from .models import probe_structure

    atoms = probe_structure(elements)
    atoms.calc = calculator
    energy = float(atoms.get_potential_energy())
    forces = np.asarray(atoms.get_forces(), dtype=float)
    try:
        stress: Any = np.asarray(atoms.get_stress(voigt=True), dtype=float)
    except Exception:  # noqa: BLE001 - calculators without stress raise many types
        stress = None

    def rounded(values: Any) -> Any:
        if values is None:
            return None
        out = np.round(np.asarray(values, dtype=float), PROBE_DECIMALS) + 0.0  # -0.0 -> 0.0
        return [None if not math.isfinite(v) else float(v) for v in out.reshape(-1)]

    data = {"energy_eV": rounded([energy]), "forces_eV_A": rounded(forces), "stress_eV_A3": rounded(stress)}
    return sha256_text(canonical_json(data))[:DIGEST_CHARS]


def model_identity(model: Any, session_id: str = "") -> str:
    """Identity of a :class:`pytest_lips.models.LipsModel` for result keys.

    * graph-pes model file: ``file:<sha256>``;
    * ``module:callable`` factory: ``factory:<module>:<qualname>|kwargs=<json>|src=<sha256 of the module>|
      probe=<fingerprint>`` (the fingerprint is computed once per model object, on a fresh calculator);
    * a model without checksum (built in a conftest.py): ``session:<session_id>:<name>`` plus its probe
      fingerprint when it has a factory: its results are reused within this session only.
    """
    kind = getattr(model, "kind", "")
    sha = getattr(model, "sha256", None)
    target = getattr(model, "factory_target", None)
    if kind == "factory" and target:
        kwargs = canonical_json(getattr(model, "factory_kwargs", None) or {})
        return (
            f"factory:{target}|kwargs={kwargs}|src={(sha or 'none')[:DIGEST_CHARS]}|"
            f"probe={model_probe_fingerprint(model)}"
        )
    if sha:
        return f"file:{sha}"
    ident = f"session:{session_id}:{getattr(model, 'name', '')}"
    if kind == "factory":
        ident += f"|probe={model_probe_fingerprint(model)}"
    return ident


def model_probe_fingerprint(model: Any) -> str:
    """The model's probe fingerprint, computed on a fresh calculator once and kept on the model."""
    cached = getattr(model, "probe_fingerprint", None)
    if cached:
        return str(cached)
    calculator = (
        model.new_calculator(stress=True)
        if getattr(model, "graph_pes_model", None) is not None
        else model.new_calculator()
    )
    fingerprint = probe_fingerprint(calculator, getattr(model, "probe_elements", None))
    try:
        model.probe_fingerprint = fingerprint
    except AttributeError:  # pragma: no cover - frozen objects
        pass
    return fingerprint


# ---------------------------------------------------------------------------------------------
# the caller's parts


def key_digest(data: Any, chars: int = 16) -> str:
    """Short sha256 of ``data`` as ``json.dumps(data, sort_keys=True)`` (the key part of a task's settings).

    Python's default JSON separators, unlike :func:`canonical_json`: this is the digest the Task 1, 3 and
    4 keys have always held, kept so that existing caches stay valid.
    """
    return sha256_text(json.dumps(data, sort_keys=True))[:chars]


def md_run_parts(
    kind: str, protocol_version: str, settings: Any, run_id: str, seed: int, *extra: Any
) -> tuple[str, ...]:
    """Key parts of one MD run (or of its start structure): ``kind`` (``task3-run``, ``task4-start``...),
    the task's protocol version, the :func:`key_digest` of the ``settings`` it depends on, the run id, the
    run's seed, then ``extra`` (a continuation chunk's production, the start structure, the system's
    composition, :func:`batch_part`)."""
    return (kind, str(protocol_version), key_digest(settings), run_id, f"seed{seed}", *map(str, extra))


def batch_part(engine: Any, run_ids: Sequence[str]) -> tuple[str, ...]:
    """Key part naming the runs integrated together, for a batched engine (torch-sim): a system's bits
    depend on the other systems of its batch (measured: the Task 3 smoke runs integrated alone and in
    their batch of two differ in the last bits of the momenta after 60 steps), so a run computed in a
    smaller batch (``-k``) is never reused for a run of another batch. ASE integrates one run after the
    other: no part, results are shared whatever was selected."""
    if getattr(engine, "name", "") != "torch-sim":
        return ()
    digest = sha256_text("\n".join(sorted(run_ids)))[:12]
    return (f"batch={digest}",)


def keys_digest(keys: Sequence[str]) -> str:
    """Full sha256 of a set of result keys (order ignored): names the checkpoint of the engine call
    that computes them (:class:`pytest_lips.md.checkpoint.MDCheckpoint`)."""
    return sha256_text("\n".join(sorted(keys)))


# ---------------------------------------------------------------------------------------------
# keys


def numerical_environment(threads: int | None = None) -> str:
    """What besides the inputs changes a result's bits here: ``threads=<n>|libs=<digest>|<machine>``.

    ``threads``: CPU threads per process (default: torch's current intra-op count when torch is
    imported, else the ``--lips-threads`` value applied by :mod:`pytest_lips.threads`, else 1);
    ``libs``: a digest of the versions of :data:`NUMERICAL_LIBRARIES` (``-`` for one not installed);
    the machine architecture (``platform.machine()``).
    """
    import platform
    import sys

    if threads is None:
        torch = sys.modules.get("torch")
        if torch is not None and hasattr(torch, "get_num_threads"):
            threads = int(torch.get_num_threads())
        else:
            from .threads import applied_threads

            threads = int(applied_threads().get("threads_per_process") or 1)
    return f"threads={threads}|libs={_libraries_digest()}|{platform.machine() or 'unknown'}"


@functools.lru_cache(maxsize=1)
def _libraries_digest() -> str:
    """Digest of the installed versions of :data:`NUMERICAL_LIBRARIES` (once per process)."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in NUMERICAL_LIBRARIES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "-"
    return sha256_text(canonical_json(versions))[:12]


@dataclass(frozen=True)
class ResultContext:
    """Everything besides the model and the caller's parts that a cached result depends on."""

    plugin_version: str
    protocol_version: str
    profile: str
    device: str
    engine: str
    seed: int
    pack: str = ""
    data: str = ""
    protocol: str = ""
    #: :func:`numerical_environment` (threads per process, library versions, architecture).
    numerics: str = ""


def result_key(model_id: str, context: ResultContext, parts: Sequence[Any] = ()) -> str:
    """The :class:`~pytest_lips.store.RunStore` key of a result (a readable ``|``-joined string)."""
    fields = [
        f"id{IDENTITY_VERSION}",
        f"v{context.plugin_version}",
        f"protocol{context.protocol_version}",
        context.profile,
        f"model={model_id}",
        f"device={context.device}",
        f"engine={context.engine}",
        f"seed={context.seed}",
        f"pack={context.pack[:DIGEST_CHARS] if context.pack else 'none'}",
    ]
    if context.numerics:
        fields.append(context.numerics)
    if context.data:
        fields.append(f"data={context.data}")
    if context.protocol:
        fields.append(f"task-protocol={context.protocol}")
    return "|".join([*fields, *map(str, parts)])


__all__ = [
    "IDENTITY_VERSION",
    "ResultContext",
    "batch_part",
    "canonical_json",
    "data_checksum",
    "key_digest",
    "keys_digest",
    "md_run_parts",
    "model_identity",
    "model_probe_fingerprint",
    "numerical_environment",
    "pack_checksum",
    "probe_fingerprint",
    "protocol_checksum",
    "result_key",
    "sha256_text",
]
