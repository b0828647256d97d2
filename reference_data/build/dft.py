"""GPAW side of the generator (Debian python, ASE 3.22, run under ``mpirun -np 2``).

Everything here must work with ASE 3.22 (no FrechetCellFilter) and be MPI-safe: files are written by
rank 0 only (``ase.io.write`` with ``parallel=True`` and the ``_master`` helpers below).
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.parallel import world
from settings import LOG_DIR, SETUP_DIR, SETUP_ELEMENTS, DFTSettings


def kpt_mesh(atoms: Atoms, kdensity_A: float) -> list[int]:
    """Monkhorst–Pack mesh for a k-point density in Å (ASE ``kptdensity2monkhorstpack``, not forced even)."""
    from ase.calculators.calculator import kptdensity2monkhorstpack

    return [int(n) for n in kptdensity2monkhorstpack(atoms, kdensity_A, even=False)]


def make_calc(settings: DFTSettings, mesh: list[int], txt: str | Path):
    """A GPAW plane-wave calculator for the given settings and fixed k mesh (Γ-centred)."""
    from gpaw import GPAW, PW, FermiDirac

    return GPAW(
        mode=PW(settings.ecut_eV, dedecut=settings.dedecut),
        xc=settings.xc,
        kpts={"size": mesh, "gamma": True},
        occupations=FermiDirac(settings.smearing_eV),
        convergence=dict(settings.convergence),
        txt=str(txt),
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    h.update(path.read_bytes())
    return h.hexdigest()


def code_info() -> dict:
    """Versions and PAW setups used: recorded with every result."""
    import ase
    import gpaw

    setups = {p.name: _sha256(p) for p in sorted(SETUP_DIR.glob("*.PBEsol"))}
    return {
        "code": f"GPAW {gpaw.__version__}",
        "ase": ase.__version__,
        "python": platform.python_version(),
        "mpi_ranks": world.size,
        "setups": f"PBEsol PAW setups generated with `gpaw-setup -f PBEsol {' '.join(SETUP_ELEMENTS)}` (GPAW "
                  "22.8.0 default generator parameters)",
        "setup_sha256": setups,
        "host": platform.node(),
    }


def labelled_copy(atoms: Atoms, energy: float, forces: np.ndarray, stress: np.ndarray | None,
                  info: dict) -> Atoms:
    """Copy of atoms with a SinglePointCalculator (energy eV, forces eV/Å, stress eV/Å^3 Voigt)."""
    out = Atoms(atoms.get_chemical_symbols(), positions=atoms.get_positions(), cell=atoms.cell[:], pbc=True)
    out.info.update(info)
    kw = {"energy": float(energy), "forces": np.asarray(forces)}
    if stress is not None:
        kw["stress"] = np.asarray(stress)
    out.calc = SinglePointCalculator(out, **kw)
    return out


def single_point(atoms: Atoms, settings: DFTSettings, txt: str | Path, mesh: list[int] | None = None,
                 stress: bool = True, calc=None) -> tuple[Atoms, dict]:
    """Energy, forces (and stress) of one structure. Returns (labelled atoms, record).

    ``calc``: an existing GPAW calculator made by :func:`make_calc` with the same settings and mesh, to
    reuse; GPAW then starts the SCF from the previous structure's wavefunctions when only positions
    changed (same cell and atoms). Same convergence criteria, so the same accuracy; it only pays between
    similar structures (relaxation steps): between Task-2 snapshots of different regimes the SCF still took
    31-42 iterations, as from the atomic guess.
    """
    mesh = mesh or kpt_mesh(atoms, settings.kdensity_A)
    work = atoms.copy()
    work.calc = calc if calc is not None else make_calc(settings, mesh, txt)
    t0 = time.time()
    e = work.get_potential_energy()
    f = work.get_forces()
    s = work.get_stress() if stress else None
    wall = time.time() - t0
    niter = None
    try:
        niter = int(work.calc.scf.niter)
    except Exception:
        pass
    rec = {"energy_eV": float(e), "natoms": len(atoms), "energy_per_atom_eV": float(e) / len(atoms),
           "wall_s": round(wall, 1), "kpts": mesh, "scf_iterations": niter,
           "settings": settings.to_dict(), **code_info()}
    if s is not None:
        rec["stress_eV_A3"] = [float(x) for x in s]
    out = labelled_copy(atoms, e, f, s, {"wall_s": round(wall, 1)})
    return out, rec


def master_write_json(path: Path, data: dict) -> None:
    if world.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=float))
        os.replace(tmp, path)
    world.barrier()


def master_write_atoms(path: Path, atoms: Atoms) -> None:
    """Write one extxyz frame atomically: a complete temporary file renamed by rank 0, so a killed job
    never leaves a truncated result (``ase.io.write`` itself writes on rank 0 only)."""
    from ase.io import write

    if world.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    world.barrier()
    tmp = path.with_name(path.name + ".part")
    write(tmp, atoms, format="extxyz")
    if world.rank == 0:
        os.replace(tmp, path)
    world.barrier()


def log_path(*parts: str) -> Path:
    p = LOG_DIR.joinpath(*parts)
    if world.rank == 0:
        p.parent.mkdir(parents=True, exist_ok=True)
    world.barrier()
    return p
