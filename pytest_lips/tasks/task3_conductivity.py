"""Task 3: Li-ion conductivity of Li7P3S11 from NVT MD (LiPS-25 Task 3).

Protocol (``paper`` profile): a 672-atom supercell (2 × 4 × 2 = 16 copies of the 42-atom Li7P3S11
reference cell of the pack, fixed at its volume), NVT MD at 400, 500, 600, 700 and 800 K (an evenly
spaced set covering the paper's 400–800 K range; the exact paper temperatures are not encoded
here), 3 independent repeats per temperature (different seeded Maxwell–Boltzmann velocities),
2 fs time step, 10 ps equilibration (discarded) and 500 ps production sampled every 100 fs.

Thermostat: Nosé–Hoover chain (:class:`ase.md.nose_hoover_chain.NoseHooverChainNVT`, chain length
3, damping 100 fs). It is deterministic (a run is reproducible from its seed), samples the canonical
ensemble, and — unlike Langevin friction and random kicks on every atom — leaves the Li dynamics
Newtonian, so tracer diffusion coefficients are not biased by the thermostat.

Analysis per run (:func:`reduce_run_frames`): Li MSD averaged over all time origins with the
framework (P, S) centre-of-mass drift removed, lags up to ``msd_max_lag_fraction`` of the production;
D from a straight line through the MSD between ``max(fit_start_fraction × largest lag,
fit_min_lag_ps)`` and ``fit_end_fraction × largest lag``, with a per-Li-atom standard error that
matches the scatter between independent runs (:func:`pytest_lips.analysis.estimate_diffusion`), and
the mean measured (kinetic) temperature of the production. Across runs
(:func:`pytest_lips.analysis.conductivity.calibrated_conductivity_at_298`): per temperature the mean
D of the repeats with the larger of the per-run and between-repeat errors, a weighted Arrhenius fit
against the measured temperatures whose covariance carries its misfit, extrapolation to 298.15 K and
Nernst–Einstein conductivity with Haven ratio 1, with a 95 % interval whose coverage is checked by
``benchmarks/sigma_coverage.py``.

Metrics: ``task3.sigma298`` [mS/cm] (decided on its 95 % interval against the paper's band,
thresholds ``task3.sigma298_min``/``_max``: PASS inside, FAIL wholly outside, otherwise INCONCLUSIVE;
see :func:`pytest_lips.thresholds.evaluate_interval`), ``task3.activation_energy`` [eV] and
``task3.D_<T>K`` [cm^2/s] (reported).

Resolution: every temperature enters the Arrhenius fit with its errors (none is kept or dropped on its
own outcome: keeping a temperature only when its own Li MSD came out large kept the runs whose noise
was high and biased σ298 upward). A temperature counts as "resolved" when the *fitted line* gives at
least ``gate_min_msd_A2`` (default 4 Å², 2 Å RMS displacement from hops alone) of Li MSD from hops at
the end of its fit window, 6 D̂(T) t_end; with fewer than two resolved temperatures σ298 is reported
with its interval but may not decide (INCONCLUSIVE with that reason): the MSD is then mostly vibration
and caging, where the straight-line D is not a hop rate. A run that stopped early (blow-up) makes σ298
NaN, which fails. Data that do not determine a line (Li that barely moved) give NaN with the reason:
INCONCLUSIVE, never an exception.
With ``max_production_ps``, undecided runs are continued in chunks (:func:`continuation_jobs`,
:func:`extend_arrays`) until σ298 is decided.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, cast

import numpy as np
from ase import Atoms

from ..analysis.conductivity import RunDiffusion, calibrated_conductivity_at_298
from ..analysis.diffusion import estimate_diffusion
from ..errors import LipsDataError, LipsUsageError
from ..md import AseEngine, MDJob, MDTrajectory, NVTSettings
from ..profiles import float_tuple, int_triple, protocol_from_section
from ..results import Metric
from .structures import supercell

__all__ = [
    "PROTOCOL_VERSION",
    "TASK",
    "Task3Protocol",
    "Task3Run",
    "analyse",
    "build_jobs",
    "continuation_jobs",
    "extend_arrays",
    "load_structure",
    "plan_runs",
    "reduce_run",
    "run_one",
    "run_seed",
    "sigma298_decided",
]

TASK = "task3"
#: Bump when the meaning of a stored run result changes (part of the run-store key).
PROTOCOL_VERSION = "task3-2"
#: At most this many MSD points are stored per run (the fit uses the full-resolution curve).
MAX_STORED_MSD_POINTS = 200


@dataclass(frozen=True)
class Task3Protocol:
    """The ``task3:`` section of a profile (units in the field names).

    Attributes
    ----------
    structure:
        Path of the Task 3 cell inside the shipped default pack, used only when no reference pack is given
        (``""``: the default pack's ``task3`` file); with a pack, its own Task 3 cell.
    supercell:
        Repeat of the reference cell, e.g. ``[2, 4, 2]`` (672 atoms).
    temperatures_K:
        MD temperatures, K.
    repeats:
        Independent runs per temperature.
    timestep_fs, equilibration_ps, production_ps, sample_interval_fs:
        Time step; discarded equilibration; production length; interval between stored frames.
        Equilibration and production are rounded to whole sample intervals.
    thermostat, tdamp_fs:
        NVT thermostat (``nose_hoover_chain`` | ``bussi`` | ``langevin``) and its time constant, fs.
    fit_start_fraction, fit_end_fraction:
        MSD fit window as fractions of the largest lag (which is ``msd_max_lag_fraction`` of the
        production).
    msd_max_lag_fraction:
        Largest MSD lag as a fraction of the production length.
    fit_min_lag_ps:
        The fit window never starts before this lag, ps (keeps the sub-picosecond caging regime out
        of short runs; the fraction alone would start at 0.1 ps in a 2 ps window).
    gate_min_msd_A2:
        A temperature is "resolved" when the fitted Arrhenius line gives at least this Li MSD from hops
        at the end of its fit window (6 D̂ t_end), Å² (2 Å RMS displacement: of the order of one Li–Li
        site distance). Every temperature enters the fit; σ298 may decide only with ≥ 2 resolved.
    max_production_ps:
        ``None``: every run has ``production_ps``. A number: if σ298 is not decided after
        ``production_ps``, the runs are continued from their last state in chunks of
        ``production_ps`` until it is decided, this production length is reached, or
        ``--lips-budget-minutes`` is spent.
    """

    structure: str = ""
    supercell: tuple[int, int, int] = (2, 4, 2)
    temperatures_K: tuple[float, ...] = (400.0, 500.0, 600.0, 700.0, 800.0)
    repeats: int = 3
    timestep_fs: float = 2.0
    equilibration_ps: float = 10.0
    production_ps: float = 500.0
    sample_interval_fs: float = 100.0
    thermostat: str = "nose_hoover_chain"
    tdamp_fs: float = 100.0
    fit_start_fraction: float = 0.1
    fit_end_fraction: float = 0.5
    msd_max_lag_fraction: float = 0.5
    fit_min_lag_ps: float = 1.0
    gate_min_msd_A2: float = 4.0
    max_production_ps: float | None = None

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> Task3Protocol:
        """Parse a profile's ``task3:`` section (missing keys take the paper defaults above)."""
        proto = protocol_from_section(cls, section, "task3", {"supercell": int_triple, "temperatures_K": float_tuple})
        proto.validate()
        return proto

    def validate(self) -> None:
        problems = []
        if len(self.supercell) != 3 or min(self.supercell) < 1:
            problems.append(f"supercell must be three integers >= 1, got {self.supercell}")
        if len(self.temperatures_K) < 2 or min(self.temperatures_K) <= 0:
            problems.append("temperatures_K needs >= 2 positive temperatures (Arrhenius fit)")
        if len(set(self.temperatures_K)) != len(self.temperatures_K):
            problems.append("temperatures_K has duplicates")
        if self.repeats < 1:
            problems.append("repeats must be >= 1")
        if not (self.timestep_fs > 0 and self.sample_interval_fs >= self.timestep_fs):
            problems.append("need timestep_fs > 0 and sample_interval_fs >= timestep_fs")
        if self.production_ps <= 0 or self.equilibration_ps < 0:
            problems.append("need production_ps > 0 and equilibration_ps >= 0")
        if not 0 <= self.fit_start_fraction < self.fit_end_fraction <= 1:
            problems.append("need 0 <= fit_start_fraction < fit_end_fraction <= 1")
        if not 0 < self.msd_max_lag_fraction <= 1:
            problems.append("need 0 < msd_max_lag_fraction <= 1")
        if self.tdamp_fs <= 0 or self.gate_min_msd_A2 < 0:
            problems.append("need tdamp_fs > 0 and gate_min_msd_A2 >= 0")
        if self.fit_min_lag_ps < 0:
            problems.append("need fit_min_lag_ps >= 0")
        window_end_ps = self.production_ps * self.msd_max_lag_fraction * self.fit_end_fraction
        if window_end_ps < self.fit_min_lag_ps + 3 * self.sample_interval_fs / 1000.0:
            problems.append(
                f"the MSD fit window ends at {window_end_ps:g} ps (production_ps x msd_max_lag_fraction x "
                f"fit_end_fraction), before fit_min_lag_ps {self.fit_min_lag_ps:g} ps + 3 frames: lengthen "
                "production_ps or lower fit_min_lag_ps"
            )
        if self.max_production_ps is not None and not self.max_production_ps >= self.production_ps:
            problems.append("max_production_ps must be >= production_ps (or null)")
        if problems or self.timestep_fs <= 0:  # the step counts below divide by the time step
            raise LipsUsageError("profile section task3: " + "; ".join(problems or ["timestep_fs must be > 0"]))
        if self.production_steps // self.sample_interval_steps < 20:
            problems.append("production_ps / sample_interval_fs must give at least 20 frames (MSD fit window)")
        if problems:
            raise LipsUsageError("profile section task3: " + "; ".join(problems))

    # -- derived step counts ----------------------------------------------------------------
    @property
    def sample_interval_steps(self) -> int:
        return max(1, round(self.sample_interval_fs / self.timestep_fs))

    @property
    def equilibration_steps(self) -> int:
        n = self.sample_interval_steps
        return round(self.equilibration_ps * 1000.0 / self.timestep_fs / n) * n

    @property
    def production_steps(self) -> int:
        n = self.sample_interval_steps
        return max(1, round(self.production_ps * 1000.0 / self.timestep_fs / n)) * n

    @property
    def total_steps(self) -> int:
        return self.equilibration_steps + self.production_steps

    @property
    def ensemble(self) -> NVTSettings:
        return NVTSettings(thermostat=self.thermostat, tdamp_fs=self.tdamp_fs)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["supercell"] = list(self.supercell)
        data["temperatures_K"] = list(self.temperatures_K)
        return data


@dataclass(frozen=True)
class Task3Run:
    """One NVT trajectory of the plan."""

    run_id: str
    temperature_K: float
    repeat: int
    seed: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_seed(base_seed: int, *parts: int) -> int:
    """A per-run seed derived deterministically from the base seed (numpy ``SeedSequence``)."""
    sequence = np.random.SeedSequence(entropy=int(base_seed), spawn_key=tuple(int(p) for p in parts))
    return int(sequence.generate_state(1, dtype=np.uint32)[0])


def _temperature_label(temperature_K: float) -> str:
    return f"{temperature_K:g}"


def plan_runs(protocol: Task3Protocol, seed: int) -> list[Task3Run]:
    """All runs of the protocol, ids ``T<T>K-r<repeat>`` (repeat from 1), in temperature order."""
    runs = []
    for temperature in protocol.temperatures_K:
        for repeat in range(1, protocol.repeats + 1):
            runs.append(
                Task3Run(
                    run_id=f"T{_temperature_label(temperature)}K-r{repeat}",
                    temperature_K=float(temperature),
                    repeat=repeat,
                    seed=run_seed(seed, 3, round(temperature * 1000), repeat),
                )
            )
    return runs


def load_structure(protocol: Task3Protocol, reference: Any = None) -> Atoms:
    """The Task 3 cell: ``reference.task3_structure()`` if available, else the default pack's file."""
    if reference is not None and hasattr(reference, "task3_structure"):
        return reference.task3_structure()
    from ..reference import read_frames
    from ..resources import default_pack_dir

    if not protocol.structure:
        from ..reference import load_reference_pack

        return cast(Atoms, load_reference_pack(default_pack_dir()).task3_structure())
    path = default_pack_dir() / protocol.structure
    if not path.is_file():
        raise LipsDataError(
            f"Task 3 structure {path} is missing; re-generate the reference pack (reference_data/build) "
            "or reinstall pytest-lips"
        )
    return cast(Atoms, read_frames(path)[-1])


def _downsample(lag: np.ndarray, msd: np.ndarray, n_max: int) -> tuple[list[float], list[float]]:
    if lag.size <= n_max:
        idx = np.arange(lag.size)
    else:
        idx = np.unique(np.round(np.linspace(0, lag.size - 1, n_max)).astype(int))
    return [float(v) for v in lag[idx]], [float(v) for v in msd[idx]]


def mobile_ion_of(atoms: Atoms) -> tuple[str, int]:
    """The diffusing element and its charge number: ``info["mobile_ion"]``/``info["mobile_ion_charge"]`` (set
    by :meth:`pytest_lips.reference.ReferencePack.task3_structure` from the pack's system), else the shipped
    default pack's."""
    if atoms.info.get("mobile_ion"):
        return str(atoms.info["mobile_ion"]), int(atoms.info.get("mobile_ion_charge", 1))
    from ..system import default_system

    system = default_system()
    return system.mobile_ion, system.mobile_ion_charge


def build_jobs(runs: list[Task3Run], structure: Atoms, protocol: Task3Protocol) -> list[MDJob]:
    """One NVT :class:`~pytest_lips.md.MDJob` per run (any engine integrates them; a batched one all at once).

    The Li7P3S11 cell is repeated ``protocol.supercell`` times; frames are stored every
    ``sample_interval_steps`` from the end of the equilibration (``sample_from_step``).
    """
    ion, charge = mobile_ion_of(structure)
    atoms = supercell(structure, protocol.supercell)
    if ion not in atoms.get_chemical_symbols():
        raise LipsDataError(f"Task 3 structure contains no {ion}, the mobile ion of the reference pack's system")
    atoms.info.update(mobile_ion=ion, mobile_ion_charge=charge)
    return [
        MDJob(
            job_id=run.run_id,
            atoms=atoms,
            ensemble=protocol.ensemble,
            temperature_K=run.temperature_K,
            pressure_Pa=None,
            timestep_fs=protocol.timestep_fs,
            n_steps=protocol.total_steps,
            sample_interval_steps=protocol.sample_interval_steps,
            seed=run.seed,
            sample_from_step=protocol.equilibration_steps,
        )
        for run in runs
    ]


def reduce_run(
    run: Task3Run,
    job: MDJob,
    trajectory: MDTrajectory,
    protocol: Task3Protocol,
    model: str = "",
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Reduce one trajectory of :func:`build_jobs` to a small JSON-serialisable dict plus arrays.

    Returns
    -------
    ``(result, arrays)``. ``result``: ``{"record": RunRecord dict, "run": ..., "temperature_K",
    "temperature_K_measured" (mean kinetic temperature over the production frames, K), "n_li",
    "volume_A3", "lag_ps", "msd_A2" (≤ 200 points), "D_cm2_s", "D_stderr_cm2_s", "fit_window_ps",
    "msd_end_of_fit_A2", "protocol_version"}``; the MSD and D entries are ``None`` when the run
    stopped early. ``arrays`` (to keep next to the result, e.g. ``np.savez``): ``steps`` (F,),
    ``positions_A`` (F, n_li + 1, 3) — the unwrapped Li positions followed by the framework (P, S)
    centre of mass —, ``cells_A`` (F, 3, 3), ``temperatures_K`` (F,), ``frame_interval_ps``, ``n_li``.
    """
    atoms = job.atoms
    ion, charge = mobile_ion_of(atoms)
    li = np.array(atoms.get_chemical_symbols()) == ion  # the mobile ion (Li for the LiPS pack)
    framework = ~li
    fw_masses = atoms.get_masses()[framework]
    n_li = int(li.sum())
    positions = trajectory.positions_A
    if positions.shape[0]:
        com = np.einsum("j,fjk->fk", fw_masses, positions[:, framework, :]) / fw_masses.sum()
        li_com = np.concatenate([positions[:, li, :], com[:, None, :]], axis=1)
    else:
        li_com = np.zeros((0, n_li + 1, 3))
    frame_interval_ps = protocol.sample_interval_steps * protocol.timestep_fs / 1000.0
    t_measured = float(np.mean(trajectory.temperatures_K)) if trajectory.temperatures_K.size else None
    result: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "run": run.to_dict(),
        "temperature_K": run.temperature_K,
        "temperature_K_measured": t_measured,
        "n_atoms": len(atoms),
        "n_li": n_li,
        "mobile_ion": ion,
        "mobile_ion_charge": charge,
        "volume_A3": float(atoms.get_volume()),
        "lag_ps": None,
        "msd_A2": None,
        "D_cm2_s": None,
        "D_stderr_cm2_s": None,
        "fit_window_ps": None,
        "msd_end_of_fit_A2": None,
    }
    extra = {
        "temperature_K": run.temperature_K,
        "temperature_K_measured": t_measured,
        "repeat": run.repeat,
        "n_atoms": len(atoms),
        "equilibration_steps": protocol.equilibration_steps,
        "production_frames": int(li_com.shape[0]),
    }
    if trajectory.completed and li_com.shape[0] >= 2:
        # D with its per-atom standard error and the measured temperature (analysis half: reduce_run_frames)
        result.update(reduce_run_frames(li_com, protocol, trajectory.temperatures_K))
        result["temperature_K_measured"] = t_measured
        extra.update(D_cm2_s=result["D_cm2_s"], msd_end_of_fit_A2=result["msd_end_of_fit_A2"])
    record = trajectory.to_run_record(
        TASK, run.run_id, protocol.timestep_fs, job.n_steps, model=model, seed=run.seed, extra=extra
    )
    result["record"] = record.to_dict()
    arrays = {
        "steps": trajectory.steps,
        "positions_A": li_com,
        "cells_A": trajectory.cells_A,
        "temperatures_K": trajectory.temperatures_K,
        "frame_interval_ps": np.asarray(frame_interval_ps),
        "n_li": np.asarray(n_li),
        # last state, to continue the run in chunks (continuation_jobs; task3.max_production_ps)
        "final_positions_A": trajectory.final_positions_A,
        "final_momenta": trajectory.final_momenta,
        "final_cell_A": trajectory.final_cell_A,
    }
    return result, arrays


def run_one(
    run: Task3Run,
    structure: Atoms,
    calculator,
    protocol: Task3Protocol,
    progress: Callable[[int], None] | None = None,
    model: str = "",
) -> dict[str, Any]:
    """One run on ASE with the given calculator: :func:`build_jobs` → :class:`~pytest_lips.md.AseEngine`
    → :func:`reduce_run`.

    ``progress(steps_done)`` over the whole run (equilibration + production). Returns the result
    dict of :func:`reduce_run` (the frames are dropped).
    """
    (job,) = build_jobs([run], structure, protocol)
    (trajectory,) = AseEngine().run([job], lambda: calculator, progress)
    return reduce_run(run, job, trajectory, protocol, model=model)[0]


def reduce_run_frames(
    li_and_com_A: np.ndarray,
    protocol: Task3Protocol,
    temperatures_K: np.ndarray | None = None,
) -> dict[str, Any]:
    """The D-related fields of a run result from its sampled production frames.

    Parameters
    ----------
    li_and_com_A:
        Unwrapped Li positions with the framework centre of mass appended as the last "atom", Å,
        shape ``(n_frames, n_li + 1, 3)`` (the framework drift is removed through that last row).
    temperatures_K:
        Kinetic temperature of each frame, K (its mean is the run's measured temperature).

    Returns
    -------
    ``{"lag_ps", "msd_A2" (≤ 200 points), "D_cm2_s", "D_stderr_cm2_s" (per-atom, see
    :func:`~pytest_lips.analysis.estimate_diffusion`), "D_interval_cm2_s", "fit_window_ps",
    "msd_end_of_fit_A2", "production_ps_analysed", "temperature_K_measured"}``.
    """
    positions = np.asarray(li_and_com_A, dtype=float)
    mobile = np.zeros(positions.shape[1], dtype=bool)
    mobile[:-1] = True
    frame_ps = protocol.sample_interval_steps * protocol.timestep_fs / 1000.0
    est = estimate_diffusion(
        positions,
        frame_ps,
        mobile,
        framework_mask=~mobile,
        max_lag_fraction=protocol.msd_max_lag_fraction,
        fit_start_fraction=protocol.fit_start_fraction,
        fit_end_fraction=protocol.fit_end_fraction,
        fit_min_lag_ps=protocol.fit_min_lag_ps,
    )
    lag, msd = _downsample(est.lag_ps, est.msd_A2, MAX_STORED_MSD_POINTS)
    temps = None if temperatures_K is None else np.asarray(temperatures_K, dtype=float)
    return {
        "lag_ps": lag,
        "msd_A2": msd,
        "D_cm2_s": est.D_cm2_s,
        "D_stderr_cm2_s": est.D_stderr_cm2_s,
        "D_interval_cm2_s": list(est.interval_cm2_s),
        "fit_window_ps": list(est.window_ps),
        "msd_end_of_fit_A2": est.msd_end_of_fit_A2,
        "production_ps_analysed": (positions.shape[0] - 1) * frame_ps,
        "temperature_K_measured": None if temps is None or temps.size == 0 else float(np.mean(temps)),
    }


def continuation_jobs(
    runs: list[Task3Run],
    arrays: list[dict[str, np.ndarray]],
    structure: Atoms,
    protocol: Task3Protocol,
    chunk_ps: float | None = None,
) -> list[MDJob]:
    """MD jobs that continue each run from its last state for ``chunk_ps`` (default ``production_ps``) more.

    ``arrays`` are the runs' stored arrays (:func:`reduce_run` / :func:`extend_arrays`), which carry the
    final positions, momenta and cell; the jobs start from them with ``initialise_velocities=False``
    (the thermostat's own state restarts) and store a frame every ``sample_interval_steps`` from the
    first interval on (the start frame is the last stored one). Works with every engine.
    """
    n = protocol.sample_interval_steps
    chunk = protocol.production_ps if chunk_ps is None else chunk_ps
    n_steps = max(1, round(chunk * 1000.0 / protocol.timestep_fs / n)) * n
    jobs = []
    for job, arr in zip(build_jobs(runs, structure, protocol), arrays):
        atoms = job.atoms.copy()
        atoms.set_cell(np.asarray(arr["final_cell_A"]), scale_atoms=False)
        atoms.positions = np.asarray(arr["final_positions_A"])
        atoms.set_momenta(np.asarray(arr["final_momenta"]))
        jobs.append(replace(job, atoms=atoms, n_steps=n_steps, sample_from_step=n, initialise_velocities=False))
    return jobs


def extend_arrays(
    result: dict[str, Any],
    arrays: dict[str, np.ndarray],
    job: MDJob,
    trajectory: MDTrajectory,
    protocol: Task3Protocol,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """A run's result and arrays after one continuation chunk (:func:`continuation_jobs`).

    Frames are appended (Li + framework centre of mass, cells, temperatures), the final state is the
    chunk's, D and the measured temperature are recomputed over the whole production, and the run
    record counts the steps of every chunk. A chunk that stopped early marks the run as stopped.
    """
    li = np.array(job.atoms.get_chemical_symbols()) == mobile_ion_of(job.atoms)[0]
    fw_masses = job.atoms.get_masses()[~li]
    pos = trajectory.positions_A
    com = np.einsum("j,fjk->fk", fw_masses, pos[:, ~li, :]) / fw_masses.sum()
    li_com = np.concatenate([pos[:, li, :], com[:, None, :]], axis=1)
    new_arrays = dict(arrays)
    new_arrays["positions_A"] = np.concatenate([arrays["positions_A"], li_com])
    new_arrays["temperatures_K"] = np.concatenate([arrays["temperatures_K"], trajectory.temperatures_K])
    cells = np.asarray(arrays["cells_A"])
    new_arrays["cells_A"] = np.concatenate([cells if cells.ndim == 3 else cells[None], trajectory.cells_A])
    steps = np.asarray(arrays.get("steps", np.zeros(0)))
    last = int(steps[-1]) if steps.size else 0
    new_arrays["steps"] = np.concatenate([steps, last + np.asarray(trajectory.steps)])
    new_arrays.update(
        final_positions_A=trajectory.final_positions_A,
        final_momenta=trajectory.final_momenta,
        final_cell_A=trajectory.final_cell_A,
    )
    out = dict(result)
    record = dict(result["record"])
    record["steps_requested"] = int(record.get("steps_requested", 0)) + job.n_steps
    record["steps_done"] = int(record.get("steps_done", 0)) + int(trajectory.steps_done)
    record["time_ps"] = record["steps_done"] * protocol.timestep_fs / 1000.0
    record["wall_s"] = float(record.get("wall_s", 0.0)) + float(trajectory.wall_s)
    if not trajectory.completed:
        record["completed"] = False
        record["stop_reason"] = f"continuation chunk: {trajectory.stop_reason}"
    out["record"] = record
    if record["completed"]:
        out.update(reduce_run_frames(new_arrays["positions_A"], protocol, new_arrays["temperatures_K"]))
    return out, new_arrays


def sigma298_decided(metric: Metric, thresholds: Any) -> bool:
    """Whether ``thresholds`` decide σ298 (PASS or FAIL on its interval; not INCONCLUSIVE)."""
    verdicts = thresholds.evaluate(metric)
    return bool(verdicts) and all(v.threshold is not None and not v.inconclusive for v in verdicts)


def _temperature_key(temperature_K: float) -> str:
    return f"{TASK}.D_{_temperature_label(temperature_K)}K"


def _measured_T(run: dict[str, Any]) -> float:
    value = run.get("temperature_K_measured")
    return float(value) if value is not None and math.isfinite(float(value)) else math.nan


def analyse(
    run_results: list[dict[str, Any]],
    protocol: Task3Protocol,
    model: str = "",
    seed: int = 0,
) -> list[Metric]:
    """σ298, activation energy and per-temperature D from the run results of :func:`reduce_run`.

    σ298 is decided on its calibrated 95 % interval (``details["decide_on"] = "interval"``, see
    :func:`pytest_lips.thresholds.evaluate_interval`): PASS when the whole interval lies inside the
    band, FAIL when wholly outside, otherwise INCONCLUSIVE. The interval
    (:func:`pytest_lips.analysis.calibrated_conductivity_at_298`) uses every temperature; σ298 may
    decide only when the fitted line resolves Li hops (≥ ``gate_min_msd_A2`` of MSD from hops at the
    end of the fit window) at ≥ 2 temperatures, else it is INCONCLUSIVE with that reason. Runs with D ≤ 0 are
    data (they lower their temperature's mean). A run that stopped early makes σ298 NaN, which FAILS.
    ``seed`` is unused (kept for callers; the interval is analytic).

    Returns ``[task3.sigma298, task3.activation_energy, task3.D_<T>K ...]``.
    """
    del seed
    failed = [r for r in run_results if not r["record"]["completed"]]
    ok = [r for r in run_results if r["record"]["completed"] and r.get("D_cm2_s") is not None]
    by_T: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in ok:
        by_T[float(r["temperature_K"])].append(r)
    notes: list[str] = []
    if failed:
        notes.append(
            "runs stopped early: " + "; ".join(f"{r['record']['run_id']}: {r['record']['stop_reason']}" for r in failed)
        )
    missing_T = sorted(set(protocol.temperatures_K) - set(by_T))

    def run_diffusion(r: dict[str, Any]) -> RunDiffusion:
        se = r.get("D_stderr_cm2_s")
        return RunDiffusion(
            float(r["temperature_K"]), float(r["D_cm2_s"]), math.nan if se is None else float(se), _measured_T(r)
        )

    n_li = int(ok[0]["n_li"]) if ok else 1
    volume_A3 = float(np.mean([r["volume_A3"] for r in ok])) if ok else 1.0
    charge = int(ok[0].get("mobile_ion_charge", 1)) if ok else 1  # the pack's mobile ion (Li+: 1)
    ion = str(ok[0].get("mobile_ion") or "mobile-ion") if ok else "mobile-ion"  # its element, for the messages
    # every temperature enters the fit: none is kept or dropped on its own outcome (selection bias)
    estimate = (
        calibrated_conductivity_at_298([run_diffusion(r) for r in ok], n_li, volume_A3, charge=charge) if ok else None
    )
    per_T_details: dict[str, Any] = {}
    for T in sorted(by_T):
        msd_end = float(np.mean([r["msd_end_of_fit_A2"] for r in by_T[T]]))
        T_meas = [_measured_T(r) for r in by_T[T]]
        window_end = float(np.mean([_window_end_ps(r, protocol) for r in by_T[T]]))
        D_fit = estimate.per_temperature[T].get("D_fit_cm2_s", math.nan) if estimate is not None else math.nan
        # expected Li MSD from hops at the end of the fit window on the fitted line (not this temperature's
        # own noisy MSD): 6 D̂ t, with D̂ in Å²/ps
        msd_line = 6.0 * D_fit * 1e4 * window_end
        per_T_details[_temperature_label(T)] = {
            "D_cm2_s": [float(r["D_cm2_s"]) for r in by_T[T]],
            "D_stderr_cm2_s": [r.get("D_stderr_cm2_s") for r in by_T[T]],
            "msd_end_of_fit_A2": msd_end,
            "msd_hops_fitted_A2": _finite_or_none(msd_line),
            "temperature_K_measured": [None if math.isnan(t) else t for t in T_meas],
            "production_ps": [r.get("production_ps_analysed", protocol.production_ps) for r in by_T[T]],
            "resolved": bool(msd_line >= protocol.gate_min_msd_A2),
        }
    metrics: list[Metric] = []
    for T in sorted(by_T):
        label = _temperature_label(T)
        stats_T = estimate.per_temperature[T] if estimate is not None else {}
        mean, sem = float(stats_T.get("D_mean_cm2_s", math.nan)), float(stats_T.get("D_sem_cm2_s", math.nan))
        interval = (mean - 1.96 * sem, mean + 1.96 * sem) if math.isfinite(sem) else None
        metrics.append(
            Metric(
                key=_temperature_key(T),
                value=mean,
                unit="cm^2/s",
                model=model,
                task=TASK,
                interval=interval,
                n=len(by_T[T]),
                gated=False,
                note=(
                    f"mean over {len(by_T[T])} run(s) at {T:g} K; 95 % interval from the per-run errors and the "
                    "hidden run-to-run scatter"
                    + (
                        ""
                        if per_T_details[label]["resolved"]
                        else f"; hops not resolved ({ion} MSD from hops on the fitted line "
                        f"{per_T_details[label]['msd_hops_fitted_A2'] or math.nan:.3g} Å^2 < "
                        f"{protocol.gate_min_msd_A2:g} Å^2 at the end of the fit window)"
                    )
                ),
                details={
                    "D_cm2_s": per_T_details[label]["D_cm2_s"],
                    "msd_end_of_fit_A2": per_T_details[label]["msd_end_of_fit_A2"],
                    "run_ids": [r["record"]["run_id"] for r in by_T[T]],
                },
            )
        )

    resolved = [T for T in sorted(by_T) if per_T_details[_temperature_label(T)]["resolved"]]
    if missing_T:
        notes.append(f"no completed run at {', '.join(_temperature_label(t) for t in missing_T)} K")
    if any(math.isnan(_measured_T(r)) for r in ok):
        notes.append("measured temperature missing for some runs: nominal temperature used in the Arrhenius fit")

    sigma = Metric(
        key=f"{TASK}.sigma298", value=math.nan, unit="mS/cm", model=model, task=TASK, n=len(run_results), gated=True
    )
    ea = Metric(
        key=f"{TASK}.activation_energy",
        value=math.nan,
        unit="eV",
        model=model,
        task=TASK,
        n=len(run_results),
        gated=False,
    )
    details: dict[str, Any] = {
        # Arrhenius-plot data (docs/REPORT_SCHEMA.md, "Task 3")
        "temperatures_K": [float(T) for T in sorted(by_T)],
        "D_cm2_s": [float(np.mean([r["D_cm2_s"] for r in by_T[T]])) for T in sorted(by_T)],
        "D_repeats_cm2_s": [[float(r["D_cm2_s"]) for r in by_T[T]] for T in sorted(by_T)],
        "D_err_cm2_s": [
            _finite_or_none(1.959964 * estimate.per_temperature[T]["D_sem_cm2_s"]) if estimate else None
            for T in sorted(by_T)
        ],
        "per_temperature": per_T_details,
        "resolved_temperatures_K": [float(T) for T in resolved],
        "fit_temperatures_K": [],
        "failed_runs": [r["record"]["run_id"] for r in failed],
        "protocol": protocol.to_dict(),
        "mobile_ion": ion if ok else None,  # the diffusing element (plots label their axes with it)
    }
    if not failed:
        details["decide_on"] = "interval"
    if failed:
        notes.append("σ298 is not computed because runs stopped early (the model is not stable in this MD)")
    elif estimate is None:
        notes.append("no completed run with a D: no Arrhenius extrapolation")
    else:
        details["fit_temperatures_K"] = [T for T in sorted(by_T) if estimate.per_temperature[T]["used"]]
        details["fit_temperatures_measured_K"] = [
            estimate.per_temperature[T]["temperature_fit_K"] for T in details["fit_temperatures_K"]
        ]
        details["interval_method"] = estimate.method
        undecidable = estimate.undecidable_reason
        if math.isfinite(estimate.sigma298_mS_cm) and len(resolved) < 2:
            undecidable = (
                f"{ion} hops resolved at {len(resolved)} temperature(s): the fitted line gives less than "
                f"{protocol.gate_min_msd_A2:g} Å^2 of {ion} MSD from hops at the end of the fit window at "
                f"{', '.join(_temperature_label(t) for t in sorted(by_T) if t not in resolved)} K, so the MSD "
                "there is mostly vibration and caging and cannot decide (longer production, or "
                "task3.max_production_ps, would resolve it)"
                + (f"; {estimate.undecidable_reason}" if estimate.undecidable_reason else "")
            )
        if undecidable:
            details["undecidable"] = undecidable
            notes.append(undecidable)
        if math.isfinite(estimate.sigma298_mS_cm):
            sigma.value = estimate.sigma298_mS_cm
            sigma.interval = _finite_interval(estimate.interval_mS_cm)
            ea.value = estimate.activation_energy_eV
            ea.interval = _finite_interval(estimate.activation_energy_interval_eV)
            details.update(
                D298_cm2_s=estimate.D298_cm2_s,
                activation_energy_eV=estimate.activation_energy_eV,
                prefactor_cm2_s=float(estimate.arrhenius.prefactor_cm2_s) if estimate.arrhenius else None,
                li_number_density_cm3=n_li / (volume_A3 * 1e-24),
            )
            if sigma.interval is not None and estimate.sigma298_mS_cm > 0:
                # σ ∝ D at fixed T and density, so the σ interval maps onto D(298 K) directly
                scale = estimate.D298_cm2_s / estimate.sigma298_mS_cm
                details["D298_interval_cm2_s"] = [sigma.interval[0] * scale, sigma.interval[1] * scale]
        else:
            notes.append(f"no Arrhenius extrapolation: {estimate.method}")
    production = [float(r["production_ps_analysed"]) for r in ok if r.get("production_ps_analysed") is not None]
    if production:
        details["production_ps"] = max(production)
    note = "; ".join(notes)
    for metric in (sigma, ea):
        metric.note = note
        metric.details = dict(details)
    return [sigma, ea, *metrics]


def _window_end_ps(run: dict[str, Any], protocol: Task3Protocol) -> float:
    """Last lag of a run's MSD fit window, ps (from the protocol when the result does not carry it)."""
    window = run.get("fit_window_ps")
    if window is not None:
        return float(window[1])
    production = float(run.get("production_ps_analysed") or protocol.production_ps)
    return production * protocol.msd_max_lag_fraction * protocol.fit_end_fraction


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _finite_interval(interval: tuple[float, float]) -> tuple[float, float] | None:
    return interval if all(math.isfinite(v) for v in interval) else None
