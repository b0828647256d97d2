"""Train the README's example model: a small graph-pes MACE + ZBL core for Li-P-S.

    python examples/train_example_model.py                     # best labels found, ~20 min on 1 CPU core
    python examples/train_example_model.py --data my.extxyz    # any LiPS-25-style extxyz file

The shipped example model is made in two steps (examples/README.md), about 25 min on one core:

    python examples/train_example_model.py --data fixtures/data/chgnet_lips_frames.extxyz \
        --out examples/lips-chgnet-distilled.pt                # 1. distil CHGNet (340 frames, ~20 min)
    python examples/train_example_model.py --init examples/lips-chgnet-distilled.pt \
        --epochs 100 --force-weight 1.0 --lr 2e-3              # 2. fine-tune on the PBEsol pack (~5 min)

Labels, in order of preference (``--data`` overrides):
1. ``reference_data/pack/data/lips_open.extxyz`` - the project's PBEsol (DFT) data, once it has at least
   ``--min-dft-frames`` (100) non-test frames covering Li, P and S. Its ``split`` key is used as is: the
   Task-2 snapshots are all ``test`` (they are Task 2's reference), so the model never trains on them;
2. ``fixtures/data/chgnet_lips_frames.extxyz`` - CHGNet 0.4.2 labels (NOT DFT), shipped for the tests.

Model: ``AdditionModel(offset=LearnableOffset(), core=ZBL (switched off smoothly between 1.2 and 2.0 A),
many_body=MACE(Li/P/S, channels 16, 2 layers, cutoff 5 A, l_max 2, correlation 3))``.
Loss: per-atom energy MSE + 0.1 x force MSE (eV, A), Adam with linear LR decay, fixed seed, CPU,
one thread by default. Frames whose ``info["split"] == "test"`` are never trained on; they are scored at
the end (all, and per label family). The model with the lowest validation loss is kept. Saved with
``torch.save(model, --out)``; load it with
``graph_pes.models.load_model`` or use it directly: ``pytest --lips-model=examples/lips-example-model.pt``.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch
from ase.io import read
from graph_pes.atomic_graph import AtomicGraph, to_batch
from graph_pes.models import MACE, AdditionModel, LearnableOffset, SmoothedPairPotential, ZBLCoreRepulsion, load_model

ROOT = Path(__file__).resolve().parents[1]
DFT_DATA = ROOT / "reference_data" / "pack" / "data" / "lips_open.extxyz"
CHGNET_DATA = ROOT / "fixtures" / "data" / "chgnet_lips_frames.extxyz"
SEED = 42
CUTOFF_A = 5.0


def default_data(min_frames: int) -> Path:
    """The DFT data file once it is complete enough (>= ``min_frames`` trainable, i.e. non-test, frames
    covering Li, P and S), else the CHGNet-labelled fixture."""
    if DFT_DATA.exists():
        frames = [a for a in read(DFT_DATA, index=":") if str(a.info.get("split", "")).lower() != "test"]
        elements = {s for a in frames for s in a.get_chemical_symbols()}
        if len(frames) >= min_frames and {"Li", "P", "S"} <= elements:
            return DFT_DATA
        print(
            f"note: {DFT_DATA.relative_to(ROOT)} has {len(frames)} trainable frames with elements "
            f"{sorted(elements)}: not yet a training set (need >= {min_frames} with Li, P and S); "
            "using CHGNet labels"
        )
    return CHGNET_DATA


def make_model(cutoff: float = CUTOFF_A) -> AdditionModel:
    return AdditionModel(
        offset=LearnableOffset(),
        # ZBL screened-nuclear repulsion as a short-range wall, switched off smoothly between 1.2 and 2.0 A
        core=SmoothedPairPotential(ZBLCoreRepulsion(cutoff=2.0), smoothing_onset=1.2),
        many_body=MACE(
            elements=["Li", "P", "S"],
            cutoff=cutoff,
            n_radial=8,
            channels=16,
            hidden_irreps="0e + 1o",
            l_max=2,
            layers=2,
            correlation=3,
            readout_width=16,
        ),
    )


def split(frames, val_fraction: float, seed: int):
    """(train, validation, test) frames: the file's ``split`` key when every frame has one (LiPS-25 and
    ``lips_open.extxyz`` do), else ``val_fraction`` of the non-test frames drawn at random as validation."""
    tags = [str(a.info.get("split", "")).lower() for a in frames]
    test = [a for a, t in zip(frames, tags) if t == "test"]
    if all(t in ("train", "val", "test") for t in tags) and "val" in tags:
        return (
            [a for a, t in zip(frames, tags) if t == "train"],
            [a for a, t in zip(frames, tags) if t == "val"],
            test,
        )
    usable = [a for a, t in zip(frames, tags) if t != "test"]
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(usable))
    n_val = max(1, int(round(val_fraction * len(usable))))
    return [usable[i] for i in sorted(idx[n_val:])], [usable[i] for i in sorted(idx[:n_val])], test


@torch.no_grad()
def refit_offsets(model: AdditionModel, graphs: list[AtomicGraph]) -> None:
    """Least-squares shift of the per-element offsets so that the mean energy residual per element is zero."""
    model.eval()
    resid, counts = [], []
    zs = sorted({int(z) for g in graphs for z in g.Z.tolist()})
    for i in range(0, len(graphs), 32):
        b = to_batch(graphs[i : i + 32])
        with torch.enable_grad():
            e = model.predict(b, properties=["energy"])["energy"].detach()
        resid.append((b.properties["energy"] - e).double())
        n = len(graphs[i : i + 32])
        counts.append(torch.stack([torch.bincount(b.batch[b.Z == z], minlength=n).double() for z in zs], 1))
    delta = torch.linalg.lstsq(torch.cat(counts), torch.cat(resid).unsqueeze(1)).solution.squeeze(1)
    for k, z in enumerate(zs):
        model["offset"]._offsets[z] += float(delta[k])


def errors(model, graphs: list[AtomicGraph], batch_size: int = 16) -> dict[str, float]:
    """Energy RMSE/MAE (meV/atom) and force RMSE/MAE (eV/A)."""
    model.eval()
    de, df = [], []
    for i in range(0, len(graphs), batch_size):
        b = to_batch(graphs[i : i + batch_size])
        p = model.predict(b, properties=["energy", "forces"])
        n = torch.bincount(b.batch)
        de.append(((p["energy"] - b.properties["energy"]) / n).detach())
        df.append((p["forces"] - b.properties["forces"]).detach().reshape(-1))
    e, f = torch.cat(de), torch.cat(df)
    return {
        "energy_rmse_meV_atom": float(e.pow(2).mean().sqrt() * 1000),
        "energy_mae_meV_atom": float(e.abs().mean() * 1000),
        "force_rmse_eV_A": float(f.pow(2).mean().sqrt()),
        "force_mae_eV_A": float(f.abs().mean()),
    }


def _rel(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def parse_args(argv: list[str] | None = None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    """The parser and the checked options (a bad value exits with status 2 and one line naming the option)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data",
        default=None,
        help=f"extxyz with energy/forces (default: {DFT_DATA.name} if present, else {CHGNET_DATA.relative_to(ROOT)})",
    )
    ap.add_argument(
        "--min-dft-frames",
        type=int,
        default=100,
        help="use the DFT file by default only once it has this many non-test frames (default 100)",
    )
    ap.add_argument("--out", default=str(ROOT / "examples" / "lips-example-model.pt"))
    ap.add_argument("--epochs", type=int, default=80)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=5e-3)
    ap.add_argument("--force-weight", type=float, default=0.1)
    ap.add_argument("--val-fraction", type=float, default=0.1)
    ap.add_argument(
        "--init",
        default=None,
        help="fine-tune this saved graph-pes model instead of starting from random weights (its "
        "per-element energy offsets are refitted to the new labels first)",
    )
    ap.add_argument("--max-minutes", type=float, default=22.0, help="stop training after this wall time")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=SEED)
    ap.add_argument(
        "--cutoff",
        type=float,
        default=CUTOFF_A,
        help=f"MACE radial cutoff in A for a new model (default {CUTOFF_A}, the shipped model's); with "
        "--init the saved model's own cutoff is used and this option must be left at its default or match it",
    )
    args = ap.parse_args(argv)
    if not 2.0 < args.cutoff < 20.0:
        ap.error(f"--cutoff {args.cutoff}: give a radial cutoff in A above the ZBL core's 2.0 A (e.g. 3 to 7)")
    for opt, path in (("--data", args.data), ("--init", args.init)):
        if path and not Path(path).is_file():
            ap.error(
                f"{opt} {path}: no such file (give an extxyz file for --data, a torch.save'd graph-pes "
                "model for --init)"
            )
    return ap, args


def main() -> None:
    ap, args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    data = Path(args.data) if args.data else default_data(args.min_dft_frames)
    frames = read(data, index=":")
    sources = sorted({str(a.info.get("source", "unknown")) for a in frames})
    train_frames, val_frames, test_frames = split(frames, args.val_fraction, args.seed)
    print(f"data: {data} ({len(frames)} frames; label sources: {sources})")
    print(
        f"train {len(train_frames)} / validation {len(val_frames)} frames; {len(test_frames)} test-split "
        "frames left out (scored at the end)"
    )

    if args.init:
        model = load_model(args.init)
        cutoff = float(model.cutoff)
        if args.cutoff != CUTOFF_A and abs(args.cutoff - cutoff) > 1e-6:
            ap.error(f"--cutoff {args.cutoff}: {args.init} was trained with cutoff {cutoff} A; leave --cutoff out")
        print(f"fine-tuning {args.init} (cutoff {cutoff} A)")
    else:
        cutoff = args.cutoff
        model = make_model(cutoff)
        print(f"new model, cutoff {cutoff} A")

    g_tr = [AtomicGraph.from_ase(a, cutoff=cutoff) for a in train_frames]
    g_va = [AtomicGraph.from_ase(a, cutoff=cutoff) for a in val_frames]
    if not args.init:
        model.pre_fit_all_components(g_tr)
    refit_offsets(model, g_tr)

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    steps_per_epoch = (len(g_tr) + args.batch_size - 1) // args.batch_size
    sched = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.05, total_iters=args.epochs * steps_per_epoch)
    gen = torch.Generator().manual_seed(args.seed)

    t0 = time.time()
    best = (float("inf"), None, -1)
    for epoch in range(1, args.epochs + 1):
        model.train()
        order = torch.randperm(len(g_tr), generator=gen).tolist()
        for i in range(0, len(order), args.batch_size):
            b = to_batch([g_tr[j] for j in order[i : i + args.batch_size]])
            p = model.predict(b, properties=["energy", "forces"])
            n = torch.bincount(b.batch)
            le = ((p["energy"] - b.properties["energy"]) / n).pow(2).mean()
            lf = (p["forces"] - b.properties["forces"]).pow(2).mean()
            loss = le + args.force_weight * lf
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            sched.step()
        va = errors(model, g_va)
        val_loss = (va["energy_rmse_meV_atom"] / 1000) ** 2 + args.force_weight * va["force_rmse_eV_A"] ** 2
        if val_loss < best[0]:
            best = (val_loss, copy.deepcopy(model.state_dict()), epoch)
        print(
            f"epoch {epoch:3d}  val E {va['energy_rmse_meV_atom']:7.1f} meV/atom  F {va['force_rmse_eV_A']:.3f} eV/A"
            f"  lr {sched.get_last_lr()[0]:.2e}  ({(time.time() - t0) / 60:.1f} min)",
            flush=True,
        )
        if (time.time() - t0) / 60 > args.max_minutes:
            print(f"stopping after epoch {epoch}: --max-minutes {args.max_minutes} reached", flush=True)
            break
    train_minutes = (time.time() - t0) / 60

    model.load_state_dict(best[1])
    model.eval()
    tr, va = errors(model, g_tr), errors(model, g_va)
    # test split, never seen in training: all of it, and by label family (e.g. Task-2 snapshots apart)
    test = {}
    if test_frames:
        test["all"] = errors(model, [AtomicGraph.from_ase(a, cutoff=cutoff) for a in test_frames])
        families = sorted({str(a.info.get("label", "")).split("-")[0] for a in test_frames})
        for fam in families:
            sub = [a for a in test_frames if str(a.info.get("label", "")).split("-")[0] == fam]
            test[f"{fam} ({len(sub)} frames)"] = errors(model, [AtomicGraph.from_ase(a, cutoff=cutoff) for a in sub])
    summary = {
        "data": _rel(data),
        "label_sources": sources,
        "init": _rel(Path(args.init)) if args.init else None,
        "cutoff_A": cutoff,
        "n_train": len(g_tr),
        "n_validation": len(g_va),
        "best_epoch": best[2],
        "epochs_run": epoch,
        "train_minutes": round(train_minutes, 1),
        "threads": args.threads,
        "train": {k: round(v, 4) for k, v in tr.items()},
        "validation": {k: round(v, 4) for k, v in va.items()},
        "n_test": len(test_frames),
        "test": {name: {k: round(v, 4) for k, v in e.items()} for name, e in test.items()},
        "graph_pes_elements_seen": model.elements_seen,
    }
    out = Path(args.out)
    torch.save(model, out)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"saved {out} ({out.stat().st_size / 1e6:.2f} MB) and {out.with_suffix('.json').name}")


if __name__ == "__main__":
    main()
