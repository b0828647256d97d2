"""Numerical errors on the LiPS-25 test split (energy per atom, force components, stress).

Protocol section ``test_split:`` of a profile (all optional)::

    test_split:
      split: test                   # which split to evaluate
      max_structures: 300           # cap (null = the whole split); seeded subsample, stratified by nothing
      subsample_seed: 0             # seed of that subsample (numpy default_rng)
      energy_offset: none           # none | auto (per-element offsets fitted on the train split)
      offset_fit_max_structures: 500  # train structures used to fit the offsets (null = all)
      batch_size: 32                # structures per graph-pes batch
      max_atoms_per_batch: 4000

``--lips-energy-offset auto|none`` overrides ``energy_offset``.

Metrics (keys as in ARCHITECTURE.md): ``test_split.energy_rmse`` / ``energy_mae`` [meV/atom],
``test_split.force_rmse`` / ``force_mae`` [eV/Å], ``test_split.stress_rmse`` [GPa] (only over
structures with a reference virial), and per category ``test_split.<category>.energy_rmse`` /
``force_rmse`` (reported, not gated).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, cast

import numpy as np

from ..analysis.errors import (
    EV_TO_MEV,
    ErrorSummary,
    energy_per_atom_errors,
    force_component_errors,
    per_atom_groups,
    stress_component_errors_GPa,
    summarise_by_group,
)
from ..analysis.offsets import ElementOffsets, check_offset_mode, fit_element_offsets
from ..data import DataSetSpec, LipsDataset, default_data_set
from ..errors import LipsUsageError
from ..evaluation import Predictions, evaluate, model_name
from ..profiles import protocol_from_section
from ..results import Metric

TASK = "test_split"
#: Metrics of this task that have a default threshold.
GATED_KEYS = ("energy_rmse", "force_rmse", "energy_mae", "force_mae", "stress_rmse")
CATEGORY_METRICS = ("energy_rmse", "force_rmse")


@dataclass(frozen=True)
class TestSplitProtocol:
    """Settings of the test-split evaluation (see module docstring)."""

    __test__ = False  # not a pytest test class

    split: str = "test"
    max_structures: int | None = None
    subsample_seed: int = 0
    energy_offset: str = "none"
    offset_fit_max_structures: int | None = 500
    batch_size: int = 32
    max_atoms_per_batch: int = 4000

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> TestSplitProtocol:
        proto = protocol_from_section(cls, section, "test_split")
        try:
            check_offset_mode(proto.energy_offset)
        except ValueError as exc:
            raise LipsUsageError(f"profile section test_split: {exc}") from None
        if proto.split not in ("train", "val", "test"):
            raise LipsUsageError(f"profile section test_split: split must be train, val or test, not {proto.split!r}")
        proto.validate()
        return proto

    def validate(self) -> None:
        """Ranges (types, finiteness and signs are checked by :func:`pytest_lips.profiles.check_value`)."""
        problems = []
        for name in ("max_structures", "offset_fit_max_structures"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                problems.append(f"{name} must be >= 1 (or null for all structures)")
        if self.batch_size < 1 or self.max_atoms_per_batch < 1:
            problems.append("batch_size and max_atoms_per_batch must be >= 1")
        if problems:
            raise LipsUsageError("profile section test_split: " + "; ".join(problems))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def select_structures(dataset: LipsDataset, protocol: TestSplitProtocol) -> np.ndarray:
    """Sorted indices evaluated: the split, or a seeded subsample of ``max_structures`` of it."""
    idx = dataset.split_indices(protocol.split)
    return _subsample(idx, protocol.max_structures, protocol.subsample_seed)


def _subsample(idx: np.ndarray, cap: int | None, seed: int) -> np.ndarray:
    if cap is None or cap >= len(idx):
        return np.sort(idx)
    rng = np.random.default_rng(int(seed))
    return np.sort(rng.choice(idx, size=int(cap), replace=False))


@dataclass
class TestSplitResult:
    """Arrays of one evaluation (eV, eV/Å, eV/Å^3) plus the offsets used."""

    __test__ = False

    indices: np.ndarray
    n_split: int
    n_atoms: np.ndarray
    categories: np.ndarray
    ref_energies: np.ndarray
    pred_energies: np.ndarray
    ref_forces: np.ndarray
    pred_forces: np.ndarray
    ref_stresses: np.ndarray | None
    pred_stresses: np.ndarray | None
    offsets: ElementOffsets = field(default_factory=ElementOffsets)
    energy_offset: str = "none"
    wall_s: float = 0.0
    protocol: dict[str, Any] = field(default_factory=dict)
    #: The data set's facts (category order and titles); None: the shipped pack's.
    data_set: DataSetSpec | None = None


def fit_offsets_on_train(model: Any, dataset: LipsDataset, protocol: TestSplitProtocol) -> ElementOffsets:
    """Per-element offsets from the train split (capped by ``offset_fit_max_structures``, seeded)."""
    idx = _subsample(dataset.train_indices, protocol.offset_fit_max_structures, protocol.subsample_seed + 1)
    if len(idx) == 0:
        return ElementOffsets()
    pred = evaluate(model, list(dataset.iter_atoms(idx)), False, protocol.batch_size, protocol.max_atoms_per_batch)
    comp, elements = dataset.composition_matrix(idx)
    return fit_element_offsets(dataset.energies[idx], pred.energies, comp, elements)


def run(
    model: Any, dataset: LipsDataset, protocol: TestSplitProtocol, energy_offset: str | None = None
) -> TestSplitResult:
    """Evaluate ``model`` on the selected structures; ``energy_offset`` overrides the protocol's."""
    start = time.perf_counter()
    mode = check_offset_mode(energy_offset if energy_offset is not None else protocol.energy_offset)
    idx = select_structures(dataset, protocol)
    has_virial = np.array([dataset.has_virial(int(i)) for i in idx], dtype=bool)
    pred: Predictions = evaluate(
        model, list(dataset.iter_atoms(idx)), bool(has_virial.any()), protocol.batch_size, protocol.max_atoms_per_batch
    )
    offsets = fit_offsets_on_train(model, dataset, protocol) if mode == "auto" else ElementOffsets()
    pred_e = pred.energies
    if mode == "auto":
        comp, elements = dataset.composition_matrix(idx)
        pred_e = offsets.apply(pred_e, comp, elements)
    ref_f = np.concatenate([dataset.forces[dataset.atom_slice(int(i))] for i in idx]) if len(idx) else np.zeros((0, 3))
    ref_s = pred_s = None
    if has_virial.any() and pred.stresses is not None:
        # stress() is None only without a virial (excluded by has_virial) or for a zero-volume cell
        ref_s = np.stack([cast(np.ndarray, dataset.stress(int(i))) for i in idx[has_virial]])
        pred_s = pred.stresses[has_virial]
        keep = np.all(np.isfinite(pred_s), axis=(1, 2))
        ref_s, pred_s = ref_s[keep], pred_s[keep]
    return TestSplitResult(
        indices=idx,
        n_split=int(len(dataset.split_indices(protocol.split))),
        n_atoms=dataset.n_atoms[idx],
        categories=dataset.categories[idx],
        ref_energies=dataset.energies[idx],
        pred_energies=pred_e,
        ref_forces=ref_f,
        pred_forces=pred.forces,
        ref_stresses=ref_s,
        pred_stresses=pred_s,
        offsets=offsets,
        energy_offset=mode,
        wall_s=time.perf_counter() - start,
        protocol=protocol.to_dict(),
        data_set=dataset.data_set,
    )


def analyse(result: TestSplitResult, model: str = "") -> list[Metric]:
    """Metrics of one evaluation (units meV/atom, eV/Å, GPa)."""
    n = len(result.indices)
    spec = result.data_set if result.data_set is not None else default_data_set()
    subsample = (
        f"seeded subsample of {n} of the {result.n_split} {result.protocol.get('split', 'test')} structures "
        f"(max_structures={result.protocol.get('max_structures')}, seed={result.protocol.get('subsample_seed')})"
        if n < result.n_split
        else f"all {n} {result.protocol.get('split', 'test')} structures"
    )
    offset_note = (
        f"; per-element energy offsets fitted on {result.offsets.n_structures} train structures"
        if result.energy_offset == "auto"
        else ""
    )
    note = subsample + offset_note
    e_err = energy_per_atom_errors(result.pred_energies, result.ref_energies, result.n_atoms) * EV_TO_MEV
    f_err = force_component_errors(result.pred_forces, result.ref_forces)
    e_sum, f_sum = ErrorSummary.of(e_err), ErrorSummary.of(f_err)
    e_by_cat = summarise_by_group(e_err, result.categories)
    f_by_cat = summarise_by_group(f_err, per_atom_groups(result.categories, result.n_atoms))
    per_category = {
        c: {
            "n_structures": e_by_cat[c].n,
            "energy_rmse_meV_atom": e_by_cat[c].rmse,
            "energy_mae_meV_atom": e_by_cat[c].mae,
            "force_rmse_eV_A": f_by_cat[c].rmse,
            "force_mae_eV_A": f_by_cat[c].mae,
        }
        for c in spec.categories
        if c in e_by_cat
    }
    common = {
        "n_structures": n,
        "n_atoms": int(np.sum(result.n_atoms)),
        "energy_offset": result.energy_offset,
        "offsets": result.offsets.to_dict() if result.energy_offset == "auto" else None,
        "per_category": per_category,
        "protocol": result.protocol,
        "wall_s": result.wall_s,
    }

    def metric(
        key: str,
        value: float,
        unit: str,
        count: int,
        gated: bool = True,
        extra_note: str = "",
        details: dict[str, Any] | None = None,
    ) -> Metric:
        return Metric(
            key=f"{TASK}.{key}",
            value=float(value),
            unit=unit,
            model=model,
            task=TASK,
            n=count,
            gated=gated and count > 0,
            note=(note + extra_note) if count > 0 else "no structures evaluated",
            details=details if details is not None else common,
        )

    metrics = [
        metric("energy_rmse", e_sum.rmse, "meV/atom", e_sum.n),
        metric("energy_mae", e_sum.mae, "meV/atom", e_sum.n),
        metric("force_rmse", f_sum.rmse, "eV/Å", n, details={**common, "n_components": f_sum.n}),
        metric("force_mae", f_sum.mae, "eV/Å", n, details={**common, "n_components": f_sum.n}),
    ]
    if result.ref_stresses is not None and len(result.ref_stresses):
        s_sum = ErrorSummary.of(stress_component_errors_GPa(result.pred_stresses, result.ref_stresses))
        metrics.append(
            metric(
                "stress_rmse",
                s_sum.rmse,
                "GPa",
                len(result.ref_stresses),
                extra_note=f"; stress over the {len(result.ref_stresses)} structures with a reference virial",
            )
        )
    else:
        metrics.append(
            Metric(
                key=f"{TASK}.stress_rmse",
                value=float("nan"),
                unit="GPa",
                model=model,
                task=TASK,
                n=0,
                gated=False,
                note="no reference stresses (virials) in the evaluated structures",
            )
        )
    for c in spec.categories:
        if c not in e_by_cat:
            continue
        cat_note = f"{spec.title(c)} structures only; reported, not gated ({note})"
        for suffix, summary, unit in (("energy_rmse", e_by_cat[c], "meV/atom"), ("force_rmse", f_by_cat[c], "eV/Å")):
            metrics.append(
                Metric(
                    key=f"{TASK}.{c}.{suffix}",
                    value=summary.rmse,
                    unit=unit,
                    model=model,
                    task=TASK,
                    n=e_by_cat[c].n,  # structures of the category (for both metrics)
                    gated=False,
                    note=cat_note,
                    details=per_category[c],
                )
            )
    return metrics


def run_and_analyse(
    model: Any, dataset: LipsDataset, protocol: TestSplitProtocol, energy_offset: str | None = None
) -> list[Metric]:
    return analyse(run(model, dataset, protocol, energy_offset), model_name(model))


def cache_key(model_key: str, dataset: LipsDataset, protocol: TestSplitProtocol, energy_offset: str) -> str:
    """RunStore key of one evaluation."""
    p = protocol
    return (
        f"test_split/{model_key}/{dataset.sha256[:16]}/{dataset.split_source}/{p.split}/"
        f"max{p.max_structures}-seed{p.subsample_seed}/offset-{energy_offset}-{p.offset_fit_max_structures}"
    )
