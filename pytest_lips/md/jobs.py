"""What an MD engine is asked to do (:class:`MDJob`) and what it hands back (:class:`MDTrajectory`).

The split follows pytest-benchmark's storage pattern: tasks *describe* jobs and *reduce* arrays;
engines (:mod:`pytest_lips.md.engines`) only integrate. A task never sees an integrator or an
:class:`ase.Atoms` callback, so the same task code runs on one ASE trajectory at a time or on all
of its trajectories as one batched torch-sim system.

Units: Å, fs, K, Pa, amu; momenta in ASE units (amu·Å/ASE-time, ``atoms.get_momenta()``).
Positions are unwrapped (no engine wraps atoms back into the cell), as MSD analysis needs.
Temperatures are instantaneous kinetic temperatures ``2 E_kin / (3 N k_B)`` (ASE's
``Atoms.get_temperature`` definition, no centre-of-mass correction) computed the same way by every
engine. Pressures are ``-tr(σ)/3 + 2 E_kin / (3 V)`` (virial from the model stress + kinetic term).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from ase import Atoms, units

from ..analysis.contacts import has_close_contact, minimum_pair_distance_A
from .checks import DEFAULT_PAIR_FLOOR_A, DEFAULT_VOLUME_FACTOR
from .engine import NPTSettings, NVTSettings

__all__ = [
    "MDJob",
    "MDTrajectory",
    "array_stop_reason",
    "kinetic_temperature_K",
    "pressure_Pa",
]


@dataclass
class MDJob:
    """One MD trajectory to integrate.

    Attributes
    ----------
    job_id:
        Unique within one ``engine.run(jobs)`` call (e.g. the task's run id).
    atoms:
        Start structure (not modified; engines work on copies). With
        ``initialise_velocities=False`` its momenta are the starting momenta.
    ensemble:
        :class:`~pytest_lips.md.engine.NVTSettings` or :class:`~pytest_lips.md.engine.NPTSettings`.
    temperature_K, pressure_Pa:
        Targets, K and Pa (``pressure_Pa`` is used in NPT only; ``None`` for NVT).
    timestep_fs, n_steps:
        Time step (fs) and number of steps to integrate.
    sample_interval_steps, sample_from_step:
        Frames are stored at every step ``s`` with ``s % sample_interval_steps == 0`` and
        ``s >= sample_from_step`` (step 0 included when ``sample_from_step == 0``).
        ``sample_interval_steps = 0`` stores no frames.
    seed:
        Seeds the Maxwell–Boltzmann velocities (and stochastic thermostats).
    pair_floor_A, volume_factor:
        Early stops: a pair closer than ``pair_floor_A`` Å; ``V/V0`` beyond ``volume_factor``
        (NPT only). Non-finite positions, momenta, cell or model output always stop the job.
    initialise_velocities:
        ``False`` continues from the momenta carried on ``atoms`` (continuation in chunks).
    check_interval_steps:
        Stop checks run every this many steps and at the last step.
    """

    job_id: str
    atoms: Atoms
    ensemble: NVTSettings | NPTSettings
    temperature_K: float
    pressure_Pa: float | None
    timestep_fs: float
    n_steps: int
    sample_interval_steps: int
    seed: int
    sample_from_step: int = 0
    pair_floor_A: float = DEFAULT_PAIR_FLOOR_A
    volume_factor: float = DEFAULT_VOLUME_FACTOR
    initialise_velocities: bool = True
    check_interval_steps: int = 10

    def __post_init__(self) -> None:
        if self.n_steps < 0 or self.sample_interval_steps < 0 or self.check_interval_steps < 1:
            raise ValueError(
                f"MDJob {self.job_id}: need n_steps >= 0, sample_interval_steps >= 0, check_interval_steps >= 1"
            )
        if self.ensemble.npt and self.pressure_Pa is None:
            raise ValueError(f"MDJob {self.job_id}: an NPT job needs pressure_Pa")

    @property
    def npt(self) -> bool:
        return self.ensemble.npt

    def samples_at(self, step: int) -> bool:
        """Whether a frame is stored at ``step``."""
        return (
            self.sample_interval_steps > 0 and step % self.sample_interval_steps == 0 and step >= self.sample_from_step
        )


@dataclass
class MDTrajectory:
    """Arrays of one integrated job (``F`` frames of ``N`` atoms).

    Attributes
    ----------
    steps:
        Step number of every stored frame, shape ``(F,)``.
    positions_A, cells_A:
        Unwrapped positions ``(F, N, 3)`` and cells ``(F, 3, 3)``, Å.
    temperatures_K, volumes_A3:
        Kinetic temperature (K) and volume (Å^3) per frame, ``(F,)``.
    pressures_Pa:
        Instantaneous pressure per frame (Pa) in NPT; ``None`` in NVT (no stress computed).
    steps_done, completed, stop_reason:
        Steps integrated, whether all were, and the one-line reason of an early stop (``""``).
    wall_s:
        This job's share of the engine's wall time, s (a batch's time split by atom-steps).
    us_per_atom_step:
        Wall time per atom per step of the run that integrated this job, µs.
    model_calls:
        Model evaluations that included this job (a batched call counts once per job in it).
    final_positions_A, final_momenta, final_cell_A:
        State at ``steps_done`` (continue from it with :meth:`final_atoms`); may hold NaN after a
        blow-up.
    engine, batch_size:
        Engine name and the number of jobs integrated together with this one (1 for ASE).
    extra:
        ``temperature_K_mean`` (over check points after step 0), ``volume_A3_mean`` (NPT),
        ``volume_A3_initial``, ``volume_A3_final``, ``model_fraction``, ``cpu_s``, ... (JSON-safe).
    """

    job_id: str
    steps: np.ndarray
    positions_A: np.ndarray
    cells_A: np.ndarray
    temperatures_K: np.ndarray
    volumes_A3: np.ndarray
    pressures_Pa: np.ndarray | None
    steps_done: int
    completed: bool
    stop_reason: str
    wall_s: float
    us_per_atom_step: float | None
    model_calls: int
    final_positions_A: np.ndarray
    final_momenta: np.ndarray
    final_cell_A: np.ndarray
    engine: str
    batch_size: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.steps.size)

    def final_atoms(self, template: Atoms) -> Atoms:
        """``template`` (symbols, pbc) with this trajectory's final positions, momenta and cell."""
        atoms = template.copy()
        atoms.set_cell(self.final_cell_A, scale_atoms=False)
        atoms.positions = self.final_positions_A
        atoms.set_momenta(self.final_momenta)
        return atoms

    def to_run_record(
        self,
        task: str,
        run_id: str,
        timestep_fs: float,
        steps_requested: int,
        model: str = "",
        seed: int | None = None,
        extra: dict | None = None,
    ):
        """The :class:`~pytest_lips.results.RunRecord` of this trajectory (engine and batch size in ``extra``)."""
        from ..results import RunRecord

        return RunRecord(
            task=task,
            run_id=run_id,
            model=model,
            steps_requested=steps_requested,
            steps_done=self.steps_done,
            time_ps=self.steps_done * timestep_fs / 1000.0,
            completed=self.completed,
            stop_reason=self.stop_reason,
            wall_s=self.wall_s,
            us_per_atom_step=self.us_per_atom_step,
            model_fraction=self.extra.get("model_fraction"),
            seed=seed,
            extra={
                **_json_safe(self.extra),
                "model_calls": self.model_calls,
                "engine": self.engine,
                "batch_size": self.batch_size,
                **(extra or {}),
            },
        )


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in data.items()}


def kinetic_temperature_K(momenta: np.ndarray, masses_amu: np.ndarray) -> float:
    """``2 E_kin / (3 N k_B)``, K (the definition of ASE's ``Atoms.get_temperature``)."""
    e_kin = 0.5 * float(np.sum(momenta**2 / masses_amu[:, None]))
    return 2.0 * e_kin / (3.0 * len(masses_amu) * units.kB)


def pressure_Pa(stress_eV_A3: np.ndarray, momenta: np.ndarray, masses_amu: np.ndarray, volume_A3: float) -> float:
    """Instantaneous pressure ``-tr(σ)/3 + 2 E_kin / (3 V)``, Pa (σ: model stress, eV/Å^3, 3×3 or Voigt 6)."""
    stress = np.asarray(stress_eV_A3, dtype=float)
    trace = float(np.trace(stress)) if stress.shape == (3, 3) else float(np.sum(stress[:3]))
    e_kin = 0.5 * float(np.sum(momenta**2 / masses_amu[:, None]))
    return (-trace / 3.0 + 2.0 * e_kin / (3.0 * volume_A3)) / units.Pascal


def array_stop_reason(
    positions_A: np.ndarray,
    cell_A: np.ndarray,
    momenta: np.ndarray | None,
    numbers: np.ndarray,
    *,
    volume0_A3: float,
    npt: bool,
    pair_floor_A: float,
    volume_factor: float,
) -> str | None:
    """The early-stop checks of :mod:`pytest_lips.md.checks` on arrays: ``None`` or a one-line reason.

    Same order and wording as :func:`~pytest_lips.md.checks.default_stop_checks`: non-finite
    positions/velocities/cell, a pair closer than ``pair_floor_A`` Å, and (NPT) ``V/V0`` outside
    ``[1/volume_factor, volume_factor]``.
    """
    if not np.all(np.isfinite(positions_A)):
        return "non-finite positions"
    if momenta is not None and not np.all(np.isfinite(momenta)):
        return "non-finite velocities"
    if not np.all(np.isfinite(cell_A)):
        return "non-finite cell"
    atoms = Atoms(numbers=numbers, positions=positions_A, cell=cell_A, pbc=True)
    if has_close_contact(atoms, pair_floor_A):
        return f"pair closer than {pair_floor_A:g} Å (d_min = {minimum_pair_distance_A(atoms):.3f} Å)"
    if npt:
        volume = float(abs(np.linalg.det(cell_A)))
        if not math.isfinite(volume):
            return "non-finite cell volume"
        ratio = volume / volume0_A3
        if ratio > volume_factor or ratio < 1.0 / volume_factor:
            return f"volume changed by more than a factor {volume_factor:g} (V/V0 = {ratio:.3g}, V = {volume:.1f} Å^3)"
    return None
