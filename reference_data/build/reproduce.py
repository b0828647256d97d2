"""Reproducibility check: re-run the generator on ONE structure and compare its energy (to 1 meV/atom).

    python reference_data/build/reproduce.py Li2S        # pyenv or Debian python; launches GPAW under MPI
    LIPS_PACK_SYSTEM=li6ps5cl python reference_data/build/reproduce.py LiCl    # the argyrodite pack

What is re-run, from nothing but the repository and the shared starting structures:

1. the PBEsol PAW setups of the pack's elements (``settings.SETUP_ELEMENTS``: Li P S, and Cl for the
   argyrodite pack) are generated afresh with ``gpaw-setup -f PBEsol ...`` in a scratch
   directory and their sha256 compared with the ones recorded in ``records/task1/NAME.json``;
2. the production relaxation of NAME (``relax.run``, same settings and k mesh) is run from the prepared
   starting structure into a scratch pack (``LIPS_PACK_DIR``), with those fresh setups (``LIPS_SETUP_DIR``);
3. its relaxed energy per atom is compared with the shipped ``task1/NAME.extxyz``.

The result goes to ``records/reproduce/NAME.json`` (shipped energy, re-run energy, |Δ| in meV/atom,
steps, wall time, setup comparison). ``check`` returns it with ``ok`` = |Δ| ≤ ``tol_meV_atom``.
Costs: Li2S (3 atoms) about a minute on 2 cores; larger structures cost a full relaxation.
"""
from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings import BUILD_DIR, MPI_RANKS, MPIRUN, PACK_DIR, RECORD_DIR, SETUP_ELEMENTS, WORK_DIR, gpaw_env


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _energy_per_atom(extxyz: Path) -> tuple[float, int]:
    """Energy per atom (eV) and atom count of a one-frame extxyz, read without ASE (either python)."""
    lines = extxyz.read_text().splitlines()
    natoms = int(lines[0])
    m = re.search(r"(?:^|\s)energy=([-+0-9.eE]+)", lines[1])
    if m is None:
        raise ValueError(f"{extxyz}: no energy= in the comment line")
    return float(m.group(1)) / natoms, natoms


def check(name: str = "Li2S", tol_meV_atom: float = 1.0, ranks: int = MPI_RANKS) -> dict:
    """Re-run setups + relaxation of ``name`` in scratch and return the comparison record."""
    shipped_rec = json.loads((RECORD_DIR / "task1" / f"{name}.json").read_text())
    shipped_e, natoms = _energy_per_atom(PACK_DIR / "task1" / f"{name}.extxyz")
    scratch = WORK_DIR / "reproduce" / name
    shutil.rmtree(scratch, ignore_errors=True)
    (scratch / "setups").mkdir(parents=True)
    t0 = time.time()
    subprocess.check_call(["gpaw-setup", "-f", "PBEsol", *SETUP_ELEMENTS], cwd=scratch / "setups",
                          stdout=subprocess.DEVNULL)
    fresh = {p.name: _sha256(p) for p in sorted((scratch / "setups").glob("*.PBEsol"))}
    env = gpaw_env()
    env.update(LIPS_PACK_DIR=str(scratch / "pack"), LIPS_SETUP_DIR=str(scratch / "setups"),
               GPAW_SETUP_PATH=f"{scratch / 'setups'}:/usr/share/gpaw-setups")
    subprocess.check_call([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), "gpaw", "python",
                           str(BUILD_DIR / "dft_worker.py"), "relax", name], env=env, cwd=BUILD_DIR,
                          stdout=subprocess.DEVNULL)
    rerun_rec = json.loads((scratch / "pack" / "records" / "task1" / f"{name}.json").read_text())
    rerun_e, _ = _energy_per_atom(scratch / "pack" / "task1" / f"{name}.extxyz")
    out = {
        "name": name, "natoms": natoms,
        "what": "fresh gpaw-setup PBEsol setups + full production relaxation from the prepared start",
        "setup_elements": list(SETUP_ELEMENTS),
        "shipped_eV_atom": shipped_e, "recomputed_eV_atom": rerun_e,
        "abs_diff_meV_atom": abs(rerun_e - shipped_e) * 1000, "tol_meV_atom": tol_meV_atom,
        "shipped_volume_A3": shipped_rec["volume_A3"], "recomputed_volume_A3": rerun_rec["volume_A3"],
        "shipped_steps": shipped_rec["steps"], "recomputed_steps": rerun_rec["steps"],
        "setups_match_shipped_record": fresh == shipped_rec.get("setup_sha256"),
        "wall_s": round(time.time() - t0, 1), "code": rerun_rec.get("code"),
    }
    out["ok"] = out["abs_diff_meV_atom"] <= tol_meV_atom
    dest = RECORD_DIR / "reproduce" / f"{name}.json"
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    r = check(sys.argv[1] if len(sys.argv) > 1 else "Li2S")
    print(json.dumps(r, indent=1))
    raise SystemExit(0 if r["ok"] else 1)
