"""Task 1: formation energies of the pack's crystals relative to its end members (LiPS-25: the Li2S–P2S5 line).

Two protocols, both against the pack's DFT formation energies (DFT energies of the DFT-relaxed
crystals and of the DFT end members ``system.end_members``, by composition balance, which on the
LiPS pack is the paper's eq. 1; :mod:`pytest_lips.analysis.formation`):

* ``relaxed``: every crystal, the two end members included, is relaxed with the model (positions
  and cell: ``ase.filters.FrechetCellFilter`` driven by ``ase.optimize.FIRE`` (or BFGS) until
  max |F| (and |stress|·V for the cell degrees of freedom) < ``fmax_eV_A`` or ``max_steps``);
  E_f uses the model's relaxed energies of the crystal and the end members.  Convergence, steps and
  initial/final volume are recorded.
* ``single_point``: model energies on the DFT-relaxed structures (end members too).

RMSE(E_f) in meV/atom over the non-extrapolation crystals that ran (end members excluded: their E_f
is 0 by construction); the extrapolation set (``extrapolation: true`` in the manifest, e.g.
Li4P2S7, α-Li3PS4, HT-Li7PS6) is reported apart.  Per-element energy offsets cancel in E_f, so
zero-shot models need no offset here.

Profile section ``task1:``::

    task1:
      optimizer: FIRE             # FIRE | BFGS
      fmax_eV_A: 0.01             # convergence on forces (and cell stress x volume)
      max_steps: 500
      cell_filter: FrechetCellFilter   # FrechetCellFilter | none (positions only)
      relax_start: dft_relaxed    # dft_relaxed | initial (first frame of relaxation_file)
      structures: null            # restrict to these names (null: all in the pack)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..analysis.errors import rmse
from ..analysis.formation import (
    composition_balance,
    composition_counts,
    end_member_energies_per_fu,
    formation_energy_per_atom,
)
from ..errors import LipsDataError, LipsSimulationError, LipsUsageError
from ..evaluation import calculator_factory
from ..identity import key_digest
from ..profiles import protocol_from_section
from ..reference import ReferencePack, Task1Entry
from ..results import Metric, format_number

TASK = "task1"
MODES = ("relaxed", "single_point")


@dataclass(frozen=True)
class Task1Protocol:
    """Relaxation settings of Task 1 (see module docstring)."""

    optimizer: str = "FIRE"
    fmax_eV_A: float = 0.01
    max_steps: int = 500
    cell_filter: str = "FrechetCellFilter"
    relax_start: str = "dft_relaxed"
    structures: tuple[str, ...] | None = None

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> Task1Protocol:
        proto = protocol_from_section(cls, section, "task1", {"structures": lambda names: tuple(str(n) for n in names)})
        if proto.optimizer not in ("FIRE", "BFGS"):
            raise LipsUsageError(f"profile section task1: optimizer must be FIRE or BFGS, not {proto.optimizer!r}")
        if proto.cell_filter not in ("FrechetCellFilter", "none"):
            raise LipsUsageError(
                f"profile section task1: cell_filter must be FrechetCellFilter or none, not {proto.cell_filter!r}"
            )
        if proto.relax_start not in ("dft_relaxed", "initial"):
            raise LipsUsageError(
                f"profile section task1: relax_start must be dft_relaxed or initial, not {proto.relax_start!r}"
            )
        proto.validate()
        return proto

    def validate(self) -> None:
        """Ranges (types, finiteness and signs are checked by :func:`pytest_lips.profiles.check_value`)."""
        if not (self.fmax_eV_A > 0 and self.max_steps >= 0):
            raise LipsUsageError("profile section task1: fmax_eV_A must be > 0 and max_steps >= 0")
        if self.structures is not None and not self.structures:
            raise LipsUsageError("profile section task1: structures is an empty list; use null for every structure")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["structures"] = None if self.structures is None else list(self.structures)
        return d

    def digest(self) -> str:
        """Short hash of the relaxation settings (part of the RunStore key)."""
        relevant = {k: v for k, v in self.to_dict().items() if k != "structures"}
        return key_digest(relevant, chars=12)


def selected_entries(pack: ReferencePack, protocol: Task1Protocol) -> list[Task1Entry]:
    """Pack entries this protocol covers (all, or ``structures`` plus the end members)."""
    entries = pack.task1_entries()
    if protocol.structures is None:
        return entries
    wanted = set(protocol.structures) | set(pack.end_members.values())
    unknown = set(protocol.structures) - {e.name for e in entries}
    if unknown:
        raise LipsUsageError(f"profile section task1: structures {sorted(unknown)} are not in pack {pack.key}")
    return [e for e in entries if e.name in wanted]


def cache_key(model_key: str, pack: ReferencePack, protocol: Task1Protocol, name: str, mode: str) -> str:
    """RunStore key of one structure and protocol (single points do not depend on the relaxation settings)."""
    settings = protocol.digest() if mode == "relaxed" else "sp"
    return f"task1/{model_key}/{pack.key}/{mode}-{settings}/{name}"


# ------------------------------------------------------------------------------------------------
# One unit of work
# ------------------------------------------------------------------------------------------------
def _clean(atoms: Any) -> Any:
    from ase import Atoms

    return Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)


def single_point(atoms: Any, calculator: Any) -> dict[str, Any]:
    """Model energy (eV) and max force (eV/Å) at the given geometry, as a JSON dict."""
    start = time.perf_counter()
    work = _clean(atoms)
    work.calc = calculator
    energy = float(work.get_potential_energy())
    forces = work.get_forces()
    if not math.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise LipsSimulationError(f"non-finite energy/forces for {work.get_chemical_formula()} in a single point")
    return {
        "energy_eV": energy,
        "n_atoms": len(work),
        "counts": composition_counts(work.numbers),
        "fmax_eV_A": float(np.linalg.norm(forces, axis=1).max()),
        "volume_A3": float(work.get_volume()) if work.cell.rank == 3 else None,
        "wall_s": time.perf_counter() - start,
    }


def _single_threaded_blas() -> Any:
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except ImportError:  # pragma: no cover
        import contextlib

        return contextlib.nullcontext()


def relax(atoms: Any, calculator: Any, protocol: Task1Protocol) -> dict[str, Any]:
    """Relax positions (and cell) with the model; energy (eV), convergence, steps, volumes (Å^3)."""
    from ase.optimize import BFGS, FIRE

    start = time.perf_counter()
    work = _clean(atoms)
    work.calc = calculator
    volume0 = float(work.get_volume()) if work.cell.rank == 3 else None
    target: Any = work
    if protocol.cell_filter == "FrechetCellFilter" and work.cell.rank == 3 and work.pbc.all():
        from ase.filters import FrechetCellFilter

        target = FrechetCellFilter(work)
    optimizer = {"FIRE": FIRE, "BFGS": BFGS}[protocol.optimizer](target, logfile=None)
    try:
        with _single_threaded_blas():  # 3x3 expm/logm of the cell filter: threads only add overhead
            converged = bool(optimizer.run(fmax=protocol.fmax_eV_A, steps=protocol.max_steps))
    except Exception as exc:
        raise LipsSimulationError(
            f"relaxation of {work.get_chemical_formula()} failed: {type(exc).__name__}: {exc}"
        ) from exc
    energy = float(work.get_potential_energy())
    forces = work.get_forces()
    if not math.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise LipsSimulationError(f"relaxation of {work.get_chemical_formula()} ended with non-finite energy/forces")
    return {
        "energy_eV": energy,
        "n_atoms": len(work),
        "counts": composition_counts(work.numbers),
        "converged": converged,
        "steps": int(optimizer.get_number_of_steps()),
        "fmax_eV_A": float(np.linalg.norm(forces, axis=1).max()),
        "volume_initial_A3": volume0,
        "volume_A3": float(work.get_volume()) if work.cell.rank == 3 else None,
        "optimizer": protocol.optimizer,
        "cell_filter": protocol.cell_filter,
        "wall_s": time.perf_counter() - start,
    }


def run_structure(
    entry: Task1Entry, model: Any, protocol: Task1Protocol, mode: str, calculator: Any | None = None
) -> dict[str, Any]:
    """Run one structure in one mode (``relaxed`` | ``single_point``) with a fresh calculator."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    from ..quiet import quiet_library_warnings

    calc = calculator if calculator is not None else calculator_factory(model, stress=(mode == "relaxed"))()
    with quiet_library_warnings():  # scipy logm of the cell filter, ASE's ndarray.shape under NumPy 2.5
        if mode == "single_point":
            return {"name": entry.name, "mode": mode, **single_point(entry.atoms(), calc)}
        start = entry.relaxation_start() if protocol.relax_start == "initial" else entry.atoms()
        return {"name": entry.name, "mode": mode, **relax(start, calc, protocol)}


def run_all(
    pack: ReferencePack,
    model: Any,
    protocol: Task1Protocol,
    get_or_compute: Callable[[str, Callable[[], dict]], dict] | None = None,
    model_key: str = "model",
    modes: Sequence[str] = MODES,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Results ``{name: {mode: result}}`` of every available selected structure (via ``get_or_compute``)."""
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in selected_entries(pack, protocol):
        if not entry.available:
            continue
        results[entry.name] = {}
        for mode in modes:

            def compute(entry: Task1Entry = entry, mode: str = mode) -> dict[str, Any]:
                return run_structure(entry, model, protocol, mode)

            if get_or_compute is None:
                results[entry.name][mode] = compute()
            else:
                results[entry.name][mode] = get_or_compute(
                    cache_key(model_key, pack, protocol, entry.name, mode), compute
                )
    return results


# ------------------------------------------------------------------------------------------------
# Analysis
# ------------------------------------------------------------------------------------------------
def reference_energies(
    entries: Sequence[Task1Entry], end_member_counts: Mapping[str, Mapping[str, int]] | None = None
) -> dict[str, dict[str, Any]]:
    """DFT energy (eV) and composition of each available entry; checks that the end members balance it."""
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not entry.available:
            continue
        atoms = entry.atoms()
        energy = atoms.calc.results.get("energy") if atoms.calc is not None else atoms.info.get("energy")
        if energy is None:
            raise LipsDataError(f"{entry.path}: task1 structure {entry.name} has no DFT energy (info 'energy', eV)")
        counts = composition_counts(atoms.numbers)
        if end_member_counts is not None:
            try:
                composition_balance(counts, end_member_counts, f"task1 structure {entry.name}")
            except ValueError as exc:
                raise LipsDataError(f"{entry.path}: {exc}; fix the pack's system.end_members") from None
        out[entry.name] = {"energy_eV": float(energy), "counts": counts, "n_atoms": len(atoms)}
    return out


def formation_energies(
    results: Mapping[str, Mapping[str, Any]],
    end_members: Mapping[str, str],
    end_member_counts: Mapping[str, Mapping[str, int]],
    mode: str | None = None,
) -> dict[str, float]:
    """E_f (eV/atom) of every structure in ``results`` (``{name: {energy_eV, counts}}`` or nested by mode).

    ``end_members`` maps each end-member formula to its structure name, ``end_member_counts`` the formula
    to its atoms per formula unit (:meth:`pytest_lips.system.PackSystem.end_member_counts`).
    """

    def flat(name: str) -> Mapping[str, Any]:
        r = results[name]
        return r[mode] if mode is not None else r

    e_fu = end_member_energies_per_fu({f: flat(n) for f, n in end_members.items()}, end_member_counts)
    return {
        name: formation_energy_per_atom(flat(name)["energy_eV"], flat(name)["counts"], e_fu, end_member_counts, name)
        for name in results
        if (mode is None or mode in results[name])
    }


def unconverged_relaxations(
    ran: Mapping[str, Mapping[str, Mapping[str, Any]]], mode: str, names: list[str], end_members: Mapping[str, str]
) -> list[str]:
    """Crystals of a metric (``names`` and the end members it is referenced to) whose ``mode`` result is a
    relaxation that did not converge (``converged: false``), end members marked, in name order."""
    out = []
    ends = set(end_members.values())
    for name in sorted(set(names) | ends):
        result = (ran.get(name) or {}).get(mode) or {}
        if result.get("converged") is False:
            out.append(f"{name} (end member)" if name in ends else name)
    return out


def analyse(
    pack: ReferencePack,
    results: Mapping[str, Mapping[str, Mapping[str, Any]]],
    protocol: Task1Protocol,
    model: str = "",
) -> list[Metric]:
    """Metrics ``task1.ef_rmse_{relaxed,single_point}`` and the extrapolation ones (meV/atom)."""
    entries = selected_entries(pack, protocol)
    em_counts = pack.system.end_member_counts()
    ref = reference_energies(entries, em_counts)
    by_name = {e.name: e for e in entries}
    not_run = {e.name: f"{e.status}: {e.reason}".rstrip(": ") for e in entries if not e.available}
    # available but qualified by the pack, e.g. "provisional: the PBEsol relaxation is still running ..."
    caveats = {e.name: e.reason for e in entries if e.available and e.reason}
    metrics: list[Metric] = []
    end_names = set(pack.end_members.values())
    missing_end = [w for w, n in pack.end_members.items() if n not in ref]
    ef_ref = formation_energies(ref, pack.end_members, em_counts) if not missing_end else {}
    for mode in MODES:
        ran = {n: r for n, r in results.items() if mode in r and n in by_name}
        ef_model: dict[str, float] = {}
        problem = ""
        if missing_end:
            problem = f"end member(s) {missing_end} not available in the pack (missing or pending)"
        elif any(n not in ran for n in pack.end_members.values()):
            problem = "the model results for an end member are missing"
        else:
            ef_model = formation_energies(ran, pack.end_members, em_counts, mode)
        per_structure = {}
        for name, entry in by_name.items():
            if name in end_names or name not in ef_model or name not in ef_ref:
                continue
            r = ran[name][mode]
            per_structure[name] = {
                "extrapolation": entry.extrapolation,
                **entry.properties,  # e.g. the LiPS pack's Li2S fraction
                "ef_dft_meV_atom": 1000.0 * ef_ref[name],
                "ef_model_meV_atom": 1000.0 * ef_model[name],
                "error_meV_atom": 1000.0 * (ef_model[name] - ef_ref[name]),
                **{k: r[k] for k in ("converged", "steps", "fmax_eV_A", "volume_initial_A3", "volume_A3") if k in r},
            }
        end_member_info = {
            w: {k: ran[n][mode].get(k) for k in ("energy_eV", "converged", "steps", "volume_A3")}
            for w, n in pack.end_members.items()
            if n in ran
        }
        for subset, key in ((False, f"ef_rmse_{mode}"), (True, f"ef_rmse_extrapolation_{mode}")):
            errors = [v["error_meV_atom"] for v in per_structure.values() if v["extrapolation"] == subset]
            names = [n for n, v in per_structure.items() if v["extrapolation"] == subset]
            expected = [n for n, e in by_name.items() if e.extrapolation == subset and n not in end_names]
            skipped = {n: not_run.get(n, "not run") for n in expected if n not in names}
            what = "extrapolation crystals" if subset else "crystals"
            if problem or not errors:
                note = problem or f"no {what} ran"
                if not problem and skipped:
                    note += (
                        " ("
                        + "; ".join(f"{n}: {by_name[n].status if n in not_run else 'not run'}" for n in sorted(skipped))
                        + ")"
                    )
                value = float("nan")
            else:
                value = rmse(np.array(errors))
                note = (
                    f"RMSE of E_f over {len(errors)} {what} ({mode.replace('_', ' ')}; end members "
                    f"{'relaxed with the model' if mode == 'relaxed' else 'as single points'})"
                )
                if skipped:
                    note += f"; not run: {', '.join(sorted(skipped))}"
                if subset:
                    note += "; extrapolation set, reported apart"
                unconverged = unconverged_relaxations(ran, mode, names, pack.end_members)
                if unconverged:  # E_f from the last step of a relaxation that did not reach fmax
                    note += (
                        f"; relaxation NOT CONVERGED within {protocol.max_steps} steps (fmax "
                        f"{format_number(protocol.fmax_eV_A)} eV/Å) for {', '.join(unconverged)}: E_f from its last "
                        "step (raise task1.max_steps in the profile)"
                    )
                used = sorted(set(caveats) & (set(names) | set(pack.end_members.values())))
                if used:
                    note += "; reference caveats: " + ", ".join(f"{n} ({caveats[n].split(':')[0]})" for n in used)
            metrics.append(
                Metric(
                    key=f"{TASK}.{key}",
                    value=value,
                    unit="meV/atom",
                    model=model,
                    task=TASK,
                    n=len(errors),
                    gated=(not subset) and bool(errors) and not problem,
                    note=note,
                    details={
                        "mode": mode,
                        # every crystal that ran (both sets, flagged), so the parity plot shows the whole picture;
                        # the metric's value is over `names` only
                        "structures": [
                            {"name": n, "in_metric": n in names, **per_structure[n]} for n in sorted(per_structure)
                        ],
                        "not_run": skipped,
                        "unconverged": unconverged_relaxations(ran, mode, names, pack.end_members),
                        "reference_caveats": caveats,
                        "end_members": end_member_info,
                        "protocol": protocol.to_dict(),
                        "pack": pack.key,
                    },
                )
            )
    return metrics
