"""Study 2's models as pytest-lips factories (``--lips-model=examples.studies.foundation.factories:NAME``).

Each callable returns a NEW ASE calculator per call (the plugin asks for one per trajectory/relaxation):

* ``chgnet``       - pretrained CHGNet 0.3.0 from the ``chgnet`` wheel (zero-shot);
* ``chgnet_ft_s0`` ... - CHGNet fine-tuned by ``finetune_chgnet.py --seed N`` (models/chgnet-ft-sN.pth.tar);
* ``sevennet0``    - pretrained SevenNet-0 (``7net-0``, weights in the ``sevenn`` 0.13.0 wheel; zero-shot);
* ``sevennet0_ft_s0`` - SevenNet-0 fine-tuned with sevenn (models/sevennet-ft-s0/checkpoint_best.pth; not run here).

They need ``chgnet`` / ``sevenn`` importable: run them from /work/venv-sevenn (README here), not from an
environment with graph-pes 1.0.2, whose e3nn 0.4.4 conflicts with sevenn's e3nn 0.6.0.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

MODELS = Path(__file__).resolve().parent / "models"


@lru_cache(maxsize=None)
def _chgnet_weights(path: str | None):
    from chgnet.model import CHGNet

    return CHGNet.load(verbose=False) if path is None else CHGNet.from_file(path)


def _chgnet_calc(path: str | None, device: str):
    from chgnet.model import CHGNetCalculator

    if path is not None and not Path(path).is_file():
        raise FileNotFoundError(f"{path}: run examples/studies/foundation/finetune_chgnet.py first")
    return CHGNetCalculator(model=_chgnet_weights(path), use_device=device)


def chgnet(device: str = "cpu"):
    """Pretrained CHGNet 0.3.0 (zero-shot)."""
    return _chgnet_calc(None, device)


def chgnet_ft_s0(device: str = "cpu"):
    return _chgnet_calc(str(MODELS / "chgnet-ft-s0.pth.tar"), device)


def chgnet_ft_s1(device: str = "cpu"):
    return _chgnet_calc(str(MODELS / "chgnet-ft-s1.pth.tar"), device)


def chgnet_ft_s2(device: str = "cpu"):
    return _chgnet_calc(str(MODELS / "chgnet-ft-s2.pth.tar"), device)


def _sevennet_calc(model: str, device: str):
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator(model=model, device=device)


def sevennet0(device: str = "cpu"):
    """Pretrained SevenNet-0 (zero-shot)."""
    return _sevennet_calc("7net-0", device)


def sevennet0_ft_s0(device: str = "cpu"):
    return _sevennet_calc(str(MODELS / "sevennet-ft-s0" / "checkpoint_best.pth"), device)
