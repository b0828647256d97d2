"""Unphysical close contacts between atoms (LiPS-25 Task 4, robustness).

Distances in Å, periodic minimum-image (any cell shape) via :func:`ase.neighborlist.neighbor_list`.
A "close contact" is a pair of atoms (including an atom and its own periodic image) closer than a
cutoff — for Li/P/S nothing physical comes within 1 Å, so such a frame signals a collapsed structure.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from ase import Atoms
from ase.neighborlist import neighbor_list

__all__ = ["close_contact_fraction", "close_contact_mask", "has_close_contact", "minimum_pair_distance_A"]


def minimum_pair_distance_A(atoms: Atoms) -> float:
    """Shortest interatomic distance in Å, minimum image over periodic directions.

    Returns ``inf`` for fewer than two atoms in a non-periodic cell.
    """
    n = len(atoms)
    pbc = np.asarray(atoms.pbc, dtype=bool)
    if n == 0 or (n == 1 and not pbc.any()):
        return float("inf")
    pos = atoms.get_positions()
    extent = float(np.linalg.norm(pos.max(axis=0) - pos.min(axis=0)))
    lattice = float(np.linalg.norm(atoms.cell.array, axis=1).max()) if pbc.any() else 0.0
    upper = extent + lattice + 1.0  # some pair is always within this distance
    cutoff = 3.0
    while True:
        d = neighbor_list("d", atoms, cutoff)
        if d.size:
            return float(d.min())
        if cutoff > upper:
            return float("inf")
        cutoff *= 2.0


def has_close_contact(atoms: Atoms, cutoff_A: float = 1.0) -> bool:
    """True if any two atoms (or an atom and its periodic image) are closer than ``cutoff_A`` Å."""
    if not cutoff_A > 0:
        raise ValueError(f"cutoff_A must be > 0, got {cutoff_A}")
    return bool(neighbor_list("i", atoms, float(cutoff_A)).size)


def close_contact_mask(frames: Iterable[Atoms], cutoff_A: float = 1.0) -> np.ndarray:
    """Boolean array, one entry per frame: does the frame have a close contact below ``cutoff_A`` Å?"""
    return np.array([has_close_contact(a, cutoff_A) for a in frames], dtype=bool)


def close_contact_fraction(frames: Iterable[Atoms], cutoff_A: float = 1.0) -> float:
    """Fraction (0–1) of frames with at least one pair closer than ``cutoff_A`` Å."""
    mask = close_contact_mask(frames, cutoff_A)
    if mask.size == 0:
        raise ValueError("close_contact_fraction needs at least one frame")
    return float(mask.mean())
