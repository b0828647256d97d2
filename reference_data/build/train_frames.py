"""Training-only DFT frames for the example model (never used as a task reference).

Task 2's melt-quench snapshots are Task 2's reference, so the example model must not train on them; the
relaxation steps alone are near-equilibrium crystals. This module adds frames a model can learn from
without touching any task reference:

* ``rattle`` sets: copies of a PBEsol-relaxed crystal (``pack/task1/<name>.extxyz``) with a random
  symmetric strain (each component N(0, ``strain``)) and Gaussian displacements of the atoms (σ cycling
  through ``sigmas_A``), seeded; label ``crystalline-rattled`` (LiPS-25 category crystalline).
* ``md`` sets: CHGNet Langevin NVT of a relaxed crystal at each temperature in ``temperatures_K``
  (``equil_ps`` then one snapshot every ``every_ps``), like LiPS-25's MLIP-driven "Iter" rounds;
  label ``Iter2-md-<name>-<T>K`` (category iter2).

Two steps, each resumable:

1. ``python train_frames.py`` (pyenv python, CHGNet): writes the candidates of every set whose crystal
   is relaxed to ``pack/train/candidates/<set>.extxyz`` (positions only; written once).
2. GPAW job ``train <set>`` (``dft_worker.py``): labels each candidate at production settings into
   ``pack/train/dft/<set>/<k>.extxyz`` the moment it is done; frames sharing a cell reuse wavefunctions.

``manifest.py`` adds the labelled frames to ``data/lips_open.extxyz`` (split by a hash of ``<set>/<k>``).
"""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from settings import PACK_DIR, PRODUCTION, RECORD_DIR

CANDIDATES = PACK_DIR / "train" / "candidates"
LABELLED = PACK_DIR / "train" / "dft"


@dataclass(frozen=True)
class TrainSet:
    """One group of training candidates made from one relaxed crystal (lengths Å, times ps, K)."""

    name: str                       # crystal in pack/task1
    kind: str                       # rattle | md
    n: int = 8                      # rattle: copies; md: snapshots per temperature
    supercell: tuple[tuple[int, int, int], ...] | None = None  # integer matrix applied to the relaxed cell
    sigmas_A: tuple[float, ...] = (0.05, 0.1, 0.15, 0.2)
    strain: float = 0.02
    temperatures_K: tuple[float, ...] = ()
    equil_ps: float = 2.0
    every_ps: float = 0.5
    timestep_fs: float = 2.0
    friction_per_fs: float = 0.01

    @property
    def set_id(self) -> str:
        return f"{self.kind}-{self.name}"

    @property
    def seed(self) -> int:
        return int(hashlib.sha256(self.set_id.encode()).hexdigest(), 16) % 2**32


#: the conventional cubic cell of antifluorite Li2S from its primitive cell (12 atoms)
_FCC_TO_CUBIC = ((-1, 1, 1), (1, -1, 1), (1, 1, -1))

TRAIN_SETS: tuple[TrainSet, ...] = (
    TrainSet("Li2S", "rattle", n=8, supercell=_FCC_TO_CUBIC),
    TrainSet("Li2P2S6", "rattle", n=8),
    TrainSet("gamma-Li3PS4", "rattle", n=8),
    TrainSet("gamma-Li3PS4", "md", n=4, temperatures_K=(600.0, 1000.0, 1500.0)),
    TrainSet("P2S5", "rattle", n=4),
    # the Task-2/3 compound itself, from an independent CHGNet trajectory (its own seed, no melt-quench):
    # 42-atom single points cost ~7 min each; the queue labels this set right after the small-cell sets,
    # before the remaining (test-only) Task-2 snapshots
    TrainSet("Li7P3S11", "md", n=3, temperatures_K=(600.0, 1200.0)),
)


def train_set(set_id: str) -> TrainSet:
    for s in TRAIN_SETS:
        if s.set_id == set_id:
            return s
    raise KeyError(f"unknown training set {set_id!r}; known: {[s.set_id for s in TRAIN_SETS]}")


def _base(s: TrainSet):
    from ase.build import make_supercell
    from ase.io import read

    atoms = read(PACK_DIR / "task1" / f"{s.name}.extxyz")
    atoms.calc = None
    atoms.info = {}
    if s.supercell is not None:
        atoms = make_supercell(atoms, np.array(s.supercell))
    return atoms


def rattled(s: TrainSet) -> list:
    """``s.n`` strained and rattled copies of the relaxed crystal (deterministic in ``s.seed``)."""
    base = _base(s)
    rng = np.random.default_rng(s.seed)
    out = []
    for k in range(s.n):
        eps = rng.normal(0.0, s.strain, (3, 3))
        eps = 0.5 * (eps + eps.T)
        a = base.copy()
        a.set_cell(base.cell[:] @ (np.eye(3) + eps), scale_atoms=True)
        sigma = s.sigmas_A[k % len(s.sigmas_A)]
        a.positions += rng.normal(0.0, sigma, a.positions.shape)
        a.info = {"set": s.set_id, "index": k, "label": "crystalline-rattled", "structure": s.name,
                  "rattle_sigma_A": sigma,
                  "strain_voigt": [float(x) for x in eps[[0, 1, 2, 1, 0, 0], [0, 1, 2, 2, 2, 1]]]}
        out.append(a)
    return out


def md_snapshots(s: TrainSet) -> list:
    """CHGNet Langevin NVT snapshots of the relaxed crystal at each temperature (deterministic seed)."""
    from ase import units
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from chgnet_tools import chgnet_calculator, chgnet_version

    out = []
    calc = chgnet_calculator(threads=1)
    for t_i, temp in enumerate(s.temperatures_K):
        atoms = _base(s)
        atoms.calc = calc
        rng = np.random.default_rng(s.seed + t_i)
        MaxwellBoltzmannDistribution(atoms, temperature_K=temp, rng=rng)
        Stationary(atoms)
        md = Langevin(atoms, s.timestep_fs * units.fs, temperature_K=temp,
                      friction=s.friction_per_fs / units.fs, rng=rng)
        md.run(int(round(s.equil_ps * 1000 / s.timestep_fs)))
        every = int(round(s.every_ps * 1000 / s.timestep_fs))
        for j in range(s.n):
            md.run(every)
            snap = atoms.copy()
            snap.calc = None
            snap.arrays.pop("momenta", None)
            snap.info = {"set": s.set_id, "index": len(out), "label": f"Iter2-md-{s.name}-{temp:g}K",
                         "structure": s.name, "temperature_K": temp,
                         "time_ps": round(s.equil_ps + (j + 1) * s.every_ps, 4),
                         "md": f"{chgnet_version()}; Langevin NVT dt={s.timestep_fs} fs, friction "
                               f"{s.friction_per_fs}/fs, seed {s.seed + t_i}"}
            out.append(snap)
    return out


def make_candidates() -> list[str]:
    """Write the candidates of every set whose crystal is relaxed and whose file is missing."""
    from ase.io import write

    written = []
    for s in TRAIN_SETS:
        path = CANDIDATES / f"{s.set_id}.extxyz"
        if path.exists() or not (PACK_DIR / "task1" / f"{s.name}.extxyz").exists():
            continue
        frames = rattled(s) if s.kind == "rattle" else md_snapshots(s)
        path.parent.mkdir(parents=True, exist_ok=True)
        write(path, frames, format="extxyz")
        written.append(s.set_id)
    return written


def progress() -> dict[str, tuple[int, int]]:
    """``set_id -> (labelled, candidates)`` for every set with candidates (path checks only)."""
    out = {}
    for path in sorted(CANDIDATES.glob("*.extxyz")) if CANDIDATES.exists() else []:
        n = sum(1 for line in path.read_text().splitlines() if line.strip().isdigit())  # atom-count lines
        done = len(list((LABELLED / path.stem).glob("*.extxyz"))) if (LABELLED / path.stem).exists() else 0
        out[path.stem] = (done, n)
    return out


def pending_sets(crystals: tuple[str, ...] | None = None) -> list[str]:
    """Sets with candidates not all labelled yet, in ``TRAIN_SETS`` order (cheap cells first); only those
    made from ``crystals`` if given."""
    state = progress()
    return [s.set_id for s in TRAIN_SETS
            if s.set_id in state and state[s.set_id][0] < state[s.set_id][1]
            and (crystals is None or s.name in crystals)]


def label(set_id: str) -> None:
    """GPAW side (under MPI): label every candidate of ``set_id`` not labelled yet."""
    from ase.io import read
    from dft import code_info, kpt_mesh, log_path, make_calc, master_write_atoms, master_write_json, single_point

    frames = read(CANDIDATES / f"{set_id}.extxyz", index=":")
    calc, cell = None, None
    for k, cand in enumerate(frames):
        out = LABELLED / set_id / f"{k:03d}.extxyz"
        if out.exists():
            continue
        mesh = kpt_mesh(cand, PRODUCTION.kdensity_A)
        same_cell = cell is not None and np.allclose(cand.cell[:], cell)
        if not same_cell:  # a new cell: GPAW would reinitialise anyway
            calc = make_calc(PRODUCTION, mesh, log_path("train", f"{set_id}_{k:03d}.txt"))
            cell = cand.cell[:].copy()
        labelled, rec = single_point(cand, PRODUCTION, log_path("train", f"{set_id}_{k:03d}.txt"), mesh=mesh,
                                     calc=calc)
        labelled.info.update({key: v for key, v in cand.info.items()})
        labelled.info.update({"kpts": "x".join(map(str, rec["kpts"])), "scf_iterations": rec["scf_iterations"]})
        master_write_atoms(out, labelled)
    master_write_json(RECORD_DIR / "train" / f"{set_id}.json",
                      {"set": asdict(train_set(set_id)), "settings": PRODUCTION.to_dict(), **code_info()})


def labelled_frames() -> list:
    """Every labelled training frame (pyenv side; for manifest.py)."""
    from ase.io import read

    out = []
    for d in sorted(LABELLED.glob("*")) if LABELLED.exists() else []:
        out += [read(p) for p in sorted(d.glob("*.extxyz"))]
    return out


if __name__ == "__main__":
    print(json.dumps({"written": make_candidates(), "pending": pending_sets()}))
