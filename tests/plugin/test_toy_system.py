"""A third material system brought by data alone: a tiny Cu–Au pack written here, labelled by ASE's EMT.

Nothing in pytest_lips/ knows Cu or Au: the manifest's ``system`` section (elements, mobile ion, end
members, thresholds) and the Task 1 entries are enough for the plugin to run Task 1 on it, name the
system in node ids and summary, and compute E_f relative to the pack's end members.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml
from ase import Atoms
from ase.build import bulk
from ase.calculators.emt import EMT
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

from pytest_lips.reference import write_manifest

MODEL_MODULE = '''
from ase.calculators.lj import LennardJones


def make():
    """The "model under test": one Lennard-Jones pair term for every element pair."""
    return LennardJones(sigma=2.35, epsilon=0.12, rc=6.0, smooth=True)
'''


def _l12(a: float) -> Atoms:  # Cu3Au (L1_2): Au on the cube corner, Cu on the face centres
    return Atoms(
        "AuCu3", scaled_positions=[[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]], cell=[a] * 3, pbc=True
    )


def _l10(a: float, c: float) -> Atoms:  # CuAu (L1_0): alternating (001) planes
    return Atoms(
        "Cu2Au2", scaled_positions=[[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]], cell=[a, a, c], pbc=True
    )


TOY_CRYSTALS = {
    "Cu": (lambda: bulk("Cu", "fcc", a=3.61, cubic=True), "end_member"),
    "Au": (lambda: bulk("Au", "fcc", a=4.08, cubic=True), "end_member"),
    "Cu3Au": (lambda: _l12(3.75), "crystal"),
    "CuAu": (lambda: _l10(3.96, 3.72), "crystal"),
}


def write_toy_pack(root: Path) -> dict[str, float]:
    """The Cu-Au pack (EMT "DFT" labels) in ``root``; returns E_f (eV/atom) by hand, per crystal."""
    structures, energies = [], {}
    for name, (build, role) in TOY_CRYSTALS.items():
        atoms = build()
        atoms.calc = EMT()
        labelled = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=True)
        labelled.calc = SinglePointCalculator(
            labelled, energy=atoms.get_potential_energy(), forces=atoms.get_forces(), stress=atoms.get_stress()
        )
        energies[name] = atoms.get_potential_energy() / len(atoms)
        path = root / "task1" / f"{name}.extxyz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, labelled, format="extxyz")
        structures.append({"name": name, "formula": name, "role": role, "status": "ok", "file": f"task1/{name}.extxyz"})
    write_manifest(
        root,
        {
            "schema_version": 2,
            "name": "toy-cuau-emt",
            "version": "1",
            "method": {"code": "ASE EMT (a toy labeller)"},
            "units": {"energy": "eV", "forces": "eV/Å"},
            "files": [],
            "system": {
                "id": "cuau",
                "name": "Cu-Au toy alloy",
                "elements": ["Cu", "Au"],
                "mobile_ion": {"element": "Cu", "charge": 1},
                "end_members": ["Cu", "Au"],
                "task4": {"composition": "Cu3Au", "density_g_cm3": 12.0},
                "thresholds": {
                    "task1.ef_rmse_single_point": {"value": 5000.0, "source": "toy pack: loose, to pass"},
                    "task1.ef_rmse_relaxed": {"value": 0.001, "source": "toy pack: tight, to fail"},
                },
            },
            "task1": {"end_members": {"Cu": "Cu", "Au": "Au"}, "structures": structures},
        },
    )
    # by hand: E_f = E/atom - x_Cu E_Cu/atom - x_Au E_Au/atom (fcc end members, 1 atom per formula unit)
    return {
        "Cu3Au": energies["Cu3Au"] - 0.75 * energies["Cu"] - 0.25 * energies["Au"],
        "CuAu": energies["CuAu"] - 0.5 * energies["Cu"] - 0.5 * energies["Au"],
    }


def _model_ef() -> dict[str, float]:
    """E_f of the model (single points on the pack's structures), computed without the plugin."""
    exec_ns: dict = {}
    exec(MODEL_MODULE, exec_ns)
    e = {}
    for name, (build, _role) in TOY_CRYSTALS.items():
        atoms = build()
        atoms.calc = exec_ns["make"]()
        e[name] = atoms.get_potential_energy() / len(atoms)
    return {
        "Cu3Au": e["Cu3Au"] - 0.75 * e["Cu"] - 0.25 * e["Au"],
        "CuAu": e["CuAu"] - 0.5 * e["Cu"] - 0.5 * e["Au"],
    }


def test_toy_system_runs_task1_through_the_manifest_alone(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pack = tmp_path / "toy-pack"
    ef_dft = write_toy_pack(pack)
    ef_model = _model_ef()
    expected_rmse = 1000.0 * math.sqrt(np.mean([(ef_model[n] - ef_dft[n]) ** 2 for n in ef_dft]))
    assert expected_rmse > 1.0  # the model differs from the labeller: the metric measures something
    pytester.makepyfile(toy_model=MODEL_MODULE)
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess(
        "--lips-model=toy_model:make",
        f"--lips-reference={pack}",
        "--lips-profile=smoke",
        "--lips-tasks=task1",
        f"--lips-report={report}",
        f"--lips-cache-dir={tmp_path / 'cache'}",
        "-v",
        "-p",
        "no:cacheprovider",
    )
    out = result.stdout.str()
    # node ids name the system; the header names it too
    result.stdout.fnmatch_lines(
        [
            "*pytest-lips system: Cu-Au toy alloy*",
            "*lips/cuau/test_task1.py::test_task1_ef_rmse?toy_model.make-relaxed? FAILED*",
            "*lips/cuau/test_task1.py::test_task1_ef_rmse?toy_model.make-single_point? PASSED*",
            "*LiPS-25 summary*",
            "system: Cu-Au toy alloy (reference pack toy-cuau-emt 1)",
        ]
    )
    assert "Traceback" not in out
    data = json.loads(report.read_text())
    metrics = {m["key"]: m for task in data["results"]["toy_model.make"].values() for m in task["metrics"]}
    sp = metrics["task1.ef_rmse_single_point"]
    assert sp["n"] == 2 and sp["value"] == pytest.approx(expected_rmse, rel=1e-9)
    by_name = {s["name"]: s for s in sp["details"]["structures"]}
    for name in ef_dft:
        assert by_name[name]["ef_dft_meV_atom"] == pytest.approx(1000.0 * ef_dft[name], rel=1e-9, abs=1e-9)
    # the pack's thresholds sit above thresholds.yaml, with their sources and origin
    assert data["thresholds"]["task1.ef_rmse_single_point"]["value"] == 5000.0
    assert data["thresholds"]["task1.ef_rmse_single_point"]["origin"] == "pack"
    assert "task3.sigma298_min" not in data["thresholds"]  # no band in this pack
    assert data["provenance"]["system"]["name"] == "Cu-Au toy alloy"
    assert data["provenance"]["reference_pack"]["system"] == "Cu-Au toy alloy"


def test_toy_system_model_missing_an_element_is_one_usage_line(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A model that cannot evaluate the system's elements stops the run with one line naming them."""
    pack = tmp_path / "toy-pack"
    write_toy_pack(pack)
    pytester.makepyfile(
        toy_model="""
from ase.calculators.emt import EMT


class OnlyCu(EMT):
    def calculate(self, atoms=None, properties=("energy",), system_changes=()):
        if set(atoms.get_chemical_symbols()) - {"Cu"}:
            raise KeyError("Au")
        super().calculate(atoms, properties, system_changes)


def make():
    return OnlyCu()
"""
    )
    result = pytester.runpytest_subprocess(
        "--lips-model=toy_model:make", f"--lips-reference={pack}", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --lips-model toy_model:make: evaluating a 12-atom Cu-Au cell failed*"])


def test_toy_system_absent_task3_is_skipped_with_the_reason(pytester: pytest.Pytester, tmp_path: Path) -> None:
    """A pack without Task 3 data: the Task 3 items are SKIPPED with the pack's reason, not ERRORs."""
    pack = tmp_path / "toy-pack"
    write_toy_pack(pack)
    pytester.makepyfile(toy_model=MODEL_MODULE)
    result = pytester.runpytest_subprocess(
        "--lips-model=toy_model:make",
        f"--lips-reference={pack}",
        "--lips-profile=smoke",
        "--lips-tasks=task3",
        f"--lips-cache-dir={tmp_path / 'cache'}",
        "-rs",
        "-p",
        "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("skipped", 0) >= 2 and not outcomes.get("error") and not outcomes.get("failed")
    result.stdout.fnmatch_lines(["SKIPPED*Task 3 structure unavailable (the pack has no task3 section)*"])


def test_model_without_cl_on_the_argyrodite_pack_is_one_usage_line(pytester: pytest.Pytester) -> None:
    """The example model knows Li, P and S only: selecting the argyrodite pack by name stops the run at once."""
    model = Path(__file__).resolve().parents[2] / "examples" / "lips-example-model.pt"
    result = pytester.runpytest_subprocess(
        f"--lips-model={model}", "--lips-reference=li6ps5cl-open-pbesol", "-p", "no:cacheprovider"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: --lips-model {model}: the model has never seen Cl (elements it knows: Li, P, S)*Li, P, S, Cl"]
    )
    assert len([line for line in result.stderr.lines if "Error" in line or "ERROR" in line]) == 1  # no traceback


# -- the data set is the pack's (system.dataset) --------------------------------------------------------------
def test_pack_without_a_data_set_skips_each_gated_test_split_item_saying_why(pytester: pytest.Pytester) -> None:
    """The argyrodite pack declares no data set: the test split is one SKIPPED item per gated metric and model
    with the reason (not the LiPS-25 items, not "no tests ran"), even with a --lips-data file given, and the
    NOT RUN rows of the summary carry that reason (not "deselected"): the gate items are found under the
    system's node-id path lips/li6ps5cl/."""
    pytester.makepyfile(toy_model=MODEL_MODULE)
    data = pytester.path / "lips-25.extxyz"
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((4, 3)))
    atoms.info.update(label="crystalline_Cu", split="test")
    write(data, atoms, format="extxyz")
    result = pytester.runpytest_subprocess(
        "--lips-model=toy_model:make",
        "--lips-reference=li6ps5cl-open-pbesol",
        "--lips-profile=smoke",
        "--lips-tasks=test_split",
        f"--lips-data={data}",
        f"--lips-cache-dir={pytester.path / 'cache'}",
        "-rs",
        "-v",
        "-p",
        "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.OK
    assert result.parseoutcomes() == {"skipped": 2}
    result.stdout.fnmatch_lines(
        [
            "*lips/li6ps5cl/test_test_split.py::test_test_split_energy_rmse?toy_model.make? SKIPPED*",
            "*lips/li6ps5cl/test_test_split.py::test_test_split_force_rmse?toy_model.make? SKIPPED*",
            "SKIPPED*pack li6ps5cl-open-pbesol declares no data set (system.dataset in its manifest)*",
        ]
    )
    not_run = result.stdout.str().split("NOT RUN, gated metrics not measured:")[1]
    assert "declares no data set" in not_run and "deselected" not in not_run
    assert "test_test_split_category" not in result.stdout.str()


def test_test_split_categories_and_table1_come_from_the_packs_data_set(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    """A pack whose system.dataset declares its own categories, rules and Table 1: the test split's items and
    metrics follow them (nothing of LiPS-25 appears), and a full-data-set file is checked against its Table 1."""
    pack = tmp_path / "toy-pack"
    write_toy_pack(pack)
    manifest = yaml.safe_load((pack / "manifest.yaml").read_text())
    manifest["system"]["dataset"] = {
        "name": "CuAu-7",
        "file_name_pattern": "cuau[-_]?7",
        "table1_totals": {"structures": 999, "atoms": 4},
        "categories": ["elemental", "ordered", "misc"],
        "category_titles": {"elemental": "elemental fcc", "ordered": "ordered alloys"},
        "category_rules": [{"category": "elemental", "pattern": "^fcc"}, {"category": "ordered", "pattern": "^l1"}],
        "default_category": "misc",
    }
    write_manifest(pack, manifest)
    frames = []
    for name, label in (("Cu", "fcc_Cu"), ("Au", "fcc_Au"), ("Cu3Au", "L12_Cu3Au"), ("CuAu", "L10_CuAu")):
        atoms = TOY_CRYSTALS[name][0]()
        atoms.calc = EMT()
        atoms.calc = SinglePointCalculator(atoms, energy=atoms.get_potential_energy(), forces=atoms.get_forces())
        atoms.info.update(label=label, split="test")
        frames.append(atoms)
    data = tmp_path / "cuau-7.extxyz"
    write(data, frames, format="extxyz")
    pytester.makepyfile(toy_model=MODEL_MODULE)
    report = tmp_path / "report.json"
    result = pytester.runpytest_subprocess(
        "--lips-model=toy_model:make",
        f"--lips-reference={pack}",
        "--lips-profile=smoke",
        "--lips-tasks=test_split",
        f"--lips-data={data}",
        f"--lips-report={report}",
        f"--lips-cache-dir={tmp_path / 'cache'}",
        "-v",
        "-p",
        "no:cacheprovider",
        "-W",
        "ignore::pytest_lips.data.DataDriftWarning",
    )
    out = result.stdout.str()
    ids = sorted(set(re.findall(r"test_test_split_category\[toy_model\.make-(\w+)-energy_rmse\]", out)))
    assert ids == ["elemental", "misc", "ordered"]
    assert "crystalline" not in out and "iter1" not in out
    metrics = {
        m["key"]: m for t in json.loads(report.read_text())["results"]["toy_model.make"].values() for m in t["metrics"]
    }
    assert metrics["test_split.elemental.energy_rmse"]["n"] == 2
    assert metrics["test_split.ordered.energy_rmse"]["n"] == 2
    assert metrics["test_split.elemental.energy_rmse"]["note"].startswith("elemental fcc structures only")
    assert "test_split.misc.energy_rmse" not in metrics  # no structure fell through the rules
    notes = json.dumps(json.loads(report.read_text())["provenance"].get("data", {}))
    assert "taken to be the full CuAu-7" in notes and "999 in the paper's Table 1" in notes
