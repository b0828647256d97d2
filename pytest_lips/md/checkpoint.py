"""Checkpoints of a running MD batch, so that an interrupted session resumes where it stopped.

:class:`MDCheckpoint` is handed to ``engine.run(jobs, model, checkpoint=...)``. The torch-sim engine
saves, every ``interval_s`` seconds of wall time, everything its loop carries from one step to the next:
the step, positions, momenta, forces, energies, cells, the Nosé–Hoover chain(s) (positions, momenta,
masses of every chain element; the barostat's cell coordinate and momentum in NPT), which systems are
still in the batch, and every frame, check-point observable and early stop recorded so far. A rerun of
the same batch (same jobs: the file name holds the result keys of its runs) restores them and goes on
from that step; as the integrators are deterministic and a restored value is the saved one bit for bit,
the trajectory is the uninterrupted one (``tests/md/test_checkpoint.py``). The ASE engine does not
checkpoint (see the README, "MD progress survives interruption").

Files are ``torch.save`` dictionaries of tensors, numbers, strings and lists only, read back with
``torch.load(weights_only=True)``: a checkpoint in a shared cache cannot run code. Units as in
:mod:`pytest_lips.md.jobs`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..identity import sha256_text

#: Default wall-clock interval between checkpoints of a running batch (``--lips-checkpoint-minutes``).
DEFAULT_CHECKPOINT_MINUTES = 2.0

#: Bump when the content of a checkpoint changes (older files are then ignored).
CHECKPOINT_VERSION = 1


class MDCheckpoint:
    """Where and how often an engine checkpoints the batches of one ``engine.run`` call.

    Parameters
    ----------
    directory:
        Folder of the checkpoint files (the result store's folder).
    call_id:
        Identifies the engine call: a digest of the result keys of its runs, so a checkpoint is only
        ever resumed by the same runs of the same model, protocol, engine and environment.
    interval_s:
        Wall-clock seconds between checkpoints (``<= 0``: every step, for tests; ``None``: never).
    resume:
        ``False`` (``--lips-fresh``) ignores checkpoints left by earlier sessions.
    on_resume:
        Called with the step a batch resumed at (the progress line says so).
    """

    def __init__(
        self,
        directory: Path,
        call_id: str,
        interval_s: float | None = DEFAULT_CHECKPOINT_MINUTES * 60.0,
        resume: bool = True,
        on_resume: Callable[[int], None] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.call_id = call_id
        self.interval_s = interval_s
        self.resume = resume
        self.on_resume = on_resume
        self._touched: set[Path] = set()
        self._last_save: dict[str, float] = {}
        #: Steps at which each batch label resumed (for the run records).
        self.resumed_at: dict[str, int] = {}
        #: Checkpoints written in this call (count), for tests and reports.
        self.saves = 0

    def path(self, label: str) -> Path:
        digest = sha256_text(f"{self.call_id}|{label}")[:20]
        return self.directory / f"md-checkpoint-{digest}.pt"

    def start(self, label: str) -> None:
        """The batch ``label`` starts (or resumes) now: the interval counts from here."""
        self._last_save[label] = time.monotonic()

    def due(self, label: str) -> bool:
        """Whether ``interval_s`` has passed since the batch's last checkpoint (or its start)."""
        if self.interval_s is None:
            return False
        return time.monotonic() - self._last_save.get(label, time.monotonic()) >= self.interval_s

    def save(self, label: str, payload: dict[str, Any]) -> None:
        """Write ``payload`` atomically; a failed write (disk full) is skipped: the run goes on."""
        import torch

        path = self.path(label)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"version": CHECKPOINT_VERSION, "label": label, **payload}, tmp)
            os.replace(tmp, path)
        except OSError:
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
        else:
            self._touched.add(path)
            self.saves += 1
        self._last_save[label] = time.monotonic()

    def load(self, label: str) -> dict[str, Any] | None:
        """The last checkpoint of batch ``label``, or ``None`` (none, unreadable, another version)."""
        if not self.resume:
            return None
        import torch

        path = self.path(label)
        if not path.is_file():
            return None
        try:
            payload = torch.load(path, weights_only=True)
        except Exception:  # noqa: BLE001 - a truncated or foreign file is no checkpoint
            return None
        if (
            not isinstance(payload, dict)
            or payload.get("version") != CHECKPOINT_VERSION
            or payload.get("label") != label
        ):
            return None
        self._touched.add(path)
        return payload

    def resumed(self, label: str, step: int) -> None:
        self.resumed_at[label] = step
        if self.on_resume is not None:
            self.on_resume(step)

    def finished(self, label: str) -> None:
        """Batch ``label`` ran to its end: its checkpoint (if any) goes with :meth:`clear`."""
        path = self.path(label)
        if path.exists():
            self._touched.add(path)

    def clear(self) -> None:
        """Remove the checkpoints of this call (once its results are stored)."""
        for path in self._touched:
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
        self._touched.clear()
