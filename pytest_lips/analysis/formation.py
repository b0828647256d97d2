r"""Formation energies relative to a set of end members, by composition balance (LiPS-25 Task 1).

Derivation
----------
Let the end members be compounds ``j = 1..m`` with ``C[e, j]`` atoms of element ``e`` per formula unit
(f.u.) and ``E_j`` the energy of one f.u. (eV).  A cell with atom counts ``n_e`` (``N = Σ_e n_e`` atoms)
and total energy ``E_cell`` is balanced by amounts ``a_j`` (f.u. of end member ``j``) with

.. math::  \sum_j C[e, j]\, a_j = n_e \quad \text{for every element } e,

solved by least squares; the composition is inside the end members' span when the residual vanishes
(else :class:`OutsideEndMembersError` names the structure).  The formation energy per atom is

.. math::  E_f = \frac{E_\mathrm{cell} - \sum_j a_j E_j}{N} \quad \text{[eV/atom]}.

Both sides hold the same atoms, so per-element energy offsets cancel exactly, and ``E_f = 0`` for each
end member.  For the two end members Li2S and P2S5 of the LiPS pack, ``a = n_Li/2`` and ``b = n_P/2``
and this is the paper's eq. 1, ``E_f = [E - x E(Li2S) - (1-x) E(P2S5)] / (7 - 4x)`` with
``x = n_Li / (n_Li + n_P)`` and E per f.u. ``(Li2S)_x (P2S5)_{1-x}``: multiply numerator and
denominator by ``n_fu = a + b`` (``n_fu (7 - 4x) = 3a + 7b = N``).  tests/analysis/paper_eq1.py holds
eq. 1 as an independent implementation, and the tests check both agree to machine precision.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

#: Relative residual of the balance above which a composition is outside the end members' span.
SPAN_TOLERANCE = 1e-9


class OutsideEndMembersError(ValueError):
    """A composition that the end members cannot balance (an element they lack, or outside their span)."""


def composition_counts(numbers_or_symbols: Iterable[Any]) -> dict[str, int]:
    """Element counts ``{symbol: n}`` from atomic numbers or symbols."""
    from ase.data import chemical_symbols

    counts: dict[str, int] = {}
    for item in numbers_or_symbols:
        symbol = chemical_symbols[int(item)] if not isinstance(item, str) else item
        counts[symbol] = counts.get(symbol, 0) + 1
    return counts


def _formula(counts: Mapping[str, float]) -> str:
    return "".join(f"{el}{n:g}" if n != 1 else el for el, n in counts.items() if n)


def composition_balance(
    counts: Mapping[str, float], end_members: Mapping[str, Mapping[str, int]], name: str = "structure"
) -> dict[str, float]:
    """Amounts ``{end member: f.u.}`` whose atoms add up to ``counts`` (least squares, see module docstring).

    Raises :class:`OutsideEndMembersError` naming ``name`` when an element of ``counts`` is in no end
    member, or when the composition is outside the end members' span (relative residual >
    :data:`SPAN_TOLERANCE`).
    """
    names = list(end_members)
    if not names:
        raise OutsideEndMembersError(f"{name}: no end members to balance against")
    known = sorted({el for em in end_members.values() for el in em})
    foreign = sorted(el for el, n in counts.items() if n and el not in known)
    if foreign:
        raise OutsideEndMembersError(
            f"{name}: contains {', '.join(foreign)}, which no end member ({', '.join(names)}) contains"
        )
    matrix = np.array([[float(end_members[j].get(el, 0)) for j in names] for el in known])
    target = np.array([float(counts.get(el, 0)) for el in known])
    amounts, *_ = np.linalg.lstsq(matrix, target, rcond=None)
    residual = float(np.abs(matrix @ amounts - target).max())
    if residual > SPAN_TOLERANCE * max(1.0, float(np.abs(target).max())):
        raise OutsideEndMembersError(
            f"{name}: composition {_formula(counts)} is outside the span of the end members {', '.join(names)} "
            f"(closest balance misses by {residual:.3g} atoms); add an end member that supplies it"
        )
    return {j: float(a) for j, a in zip(names, amounts)}


def end_member_energies_per_fu(
    cells: Mapping[str, Mapping[str, Any]], end_members: Mapping[str, Mapping[str, int]]
) -> dict[str, float]:
    """Energy per f.u. (eV) of each end member from its cell ``{"energy_eV", "counts"}``.

    ``cells`` is keyed by the end member's formula (a key of ``end_members``); the cell must be a whole
    multiple of that formula (else :class:`OutsideEndMembersError`).
    """
    out: dict[str, float] = {}
    for formula, fu in end_members.items():
        cell = cells[formula]
        counts = cell["counts"]
        ratios = {el: counts.get(el, 0) / n for el, n in fu.items()}
        n_fu = next(iter(ratios.values()))
        extra = sorted(set(el for el, n in counts.items() if n) - set(fu))
        if extra or any(abs(r - n_fu) > 1e-12 * max(1.0, n_fu) for r in ratios.values()) or n_fu <= 0:
            raise OutsideEndMembersError(
                f"end member {formula}: its cell {_formula(counts)} is not a whole number of {formula} formula units"
            )
        out[formula] = float(cell["energy_eV"]) / n_fu
    return out


def formation_energy_per_atom(
    energy_eV: float,
    counts: Mapping[str, int],
    end_member_energies_fu_eV: Mapping[str, float],
    end_members: Mapping[str, Mapping[str, int]],
    name: str = "structure",
) -> float:
    """E_f in eV/atom of a cell of total energy ``energy_eV`` relative to the end members (module docstring)."""
    amounts = composition_balance(counts, end_members, name)
    n_atoms = sum(int(v) for v in counts.values())
    return (float(energy_eV) - sum(a * end_member_energies_fu_eV[j] for j, a in amounts.items())) / n_atoms


def formation_energies_per_atom(
    energies_eV: Iterable[float],
    counts_list: Iterable[Mapping[str, int]],
    end_member_energies_fu_eV: Mapping[str, float],
    end_members: Mapping[str, Mapping[str, int]],
) -> np.ndarray:
    """Vectorised :func:`formation_energy_per_atom` (eV/atom)."""
    return np.array(
        [
            formation_energy_per_atom(e, c, end_member_energies_fu_eV, end_members)
            for e, c in zip(energies_eV, counts_list)
        ]
    )


__all__ = [
    "OutsideEndMembersError",
    "composition_balance",
    "composition_counts",
    "end_member_energies_per_fu",
    "formation_energies_per_atom",
    "formation_energy_per_atom",
]
