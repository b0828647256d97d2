"""CHGNet helpers (run with the pyenv python 3.11: ASE >= 3.23, torch, chgnet).

Used for two things only, never as reference labels:
- a quick CHGNet relaxation of Li7P3S11 so that Task 3 has a cell before the DFT relaxation exists;
- the melt-quench trajectory that generates Task 2 snapshots (see ``melt_quench.py``).
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from ase import Atoms
from ase.io import read, write


def chgnet_calculator(threads: int = 1):
    """Return a CHGNet ASE calculator on CPU (the weights ship inside the chgnet wheel)."""
    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    torch.set_num_threads(threads)
    model = CHGNet.load(verbose=False)
    return CHGNetCalculator(model=model, use_device="cpu")


def chgnet_version() -> str:
    import chgnet

    return f"CHGNet {chgnet.__version__} (pretrained model v0.3.0 shipped in the wheel, CPU)"


def relax_chgnet(atoms: Atoms, fmax_eV_A: float = 0.02, steps: int = 1000, threads: int = 1) -> tuple[Atoms, dict]:
    """Relax positions and cell with CHGNet (FrechetCellFilter + FIRE, then BFGS). Returns (atoms, info)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS, FIRE

    atoms = atoms.copy()
    atoms.calc = chgnet_calculator(threads)
    t0 = time.time()
    flt = FrechetCellFilter(atoms)
    FIRE(flt, logfile=None).run(fmax=0.1, steps=steps)
    opt = BFGS(flt, logfile=None)
    converged = opt.run(fmax=fmax_eV_A, steps=steps)
    info = {
        "converged": bool(converged),
        "fmax_eV_A": fmax_eV_A,
        "wall_s": round(time.time() - t0, 1),
        "volume_A3": float(atoms.get_volume()),
        "model": chgnet_version(),
    }
    return atoms, info


def main() -> None:
    p = argparse.ArgumentParser(description="CHGNet position+cell relaxation (provisional structures)")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--fmax", type=float, default=0.02)
    p.add_argument("--origin", default="")
    args = p.parse_args()
    src = read(args.input)
    src_volume = src.get_volume()
    relaxed, info = relax_chgnet(src, args.fmax)
    e = relaxed.get_potential_energy()
    from ase.calculators.singlepoint import SinglePointCalculator

    out = relaxed.copy()
    out.calc = SinglePointCalculator(out, energy=e, forces=relaxed.get_forces(), stress=relaxed.get_stress())
    out.info.update(
        {
            "label_source": "CHGNet (provisional, not DFT)",
            "provenance": f"{args.origin}; relaxed (positions+cell) with {info['model']}, "
            f"FrechetCellFilter+FIRE/BFGS to fmax {args.fmax} eV/A; start volume {src_volume:.2f} A^3",
            "relax_converged": info["converged"],
            "relax_wall_s": info["wall_s"],
        }
    )
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    write(args.output, out, format="extxyz")
    print(f"{args.output}: V = {info['volume_A3']:.2f} A^3 (start {src_volume:.2f}), E = {e:.4f} eV, "
          f"converged={info['converged']}, {info['wall_s']} s")


if __name__ == "__main__":
    main()
