"""The argyrodite pack's generator parts that need no GPAW: the starting structure built from Wyckoff sites,
formation energies by composition balance and the hull over the Li2S–P2S5–LiCl triangle."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

BUILD = Path(__file__).resolve().parents[2] / "reference_data" / "build"
sys.path.insert(0, str(BUILD))

import manifest  # noqa: E402
import manifest_li6ps5cl as argy  # noqa: E402
import prepare  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from paper_eq1 import formation_energy_per_atom  # noqa: E402  (the paper's eq. 1, tests/analysis/paper_eq1.py)


def test_argyrodite_start_is_li6ps5cl_with_argyrodite_geometry():
    atoms, info = prepare.build_argyrodite()
    assert Counter(atoms.get_chemical_symbols()) == {"Li": 6, "P": 1, "S": 5, "Cl": 1}
    assert info["n_48h_sites"] == 12
    d = atoms.get_all_distances(mic=True)
    sym = np.array(atoms.get_chemical_symbols())
    p_s = d[np.ix_(sym == "P", sym == "S")]
    assert np.sort(p_s.ravel())[:4] == pytest.approx([2.047] * 4, abs=2e-3)  # the PS4 tetrahedron
    li = sym == "Li"
    li_li = d[np.ix_(li, li)][np.triu_indices(6, 1)]
    assert li_li.min() == pytest.approx(info["min_li_li_A"], abs=1e-3)
    assert li_li.min() > 2.2  # one Li of each 1.8 Å 48h pair
    # every Li has its 3 S + 1 Cl tetrahedron within 2.7 Å
    near = (d[li][:, ~li] < 2.7).sum(axis=1)
    assert (near == 4).all()
    # the cubic cell is 4 primitive cells with the density of the input
    assert atoms.get_volume() == pytest.approx(prepare.ARGYRODITE_A**3 / 4)


def test_argyrodite_ordering_is_the_exhaustive_optimum():
    """Independent check of the 6-of-12 choice: no other choice has fewer pairs below 2.3 Å and a larger minimum."""
    import itertools

    from ase.spacegroup import crystal

    x, z = prepare.ARGYRODITE_LI48H_XZ
    s = prepare.ARGYRODITE_S16E_X
    conv = crystal(["Li"], basis=[(x, x, z)], spacegroup=216, cellpar=[prepare.ARGYRODITE_A] * 3 + [90] * 3)
    prim = prepare._fcc_primitive(conv)
    assert len(prim) == 12
    d = prim.get_all_distances(mic=True)
    best_min = max(
        d[np.ix_(c, c)][np.triu_indices(6, 1)].min()
        for c in itertools.combinations(range(12), 6)
        if (d[np.ix_(c, c)][np.triu_indices(6, 1)] < 2.3).sum() <= 2
    )
    atoms, info = prepare.build_argyrodite()
    assert info["li_li_pairs_below_2.3_2.6_3.0_A"][0] == min(
        int((d[np.ix_(c, c)][np.triu_indices(6, 1)] < 2.3).sum()) for c in itertools.combinations(range(12), 6)
    )
    assert info["min_li_li_A"] == pytest.approx(best_min, abs=1e-3)
    assert s == 0.62


def test_end_member_fractions_reproduce_eq1_to_machine_precision():
    """On the Li2S–P2S5 line the composition balance is the paper's eq. 1 (y = 3x / (7 - 4x))."""
    ends = {"Li2S": "Li2S", "P2S5": "P2S5"}
    for formula, x in (("Li7P3S11", 0.7), ("Li3PS4", 0.75), ("Li2P2S6", 0.5), ("Li7PS6", 0.875), ("Li4P2S7", 2 / 3)):
        frac = argy.end_member_fractions(formula, ends, ("Li", "P", "S"))
        assert frac["Li2S"] == pytest.approx(3 * x / (7 - 4 * x), rel=1e-12, abs=1e-14)
        assert frac["Li2S"] + frac["P2S5"] == pytest.approx(1.0, rel=1e-12)


def test_argyrodite_decomposes_into_li2s_p2s5_licl():
    frac = argy.end_member_fractions("Li6PS5Cl", {n: n for n in argy.END_MEMBERS}, argy.ELEMENTS)
    # Li6PS5Cl = 2.5 Li2S + 0.5 P2S5 + LiCl: 7.5, 3.5 and 2 of its 13 atoms
    assert frac == pytest.approx({"Li2S": 7.5 / 13, "P2S5": 3.5 / 13, "LiCl": 2 / 13}, rel=1e-12)


def test_composition_outside_the_end_members_is_refused():
    with pytest.raises(ValueError, match="not a combination"):
        argy.end_member_fractions("PS2", {"Li2S": "Li2S", "LiCl": "LiCl"}, argy.ELEMENTS)
    with pytest.raises(ValueError, match="outside the pack"):
        argy.composition_vector("Li3N", argy.ELEMENTS)


def test_formation_energies_match_the_plugin_and_the_1d_hull():
    """Made-up energies per atom: E_f from the plugin's eq. 1, the hull from the LiPS generator's 1-D hull."""
    e = {"Li2S": -4.1, "P2S5": -5.3, "LiCl": -3.8, "Li3PS4": -4.9, "Li7P3S11": -4.75, "Li7PS6": -4.45}
    formulas = {n: n for n in e}
    out = argy.formation_energies(e, formulas)
    y_of = {}
    for n in ("Li3PS4", "Li7P3S11", "Li7PS6"):
        c = Counter({k: v for k, v in argy.Formula(n).count().items()})
        natoms = sum(c.values())
        ef = formation_energy_per_atom(e[n] * natoms, c, e["Li2S"] * 3, e["P2S5"] * 7)
        assert out[n]["ef_eV_atom"] == pytest.approx(ef, abs=1e-12)
        y_of[n] = out[n]["end_member_atom_fractions"]["Li2S"]
    line = {n: (y_of.get(n, 1.0 if n == "Li2S" else 0.0), out[n]["ef_eV_atom"]) for n in ("Li2S", "P2S5", *y_of)}
    hull_1d = manifest.energy_above_hull(line)
    for n in line:
        assert out[n]["e_above_hull_eV_atom"] == pytest.approx(hull_1d[n], abs=1e-9), n
    assert out["LiCl"]["e_above_hull_eV_atom"] == pytest.approx(0.0, abs=1e-12)


def test_argyrodite_above_a_stable_mixture_has_positive_hull_energy():
    e = {"Li2S": -4.0, "P2S5": -5.0, "LiCl": -3.5, "Li3PS4": -4.6}
    # Li6PS5Cl = Li3PS4 + Li2S + LiCl (8 + 3 + 2 of 13 atoms); put it 10 meV/atom above that mixture
    base = argy.formation_energies(e, {n: n for n in e})
    frac = argy.end_member_fractions("Li6PS5Cl", {n: n for n in argy.END_MEMBERS}, argy.ELEMENTS)
    mix = sum(f * e[n] for n, f in frac.items())
    # the lowest mixture at its composition: 8/13 Li3PS4 + 3/13 Li2S + 2/13 LiCl (E_f 0 for the end members)
    li3ps4_ef = base["Li3PS4"]["ef_eV_atom"]
    hull_at = 8 / 13 * li3ps4_ef
    e["Li6PS5Cl"] = mix + hull_at + 0.010
    out = argy.formation_energies(e, {n: n for n in e})
    assert out["Li6PS5Cl"]["e_above_hull_eV_atom"] == pytest.approx(0.010, abs=1e-9)
