"""Task 1: formation-energy arithmetic and an end-to-end run on a small pack with LJ models."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
from lips_testdata import lj, make_pack  # noqa: E402

from pytest_lips.analysis.formation import (  # noqa: E402
    OffTieLineError,
    end_member_energy,
    formation_energy_per_atom,
    tie_line_point,
)
from pytest_lips.reference import load_reference_pack  # noqa: E402
from pytest_lips.tasks import task1_formation as task  # noqa: E402


def test_formation_energy_hand_computed():
    # Li7P3S11 = (Li2S)_3.5 (P2S5)_1.5 ; x = 7/10 ; atoms per f.u. = 7 - 2.8 = 4.2 ; cell of 2 f.u. units
    counts = {"Li": 14, "P": 6, "S": 22}  # 42 atoms = 10 f.u. (Li2S)_0.7(P2S5)_0.3
    point = tie_line_point(counts)
    assert point.x == pytest.approx(0.7) and point.n_formula_units == pytest.approx(10.0)
    assert point.atoms_per_formula_unit == pytest.approx(4.2) and point.n_atoms == 42
    e_li2s, e_p2s5 = -12.0, -30.0  # eV per Li2S / per P2S5
    e_cell = -200.0
    # by hand: E_fu = -20 ; x E(Li2S) + (1-x) E(P2S5) = -8.4 - 9.0 = -17.4 ; (-20 + 17.4)/4.2
    assert formation_energy_per_atom(e_cell, counts, e_li2s, e_p2s5) == pytest.approx(-2.6 / 4.2)
    # per-cell form: [E - a E(Li2S) - b E(P2S5)] / N with a = 7, b = 3
    assert formation_energy_per_atom(e_cell, counts, e_li2s, e_p2s5) == pytest.approx((-200 + 84 + 90) / 42)
    # end members have zero formation energy; per-element offsets cancel
    assert formation_energy_per_atom(2 * e_li2s, {"Li": 4, "S": 2}, e_li2s, e_p2s5) == pytest.approx(0.0)
    mu = {"Li": 0.3, "P": -1.1, "S": 0.7}
    shift = lambda c: sum(mu[k] * v for k, v in c.items())  # noqa: E731
    shifted = formation_energy_per_atom(
        e_cell + shift(counts), counts, e_li2s + shift({"Li": 2, "S": 1}), e_p2s5 + shift({"P": 2, "S": 5})
    )
    assert shifted == pytest.approx(-2.6 / 4.2)
    assert end_member_energy(-24.0, {"Li": 4, "S": 2}, "Li2S") == pytest.approx(-12.0)


@pytest.mark.parametrize("counts", [{"Li": 4, "P": 2, "S": 6}, {"Li": 2, "S": 1, "O": 1}, {"S": 3}])
def test_off_tie_line_raises(counts):
    with pytest.raises(OffTieLineError):
        tie_line_point(counts, "X")
    with pytest.raises(OffTieLineError):
        end_member_energy(-1.0, {"Li": 6, "P": 2, "S": 8}, "Li2S")


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    root = tmp_path_factory.mktemp("pack1")
    make_pack(root, lj(epsilon=0.06, sigma=2.05))  # "DFT" = another LJ
    return load_reference_pack(root)


def _manual_ef(energies: dict[str, float], counts: dict[str, dict[str, int]]) -> dict[str, float]:
    """Independent E_f (eV/atom) in the per-cell form [E - a E(Li2S) - b E(P2S5)] / N."""
    e_li2s = energies["Li2S"] / (counts["Li2S"]["Li"] / 2)
    e_p2s5 = energies["P2S5"] / (counts["P2S5"]["P"] / 2)
    out = {}
    for name, c in counts.items():
        a, b = c.get("Li", 0) / 2, c.get("P", 0) / 2
        out[name] = (energies[name] - a * e_li2s - b * e_p2s5) / sum(c.values())
    return out


def test_task1_end_to_end(pack):
    from pytest_lips.analysis.formation import composition_counts

    model = lj()
    protocol = task.Task1Protocol.from_section({"fmax_eV_A": 0.05, "max_steps": 8})
    results = task.run_all(pack, model, protocol)
    metrics = {m.key: m for m in task.analyse(pack, results, protocol, "lj")}

    # independent expectation for the single-point protocol
    entries = pack.task1_entries(include_unavailable=False)
    counts, e_dft, e_model = {}, {}, {}
    calc = model.ase_calculator(skin=0.0)
    for e in entries:
        atoms = e.atoms()
        counts[e.name] = composition_counts(atoms.numbers)
        e_dft[e.name] = atoms.get_potential_energy()
        atoms.calc = calc
        e_model[e.name] = atoms.get_potential_energy()
    ef_dft, ef_model = _manual_ef(e_dft, counts), _manual_ef(e_model, counts)
    main = ["beta-Li3PS4", "Li7P3S11"]
    extrap = ["Li4P2S7", "HT-Li7PS6"]
    expected = math.sqrt(np.mean([(1000 * (ef_model[n] - ef_dft[n])) ** 2 for n in main]))
    sp = metrics["task1.ef_rmse_single_point"]
    assert sp.value == pytest.approx(expected, rel=1e-4, abs=1e-3) and sp.n == 2 and sp.gated
    assert sp.unit == "meV/atom" and {d["name"] for d in sp.details["structures"] if d["in_metric"]} == set(main)
    ex = metrics["task1.ef_rmse_extrapolation_single_point"]
    assert not ex.gated and ex.n == 2 and "alpha-Li3PS4" in ex.details["not_run"]
    assert ex.value == pytest.approx(
        math.sqrt(np.mean([(1000 * (ef_model[n] - ef_dft[n])) ** 2 for n in extrap])), rel=1e-4, abs=1e-3
    )

    rel = metrics["task1.ef_rmse_relaxed"]
    assert rel.n == 2 and math.isfinite(rel.value)
    for r in results.values():
        assert r["relaxed"]["energy_eV"] <= r["single_point"]["energy_eV"] + 1e-6  # relaxation lowers E
        assert r["relaxed"]["steps"] <= 8 and "converged" in r["relaxed"] and r["relaxed"]["volume_A3"] > 0
    assert "converged" in {d["name"]: d for d in rel.details["structures"]}["Li7P3S11"]


def test_task1_self_consistent_model_has_zero_error(pack, tmp_path):
    labeller = lj(epsilon=0.06, sigma=2.05)
    protocol = task.Task1Protocol.from_section({"max_steps": 0, "structures": ["Li7P3S11", "alpha-Li3PS4"]})
    store: dict[str, dict] = {}
    calls = []

    def get_or_compute(key, compute):
        if key not in store:
            calls.append(key)
            store[key] = compute()
        return store[key]

    results = task.run_all(pack, labeller, protocol, get_or_compute, model_key="m")
    metrics = {m.key: m for m in task.analyse(pack, results, protocol, "labeller")}
    assert set(results) == {"Li2S", "P2S5", "Li7P3S11"}
    assert metrics["task1.ef_rmse_single_point"].value == pytest.approx(0.0, abs=1e-3)
    assert metrics["task1.ef_rmse_relaxed"].value == pytest.approx(0.0, abs=1e-3)
    # no extrapolation crystal ran: nan over n = 0, and the note says why for each one
    ex = metrics["task1.ef_rmse_extrapolation_single_point"]
    assert ex.n == 0 and math.isnan(ex.value) and not ex.gated
    assert ex.note.startswith("no extrapolation crystals ran (") and "alpha-Li3PS4: missing" in ex.note, ex.note
    n_calls = len(calls)
    task.run_all(pack, labeller, protocol, get_or_compute, model_key="m")
    assert len(calls) == n_calls  # cached by key
    assert len(set(calls)) == 6 and all("task1/m/test-pack@0.1/" in k for k in calls)


def test_protocol_validation():
    from pytest_lips.errors import LipsUsageError

    with pytest.raises(LipsUsageError, match="unknown keys"):
        task.Task1Protocol.from_section({"fmax": 0.1})
    with pytest.raises(LipsUsageError, match="optimizer"):
        task.Task1Protocol.from_section({"optimizer": "LBFGS"})


def test_task1_note_names_reference_caveats(tmp_path):
    """An entry the pack qualifies (status ok with a reason, e.g. a provisional end member) is named in the
    metric's note and listed in its details."""
    import yaml

    root = tmp_path / "pack"
    make_pack(root, lj(epsilon=0.06, sigma=2.05))
    manifest = yaml.safe_load((root / "manifest.yaml").read_text())
    for s in manifest["task1"]["structures"]:
        if s["name"] == "P2S5":
            s["reason"] = "provisional: relaxation still running"
    (root / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False))
    pack = load_reference_pack(root)
    protocol = task.Task1Protocol.from_section({"max_steps": 2})
    results = task.run_all(pack, lj(), protocol)
    metric = {m.key: m for m in task.analyse(pack, results, protocol, "lj")}["task1.ef_rmse_single_point"]
    assert "reference caveats: P2S5 (provisional)" in metric.note
    assert metric.details["reference_caveats"] == {"P2S5": "provisional: relaxation still running"}
