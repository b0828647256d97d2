"""The example model's training script (``examples/train_example_model.py``): its split rule, the
least-squares offset refit (against an exact case), and one short fine-tuning run from the shipped model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.io import read, write

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "examples"))

import train_example_model as tem  # noqa: E402
from graph_pes.atomic_graph import AtomicGraph  # noqa: E402
from graph_pes.models import load_model  # noqa: E402

EXAMPLE_MODEL = ROOT / "examples" / "lips-example-model.pt"
DISTILLED_MODEL = ROOT / "examples" / "lips-chgnet-distilled.pt"
FRAMES = ROOT / "fixtures" / "data" / "chgnet_lips_frames.extxyz"


def _atoms(symbols: str, split: str | None = None) -> Atoms:
    a = Atoms(symbols, positions=np.arange(3 * len(Atoms(symbols))).reshape(-1, 3) * 1.7, cell=[12] * 3, pbc=True)
    if split is not None:
        a.info["split"] = split
    return a


def test_split_uses_the_files_split_key_and_never_trains_on_test():
    frames = [_atoms("LiS", s) for s in ("train", "val", "test", "train", "test")]
    tr, va, te = tem.split(frames, 0.5, 0)
    assert (len(tr), len(va), len(te)) == (2, 1, 2)
    assert all(a.info["split"] == "train" for a in tr) and all(a.info["split"] == "test" for a in te)


def test_split_without_val_tags_draws_validation_from_non_test_frames():
    frames = [_atoms("LiS", "train") for _ in range(9)] + [_atoms("PS", "test")]
    tr, va, te = tem.split(frames, 0.25, 3)
    assert len(va) == 2 and len(tr) == 7 and len(te) == 1
    assert not any(a.info["split"] == "test" for a in tr + va)
    assert {id(a) for a in tr}.isdisjoint({id(a) for a in va})


def test_refit_offsets_recovers_known_per_element_shifts():
    """Labels = model energy + sum_Z n_Z c_Z with known c_Z: after the refit the residuals vanish."""
    torch.manual_seed(0)
    model = tem.make_model()
    frames = read(FRAMES, index="::25")
    graphs = [AtomicGraph.from_ase(a, cutoff=tem.CUTOFF_A) for a in frames]
    shift = {3: -0.7, 15: 2.1, 16: -1.3}
    model.eval()
    for g, a in zip(graphs, frames):
        e = float(model.predict(g, properties=["energy"])["energy"])
        label = e + sum(shift[z] for z in a.numbers)
        g.properties["energy"] = torch.tensor(label, dtype=torch.get_default_dtype())
    assert {int(z) for g in graphs for z in g.Z} == set(shift)  # every element is present
    tem.refit_offsets(model, graphs)
    for g in graphs:
        e = float(model.predict(g, properties=["energy"])["energy"])
        assert e == pytest.approx(float(g.properties["energy"]), abs=2e-3)


@pytest.mark.slow
def test_fine_tuning_run_starts_from_the_given_model(tmp_path):
    frames = read(FRAMES, index=":")
    picked = [a for a in frames if len(a) <= 20][:6]
    for i, a in enumerate(picked):
        a.info["split"] = ("train", "train", "train", "val", "test", "train")[i]
    data = tmp_path / "tiny.extxyz"
    write(data, picked, format="extxyz")
    out = tmp_path / "ft.pt"
    run = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "train_example_model.py"),
            "--data",
            str(data),
            "--init",
            str(DISTILLED_MODEL),
            "--epochs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary["init"] == "examples/lips-chgnet-distilled.pt"
    assert (summary["n_train"], summary["n_validation"], summary["n_test"]) == (4, 1, 1)
    tuned, base = load_model(out), load_model(DISTILLED_MODEL)
    # same architecture (every weight tensor has its shape), different weights after one epoch
    sd_t, sd_b = tuned.state_dict(), base.state_dict()
    assert sd_t.keys() == sd_b.keys()
    weights = [k for k, v in sd_b.items() if isinstance(v, torch.Tensor) and v.is_floating_point()]
    assert weights and all(sd_t[k].shape == sd_b[k].shape for k in weights)
    assert any(not torch.equal(sd_t[k], sd_b[k]) for k in weights)


def test_shipped_example_model_is_trained_on_the_pbesol_pack():
    """The README's example model: fine-tuned from the distilled model on the pack's DFT file, never on its
    test split, and its summary carries test errors."""
    summary = json.loads(EXAMPLE_MODEL.with_suffix(".json").read_text())
    assert summary["data"] == "reference_data/pack/data/lips_open.extxyz"
    assert summary["init"] == "examples/lips-chgnet-distilled.pt" and DISTILLED_MODEL.exists()
    assert all("GPAW PBEsol" in s for s in summary["label_sources"])
    assert summary["n_test"] > 0 and "all" in summary["test"]
    frames = read(ROOT / summary["data"], index=":")
    assert summary["n_train"] + summary["n_validation"] <= sum(a.info["split"] != "test" for a in frames)
    assert EXAMPLE_MODEL.stat().st_size < 5e6
    assert set(load_model(EXAMPLE_MODEL).elements_seen) == {"Li", "P", "S"}


@pytest.mark.parametrize("option", ["--data", "--init"])
def test_missing_input_file_is_a_usage_error_naming_the_option(option, tmp_path):
    missing = tmp_path / "absent.file"
    run = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_example_model.py"), option, str(missing)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert f"{option} {missing}: no such file" in run.stderr and "Traceback" not in run.stderr


def test_default_cutoff_is_the_shipped_models():
    """--cutoff defaults to the shipped model's cutoff, so the README's two commands still make that model."""
    assert tem.CUTOFF_A == 5.0
    assert float(load_model(EXAMPLE_MODEL).cutoff) == tem.CUTOFF_A
    assert float(load_model(DISTILLED_MODEL).cutoff) == tem.CUTOFF_A
    assert float(tem.make_model(3.0).cutoff) == 3.0 and float(tem.make_model().cutoff) == tem.CUTOFF_A


@pytest.mark.slow
def test_cutoff_option_trains_a_model_with_that_cutoff(tmp_path):
    frames = read(FRAMES, index=":")
    picked = [a for a in frames if len(a) <= 20][:5]
    for i, a in enumerate(picked):
        a.info["split"] = ("train", "train", "train", "val", "train")[i]
    data = tmp_path / "tiny.extxyz"
    write(data, picked, format="extxyz")
    out = tmp_path / "c3.pt"
    cmd = [sys.executable, str(ROOT / "examples" / "train_example_model.py"), "--data", str(data)]
    run = subprocess.run(
        [*cmd, "--cutoff", "3.0", "--epochs", "1", "--out", str(out)], capture_output=True, text=True, timeout=600
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert json.loads(out.with_suffix(".json").read_text())["cutoff_A"] == 3.0
    model = load_model(out)
    assert float(model.cutoff) == 3.0 and float(model["many_body"].cutoff) == 3.0
    # fine-tuning keeps the saved model's cutoff; a different --cutoff is refused, naming the option
    run = subprocess.run(
        [*cmd, "--init", str(out), "--cutoff", "4.0", "--epochs", "1", "--out", str(tmp_path / "x.pt")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 2 and "--cutoff 4.0:" in run.stderr and "cutoff 3.0 A" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("value", ["2.0", "-1", "nan", "25"])
def test_cutoff_outside_the_usable_range_is_a_usage_error(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        tem.parse_args(["--cutoff", value])
    assert exit_.value.code == 2
    assert f"--cutoff {float(value)}: give a radial cutoff" in capsys.readouterr().err


def test_cutoff_in_range_is_accepted():
    assert tem.parse_args(["--cutoff", "3"])[1].cutoff == 3.0
    assert tem.parse_args([])[1].cutoff == tem.CUTOFF_A
