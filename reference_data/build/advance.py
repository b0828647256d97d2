"""Model-advanced relaxation: one CHGNet leg inside a PBEsol relaxation that slides down a long path.

Run with the pyenv python (ASE >= 3.23, CHGNet): ``python advance.py <name>``. For a crystal in
``settings.MODEL_ADVANCE_AFTER_STEPS`` whose production relaxation has at least that many (distinct) steps,
CHGNet relaxes the positions of the last PBEsol step at its fixed cell, keeping its space group
(``FixSymmetry``; GPAW keeps the same symmetry), to ``ADVANCE_FMAX_eV_A``. Written once, to
``pack/task1/advance/<name>.extxyz``: frame 0 the PBEsol step it started from (geometry only), frame 1 the
CHGNet minimum (CHGNet energy and forces, ``label_source`` CHGNet). ``relax.run`` continues from frame 1
when the last written PBEsol step is frame 0, so every shipped relaxation step stays PBEsol-labelled and
the CHGNet leg is a jump between two of them, recorded in the relaxation record (``model_advance``).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

sys.path.insert(0, str(Path(__file__).resolve().parent))

from chgnet_tools import chgnet_calculator, chgnet_version  # noqa: E402
from relax import advance_path, complete_frames, paths, without_repeats  # noqa: E402
from settings import ADVANCE_MAX_STEPS, MODEL_ADVANCE_AFTER_STEPS, ADVANCE_FMAX_eV_A  # noqa: E402


def advance_positions(atoms, calc, fmax_eV_A: float = ADVANCE_FMAX_eV_A,
                      steps: int = ADVANCE_MAX_STEPS) -> tuple:
    """Relax the positions of a copy of ``atoms`` with ``calc`` at fixed cell and fixed space group.

    Returns (relaxed copy with a single-point calculator, info dict: converged, steps, energy drop in eV,
    largest atom displacement in Å, wall s).
    """
    from ase.constraints import FixSymmetry
    from ase.optimize import BFGS

    a = atoms.copy()
    a.calc = calc
    a.set_constraint(FixSymmetry(a))
    e0 = float(a.get_potential_energy())
    t0 = time.time()
    opt = BFGS(a, maxstep=0.1, logfile=None)
    converged = bool(opt.run(fmax=fmax_eV_A, steps=steps))
    e1 = float(a.get_potential_energy())
    out = a.copy()
    out.set_constraint()
    out.calc = SinglePointCalculator(out, energy=e1, forces=a.get_forces(apply_constraint=False))
    disp = np.linalg.norm(out.positions - atoms.positions, axis=1)
    return out, {"converged": converged, "steps": int(opt.nsteps), "energy_drop_eV": e0 - e1,
                 "max_displacement_A": float(disp.max()), "wall_s": round(time.time() - t0, 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("name", help="crystal in settings.MODEL_ADVANCE_AFTER_STEPS")
    args = p.parse_args()
    name = args.name
    if name not in MODEL_ADVANCE_AFTER_STEPS:
        raise SystemExit(f"advance.py: {name} is not in settings.MODEL_ADVANCE_AFTER_STEPS "
                         f"({', '.join(MODEL_ADVANCE_AFTER_STEPS) or 'empty'})")
    out_path = advance_path(name)
    if out_path.exists() or paths(name)["final"].exists():
        print(f"{name}: advance already written or relaxation finished: nothing to do")
        return 0
    steps = paths(name)["steps"]
    frames = without_repeats(complete_frames(steps)) if steps.exists() else []
    need = MODEL_ADVANCE_AFTER_STEPS[name]
    if len(frames) < need:
        print(f"{name}: {len(frames)} PBEsol steps, the CHGNet advance comes after {need}")
        return 0
    start = frames[-1].copy()
    end, info = advance_positions(start, chgnet_calculator())
    start.calc = None
    start.info = {"name": name, "advance": "start", "pbesol_step": len(frames) - 1,
                  "pbesol_energy_eV": float(frames[-1].get_potential_energy())}
    end.info = {"name": name, "advance": "end", "label_source": chgnet_version(),
                "method": f"positions relaxed at fixed cell with FixSymmetry, BFGS to fmax {ADVANCE_FMAX_eV_A} eV/A",
                **{f"advance_{k}": v for k, v in info.items()}}
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")
    write(tmp, [start, end], format="extxyz")
    tmp.replace(out_path)
    print(f"{out_path}: from PBEsol step {start.info['pbesol_step']}: CHGNet {info}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
