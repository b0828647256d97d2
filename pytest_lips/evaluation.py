"""Batched single-point evaluation of a model on many structures.

* graph-pes models (``LipsModel.graph_pes_model`` or any ``GraphPESModel``): structures become
  ``AtomicGraph.from_ase(atoms, cutoff)`` graphs, are collated with ``to_batch`` into batches of at
  most ``max_atoms_per_batch`` atoms / ``batch_size`` structures, and ``model.predict(batch,
  properties)`` returns energies (S,), forces (N, 3) and, when requested, stresses (S, 3, 3).
  Structures without a cell are batched separately and get NaN stress.
* anything else: a plain loop over a fresh ASE calculator (``get_potential_energy``,
  ``get_forces``, ``get_stress(voigt=False)``).

Units: eV, eV/Å, eV/Å^3 (ASE sign convention: stress = (1/V) ∂E/∂ε, graph-pes uses the same).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import LipsModelError, LipsSimulationError


@dataclass
class Predictions:
    """Model predictions for a list of structures.

    energies: (S,) eV; forces: (N, 3) eV/Å concatenated in structure order; stresses: (S, 3, 3)
    eV/Å^3 (NaN rows where not computed) or None; offsets: (S+1,) atom offsets.
    """

    energies: np.ndarray
    forces: np.ndarray
    offsets: np.ndarray
    stresses: np.ndarray | None = None
    method: str = ""
    wall_s: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.energies.shape[0])

    def forces_of(self, i: int) -> np.ndarray:
        return self.forces[int(self.offsets[i]) : int(self.offsets[i + 1])]

    @property
    def structures_per_s(self) -> float:
        return len(self) / self.wall_s if self.wall_s > 0 else float("nan")


def _offsets(structures: Sequence[Any]) -> np.ndarray:
    o = np.zeros(len(structures) + 1, dtype=np.int64)
    np.cumsum([len(a) for a in structures], out=o[1:])
    return o


def _empty_buffers(
    structures: Sequence[Any], compute_stress: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    """Atom offsets and NaN-filled energy (eV), force (eV/Å) and stress (eV/Å³) buffers."""
    offsets = _offsets(structures)
    n = len(structures)
    energies = np.full(n, np.nan)
    forces = np.full((int(offsets[-1]), 3), np.nan)
    stresses = np.full((n, 3, 3), np.nan) if compute_stress else None
    return offsets, energies, forces, stresses


def _check_finite(pred: Predictions, what: str) -> Predictions:
    if not np.all(np.isfinite(pred.energies)) or not np.all(np.isfinite(pred.forces)):
        bad = np.flatnonzero(~np.isfinite(pred.energies))
        if bad.size == 0:
            atom = int(np.flatnonzero(~np.isfinite(pred.forces).all(axis=1))[0])
            bad = np.array([np.searchsorted(pred.offsets, atom, side="right") - 1])
        raise LipsSimulationError(
            f"the model predicted non-finite energy or forces for {what} structure {int(bad[0])}; "
            "check the model on that structure (atoms too close? elements outside its training set?)"
        )
    return pred


# ------------------------------------------------------------------------------------------------
def evaluate_graph_pes(
    model: Any,
    structures: Sequence[Any],
    compute_stress: bool = False,
    batch_size: int = 32,
    max_atoms_per_batch: int = 4000,
    progress: Callable[[int], None] | None = None,
) -> Predictions:
    """Evaluate a graph-pes ``GraphPESModel`` on ``structures`` in batches (see module docstring)."""
    import torch
    from graph_pes.atomic_graph import AtomicGraph, has_cell, to_batch

    start = time.perf_counter()
    n = len(structures)
    offsets, energies, forces, stresses = _empty_buffers(structures, compute_stress)
    cutoff = float(model.cutoff.item())
    three_body = float(getattr(model, "three_body_cutoff", torch.tensor(0.0)).item())
    try:
        device = next(model.parameters()).device
    except (StopIteration, AttributeError):
        device = torch.device("cpu")
    was_training = bool(getattr(model, "training", False))
    model.eval()

    periodic = [bool(np.any(a.pbc)) and abs(np.linalg.det(a.cell.array)) > 1e-9 for a in structures]
    done = 0
    try:
        for group in (True, False):
            idx = [i for i in range(n) if periodic[i] == group]
            batches: list[list[int]] = []
            current: list[int] = []
            atoms_in = 0
            for i in idx:
                size = len(structures[i])
                if current and (len(current) >= batch_size or atoms_in + size > max_atoms_per_batch):
                    batches.append(current)
                    current, atoms_in = [], 0
                current.append(i)
                atoms_in += size
            if current:
                batches.append(current)
            properties = ["energy", "forces"] + (["stress"] if compute_stress and group else [])
            for members in batches:
                graphs = [AtomicGraph.from_ase(_strip(structures[i]), cutoff) for i in members]
                batch = to_batch(graphs, three_body_cutoff=three_body if three_body > 0 else None).to(device)
                if group and not has_cell(batch):  # pragma: no cover - defensive
                    properties = [p for p in properties if p != "stress"]
                out = model.predict(batch, properties)
                e = out["energy"].detach().cpu().double().numpy().reshape(-1)
                f = out["forces"].detach().cpu().double().numpy()
                ptr = np.zeros(len(members) + 1, dtype=np.int64)
                np.cumsum([len(structures[i]) for i in members], out=ptr[1:])
                for k, i in enumerate(members):
                    energies[i] = e[k]
                    forces[offsets[i] : offsets[i + 1]] = f[ptr[k] : ptr[k + 1]]
                if "stress" in out and stresses is not None:
                    s = out["stress"].detach().cpu().double().numpy().reshape(len(members), 3, 3)
                    for k, i in enumerate(members):
                        stresses[i] = s[k]
                done += len(members)
                if progress is not None:
                    progress(done)
    except (RuntimeError, ValueError) as exc:
        raise LipsModelError(f"graph-pes model failed during batched evaluation: {type(exc).__name__}: {exc}") from exc
    finally:
        if was_training:
            model.train()
    pred = Predictions(
        energies,
        forces,
        offsets,
        stresses,
        method="graph-pes-batched",
        wall_s=time.perf_counter() - start,
        info={"batch_size": batch_size, "max_atoms_per_batch": max_atoms_per_batch},
    )
    return _check_finite(pred, "the")


def _strip(atoms: Any) -> Any:
    """A copy without calculator/labels so that graphs carry no reference properties."""
    from ase import Atoms

    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def evaluate_calculator(
    calculator: Any,
    structures: Sequence[Any],
    compute_stress: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Predictions:
    """Evaluate an ASE calculator on ``structures`` one by one."""
    start = time.perf_counter()
    offsets, energies, forces, stresses = _empty_buffers(structures, compute_stress)
    for i, atoms in enumerate(structures):
        work = _strip(atoms)
        work.calc = calculator
        try:
            energies[i] = float(work.get_potential_energy())
            forces[offsets[i] : offsets[i + 1]] = work.get_forces()
            if stresses is not None and np.any(work.pbc) and abs(np.linalg.det(work.cell.array)) > 1e-9:
                stresses[i] = work.get_stress(voigt=False)
        except Exception as exc:
            raise LipsModelError(
                f"calculator failed on structure {i} ({work.get_chemical_formula()}): {type(exc).__name__}: {exc}"
            ) from exc
        if progress is not None:
            progress(i + 1)
    pred = Predictions(energies, forces, offsets, stresses, method="ase-loop", wall_s=time.perf_counter() - start)
    return _check_finite(pred, "the")


def evaluate(
    model: Any,
    structures: Sequence[Any],
    compute_stress: bool = False,
    batch_size: int = 32,
    max_atoms_per_batch: int = 4000,
    progress: Callable[[int], None] | None = None,
) -> Predictions:
    """Evaluate ``model`` on ``structures``: batched for graph-pes, a loop otherwise.

    ``model`` may be a :class:`pytest_lips.models.LipsModel` (uses ``.graph_pes_model`` when not
    None, else ``.new_calculator()``), a graph-pes ``GraphPESModel``, or an ASE calculator.
    """
    structures = list(structures)
    gp = _graph_pes_model_of(model)
    if gp is not None:
        return evaluate_graph_pes(gp, structures, compute_stress, batch_size, max_atoms_per_batch, progress)
    if hasattr(model, "new_calculator"):
        return evaluate_calculator(model.new_calculator(), structures, compute_stress, progress)
    if hasattr(model, "get_potential_energy") or hasattr(model, "calculate"):
        return evaluate_calculator(model, structures, compute_stress, progress)
    raise LipsModelError(f"cannot evaluate {model!r}: not a LipsModel, graph-pes model or ASE calculator")


def _graph_pes_model_of(model: Any) -> Any | None:
    try:
        from graph_pes import GraphPESModel
    except ImportError:  # pragma: no cover
        return None
    if isinstance(model, GraphPESModel):
        return model
    gp = getattr(model, "graph_pes_model", None)
    return gp if isinstance(gp, GraphPESModel) else None


def calculator_factory(model: Any, stress: bool = False) -> Callable[[], Any]:
    """A callable returning a fresh ASE calculator for ``model`` (LipsModel, graph-pes model or calculator).

    ``stress=True`` asks a LipsModel for a calculator that computes stresses with every call
    (cell relaxations).
    """
    if hasattr(model, "new_calculator"):

        def new() -> Any:
            try:
                return model.new_calculator(stress=stress)
            except TypeError:
                return model.new_calculator()

        return new
    try:
        from graph_pes import GraphPESModel

        if isinstance(model, GraphPESModel):
            return lambda: model.ase_calculator(skin=0.0)
    except ImportError:  # pragma: no cover
        pass
    if hasattr(model, "get_potential_energy") or hasattr(model, "calculate"):
        return lambda: model
    raise LipsModelError(f"cannot build an ASE calculator from {model!r}")


def model_name(model: Any) -> str:
    return str(getattr(model, "name", "") or type(model).__name__)


def model_key(model: Any) -> str:
    """A string identifying the model for cache keys (LipsModel.sha256 when there is one)."""
    sha = getattr(model, "sha256", None)
    if sha:
        return str(sha)
    return f"{type(model).__name__}-{id(model):x}"
