"""Structures for the MD tasks: seeded random hard-sphere cells and supercells.

Random hard spheres (Task 4 starting points)
--------------------------------------------
:func:`random_hard_sphere_cell` places atoms of a given composition one by one at uniformly random
positions in a cubic periodic cell of a given density, rejecting a trial position when it is closer
(periodic minimum image, :func:`ase.geometry.get_distances`) to an already placed atom than the
minimum separation of that element pair.

Minimum separations: ``ratio × (r_cov(A) + r_cov(B))`` with ASE's covalent radii
(:data:`ase.data.covalent_radii`) — the convention of the ``blmin`` table of ASE's genetic-algorithm /
random-structure start generators (``closest_distances_generator``, now in the separate ``ase-ga``),
analogous to the ``MINSEP`` element-pair separations of AIRSS ``buildcell`` used in the Deringer
group's GAP-RSS work. Default ``ratio = 0.7`` (ASE GA's customary value), which gives, in Å:
Li–Li 1.79, Li–P 1.65, Li–S 1.63, P–P 1.50, P–S 1.48, S–S 1.47. These are deliberately shorter than
the bonds in Li7P3S11 (P–S ≈ 2.05 Å, Li–S ≈ 2.4 Å) — the cell starts far from equilibrium, which is
the point of a robustness test — but long enough that no pair starts inside the 1 Å close-contact
radius of Task 4.

Composition and density come from the reference pack's ``system.task4`` (the LiPS pack: Li7P3S11 at
1.88 g/cm³, that of its crystalline Li7P3S11 cell, 2 formula units, 42 atoms, ≈ 872 Å³).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np
from ase import Atoms
from ase.data import atomic_masses, atomic_numbers, covalent_radii
from ase.geometry import get_distances

from ..errors import LipsSimulationError

__all__ = [
    "density_g_cm3",
    "perpendicular_widths_A",
    "minimum_separations_A",
    "most_isotropic_repeat",
    "random_hard_sphere_cell",
    "stoichiometric_counts",
    "supercell",
]

#: Default fraction of the summed covalent radii used as minimum separation.
DEFAULT_COVALENT_RATIO = 0.7

_AMU_G = 1.66053906660e-24  # g
_A3_CM3 = 1e-24


def stoichiometric_counts(n_atoms: int, composition: Mapping[str, int]) -> dict[str, int]:
    """Element counts for ``n_atoms`` atoms of ``composition`` (must be a whole number of formula units).

    ``stoichiometric_counts(1008, {"Li": 7, "P": 3, "S": 11}) == {"Li": 336, "P": 144, "S": 528}`` (48 × Li7P3S11).
    """
    per_fu = sum(composition.values())
    if n_atoms <= 0 or n_atoms % per_fu:
        raise ValueError(f"{n_atoms} atoms is not a whole number of formula units of {per_fu} atoms")
    n_fu = n_atoms // per_fu
    return {el: n * n_fu for el, n in composition.items()}


def minimum_separations_A(elements, ratio: float = DEFAULT_COVALENT_RATIO) -> dict[tuple[str, str], float]:
    """Minimum pair separations ``ratio × (r_cov(A) + r_cov(B))`` in Å, keyed by both orders of the pair."""
    out: dict[tuple[str, str], float] = {}
    for a, b in itertools.product(elements, repeat=2):
        out[(a, b)] = float(ratio * (covalent_radii[atomic_numbers[a]] + covalent_radii[atomic_numbers[b]]))
    return out


def random_hard_sphere_cell(
    counts: Mapping[str, int],
    seed: int,
    density_g_cm3: float,
    covalent_ratio: float = DEFAULT_COVALENT_RATIO,
    max_trials_per_atom: int = 10_000,
) -> Atoms:
    """A seeded random hard-sphere configuration in a cubic periodic cell.

    Parameters
    ----------
    counts:
        Atoms per element, e.g. ``stoichiometric_counts(1008, composition)``.
    seed:
        Seed of the :class:`numpy.random.Generator` (same seed → identical structure).
    density_g_cm3:
        Mass density fixing the cubic cell edge, g/cm³.
    covalent_ratio:
        Minimum separations as a fraction of summed covalent radii (see the module docstring).
    max_trials_per_atom:
        Give up (:class:`~pytest_lips.errors.LipsSimulationError`) after this many rejected trials.

    Returns
    -------
    ase.Atoms with ``info["generator"]`` describing how it was made. Elements are placed in a seeded
    random order (so no element is systematically squeezed in last) and the atoms are then sorted by
    element in the order of ``counts``.
    """
    rng = np.random.default_rng(seed)
    symbols = [el for el, n in counts.items() for _ in range(int(n))]
    if not symbols:
        raise ValueError("counts selects no atoms")
    mass_g = sum(atomic_masses[atomic_numbers[s]] for s in symbols) * _AMU_G
    volume_A3 = mass_g / density_g_cm3 / _A3_CM3
    edge = volume_A3 ** (1.0 / 3.0)
    cell = np.eye(3) * edge
    elements = list(counts)
    blmin = minimum_separations_A(elements, covalent_ratio)
    if max(blmin.values()) >= edge / 2:
        raise ValueError(f"cell edge {edge:.2f} Å too small for minimum separations {blmin}")
    order = rng.permutation(len(symbols))
    placed_pos = np.empty((len(symbols), 3))
    placed_sym: list[str] = []
    # per placed atom, the minimum distance it needs to each element
    need = {el: np.empty(len(symbols)) for el in elements}
    for k, idx in enumerate(order):
        symbol = symbols[idx]
        for _trial in range(max_trials_per_atom):
            trial = rng.random(3) @ cell
            if k == 0:
                break
            _, dist = get_distances(trial[None, :], placed_pos[:k], cell=cell, pbc=True)
            if np.all(dist[0] >= need[symbol][:k]):
                break
        else:
            raise LipsSimulationError(
                f"random_hard_sphere_cell: could not place atom {k + 1}/{len(symbols)} ({symbol}) after "
                f"{max_trials_per_atom} trials at {density_g_cm3} g/cm3; lower the density or covalent_ratio"
            )
        placed_pos[k] = trial
        placed_sym.append(symbol)
        for el in elements:
            need[el][k] = blmin[(el, symbol)]
    rank = {el: i for i, el in enumerate(elements)}
    sort = sorted(range(len(placed_sym)), key=lambda i: (rank[placed_sym[i]], i))
    atoms = Atoms([placed_sym[i] for i in sort], positions=placed_pos[sort], cell=cell, pbc=True)
    atoms.info["generator"] = (
        f"random hard spheres: seed={seed}, density={density_g_cm3} g/cm3, "
        f"min separation {covalent_ratio} x sum of ASE covalent radii"
    )
    return atoms


def most_isotropic_repeat(atoms: Atoms, n_cells: int) -> tuple[int, int, int]:
    """Repeat ``(na, nb, nc)`` with ``na·nb·nc = n_cells`` maximising the shortest perpendicular width.

    For the 42-atom Li7P3S11 reference cell: 16 cells → (2, 4, 2) (672 atoms, widths ≈ 23–25 Å).
    """
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    best, best_key = None, None
    for na in range(1, n_cells + 1):
        if n_cells % na:
            continue
        for nb in range(1, n_cells // na + 1):
            if (n_cells // na) % nb:
                continue
            nc = n_cells // (na * nb)
            sc = cell * np.array([[na], [nb], [nc]])
            widths = [volume * n_cells / np.linalg.norm(np.cross(sc[(i + 1) % 3], sc[(i + 2) % 3])) for i in range(3)]
            key = (min(widths), -max(widths))
            if best_key is None or key > best_key:
                best, best_key = (na, nb, nc), key
    assert best is not None
    return best


def supercell(atoms: Atoms, repeat: tuple[int, int, int] | int) -> Atoms:
    """``atoms`` repeated ``repeat`` times (a triple, or a number of cells → :func:`most_isotropic_repeat`).

    Per-atom arrays other than positions/numbers (forces, momenta from the pack file) are dropped, and
    so are ``info`` entries describing the unit cell's energies; ``info["supercell"]`` records the repeat.
    """
    if isinstance(repeat, int):
        repeat = most_isotropic_repeat(atoms, repeat)
    base = Atoms(atoms.get_chemical_symbols(), positions=atoms.positions, cell=atoms.cell, pbc=True)
    out = base.repeat(tuple(int(r) for r in repeat))
    out.info["supercell"] = list(repeat)
    return out


def perpendicular_widths_A(atoms: Atoms) -> list[float]:
    """Perpendicular widths of the cell (distances between opposite faces), Å."""
    cell = atoms.cell.array
    volume = abs(np.linalg.det(cell))
    return [float(volume / np.linalg.norm(np.cross(cell[(i + 1) % 3], cell[(i + 2) % 3]))) for i in range(3)]


def density_g_cm3(atoms: Atoms) -> float:
    """Mass density of ``atoms``, g/cm³."""
    return float(atoms.get_masses().sum() * _AMU_G / (atoms.get_volume() * _A3_CM3))
