"""One command for the whole reference pack (pyenv python 3.11):

    python reference_data/build/build_pack.py --stage all        # prepare + CHGNet + GPAW queue + manifest
    python reference_data/build/build_pack.py --stage manifest   # only rewrite the manifest/assembled files

Stages: prep, task3-chgnet, md, convergence, relax, task2, crosscheck, train, manifest, all.
The GPAW jobs run one at a time (``settings.MPI_RANKS`` ranks) as
``mpirun -np 2 gpaw python dft_worker.py <job>``; each job writes its results into the pack as soon as
they exist and skips what is already there, so a killed queue resumes where it stopped when re-run.
Run it in the background for long builds, e.g.
``setsid nohup nice -n 5 python reference_data/build/build_pack.py --stage all``
``> reference_data/build/work/logs/queue.out 2>&1 &``.
"""
from __future__ import annotations

import argparse
import fcntl
import subprocess
import sys
import time
from pathlib import Path

from ase.io import read

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings import (
    BUILD_DIR,
    LOG_DIR,
    MPI_RANKS,
    MPIRUN,
    PACK_DIR,
    PACK_SYSTEM,
    SETUP_ELEMENTS,
    TASK2_CROSSCHECK_INDICES,
    WORK_DIR,
    gpaw_env,
)

SMALL = ("Li2S", "gamma-Li3PS4", "Li2P2S6", "P2S5")
BIG = ("Li7P3S11", "beta-Li3PS4", "HT-Li7PS6", "LT-Li7PS6")
#: first pass over P2S5 is capped so that Task 2 starts even if the molecular crystal relaxes slowly
FIRST_PASS_CAP = {"P2S5": 40}


def log(msg: str) -> None:
    print(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), msg, flush=True)


def gpaw_job(*args: str) -> int:
    """Run one GPAW job under MPI, blocking; returns the exit status."""
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-np", str(MPI_RANKS), "gpaw", "python",
           str(BUILD_DIR / "dft_worker.py"), *args]
    log("start " + " ".join(args))
    t0 = time.time()
    with open(LOG_DIR / "jobs.out", "a") as fh:
        rc = subprocess.call(cmd, env=gpaw_env(), stdout=fh, stderr=subprocess.STDOUT, cwd=BUILD_DIR)
    log(f"end {' '.join(args)} rc={rc} ({time.time() - t0:.0f} s)")
    return rc


def py(*args: str) -> int:
    return subprocess.call([sys.executable, *args], cwd=BUILD_DIR)


def stage_prep() -> None:
    py("prepare.py")
    (WORK_DIR / "setups").mkdir(parents=True, exist_ok=True)
    missing = [el for el in SETUP_ELEMENTS if not (WORK_DIR / "setups" / f"{el}.PBEsol").exists()]
    if missing:
        subprocess.check_call(["gpaw-setup", "-f", "PBEsol", *missing], cwd=WORK_DIR / "setups")


def stage_task3_chgnet() -> None:
    out = WORK_DIR / "Li7P3S11_chgnet_relaxed.extxyz"
    if not out.exists():
        from settings import SHARED_STRUCTURES, crystal

        py("chgnet_tools.py", str(SHARED_STRUCTURES / "Li7P3S11.vasp"), str(out),
           "--origin", "start: " + crystal("Li7P3S11").origin)


def stage_md() -> None:
    py("melt_quench.py")


def relax_done(name: str) -> bool:
    # path checks only: the runner must not import modules that a later job may see in a newer version
    return (PACK_DIR / "task1" / f"{name}.extxyz").exists()


def steps_written(name: str) -> int:
    """Production steps of a running/stopped relaxation, from its progress note (0 before the first)."""
    import json

    p = PACK_DIR / "records" / "task1" / f"{name}.progress.json"
    return int(json.loads(p.read_text())["steps_written"]) if p.exists() else 0


def stage_relax(names: tuple[str, ...], cap: dict[str, int] | None = None) -> None:
    """Relax each crystal in turn; one in ``MODEL_ADVANCE_AFTER_STEPS`` is run to that many steps, carried
    on by CHGNet once (``advance.py``) and then relaxed to the end."""
    from settings import MODEL_ADVANCE_AFTER_STEPS

    for name in names:
        if relax_done(name):
            continue
        advance_after = MODEL_ADVANCE_AFTER_STEPS.get(name)
        if advance_after and not (PACK_DIR / "task1" / "advance" / f"{name}.extxyz").exists():
            if steps_written(name) < advance_after:
                gpaw_job("relax", name, str(advance_after - steps_written(name)))
            if relax_done(name):
                continue
            py("advance.py", name)
        args = ["relax", name] + ([str(cap[name])] if cap and name in cap else [])
        gpaw_job(*args)
        stage_manifest()


def task2_out(index: int, tight: bool) -> Path:
    return PACK_DIR / "task2" / ("crosscheck" if tight else "dft") / f"{index:03d}.extxyz"


def interleaved(n: int, stride: int = 8) -> list[int]:
    """0, 8, 16, 4, 12, 20, 2, ...: a queue stopped part-way has covered every regime evenly in time."""
    order: list[int] = []
    step = stride
    while step >= 1:
        order += [i for i in range(0, n, step) if i not in order]
        step //= 2
    return order + [i for i in range(n) if i not in order]


def stage_task2(first: int | None = None) -> None:
    """Label the snapshots in :func:`interleaved` order; ``first``: stop once that many are labelled."""
    snaps = PACK_DIR / "task2" / "snapshots_chgnet.extxyz"
    n = len(read(snaps, index=":")) if snaps.exists() else 0
    todo = [i for i in interleaved(n)[:first] if not task2_out(i, False).exists()]
    for start in range(0, len(todo), 3):  # one GPAW process per 3 snapshots (wavefunctions reused)
        gpaw_job("task2", *map(str, todo[start:start + 3]))
        stage_manifest()


def stage_crosscheck() -> None:
    """The tight-setting cross-checks, all in one GPAW process (each SCF starts from the previous
    snapshot's wavefunctions, as in :func:`stage_task2`); each is written when done."""
    todo = [str(i) for i in TASK2_CROSSCHECK_INDICES
            if task2_out(i, False).exists() and not task2_out(i, True).exists()]
    if todo:
        gpaw_job("crosscheck", *todo)
        stage_manifest()


def stage_reproduce(name: str = "Li2S") -> None:
    """Measured reproducibility of one shipped single point (records/reproduce/<name>.json)."""
    from settings import RECORD_DIR

    if relax_done(name) and not (RECORD_DIR / "reproduce" / f"{name}.json").exists():
        log(f"start reproduce {name}")
        rc = py("reproduce.py", name)
        log(f"end reproduce {name} rc={rc}")


def stage_train(crystals: tuple[str, ...] | None = None) -> None:
    """Training-only frames (train_frames.py): CHGNet/rattle candidates, then one GPAW job per set (only
    the sets made from ``crystals`` if given)."""
    py("train_frames.py")
    import train_frames

    for set_id in train_frames.pending_sets(crystals):
        gpaw_job("train", set_id)
        stage_manifest()


def stage_manifest() -> None:
    script = "manifest.py" if PACK_SYSTEM == "lips" else "manifest_li6ps5cl.py"
    if (BUILD_DIR / script).exists():
        py(script)
    else:
        log(f"no {script} yet: manifest not written")


#: the argyrodite pack (LIPS_PACK_SYSTEM=li6ps5cl): Li2S and P2S5 come from the LiPS pack's records
ARGYRODITE_RELAX = ("LiCl", "Li6PS5Cl")


def chgnet_py(*args: str) -> int:
    """Run a CHGNet script with ``settings.CHGNET_PYTHON`` (default: this interpreter)."""
    from settings import CHGNET_PYTHON

    return subprocess.call([CHGNET_PYTHON or sys.executable, *args], cwd=BUILD_DIR)


def stage_chgnet_prerelax() -> None:
    """CHGNet relaxation (positions and cell) of each prepared structure in ``CHGNET_PRERELAX_NAMES`` whose PBEsol
    relaxation has not started: ``prepared/<name>.chgnet.extxyz``, from which ``relax.py`` then starts."""
    from settings import CHGNET_PRERELAX_NAMES, PREPARED_DIR, crystal

    for name in CHGNET_PRERELAX_NAMES:
        out = PREPARED_DIR / f"{name}.chgnet.extxyz"
        if out.exists() or (PACK_DIR / "task1" / "relax" / f"{name}.extxyz").exists():
            continue
        log(f"start CHGNet pre-relaxation {name}")
        rc = chgnet_py("chgnet_tools.py", str(PREPARED_DIR / f"{name}.extxyz"), str(out), "--fmax", "0.02",
                       "--origin", "start: " + crystal(name).origin)
        log(f"end CHGNet pre-relaxation {name} rc={rc}")


def argyrodite_queue(stage: str) -> None:
    """The Li6PS5Cl pack: prepare (and pre-relax with CHGNet), relax LiCl and Li6PS5Cl, then the Task-2
    melt-quench labels."""
    if stage in ("prep", "all", "relax"):
        stage_prep()
        stage_chgnet_prerelax()
    if stage in ("all", "relax"):
        stage_relax(ARGYRODITE_RELAX)
    if stage in ("all", "md"):
        chgnet_py("melt_quench.py")
    if stage in ("all", "task2"):
        stage_task2()
    if stage in ("all", "manifest"):
        stage_manifest()
    log(f"li6ps5cl stage {stage} finished")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stage", default="all",
                    choices=["prep", "task3-chgnet", "md", "convergence", "relax", "task2", "crosscheck",
                             "train", "manifest", "all"])
    a = ap.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    lock = open(WORK_DIR / "queue.lock", "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise SystemExit("another build_pack.py holds reference_data/build/work/queue.lock; wait for it") from None
    s = a.stage
    if PACK_SYSTEM == "li6ps5cl":
        argyrodite_queue(s)
        return
    if s in ("prep", "all", "relax", "convergence"):
        stage_prep()
    if s in ("task3-chgnet", "all"):
        stage_task3_chgnet()
    if s == "md":
        stage_md()
    if s in ("convergence", "all"):
        gpaw_job("convergence")
        stage_manifest()
    if s == "all":
        stage_reproduce("Li2S")
        stage_relax(("Li2S", "gamma-Li3PS4", "Li2P2S6"))
        stage_md()  # CHGNet, minutes; skipped when pack/task2/snapshots_chgnet.extxyz exists
        stage_task2(first=6)  # two per regime: Task 2 usable on the pack
        stage_relax(("P2S5",), FIRST_PASS_CAP)  # the end member every formation energy needs
        stage_relax(("Li7P3S11",))  # lattice sanity check and the Task-3 cell
        stage_train(SMALL)  # training-only frames for the example model (small cells, ~1 h in all)
        # the Li7P3S11 MD frames next: the remaining Task-2 snapshots are test-only and do not help the
        # example model, which has almost no liquid Li7P3S11 in training without them (6 x ~7 min)
        stage_train(("Li7P3S11",))
        stage_task2()
        stage_crosscheck()
        stage_relax(SMALL + BIG)
        stage_train()  # sets whose crystal only now exists
    if s == "relax":
        stage_relax(SMALL + BIG)
    if s == "task2":
        stage_task2()
    if s == "crosscheck":
        stage_crosscheck()
    if s == "train":
        stage_train()
    stage_manifest()
    log(f"stage {s} finished")


if __name__ == "__main__":
    main()
