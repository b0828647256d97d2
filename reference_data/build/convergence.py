"""Convergence check on the Li2S primitive cell (3 atoms): plane-wave cutoff and k-point density.

Run under MPI with the GPAW python: ``mpirun -np 2 /usr/bin/python3 dft_worker.py convergence``.
Each point is written to ``pack/records/convergence/<tag>.json`` as soon as it is done and skipped when
present (resumable). ``summary()`` (any python) turns the records into the table of the pack README.
"""
from __future__ import annotations

import json

from settings import (
    CONV_ECUT_AT_KDENSITY_A,
    CONV_KDENSITIES_A,
    CONV_STRUCTURE,
    PREPARED_DIR,
    PRODUCTION,
    RECORD_DIR,
    CONV_ECUTS_eV,
    CONV_K_AT_ECUT_eV,
    REACTION_ECUTS_eV,
)

CONV_DIR = RECORD_DIR / "convergence"


def points() -> list[tuple[str, float, float]]:
    """(tag, ecut_eV, kdensity_A) of every convergence point, cheapest first."""
    pts = [(f"ecut{int(e)}_k{CONV_ECUT_AT_KDENSITY_A:g}", e, CONV_ECUT_AT_KDENSITY_A) for e in CONV_ECUTS_eV]
    pts += [(f"ecut{int(CONV_K_AT_ECUT_eV)}_k{k:g}", CONV_K_AT_ECUT_eV, k) for k in CONV_KDENSITIES_A]
    seen, out = set(), []
    for p in pts:
        if p[0] not in seen:
            seen.add(p[0])
            out.append(p)
    return out


def run() -> None:
    from ase.io import read
    from dft import log_path, master_write_json, single_point

    run_reaction()
    atoms = read(PREPARED_DIR / f"{CONV_STRUCTURE}.extxyz")
    # fixed, slightly strained cell would test stress better; use the prepared (experimental) lattice
    for tag, ecut, kd in points():
        out = CONV_DIR / f"{tag}.json"
        if out.exists():
            continue
        s = PRODUCTION.replace(ecut_eV=ecut, kdensity_A=kd,
                               convergence={"energy": 1e-7, "density": 1e-6, "forces": 1e-3})
        _, rec = single_point(atoms, s, log_path("convergence", f"{tag}.txt"))
        rec.update({"tag": tag, "structure": CONV_STRUCTURE, "volume_A3": float(atoms.get_volume())})
        master_write_json(out, rec)


#: Li2P2S6 + 2 Li2S -> 2 gamma-Li3PS4 (P2S6 dimers with a P-P bond become PS4 tetrahedra): (name, atoms)
#: per 16-atom reaction; a cheap formation-type reaction (P2S5, 28 atoms, costs ~10 min per point)
REACTION = (("Li2P2S6", 10), ("Li2S", 6), ("gamma-Li3PS4", -16))
REACTION_ATOMS = 16


def run_reaction() -> None:
    """Cutoff check of the reaction energy Li2P2S6 + 2 Li2S -> 2 gamma-Li3PS4 (same geometries, k meshes)."""
    from ase.io import read
    from dft import log_path, master_write_json, single_point

    for ecut in REACTION_ECUTS_eV:
        for name, _ in REACTION:
            out = CONV_DIR / f"reaction_{name}_ecut{int(ecut)}.json"
            if out.exists():
                continue
            atoms = read(PREPARED_DIR / f"{name}.extxyz")
            s = PRODUCTION.replace(ecut_eV=ecut)
            _, rec = single_point(atoms, s, log_path("convergence", f"reaction_{name}_{int(ecut)}.txt"))
            rec.update({"tag": f"reaction_{name}_ecut{int(ecut)}", "structure": name})
            master_write_json(out, rec)


def reaction_summary() -> list[dict]:
    """Reaction energy Li2P2S6 + 2 Li2S -> 2 gamma-Li3PS4 (meV/atom of products, prepared geometries)."""
    rows = []
    for ecut in REACTION_ECUTS_eV:
        recs = {}
        for name, _ in REACTION:
            p = CONV_DIR / f"reaction_{name}_ecut{int(ecut)}.json"
            if p.exists():
                recs[name] = json.loads(p.read_text())
        if len(recs) == len(REACTION):
            ef = -sum(n * recs[name]["energy_per_atom_eV"] for name, n in REACTION) / REACTION_ATOMS
            rows.append({"ecut_eV": ecut, "ef_meV_atom": round(1000 * ef, 3),
                         "wall_s": round(sum(r["wall_s"] for r in recs.values()), 1)})
    return rows


def summary() -> list[dict]:
    """Rows per series (cutoff series at fixed k, k series at fixed cutoff): E/atom in meV/atom and
    pressure in GPa relative to the tightest point of the same series, wall time (s)."""
    recs = [json.loads(p.read_text()) for p in sorted(CONV_DIR.glob("ecut*.json"))]
    eV_A3_to_GPa = 160.21766208
    rows = []
    for series, key, fixed_key, fixed in (("cutoff", "ecut_eV", "kdensity_A", CONV_ECUT_AT_KDENSITY_A),
                                          ("kpoints", "kdensity_A", "ecut_eV", CONV_K_AT_ECUT_eV)):
        sel = [r for r in recs if r["settings"][fixed_key] == fixed]
        if not sel:
            continue
        sel.sort(key=lambda r: r["settings"][key])
        ref = sel[-1]
        ref_p = -sum(ref["stress_eV_A3"][:3]) / 3 * eV_A3_to_GPa
        for r in sel:
            p = -sum(r["stress_eV_A3"][:3]) / 3 * eV_A3_to_GPa
            rows.append({
                "series": series, "ecut_eV": r["settings"]["ecut_eV"], "kdensity_A": r["settings"]["kdensity_A"],
                "kpts": "x".join(map(str, r["kpts"])),
                "dE_meV_atom": round(1000 * (r["energy_per_atom_eV"] - ref["energy_per_atom_eV"]), 3),
                "pressure_GPa": round(p, 3), "dP_GPa": round(p - ref_p, 3), "wall_s": r["wall_s"],
            })
    return rows


if __name__ == "__main__":
    for row in summary() + reaction_summary():
        print(row)
