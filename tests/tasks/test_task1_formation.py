"""Task 1: formation-energy arithmetic and an end-to-end run on a small pack with LJ models."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from lips_testdata import lj, make_pack  # noqa: E402
from paper_eq1 import (  # noqa: E402  (the paper's eq. 1, the independent check)
    OffTieLineError,
    end_member_energy,
    formation_energy_per_atom,
    tie_line_point,
)

from pytest_lips.analysis import formation as balance  # noqa: E402
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


LIPS_END_MEMBERS = {"Li2S": {"Li": 2, "S": 1}, "P2S5": {"P": 2, "S": 5}}


@pytest.mark.parametrize(
    "counts",
    [
        {"Li": 14, "P": 6, "S": 22},  # Li7P3S11
        {"Li": 12, "P": 4, "S": 16},  # Li3PS4
        {"Li": 4, "P": 4, "S": 12},  # Li2P2S6
        {"Li": 28, "P": 4, "S": 24},  # Li7PS6
        {"Li": 8, "P": 4, "S": 14},  # Li4P2S7
        {"Li": 8, "S": 4},  # Li2S
        {"P": 4, "S": 10},  # P2S5
    ],
)
def test_composition_balance_is_eq1_to_machine_precision(counts):
    """On the Li2S-P2S5 line, E_f by composition balance equals the paper's eq. 1 (rel. 1e-12) for random energies."""
    rng = np.random.default_rng(sum(counts.values()))
    for _ in range(20):
        e_li2s, e_p2s5 = rng.uniform(-20, -5), rng.uniform(-50, -20)
        e_cell = rng.uniform(-5, -3) * sum(counts.values())
        eq1 = formation_energy_per_atom(e_cell, counts, e_li2s, e_p2s5)
        general = balance.formation_energy_per_atom(
            e_cell, counts, {"Li2S": e_li2s, "P2S5": e_p2s5}, LIPS_END_MEMBERS, "X"
        )
        assert general == pytest.approx(eq1, rel=1e-12, abs=1e-12 * abs(e_cell) / sum(counts.values()))
    amounts = balance.composition_balance(counts, LIPS_END_MEMBERS)
    assert amounts["Li2S"] == pytest.approx(counts.get("Li", 0) / 2, abs=1e-12)
    assert amounts["P2S5"] == pytest.approx(counts.get("P", 0) / 2, abs=1e-12)


def test_composition_balance_three_end_members_by_hand():
    """Li6PS5Cl = 2.5 Li2S + 0.5 P2S5 + 1 LiCl (13 atoms): E_f by hand; offsets cancel; end members give 0."""
    ems = {**LIPS_END_MEMBERS, "LiCl": {"Li": 1, "Cl": 1}}
    counts = {"Li": 6, "P": 1, "S": 5, "Cl": 1}
    amounts = balance.composition_balance(counts, ems, "Li6PS5Cl")
    assert amounts == pytest.approx({"Li2S": 2.5, "P2S5": 0.5, "LiCl": 1.0}, abs=1e-12)
    e_fu = {"Li2S": -12.0, "P2S5": -30.0, "LiCl": -7.0}
    ef = balance.formation_energy_per_atom(-70.0, counts, e_fu, ems)
    assert ef == pytest.approx((-70.0 + 30.0 + 15.0 + 7.0) / 13, rel=1e-14)
    mu = {"Li": 0.3, "P": -1.1, "S": 0.7, "Cl": 2.0}

    def shift(c):
        return sum(mu[k] * v for k, v in c.items())

    shifted = balance.formation_energy_per_atom(
        -70.0 + shift(counts), counts, {f: e + shift(ems[f]) for f, e in e_fu.items()}, ems
    )
    assert shifted == pytest.approx(ef, rel=1e-12)
    for f in ems:
        assert balance.formation_energy_per_atom(3 * e_fu[f], {k: 3 * v for k, v in ems[f].items()}, e_fu, ems) == (
            pytest.approx(0.0, abs=1e-12)
        )


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ({"Li": 2, "S": 1, "O": 1}, "contains O, which no end member"),
        ({"Li": 4, "P": 2, "S": 6}, "outside the span of the end members Li2S, P2S5"),
        ({"S": 3}, "outside the span"),
    ],
)
def test_composition_outside_the_end_members_names_the_structure(counts, match):
    with pytest.raises(balance.OutsideEndMembersError, match=match) as info:
        balance.composition_balance(counts, LIPS_END_MEMBERS, "weird-crystal")
    assert str(info.value).startswith("weird-crystal: ")


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
