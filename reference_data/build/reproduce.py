"""Reproducibility check: recompute ONE shipped single point and compare (issue: to 1 meV/atom).

    python reference_data/build/reproduce.py Li2S        # launches GPAW under MPI, prints the comparison

``check(name)`` is the test-friendly entry (returns a dict, raises nothing on mismatch; compare
``abs_diff_meV_atom`` with ``tol_meV_atom``). The GPAW part (``run``) recomputes ``task1/<name>.extxyz``
with the relaxation settings and the k mesh recorded in ``records/task1/<name>.json`` and writes
``records/reproduce/<name>.json``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings import BUILD_DIR, MPI_RANKS, MPIRUN, PACK_DIR, RECORD_DIR, RELAX, gpaw_env


def run(name: str) -> None:
    """GPAW side (under MPI): recompute and record."""
    from ase.io import read

    from dft import log_path, master_write_json, single_point

    rec = json.loads((RECORD_DIR / "task1" / f"{name}.json").read_text())
    atoms = read(PACK_DIR / "task1" / f"{name}.extxyz")
    shipped = atoms.get_potential_energy() / len(atoms)
    _, new = single_point(atoms, RELAX, log_path("reproduce", f"{name}.txt"), mesh=rec["kpts"])
    master_write_json(RECORD_DIR / "reproduce" / f"{name}.json", {
        "name": name, "shipped_eV_atom": shipped, "recomputed_eV_atom": new["energy_per_atom_eV"],
        "abs_diff_meV_atom": abs(new["energy_per_atom_eV"] - shipped) * 1000, "wall_s": new["wall_s"],
        "code": new["code"], "setup_sha256": new["setup_sha256"],
        "setups_match_shipped_record": new["setup_sha256"] == rec["setup_sha256"]})


def check(name: str = "Li2S", tol_meV_atom: float = 1.0, ranks: int = MPI_RANKS) -> dict:
    """Launch the recomputation and return the record plus ``ok`` (|ΔE| <= tol_meV_atom)."""
    subprocess.check_call([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(ranks), "gpaw", "python",
                           str(BUILD_DIR / "dft_worker.py"), "reproduce", name], env=gpaw_env(), cwd=BUILD_DIR)
    out = json.loads((RECORD_DIR / "reproduce" / f"{name}.json").read_text())
    out["tol_meV_atom"] = tol_meV_atom
    out["ok"] = out["abs_diff_meV_atom"] <= tol_meV_atom
    return out


if __name__ == "__main__":
    r = check(sys.argv[1] if len(sys.argv) > 1 else "Li2S")
    print(json.dumps(r, indent=1))
    raise SystemExit(0 if r["ok"] else 1)
