"""Study 2: fine-tune pretrained CHGNet 0.3.0 on the training-only Li7P3S11 frames of the open PBEsol data.

    python examples/studies/foundation/finetune_chgnet.py --seed 0 [--epochs 40]

Runs in an environment with ``chgnet`` (e.g. /work/venv-sevenn, see README here). Uses CHGNet's own
fine-tuning API (``chgnet.trainer.Trainer``, ``chgnet.data.dataset.StructureData``) as CHGNet's
fine-tuning tutorial does: the embedding, basis-expansion and first three atom-convolution layers, the
bond-convolution and angle layers are frozen; the last atom-convolution layer and the readout train.

Frames (``study_frames``): every Li7P3S11 frame of ``reference_data/pack/data/lips_open.extxyz`` whose
``split`` is ``train`` or ``val`` - 6 CHGNet-MD snapshots (600 K, 1200 K) and 7 steps of the PBEsol
relaxation, 13 frames; none of the 24 Task-2 melt-quench snapshots (all ``split=test``: they are Task 2's
reference) and not the relaxed crystal or the test-split relaxation steps (Task 1 / the pack's test split).
The file's own ``val`` frame is the validation frame.

Energy zero: CHGNet (MP, PBE/PBE+U) and GPAW PBEsol have different per-atom energy zeros. All frames share
one composition, so per-element offsets reduce to one constant: the labels are shifted by the mean per-atom
difference between pretrained CHGNet and DFT on the training frames, so fine-tuning learns the shape of
the energy surface, not the offset (the composition model stays frozen, Task 1's end members keep
CHGNet's MP references). The plugin's ``--lips-energy-offset=auto`` aligns the remaining constant.

Output: ``models/chgnet-ft-s<seed>.pth.tar`` (``CHGNet.from_file``) and a ``.json`` summary.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "reference_data" / "pack" / "data" / "lips_open.extxyz"
HERE = Path(__file__).resolve().parent


def study_frames(path: Path = DATA):
    """(train, val) Li7P3S11 frames that are training-only in the open data file (never split=test)."""
    frames = [a for a in read(path, index=":") if a.get_chemical_formula(mode="reduce") == "Li14P6S22"]
    train = [a for a in frames if a.info.get("split") == "train"]
    val = [a for a in frames if a.info.get("split") == "val"]
    assert not any(str(a.info.get("label", "")).startswith("Iter1") for a in train + val)
    return train, val


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    from chgnet.data.dataset import StructureData, get_loader
    from chgnet.model import CHGNet
    from chgnet.trainer import Trainer
    from pymatgen.io.ase import AseAtomsAdaptor

    train, val = study_frames()
    model = CHGNet.load(verbose=False)
    model.eval()
    # CHGNet's energy zero vs PBEsol: one constant per atom (single composition)
    pred = model.predict_structure([AseAtomsAdaptor.get_structure(a) for a in train], batch_size=4)
    shift = float(np.mean([p["e"] - a.get_potential_energy() / len(a) for p, a in zip(pred, train)]))

    def dataset(frames, shuffle):
        return StructureData(
            structures=[AseAtomsAdaptor.get_structure(a) for a in frames],
            energies=[a.get_potential_energy() / len(a) + shift for a in frames],  # eV/atom, CHGNet's zero
            forces=[a.get_forces().tolist() for a in frames],
            structure_ids=[f"{a.info.get('label')}-{i}" for i, a in enumerate(frames)],
            shuffle=shuffle,
        )

    train_loader = get_loader(dataset(train, True), batch_size=args.batch_size, pin_memory=False)
    val_loader = get_loader(dataset(val, False), batch_size=args.batch_size, pin_memory=False)
    for layer in [
        model.atom_embedding,
        model.bond_embedding,
        model.angle_embedding,
        model.bond_basis_expansion,
        model.angle_basis_expansion,
        model.atom_conv_layers[:3],
        model.bond_conv_layers,
        model.angle_layers,
    ]:
        for p in layer.parameters():
            p.requires_grad = False

    trainer = Trainer(
        model=model,
        targets="ef",
        optimizer="Adam",
        scheduler="CosLR",
        criterion="MSE",
        epochs=args.epochs,
        learning_rate=args.lr,
        use_device="cpu",
        print_freq=100,
        torch_seed=args.seed,
        data_seed=args.seed,
    )
    t0 = time.time()
    save_dir = HERE / "models" / f"chgnet-ft-s{args.seed}.ckpt"
    trainer.train(train_loader, val_loader, save_dir=str(save_dir))
    minutes = (time.time() - t0) / 60
    out = HERE / "models" / f"chgnet-ft-s{args.seed}.pth.tar"
    torch.save({"model": trainer.model.as_dict()}, out)  # the model after the last epoch
    for f in save_dir.iterdir():  # per-epoch checkpoints are not kept
        f.unlink()
    save_dir.rmdir()
    hist = {k: {s: [round(float(x), 5) for x in v] for s, v in d.items()} for k, d in trainer.training_history.items()}
    summary = {
        "base": "CHGNet 0.3.0 (chgnet wheel)",
        "data": str(DATA.relative_to(ROOT)),
        "frames": {"train": [a.info.get("label") for a in train], "val": [a.info.get("label") for a in val]},
        "n_train": len(train),
        "n_val": len(val),
        "energy_shift_eV_atom": round(shift, 5),
        "seed": args.seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "train_minutes": round(minutes, 2),
        "threads": args.threads,
        "mae_history": hist,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
    }
    out.with_suffix("").with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "mae_history"}, indent=2))


if __name__ == "__main__":
    main()
