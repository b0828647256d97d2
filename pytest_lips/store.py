"""A small on-disk store of computed results, shared between pytest items and xdist workers.

Each result is a JSON document identified by a string key that encodes everything the result depends
on; keys are built in one place, :func:`pytest_lips.identity.result_key` (through
``LipsSession.run_key``): model identity, reference-pack and data checksums, task protocol, MD engine,
seed, device, profile, protocol and plugin versions, run id.  A stored document whose key differs from
the one asked for (a hash-prefix collision of the file name) is never returned.  ``get_or_compute``
computes a missing result once, under an exclusive file lock, so that when several xdist workers ask
for the same MD run at the same time, one computes and the others wait and read.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from .errors import LipsDataError


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

    # ------------------------------------------------------------------------------------------
    def path_for(self, key: str, suffix: str = ".json") -> Path:
        """File path for ``key`` (readable prefix + hash, safe on every file system)."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        readable = re.sub(r"[^A-Za-z0-9_.+-]+", "_", key)[:80]
        return self.root / f"{readable}-{digest}{suffix}"

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored result for ``key``, or ``None`` (also for a corrupt or stale file)."""
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
        """Store ``result`` atomically (write to a temporary file, then rename)."""
        path = self.path_for(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {"key": key, "session_id": self.session_id, "result": result}
        tmp = path.with_suffix(path.suffix + f".tmp{os.getpid()}")
        try:
            tmp.write_text(json.dumps(document, allow_nan=True), encoding="utf-8")
            os.replace(tmp, path)
        except (OSError, TypeError, ValueError) as exc:
            tmp.unlink(missing_ok=True)
            raise LipsDataError(f"cannot write result {key!r} to {path}: {exc}") from exc

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
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
