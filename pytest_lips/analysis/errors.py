"""Error metrics of predictions against reference labels (pure numpy).

Units follow the inputs: energies in eV, forces in eV/Å, stresses in eV/Å^3; helpers convert to
meV/atom and GPa.  Every function ignores nothing silently: shapes must match, and NaN inputs give
NaN metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: 1 eV/Å^3 in GPa.
EV_PER_A3_TO_GPA = 160.21766208
#: 1 eV in meV.
EV_TO_MEV = 1000.0


def _diff(predicted: Any, reference: Any | None) -> np.ndarray:
    p = np.asarray(predicted, dtype=float)
    if reference is None:
        return p.reshape(-1)
    r = np.asarray(reference, dtype=float)
    if p.shape != r.shape:
        raise ValueError(f"predicted shape {p.shape} does not match reference shape {r.shape}")
    return (p - r).reshape(-1)


def rmse(predicted: Any, reference: Any | None = None) -> float:
    """Root-mean-square of ``predicted - reference`` (or of ``predicted`` alone); NaN when empty."""
    d = _diff(predicted, reference)
    return float(np.sqrt(np.mean(d * d))) if d.size else float("nan")


def mae(predicted: Any, reference: Any | None = None) -> float:
    """Mean absolute ``predicted - reference`` (or of ``predicted`` alone); NaN when empty."""
    d = _diff(predicted, reference)
    return float(np.mean(np.abs(d))) if d.size else float("nan")


def energy_per_atom_errors(predicted_eV: Any, reference_eV: Any, n_atoms: Any) -> np.ndarray:
    """(S,) per-structure errors of the energy per atom, eV/atom: ``(E_pred - E_ref) / N``."""
    p = np.asarray(predicted_eV, dtype=float).reshape(-1)
    r = np.asarray(reference_eV, dtype=float).reshape(-1)
    n = np.asarray(n_atoms, dtype=float).reshape(-1)
    if not (p.shape == r.shape == n.shape):
        raise ValueError(f"shapes differ: predicted {p.shape}, reference {r.shape}, n_atoms {n.shape}")
    if np.any(n <= 0):
        raise ValueError("every structure needs at least one atom")
    return (p - r) / n


def force_component_errors(predicted_eV_A: Any, reference_eV_A: Any) -> np.ndarray:
    """(3N,) flattened force-component errors, eV/Å."""
    return _diff(predicted_eV_A, reference_eV_A)


def stress_component_errors_GPa(predicted_eV_A3: Any, reference_eV_A3: Any) -> np.ndarray:
    """(9S,) flattened stress-component errors in GPa (inputs 3x3 stresses in eV/Å^3)."""
    return _diff(predicted_eV_A3, reference_eV_A3) * EV_PER_A3_TO_GPA


@dataclass(frozen=True)
class ErrorSummary:
    """RMSE, MAE, maximum absolute error and sample count of one error array (unit of the input)."""

    rmse: float
    mae: float
    max_abs: float
    n: int

    @classmethod
    def of(cls, errors: Any) -> ErrorSummary:
        e = np.asarray(errors, dtype=float).reshape(-1)
        if e.size == 0:
            return cls(float("nan"), float("nan"), float("nan"), 0)
        return cls(rmse(e), mae(e), float(np.max(np.abs(e))), int(e.size))

    def scaled(self, factor: float) -> ErrorSummary:
        return ErrorSummary(self.rmse * factor, self.mae * factor, self.max_abs * factor, self.n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def group_errors(errors: Any, groups: Sequence[str] | np.ndarray) -> dict[str, np.ndarray]:
    """Split ``errors`` (one per element of ``groups``) by group, groups in sorted order."""
    e = np.asarray(errors, dtype=float).reshape(-1)
    g = np.asarray(groups, dtype=str).reshape(-1)
    if e.shape != g.shape:
        raise ValueError(f"{e.size} errors but {g.size} group labels")
    return {str(name): e[g == name] for name in np.unique(g)}


def summarise_by_group(errors: Any, groups: Sequence[str] | np.ndarray) -> dict[str, ErrorSummary]:
    """:class:`ErrorSummary` per group."""
    return {name: ErrorSummary.of(values) for name, values in group_errors(errors, groups).items()}


def per_atom_groups(structure_groups: Sequence[str] | np.ndarray, n_atoms: Any, components: int = 3) -> np.ndarray:
    """Expand per-structure group labels to per-force-component labels (``components`` per atom)."""
    g = np.asarray(structure_groups, dtype=str)
    return np.repeat(np.repeat(g, np.asarray(n_atoms, dtype=int)), components)


def per_structure_force_rmse(predicted_eV_A: Any, reference_eV_A: Any, offsets: Any) -> np.ndarray:
    """(S,) force-component RMSE of each structure, eV/Å (``offsets``: atom offsets, length S+1)."""
    d = np.asarray(predicted_eV_A, dtype=float) - np.asarray(reference_eV_A, dtype=float)
    o = np.asarray(offsets, dtype=int)
    sq = np.add.reduceat((d * d).sum(axis=1), o[:-1]) if len(o) > 1 and o[-1] > 0 else np.zeros(len(o) - 1)
    return np.sqrt(sq / (3.0 * np.diff(o)))


def summaries_to_dict(summaries: Mapping[str, ErrorSummary]) -> dict[str, dict[str, Any]]:
    return {k: v.to_dict() for k, v in summaries.items()}
