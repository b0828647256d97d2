"""Per-element energy offsets for zero-shot (foundation) models (``--lips-energy-offset auto``).

A foundation model trained on another DFT setup predicts total energies shifted by a roughly
per-element constant: ``E_ref ≈ E_model + Σ_Z n_Z μ_Z``.  Like graph-pes' ``add_auto_offset``
(which fits the residuals ``E_ref - E_model`` of the training structures against the composition
matrix with ridge regression, α = 1e-5, no intercept), :func:`fit_element_offsets` solves the least
squares problem ``C μ ≈ E_ref - E_model`` on the training split, with ``C[k, Z]`` the number of
atoms of element Z in structure k.  We use :func:`numpy.linalg.lstsq` (the minimum-norm solution
when the compositions do not determine every μ_Z, e.g. all structures on one tie line) so that a
known shift is recovered exactly.  Units: eV per atom of the element.  When the compositions do
not determine every μ_Z (rank of C below the number of elements, e.g. a single composition), the
split between elements is arbitrary: :func:`fit_element_offsets` then warns
(:class:`RankDeficientOffsetsWarning`) and marks the result ``rank_deficient`` (the per-element
values mean nothing on their own; only their combination over the fitted compositions does).

Formation energies along the Li2S–P2S5 line are invariant under such offsets (each side of the
reaction has the same atoms), so Task 1 never needs them; Task 2 (one composition) reduces them to
one constant per atom.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

OFFSET_MODES = ("none", "auto")


class RankDeficientOffsetsWarning(UserWarning):
    """Per-element energy offsets were fitted on compositions that do not determine each element's value."""


def composition_matrix(
    numbers: Any, offsets: Any, elements: Sequence[int] | None = None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(C, elements)`` from concatenated atomic numbers and atom offsets (length S+1)."""
    z = np.asarray(numbers, dtype=int).reshape(-1)
    o = np.asarray(offsets, dtype=int).reshape(-1)
    if elements is None:
        elements = tuple(int(v) for v in np.unique(z))
    structure_of_atom = np.repeat(np.arange(len(o) - 1), np.diff(o))
    c = np.zeros((len(o) - 1, len(elements)))
    for e, el in enumerate(elements):
        c[:, e] = np.bincount(structure_of_atom[z == el], minlength=len(o) - 1)
    return c, tuple(int(v) for v in elements)


def composition_matrix_from_atoms(
    structures: Sequence[Any], elements: Sequence[int] | None = None
) -> tuple[np.ndarray, tuple[int, ...]]:
    """``(C, elements)`` from a sequence of :class:`ase.Atoms`."""
    numbers = [np.asarray(a.numbers) for a in structures]
    o = np.zeros(len(numbers) + 1, dtype=int)
    np.cumsum([len(n) for n in numbers], out=o[1:])
    flat = np.concatenate(numbers) if numbers else np.zeros(0, dtype=int)
    return composition_matrix(flat, o, elements)


@dataclass(frozen=True)
class ElementOffsets:
    """Per-element energy offsets μ_Z in eV/atom, to be ADDED to model energies."""

    values_eV: Mapping[int, float] = field(default_factory=dict)
    n_structures: int = 0
    rank: int = 0
    residual_rmse_eV_per_atom: float = float("nan")
    #: Number of elements fitted (columns of the composition matrix); ``rank < n_elements`` is rank deficient.
    n_elements: int = 0

    @property
    def rank_deficient(self) -> bool:
        """True when the fit could not tell the elements apart (minimum-norm split between them)."""
        return self.n_structures > 0 and self.rank < self.n_elements

    @classmethod
    def none(cls) -> ElementOffsets:
        return cls()

    def correction(self, composition: np.ndarray, elements: Sequence[int]) -> np.ndarray:
        """(S,) energy to add to each structure's model energy, eV (unknown elements: 0)."""
        mu = np.array([self.values_eV.get(int(z), 0.0) for z in elements], dtype=float)
        return np.asarray(composition, dtype=float) @ mu

    def apply(self, energies_eV: Any, composition: np.ndarray, elements: Sequence[int]) -> np.ndarray:
        return np.asarray(energies_eV, dtype=float) + self.correction(composition, elements)

    def to_dict(self) -> dict[str, Any]:
        from ase.data import chemical_symbols

        return {
            "offsets_eV_per_atom": {chemical_symbols[int(z)]: float(v) for z, v in sorted(self.values_eV.items())},
            "n_structures": self.n_structures,
            "rank": self.rank,
            "n_elements": self.n_elements,
            "rank_deficient": self.rank_deficient,
            "residual_rmse_eV_per_atom": self.residual_rmse_eV_per_atom,
        }


def fit_element_offsets(
    reference_eV: Any, predicted_eV: Any, composition: np.ndarray, elements: Sequence[int]
) -> ElementOffsets:
    """Least-squares per-element offsets μ with ``C μ ≈ E_ref - E_pred`` (eV)."""
    r = np.asarray(reference_eV, dtype=float).reshape(-1) - np.asarray(predicted_eV, dtype=float).reshape(-1)
    c = np.asarray(composition, dtype=float)
    if c.shape != (r.size, len(elements)):
        raise ValueError(
            f"composition matrix of shape {c.shape} does not match {r.size} structures x {len(elements)} elements"
        )
    if r.size == 0:
        return ElementOffsets()
    mu, _, rank, _ = np.linalg.lstsq(c, r, rcond=None)
    resid = r - c @ mu
    n_atoms = np.maximum(c.sum(axis=1), 1)
    result = ElementOffsets(
        values_eV={int(z): float(m) for z, m in zip(elements, mu)},
        n_structures=int(r.size),
        rank=int(rank),
        residual_rmse_eV_per_atom=float(np.sqrt(np.mean((resid / n_atoms) ** 2))),
        n_elements=len(elements),
    )
    if result.rank_deficient:
        from ase.data import chemical_symbols

        names = ", ".join(chemical_symbols[int(z)] for z in elements)
        warnings.warn(
            f"pytest-lips: per-element energy offsets fitted on {r.size} structure(s) whose compositions have "
            f"rank {int(rank)} < {len(elements)} elements ({names}): the split between elements is the "
            "minimum-norm one and meaningless per element; fit on structures of several compositions",
            RankDeficientOffsetsWarning,
            stacklevel=2,
        )
    return result


def check_offset_mode(mode: str | None) -> str:
    """Normalise ``--lips-energy-offset`` (``auto`` | ``none``); ValueError otherwise."""
    value = "none" if mode is None else str(mode).strip().lower()
    if value not in OFFSET_MODES:
        raise ValueError(f"energy offset mode must be one of {OFFSET_MODES}, not {mode!r}")
    return value
