"""Task 2 labels: GPAW single points (energy, forces, stress) of the CHGNet melt–quench snapshots.

One file per snapshot, ``pack/task2/dft/<index>.extxyz`` (+ record ``pack/records/task2/<index>.json``),
written when the snapshot is done and skipped when present (resumable). ``manifest.py`` concatenates the
finished snapshots into ``pack/task2/li7p3s11_melt_quench.extxyz``. The cross-check (``tight=True``)
recomputes a few snapshots at ``settings.TIGHT`` into ``pack/task2/crosscheck/<index>.extxyz``.
Runs with the GPAW python under MPI.
"""
from __future__ import annotations

from pathlib import Path

from settings import PACK_DIR, PACK_SYSTEM, PRODUCTION, RECORD_DIR, TIGHT

#: info["label"] of the labelled snapshots: LiPS-25's label of its melt-quench frames, or the argyrodite's
LABEL_PREFIX = "Iter1-meltquench" if PACK_SYSTEM == "lips" else "Li6PS5Cl-meltquench"

SNAPSHOTS = PACK_DIR / "task2" / "snapshots_chgnet.extxyz"


def out_paths(index: int, tight: bool) -> tuple[Path, Path]:
    sub = "crosscheck" if tight else "dft"
    return (PACK_DIR / "task2" / sub / f"{index:03d}.extxyz",
            RECORD_DIR / ("task2_crosscheck" if tight else "task2") / f"{index:03d}.json")


def run_one(index: int, tight: bool = False, calc=None, previous: int | None = None) -> None:
    """Label snapshot ``index``; ``calc`` (with ``previous``, the snapshot it last computed) is reused."""
    from ase.io import read
    from dft import log_path, master_write_atoms, master_write_json, single_point

    out, rec_path = out_paths(index, tight)
    if out.exists():
        return
    snap = read(SNAPSHOTS, index=index)
    settings = TIGHT if tight else PRODUCTION
    tag = "tight" if tight else "prod"
    labelled, rec = single_point(snap, settings, log_path("task2", f"{index:03d}_{tag}.txt"), calc=calc)
    rec["scf_start"] = "atomic guess" if previous is None else f"wavefunctions of snapshot {previous}"
    for key in ("snapshot_index", "time_ps", "temperature_K", "temperature_inst_K", "regime", "msd_S_A2"):
        labelled.info[key] = snap.info[key]
    labelled.info["label"] = f"{LABEL_PREFIX}-{snap.info['regime']}"
    master_write_atoms(out, labelled)
    rec.update({"snapshot_index": index, "time_ps": snap.info["time_ps"], "regime": snap.info["regime"]})
    master_write_json(rec_path, rec)


def run_many(indices: list[int], tight: bool = False) -> None:
    """Label several snapshots in one GPAW process, in the given order, each written when done.

    All snapshots share one cell (NVT), so one calculator serves them all and each SCF starts from the
    previous snapshot's wavefunctions.
    """
    from ase.io import read
    from dft import kpt_mesh, log_path, make_calc

    todo = [i for i in indices if not out_paths(i, tight)[0].exists()]
    if not todo:
        return
    settings = TIGHT if tight else PRODUCTION
    first = read(SNAPSHOTS, index=todo[0])
    calc = make_calc(settings, kpt_mesh(first, settings.kdensity_A),
                     log_path("task2", f"batch_{todo[0]:03d}_{'tight' if tight else 'prod'}.txt"))
    previous = None
    for i in todo:
        run_one(i, tight, calc=calc, previous=previous)
        previous = i


def n_snapshots() -> int:
    from ase.io import read

    return len(read(SNAPSHOTS, index=":")) if SNAPSHOTS.exists() else 0
