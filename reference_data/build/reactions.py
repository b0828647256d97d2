"""Reaction energies between crystals from their energies per atom (pure numpy; eV, meV/atom)."""
from __future__ import annotations

import numpy as np
from ase.formula import Formula


def decomposition(target: str, products: list[str]) -> dict[str, float]:
    """Formula units of each product per formula unit of ``target`` (balanced on every element).

    ``decomposition("Li7P3S11", ["Li3PS4", "P2S5"])`` -> ``{"Li3PS4": 7/3, "P2S5": 1/3}``. Raises
    ``ValueError`` if the products cannot balance the target with non-negative amounts.
    """
    counts = [Formula(f).count() for f in [target, *products]]
    elements = sorted(set().union(*counts))
    a = np.array([[c.get(el, 0) for c in counts[1:]] for el in elements], dtype=float)
    b = np.array([counts[0].get(el, 0) for el in elements], dtype=float)
    coef, *_ = np.linalg.lstsq(a, b, rcond=None)
    if not np.allclose(a @ coef, b, atol=1e-9) or (coef < -1e-12).any():
        raise ValueError(f"{' + '.join(products)} cannot balance {target}")
    return dict(zip(products, (float(c) for c in coef)))


def energy_relative_to_meV_atom(target: str, e_target_eV_atom: float, products: dict[str, float]) -> float:
    """Energy per atom of ``target`` above the balanced mixture of ``products`` (formula -> eV/atom), meV/atom.

    Positive: the target is unstable against that mixture."""
    amounts = decomposition(target, list(products))
    n_target = len(Formula(target))
    e_mix = sum(amounts[f] * len(Formula(f)) * e for f, e in products.items())
    return 1000.0 * (n_target * e_target_eV_atom - e_mix) / n_target
