"""Resumable PBEsol relaxation of positions and cell (GPAW python, ASE 3.22, under MPI).

BFGS to ``RELAX_FMAX_eV_A`` on the atoms with every stress component below ``RELAX_CELL_STRESS_GPa``:
positions and cell together (UnitCellFilter) while the stress is above that, positions only at fixed cell
once it is below (see ``run``). Every DFT-labelled step (energy, forces, stress) is appended to
``pack/task1/relax/<name>.extxyz`` the moment it exists; a re-run continues from the last written step
(a fresh BFGS Hessian). When converged the last step is written as ``pack/task1/<name>.extxyz`` and a
record with settings, code versions and wall times goes to ``pack/records/task1/<name>.json``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from ase.io import read, write
from settings import (
    PACK_DIR,
    PREPARED_DIR,
    PRERELAX,
    PRERELAX_MAX_STEPS,
    PRERELAX_NAMES,
    RECORD_DIR,
    RELAX,
    RELAX_CELL_MAXSTEP_A,
    RELAX_CELL_REENTRY,
    RELAX_DE_WINDOW,
    RELAX_MAX_STEPS,
    RELAX_POSITIONS_MAXSTEP_A,
    WORK_DIR,
    BFGS_ALPHA_eV_A2,
    PRERELAX_FMAX_eV_A,
    RELAX_CELL_STIFFNESS_GPa,
    RELAX_CELL_STRESS_GPa,
    RELAX_DE_meV_atom,
    RELAX_FMAX_eV_A,
    RELAX_FMAX_LOOSE_eV_A,
    RELAX_PRECON_MU_eV_A2,
    crystal,
)


def paths(name: str) -> dict[str, Path]:
    return {
        "steps": PACK_DIR / "task1" / "relax" / f"{name}.extxyz",
        "final": PACK_DIR / "task1" / f"{name}.extxyz",
        "record": RECORD_DIR / "task1" / f"{name}.json",
        "progress": RECORD_DIR / "task1" / f"{name}.progress.json",
    }


def advance_path(name: str) -> Path:
    """The CHGNet leg of a model-advanced relaxation (``advance.py``): start and end frame."""
    return PACK_DIR / "task1" / "advance" / f"{name}.extxyz"


def advanced_start(name: str, frames: list):
    """The CHGNet-advanced geometry to continue from, if the last written step is where the advance
    started (``advance.py``); else None."""
    p = advance_path(name)
    if not frames or not p.exists():
        return None
    start, end = read(p, index=":")
    return end if same_geometry(frames[-1], start) else None


def complete_text(path: Path) -> str:
    """The complete frames of an extxyz a job may be appending to (a truncated last frame is left out)."""
    lines = path.read_text().splitlines(keepends=True)
    i, end = 0, 0
    while i < len(lines) and lines[i].strip():
        n = int(lines[i])
        if i + 2 + n > len(lines):
            break
        i += 2 + n
        end = i
    return "".join(lines[:end])


def complete_frames(path: Path) -> list:
    """Frames of :func:`complete_text` (read-only: safe on a file another job is writing)."""
    import io

    text = complete_text(path)
    return read(io.StringIO(text), index=":", format="extxyz") if text else []


def _read_complete(path: Path) -> list:
    """All frames of a step file; a frame truncated by a killed job is dropped (and the file rewritten)."""
    try:
        return read(path, index=":")
    except Exception:
        from ase.parallel import world

        text = complete_text(path)
        if world.rank == 0:
            path.write_text(text)
        world.barrier()
        return read(path, index=":") if text else []


def same_geometry(a, b, tol_A: float = 1e-8) -> bool:
    """Whether two frames have the same atoms, positions and cell (Å): an optimiser step that did not move."""
    import numpy as np

    return (len(a) == len(b) and list(a.numbers) == list(b.numbers)
            and np.allclose(a.positions, b.positions, rtol=0, atol=tol_A)
            and np.allclose(a.cell[:], b.cell[:], rtol=0, atol=tol_A))


def without_repeats(frames: list) -> list:
    """``frames`` less each frame whose geometry repeats the one before it (:func:`same_geometry`).

    ASE's PreconLBFGS leaves the atoms where they are when its Armijo line search fails (the L-BFGS
    direction is not downhill, as on a path of negative curvature) and resets its Hessian; the observer
    then sees the same geometry twice. HT-Li7PS6's steps file had four such repeats before
    :func:`two_phase_bfgs` skipped them.
    """
    out: list = []
    for fr in frames:
        if not (out and same_geometry(out[-1], fr)):
            out.append(fr)
    return out


def is_done(name: str) -> bool:
    return paths(name)["final"].exists()


def _max_stress_GPa(atoms) -> float:
    from ase.units import GPa

    return float(abs(atoms.get_stress()).max() / GPa)


def max_force_eV_A(forces) -> float:
    """Largest force norm over the atoms (eV/Å) of an (N, 3) force array."""
    return float((forces ** 2).sum(axis=1).max() ** 0.5)


def cell_factor(atoms) -> float:
    """UnitCellFilter ``cell_factor`` that gives the cell coordinates the curvature of BFGS's initial
    Hessian: sqrt(V * C / alpha) with C = ``RELAX_CELL_STIFFNESS_GPa``, alpha = ``BFGS_ALPHA_eV_A2``;
    at least 1. Then BFGS's first cell step is about strain = stress / C."""
    from ase.units import GPa

    return max(1.0, (atoms.get_volume() * RELAX_CELL_STIFFNESS_GPa * GPa / BFGS_ALPHA_eV_A2) ** 0.5)


def phase_after_step(mode: str, stress_GPa: float, fmax_atoms_eV_A: float, fmax_target_eV_A: float) -> str:
    """The relaxation phase ('cell' or 'positions') for the next step, with hysteresis.

    The cell phase hands over once every stress component is within ``RELAX_CELL_STRESS_GPa``. The
    positions phase tolerates stress up to ``RELAX_CELL_REENTRY`` times that limit while the atoms are
    still moving (relaxing the atoms shifts the stress by a few 0.1 GPa; switching on every crossing
    restarts the optimiser every few steps, as Li7P3S11's pre-relaxation showed), and returns to the cell
    phase when the stress exceeds that, or when the atoms are converged but the stress is not.
    """
    limit = RELAX_CELL_STRESS_GPa
    if mode == "cell":
        return "positions" if stress_GPa <= limit else "cell"
    if stress_GPa > RELAX_CELL_REENTRY * limit or (fmax_atoms_eV_A < fmax_target_eV_A and stress_GPa > limit):
        return "cell"
    return "positions"


def two_phase_bfgs(atoms, frames: list, steps_path: Path, budget: int, fmax_eV_A: float, step_info: dict,
                   bfgs_log: Path, on_step=None, atoms_are_last_frame: bool = True) -> str:
    """Relax ``atoms`` (calculator attached) with BFGS in two phases; returns how it converged ('' if not).

    Phases, chosen from the last written frame (``frames``): while any stress component exceeds
    ``RELAX_CELL_STRESS_GPa``, cell and positions move together (UnitCellFilter, BFGS); below it the cell
    is held and only positions move (PreconLBFGS with the Exp preconditioner), so GPAW keeps its
    wavefunctions between steps instead of restarting the SCF.
    Hand-overs follow :func:`phase_after_step` (with hysteresis). Converged:
    fmax on the atoms < ``fmax_eV_A`` with the stress below the limit, or the energy-converged criterion
    (``RELAX_DE_*``). Every step is appended to ``steps_path`` as a labelled frame the moment it exists
    (``step_info`` added to its info); ``on_step(frame)`` is called after each write. When resuming,
    ``atoms`` is the last written frame (not written again) unless ``atoms_are_last_frame`` is False
    (a model-advanced geometry: written as the next step).
    """
    try:  # ASE >= 3.23 (the tests); the GPAW side runs ASE 3.22
        from ase.filters import UnitCellFilter
    except ImportError:
        from ase.constraints import UnitCellFilter
    from ase.optimize import BFGS
    from ase.optimize.precon import Exp, PreconLBFGS
    from ase.parallel import world
    from dft import labelled_copy

    state = {"t": time.time(), "skip_first": bool(frames) and atoms_are_last_frame, "n": len(frames),
             "converged_by": "",
             "switch": False, "energies": [float(fr.get_potential_energy()) for fr in frames],
             "last": frames[-1].copy() if frames else None}
    if frames:  # resumed: the phase the last written step leads to
        last = frames[-1]
        fmax_last = max_force_eV_A(last.get_forces())
        cell_phase = phase_after_step(last.info.get("relax_mode", "cell"), _max_stress_GPa(last), fmax_last,
                                      fmax_eV_A) == "cell"
    else:
        cell_phase = True
    while budget > 0 and not state["converged_by"]:
        mode = "cell" if cell_phase else "positions"
        if cell_phase:
            target = UnitCellFilter(atoms, cell_factor=cell_factor(atoms))
            opt = BFGS(target, logfile=str(bfgs_log), maxstep=RELAX_CELL_MAXSTEP_A, alpha=BFGS_ALPHA_eV_A2)
        else:
            # positions only: LBFGS preconditioned with ASE's Exp Hessian model from the bond network (stiff
            # P-S bonds, soft intermolecular modes), Armijo line search; plain BFGS from alpha*I needed
            # many steps of ~4 meV each on P2S5
            target = atoms
            opt = PreconLBFGS(atoms, precon=Exp(A=3.0, mu=RELAX_PRECON_MU_eV_A2), use_armijo=True,
                              maxstep=RELAX_POSITIONS_MAXSTEP_A, logfile=str(bfgs_log))
        state["switch"] = False

        def observe(target=target, mode=mode) -> None:
            now = time.time()
            wall = now - state["t"]
            state["t"] = now
            if state["skip_first"]:  # resumed: this geometry is already the last written frame
                state["skip_first"] = False
                return
            if state["last"] is not None and same_geometry(state["last"], atoms):
                return  # the optimiser did not move (failed line search, Hessian reset): nothing new to label
            state["last"] = atoms.copy()
            e = atoms.get_potential_energy()
            f = atoms.get_forces()
            s = atoms.get_stress()
            fmax_atoms = max_force_eV_A(f)
            fmax_opt = max_force_eV_A(target.get_forces())
            smax = _max_stress_GPa(atoms)
            frame = labelled_copy(atoms, e, f, s, {
                **step_info, "step": state["n"], "wall_s": round(wall, 1), "fmax_filter_eV_A": round(fmax_opt, 5),
                "fmax_atoms_eV_A": round(fmax_atoms, 5), "max_stress_GPa": round(smax, 4), "relax_mode": mode,
                "volume_A3": round(float(atoms.get_volume()), 4)})
            if world.rank == 0:
                steps_path.parent.mkdir(parents=True, exist_ok=True)
            write(steps_path, frame, format="extxyz", append=True)
            state["n"] += 1
            stress_ok = smax <= RELAX_CELL_STRESS_GPa
            # energy-converged stop (settings.RELAX_DE_meV_atom): soft Li modes make BFGS creep
            en = state["energies"]
            en.append(float(e))
            if len(en) > RELAX_DE_WINDOW and stress_ok:
                de = [abs(a - b) * 1000 / len(atoms)
                      for a, b in zip(en[-RELAX_DE_WINDOW - 1:-1], en[-RELAX_DE_WINDOW:])]
                if max(de) < RELAX_DE_meV_atom and fmax_atoms < RELAX_FMAX_LOOSE_eV_A:
                    state["converged_by"] = (f"energy: fmax {fmax_atoms:.3f} < {RELAX_FMAX_LOOSE_eV_A} eV/A and |dE| < "
                                             f"{RELAX_DE_meV_atom} meV/atom per step over {RELAX_DE_WINDOW} steps, "
                                             f"stress {smax:.2f} <= {RELAX_CELL_STRESS_GPa} GPa")
            if fmax_atoms < fmax_eV_A and stress_ok:
                state["converged_by"] = (f"fmax {fmax_atoms:.3f} < {fmax_eV_A} eV/A, "
                                         f"stress {smax:.2f} <= {RELAX_CELL_STRESS_GPa} GPa")
            # phase hand-over: cell settled -> positions only; stress well back up -> cell again
            state["switch"] = phase_after_step(mode, smax, fmax_atoms, fmax_eV_A) != mode
            if on_step is not None:
                on_step(frame, mode)

        opt.attach(observe, interval=1)
        n_before = state["n"]
        for _ in opt.irun(fmax=0.0, steps=budget):  # convergence is judged in observe()
            if state["converged_by"] or state["switch"]:
                break
        budget -= max(1, state["n"] - n_before)
        if state["switch"] and not state["converged_by"]:
            cell_phase = not cell_phase  # BFGS has already stepped past the last written frame: no skip
        elif not state["converged_by"]:
            break
    return state["converged_by"]


def prerelax(name: str) -> Path:
    """Cheap pre-relaxation (``settings.PRERELAX``, scratch in work/prerelax/, same two-phase BFGS as the
    production run); returns the start file for the production relaxation. Resumable; steps not shipped."""
    from ase.parallel import world
    from dft import kpt_mesh, log_path, make_calc

    d = WORK_DIR / "prerelax"
    if world.rank == 0:
        d.mkdir(parents=True, exist_ok=True)
    world.barrier()
    final, steps_p = d / f"{name}.final.extxyz", d / f"{name}.steps.extxyz"
    if final.exists():
        return final
    start = read(PREPARED_DIR / f"{name}.extxyz")
    mesh = kpt_mesh(start, PRERELAX.kdensity_A)
    done = _read_complete(steps_p) if steps_p.exists() else []
    done = [fr for fr in done if fr.calc is not None]  # frames of the older format carry no labels
    atoms = done[-1].copy() if done else start.copy()
    atoms.calc = make_calc(PRERELAX, mesh, log_path("relax", f"{name}.prerelax.txt"))
    two_phase_bfgs(atoms, done, steps_p, PRERELAX_MAX_STEPS - len(done), PRERELAX_FMAX_eV_A,
                   {"name": name, "label": "prerelaxation", "kpts": "x".join(map(str, mesh))},
                   log_path("relax", f"{name}.prerelax.bfgs.log"))
    out = read(steps_p, index=-1)
    out.calc = None
    out.info = {"prerelax": f"{PRERELAX.to_dict()} mesh {mesh}"}
    write(final, out, format="extxyz")
    return final


def _renumbered(frames: list) -> list:
    """``frames`` with their ``step`` info renumbered 0, 1, ... (after :func:`without_repeats`)."""
    for i, fr in enumerate(frames):
        fr.info["step"] = i
    return frames


def chgnet_start(name: str) -> Path:
    """A CHGNet pre-relaxation of the prepared start (``build_pack.stage_chgnet_prerelax``; settings
    ``CHGNET_PRERELAX_NAMES``): when it exists, the PBEsol relaxation starts from it."""
    return PREPARED_DIR / f"{name}.chgnet.extxyz"


def run(name: str, max_new_steps: int | None = None) -> str:
    """Relax ``name`` at production settings with :func:`two_phase_bfgs`, continuing from its written steps
    (``pack/task1/relax/<name>.extxyz``). Returns 'done', 'partial' or 'skipped'."""

    from dft import code_info, kpt_mesh, log_path, make_calc, master_write_atoms, master_write_json

    p = paths(name)
    if p["final"].exists():
        return "skipped"
    c = crystal(name)
    start_file = PREPARED_DIR / f"{name}.extxyz"
    if name in PRERELAX_NAMES and not p["steps"].exists():
        start_file = prerelax(name)
    elif name in PRERELAX_NAMES and (WORK_DIR / "prerelax" / f"{name}.final.extxyz").exists():
        start_file = WORK_DIR / "prerelax" / f"{name}.final.extxyz"
    elif chgnet_start(name).exists():
        start_file = chgnet_start(name)
    start = read(start_file)
    prepared_volume = float(read(PREPARED_DIR / f"{name}.extxyz").get_volume())
    progress = json.loads(p["progress"].read_text()) if p["progress"].exists() else {}
    mesh = progress.get("kpts") or kpt_mesh(start, RELAX.kdensity_A)
    frames = _read_complete(p["steps"]) if p["steps"].exists() else []
    distinct = without_repeats(frames)
    if len(distinct) < len(frames):  # repeats written before two_phase_bfgs skipped them
        frames = _renumbered(distinct)
        master_write_atoms(p["steps"], frames)
    advanced = advanced_start(name, frames)
    if advanced is not None:  # advance.py has carried the last step on with CHGNet: continue from there
        atoms = advanced.copy()
        atoms.calc = None
        atoms.info = {}
    elif frames:
        atoms = frames[-1].copy()
        atoms.calc = None
    else:
        atoms = start.copy()
    budget = RELAX_MAX_STEPS - len(frames)
    if max_new_steps:
        budget = min(budget, max_new_steps)
    atoms.calc = make_calc(RELAX, mesh, log_path("relax", f"{name}.txt"))

    def progress_note(frame, mode: str) -> None:
        master_write_json(p["progress"], {
            "name": name, "kpts": mesh, "steps_written": int(frame.info["step"]) + 1,
            "last_fmax_atoms_eV_A": frame.info["fmax_atoms_eV_A"], "last_max_stress_GPa": frame.info["max_stress_GPa"],
            "relax_mode": mode, "last_energy_eV": float(frame.get_potential_energy()), "settings": RELAX.to_dict()})

    converged_by = two_phase_bfgs(atoms, frames, p["steps"], budget, RELAX_FMAX_eV_A,
                                  {"name": name, "label": "relaxation"}, log_path("relax", f"{name}.bfgs.log"),
                                  on_step=progress_note, atoms_are_last_frame=advanced is None)
    n_written = len(_read_complete(p["steps"])) if p["steps"].exists() else 0
    converged = bool(converged_by)
    if not converged and n_written < RELAX_MAX_STEPS:
        return "partial"
    frames = read(p["steps"], index=":")
    last = frames[-1]
    walls = [fr.info.get("wall_s", 0.0) for fr in frames]
    last.info.update({"name": name, "label": "crystalline", "relax_converged": bool(converged),
                      "origin": c.origin})
    master_write_atoms(p["final"], last)
    rec = {"name": name, "formula": c.formula, "natoms": len(last), "converged": bool(converged),
           "converged_by": converged_by,
           "fmax_eV_A": RELAX_FMAX_eV_A, "cell_stress_limit_GPa": RELAX_CELL_STRESS_GPa,
           "steps": len(frames), "kpts": mesh,
           "steps_by_mode": {m: sum(1 for fr in frames if fr.info.get("relax_mode", "cell") == m)
                             for m in ("cell", "positions")},
           "energy_eV": float(last.get_potential_energy()),
           "energy_per_atom_eV": float(last.get_potential_energy()) / len(last),
           "volume_A3": float(last.get_volume()), "start_volume_A3": prepared_volume,
           "max_stress_GPa": _max_stress_GPa(last),
           "fmax_atoms_final_eV_A": max_force_eV_A(last.get_forces()),
           "prerelaxed": name in PRERELAX_NAMES,
           "chgnet_prerelaxed": chgnet_start(name).exists(),
           "prerelax_settings": PRERELAX.to_dict() if name in PRERELAX_NAMES else None,
           "cellpar": [float(x) for x in last.cell.cellpar()],
           "stress_eV_A3": [float(x) for x in last.get_stress()],
           "wall_s_total": round(sum(walls), 1), "wall_s_per_step": round(sum(walls) / max(1, len(walls)), 1),
           "settings": RELAX.to_dict(), "origin": c.origin, **code_info()}
    if advance_path(name).exists():
        start_adv, end_adv = read(advance_path(name), index=":")
        rec["model_advance"] = {"after_step": start_adv.info.get("pbesol_step"),
                                "file": f"task1/advance/{name}.extxyz", "model": end_adv.info.get("label_source"),
                                **{k.removeprefix("advance_"): v for k, v in end_adv.info.items()
                                   if k.startswith("advance_")}}
    master_write_json(p["record"], rec)
    return "done"
