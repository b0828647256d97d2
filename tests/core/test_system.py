"""The pack's system section: parsing, schema-1 inference, shipped packs by name, thresholds, probe cell,
and Task 1's E_f on the shipped LiPS pack against the paper's eq. 1."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from lips_testdata import lj, make_pack  # noqa: E402
from paper_eq1 import end_member_energy  # noqa: E402
from paper_eq1 import formation_energy_per_atom as eq1  # noqa: E402

from pytest_lips.errors import LipsDataError, LipsUsageError  # noqa: E402
from pytest_lips.models import probe_structure  # noqa: E402
from pytest_lips.reference import load_reference_pack  # noqa: E402
from pytest_lips.resources import default_pack_dir, reference_data_dir  # noqa: E402
from pytest_lips.system import (  # noqa: E402
    default_system,
    is_default_system,
    parse_system_section,
    read_pack_system,
    resolve_pack,
    shipped_packs,
)
from pytest_lips.tasks import task1_formation as task1  # noqa: E402
from pytest_lips.thresholds import default_thresholds  # noqa: E402

ARGYRODITE = reference_data_dir() / "pack-li6ps5cl"


def test_shipped_lips_system_is_what_the_tasks_used_to_hard_code():
    system = default_system()
    assert system.id == "lips" and system.elements == ("Li", "P", "S")
    assert (system.mobile_ion, system.mobile_ion_charge) == ("Li", 1)
    assert system.end_members == ("Li2S", "P2S5")
    assert system.end_member_counts() == {"Li2S": {"Li": 2, "S": 1}, "P2S5": {"P": 2, "S": 5}}
    assert system.task2_composition == system.task4_composition == {"Li": 7, "P": 3, "S": 11}
    assert system.task4_density_g_cm3 == 1.88
    assert system.sigma298_band_mS_cm == (17.0, 61.0) and system.sigma298_gated
    assert system.dataset["table1_totals"] == {"structures": 12525, "atoms": 531576}


def test_argyrodite_system_and_pending_slots():
    system = read_pack_system(ARGYRODITE)
    assert system.id == "li6ps5cl" and system.elements == ("Li", "P", "S", "Cl")
    assert system.end_members == ("Li2S", "P2S5", "LiCl") and not is_default_system(system)
    assert (
        system.sigma298_band_mS_cm is None and not system.sigma298_gated and "anion-ordered" in system.sigma298_reason
    )
    pack = load_reference_pack(ARGYRODITE)
    assert pack.system == system and pack.end_members["LiCl"] == "LiCl"


def test_shipped_packs_by_name():
    shipped = shipped_packs()
    assert shipped["lips-open-pbesol"] == default_pack_dir() and shipped["li6ps5cl-open-pbesol"] == ARGYRODITE
    assert resolve_pack("li6ps5cl-open-pbesol") == ARGYRODITE
    assert resolve_pack(str(ARGYRODITE)) == ARGYRODITE
    with pytest.raises(LipsUsageError, match="shipped packs: li6ps5cl-open-pbesol, lips-open-pbesol"):
        resolve_pack("no-such-pack")


def _section(**changes):
    raw = yaml.safe_load((default_pack_dir() / "manifest.yaml").read_text())["system"]
    out = copy.deepcopy(raw)
    for key, value in changes.items():
        path = key.split("__")
        target = out
        for part in path[:-1]:
            target = target[part]
        if value is None:
            target.pop(path[-1], None)
        else:
            target[path[-1]] = value
    return out


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"elements": None}, "system needs elements"),
        ({"elements": ["Li", "Xx"]}, "distinct chemical symbols"),
        ({"mobile_ion": {"element": "Na", "charge": 1}}, "mobile_ion.element 'Na' is not in system.elements"),
        ({"mobile_ion": {"element": "Li", "charge": 0}}, "non-zero integer"),
        ({"end_members": ["Li2S", "LiCl"]}, r"contains \['Cl'\], which are not in system.elements"),
        ({"task3__sigma298_band_mS_cm": None}, "sigma298_gated is true but sigma298_band_mS_cm is null"),
        ({"task3__sigma298_band_mS_cm": [61, 17]}, r"must be \[low, high\]"),
        ({"task3__sigma298_gated": False}, "give sigma298_reason"),
        ({"task4__density_g_cm3": -1}, "density_g_cm3 must be > 0"),
        ({"task2__composition": "Li7P3Q11"}, "not a chemical formula"),
    ],
)
def test_bad_system_section_is_one_line_naming_the_key(changes, match):
    with pytest.raises(LipsDataError, match=match):
        parse_system_section(_section(**changes), "pack/manifest.yaml")


def test_schema1_pack_loads_with_the_lips_chemistry_and_a_note(tmp_path):
    make_pack(tmp_path, lj(epsilon=0.06, sigma=2.05))  # written without a system section: schema_version 1
    assert yaml.safe_load((tmp_path / "manifest.yaml").read_text())["schema_version"] == 1
    pack = load_reference_pack(tmp_path)
    assert pack.system.elements == ("Li", "P", "S") and pack.system.end_members == ("Li2S", "P2S5")
    assert "schema_version 1 pack" in pack.system.note and "inferred" in pack.system.note
    assert pack.task1_entry("Li7P3S11").properties == {"x_Li2S": 0.7}  # kept, informative only


def test_schema2_without_system_section_is_an_error(tmp_path):
    make_pack(tmp_path, lj(epsilon=0.06, sigma=2.05))
    raw = yaml.safe_load((tmp_path / "manifest.yaml").read_text())
    raw["schema_version"] = 2
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(LipsDataError, match="schema_version 2 needs a system section"):
        load_reference_pack(tmp_path)


def test_pack_thresholds_sit_between_the_shipped_file_and_the_user():
    lips = default_thresholds()
    assert lips["task3.sigma298_min"].value == 17.0 and lips["task3.sigma298_max"].value == 61.0
    assert lips["task3.sigma298_min"].origin == "pack" and "17 mS/cm" in lips["task3.sigma298_min"].source
    assert lips["task3.sigma298_max"].metric == "task3.sigma298"
    argy = default_thresholds(read_pack_system(ARGYRODITE))
    assert "task3.sigma298_min" not in argy.as_dict() and argy["task1.ef_rmse_relaxed"].origin == "pack"
    argy.update_from_pairs(["task1.ef_rmse_relaxed=7"], origin="cli")  # the user's layers still win
    assert argy["task1.ef_rmse_relaxed"].value == 7.0 and argy["task1.ef_rmse_relaxed"].origin == "cli"


def _old_probe():
    """The probe cell as pytest-lips built it before the system section (every LiPS fingerprint rests on it)."""
    from ase.build import bulk

    atoms = bulk("SLi2", "fluorite", a=5.72, cubic=True)
    symbols = atoms.get_chemical_symbols()
    symbols[symbols.index("S")] = "P"
    atoms.set_chemical_symbols(symbols)
    return atoms


def test_probe_cell_of_the_lips_system_is_unchanged_bit_for_bit():
    old = _old_probe()
    for new in (probe_structure(), probe_structure(("Li", "P", "S"))):
        assert np.array_equal(new.numbers, old.numbers)
        assert np.array_equal(new.positions, old.positions) and np.array_equal(new.cell.array, old.cell.array)
        assert np.array_equal(new.pbc, old.pbc)


def test_probe_cell_holds_every_element_of_other_systems():
    cell = probe_structure(("Li", "P", "S", "Cl"))
    assert set(cell.get_chemical_symbols()) == {"Li", "P", "S", "Cl"} and len(cell) == 12
    assert set(probe_structure(("Na", "Cl")).get_chemical_symbols()) == {"Na", "Cl"}


def test_task1_ef_on_the_shipped_pack_equals_eq1():
    """The shipped LiPS pack's DFT formation energies: composition balance (plugin) = eq. 1 (paper) to 1e-12."""
    pack = load_reference_pack()
    entries = pack.task1_entries(include_unavailable=False)
    ref = task1.reference_energies(entries, pack.system.end_member_counts())
    balanced = task1.formation_energies(ref, pack.end_members, pack.system.end_member_counts())
    li2s, p2s5 = ref[pack.end_members["Li2S"]], ref[pack.end_members["P2S5"]]
    e_li2s = end_member_energy(li2s["energy_eV"], li2s["counts"], "Li2S")
    e_p2s5 = end_member_energy(p2s5["energy_eV"], p2s5["counts"], "P2S5")
    assert len(balanced) >= 7
    for name, r in ref.items():
        expected = eq1(r["energy_eV"], r["counts"], e_li2s, e_p2s5, name)
        scale = abs(r["energy_eV"]) / r["n_atoms"]  # machine precision on the scale of the energies (~4 eV/atom)
        assert balanced[name] == pytest.approx(expected, rel=1e-12, abs=1e-12 * scale), name


def test_task4_cells_take_the_pack_composition_and_density():
    from collections import Counter

    from ase.calculators.lj import LennardJones

    from pytest_lips.profiles import load_profile
    from pytest_lips.tasks import task4_robustness as task4

    raw = task4.Task4Protocol.from_section(load_profile("smoke").section("task4"))
    assert raw.density_g_cm3 is None  # the profile leaves the density to the pack
    lips = task4.for_system(raw)
    assert (lips.n_atoms, lips.density_g_cm3) == (42, 1.88)  # the LiPS protocol (and its keys) as before
    argy_system = read_pack_system(ARGYRODITE)
    argy = task4.for_system(raw, argy_system)
    assert argy.n_atoms == 39 and argy.density_g_cm3 == pytest.approx(1.865)
    run = task4.plan_runs(argy, seed=0)[0]
    protocol = task4.Task4Protocol(n_atoms=39, relax_max_steps=0, temperatures_K=(1000.0,), pressures_Pa=(1e8,))
    start = task4.prepare_start(run, protocol, LennardJones(sigma=2.0, epsilon=0.01, rc=4.0), argy_system)
    assert Counter(start["symbols"]) == {"Li": 18, "P": 3, "S": 15, "Cl": 3}
    volume = abs(np.linalg.det(np.array(start["cell"])))
    from ase import Atoms

    mass_g = Atoms(start["symbols"]).get_masses().sum() * 1.66053906660e-24
    assert mass_g / (volume * 1e-24) == pytest.approx(1.865, rel=1e-6)
