"""Assemble the Li6PS5Cl argyrodite pack: ``pack-li6ps5cl/manifest.yaml``, README and data files.

Run as ``LIPS_PACK_SYSTEM=li6ps5cl python reference_data/build/manifest_li6ps5cl.py`` (the queue,
``build_pack.py`` under the same variable, runs it after every GPAW job). Safe at any time:

- copies the LiPS pack's finished Task-1 results (Li2S and P2S5 are the end members every formation energy
  needs; the other Li2S–P2S5 crystals join the hull) into this pack unchanged, with their records: the
  same generator and settings, so they are reused, not recomputed;
- concatenates the finished Task-2 snapshots into ``task2/li6ps5cl_melt_quench.extxyz``;
- writes the Task-3 cell (the PBEsol-relaxed primitive cell on the 52-atom cubic cell);
- writes ``data/li6ps5cl_open.extxyz`` (every production-settings PBEsol frame of this pack's own DFT);
- computes formation energies relative to the end members by composition balance and the energy above
  the pack's own convex hull (:func:`formation_energies`);
- writes the manifest with a ``system`` section (elements, mobile ion, end members, task structures,
  default thresholds with sources) and lists every file with its sha256.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.build import make_supercell
from ase.formula import Formula
from ase.io import read, write
from manifest import TASK2_REGIMES, assemble_task2, frame_split, lips_frame, sha256
from relax import complete_frames, without_repeats
from settings import ARGYRODITE_CRYSTALS, PACK_DIR, PACK_SYSTEM, PRODUCTION, RECORD_DIR

CRYSTALS = ARGYRODITE_CRYSTALS
ELEMENTS = ("Li", "P", "S", "Cl")

LIPS_PACK = PACK_DIR.parent / "pack"
NAME = "li6ps5cl-open-pbesol"
VERSION = "2026.12"
TASK2_FILE = "task2/li6ps5cl_melt_quench.extxyz"
TASK3_FILE = "task3/Li6PS5Cl.extxyz"
DATA_FILE = "data/li6ps5cl_open.extxyz"
END_MEMBERS = ("Li2S", "P2S5", "LiCl")
#: the LiPS pack's crystals reused here (end members first); only those whose relaxation has finished
REUSED_FROM_LIPS = ("Li2S", "P2S5", "gamma-Li3PS4", "beta-Li3PS4", "Li2P2S6", "Li7P3S11", "HT-Li7PS6", "LT-Li7PS6")
#: F-centred cubic cell from the fcc primitive vectors a/2 (0,1,1), (1,0,1), (1,1,0)
FCC_TO_CUBIC = np.array([[-1, 1, 1], [1, -1, 1], [1, 1, -1]])
#: experimental lattice parameters (Å) for the sanity check, with sources
EXPERIMENT_A = {
    "Li6PS5Cl": (9.85, "Deiseroth et al., Angew. Chem. Int. Ed. 2008, 47, 755 (room temperature, about 9.85 Å)"),
    "LiCl": (5.130, "rock-salt LiCl at room temperature, a = 5.130 Å (standard crystallographic value)"),
}
TASK2_MIN_PER_REGIME = 2
LABEL_SOURCE = f"GPAW PBEsol, production settings of the {NAME} pack (reference_data/pack-li6ps5cl/README.md)"


def _lips_formula(name: str) -> str:
    raw = yaml.safe_load((LIPS_PACK / "manifest.yaml").read_text())
    for s in raw["task1"]["structures"]:
        if s["name"] == name:
            return str(s["formula"])
    raise KeyError(name)


def copy_lips_results() -> list[str]:
    """Copy the LiPS pack's finished Task-1 results (structure, relaxation steps, record) that differ or are
    missing here; returns the names now present."""
    present = []
    for name in REUSED_FROM_LIPS:
        pairs = [(LIPS_PACK / "task1" / f"{name}.extxyz", PACK_DIR / "task1" / f"{name}.extxyz"),
                 (LIPS_PACK / "task1" / "relax" / f"{name}.extxyz", PACK_DIR / "task1" / "relax" / f"{name}.extxyz"),
                 (LIPS_PACK / "records" / "task1" / f"{name}.json", RECORD_DIR / "task1" / f"{name}.json")]
        if not all(src.exists() for src, _ in pairs):
            continue
        for src, dst in pairs:
            if not dst.exists() or sha256(dst) != sha256(src):
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
        present.append(name)
    return present


def own_record(name: str) -> dict | None:
    p = RECORD_DIR / "task1" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


# ---------------------------------------------------------------- formation energies and hull
def composition_vector(formula: str, elements: tuple[str, ...]) -> np.ndarray:
    """Atom fractions of ``elements`` in ``formula`` (sums to 1)."""
    counts = Formula(formula).count()
    unknown = set(counts) - set(elements)
    if unknown:
        raise ValueError(f"{formula} has elements {sorted(unknown)} outside the pack's {list(elements)}")
    v = np.array([counts.get(el, 0) for el in elements], dtype=float)
    return v / v.sum()


def end_member_fractions(formula: str, end_members: dict[str, str], elements: tuple[str, ...]) -> dict[str, float]:
    """Fractions of the atoms of ``formula`` that come from each end member (composition balance, least
    squares); a composition outside the end members' span raises ValueError."""
    a = np.array([composition_vector(f, elements) for f in end_members.values()]).T
    b = composition_vector(formula, elements)
    lam, *_ = np.linalg.lstsq(a, b, rcond=None)
    if np.abs(a @ lam - b).max() > 1e-9 or lam.min() < -1e-9:
        raise ValueError(f"{formula} is not a combination of the end members {list(end_members.values())}")
    return dict(zip(end_members, (float(x) for x in lam)))


def formation_energies(energies: dict[str, float], formulas: dict[str, str],
                       end_members: tuple[str, ...] = END_MEMBERS,
                       elements: tuple[str, ...] = ELEMENTS) -> dict[str, dict]:
    """E_f (eV/atom) relative to the end members and the energy above the pack's own lower hull (eV/atom).

    ``energies``: energy per atom (eV) of each structure; the hull is the lower envelope of E_f over the
    composition triangle, from a linear programme (``scipy.optimize.linprog``): the lowest energy a mixture
    of the computed phases reaches at each composition.
    """
    from scipy.optimize import linprog

    ends = {n: formulas[n] for n in end_members}
    out: dict[str, dict] = {}
    for name, e in energies.items():
        frac = end_member_fractions(formulas[name], ends, elements)
        ef = e - sum(f * energies[n] for n, f in frac.items())
        out[name] = {"formula": formulas[name], "end_member_atom_fractions": frac, "ef_eV_atom": float(ef)}
    names = list(out)
    comp = np.array([composition_vector(formulas[n], elements) for n in names]).T
    ef = np.array([out[n]["ef_eV_atom"] for n in names])
    for j, n in enumerate(names):
        res = linprog(ef, A_eq=comp, b_eq=comp[:, j], bounds=[(0, None)] * len(names), method="highs")
        out[n]["e_above_hull_eV_atom"] = float(ef[j] - res.fun)
    return out


# ---------------------------------------------------------------- assembly
def assemble_task3() -> bool:
    relaxed = PACK_DIR / "task1" / "Li6PS5Cl.extxyz"
    if not relaxed.exists():
        return False
    prim = read(relaxed)
    cubic = make_supercell(prim, FCC_TO_CUBIC)
    cubic.wrap()
    out = Atoms(cubic.get_chemical_symbols(), positions=cubic.positions, cell=cubic.cell[:], pbc=True)
    out.info["provenance"] = ("PBEsol (GPAW) relaxation of the 13-atom primitive cell (task1/Li6PS5Cl.extxyz), "
                              "repeated onto the 52-atom cubic cell; start: " + CRYSTALS[1].origin)
    (PACK_DIR / "task3").mkdir(parents=True, exist_ok=True)
    write(PACK_DIR / TASK3_FILE, out, format="extxyz")
    return True


def assemble_data() -> int:
    """Every production-settings PBEsol frame computed for this pack (relaxation steps of LiCl and Li6PS5Cl;
    Task-2 snapshots, always split=test)."""
    frames: list[Atoms] = []
    for c in CRYSTALS:
        steps = PACK_DIR / "task1" / "relax" / f"{c.name}.extxyz"
        final_exists = (PACK_DIR / "task1" / f"{c.name}.extxyz").exists()
        if steps.exists():
            traj = without_repeats(complete_frames(steps))
            for i, a in enumerate(traj):
                label = "crystalline" if (final_exists and i == len(traj) - 1) else "crystalline-relaxation"
                step = int(a.info.get("step", i))
                fr = lips_frame(a, label, {"structure": c.name, "step": step, "split": frame_split(f"{c.name}/{step}")})
                fr.info["source"] = LABEL_SOURCE
                frames.append(fr)
    for p in sorted((PACK_DIR / "task2" / "dft").glob("*.extxyz")):
        a = read(p)
        fr = lips_frame(a, "Li6PS5Cl-meltquench", {"regime": a.info["regime"], "time_ps": a.info["time_ps"],
                                                   "temperature_K": a.info["temperature_K"], "split": "test"})
        fr.info["source"] = LABEL_SOURCE
        frames.append(fr)
    if frames:
        (PACK_DIR / "data").mkdir(parents=True, exist_ok=True)
        write(PACK_DIR / DATA_FILE, frames, format="extxyz")
    return len(frames)


# ---------------------------------------------------------------- manifest
def method_dict() -> dict:
    s = PRODUCTION
    return {
        "code": "GPAW 22.8.0",
        "functional": "PBEsol",
        "basis": f"plane waves, {s.ecut_eV:g} eV cutoff (Pulay stress estimated, dedecut='estimate')",
        "kpoints": f"Gamma-centred Monkhorst-Pack, k-point density {s.kdensity_A:g} Å (n_i = ceil(2π·"
                   f"{s.kdensity_A:g} Å·|b_i|)); Task 2 and relaxation meshes fixed per structure",
        "scf": f"Fermi-Dirac {s.smearing_eV:g} eV; convergence {s.convergence} (energy eV/valence electron, "
               "density, forces eV/Å)",
        "setups": f"PAW, generated with `gpaw-setup -f PBEsol {' '.join(ELEMENTS)}` (GPAW 22.8.0 default "
                  "generator parameters; sha256 in records/*.json)",
    }


def describe(rel: str) -> tuple[str, str]:
    parts = rel.split("/")
    reused = "reused unchanged from the lips-open-pbesol pack (reference_data/pack, same generator and settings)"
    if parts[0] == "task1" or rel.startswith("records/task1/"):
        n = Path(rel).stem.removesuffix(".progress")
        if n in REUSED_FROM_LIPS:
            return f"Task-1 result of {n}: {reused}", "reference_data/pack"
        origin = next(c.origin for c in CRYSTALS if c.name == n)
        if rel.startswith("task1/relax/"):
            return f"every DFT step of the PBEsol position+cell relaxation of {n}", "start: " + origin
        if rel.startswith("records/"):
            return "per-result record: settings, code version, setup checksums, wall time", "this generator"
        return f"PBEsol-relaxed {n} (last relaxation step: energy, forces, stress)", "start: " + origin
    if rel == TASK2_FILE:
        return ("Task 2: Li6PS5Cl melt-quench snapshots (CHGNet MD, 52-atom cubic cell) with PBEsol energy, "
                "forces, stress; info time_ps, temperature_K, regime", "CHGNet melt-quench of the PBEsol cell")
    if rel.startswith("task2/dft/"):
        return f"one Task-2 snapshot with PBEsol labels (build intermediate; same frame as in {TASK2_FILE})", \
            "CHGNet melt-quench snapshot"
    if rel == "task2/snapshots_chgnet.extxyz":
        return ("Task-2 inputs: melt-quench snapshots (positions, cell, time_ps, temperature_K, regime), no labels",
                "CHGNet 0.4.2 (pretrained model v0.3.0) Langevin NVT, same programme as the LiPS pack")
    if rel == "task2/melt_quench_log.json":
        return "CHGNet melt-quench log: protocol, wall time, temperature, S MSD and energy every 0.1 ps", \
            "CHGNet MD of this generator"
    if rel == TASK3_FILE:
        return "Task 3 Li6PS5Cl cell: PBEsol-relaxed primitive cell on the 52-atom cubic cell", "this generator"
    if rel == DATA_FILE:
        return "LiPS-format training data: this pack's own PBEsol frames (energy, virial, forces, label, split)", \
            "this generator"
    if rel.startswith("records/reproduce/"):
        return (f"reproducibility check of {Path(rel).stem}: fresh setups + production relaxation re-run in scratch, "
                "energy compared with the shipped one (reproduce.py)", "this generator")
    if parts[0] == "records":
        return "per-result record: settings, code version, setup checksums, wall time", "this generator"
    if rel == "README.md":
        return "pack documentation (generated by reference_data/build/manifest_li6ps5cl.py)", "this generator"
    return "", ""


def task1_entries(reused: list[str], formulas: dict[str, str], form: dict[str, dict]) -> list[dict]:
    out = []
    for name in [*[c.name for c in CRYSTALS], *reused]:
        role = "end_member" if name in END_MEMBERS else "crystal"
        e: dict = {"name": name, "formula": formulas[name], "role": role, "extrapolation": False}
        if name in form:
            fractions = form[name]["end_member_atom_fractions"]
            e["end_member_atom_fractions"] = {k: round(v, 12) for k, v in fractions.items()}
        if (PACK_DIR / "task1" / f"{name}.extxyz").exists():
            rec = json.loads((RECORD_DIR / "task1" / f"{name}.json").read_text())
            reason = "" if rec.get("converged", True) else f"relaxation stopped unconverged after {rec['steps']} steps"
            if name in REUSED_FROM_LIPS:
                reason = (reason + "; " if reason else "") + "reused from lips-open-pbesol"
            e.update(status="ok", reason=reason, file=f"task1/{name}.extxyz",
                     relaxation_file=f"task1/relax/{name}.extxyz")
        else:
            steps = PACK_DIR / "task1" / "relax" / f"{name}.extxyz"
            n = len(complete_frames(steps)) if steps.exists() else 0
            e.update(status="pending", reason=f"PBEsol relaxation in progress ({n} steps written)")
        out.append(e)
    return out


SIGMA_NOT_GATED = (
    "reported, not gated: the pack's cell is fully anion-ordered (Cl on 4a, S on 4c), while measured Li6PS5Cl "
    "has S/Cl site disorder on these sites, which changes its Li conductivity by orders of magnitude in "
    "experiments and AIMD; no literature band for an ordered cell was found that a gate could use"
)


def crystallographic_density_g_cm3(formula: str, a_A: float, z: int) -> float:
    """Density (g/cm³) of a cubic cell of edge ``a_A`` holding ``z`` formula units of ``formula``."""
    from ase.data import atomic_masses, atomic_numbers
    mass_amu = sum(n * atomic_masses[atomic_numbers[el]] for el, n in Formula(formula).count().items())
    return z * mass_amu * 1.66053906660e-24 / (a_A**3 * 1e-24)


def system_section(task2_ok: bool, task3_ok: bool) -> dict:
    a_exp, a_src = EXPERIMENT_A["Li6PS5Cl"]
    density = round(float(crystallographic_density_g_cm3("Li6PS5Cl", a_exp, 4)), 3)
    return {
        "id": "li6ps5cl",
        "name": "Li6PS5Cl argyrodite",
        "elements": list(ELEMENTS),
        "mobile_ion": {"element": "Li", "charge": 1},
        "end_members": list(END_MEMBERS),
        "task2": {"structure": "Li6PS5Cl", "composition": "Li6PS5Cl", "cell": "52-atom cubic cell (PBEsol)",
                  "available": task2_ok},
        "task3": {"structure": "Li6PS5Cl", "file": TASK3_FILE, "available": task3_ok,
                  "sigma298_band_mS_cm": None, "sigma298_gated": False, "sigma298_reason": SIGMA_NOT_GATED},
        "task4": {"composition": "Li6PS5Cl", "density_g_cm3": density,
                  "note": f"random Li-P-S-Cl cells of the Li6PS5Cl composition at its crystallographic density "
                          f"(Z = 4, a = {a_exp} Å: {a_src})"},
        "thresholds": {
            "task1.ef_rmse_relaxed": {"value": 10.0, "unit": "meV/atom", "direction": "max",
                                      "source": "project default, as for the LiPS pack (not from a paper)"},
            "task1.ef_rmse_single_point": {"value": 10.0, "unit": "meV/atom", "direction": "max",
                                           "source": "project default, as for the LiPS pack (not from a paper)"},
            "task2.force_rmse": {"value": 0.30, "unit": "eV/Å", "direction": "max",
                                 "source": "project default, as for the LiPS pack (not from a paper)"},
        },
    }


def write_manifest(task1: list[dict], n2: int, n2t: int, regimes: dict[str, int], task3_ok: bool,
                   n_data: int) -> dict:
    files = []
    for p in sorted(PACK_DIR.rglob("*")):
        if not p.is_file() or p.name == "manifest.yaml" or p.suffix in (".tmp", ".part") or p.name.endswith(
                ".progress.json"):
            continue
        rel = p.relative_to(PACK_DIR).as_posix()
        if rel.startswith("task1/relax/") and not (PACK_DIR / "task1" / p.name).exists():
            continue  # a relaxation still running rewrites its step file
        desc, prov = describe(rel)
        files.append({"path": rel, "sha256": sha256(p), "description": desc, "provenance": prov})
    counts = ", ".join(f"{r} {n}" for r, n in regimes.items())
    task2_ok = all(regimes.get(r, 0) >= TASK2_MIN_PER_REGIME for r in TASK2_REGIMES)
    t2 = {"file": TASK2_FILE, "status": "ok" if task2_ok else "pending",
          "reason": "" if n2 and n2 == n2t else f"{n2}/{n2t} snapshots have PBEsol labels ({counts})"}
    t3 = {"structure": TASK3_FILE, "status": "ok" if task3_ok else "pending",
          "reason": "" if task3_ok else "waits for the PBEsol relaxation of Li6PS5Cl"}
    man = {
        "schema_version": 2,
        "name": NAME,
        "version": VERSION,
        "description": "Open PBEsol reference pack for the Li6PS5Cl argyrodite (Li2S-P2S5-LiCl), computed with GPAW "
                       "by reference_data/build/build_pack.py (LIPS_PACK_SYSTEM=li6ps5cl) with the settings of the "
                       "lips-open-pbesol pack, whose Li2S-P2S5 results it reuses.",
        "system": system_section(task2_ok, task3_ok),
        "method": method_dict(),
        "units": {"energy": "eV", "forces": "eV/Å", "stress": "eV/Å^3", "positions": "Å"},
        "files": files,
        "task1": {"end_members": {n: n for n in END_MEMBERS}, "structures": task1},
        "task2": t2,
        "task3": t3,
        "data": {"file": DATA_FILE, "status": "ok" if n_data else "pending"},
    }
    (PACK_DIR / "manifest.yaml").write_text(
        "# generated by reference_data/build/manifest_li6ps5cl.py - do not edit by hand\n"
        + yaml.safe_dump(man, sort_keys=False, allow_unicode=True, width=120))
    return man


def sanity(name: str) -> dict | None:
    """Relaxed lattice parameter (cubic, from the primitive volume) against experiment."""
    rec = own_record(name)
    if rec is None or name not in EXPERIMENT_A or not rec.get("volume_A3"):
        return None
    a = (4 * rec["volume_A3"]) ** (1 / 3)  # both are F-centred: 4 primitive cells per cubic cell
    a_exp, src = EXPERIMENT_A[name]
    return {"a_A": a, "a_exp_A": a_exp, "rel": a / a_exp - 1, "source": src, "volume_A3": rec["volume_A3"],
            "start_volume_A3": rec.get("start_volume_A3"), "steps": rec.get("steps"),
            "wall_s": rec.get("wall_s_total"), "converged": rec.get("converged")}


def main() -> None:
    if PACK_SYSTEM != "li6ps5cl":
        raise SystemExit("manifest_li6ps5cl.py builds the argyrodite pack: run it with LIPS_PACK_SYSTEM=li6ps5cl")
    PACK_DIR.mkdir(parents=True, exist_ok=True)
    reused = copy_lips_results()
    formulas = {c.name: c.formula for c in CRYSTALS} | {n: _lips_formula(n) for n in reused}
    energies = {}
    for n in formulas:
        f = PACK_DIR / "task1" / f"{n}.extxyz"
        if f.exists():
            a = read(f)
            energies[n] = a.get_potential_energy() / len(a)
    form = formation_energies(energies, formulas) if all(n in energies for n in END_MEMBERS) else {}
    n2, n2t, regimes = assemble_task2(TASK2_FILE)
    t3 = assemble_task3()
    nd = assemble_data()
    import readme_li6ps5cl

    readme_li6ps5cl.write(form, {n: sanity(n) for n in ("Li6PS5Cl", "LiCl")}, n2, n2t, regimes, t3, nd)
    write_manifest(task1_entries(reused, formulas, form), n2, n2t, regimes, t3, nd)
    print(f"manifest {NAME}: task1 {sorted(energies)}, task2 {n2}/{n2t} {regimes}, task3 {t3}, data frames {nd}")


if __name__ == "__main__":
    main()
