"""Task 2: force (and energy) errors along a melt-quench trajectory of the pack's system (LiPS: Li7P3S11).

The pack's Task 2 file holds DFT-labelled snapshots (info ``energy`` [eV], ``time_ps``,
``temperature_K``, ``regime`` ∈ crystal | liquid | amorphous; arrays ``forces`` [eV/Å]; optional
``stress``).  The model is evaluated on every snapshot (batched for graph-pes models).

Metrics: ``task2.force_rmse`` [eV/Å] over all force components of all snapshots (gated);
``task2.<regime>.force_rmse`` per regime and ``task2.energy_rmse`` [meV/atom] (reported).  The
energy error per snapshot is offset-aligned when ``energy_offset`` is ``auto`` (zero-shot models):
the mean energy-per-atom difference over the snapshots is subtracted (all snapshots share one
composition, so per-element offsets reduce to this constant); both raw and aligned errors are in
the details together with the error along the trajectory.  When the data set is available,
``task2.dataset.force_rmse`` reports the force errors on its structures of the pack's Task 2 composition
(``system.task2.composition``; LiPS: Li7P3S11) in the test split, by label.

Profile section ``task2:``::

    task2:
      max_frames: null          # evenly strided subset of the snapshots (null: all)
      energy_offset: none       # none | auto (--lips-energy-offset overrides)
      batch_size: 16
      max_atoms_per_batch: 4000
      dataset_split: test       # data-set split searched for structures of the Task 2 composition
      dataset_max_structures: null
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..analysis.errors import EV_TO_MEV, ErrorSummary, force_component_errors, per_structure_force_rmse, rmse
from ..analysis.offsets import check_offset_mode
from ..data import LipsDataset
from ..errors import LipsDataError, LipsUsageError
from ..evaluation import evaluate
from ..profiles import protocol_from_section
from ..reference import TASK2_REGIMES
from ..results import Metric

TASK = "task2"
REGIMES = TASK2_REGIMES


@dataclass(frozen=True)
class Task2Protocol:
    """Settings of Task 2 (see module docstring)."""

    max_frames: int | None = None
    energy_offset: str = "none"
    batch_size: int = 16
    max_atoms_per_batch: int = 4000
    dataset_split: str = "test"
    dataset_max_structures: int | None = None

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> Task2Protocol:
        proto = protocol_from_section(cls, section, "task2")
        try:
            check_offset_mode(proto.energy_offset)
        except ValueError as exc:
            raise LipsUsageError(f"profile section task2: {exc}") from None
        proto.validate()
        return proto

    def validate(self) -> None:
        """Ranges (types, finiteness and signs are checked by :func:`pytest_lips.profiles.check_value`)."""
        problems = []
        for name in ("max_frames", "dataset_max_structures"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (or null for all)")
        if self.batch_size < 1 or self.max_atoms_per_batch < 1:
            problems.append("batch_size and max_atoms_per_batch must be >= 1")
        if self.dataset_split not in ("train", "val", "test"):
            problems.append(f"dataset_split must be train, val or test, not {self.dataset_split!r}")
        if problems:
            raise LipsUsageError("profile section task2: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_frames(n_frames: int, max_frames: int | None) -> np.ndarray:
    """Evenly strided frame indices along the trajectory (deterministic, first and last included)."""
    if max_frames is None or max_frames >= n_frames:
        return np.arange(n_frames)
    if max_frames <= 1:
        return np.array([0])
    return np.unique(np.round(np.linspace(0, n_frames - 1, int(max_frames))).astype(int))


@dataclass
class Task2Result:
    """Per-snapshot arrays of one Task 2 evaluation (eV, eV/Å)."""

    frame_indices: np.ndarray
    n_frames_total: int
    regimes: np.ndarray
    time_ps: np.ndarray
    temperature_K: np.ndarray
    n_atoms: np.ndarray
    ref_energies: np.ndarray
    pred_energies: np.ndarray
    ref_forces: np.ndarray
    pred_forces: np.ndarray
    offsets: np.ndarray
    energy_offset: str = "none"
    wall_s: float = 0.0
    protocol: dict[str, Any] = field(default_factory=dict)


def run(model: Any, frames: list[Any], protocol: Task2Protocol, energy_offset: str | None = None) -> Task2Result:
    """Evaluate ``model`` on the (selected) snapshots."""
    start = time.perf_counter()
    mode = check_offset_mode(energy_offset if energy_offset is not None else protocol.energy_offset)
    idx = select_frames(len(frames), protocol.max_frames)
    chosen = [frames[int(i)] for i in idx]
    ref_e, ref_f = [], []
    for k, atoms in zip(idx, chosen):
        results = atoms.calc.results if atoms.calc is not None else {}
        e = results.get("energy", atoms.info.get("energy"))
        f = results.get("forces", atoms.arrays.get("forces"))
        if e is None or f is None:
            raise LipsDataError(f"Task 2 snapshot {int(k)} lacks energy or forces; re-generate the reference pack")
        ref_e.append(float(e))
        ref_f.append(np.asarray(f, dtype=float))
    pred = evaluate(model, chosen, False, protocol.batch_size, protocol.max_atoms_per_batch)
    return Task2Result(
        frame_indices=idx,
        n_frames_total=len(frames),
        regimes=np.array([str(a.info.get("regime", "")) for a in chosen]),
        time_ps=np.array([float(a.info.get("time_ps", np.nan)) for a in chosen]),
        temperature_K=np.array([float(a.info.get("temperature_K", np.nan)) for a in chosen]),
        n_atoms=np.array([len(a) for a in chosen]),
        ref_energies=np.array(ref_e),
        pred_energies=pred.energies,
        ref_forces=np.concatenate(ref_f) if ref_f else np.zeros((0, 3)),
        pred_forces=pred.forces,
        offsets=pred.offsets,
        energy_offset=mode,
        wall_s=time.perf_counter() - start,
        protocol=protocol.to_dict(),
    )


def analyse(result: Task2Result, model: str = "") -> list[Metric]:
    """``task2.force_rmse`` (gated), per-regime force RMSE and ``task2.energy_rmse`` (reported)."""
    n = len(result.frame_indices)
    subset = (
        f"{n} of {result.n_frames_total} snapshots (evenly strided, max_frames={result.protocol.get('max_frames')})"
        if n < result.n_frames_total
        else f"all {n} snapshots"
    )
    f_err = force_component_errors(result.pred_forces, result.ref_forces)
    per_frame_f = per_structure_force_rmse(result.pred_forces, result.ref_forces, result.offsets) if n else np.zeros(0)
    raw = (result.pred_energies - result.ref_energies) / result.n_atoms * EV_TO_MEV if n else np.zeros(0)
    shift = float(np.mean(raw)) if n else 0.0
    aligned = raw - shift
    use_aligned = result.energy_offset == "auto"
    e_used = aligned if use_aligned else raw
    trajectory = [
        {
            "frame": int(result.frame_indices[k]),
            "time_ps": _num(result.time_ps[k]),
            "temperature_K": _num(result.temperature_K[k]),
            "regime": str(result.regimes[k]),
            "force_rmse": float(per_frame_f[k]),
            "energy_error_meV_atom": float(raw[k]),
            "energy_error_aligned_meV_atom": float(aligned[k]),
        }
        for k in range(n)
    ]
    regime_summary = {}
    comp_regime = np.repeat(np.repeat(result.regimes, result.n_atoms), 3) if n else np.zeros(0, dtype=str)
    for regime in REGIMES:
        mask = comp_regime == regime
        frames_in = int(np.sum(result.regimes == regime))
        regime_summary[regime] = {"n_frames": frames_in, **ErrorSummary.of(f_err[mask]).to_dict()}
    details = {
        "trajectory": trajectory,
        "per_regime": regime_summary,
        "energy_offset": result.energy_offset,
        "mean_energy_offset_meV_atom": shift,
        "protocol": result.protocol,
        "wall_s": result.wall_s,
    }
    metrics = [
        Metric(
            key=f"{TASK}.force_rmse",
            value=rmse(f_err),
            unit="eV/Å",
            model=model,
            task=TASK,
            n=n,
            gated=n > 0,
            note=f"force components over {subset}",
            details=details,
        )
    ]
    for regime in REGIMES:
        s = regime_summary[regime]
        metrics.append(
            Metric(
                key=f"{TASK}.{regime}.force_rmse",
                value=s["rmse"],
                unit="eV/Å",
                model=model,
                task=TASK,
                n=s["n_frames"],
                gated=False,
                note=f"{regime} snapshots only ({s['n_frames']} of {subset}); reported, not gated",
                details={"regime": regime, **s},
            )
        )
    e_note = (
        f"energy per atom over {subset}, "
        + (f"offset-aligned (mean difference {shift:.3g} meV/atom subtracted)" if use_aligned else "raw (no offset)")
        + "; reported, not gated"
    )
    metrics.append(
        Metric(
            key=f"{TASK}.energy_rmse",
            value=rmse(e_used),
            unit="meV/atom",
            model=model,
            task=TASK,
            n=n,
            gated=False,
            note=e_note,
            details={
                "rmse_raw_meV_atom": rmse(raw),
                "rmse_aligned_meV_atom": rmse(aligned),
                "mean_energy_offset_meV_atom": shift,
                "energy_offset": result.energy_offset,
            },
        )
    )
    return metrics


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


# ------------------------------------------------------------------------------------------------
# Data-set structures of the pack's Task 2 composition
# ------------------------------------------------------------------------------------------------
def composition_indices(dataset: LipsDataset, composition: Mapping[str, int], split: str = "test") -> np.ndarray:
    """Indices of ``split`` structures whose composition is a whole multiple of ``composition``."""
    from ase.data import atomic_numbers

    idx = dataset.split_indices(split)
    elements = list(composition)
    comp, _ = dataset.composition_matrix(idx, elements=[atomic_numbers[e] for e in elements])
    total = dataset.n_atoms[idx]
    k = comp[:, 0] / composition[elements[0]]
    ok = (k > 0) & (comp.sum(axis=1) == total)
    for e, element in enumerate(elements):
        ok &= np.isclose(comp[:, e], k * composition[element])
    return idx[ok]


def _default_composition() -> dict[str, int]:
    from ..system import default_system

    composition = default_system().task2_composition
    if not composition:
        raise LipsDataError("the shipped default pack gives no system.task2.composition; reinstall pytest-lips")
    return composition


def run_dataset(
    model: Any,
    dataset: LipsDataset,
    protocol: Task2Protocol,
    model_label: str = "",
    composition: Mapping[str, int] | None = None,
) -> Metric:
    """``task2.dataset.force_rmse``: force errors on the data set's structures of ``composition`` (the pack's
    ``system.task2.composition``; default: the shipped default pack's), by label (reported)."""
    composition = dict(composition or _default_composition())
    formula = "".join(f"{el}{n if n != 1 else ''}" for el, n in composition.items())
    idx = composition_indices(dataset, composition, protocol.dataset_split)
    if protocol.dataset_max_structures is not None and len(idx) > protocol.dataset_max_structures:
        rng = np.random.default_rng(0)
        idx = np.sort(rng.choice(idx, size=protocol.dataset_max_structures, replace=False))
    if len(idx) == 0:
        return Metric(
            key=f"{TASK}.dataset.force_rmse",
            value=float("nan"),
            unit="eV/Å",
            model=model_label,
            task=TASK,
            n=0,
            gated=False,
            note=f"no {formula}-composition structures in the {protocol.dataset_split} split",
        )
    pred = evaluate(model, list(dataset.iter_atoms(idx)), False, protocol.batch_size, protocol.max_atoms_per_batch)
    ref_f = np.concatenate([dataset.forces[dataset.atom_slice(int(i))] for i in idx])
    err = force_component_errors(pred.forces, ref_f)
    labels = np.repeat(np.repeat(dataset.labels[idx], dataset.n_atoms[idx]), 3)
    by_label = {
        str(lab): {
            "n_structures": int(np.sum(dataset.labels[idx] == lab)),
            **ErrorSummary.of(err[labels == lab]).to_dict(),
        }
        for lab in np.unique(dataset.labels[idx])
    }
    return Metric(
        key=f"{TASK}.dataset.force_rmse",
        value=rmse(err),
        unit="eV/Å",
        model=model_label,
        task=TASK,
        n=len(idx),
        gated=False,
        note=f"force components on {len(idx)} {formula}-composition structures of the data set's "
        f"{protocol.dataset_split} split; reported, not gated",
        details={"by_label": by_label, "data_source": dataset.source},
    )


def cache_key(model_key: str, pack_key: str, protocol: Task2Protocol, energy_offset: str) -> str:
    return f"task2/{model_key}/{pack_key}/frames{protocol.max_frames}/offset-{energy_offset}"
