"""Task 4: robustness of NPT MD started from random hard-sphere cells (LiPS-25 Task 4).

Protocol (``paper`` profile): for each repeat, a seeded random hard-sphere cell of 1008 atoms with
composition of the pack's ``system.task4`` (LiPS pack: Li7P3S11, Li336 P144 S528) at its density
(:func:`pytest_lips.tasks.structures.random_hard_sphere_cell`) is relaxed with the model in its fixed
cell (ASE FIRE, ``relax_fmax_eV_A`` = 0.1 eV/Å, at most ``relax_max_steps`` = 300 steps: the relaxed
structure is only a less violent start, so convergence is not required). From it, NPT MD
(:class:`ase.md.nose_hoover_chain.IsotropicMTKNPT`, Nosé–Hoover chain thermostat + MTK barostat,
damping 100 fs / 1000 fs, 1 fs time step) runs for 100 ps at every point of a temperature × pressure
grid: temperatures 1000, 2000, 4000, 8000, 16000 K and pressures 1e6, 1e8, 1e10, 1e12 Pa (a grid
spanning the paper's 1000–16000 K and 1e6–1e12 Pa ranges; the grid spacing is a choice of
pytest-lips), 3 repeats per point (different random cells and velocities).

Early stop (:mod:`pytest_lips.md.checks`): NaN/inf energies, forces or positions; a pair closer than
``pair_floor_A`` (0.5 Å: fused atoms); the volume changing by more than ``volume_factor`` (3×) from
the start. A run "survives" when it reaches the end.

Close contacts: one frame every ``sample_interval_fs`` (1 ps in the paper; shorter in the scaled
profiles) — and the final frame of a run that stopped early — has its shortest interatomic
distance (periodic minimum image, :func:`pytest_lips.analysis.minimum_pair_distance_A`) stored; a
frame has a close contact when that distance is at or below ``task4.close_contact_distance_A``
(1 Å, from the thresholds). Storing the distance rather than a flag means changing the threshold
does not invalidate finished runs. A run that stopped early is not judged on the frames it had
before it stopped: every scheduled frame it never reached (and any frame whose geometry was no
longer finite) counts as a close-contact frame, so a blow-up at step 6 gives a fraction near 1
(FAILED inside the gated domain), never a 0 measured over one frame.

Gating: grid points with ``T ≤ task4.gate_T_max_K`` and ``p ≤ task4.gate_p_max_Pa`` (settings in
the thresholds) form the gated domain. ``task4.survival_fraction`` = completed runs / runs in the
domain; ``task4.close_contact_fraction`` = the largest per-grid-point fraction of frames with a
close contact in the domain. Points outside the domain are reported in ``details`` only. A profile
whose production is shorter than ``gate_min_production_ps`` (default 1 ps; the ``smoke`` profile)
reports both metrics with ``gated=False``, as does a profile with no grid point in the domain.

Per-run test items (suite): a run that stops early is a property of the model, not a harness error;
the item FAILS only when the point is inside the gated domain and the profile supports a verdict
(see :func:`run_item_verdict`); otherwise it passes with the stop recorded in the run record.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
from ase import Atoms

from ..analysis import minimum_pair_distance_A
from ..errors import LipsUsageError
from ..md import (
    AseEngine,
    MDJob,
    MDTrajectory,
    ModelCallError,
    NonFiniteModelOutput,
    NPTSettings,
    TimedCalculator,
)
from ..profiles import float_tuple, protocol_from_section
from ..results import Metric, RunRecord
from .structures import random_hard_sphere_cell, stoichiometric_counts
from .task3_conductivity import run_seed

__all__ = [
    "PROTOCOL_VERSION",
    "TASK",
    "GateDomain",
    "Task4Protocol",
    "Task4Run",
    "analyse",
    "build_jobs",
    "for_system",
    "in_gated_domain",
    "plan_runs",
    "prepare_start",
    "reduce_run",
    "run_item_verdict",
    "run_one",
    "unreached_frames",
]

TASK = "task4"
#: Bump when the meaning of a stored start structure or run result changes (part of the store key).
PROTOCOL_VERSION = "task4-1"


@dataclass(frozen=True)
class Task4Protocol:
    """The ``task4:`` section of a profile (units in the field names).

    Attributes
    ----------
    n_atoms:
        Atoms in the random cell; :func:`for_system` rounds it to whole formula units of the pack's
        ``system.task4.composition`` (LiPS pack: Li7P3S11, 21 atoms).
    density_g_cm3, covalent_ratio:
        Random hard-sphere cell density (``null``: the pack's ``system.task4.density_g_cm3``) and minimum
        separations (see :mod:`.structures`).
    relax_fmax_eV_A, relax_max_steps:
        Fixed-cell FIRE relaxation of the random cell with the model.
    temperatures_K, pressures_Pa:
        The grid.
    repeats:
        Independent runs per grid point (each repeat index has its own random cell).
    timestep_fs, production_ps, sample_interval_fs:
        NPT time step, run length, and interval of close-contact frames.
    barostat, tdamp_fs, pdamp_fs:
        NPT settings (``isotropic_mtk`` | ``mtk``) and damping times, fs.
    pair_floor_A, volume_factor:
        Early-stop floors (fused pair, volume change factor).
    gate_min_production_ps:
        Shorter runs are reported, not gated.
    """

    n_atoms: int = 1008
    density_g_cm3: float | None = None
    covalent_ratio: float = 0.7
    relax_fmax_eV_A: float = 0.1
    relax_max_steps: int = 300
    temperatures_K: tuple[float, ...] = (1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
    pressures_Pa: tuple[float, ...] = (1e6, 1e8, 1e10, 1e12)
    repeats: int = 3
    timestep_fs: float = 1.0
    production_ps: float = 100.0
    sample_interval_fs: float = 1000.0
    barostat: str = "isotropic_mtk"
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    pair_floor_A: float = 0.5
    volume_factor: float = 3.0
    gate_min_production_ps: float = 1.0

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> Task4Protocol:
        """Parse a profile's ``task4:`` section (missing keys take the paper defaults above)."""
        proto = protocol_from_section(
            cls, section, "task4", {"temperatures_K": float_tuple, "pressures_Pa": float_tuple}
        )
        proto.validate()
        return proto

    def validate(self) -> None:
        problems = []
        if self.n_atoms < 1:
            problems.append("n_atoms must be >= 1")
        if not self.temperatures_K or min(self.temperatures_K) <= 0:
            problems.append("temperatures_K needs positive temperatures")
        if not self.pressures_Pa or min(self.pressures_Pa) <= 0:
            problems.append("pressures_Pa needs at least one pressure, all > 0")
        if (
            (self.density_g_cm3 is not None and self.density_g_cm3 <= 0)
            or self.covalent_ratio <= 0
            or (self.relax_fmax_eV_A <= 0)
        ):
            problems.append("need density_g_cm3 > 0, covalent_ratio > 0 and relax_fmax_eV_A > 0")
        if self.tdamp_fs <= 0 or self.pdamp_fs <= 0:
            problems.append("need tdamp_fs > 0 and pdamp_fs > 0")
        if self.repeats < 1:
            problems.append("repeats must be >= 1")
        if not (self.timestep_fs > 0 and self.production_ps > 0 and self.sample_interval_fs >= self.timestep_fs):
            problems.append("need timestep_fs > 0, production_ps > 0 and sample_interval_fs >= timestep_fs")
        if self.volume_factor <= 1 or self.pair_floor_A <= 0:
            problems.append("need volume_factor > 1 and pair_floor_A > 0")
        if problems:
            raise LipsUsageError("profile section task4: " + "; ".join(problems))

    @property
    def sample_interval_steps(self) -> int:
        return max(1, round(self.sample_interval_fs / self.timestep_fs))

    @property
    def production_steps(self) -> int:
        return max(1, round(self.production_ps * 1000.0 / self.timestep_fs))

    @property
    def ensemble(self) -> NPTSettings:
        return NPTSettings(barostat=self.barostat, tdamp_fs=self.tdamp_fs, pdamp_fs=self.pdamp_fs)  # type: ignore[arg-type]

    def verdict_supported(self) -> tuple[bool, str]:
        if self.production_ps < self.gate_min_production_ps:
            return False, (
                f"production of {self.production_ps:g} ps per run is shorter than the "
                f"{self.gate_min_production_ps:g} ps needed for a survival verdict (task4 gate_min_production_ps)"
            )
        return True, ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["temperatures_K"] = list(self.temperatures_K)
        data["pressures_Pa"] = list(self.pressures_Pa)
        return data


def for_system(protocol: Task4Protocol, system: Any = None) -> Task4Protocol:
    """``protocol`` for the reference pack's system (default: the shipped default pack's).

    The density is the pack's ``system.task4.density_g_cm3`` unless the profile sets one, and ``n_atoms``
    is rounded to the nearest whole number (at least one) of formula units of ``system.task4.composition``
    (42 atoms stay 42 for the LiPS pack's Li7P3S11; they become 39 for Li6PS5Cl).
    """
    if system is None:
        from ..system import default_system

        system = default_system()
    composition = system_composition(system)
    per_fu = sum(composition.values())
    n_atoms = max(1, round(protocol.n_atoms / per_fu)) * per_fu
    density = protocol.density_g_cm3 if protocol.density_g_cm3 is not None else system.task4_density_g_cm3
    if density is None:
        raise LipsUsageError(
            f"Task 4: profile section task4 sets no density_g_cm3 and the reference pack's system ({system.name}) "
            "gives no task4.density_g_cm3; set either"
        )
    return replace(protocol, n_atoms=int(n_atoms), density_g_cm3=float(density))


def system_composition(system: Any = None) -> dict[str, int]:
    """Atoms per formula unit of the random cells: the pack's ``system.task4.composition``."""
    if system is None:
        from ..system import default_system

        system = default_system()
    if not system.task4_composition:
        raise LipsUsageError(f"Task 4: the reference pack's system ({system.name}) gives no task4.composition")
    return dict(system.task4_composition)


@dataclass(frozen=True)
class GateDomain:
    """The gated part of the grid (from the threshold settings ``task4.gate_T_max_K``/``gate_p_max_Pa``)."""

    T_max_K: float
    p_max_Pa: float

    @classmethod
    def from_thresholds(cls, thresholds: Any) -> GateDomain:
        return cls(float(thresholds.value("task4.gate_T_max_K")), float(thresholds.value("task4.gate_p_max_Pa")))

    def contains(self, temperature_K: float, pressure_Pa: float) -> bool:
        return in_gated_domain(temperature_K, pressure_Pa, self.T_max_K, self.p_max_Pa)


def in_gated_domain(temperature_K: float, pressure_Pa: float, T_max_K: float, p_max_Pa: float) -> bool:
    """``T ≤ T_max`` and ``p ≤ p_max`` (a relative tolerance of 1e-9 absorbs YAML float round-off)."""
    return temperature_K <= T_max_K * (1 + 1e-9) and pressure_Pa <= p_max_Pa * (1 + 1e-9)


@dataclass(frozen=True)
class Task4Run:
    """One NPT trajectory of the grid."""

    run_id: str
    temperature_K: float
    pressure_Pa: float
    repeat: int
    seed: int
    structure_seed: int

    @property
    def start_id(self) -> str:
        """Id of the (relaxed) start structure shared by every grid point of this repeat."""
        return f"start-r{self.repeat}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _p_label(pressure_Pa: float) -> str:
    return f"{pressure_Pa:.0e}"


def plan_runs(protocol: Task4Protocol, seed: int) -> list[Task4Run]:
    """All runs, ids ``T<T>K-p<p>Pa-r<repeat>`` (e.g. ``T2000K-p1e+08Pa-r1``), T-major order."""
    runs = []
    for temperature in protocol.temperatures_K:
        for pressure in protocol.pressures_Pa:
            for repeat in range(1, protocol.repeats + 1):
                p_code = round(math.log10(pressure) * 1000) if pressure > 0 else 0
                runs.append(
                    Task4Run(
                        run_id=f"T{temperature:g}K-p{_p_label(pressure)}Pa-r{repeat}",
                        temperature_K=float(temperature),
                        pressure_Pa=float(pressure),
                        repeat=repeat,
                        seed=run_seed(seed, 4, round(temperature), p_code + 100_000, repeat),
                        structure_seed=run_seed(seed, 4, 0, 0, repeat),
                    )
                )
    return runs


def prepare_start(run: Task4Run, protocol: Task4Protocol, calculator, system: Any = None) -> dict[str, Any]:
    """Random hard-sphere cell of ``run.repeat``, relaxed with the model in its fixed cell.

    The cell has the composition of ``system`` (the reference pack's; default: the shipped default's) at
    ``protocol.density_g_cm3`` (resolve a ``null`` density with :func:`for_system` first).

    Returns a JSON-serialisable dict: ``ok``, ``reason``, ``symbols``, ``positions`` (Å), ``cell`` (Å),
    ``relax_steps``, ``relax_converged``, ``fmax_eV_A``, ``energy_eV``, ``wall_s``, ``seed``.
    """
    from ..quiet import quiet_library_warnings

    with quiet_library_warnings():  # ASE's ndarray.shape under NumPy 2.5 (the plugin's calls only)
        return _prepare_start(run, for_system(protocol, system), calculator, system_composition(system))


def _prepare_start(run: Task4Run, protocol: Task4Protocol, calculator, composition: dict[str, int]) -> dict[str, Any]:
    from ase.optimize import FIRE

    start = time.perf_counter()
    assert protocol.density_g_cm3 is not None  # resolved by for_system
    atoms = random_hard_sphere_cell(
        stoichiometric_counts(protocol.n_atoms, composition),
        seed=run.structure_seed,
        density_g_cm3=protocol.density_g_cm3,
        covalent_ratio=protocol.covalent_ratio,
    )
    atoms.calc = TimedCalculator(calculator, ("energy", "forces"))
    ok, reason, steps, converged, fmax, energy = True, "", 0, False, math.nan, math.nan
    try:
        opt = FIRE(atoms, logfile=None)
        converged = bool(opt.run(fmax=protocol.relax_fmax_eV_A, steps=protocol.relax_max_steps))
        steps = int(opt.nsteps)
        forces = atoms.get_forces()
        fmax = float(np.sqrt((forces**2).sum(axis=1)).max())
        energy = float(atoms.get_potential_energy())
        if not np.all(np.isfinite(atoms.positions)):
            ok, reason = False, "non-finite positions after relaxation"
    except (NonFiniteModelOutput, ModelCallError) as exc:
        ok, reason = False, f"relaxation of the random start cell failed: {exc}"
    return {
        "protocol_version": PROTOCOL_VERSION,
        "repeat": run.repeat,
        "seed": run.structure_seed,
        "ok": ok,
        "reason": reason,
        "symbols": atoms.get_chemical_symbols(),
        "positions": atoms.positions.tolist() if ok else None,
        "cell": atoms.cell.array.tolist(),
        "relax_steps": steps,
        "relax_converged": converged,
        "fmax_eV_A": _json(fmax),
        "energy_eV": _json(energy),
        "wall_s": time.perf_counter() - start,
    }


def _json(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def start_atoms(start: dict[str, Any]) -> Atoms:
    """The :class:`ase.Atoms` of a :func:`prepare_start` result."""
    return Atoms(start["symbols"], positions=start["positions"], cell=start["cell"], pbc=True)


def build_jobs(runs: list[Task4Run], starts: dict[str, dict[str, Any]], protocol: Task4Protocol) -> list[MDJob]:
    """One NPT :class:`~pytest_lips.md.MDJob` per run whose start structure is usable.

    ``starts`` maps :attr:`Task4Run.start_id` to a :func:`prepare_start` result; runs whose start
    failed get no job (:func:`reduce_run` records them as stopped). Frames every
    ``sample_interval_steps`` from step 0; early stops at ``pair_floor_A`` and ``volume_factor``.
    """
    jobs = []
    for run in runs:
        start = starts[run.start_id]
        if not start.get("ok"):
            continue
        jobs.append(
            MDJob(
                job_id=run.run_id,
                atoms=start_atoms(start),
                ensemble=protocol.ensemble,
                temperature_K=run.temperature_K,
                pressure_Pa=run.pressure_Pa,
                timestep_fs=protocol.timestep_fs,
                n_steps=protocol.production_steps,
                sample_interval_steps=protocol.sample_interval_steps,
                seed=run.seed,
                pair_floor_A=protocol.pair_floor_A,
                volume_factor=protocol.volume_factor,
            )
        )
    return jobs


def _frame_d_min(positions_A: np.ndarray, cell_A: np.ndarray, symbols: list[str]) -> float | None:
    if not (np.all(np.isfinite(positions_A)) and np.all(np.isfinite(cell_A))):
        return None
    return _json(minimum_pair_distance_A(Atoms(symbols, positions=positions_A, cell=cell_A, pbc=True)))


def reduce_run(
    run: Task4Run,
    start: dict[str, Any],
    trajectory: MDTrajectory | None,
    protocol: Task4Protocol,
    model: str = "",
) -> dict[str, Any]:
    """One grid point's trajectory (``None`` when its start failed) → a small JSON-serialisable dict.

    Returns ``{"record": RunRecord dict, "run": ..., "temperature_K", "pressure_Pa", "repeat",
    "frame_steps": [...], "d_min_A": [...] (shortest pair distance per frame, Å; ``None`` for a
    non-finite geometry), "volume_A3": [...] (per frame), "temperature_K_measured",
    "volume_A3_mean"}``. The state a stopped run ended in counts as a frame.
    """
    base = {
        "protocol_version": PROTOCOL_VERSION,
        "run": run.to_dict(),
        "temperature_K": run.temperature_K,
        "pressure_Pa": run.pressure_Pa,
        "repeat": run.repeat,
    }
    extra: dict[str, Any] = {
        "temperature_K": run.temperature_K,
        "pressure_Pa": run.pressure_Pa,
        "repeat": run.repeat,
        "n_atoms": protocol.n_atoms,
    }
    if trajectory is None or not start.get("ok"):
        record = RunRecord(
            task=TASK,
            run_id=run.run_id,
            model=model,
            steps_requested=protocol.production_steps,
            completed=False,
            stop_reason=start.get("reason") or "start structure unavailable",
            seed=run.seed,
            extra=extra,
        )
        return {
            **base,
            "record": record.to_dict(),
            "frame_steps": [],
            "d_min_A": [],
            "volume_A3": [],
            "temperature_K_measured": None,
            "volume_A3_mean": None,
        }
    symbols = list(start["symbols"])
    steps = [int(s) for s in trajectory.steps]
    d_min: list[float | None] = [
        _frame_d_min(p, c, symbols) for p, c in zip(trajectory.positions_A, trajectory.cells_A)
    ]
    volumes = [float(v) for v in trajectory.volumes_A3]
    if not trajectory.completed and (not steps or steps[-1] != trajectory.steps_done):
        # the state the run stopped in counts as a frame (if it is still a geometry at all)
        cell = trajectory.final_cell_A
        if np.all(np.isfinite(trajectory.final_positions_A)) and np.all(np.isfinite(cell)):
            try:
                d_min.append(_frame_d_min(trajectory.final_positions_A, cell, symbols))
                volumes.append(float(abs(np.linalg.det(cell))))
                steps.append(trajectory.steps_done)
            except Exception:  # a degenerate cell: no distance to report
                pass
    t_measured = float(np.mean(trajectory.temperatures_K)) if trajectory.temperatures_K.size else None
    v_mean = float(np.mean(trajectory.volumes_A3)) if trajectory.volumes_A3.size else None
    extra.update(
        n_frames=len(steps),
        temperature_K_measured=t_measured,
        d_min_A_lowest=_json(min((d for d in d_min if d is not None), default=math.inf)),
    )
    record = trajectory.to_run_record(
        TASK, run.run_id, protocol.timestep_fs, protocol.production_steps, model=model, seed=run.seed, extra=extra
    )
    return {
        **base,
        "record": record.to_dict(),
        "frame_steps": steps,
        "d_min_A": d_min,
        "volume_A3": volumes,
        "temperature_K_measured": t_measured,
        "volume_A3_mean": v_mean,
    }


def run_one(
    run: Task4Run,
    start: dict[str, Any],
    calculator,
    protocol: Task4Protocol,
    progress: Callable[[int], None] | None = None,
    model: str = "",
) -> dict[str, Any]:
    """One grid point on ASE with the given calculator: :func:`build_jobs` → :class:`~pytest_lips.md.AseEngine`
    → :func:`reduce_run`."""
    jobs = build_jobs([run], {run.start_id: start}, protocol)
    trajectory = AseEngine().run(jobs, lambda: calculator, progress)[0] if jobs else None
    return reduce_run(run, start, trajectory, protocol, model=model)


def run_item_verdict(result: dict[str, Any], protocol: Task4Protocol, domain: GateDomain) -> tuple[bool, str]:
    """Whether a per-run test item passes: ``(passed, message)``.

    A run that stopped early fails its item only inside the gated domain of a profile that supports a
    verdict; elsewhere the stop is recorded and left to the aggregate metrics (reported).
    """
    record = result["record"]
    if record["completed"]:
        return True, ""
    inside = domain.contains(result["temperature_K"], result["pressure_Pa"])
    supported, why = protocol.verdict_supported()
    message = (
        f"{record['run_id']} stopped after {record['steps_done']}/{record['steps_requested']} steps: "
        f"{record['stop_reason']}"
    )
    if inside and supported:
        return False, message + " (inside the gated T x p domain)"
    where = "outside the gated T x p domain" if not inside else f"not gated: {why}"
    return True, message + f" ({where}; recorded, not a failure)"


def unreached_frames(result: dict[str, Any], protocol: Task4Protocol) -> int:
    """Scheduled close-contact frames (step 0 and every ``sample_interval_steps``) after the step at
    which a run stopped; 0 for a completed run.  A run whose start structure failed reached none."""
    record = result["record"]
    if record.get("completed"):
        return 0
    interval = protocol.sample_interval_steps
    planned = protocol.production_steps // interval + 1
    if not result.get("d_min_A") and int(record.get("steps_done") or 0) == 0:
        return planned  # nothing measured at all (e.g. the relaxation of the start cell failed)
    reached = int(record.get("steps_done") or 0) // interval + 1
    return max(0, planned - reached)


def analyse(
    run_results: list[dict[str, Any]],
    protocol: Task4Protocol,
    close_contact_distance_A: float,
    domain: GateDomain,
    model: str = "",
) -> list[Metric]:
    """Grid-point survival and close contacts → ``[task4.survival_fraction, task4.close_contact_fraction]``.

    Per grid point (in ``details["grid"]``): runs, completed runs, survival class ``all``/``some``/``none``,
    frames, close-contact frames and fraction, lowest distance, whether the point is gated.
    """
    supported, why_not = protocol.verdict_supported()
    by_point: dict[tuple[float, float], list[dict[str, Any]]] = defaultdict(list)
    for r in run_results:
        by_point[(float(r["temperature_K"]), float(r["pressure_Pa"]))].append(r)
    grid: list[dict[str, Any]] = []
    for (T, p), runs in sorted(by_point.items()):
        n_done = sum(bool(r["record"]["completed"]) for r in runs)
        d = [x for r in runs for x in r["d_min_A"]]
        # A frame without a distance (non-finite geometry) and every scheduled frame that a stopped run
        # never reached count as close-contact frames: a run that blew up must not pass this metric on
        # the few frames it had before the blow-up.
        unreached = sum(unreached_frames(r, protocol) for r in runs)
        n_frames = len(d) + unreached
        n_close = sum(1 for x in d if x is None or x <= close_contact_distance_A) + unreached
        finite = [x for x in d if x is not None]
        grid.append(
            {
                "temperature_K": T,
                "pressure_Pa": p,
                "gated": domain.contains(T, p),
                "repeats": len(runs),
                "completed": n_done,
                "survival": "all" if n_done == len(runs) else ("none" if n_done == 0 else "some"),
                "frames": n_frames,
                "close_contact_frames": n_close,
                "unreached_frames": unreached,
                "close_contact_fraction": (n_close / n_frames) if n_frames else None,
                "d_min_A_lowest": min(finite) if finite else None,
                "stops": {
                    r["record"]["run_id"]: r["record"]["stop_reason"] for r in runs if not r["record"]["completed"]
                },
            }
        )
    inside = [g for g in grid if g["gated"]]
    notes = []
    gated = supported and bool(inside)
    if not supported:
        notes.append(f"reported, not gated: {why_not}")
    if not inside:
        notes.append(
            f"reported, not gated: no grid point inside the gated domain (T <= {domain.T_max_K:g} K, "
            f"p <= {domain.p_max_Pa:g} Pa)"
        )
    basis = inside if inside else grid
    scope = "gated" if inside else "all"
    n_runs = sum(g["repeats"] for g in basis)
    n_done = sum(g["completed"] for g in basis)
    survival = (n_done / n_runs) if n_runs else math.nan
    fractions = [g["close_contact_fraction"] for g in basis if g["close_contact_fraction"] is not None]
    worst = max(fractions) if fractions else math.nan
    details = {
        "grid": grid,
        "domain": {"T_max_K": domain.T_max_K, "p_max_Pa": domain.p_max_Pa},
        "close_contact_distance_A": close_contact_distance_A,
        "scope": scope,
        "protocol": protocol.to_dict(),
    }
    failed_inside = [f"{rid}: {why}" for g in inside for rid, why in g["stops"].items()]
    survival_note = list(notes)
    if failed_inside:
        survival_note.append("stopped inside the gated domain: " + "; ".join(failed_inside))
    survival_note.append(f"{n_done}/{n_runs} runs completed over {len(basis)} {scope} grid point(s)")
    worst_point = max(basis, key=lambda g: g["close_contact_fraction"] or 0.0, default=None)
    contact_note = list(notes)
    if worst_point is not None and fractions:
        unreached_text = (
            f", of which {worst_point['unreached_frames']} never reached (stopped runs count as close contacts)"
            if worst_point["unreached_frames"]
            else ""
        )
        contact_note.append(
            f"largest at T = {worst_point['temperature_K']:g} K, p = {worst_point['pressure_Pa']:g} Pa: "
            f"{worst_point['close_contact_frames']}/{worst_point['frames']} frames with a pair <= "
            f"{close_contact_distance_A:g} Å{unreached_text}"
        )
    return [
        Metric(
            key=f"{TASK}.survival_fraction",
            value=survival,
            unit="1",
            model=model,
            task=TASK,
            n=n_runs,
            gated=gated,
            note="; ".join(survival_note),
            details=details,
        ),
        Metric(
            key=f"{TASK}.close_contact_fraction",
            value=worst,
            unit="1",
            model=model,
            task=TASK,
            n=sum(g["frames"] for g in basis),
            gated=gated,
            note="; ".join(contact_note),
            details=details,
        ),
    ]
