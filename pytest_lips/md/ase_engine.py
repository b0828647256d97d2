"""The ASE engine: one ASE trajectory after the other through :func:`~pytest_lips.md.engine.run_md`
(ASE's ``NoseHooverChainNVT`` / ``IsotropicMTKNPT`` / ``MTKNPT`` / ``Bussi`` / ``LangevinBAOAB``), any
ASE calculator, one model call per trajectory per step. Units as in :mod:`pytest_lips.md.jobs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ase import Atoms

from ..errors import LipsUsageError
from ._engine_common import Progress, announce, check_unique, frame_arrays, package_version
from .checks import default_stop_checks
from .engine import initialise_velocities, run_md
from .jobs import MDJob, MDTrajectory, kinetic_temperature_K, pressure_Pa

__all__ = ["AseEngine"]


class AseEngine:
    """Sequential ASE MD (today's behaviour): one fresh calculator and one :func:`run_md` per job.

    ``model`` is anything with ``new_calculator(stress: bool)`` (a :class:`~pytest_lips.models.LipsModel`)
    or a zero-argument callable returning a fresh ASE calculator.
    """

    name = "ase"

    def __init__(self) -> None:
        self.version = package_version("ase")

    def identity(self) -> str:
        return f"ase-{self.version}"

    def run(
        self, jobs: Sequence[MDJob], model: Any, progress: Progress | None = None, checkpoint: Any = None
    ) -> list[MDTrajectory]:
        """Integrate the jobs one after the other. ``checkpoint`` is ignored: ASE's integrators keep their
        thermostat state in objects of their own (README, "MD progress survives interruption")."""
        del checkpoint
        check_unique(jobs)
        done_before = 0
        out = []
        for job in jobs:

            def job_progress(steps: int, offset: int = done_before) -> None:
                if progress is not None:
                    progress(offset + steps)

            announce(progress, [job.job_id])
            out.append(self.run_one(job, model, job_progress))
            done_before += job.n_steps
        return out

    def run_one(self, job: MDJob, model: Any, progress: Progress | None = None) -> MDTrajectory:
        """Integrate one job with :func:`run_md`."""
        atoms = job.atoms.copy()
        if not job.initialise_velocities and not atoms.has("momenta"):
            raise LipsUsageError(f"MD job {job.job_id}: initialise_velocities=False needs momenta on the atoms")
        calc = model.new_calculator(stress=job.npt) if hasattr(model, "new_calculator") else model()
        masses = atoms.get_masses()
        frames: dict[str, list] = {"steps": [], "pos": [], "cell": [], "T": [], "V": [], "p": []}

        def on_sample(step: int, current: Atoms) -> None:
            if step < job.sample_from_step:
                return
            momenta = current.get_momenta()
            volume = float(current.get_volume())
            frames["steps"].append(step)
            frames["pos"].append(current.positions.copy())
            frames["cell"].append(current.cell.array.copy())
            frames["T"].append(kinetic_temperature_K(momenta, masses))
            frames["V"].append(volume)
            if job.npt:
                frames["p"].append(
                    pressure_Pa(current.get_stress(voigt=False, include_ideal_gas=False), momenta, masses, volume)
                )

        if job.initialise_velocities:
            initialise_velocities(atoms, job.temperature_K, job.seed)
        outcome = run_md(
            atoms,
            calc,
            job.ensemble,
            n_steps=job.n_steps,
            timestep_fs=job.timestep_fs,
            temperature_K=job.temperature_K,
            pressure_Pa=job.pressure_Pa,
            seed=job.seed,
            sample_interval_steps=job.sample_interval_steps,
            on_sample=on_sample if job.sample_interval_steps else None,
            progress_callback=progress,
            check_interval_steps=job.check_interval_steps,
            stop_checks=default_stop_checks(job.npt, job.pair_floor_A, job.volume_factor),
            initialise=False,
        )
        n = len(atoms)
        extra: dict[str, Any] = dict(outcome.observables)
        extra.update(
            model_fraction=outcome.model_fraction,
            cpu_s=outcome.cpu_s,
            batch_wall_s=outcome.wall_s,
            engine_identity=self.identity(),
        )
        return MDTrajectory(
            job_id=job.job_id,
            **frame_arrays(frames, n, job.npt),
            steps_done=outcome.steps_done,
            completed=outcome.completed,
            stop_reason=outcome.stop_reason,
            wall_s=outcome.wall_s,
            us_per_atom_step=outcome.us_per_atom_step,
            model_calls=outcome.model_calls,
            final_positions_A=atoms.positions.copy(),
            final_momenta=atoms.get_momenta().copy(),
            final_cell_A=atoms.cell.array.copy(),
            engine=self.name,
            batch_size=1,
            extra=extra,
        )
