"""MD engines: integrate a list of :class:`~pytest_lips.md.jobs.MDJob` into :class:`~pytest_lips.md.jobs.MDTrajectory`.

This module holds what the tasks see: the :class:`MDEngine` protocol and :func:`select_engine`, the one
place the engine is chosen (``--lips-engine``): ``auto`` = torch-sim when it is installed and the model
offers a torch-sim model (:meth:`pytest_lips.models.LipsModel.torch_sim_model`), else ASE. The engines
live in their own modules and are re-exported here:

* :class:`~pytest_lips.md.ase_engine.AseEngine` (``"ase"``, :mod:`pytest_lips.md.ase_engine`) — one ASE
  trajectory after the other through :func:`~pytest_lips.md.engine.run_md`, any ASE calculator;
* :class:`~pytest_lips.md.torchsim_engine.TorchSimEngine` (``"torch-sim"``,
  :mod:`pytest_lips.md.torchsim_engine`) — every job as one batched torch-sim system (one model call per
  step for all of them), Nosé–Hoover chain NVT and isotropic MTK NPT.

Early stops (:func:`~pytest_lips.md.jobs.array_stop_reason`) act on one job: in a batch the
stopped system leaves the batch and the others go on. Units as in :mod:`pytest_lips.md.jobs`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from ..errors import LipsUsageError
from ._engine_common import Progress
from .ase_engine import AseEngine
from .jobs import MDJob, MDTrajectory
from .torchsim_engine import TorchSimEngine

__all__ = [
    "ENGINE_CHOICES",
    "AseEngine",
    "MDEngine",
    "TorchSimEngine",
    "engine_reason",
    "select_engine",
    "torch_sim_available",
]

#: Values of ``--lips-engine``.
ENGINE_CHOICES = ("auto", "ase", "torch-sim")


@runtime_checkable
class MDEngine(Protocol):
    """What the tasks need from an engine.

    ``run(jobs, model, progress)`` integrates every job and returns one trajectory per job, in job
    order. ``progress(job_steps_done)`` is called with the sum over jobs of the steps integrated so
    far (total: ``sum(job.n_steps)``). ``checkpoint`` (:class:`~pytest_lips.md.checkpoint.MDCheckpoint`):
    where a long run saves its state every few minutes and resumes from (torch-sim; ASE ignores it).
    """

    name: str
    version: str

    def run(
        self, jobs: Sequence[MDJob], model: Any, progress: Progress | None = None, checkpoint: Any = None
    ) -> list[MDTrajectory]: ...

    def identity(self) -> str: ...


def torch_sim_available() -> bool:
    """Whether torch-sim (``torch-sim-atomistic``, Python >= 3.12) can be imported."""
    return importlib.util.find_spec("torch_sim") is not None


# ---------------------------------------------------------------------------------------------
# selection


def select_engine(choice: str, model: Any = None, **torch_sim_options: Any) -> MDEngine:
    """The engine for ``--lips-engine`` ``choice`` (``auto``, ``ase``, ``torch-sim``).

    ``auto`` picks torch-sim when it is installed and ``model`` offers a torch-sim model
    (``model.supports_torch_sim`` / ``model.torch_sim_model(...)`` not ``None``), else ASE.
    ``torch-sim`` without torch-sim installed is a usage error naming the fix.
    """
    choice = (choice or "auto").strip().lower().replace("_", "-")
    if choice in ("torchsim",):
        choice = "torch-sim"
    if choice not in ENGINE_CHOICES:
        raise LipsUsageError(
            f"--lips-engine / lips_engine: expected one of {', '.join(ENGINE_CHOICES)}, got {choice!r}"
        )
    if choice == "ase":
        return AseEngine()
    if choice == "torch-sim":
        if not torch_sim_available():
            raise LipsUsageError(
                "--lips-engine torch-sim: torch-sim is not installed (pip install "
                "'pytest-lips[torch-sim]', Python >= 3.12); use --lips-engine ase"
            )
        return TorchSimEngine(**torch_sim_options)
    if torch_sim_available() and model is not None and _supports_torch_sim(model):
        return TorchSimEngine(**torch_sim_options)
    return AseEngine()


def engine_reason(choice: str, model: Any = None) -> str:
    """Why :func:`select_engine` picks its engine for ``choice`` and ``model``, as one phrase for the report."""
    choice = (choice or "auto").strip().lower().replace("_", "-")
    if choice != "auto":
        return f"--lips-engine {choice}"
    if not torch_sim_available():
        return "auto: torch-sim is not installed (pip install 'pytest-lips[torch-sim]', Python >= 3.12), so ASE"
    if model is not None and _supports_torch_sim(model):
        return "auto: torch-sim is installed and the model gives a torch-sim model (graph-pes), so torch-sim"
    return (
        "auto: the model is a plain ASE calculator (no graph-pes or torch-sim model), which torch-sim cannot batch, "
        "so ASE"
    )


def _supports_torch_sim(model: Any) -> bool:
    flag = getattr(model, "supports_torch_sim", None)
    if flag is not None:
        return bool(flag() if callable(flag) else flag)
    return hasattr(model, "torch_sim_model")
