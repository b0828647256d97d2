"""The reference-pack generator's pure parts (``reference_data/build``), without GPAW.

The GPAW jobs themselves are checked by the shipped records (``reproduce.py``); here: the hull, the
Task-2 labelling order, the data-file split, the HT-Li7PS6 Li ordering and the two-phase relaxation loop
(driven by EMT instead of DFT).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

BUILD = Path(__file__).resolve().parents[2] / "reference_data" / "build"
sys.path.insert(0, str(BUILD))

import build_pack  # noqa: E402
import manifest  # noqa: E402
import settings  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from paper_eq1 import formation_energy_per_atom  # noqa: E402  (the paper's eq. 1, tests/analysis/paper_eq1.py)

from pytest_lips.reference import load_reference_pack  # noqa: E402


def test_energy_above_hull_analytic():
    # A(0,0), B(1,0) end members; C(0.5,-0.1) on the hull; D(0.75, 0) lies 0.05 above the C-B facet
    pts = {"A": (0.0, 0.0), "B": (1.0, 0.0), "C": (0.5, -0.1), "D": (0.75, 0.0), "E": (0.25, -0.02)}
    e = manifest.energy_above_hull(pts)
    assert e["A"] == pytest.approx(0.0, abs=1e-12) and e["B"] == pytest.approx(0.0, abs=1e-12)
    assert e["C"] == pytest.approx(0.0, abs=1e-12)
    assert e["D"] == pytest.approx(0.05)
    assert e["E"] == pytest.approx(-0.02 + 0.05)  # the A-C facet is at -0.05 at x = 0.25


def test_energy_above_hull_end_members_only():
    assert manifest.energy_above_hull({"A": (0.0, 0.0), "B": (1.0, 0.0)}) == pytest.approx({"A": 0.0, "B": 0.0})


def test_task2_labelling_order_covers_every_regime_early():
    order = build_pack.interleaved(24)
    assert sorted(order) == list(range(24))
    regime = [i // 8 for i in order]  # 0-7 crystal, 8-15 liquid, 16-23 amorphous
    assert sorted(regime[:3]) == [0, 1, 2]
    assert sorted(regime[:6]) == [0, 0, 1, 1, 2, 2]
    assert set(settings.TASK2_CROSSCHECK_INDICES) <= set(order[:6])


def test_frame_split_is_stable_and_80_10_10():
    ids = [f"P2S5/{k}" for k in range(2000)]
    first = [manifest.frame_split(i) for i in ids]
    assert first == [manifest.frame_split(i) for i in ids]
    counts = {s: first.count(s) for s in ("train", "val", "test")}
    assert abs(counts["train"] / 2000 - 0.8) < 0.03 and abs(counts["test"] / 2000 - 0.1) < 0.02


def test_pack_formation_energies_match_the_plugin():
    """The pack README's E_f (generator) against pytest_lips.analysis.formation (plugin), same energies."""
    pack = load_reference_pack()
    ready = {e.name: e for e in pack.task1 if e.available}
    if not {"Li2S", "P2S5"} <= set(ready):
        pytest.skip("P2S5 or Li2S not yet relaxed in the default pack")
    gen = manifest.formation_energies()
    e_li2s = ready["Li2S"].atoms().get_potential_energy() / len(ready["Li2S"].atoms())
    e_p2s5 = ready["P2S5"].atoms().get_potential_energy() / len(ready["P2S5"].atoms())
    for name, entry in ready.items():
        atoms = entry.atoms()
        ef = formation_energy_per_atom(
            atoms.get_potential_energy(), Counter(atoms.get_chemical_symbols()), e_li2s * 3, e_p2s5 * 7
        )
        assert gen[name]["ef_eV_atom"] == pytest.approx(ef, abs=1e-9), name


def test_ht_li7ps6_ordering_has_no_short_li_li_pair():
    src = settings.SHARED_STRUCTURES / "HT-Li7PS6_ordered_approx.vasp"
    if not src.exists():
        pytest.skip(f"starting structure {src} not on this machine")
    import prepare
    from ase.io import read

    atoms, info = prepare.order_ht_li7ps6(read(src))
    assert atoms.get_chemical_formula() == read(src).get_chemical_formula()
    assert prepare.min_li_li(atoms) >= 2.0
    assert info["li_li_pairs_below_2.0_2.3_2.6_3.0_A"][0] == 0


def test_two_phase_relaxation_with_emt(tmp_path):
    """Strained, rattled Cu: the loop starts in the cell phase, hands over to positions only, converges,
    and writes every step as a labelled frame."""
    import relax
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.io import read

    atoms = bulk("Cu", cubic=True) * (2, 2, 2)
    atoms.set_cell(atoms.cell[:] * 1.03, scale_atoms=True)
    atoms.rattle(0.05, seed=3)
    atoms.calc = EMT()
    steps = tmp_path / "steps.extxyz"
    converged_by = relax.two_phase_bfgs(atoms, [], steps, 200, 0.03, {"name": "Cu"}, tmp_path / "opt.log")
    frames = read(steps, index=":")
    modes = [f.info["relax_mode"] for f in frames]
    assert converged_by.startswith("fmax"), converged_by
    assert modes[0] == "cell" and "positions" in modes
    last = frames[-1]
    assert last.info["fmax_atoms_eV_A"] < 0.03 and last.info["max_stress_GPa"] <= settings.RELAX_CELL_STRESS_GPa
    assert np.allclose(last.get_forces(), atoms.get_forces(), atol=1e-3)
    assert [f.info["step"] for f in frames] == list(range(len(frames)))
    assert relax.without_repeats(frames) == frames


def test_repeated_relaxation_frames_are_dropped():
    """A step at which the optimiser did not move (failed line search) repeats the frame before it."""
    import relax
    from ase.build import bulk

    a = bulk("Li", cubic=True) * (2, 1, 1)
    b = a.copy()
    b.positions[0, 0] += 0.01
    c = b.copy()
    c.set_cell(c.cell[:] * 1.001)
    frames = [a, a.copy(), b, b.copy(), b.copy(), c, a.copy()]
    kept = relax.without_repeats(frames)
    assert [id(f) for f in kept] == [id(frames[i]) for i in (0, 2, 5, 6)]
    assert relax.same_geometry(b, b.copy()) and not relax.same_geometry(b, c) and not relax.same_geometry(a, b)
    assert [f.info["step"] for f in relax._renumbered(kept)] == [0, 1, 2, 3]


def _distorted_cu():
    """Cu (EMT) with two atoms pushed apart along x: off its minimum, with a mirror symmetry to keep."""
    from ase.build import bulk

    a = bulk("Cu", cubic=True) * (2, 1, 1)
    a.positions[0, 0] += 0.15
    a.positions[4, 0] -= 0.15
    return a


def test_chgnet_leg_relaxes_positions_at_fixed_cell_and_symmetry():
    """advance.advance_positions with EMT standing in for CHGNet: lower energy by exactly the reported
    drop, forces below the target, cell and space group unchanged."""
    pytest.importorskip("spglib")
    import advance
    import spglib
    from ase.calculators.emt import EMT

    start = _distorted_cu()

    def spacegroup(a):
        return spglib.get_spacegroup((a.cell[:], a.get_scaled_positions(), a.numbers), symprec=1e-4)

    ref = start.copy()
    ref.calc = EMT()
    e_start = ref.get_potential_energy()
    end, info = advance.advance_positions(start, EMT(), fmax_eV_A=0.01)
    check = end.copy()
    check.calc = EMT()
    assert info["converged"] and info["steps"] > 0
    assert info["energy_drop_eV"] == pytest.approx(e_start - check.get_potential_energy(), abs=1e-9)
    assert info["energy_drop_eV"] > 1e-3
    assert np.abs(check.get_forces()).max() < 0.01 + 1e-6
    assert np.allclose(end.cell[:], start.cell[:]) and spacegroup(end) == spacegroup(start)
    assert info["max_displacement_A"] == pytest.approx(np.linalg.norm(end.positions - start.positions, axis=1).max())


def test_relaxation_continues_from_the_chgnet_leg(tmp_path, monkeypatch):
    """relax.advanced_start hands back the CHGNet end only while the last PBEsol step is where the leg
    started; two_phase_bfgs then writes that geometry as the next step instead of skipping it."""
    import relax
    from ase.calculators.emt import EMT
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.io import read, write

    monkeypatch.setattr(relax, "PACK_DIR", tmp_path)
    first = _distorted_cu()
    first.positions[1, 1] += 0.05
    last = _distorted_cu()
    end = last.copy()
    end.positions[0, 0] -= 0.1
    end.positions[4, 0] += 0.1
    frames = []
    for i, a in enumerate((first, last)):
        f = a.copy()
        f.calc = SinglePointCalculator(f, energy=0.0, forces=np.zeros((len(f), 3)), stress=np.zeros(6))
        f.info.update(step=i, relax_mode="positions")
        frames.append(f)
    assert relax.advanced_start("Cu", frames) is None  # no leg written yet
    relax.advance_path("Cu").parent.mkdir(parents=True)
    write(relax.advance_path("Cu"), [last, end], format="extxyz")
    assert relax.same_geometry(relax.advanced_start("Cu", frames), end)
    assert relax.advanced_start("Cu", frames[:1]) is None  # the leg did not start from that step

    steps = tmp_path / "steps.extxyz"
    write(steps, frames, format="extxyz")
    atoms = end.copy()
    atoms.calc = EMT()
    relax.two_phase_bfgs(
        atoms, frames, steps, 3, 0.03, {"name": "Cu"}, tmp_path / "opt.log", atoms_are_last_frame=False
    )
    written = read(steps, index=":")
    assert len(written) > 2 and written[2].info["step"] == 2
    assert relax.same_geometry(written[2], end)


def test_first_cell_step_is_the_elastic_one():
    """With relax.cell_factor, BFGS's first UnitCellFilter step on a uniformly strained crystal (no atomic
    forces) is strain = -stress / RELAX_CELL_STIFFNESS_GPa, component by component."""
    import relax
    from ase.build import bulk
    from ase.calculators.emt import EMT
    from ase.filters import UnitCellFilter
    from ase.optimize import BFGS
    from ase.units import GPa

    atoms = bulk("Cu", cubic=True) * (2, 2, 2)
    atoms.set_cell(atoms.cell[:] @ np.diag([1.01, 1.0, 0.995]), scale_atoms=True)
    atoms.calc = EMT()
    stress_GPa = atoms.get_stress(voigt=False) / GPa
    cell0 = atoms.cell[:].copy()
    cf = relax.cell_factor(atoms)
    assert cf == pytest.approx(
        (atoms.get_volume() * settings.RELAX_CELL_STIFFNESS_GPa * GPa / settings.BFGS_ALPHA_eV_A2) ** 0.5
    )
    opt = BFGS(UnitCellFilter(atoms, cell_factor=cf), alpha=settings.BFGS_ALPHA_eV_A2, maxstep=1.0, logfile=None)
    opt.run(fmax=1e-6, steps=1)
    strain = np.linalg.solve(cell0, atoms.cell[:]) - np.eye(3)
    expected = -stress_GPa / settings.RELAX_CELL_STIFFNESS_GPa
    assert np.abs(expected).max() > 1e-3  # the check is not trivially zero
    assert np.allclose(strain, expected, atol=2e-3 * np.abs(expected).max())


def test_training_sets_are_labelled_cheap_cells_first(tmp_path, monkeypatch):
    import train_frames
    from ase.build import bulk
    from ase.io import write

    monkeypatch.setattr(train_frames, "CANDIDATES", tmp_path / "candidates")
    monkeypatch.setattr(train_frames, "LABELLED", tmp_path / "dft")
    atoms = bulk("Cu")
    for s in reversed(train_frames.TRAIN_SETS):  # written in the opposite order: the order must not follow files
        (tmp_path / "candidates").mkdir(exist_ok=True)
        write(tmp_path / "candidates" / f"{s.set_id}.extxyz", [atoms] * 2, format="extxyz")
    first = train_frames.TRAIN_SETS[0]
    (tmp_path / "dft" / first.set_id).mkdir(parents=True)
    for k in range(2):  # the first set fully labelled: no longer pending
        write(tmp_path / "dft" / first.set_id / f"{k:03d}.extxyz", atoms, format="extxyz")
    expected = [s.set_id for s in train_frames.TRAIN_SETS[1:]]
    assert train_frames.pending_sets() == expected
    small = train_frames.pending_sets(build_pack.SMALL)
    assert small == [s.set_id for s in train_frames.TRAIN_SETS[1:] if s.name in build_pack.SMALL]
    assert "md-Li7P3S11" in expected and "md-Li7P3S11" not in small


def test_decomposition_balances_the_formulas():
    import reactions

    assert reactions.decomposition("Li7P3S11", ["Li3PS4", "P2S5"]) == pytest.approx({"Li3PS4": 7 / 3, "P2S5": 1 / 3})
    assert reactions.decomposition("Li3PS4", ["Li2P2S6", "Li2S"]) == pytest.approx({"Li2P2S6": 0.5, "Li2S": 1.0})
    with pytest.raises(ValueError, match="cannot balance"):
        reactions.decomposition("Li3PS4", ["Li2S"])  # no P


def test_energy_relative_to_mixture_by_atom_fractions():
    import reactions

    # Li7P3S11 (21 atoms) = 7/3 Li3PS4 (56/3 atoms) + 1/3 P2S5 (7/3 atoms): atom fractions 8/9 and 1/9
    e_t, e_g, e_p = -4.55, -4.57302, -4.89765
    expected = 1000 * (e_t - (8 / 9 * e_g + 1 / 9 * e_p))
    got = reactions.energy_relative_to_meV_atom("Li7P3S11", e_t, {"Li3PS4": e_g, "P2S5": e_p})
    assert got == pytest.approx(expected)
    # a target made of its own products is at zero
    assert reactions.energy_relative_to_meV_atom("Li3PS4", -4.6, {"Li3PS4": -4.6}) == pytest.approx(0.0, abs=1e-9)


def test_relaxation_phase_hand_over_has_hysteresis():
    import relax

    limit, reentry = settings.RELAX_CELL_STRESS_GPa, settings.RELAX_CELL_REENTRY
    assert relax.phase_after_step("cell", 1.01 * limit, 0.5, 0.03) == "cell"
    assert relax.phase_after_step("cell", 0.99 * limit, 0.5, 0.03) == "positions"
    # positions: a stress a little above the limit is tolerated while the atoms still move ...
    assert relax.phase_after_step("positions", 1.1 * limit, 0.5, 0.03) == "positions"
    assert relax.phase_after_step("positions", 1.01 * reentry * limit, 0.5, 0.03) == "cell"
    # ... but not once they are converged: then the cell has to move
    assert relax.phase_after_step("positions", 1.1 * limit, 0.01, 0.03) == "cell"
    assert relax.phase_after_step("positions", 0.9 * limit, 0.01, 0.03) == "positions"


def test_crosscheck_difference_against_hand_computed_values():
    import readme
    from ase import Atoms, units
    from ase.calculators.singlepoint import SinglePointCalculator

    n = 4
    base = Atoms("Li2PS", positions=np.arange(3 * n).reshape(n, 3) * 0.9, cell=[6.0] * 3, pbc=True)
    f = np.zeros((n, 3))
    df = np.zeros((n, 3))
    df[0, 0], df[2, 1] = 0.3, -0.4  # RMSE = sqrt((0.09 + 0.16) / 12)
    s = np.array([0.01, 0.0, -0.02, 0.0, 0.0, 0.001])  # eV/Å^3 (ASE Voigt order)
    ds = np.array([0.0, 0.0, 0.0, 0.0, -2.0, 0.0]) * units.GPa  # -2 GPa on one component
    prod, tight = base.copy(), base.copy()
    prod.calc = SinglePointCalculator(prod, energy=-10.0, forces=f + df, stress=s + ds)
    tight.calc = SinglePointCalculator(tight, energy=-10.008, forces=f, stress=s)
    d = readme.crosscheck_difference(prod, tight)
    assert d["force_rmse_eV_A"] == pytest.approx(np.sqrt(0.25 / 12))
    assert d["force_max_abs_eV_A"] == pytest.approx(0.4)
    assert d["dE_meV_atom"] == pytest.approx(2.0)  # +8 meV over 4 atoms
    assert d["stress_max_abs_GPa"] == pytest.approx(2.0, rel=1e-6)


def test_crosschecks_run_as_one_gpaw_job_for_the_labelled_snapshots(monkeypatch):
    calls = []
    labelled = {0, 20}  # production labels exist; 12 not yet
    monkeypatch.setattr(build_pack, "gpaw_job", lambda *args: calls.append(args) or 0)
    monkeypatch.setattr(build_pack, "stage_manifest", lambda: None)
    monkeypatch.setattr(build_pack, "task2_out", lambda i, tight: _Exists(not tight and i in labelled))
    monkeypatch.setattr(build_pack, "TASK2_CROSSCHECK_INDICES", (0, 12, 20))
    build_pack.stage_crosscheck()
    assert calls == [("crosscheck", "0", "20")]
    calls.clear()
    monkeypatch.setattr(build_pack, "task2_out", lambda i, tight: _Exists(True))  # all done: nothing to run
    build_pack.stage_crosscheck()
    assert calls == []


class _Exists:
    def __init__(self, value: bool):
        self.value = value

    def exists(self) -> bool:
        return self.value


def test_lt_li7ps6_slot_has_open_coordinates_and_is_relaxed_like_ht():
    lt = settings.crystal("LT-Li7PS6")
    assert lt.source is not None and lt.source.startswith("open-dft/")
    assert not lt.extrapolation  # the paper's training-distribution set: gated with the other crystals
    assert "LT-Li7PS6" in build_pack.BIG and "LT-Li7PS6" in settings.PRERELAX_NAMES
    assert lt.x_Li2S == settings.crystal("HT-Li7PS6").x_Li2S == 0.875


def test_lt_vs_ht_difference_and_missing_slots_sentence():
    import readme

    form = {"LT-Li7PS6": {"ef_eV_atom": -0.0300}, "HT-Li7PS6": {"ef_eV_atom": -0.0128}}
    assert readme.lt_vs_ht_meV_atom(form) == pytest.approx(-17.2)
    assert readme.lt_vs_ht_meV_atom({"HT-Li7PS6": {"ef_eV_atom": -0.0128}}) is None
    text = readme.missing_slots_text()
    missing = [c.name for c in settings.CRYSTALS if c.source is None]
    assert all(name in text for name in missing) and "LT-Li7PS6" not in text
    assert "x = 2/3" in text  # Li4P2S7


def test_shipped_manifest_system_section_is_the_generators():
    """Regenerating the LiPS pack keeps its system section (the data set's facts included): the shipped
    manifest holds exactly what manifest.system_section() writes, and the plugin reads its data set from it."""
    import yaml

    from pytest_lips.data import default_data_set

    shipped = yaml.safe_load((BUILD.parent / "pack" / "manifest.yaml").read_text(encoding="utf-8"))
    assert shipped["system"] == manifest.system_section()
    spec = default_data_set()
    assert spec.name == manifest.DATASET["name"] and list(spec.categories) == manifest.DATASET["categories"]
    assert [list(r) for r in spec.category_rules] == [
        [r["category"], r["pattern"]] for r in manifest.DATASET["category_rules"]
    ]
