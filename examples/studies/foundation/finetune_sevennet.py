"""Study 2: fine-tune pretrained SevenNet-0 on the training-only Li7P3S11 frames of the open PBEsol data.

    python examples/studies/foundation/finetune_sevennet.py --seed 0 [--epochs 30]

Runs in an environment with ``sevenn`` 0.13.0 (e.g. /work/venv-sevenn, see README here). Uses sevenn's own
fine-tuning route: its ``fine_tune`` preset (``sevenn preset fine_tune``: continue from the
``SevenNet-0_11July2024`` checkpoint with optimizer, scheduler and epoch reset, Huber loss δ = 0.01,
Adam, exponential learning-rate decay, shift/scale frozen) and its ``sevenn train`` command. Changed from
the preset, and recorded in the summary: the seed, the epoch count, batch size 2, no stress loss (the
frames' stresses are PBEsol with Pulay corrections from a different basis than MPtrj's; the study compares
energies and forces), one validation frame, no test set.

Frames: the same 13 as ``finetune_chgnet.py`` (``study_frames``): every Li7P3S11 frame of the open PBEsol
data whose split is ``train`` (12) or ``val`` (1); never the Task-2 melt-quench snapshots.

Energy zero: SevenNet-0 (MPtrj, PBE/PBE+U) and GPAW PBEsol have different per-atom energy zeros; all frames
share one composition, so the labels are shifted by the mean per-atom difference between pretrained
SevenNet-0 and DFT on the training frames, as for CHGNet, and fine-tuning learns the surface, not the offset.

Output: ``models/sevennet-ft-s<seed>/checkpoint_best.pth`` (``SevenNetCalculator(model=...)``; the factory
``factories.sevennet0_ft_s<seed>``) and ``models/sevennet-ft-s<seed>.json`` (frames, shift, settings, wall
time, the training log's last lines).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.io import write

sys.path.insert(0, str(Path(__file__).resolve().parent))
from finetune_chgnet import DATA, ROOT, study_frames  # noqa: E402  (one frame choice for both models)

HERE = Path(__file__).resolve().parent


def shifted(frames, shift_eV_atom: float):
    """Bare copies of ``frames`` (no info or extra arrays: sevenn stores every info key in its graphs and cannot
    batch frames whose keys differ) with energy + N·shift and the DFT forces, as a single-point calculator."""
    out = []
    for a in frames:
        b = Atoms(a.numbers, positions=a.positions, cell=a.cell, pbc=a.pbc)
        e = a.get_potential_energy() + len(a) * shift_eV_atom
        b.calc = SinglePointCalculator(b, energy=e, forces=a.get_forces())
        out.append(b)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=2)
    args = ap.parse_args()

    from sevenn.calculator import SevenNetCalculator

    train, val = study_frames()
    calc = SevenNetCalculator(model="7net-0", device="cpu")
    diffs = []
    for a in train:
        b = a.copy()
        b.calc = calc
        diffs.append(b.get_potential_energy() / len(b) - a.get_potential_energy() / len(a))
    shift = float(np.mean(diffs))

    work = HERE / "models" / f"sevennet-ft-s{args.seed}"
    work.mkdir(parents=True, exist_ok=True)
    write(work / "train.extxyz", shifted(train, shift), format="extxyz")
    write(work / "valid.extxyz", shifted(val, shift), format="extxyz")
    preset = subprocess.run(
        [sys.executable, "-m", "sevenn.main.sevenn", "preset", "fine_tune"], capture_output=True, text=True, check=True
    ).stdout
    cfg = yaml.safe_load(preset)
    cfg["train"].update(
        random_seed=args.seed,
        epoch=args.epochs,
        is_train_stress=False,
        per_epoch=args.epochs,
        error_record=[["Energy", "RMSE"], ["Force", "RMSE"], ["TotalLoss", "None"]],
    )
    cfg["train"].pop("stress_loss_weight", None)
    cfg["data"].update(
        batch_size=args.batch_size,
        load_trainset_path=[str(work / "train.extxyz")],
        load_validset_path=[str(work / "valid.extxyz")],
    )
    cfg["data"].pop("load_testset_path", None)
    cfg["data"].pop("data_divide_ratio", None)
    (work / "input.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "sevenn.main.sevenn", "train", str(work / "input.yaml"), "-w", str(work)],
        check=True,
        cwd=work,
    )
    minutes = (time.time() - t0) / 60
    best = work / "checkpoint_best.pth"
    log = (work / "log.sevenn").read_text().splitlines() if (work / "log.sevenn").exists() else []
    summary = {
        "base": "SevenNet-0 (11Jul2024, sevenn 0.13.0 wheel)",
        "data": str(DATA.relative_to(ROOT)),
        "frames": {"train": [a.info.get("label") for a in train], "val": [a.info.get("label") for a in val]},
        "n_train": len(train),
        "n_val": len(val),
        "energy_shift_eV_atom": round(shift, 5),
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "changed_from_preset": "seed, epoch, batch_size, is_train_stress False, no test set",
        "train_minutes": round(minutes, 2),
        "log_tail": log[-25:],
        "sha256": hashlib.sha256(best.read_bytes()).hexdigest() if best.exists() else None,
    }
    (HERE / "models" / f"sevennet-ft-s{args.seed}.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "log_tail"}, indent=2))


if __name__ == "__main__":
    main()
