"""Task 3 trajectories for re-analysis by others: extended XYZ files that ASE and kinisi read.

``--lips-save-trajectories DIR`` writes one file per MD run, ``DIR/<model>/<run_id>.extxyz``. Each
frame holds the atoms of the pack's mobile ion (``system.mobile_ion``; Li for the LiPS pack) of the
production run, UNWRAPPED (continuous across the periodic boundary) and in the framework's
centre-of-mass frame (the framework (P, S for the LiPS pack) drift is already subtracted, as in
the plugin's own MSD), with the simulation cell (``Lattice``, Å, ``pbc="T T T"``) and per-frame
``time_ps`` (from the start of the production) and ``temperature_K`` (kinetic temperature of the
whole cell) in the comment line. Read with ``ase.io.read(path, ":")``; kinisi:
``DiffusionAnalyzer.from_ase(frames, specie=<the mobile ion>, time_step=..., step_skip=...)`` (its unwrapping
leaves already-unwrapped positions unchanged).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.io import write

__all__ = ["ion_frames_from_arrays", "save_run_trajectory", "write_extxyz_trajectory"]


def write_extxyz_trajectory(
    path: Path,
    symbols: list[str] | str,
    positions_A: np.ndarray,
    cells_A: np.ndarray,
    temperatures_K: np.ndarray | None,
    frame_interval_ps: float,
    info: Mapping[str, Any] | None = None,
) -> Path:
    """Write frames ``(F, N, 3)`` Å with cells ``(3, 3)`` or ``(F, 3, 3)`` Å as extended XYZ; returns ``path``.

    Every frame's comment line carries ``time_ps``, ``temperature_K`` (if given) and ``info``.
    """
    pos = np.asarray(positions_A, dtype=float)
    if pos.ndim != 3 or pos.shape[2] != 3:
        raise ValueError(f"positions_A must have shape (n_frames, n_atoms, 3), got {pos.shape}")
    cells = np.asarray(cells_A, dtype=float)
    if cells.shape == (3, 3):
        cells = np.broadcast_to(cells, (pos.shape[0], 3, 3))
    temps = None if temperatures_K is None else np.asarray(temperatures_K, dtype=float)
    frames = []
    for k in range(pos.shape[0]):
        atoms = Atoms(symbols, positions=pos[k], cell=cells[k], pbc=True)
        atoms.info.update(dict(info or {}))
        atoms.info["time_ps"] = float(k * frame_interval_ps)
        if temps is not None:
            atoms.info["temperature_K"] = float(temps[k])
        frames.append(atoms)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write(path, frames, format="extxyz")
    return path


def ion_frames_from_arrays(positions_ion_com_A: np.ndarray) -> np.ndarray:
    """Mobile-ion positions in the framework centre-of-mass frame from Task 3's stored ``(F, n_ion + 1, 3)``
    array (``n_li`` in the stored arrays: the pack's mobile ion, Li for the LiPS pack).

    The last row of each frame is the framework centre of mass; its displacement from frame 0 is
    subtracted from every ion (Å, shape ``(F, n_ion, 3)``).
    """
    arr = np.asarray(positions_ion_com_A, dtype=float)
    return arr[:, :-1, :] - (arr[:, -1:, :] - arr[:1, -1:, :])


def save_run_trajectory(
    directory: Path,
    model: str,
    run_id: str,
    arrays: Mapping[str, np.ndarray],
    info: Mapping[str, Any] | None = None,
    *,
    mobile_ion: str,
) -> Path:
    """Write one Task 3 run from its stored arrays (``positions_A`` mobile ions + framework COM, ``cells_A``,
    ``temperatures_K``, ``frame_interval_ps``, ``n_li``) to ``directory/<model>/<run_id>.extxyz``; the atoms are
    of element ``mobile_ion`` (the pack's ``system.mobile_ion``)."""
    ions = ion_frames_from_arrays(arrays["positions_A"])
    safe = re.sub(r"[^A-Za-z0-9_.+-]+", "_", model or "model")
    cells = np.asarray(arrays["cells_A"], dtype=float)
    if cells.ndim == 3 and cells.shape[0] != ions.shape[0]:
        cells = cells[-1]
    return write_extxyz_trajectory(
        Path(directory) / safe / f"{run_id}.extxyz",
        f"{mobile_ion}{ions.shape[1]}",
        ions,
        cells,
        arrays.get("temperatures_K"),
        float(np.asarray(arrays["frame_interval_ps"])),
        {"run_id": run_id, "model": model, **dict(info or {})},
    )
