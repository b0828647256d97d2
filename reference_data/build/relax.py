"""Resumable PBEsol relaxation of positions and cell (GPAW python, ASE 3.22, under MPI).

UnitCellFilter + BFGS to ``RELAX_FMAX_eV_A`` (the filter's cell forces are virial/N, so the criterion
also bounds the stress). Every DFT-labelled step (energy, forces, stress) is appended to
``pack/task1/relax/<name>.extxyz`` the moment it exists; a re-run continues from the last written step
(a fresh BFGS Hessian). When converged the last step is written as ``pack/task1/<name>.extxyz`` and a
record with settings, code versions and wall times goes to ``pack/records/task1/<name>.json``.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ase.io import read, write

from settings import (PACK_DIR, PREPARED_DIR, PRERELAX, PRERELAX_FMAX_eV_A, PRERELAX_MAX_STEPS, PRERELAX_NAMES,
                      RECORD_DIR, RELAX, RELAX_DE_WINDOW, RELAX_DE_meV_atom, RELAX_FMAX_eV_A,
                      RELAX_FMAX_LOOSE_eV_A, RELAX_MAX_STEPS, WORK_DIR, crystal)


def paths(name: str) -> dict[str, Path]:
    return {
        "steps": PACK_DIR / "task1" / "relax" / f"{name}.extxyz",
        "final": PACK_DIR / "task1" / f"{name}.extxyz",
        "record": RECORD_DIR / "task1" / f"{name}.json",
        "progress": RECORD_DIR / "task1" / f"{name}.progress.json",
    }


def _read_complete(path: Path) -> list:
    """All frames of a step file; a frame truncated by a killed job is dropped (and the file rewritten)."""
    try:
        return read(path, index=":")
    except Exception:
        from ase.parallel import world

        lines = path.read_text().splitlines(keepends=True)
        frames, i = [], 0
        while i < len(lines):
            n = int(lines[i])
            if i + 2 + n > len(lines):
                break
            frames.append("".join(lines[i:i + 2 + n]))
            i += 2 + n
        if world.rank == 0:
            path.write_text("".join(frames))
        world.barrier()
        return read(path, index=":") if frames else []


def is_done(name: str) -> bool:
    return paths(name)["final"].exists()


def prerelax(name: str) -> Path:
    """Cheap pre-relaxation (``settings.PRERELAX``, scratch in work/prerelax/); returns the start file for
    the production relaxation. Resumable like the production relaxation; steps are not shipped."""
    from ase.constraints import UnitCellFilter
    from ase.optimize import BFGS

    from dft import kpt_mesh, log_path, make_calc

    from ase.parallel import world

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
    atoms = done[-1].copy() if done else start.copy()
    atoms.calc = make_calc(PRERELAX, mesh, log_path("relax", f"{name}.prerelax.txt"))
    flt = UnitCellFilter(atoms)
    opt = BFGS(flt, logfile=str(log_path("relax", f"{name}.prerelax.bfgs.log")), maxstep=0.1)

    def observe() -> None:
        a = atoms.copy()
        a.calc = None
        a.info = {"energy_prerelax_eV": float(atoms.get_potential_energy()), "kpts": "x".join(map(str, mesh))}
        write(steps_p, a, format="extxyz", append=True)

    opt.attach(observe, interval=1)
    opt.run(fmax=PRERELAX_FMAX_eV_A, steps=max(1, PRERELAX_MAX_STEPS - len(done)))
    out = atoms.copy()
    out.calc = None
    out.info = {"prerelax": f"{PRERELAX.to_dict()} mesh {mesh}"}
    write(final, out, format="extxyz")
    return final


def run(name: str, max_new_steps: int | None = None) -> str:
    """Relax ``name`` (continuing from its written steps). Returns 'done', 'partial' or 'skipped'."""
    from ase.constraints import UnitCellFilter
    from ase.optimize import BFGS
    from ase.parallel import world

    from dft import code_info, kpt_mesh, labelled_copy, log_path, make_calc, master_write_json

    p = paths(name)
    if p["final"].exists():
        return "skipped"
    c = crystal(name)
    start_file = PREPARED_DIR / f"{name}.extxyz"
    if name in PRERELAX_NAMES and not p["steps"].exists():
        start_file = prerelax(name)
    elif name in PRERELAX_NAMES and (WORK_DIR / "prerelax" / f"{name}.final.extxyz").exists():
        start_file = WORK_DIR / "prerelax" / f"{name}.final.extxyz"
    start = read(start_file)
    prepared_volume = float(read(PREPARED_DIR / f"{name}.extxyz").get_volume())
    progress = json.loads(p["progress"].read_text()) if p["progress"].exists() else {}
    mesh = progress.get("kpts") or kpt_mesh(start, RELAX.kdensity_A)
    steps_done = 0
    frames = _read_complete(p["steps"]) if p["steps"].exists() else []
    if frames:
        steps_done = len(frames)
        atoms = frames[-1].copy()
        atoms.calc = None
    else:
        atoms = start.copy()
    total_steps_left = RELAX_MAX_STEPS - steps_done
    n_run = min(total_steps_left, max_new_steps) if max_new_steps else total_steps_left
    atoms.calc = make_calc(RELAX, mesh, log_path("relax", f"{name}.txt"))
    flt = UnitCellFilter(atoms)
    opt = BFGS(flt, logfile=str(log_path("relax", f"{name}.bfgs.log")), maxstep=0.1)
    state = {"t": time.time(), "first": True, "n": steps_done, "converged_by": "",
             "energies": [float(fr.get_potential_energy()) for fr in read(p["steps"], index=":")]
             if steps_done else []}

    def observe() -> None:
        now = time.time()
        wall = now - state["t"]
        state["t"] = now
        if state["first"] and steps_done > 0:  # resumed: this geometry is already the last written frame
            state["first"] = False
            return
        state["first"] = False
        e = atoms.get_potential_energy()
        f = atoms.get_forces()
        s = atoms.get_stress()
        fmax_filter = float((flt.get_forces() ** 2).sum(axis=1).max() ** 0.5)
        frame = labelled_copy(atoms, e, f, s, {
            "name": name, "step": state["n"], "wall_s": round(wall, 1), "fmax_filter_eV_A": round(fmax_filter, 5),
            "volume_A3": round(float(atoms.get_volume()), 4), "label": "relaxation"})
        p["steps"].parent.mkdir(parents=True, exist_ok=True) if world.rank == 0 else None
        write(p["steps"], frame, format="extxyz", append=True)
        state["n"] += 1
        # energy-converged stop (settings.RELAX_DE_meV_atom): soft Li modes make BFGS creep
        en = state["energies"]
        en.append(float(e))
        if len(en) > RELAX_DE_WINDOW:
            de = [abs(a - b) * 1000 / len(atoms) for a, b in zip(en[-RELAX_DE_WINDOW - 1:-1], en[-RELAX_DE_WINDOW:])]
            if max(de) < RELAX_DE_meV_atom and fmax_filter < RELAX_FMAX_LOOSE_eV_A:
                state["converged_by"] = (f"energy: fmax {fmax_filter:.3f} < {RELAX_FMAX_LOOSE_eV_A} eV/A and |dE| < "
                                         f"{RELAX_DE_meV_atom} meV/atom per step over {RELAX_DE_WINDOW} steps")
        if fmax_filter < RELAX_FMAX_eV_A:
            state["converged_by"] = f"fmax < {RELAX_FMAX_eV_A} eV/A"
        master_write_json(p["progress"], {"name": name, "kpts": mesh, "steps_written": state["n"],
                                          "last_fmax_filter_eV_A": fmax_filter, "last_energy_eV": float(e),
                                          "settings": RELAX.to_dict()})

    opt.attach(observe, interval=1)
    for conv in opt.irun(fmax=RELAX_FMAX_eV_A, steps=n_run):
        if conv:
            state["converged_by"] = f"fmax < {RELAX_FMAX_eV_A} eV/A"
        if state["converged_by"]:
            break  # the last written frame is the relaxed structure
    converged_by = state["converged_by"]
    converged = bool(converged_by)
    if not converged and state["n"] < RELAX_MAX_STEPS:
        return "partial"
    frames = read(p["steps"], index=":")
    last = frames[-1]
    walls = [fr.info.get("wall_s", 0.0) for fr in frames]
    last.info.update({"name": name, "label": "crystalline", "relax_converged": bool(converged),
                      "origin": c.origin})
    tmp = p["final"].with_name(p["final"].name + ".part")
    write(tmp, last, format="extxyz")  # then renamed: a killed job never leaves a truncated result
    if world.rank == 0:
        os.replace(tmp, p["final"])
    world.barrier()
    rec = {"name": name, "formula": c.formula, "natoms": len(last), "converged": bool(converged),
           "converged_by": converged_by,
           "fmax_eV_A": RELAX_FMAX_eV_A, "steps": len(frames), "kpts": mesh,
           "energy_eV": float(last.get_potential_energy()),
           "energy_per_atom_eV": float(last.get_potential_energy()) / len(last),
           "volume_A3": float(last.get_volume()), "start_volume_A3": prepared_volume,
           "prerelaxed": name in PRERELAX_NAMES,
           "prerelax_settings": PRERELAX.to_dict() if name in PRERELAX_NAMES else None,
           "cellpar": [float(x) for x in last.cell.cellpar()],
           "stress_eV_A3": [float(x) for x in last.get_stress()],
           "wall_s_total": round(sum(walls), 1), "wall_s_per_step": round(sum(walls) / max(1, len(walls)), 1),
           "settings": RELAX.to_dict(), "origin": c.origin, **code_info()}
    master_write_json(p["record"], rec)
    return "done"
