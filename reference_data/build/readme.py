"""Generate ``pack/README.md`` from the records (called by ``manifest.py``; numbers are never typed by hand)."""
from __future__ import annotations

import json

import convergence
import numpy as np
from manifest import relax_progress
from reactions import energy_relative_to_meV_atom
from settings import (
    CRYSTALS,
    MELT_QUENCH,
    MODEL_ADVANCE_AFTER_STEPS,
    PACK_DIR,
    PREPARED_DIR,
    PRERELAX,
    PRERELAX_MAX_STEPS,
    PRERELAX_NAMES,
    PRODUCTION,
    RECORD_DIR,
    RELAX,
    RELAX_CELL_MAXSTEP_A,
    RELAX_CELL_REENTRY,
    RELAX_DE_WINDOW,
    RELAX_POSITIONS_MAXSTEP_A,
    TASK2_CROSSCHECK_INDICES,
    TIGHT,
    WORK_DIR,
    PRERELAX_FMAX_eV_A,
    RELAX_CELL_STIFFNESS_GPa,
    RELAX_CELL_STRESS_GPa,
    RELAX_DE_meV_atom,
    RELAX_FMAX_eV_A,
    RELAX_FMAX_LOOSE_eV_A,
    RELAX_PRECON_MU_eV_A2,
)

EV_A3_TO_GPA = 160.21766208


def _fmt(v, nd=3) -> str:
    return "–" if v is None else f"{round(v, nd) + 0.0:.{nd}f}"  # + 0.0: no "-0.0"


def _table(rows: list[dict], cols: list[str]) -> str:
    if not rows:
        return "_(no results yet)_\n"
    out = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
    for r in rows:
        out += "| " + " | ".join(str(r.get(c, "")) for c in cols) + " |\n"
    return out


def _task1_record(name: str) -> dict | None:
    """The finished relaxation record ``records/task1/<name>.json``; None while it is pending."""
    p = RECORD_DIR / "task1" / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _task1_rows(form: dict) -> list[dict]:
    rows = []
    for c in CRYSTALS:
        r = _task1_record(c.name) if c.source is not None else None
        prog_p = RECORD_DIR / "task1" / f"{c.name}.progress.json"
        row = {"name": c.name, "x_Li2S": f"{c.x_Li2S:.3f}"}
        if c.source is None:
            row["status"] = "missing (no open coordinates)"
        elif r is not None:
            p = -sum(r["stress_eV_A3"][:3]) / 3 * EV_A3_TO_GPA
            f = form.get(c.name, {})
            row.update({
                "status": ("ok (energy-converged)" if str(r.get("converged_by", "")).startswith("energy") else "ok")
                if r["converged"] else "ok (unconverged)", "atoms": r["natoms"],
                "k mesh": "x".join(map(str, r["kpts"])), "steps": r["steps"],
                "E (eV/atom)": f"{r['energy_per_atom_eV']:.5f}",
                "V start (Å³)": f"{r['start_volume_A3']:.2f}", "V relaxed (Å³)": f"{r['volume_A3']:.2f}",
                "P (GPa)": f"{p:.2f}", "s/step": r["wall_s_per_step"],
                "E_f (meV/atom)": _fmt(1000 * f["ef_eV_atom"], 1) if f else "–",
                "E_hull (meV/atom)": _fmt(1000 * f["e_above_hull_eV_atom"], 1)
                if f and "e_above_hull_eV_atom" in f else "–",
            })
        else:
            row["status"] = "pending: " + relax_progress(c.name)
            if prog_p.exists():
                row["k mesh"] = "x".join(map(str, json.loads(prog_p.read_text())["kpts"]))
            prov = PACK_DIR / "task1" / f"{c.name}.provisional.extxyz"
            f = form.get(c.name, {})
            if prov.exists() and f:
                from ase.io import read as _read

                a = _read(prov)
                row.update({
                    "status": "PROVISIONAL (" + row["status"].removeprefix("pending: ") + ")", "atoms": len(a),
                    "E (eV/atom)": f"{a.get_potential_energy() / len(a):.5f}",
                    "V relaxed (Å³)": f"{a.get_volume():.2f}",
                    "P (GPa)": f"{-sum(a.get_stress()[:3]) / 3 * EV_A3_TO_GPA:.2f}",
                    "E_f (meV/atom)": _fmt(1000 * f["ef_eV_atom"], 1),
                    "E_hull (meV/atom)": _fmt(1000 * f["e_above_hull_eV_atom"], 1),
                })
        rows.append(row)
    return rows


def _train_counts() -> str:
    import train_frames

    return ", ".join(f"{k} {done}/{n}" for k, (done, n) in train_frames.progress().items()) or "none yet"


def _relaxed_energy_vs(target: tuple[str, str], products: dict[str, str]) -> float | None:
    """Energy per atom (meV/atom) of the relaxed crystal ``target`` = (pack name, formula) above the balanced
    mixture of the relaxed ``products`` (formula -> pack name); None until all of them are relaxed."""
    e = {}
    for name in (target[0], *products.values()):
        r = _task1_record(name)
        if r is None:
            return None
        e[name] = r["energy_per_atom_eV"]
    return energy_relative_to_meV_atom(target[1], e[target[0]], {f: e[n] for f, n in products.items()})


def _relaxed_reaction() -> str:
    """Li2P2S6 + 2 Li2S -> 2 gamma-Li3PS4 at the relaxed structures (available before P2S5 is)."""
    de = _relaxed_energy_vs(("gamma-Li3PS4", "Li3PS4"), {"Li2P2S6": "Li2P2S6", "Li2S": "Li2S"})
    if de is None:
        return ""
    return (f"Reaction energy at the relaxed structures, Li2P2S6 + 2 Li2S → 2 γ-Li3PS4: {de:.1f} meV/atom "
            "(exothermic: γ-Li3PS4 is stable against Li2P2S6 + Li2S, as expected).\n")


def _li7p3s11_vs_gamma_p2s5() -> str:
    """Li7P3S11 against 7/3 γ-Li3PS4 + 1/3 P2S5, the decomposition the Materials Project numbers refer to."""
    de = _relaxed_energy_vs(("Li7P3S11", "Li7P3S11"), {"Li3PS4": "gamma-Li3PS4", "P2S5": "P2S5"})
    return "pending (needs the relaxed Li7P3S11)" if de is None else f"{de:+.1f} meV/atom"


def _beta_vs_gamma_li3ps4() -> str:
    """β-Li3PS4 against γ-Li3PS4 (same composition), the polymorph ordering of the sanity checks."""
    de = _relaxed_energy_vs(("beta-Li3PS4", "Li3PS4"), {"Li3PS4": "gamma-Li3PS4"})
    if de is None:
        return "PBEsol here: pending (needs the relaxed β-Li3PS4)"
    verdict = "above γ, as expected" if de > 0 else "below γ, against the expected ordering"
    return f"PBEsol here: β-Li3PS4 {de:+.1f} meV/atom relative to γ-Li3PS4 ({verdict})"


def _ht_li7ps6_check(form: dict) -> str:
    """Sanity bullet for the HT-Li7PS6 approximant: volume against its experimental (starting) cell, the
    symmetry the Li ordering leaves, and its energy above the hull, from its record and ``form``."""
    r = _task1_record("HT-Li7PS6")
    if r is None:
        return "- HT-Li7PS6 (extrapolation crystal): pending (its PBEsol relaxation has not finished)."
    a, b, c = r["cellpar"][:3]
    dv = 100 * (r["volume_A3"] / r["start_volume_A3"] - 1)
    hull = form.get("HT-Li7PS6", {}).get("e_above_hull_eV_atom")
    hull_text = f"{1000 * hull:+.1f} meV/atom above the hull" if hull is not None else "E_hull pending"
    return (f"- HT-Li7PS6 (extrapolation crystal): PBEsol volume {r['volume_A3']:.2f} Å³ against the experimental "
            f"cubic cell it started from, {r['start_volume_A3']:.2f} Å³ ({dv:+.1f} %); the 56-atom Li ordering "
            f"breaks the cubic symmetry (a, b, c = {a:.3f}, {b:.3f}, {c:.3f} Å). {hull_text}: expected for one "
            "ordered cell of a phase whose Li sublattice is disordered and which exists only at high temperature; "
            "models are compared on this cell's energy, not on the phase's.")


#: Materials Project (PBE, legacy database) energy above the hull of LT-Li7PS6, mp-1211324 (eV/atom)
MP_E_HULL_LT_LI7PS6_eV_atom = 0.0313


def lt_vs_ht_meV_atom(form: dict) -> float | None:
    """E_f(LT-Li7PS6) − E_f(HT-Li7PS6), meV/atom (same composition: the difference of energies per atom);
    None until both have a formation energy."""
    lt, ht = form.get("LT-Li7PS6", {}).get("ef_eV_atom"), form.get("HT-Li7PS6", {}).get("ef_eV_atom")
    return None if lt is None or ht is None else 1000 * (lt - ht)


def _lt_li7ps6_check(form: dict) -> str:
    """Sanity bullet for LT-Li7PS6: volume against the PBE cell it started from (PBEsol contracts by a few
    per cent), E_hull against the Materials Project's PBE value, and its energy against HT-Li7PS6."""
    r = _task1_record("LT-Li7PS6")
    if r is None:
        return ("- LT-Li7PS6 (Pna2_1, Materials Project mp-1211324, PBE-relaxed start): pending "
                f"({relax_progress('LT-Li7PS6')}).")
    dv = 100 * (r["volume_A3"] / r["start_volume_A3"] - 1)
    a, b, c = r["cellpar"][:3]
    hull = form.get("LT-Li7PS6", {}).get("e_above_hull_eV_atom")
    hull_text = (f"E_hull {1000 * hull:+.1f} meV/atom against the Materials Project's PBE "
                 f"{1000 * MP_E_HULL_LT_LI7PS6_eV_atom:+.1f} meV/atom" if hull is not None else "E_hull pending")
    d = lt_vs_ht_meV_atom(form)
    ht_text = ("HT-Li7PS6 pending" if d is None else
               f"{d:+.1f} meV/atom against the HT-Li7PS6 approximant ("
               + ("below it, as the low-temperature phase should be" if d < 0 else
                  "ABOVE it: the ordered HT approximant should not undercut the LT phase; check both") + ")")
    return (f"- LT-Li7PS6 (Pna2_1, fully ordered, 56 atoms): PBEsol volume {r['volume_A3']:.2f} Å³ against the "
            f"PBE cell it started from, {r['start_volume_A3']:.2f} Å³ ({dv:+.1f} %; PBEsol usually contracts PBE "
            f"cells by 2–5 %); a, b, c = {a:.3f}, {b:.3f}, {c:.3f} Å. {hull_text}; {ht_text}. No experimental "
            "lattice of LT-Li7PS6 with a citable number was found in the sources reachable here.")


def missing_slots_text() -> str:
    """The sentence listing the Task-1 slots without open coordinates (from ``settings.CRYSTALS``)."""
    from fractions import Fraction

    missing = [c for c in CRYSTALS if c.source is None]
    if not missing:
        return "Every Task-1 slot has open coordinates."
    items = ", ".join(f"{c.name} (x = {Fraction(c.x_Li2S).limit_denominator(12)})" for c in missing)
    return f"Slots without open coordinates (status `missing` in the manifest, fill with a user pack): {items}."


def _model_advance_text() -> str:
    """What the CHGNet leg of each model-advanced relaxation did (``advance.py``), from its files."""
    from ase.io import read
    from relax import advance_path, max_force_eV_A, paths, without_repeats

    out = []
    for name in MODEL_ADVANCE_AFTER_STEPS:
        if not advance_path(name).exists():
            continue
        start, end = read(advance_path(name), index=":")
        k = int(start.info["pbesol_step"])
        steps = without_repeats(read(paths(name)["steps"], index=":"))
        e0, ek = steps[0].get_potential_energy(), steps[k].get_potential_energy()
        fk = max_force_eV_A(steps[k].get_forces())
        after = ""
        if len(steps) > k + 1:
            e1 = steps[k + 1].get_potential_energy()
            after = (f" Its first PBEsol step from there lay {1000 * (e1 - ek) / len(start):+.1f} meV/atom from "
                     f"step {k} (fmax {max_force_eV_A(steps[k + 1].get_forces()):.2f} eV/Å).")
        r = _task1_record(name)
        if r is not None:
            e_end = steps[-1].get_potential_energy()
            modes = [f.info.get("relax_mode") for f in steps[k + 1:]]
            after += (f" It converged at step {len(steps) - 1} ({r['converged_by']}), "
                      f"{1000 * (e_end - ek) / len(start):+.1f} meV/atom from step {k}, after "
                      f"{modes.count('positions')} positions and {modes.count('cell')} cell steps from CHGNet's point.")
        out.append(
            f"{name} relaxation, CHGNet leg (`advance.py`, `task1/advance/{name}.extxyz`): over PBEsol production "
            f"steps 0–{k} the energy fell by {1000 * (e0 - ek) / len(start):.1f} meV/atom while fmax rose to "
            f"{fk:.2f} eV/Å: the Li that the ordering put on the 4c sites (inside an S tetrahedron) leave them, "
            f"~0.05 Å per 5-minute step. From step {k}, CHGNet relaxed the positions at the PBEsol cell with the space "
            f"group fixed (`FixSymmetry`; {end.info['advance_steps']} BFGS steps, CHGNet energy down by "
            f"{end.info['advance_energy_drop_eV']:.2f} eV, largest displacement "
            f"{end.info['advance_max_displacement_A']:.2f} Å) and the PBEsol relaxation continued from CHGNet's "
            f"minimum (steps {k + 1} on).{after} Every shipped step is PBEsol-labelled; the relaxed structure is a "
            "PBEsol minimum reached along a path CHGNet shortened, and one ordering among many for this "
            "Li-disordered phase.")
    return "\n\n".join(out)


def crosscheck_difference(production, tight) -> dict[str, float]:
    """Production minus tight-setting labels of one snapshot (two ``Atoms`` with energy, forces and
    stress): force RMSE and largest force-component difference (eV/Å), energy difference per atom
    (meV/atom; includes the cutoff's constant offset) and largest stress-component difference (GPa)."""
    df = production.get_forces() - tight.get_forces()
    ds = (production.get_stress() - tight.get_stress()) * EV_A3_TO_GPA
    return {"force_rmse_eV_A": float(np.sqrt((df ** 2).mean())), "force_max_abs_eV_A": float(np.abs(df).max()),
            "dE_meV_atom": 1000 * (production.get_potential_energy() - tight.get_potential_energy()) / len(production),
            "stress_max_abs_GPa": float(np.abs(ds).max())}


def _crosscheck_rows() -> list[dict]:
    from ase.io import read

    rows = []
    for i in TASK2_CROSSCHECK_INDICES:
        a_p = PACK_DIR / "task2" / "dft" / f"{i:03d}.extxyz"
        b_p = PACK_DIR / "task2" / "crosscheck" / f"{i:03d}.extxyz"
        if not (a_p.exists() and b_p.exists()):
            continue
        a = read(a_p)
        d = crosscheck_difference(a, read(b_p))
        rows.append({"snapshot": i, "regime": a.info["regime"], "dE": d["dE_meV_atom"],
                     "force RMSE (eV/Å)": f"{d['force_rmse_eV_A']:.4f}",
                     "max |ΔF| (eV/Å)": f"{d['force_max_abs_eV_A']:.4f}",
                     "ΔE (meV/atom, offset)": f"{d['dE_meV_atom']:.2f}",
                     "max |Δσ| (GPa)": f"{d['stress_max_abs_GPa']:.3f}"})
    return rows


def _crosscheck_text() -> str:
    rows = _crosscheck_rows()
    text = _table(rows, ["snapshot", "regime", "force RMSE (eV/Å)", "max |ΔF| (eV/Å)", "ΔE (meV/atom, offset)",
                         "max |Δσ| (GPa)"])
    if len(rows) > 1:
        spread = max(r["dE"] for r in rows) - min(r["dE"] for r in rows)
        text += (f"\nΔE is dominated by the cutoff's constant offset (convergence table above); what Task 2's "
                 f"energy errors see is its spread between snapshots, {spread:.2f} meV/atom over these "
                 f"{len(rows)} snapshots.\n")
    return text


def write(form: dict, n_task2: int, n_task2_total: int, task3_kind: str, n_data: int) -> None:
    conv = convergence.summary()
    reac = convergence.reaction_summary()
    t2recs = [json.loads(p.read_text()) for p in sorted((RECORD_DIR / "task2").glob("*.json"))] \
        if (RECORD_DIR / "task2").exists() else []
    t2_wall = np.mean([r["wall_s"] for r in t2recs]) if t2recs else None
    regimes = {}
    for r in t2recs:
        regimes[r["regime"]] = regimes.get(r["regime"], 0) + 1
    prep_notes = json.loads((PREPARED_DIR / "prepare_notes.json").read_text()) \
        if (PREPARED_DIR / "prepare_notes.json").exists() else {}
    ht = prep_notes.get("HT-Li7PS6", {})
    li7 = _task1_record("Li7P3S11")
    from ase.io import read

    chg = WORK_DIR / "Li7P3S11_chgnet_relaxed.extxyz"
    v_chg = read(chg).get_volume() if chg.exists() else None
    repro = [json.loads(p.read_text()) for p in sorted((RECORD_DIR / "reproduce").glob("*.json"))] \
        if (RECORD_DIR / "reproduce").exists() else []

    s = f"""# lips-open-pbesol reference pack (v2026.11)

The project's own open PBEsol reference data for pytest-lips (LiPS-25 Tasks 1–3), computed with GPAW by
`reference_data/build/` (`python reference_data/build/build_pack.py --stage all`). Every number below is
generated from the records in `records/` by `reference_data/build/manifest.py`; `manifest.yaml` lists every
file with its sha256. **This pack is not the LiPS-25 reference** (VASP PBEsol, 1000 eV, k-spacing 0.2 Å⁻¹,
SCF 1e-8 eV): it is an open, reproducible substitute at converged but cheaper settings.

## Method

| | |
|---|---|
| code | GPAW 22.8.0 (Debian), ASE 3.22.1, 2 MPI ranks |
| functional | PBEsol |
| PAW setups | generated with `gpaw-setup -f PBEsol Li P S` (GPAW 22.8.0 defaults; not shipped with GPAW); sha256 of each setup file in every record |
| basis | plane waves, {PRODUCTION.ecut_eV:g} eV, Pulay stress estimated (`dedecut='estimate'`) |
| k points | Γ-centred Monkhorst–Pack from a k-point density of {PRODUCTION.kdensity_A:g} Å (n_i = ⌈2π·{PRODUCTION.kdensity_A:g}·\\|b_i\\|⌉, b_i without 2π; ≈ a k-spacing of {1 / PRODUCTION.kdensity_A:.2f} Å⁻¹ in VASP's 2π convention); the mesh is fixed per structure from the starting cell and recorded |
| occupations | Fermi–Dirac {PRODUCTION.smearing_eV:g} eV (energies extrapolated to zero width) |
| SCF (single points) | {PRODUCTION.convergence} (energy eV/valence electron, forces eV/Å) |
| SCF (relaxations) | {RELAX.convergence} |
| relaxation | positions and cell, BFGS (maxstep {RELAX_CELL_MAXSTEP_A:g} Å) to fmax < {RELAX_FMAX_eV_A} eV/Å on the atoms with every stress component ≤ {RELAX_CELL_STRESS_GPa} GPa. Two phases: while the stress is above {RELAX_CELL_STRESS_GPa} GPa, cell and positions move together (ASE `UnitCellFilter` + BFGS, ASE 3.22; cell coordinates strain × cell_factor, cell forces virial/cell_factor: ASE's default cell_factor N up to HT-Li7PS6's step 35 (its steps 33–35 with maxstep 0.28 Å), then sqrt(V·C/70 eV/Å²) with C = {RELAX_CELL_STIFFNESS_GPa:g} GPa, so that BFGS's first cell step is about the elastic one, strain = stress/C, where cell_factor N had held HT-Li7PS6's volume change to 0.1 % per 9-minute step); below it the cell is held and only positions move (ASE `PreconLBFGS` with the `Exp` preconditioner, μ = {RELAX_PRECON_MU_eV_A2} eV/Å² fixed because ASE's own μ estimate displaces the atoms off GPAW's symmetry, and Armijo line search, each atom moving at most {RELAX_POSITIONS_MAXSTEP_A:g} Å per step from HT-Li7PS6's production step 26 on (0.04 Å, ASE's default, before it); P2S5 steps 6–11 still used BFGS, whose ~4 meV steps prompted the change), because GPAW restarts its SCF from scratch at every cell change (P2S5: 36 SCF iterations per cell step); a positions phase returns to the cell phase when the stress exceeds {RELAX_CELL_REENTRY:g}× the limit, or when the atoms are converged but the stress is above the limit (hysteresis, from Li7P3S11's production relaxation on; before it the phase switched at every crossing of the limit, every few steps near it) (`relax_mode` in every step). Li2S, γ-Li3PS4 and Li2P2S6 were relaxed before the two-phase rule, in the cell phase throughout. Where BFGS creeps along soft Li modes: fmax < {RELAX_FMAX_LOOSE_eV_A} eV/Å with |ΔE| < {RELAX_DE_meV_atom} meV/atom per step over {RELAX_DE_WINDOW} steps (recorded as `converged_by`); the first γ-Li3PS4 steps (0–6) were taken with ExpCellFilter, whose ASE-3.22 cell forces are the full virial; every step stored. The expensive cells ({", ".join(PRERELAX_NAMES)}) are first pre-relaxed at cheap settings ({PRERELAX.ecut_eV:g} eV, k density {PRERELAX.kdensity_A:g} Å, fmax {PRERELAX_FMAX_eV_A} eV/Å, at most {PRERELAX_MAX_STEPS} steps; scratch, not shipped) and then relaxed at production settings from there |

### Convergence check (Li2S primitive cell, 3 atoms, experimental lattice a = 5.7215 Å)

Energies per atom and pressures relative to the tightest point of each series (cutoff series at k density
{convergence.CONV_ECUT_AT_KDENSITY_A:g} Å; k series at {convergence.CONV_K_AT_ECUT_eV:g} eV); SCF 1e-7 eV/electron.

{_table(conv, ["series", "ecut_eV", "kdensity_A", "kpts", "dE_meV_atom", "pressure_GPa", "dP_GPa", "wall_s"])}
Formation-type reaction check, Li2P2S6 + 2 Li2S → 2 γ-Li3PS4 (edge-sharing P2S6²⁻ units, two PS4 tetrahedra with P···P 2.93 Å and no P–P bond, become isolated PS4 tetrahedra; starting geometries, production k meshes), energy per atom:

{_table(reac, ["ecut_eV", "ef_meV_atom", "wall_s"])}
Choice: the absolute energy per atom converges slowly with the cutoff (PAW setups with hard S/P partial
waves), but energy *differences* between compounds (formation energies) and stresses converge much faster:
the stress is converged to < 0.05 GPa at every cutoff thanks to the Pulay correction, and k density
{PRODUCTION.kdensity_A:g} Å is within 0.5 meV/atom of k density 5 Å for Li2S (smallest cell, worst case; the
other cells are insulators with flat bands). {PRODUCTION.ecut_eV:g} eV / {PRODUCTION.kdensity_A:g} Å is the
affordable point; the reaction check above gives its formation-energy error directly.

## Task 1: relaxed crystals on the Li2S–P2S5 tie line

Formation energies E_f per atom relative to Li2S and P2S5 (both relaxed here); E_hull = energy above the
lower convex hull of the structures computed so far (0 = on the hull). "P" is the residual pressure of
the last step.

{_table(_task1_rows(form), ["name", "x_Li2S", "status", "atoms", "k mesh", "steps", "s/step", "V start (Å³)",
                            "V relaxed (Å³)", "P (GPa)", "E (eV/atom)", "E_f (meV/atom)", "E_hull (meV/atom)"])}
{_relaxed_reaction()}
Sanity checks:
- Li7P3S11 volume: experiment 829.35 Å³ (Yamane et al. 2007); PBEsol here: {
    f"{li7['volume_A3']:.2f} Å³ ({100 * (li7['volume_A3'] / 829.35 - 1):+.1f} %)" if li7 else "pending"}; CHGNet ({
    "the provisional Task-3 cell until the PBEsol one existed" if li7 else "provisional Task-3 cell"}): {
    f"{v_chg:.2f} Å³ ({100 * (v_chg / 829.35 - 1):+.1f} %)" if v_chg else "–"}; DFT start: experimental cell (829.37 Å³); the CHGNet cell started from the VASP-PBE cell (871.15 Å³).
- Li7P3S11 against 7/3 γ-Li3PS4 + 1/3 P2S5 (energy per atom of Li7P3S11 minus that of the mixture):
  PBEsol here {_li7p3s11_vs_gamma_p2s5()}; Materials Project (PBE) +19.9 meV/atom, PAW-LDA +7.6 meV/atom
  (slightly above: metastable, as made by quenching a glass). Its E_hull column is relative to the lower
  hull of everything computed here (Li2P2S6 included), so it can differ from this number.
- Expected ordering (Materials Project PBE; Holzwarth PAW-LDA): γ-Li3PS4 on the hull, β-Li3PS4 slightly above
  it (PAW-LDA: +11.0 meV/atom, from −8.3706 and −8.2828 eV per formula unit). {_beta_vs_gamma_li3ps4()};
  β-Li3PS4 here is one ordering of its partially occupied Li sites, so its energy carries that choice.
- γ-Li3PS4 earlier PBEsol test on this machine: 309.2 Å³ against 309.1 Å³ for the experimental cell.
{_ht_li7ps6_check(form)}
{_lt_li7ps6_check(form)}

{missing_slots_text()}

HT-Li7PS6 ordering (no Li–Li contact below 2.0 Å): the Li sites of F-43m were regenerated from the
symmetry of the P/S framework of the shared approximant: the 48h orbit ({ht.get('n_48h', 48)} sites) and the
empty tetrahedral 4c sites ({ht.get('n_4c', '–')} sites, P + (¼,¼,¼), each inside four S of four PS4 units at
2.28 Å). The 48h sites come in disjoint pairs 1.9 Å apart, 24 pairs for 28 Li, so any ordering on 48h alone
has at least 4 pairs at 1.9 Å (the shared approximant has exactly those 4, at
{ht.get('min_li_li_input_A', '–')} Å). With the 4c sites as candidates, 28 sites were chosen (greedy
farthest-point start from every site + swap search, deterministic) to minimise, lexicographically, the
number of Li–Li pairs below 2.0, 2.3, 2.6 and 3.0 Å, then to maximise the minimum distance. Result:
{ht.get('n_li_on_4c', '–')} Li on 4c and one Li on each 48h pair; pairs below 2.0/2.3/2.6/3.0 Å:
{ht.get('li_li_pairs_below_2.0_2.3_2.6_3.0_A', '–')}; minimum Li–Li distance {ht.get('min_li_li_A', '–')} Å.

{_model_advance_text()}

## Task 2: Li7P3S11 melt–quench

CHGNet 0.4.2 (pretrained model v0.3.0, CPU) Langevin NVT MD of the CHGNet-relaxed Li7P3S11 cell (42 atoms),
dt {MELT_QUENCH.timestep_fs} fs, friction {MELT_QUENCH.friction_per_fs} fs⁻¹, seed {MELT_QUENCH.seed}:
{MELT_QUENCH.T_low_K:g} K for {MELT_QUENCH.t_crystal_ps} ps → heat to {MELT_QUENCH.T_high_K:g} K in
{MELT_QUENCH.t_heat_ps} ps → hold {MELT_QUENCH.t_liquid_ps} ps → quench to {MELT_QUENCH.T_low_K:g} K in
{MELT_QUENCH.t_quench_ps} ps → hold {MELT_QUENCH.t_amorphous_ps} ps. {MELT_QUENCH.snapshots_per_regime} evenly
spaced snapshots per regime window (crystal: first 300 K hold; liquid: 1500 K hold after its first ps;
amorphous: final 300 K hold), tagged `time_ps`, `temperature_K` (set point), `regime`; `msd_S_A2` (S mean
square displacement since t = 0) shows the melting. Labels: GPAW single points at production settings.

Progress: {n_task2}/{n_task2_total} snapshots labelled ({
    ", ".join(f"{k}: {v}" for k, v in sorted(regimes.items())) or "none yet"}); mean wall
time per single point {_fmt(t2_wall, 0)} s.

Cross-check at tighter settings ({TIGHT.ecut_eV:g} eV, k density {TIGHT.kdensity_A:g} Å, SCF {TIGHT.convergence}):

{_crosscheck_text()}
## Task 3

`task3/Li7P3S11.extxyz`: {
    "PBEsol-relaxed (same as task1/Li7P3S11.extxyz)" if task3_kind == "dft" else
    "PROVISIONAL CHGNet relaxation (positions + cell, FrechetCellFilter, fmax 0.02 eV/Å) of the shared Li7P3S11 "
    "cell; replaced automatically by the PBEsol-relaxed cell when that relaxation finishes"}.

## Training data

`data/lips_open.extxyz`: {n_data} frames, every PBEsol frame of the pack at production settings, LiPS-25
format: info `energy` (eV), `virial` (eV, = −stress·V), `label`, per-atom `forces`. Labels follow LiPS-25's
categories as pytest-lips reads them (`pytest_lips.data.label_category`): `crystalline` (a relaxed crystal),
`crystalline-relaxation` (a DFT relaxation step; category crystalline), `Iter1-meltquench` (a Task-2
melt-quench snapshot; category iter1), and the training-only frames of `train_frames.py`:
`crystalline-rattled` (a relaxed crystal with seeded random strain, σ 0.02, and displacements, σ 0.05–0.2 Å)
and `Iter2-md-<crystal>-<T>K` (CHGNet Langevin NVT snapshots of γ-Li3PS4 at 600/1000/1500 K and of Li7P3S11 at 600/1200 K, independent of the Task-2 trajectory; category iter2), which
no task uses as a reference. Training-only frames labelled so far: {_train_counts()}. `structure`/`step` or `regime`/`time_ps`/`temperature_K` say where
each frame comes from. `split` is fixed in the file: every Task-2 snapshot is `test` (it is Task 2's
reference, so a model trained on the train/val frames is not scored on its own training data); relaxation
steps are assigned 80:10:10 by a hash of `<structure>/<step>`, so they keep their split as the file grows
(neighbouring steps of one relaxation are correlated: treat the relaxation test frames as an optimistic
check). Use it as `pytest --lips-data=reference_data/pack/data/lips_open.extxyz ...`.

## Origin of the starting structures (inputs only; not shipped)

| structure | origin |
|---|---|
""" + "".join(f"| {c.name} | {c.origin} |\n" for c in CRYSTALS if c.source) + f"""
Reduced cells: spglib primitive cells (Li2S 3 atoms, Li2P2S6 10 atoms); the others are already primitive
or (HT-Li7PS6) kept as the 56-atom ordered cubic cell.

## Reproducibility

`python reference_data/build/reproduce.py NAME` re-runs the generator on one structure from nothing
but the repository and the shared starting structures: it generates the PBEsol setups afresh with
`gpaw-setup -f PBEsol Li P S` (and compares their sha256 with the recorded ones), relaxes NAME from its
prepared start with the production settings into a scratch pack, and compares the relaxed energy per atom
with the shipped one (tolerance 1 meV/atom). Measured:

{_table([{"name": r["name"], "shipped (eV/atom)": f"{r['shipped_eV_atom']:.6f}",
           "re-run (eV/atom)": f"{r['recomputed_eV_atom']:.6f}",
           "ΔE (meV/atom)": f"{r['abs_diff_meV_atom']:.4f}",
           "volume shipped / re-run (Å³)": f"{r.get('shipped_volume_A3', float('nan')):.3f} / "
                                           f"{r.get('recomputed_volume_A3', float('nan')):.3f}",
           "setups identical": r.get('setups_match_shipped_record'), "wall_s": r['wall_s']} for r in repro],
         ["name", "shipped (eV/atom)", "re-run (eV/atom)", "ΔE (meV/atom)", "volume shipped / re-run (Å³)",
          "setups identical", "wall_s"])}
## Pending work and how to resume

The GPAW queue (one job at a time, 2 MPI ranks) works through: convergence check → reproducibility check
(Li2S) → Li2S, γ-Li3PS4, Li2P2S6, P2S5 (cheap pre-relaxation, then at most 40 production steps in this
pass) → CHGNet melt-quench (skipped when its snapshots exist) → the first 6 Task-2 single points (two per
regime; Task 2 is usable from then on) → Li7P3S11 → training-only frames for the example model (rattled
and CHGNet-MD copies of the small relaxed crystals, `train_frames.py`) → the Li7P3S11 MD training frames
(42-atom single points; before the remaining Task-2 snapshots because those are test-only and do not help
the example model, which otherwise sees almost no liquid Li7P3S11) → the other Task-2 single points (interleaved order
0, 8, 16, 4, 12, 20, …, three per GPAW process, each SCF starting from the previous snapshot's
wavefunctions) → cross-check of snapshots {", ".join(map(str, TASK2_CROSSCHECK_INDICES))} → remaining
relaxations (P2S5 if unfinished, β-Li3PS4, HT-Li7PS6; each pre-relaxed cheaply first; their relaxation
steps join the training data like every other) → training-only sets (`train_frames.TRAIN_SETS`) whose crystal
was relaxed only then (none at present). Measured costs on
this machine (2 cores): see s/step above; a Li7P3S11 single point is several minutes.
Everything written into the pack is kept; re-running resumes (relaxations from their last stored step;
pre-relaxation progress lives in the git-ignored `reference_data/build/work/` and is redone in a fresh checkout):

    setsid nohup nice -n 5 python reference_data/build/build_pack.py --stage all > reference_data/build/work/logs/queue.out 2>&1 &

Status of every slot is in `manifest.yaml` (`status: ok | pending | missing`, with a reason).
"""  # noqa: E501 (markdown table rows, paragraphs and a shell command of the generated README)
    (PACK_DIR / "README.md").write_text(s)
