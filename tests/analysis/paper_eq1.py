r"""The LiPS-25 paper's eq. 1: formation energies along the Li2S–P2S5 line (an independent check).

The plugin computes E_f by composition balance against the pack's end members
(:mod:`pytest_lips.analysis.formation`); this module keeps the paper's own formula, written for the
Li2S–P2S5 tie line only, so the tests can check that both agree on the LiPS pack.

Derivation
----------
Every compound on the tie line is ``(Li2S)_a (P2S5)_b`` = Li_{2a} P_{2b} S_{a+5b} with a, b ≥ 0
(not necessarily integers for one cell).  From the atom counts n_Li = 2a, n_P = 2b, n_S = a + 5b:

* the composition lies on the line iff no other element is present and ``2 n_S = n_Li + 5 n_P``;
* ``x = a / (a + b) = n_Li / (n_Li + n_P)`` is the Li2S fraction;
* one formula unit (f.u.) ``(Li2S)_x (P2S5)_{1-x}`` = Li_{2x} P_{2(1-x)} S_{5-4x} holds
  ``2x + 2(1-x) + (5-4x) = 7 - 4x`` atoms, and the cell holds ``n_fu = a + b = (n_Li + n_P)/2``
  formula units.

With E(Li2S) the energy of one Li2S f.u. (3 atoms) and E(P2S5) of one P2S5 f.u. (7 atoms), and
``E = E_cell / n_fu`` the energy per f.u. of the compound, eq. 1 of the paper reads

.. math::  E_f = \frac{E - x E(\mathrm{Li_2S}) - (1-x) E(\mathrm{P_2S_5})}{7 - 4x}
           \quad \text{[eV/atom]}

Multiplying numerator and denominator by n_fu gives the equivalent per-cell form
``E_f = [E_cell - a E(Li2S) - b E(P2S5)] / N_atoms`` because ``n_fu (7 - 4x) = 3a + 7b = N_atoms``:
the normalisation is per atom of the compound, and E_f = 0 for both end members.  Per-element
energy offsets cancel exactly (both sides contain the same atoms).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

Li, P, S = 3, 15, 16


class OffTieLineError(ValueError):
    """A composition that is not on the Li2S–P2S5 line (or contains other elements)."""


def composition_counts(numbers_or_symbols: Iterable[Any]) -> dict[str, int]:
    """Element counts ``{"Li": n_Li, "P": n_P, "S": n_S, ...}`` from atomic numbers or symbols."""
    from ase.data import chemical_symbols

    counts: dict[str, int] = {}
    for item in numbers_or_symbols:
        symbol = chemical_symbols[int(item)] if not isinstance(item, str) else item
        counts[symbol] = counts.get(symbol, 0) + 1
    return counts


@dataclass(frozen=True)
class TieLinePoint:
    """Where a composition sits on the line: x = n_Li/(n_Li+n_P), formula units, atoms per f.u."""

    x: float
    n_formula_units: float
    atoms_per_formula_unit: float
    n_atoms: int


def tie_line_point(counts: Mapping[str, int], name: str = "structure") -> TieLinePoint:
    """Check that ``counts`` lies on the Li2S–P2S5 tie line and locate it; raise otherwise."""
    others = {k: v for k, v in counts.items() if k not in ("Li", "P", "S") and v}
    n_li, n_p, n_s = (int(counts.get(k, 0)) for k in ("Li", "P", "S"))
    if others:
        raise OffTieLineError(f"{name}: contains {sorted(others)}; only Li, P and S lie on the Li2S–P2S5 line")
    if n_li + n_p == 0:
        raise OffTieLineError(f"{name}: needs Li or P to lie on the Li2S–P2S5 line (counts {dict(counts)})")
    if 2 * n_s != n_li + 5 * n_p:
        raise OffTieLineError(
            f"{name}: Li{n_li}P{n_p}S{n_s} is not on the Li2S–P2S5 line (needs 2·n_S = n_Li + 5·n_P, "
            f"i.e. n_S = {(n_li + 5 * n_p) / 2:g})"
        )
    x = n_li / (n_li + n_p)
    return TieLinePoint(
        x=x, n_formula_units=(n_li + n_p) / 2.0, atoms_per_formula_unit=7.0 - 4.0 * x, n_atoms=n_li + n_p + n_s
    )


def x_li2s(counts: Mapping[str, int], name: str = "structure") -> float:
    """Li2S fraction ``x = n_Li / (n_Li + n_P)`` (after checking the tie line)."""
    return tie_line_point(counts, name).x


def energy_per_formula_unit(energy_eV: float, counts: Mapping[str, int], name: str = "structure") -> float:
    """Energy per f.u. ``(Li2S)_x (P2S5)_{1-x}`` in eV (for Li2S: per Li2S; for P2S5: per P2S5)."""
    return float(energy_eV) / tie_line_point(counts, name).n_formula_units


def end_member_energy(energy_eV: float, counts: Mapping[str, int], which: str) -> float:
    """Energy per f.u. of an end member cell (``which`` = ``"Li2S"`` or ``"P2S5"``), eV."""
    if which not in ("Li2S", "P2S5"):
        raise ValueError(f"end member must be Li2S or P2S5, not {which!r}")
    point = tie_line_point(counts, which)
    expected = 1.0 if which == "Li2S" else 0.0
    if abs(point.x - expected) > 1e-12:
        raise OffTieLineError(f"end member {which}: composition has x = {point.x:g}, expected {expected:g}")
    return float(energy_eV) / point.n_formula_units


def formation_energy_per_atom(
    energy_eV: float, counts: Mapping[str, int], e_li2s_fu_eV: float, e_p2s5_fu_eV: float, name: str = "structure"
) -> float:
    """E_f in eV/atom of a cell with total energy ``energy_eV`` (paper eq. 1; see module docstring)."""
    point = tie_line_point(counts, name)
    e_fu = float(energy_eV) / point.n_formula_units
    return (e_fu - point.x * e_li2s_fu_eV - (1.0 - point.x) * e_p2s5_fu_eV) / point.atoms_per_formula_unit


def formation_energies_per_atom(
    energies_eV: Iterable[float], counts_list: Iterable[Mapping[str, int]], e_li2s_fu_eV: float, e_p2s5_fu_eV: float
) -> np.ndarray:
    """Vectorised :func:`formation_energy_per_atom` (eV/atom)."""
    return np.array(
        [formation_energy_per_atom(e, c, e_li2s_fu_eV, e_p2s5_fu_eV) for e, c in zip(energies_eV, counts_list)]
    )
