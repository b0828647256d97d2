"""A small on-disk store of computed results, shared between pytest items and xdist workers.

Each result is a JSON document identified by a string key that encodes everything the result depends
on; keys are built in one place, :func:`pytest_lips.identity.result_key` (through
``LipsSession.run_key``): model identity, reference-pack and data checksums, task protocol, MD engine,
seed, device, profile, protocol and plugin versions, run id.  A stored document whose key differs from
the one asked for (a hash-prefix collision of the file name) is never returned.  ``get_or_compute``
computes a missing result once, under an exclusive file lock, so that when several xdist workers ask
for the same MD run at the same time, one computes and the others wait and read.

A result that cannot be written (a full disk, a directory made read-only during the run) is kept in
memory for the rest of this process and reported, never raised: ``write_failures`` collects one line per
failed write, which the plugin drains into the item that caused it (one warning line per item).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .errors import LipsDataError
from .identity import sha256_text


class RunStore:
    """JSON results under ``root``, keyed by strings.

    Parameters
    ----------
    root:
        Directory of the store (created on first use).
    reuse:
        When ``False`` results written by earlier pytest sessions are recomputed once in this
        session (``--lips-fresh``); results written in this session are always reused.
    session_id:
        Identifies the pytest session (shared by its xdist workers); needed for ``reuse=False``.
    """

    def __init__(self, root: Path, reuse: bool = True, session_id: str = "") -> None:
        self.root = Path(root)
        self.reuse = reuse
        self.session_id = session_id
        #: Results and arrays whose write failed, kept for this process (key / file name -> value).
        self._unwritten: dict[str, dict[str, Any]] = {}
        self._unwritten_arrays: dict[str, dict[str, Any]] = {}
        #: One line per failed write since the last :meth:`drain_write_failures`.
        self.write_failures: list[str] = []

    def drain_write_failures(self) -> list[str]:
        """The write failures recorded since the last call (and forget them)."""
        failures, self.write_failures = self.write_failures, []
        return failures

    def _write_failed(self, what: str, path: Path, exc: BaseException) -> None:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        self.write_failures.append(f"could not cache {what} in {path.parent} ({reason})")

    # ------------------------------------------------------------------------------------------
    def path_for(self, key: str, suffix: str = ".json") -> Path:
        """File path for ``key`` (readable prefix + hash, safe on every file system)."""
        digest = sha256_text(key)[:16]
        readable = re.sub(r"[^A-Za-z0-9_.+-]+", "_", key)[:80]
        return self.root / f"{readable}-{digest}{suffix}"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for ``key``, or ``None`` (also for a corrupt or stale file)."""
        if key in self._unwritten:
            return self._unwritten[key]
        path = self.path_for(key)
        if not path.is_file():
            return None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # corrupt (e.g. a killed writer): recompute
        if not isinstance(document, dict) or document.get("key") != key:
            return None
        if not self.reuse and document.get("session_id") != self.session_id:
            return None
        return document.get("result")

    def put(self, key: str, result: dict[str, Any]) -> None:
        """Store ``result`` atomically (write to a temporary file, then rename).

        A result that is not JSON raises :class:`~pytest_lips.errors.LipsDataError` (a bug); a write
        that fails (``OSError``: disk full, read-only) keeps the result in memory for this process and
        records one line in :attr:`write_failures`.
        """
        path = self.path_for(key)
        document = {"key": key, "session_id": self.session_id, "result": result}
        try:
            text = json.dumps(document, allow_nan=True)
        except (TypeError, ValueError) as exc:
            raise LipsDataError(f"cannot write result {key!r} to {path}: {exc}") from exc
        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        failure = self._replace_atomically(path, tmp, lambda p: self._write_text(p, text))
        if failure is not None:
            self._unwritten[key] = result
            self._write_failed("a result", path, failure)
            return
        self._unwritten.pop(key, None)

    @staticmethod
    def _replace_atomically(path: Path, tmp: Path, write: Callable[[Path], None]) -> OSError | None:
        """``write(tmp)``, then rename ``tmp`` onto ``path``; an ``OSError`` (disk full, read-only) is returned,
        not raised, with the temporary file removed."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            write(tmp)
            os.replace(tmp, path)
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return exc
        return None

    @staticmethod
    def _write_text(path: Path, text: str) -> None:
        """The one place results reach the disk (a test replaces it to inject a full disk)."""
        path.write_text(text, encoding="utf-8")

    @staticmethod
    def _write_arrays(path: Path, arrays: dict[str, Any]) -> None:
        """The one place arrays reach the disk (compressed ``.npz``; a test replaces it to inject a full disk)."""
        np.savez_compressed(path, **arrays)  # type: ignore[arg-type]  # numpy stub: **kwds vs allow_pickle

    def save_arrays(self, key: str, arrays: dict[str, Any]) -> str:
        """Write ``arrays`` next to ``key``'s result (``<key>.npz``, compressed); returns the file name to
        keep in the result. A failed write keeps the arrays in memory (:meth:`load_arrays` finds them)."""
        path = self.path_for(key, ".npz")
        tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
        failure = self._replace_atomically(path, tmp, lambda p: self._write_arrays(p, arrays))
        if failure is not None:
            self._unwritten_arrays[path.name] = {name: np.asarray(value) for name, value in arrays.items()}
            self._write_failed("MD frames", path, failure)
        else:
            self._unwritten_arrays.pop(path.name, None)
        return path.name

    def load_arrays(self, name: str) -> dict[str, Any]:
        """The arrays saved by :meth:`save_arrays` under file name ``name``."""
        if name in self._unwritten_arrays:
            return dict(self._unwritten_arrays[name])
        with np.load(self.root / name) as npz:
            return {field: npz[field] for field in npz.files}

    def get_or_compute(self, key: str, compute: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Return the result for ``key``, computing and storing it first if needed.

        ``compute`` runs at most once across processes that share the store; an exception in it
        propagates and stores nothing.
        """
        cached = self.get(key)
        if cached is not None:
            return cached
        with self._lock(key):
            cached = self.get(key)  # another process may have finished meanwhile
            if cached is not None:
                return cached
            result = compute()
            self.put(key, result)
            return result

    def check_usable(self, min_free_bytes: int = 0) -> None:
        """Raise :class:`OSError`/``NotADirectoryError`` with the reason when results cannot be stored here."""
        check_directory(self.root, min_free_bytes)

    def get_or_compute_many(
        self, keys: Sequence[str], compute_many: Callable[[list[str]], dict[str, dict[str, Any]]]
    ) -> dict[str, dict[str, Any]]:
        """Results for every key of ``keys``; the missing ones filled by ONE call ``compute_many(missing)``.

        ``compute_many`` gets the keys still missing (in the order given) and returns ``{key: result}``
        for each of them (a batched MD engine computing several runs at once). Each result is stored
        under its own key, exactly as :meth:`get_or_compute` would, so a later single-key lookup
        finds it. The per-key locks of the missing keys are taken in sorted order (processes asking
        for overlapping sets cannot deadlock) and held until all are stored; a process that waited
        re-reads and computes only what is still missing. An exception stores nothing.
        """
        results: dict[str, dict[str, Any]] = {}
        missing = []
        for key in dict.fromkeys(keys):
            cached = self.get(key)
            if cached is None:
                missing.append(key)
            else:
                results[key] = cached
        if missing:
            with ExitStack() as stack:
                for key in sorted(missing):
                    stack.enter_context(self._lock(key))
                still = []
                for key in missing:
                    cached = self.get(key)  # another process may have finished meanwhile
                    if cached is None:
                        still.append(key)
                    else:
                        results[key] = cached
                if still:
                    computed = compute_many(list(still))
                    absent = [key for key in still if key not in computed]
                    if absent:
                        raise LipsDataError(f"batched computation returned no result for {absent}")
                    for key in still:
                        self.put(key, computed[key])
                        results[key] = computed[key]
        return {key: results[key] for key in keys}

    @contextmanager
    def _lock(self, key: str) -> Iterator[None]:
        lock_path = self.path_for(key, ".lock")
        handle = None
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(lock_path, "a+")  # noqa: SIM115 - closed below
        except OSError as exc:  # no lock file (disk full): compute without one; the write will fail too
            self._write_failed("a lock file", lock_path, exc)
        if handle is None:
            yield
            return
        with handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


#: Free space below which the cache directory is refused at start-up (bytes): a Task 3 run's frames
#: take ~1 MB, a data-set cache a few MB.
MIN_FREE_BYTES = 5 * 2**20


def check_directory(path: Path, min_free_bytes: int = MIN_FREE_BYTES) -> None:
    """Check that ``path`` is (or can be made) a writable directory with ``min_free_bytes`` free.

    Creates it (with parents) when missing. Raises :class:`OSError` (``NotADirectoryError``,
    ``PermissionError``, ...) whose message is one line with the reason.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(f"cannot create {path} ({exc.strerror or exc})") from None
    try:
        with tempfile.NamedTemporaryFile(dir=path, prefix=".lips-write-check-") as handle:
            handle.write(b"0")
            handle.flush()
    except OSError as exc:
        raise type(exc)(f"cannot write in {path} ({exc.strerror or exc})") from None
    free = shutil.disk_usage(path).free
    if free < min_free_bytes:
        raise OSError(
            f"{path} has {free / 2**20:.1f} MB free, less than the {min_free_bytes / 2**20:.0f} MB results need"
        )
