"""MD runner over ASE's integrators, with early stops, sampling, progress and timing.

Only ASE integrators are used (no integrator is written here):

* NVT: :class:`ase.md.nose_hoover_chain.NoseHooverChainNVT` (default), or
  :class:`ase.md.bussi.Bussi`, or :class:`ase.md.langevinbaoab.LangevinBAOAB`;
* NPT: :class:`ase.md.nose_hoover_chain.IsotropicMTKNPT` (default; isotropic cell fluctuations,
  Nosé–Hoover chain thermostat + MTK barostat) or :class:`ase.md.nose_hoover_chain.MTKNPT`
  (fully flexible cell).

Units: time step in fs, temperature in K, pressure in Pa, damping times in fs. The run works on the
given :class:`ase.Atoms` in place (positions are NOT wrapped back into the cell, so they are the
unwrapped trajectory that MSD analysis needs).

One model call per step: the calculator is wrapped in
:class:`~pytest_lips.md.calculator.TimedCalculator`, which asks for energy + forces (+ stress in
NPT) together, so the integrator's separate ``get_forces``/``get_stress`` requests at the same
positions are served from the cache. :attr:`MDOutcome.model_calls` lets tests verify this.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator
from ase.md.velocitydistribution import Stationary, thermalize_momenta

from ..errors import LipsSimulationError, LipsUsageError
from ..results import RunRecord
from .calculator import ModelCallError, NonFiniteModelOutput, TimedCalculator
from .checks import StopCheck, default_stop_checks

__all__ = [
    "MDOutcome",
    "NPTSettings",
    "NVTSettings",
    "initialise_velocities",
    "make_integrator",
    "run_md",
]


@dataclass(frozen=True)
class NVTSettings:
    """Canonical ensemble.

    Attributes
    ----------
    thermostat:
        ``"nose_hoover_chain"`` (default; deterministic, canonical), ``"bussi"`` (stochastic velocity
        rescaling) or ``"langevin"`` (BAOAB Langevin).
    tdamp_fs:
        Thermostat time constant, fs (Nosé–Hoover ``tdamp``, Bussi ``taut``, Langevin ``T_tau``).
    tchain:
        Length of the Nosé–Hoover chain.
    """

    thermostat: Literal["nose_hoover_chain", "bussi", "langevin"] = "nose_hoover_chain"
    tdamp_fs: float = 100.0
    tchain: int = 3

    @property
    def npt(self) -> bool:
        return False


@dataclass(frozen=True)
class NPTSettings:
    """Isothermal–isobaric ensemble (Nosé–Hoover chain thermostat + MTK barostat).

    Attributes
    ----------
    barostat:
        ``"isotropic_mtk"`` (default; the cell shape is kept, the volume fluctuates) or ``"mtk"``
        (fully flexible cell).
    tdamp_fs, pdamp_fs:
        Thermostat and barostat time constants, fs (ASE recommends ~100 and ~1000 time steps).
    tchain, pchain:
        Chain lengths of thermostat and barostat.
    """

    barostat: Literal["isotropic_mtk", "mtk"] = "isotropic_mtk"
    tdamp_fs: float = 100.0
    pdamp_fs: float = 1000.0
    tchain: int = 3
    pchain: int = 3

    @property
    def npt(self) -> bool:
        return True


Ensemble = NVTSettings | NPTSettings


@dataclass
class MDOutcome:
    """What happened in one :func:`run_md` call.

    Attributes
    ----------
    steps_requested, steps_done:
        MD steps asked for and integrated.
    completed:
        ``True`` when all steps were integrated without an early stop.
    stop_reason:
        One line saying why the run stopped early (``""`` when completed).
    wall_s:
        Wall time of the MD loop (including checks and sampling), s.
    us_per_atom_step:
        ``wall_s`` per atom per step, µs (``None`` when no step was done).
    model_fraction:
        Share of ``wall_s`` spent inside the model calculator (0..1).
    model_calls:
        Number of model evaluations (one for the initial forces + one per step when caching works).
    n_atoms, timestep_fs:
        System size and time step.
    cpu_s:
        CPU time of this process during the loop (all threads), s — on a shared, oversubscribed
        machine a better measure of the cost than ``wall_s``.
    observables:
        ``temperature_K_mean``, ``volume_A3_mean`` (over check points after step 0),
        ``volume_A3_initial``, ``volume_A3_final``.
    """

    steps_requested: int
    steps_done: int
    completed: bool
    stop_reason: str
    wall_s: float
    us_per_atom_step: float | None
    model_fraction: float | None
    model_calls: int
    n_atoms: int
    timestep_fs: float
    observables: dict[str, float] = field(default_factory=dict)
    cpu_s: float | None = None

    @property
    def time_ps(self) -> float:
        """Simulated time reached, ps."""
        return self.steps_done * self.timestep_fs / 1000.0

    @property
    def outside_model_fraction(self) -> float | None:
        """Share of the wall time spent outside the model (integrator, checks, sampling)."""
        return None if self.model_fraction is None else 1.0 - self.model_fraction

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["time_ps"] = self.time_ps
        return data

    def to_run_record(
        self, task: str, run_id: str, model: str = "", seed: int | None = None, extra: dict | None = None
    ) -> RunRecord:
        """The :class:`~pytest_lips.results.RunRecord` of this run."""
        return RunRecord(
            task=task,
            run_id=run_id,
            model=model,
            steps_requested=self.steps_requested,
            steps_done=self.steps_done,
            time_ps=self.time_ps,
            completed=self.completed,
            stop_reason=self.stop_reason,
            wall_s=self.wall_s,
            us_per_atom_step=self.us_per_atom_step,
            model_fraction=self.model_fraction,
            seed=seed,
            extra={**self.observables, "cpu_s": self.cpu_s, "model_calls": self.model_calls, **(extra or {})},
        )


def initialise_velocities(atoms: Atoms, temperature_K: float, seed: int) -> None:
    """Seeded Maxwell–Boltzmann momenta at exactly ``temperature_K``, zero total momentum.

    No :func:`ase.md.velocitydistribution.ZeroRotation`: in a periodic cell angular momentum is not
    conserved and removing it is not appropriate.
    """
    rng = np.random.default_rng(seed)
    thermalize_momenta(atoms, temperature_K, exact_temperature=True, rng=rng)
    Stationary(atoms)


def make_integrator(
    atoms: Atoms,
    ensemble: Ensemble,
    timestep_fs: float,
    temperature_K: float,
    pressure_Pa: float | None = None,
    seed: int = 0,
):
    """Build the ASE integrator for ``ensemble`` (see the module docstring)."""
    dt = timestep_fs * units.fs
    if isinstance(ensemble, NVTSettings):
        if ensemble.thermostat == "nose_hoover_chain":
            from ase.md.nose_hoover_chain import NoseHooverChainNVT

            return NoseHooverChainNVT(
                atoms,
                dt,
                temperature_K=temperature_K,
                tdamp=ensemble.tdamp_fs * units.fs,
                tchain=ensemble.tchain,
            )
        if ensemble.thermostat == "bussi":
            from ase.md.bussi import Bussi

            return Bussi(
                atoms,
                dt,
                temperature_K=temperature_K,
                taut=ensemble.tdamp_fs * units.fs,
                rng=np.random.default_rng(seed),
            )
        if ensemble.thermostat == "langevin":
            from ase.md.langevinbaoab import LangevinBAOAB

            return LangevinBAOAB(
                atoms,
                dt,
                temperature_K=temperature_K,
                T_tau=ensemble.tdamp_fs * units.fs,
                rng=np.random.default_rng(seed),
            )
        raise LipsUsageError(f"unknown thermostat {ensemble.thermostat!r} (nose_hoover_chain, bussi, langevin)")
    if isinstance(ensemble, NPTSettings):
        if pressure_Pa is None:
            raise LipsUsageError("NPT MD needs pressure_Pa")
        from ase.md.nose_hoover_chain import MTKNPT, IsotropicMTKNPT

        cls = {"isotropic_mtk": IsotropicMTKNPT, "mtk": MTKNPT}.get(ensemble.barostat)
        if cls is None:
            raise LipsUsageError(f"unknown barostat {ensemble.barostat!r} (isotropic_mtk, mtk)")
        return cls(
            atoms,
            dt,
            temperature_K=temperature_K,
            pressure_au=pressure_Pa * units.Pascal,
            tdamp=ensemble.tdamp_fs * units.fs,
            pdamp=ensemble.pdamp_fs * units.fs,
            tchain=ensemble.tchain,
            pchain=ensemble.pchain,
        )
    raise LipsUsageError(f"ensemble must be NVTSettings or NPTSettings, not {type(ensemble).__name__}")


def run_md(
    atoms: Atoms,
    calculator: Calculator,
    ensemble: Ensemble,
    n_steps: int,
    timestep_fs: float,
    temperature_K: float,
    pressure_Pa: float | None = None,
    seed: int = 0,
    sample_interval_steps: int = 0,
    on_sample: Callable[[int, Atoms], None] | None = None,
    progress_callback: Callable[[int], None] | None = None,
    stop_checks: Sequence[StopCheck] | None = None,
    *,
    progress_interval_steps: int | None = None,
    check_interval_steps: int = 10,
    initialise: bool = True,
) -> MDOutcome:
    """Run ``n_steps`` of MD on ``atoms`` (in place) and report what happened.

    Parameters
    ----------
    atoms:
        The system; its positions/momenta/cell are updated in place (positions unwrapped).
    calculator:
        A fresh ASE calculator for this trajectory (wrapped in :class:`TimedCalculator` unless it
        already is one).
    ensemble:
        :class:`NVTSettings` or :class:`NPTSettings`.
    n_steps, timestep_fs, temperature_K, pressure_Pa:
        Length, time step (fs), target temperature (K), target pressure (Pa; NPT only).
    seed:
        Seeds the initial velocities (and the stochastic thermostats).
    sample_interval_steps, on_sample:
        ``on_sample(step, atoms)`` is called at step 0 and every ``sample_interval_steps`` steps
        (after the stop checks of that step passed). ``0`` disables sampling.
    progress_callback, progress_interval_steps:
        ``progress_callback(steps_done)`` every ``progress_interval_steps`` steps (default: every
        2 % of the run, at least every 500 steps) and at the end.
    stop_checks, check_interval_steps:
        Early-stop checks run every ``check_interval_steps`` steps and at the end; ``None`` uses
        :func:`~pytest_lips.md.checks.default_stop_checks`. NaN/inf model outputs stop the run at
        the step they occur.
    initialise:
        Draw seeded Maxwell–Boltzmann velocities at ``temperature_K`` (set ``False`` to continue
        from the momenta already on ``atoms``).
    """
    if n_steps < 0:
        raise LipsUsageError(f"n_steps must be >= 0, got {n_steps}")
    if check_interval_steps < 1 or (progress_interval_steps is not None and progress_interval_steps < 1):
        raise LipsUsageError("check_interval_steps and progress_interval_steps must be >= 1")
    npt = ensemble.npt
    properties = ("energy", "forces", "stress") if npt else ("energy", "forces")
    timed = calculator if isinstance(calculator, TimedCalculator) else TimedCalculator(calculator, properties)
    atoms.calc = timed
    if initialise:
        initialise_velocities(atoms, temperature_K, seed)
    checks = list(default_stop_checks(npt) if stop_checks is None else stop_checks)
    for check in checks:
        check.start(atoms)
    if progress_interval_steps is None:
        progress_interval_steps = max(1, min(500, n_steps // 50))
    intervals = [
        i
        for i in (sample_interval_steps if on_sample else 0, check_interval_steps, progress_interval_steps)
        if i and i > 0
    ]

    dyn = make_integrator(atoms, ensemble, timestep_fs, temperature_K, pressure_Pa, seed)
    volume0 = float(atoms.get_volume()) if atoms.cell.rank == 3 else math.nan
    temperatures: list[float] = []
    volumes: list[float] = []
    stop_reason = ""
    done = 0
    timed.reset_counters()
    start = time.perf_counter()
    cpu_start = time.process_time()
    try:
        for check in checks:
            reason = check.check(atoms)
            if reason:
                stop_reason = f"{reason} at step 0"
                break
        if not stop_reason and on_sample is not None and sample_interval_steps > 0:
            on_sample(0, atoms)
        while done < n_steps and not stop_reason:
            target = min([n_steps] + [(done // i + 1) * i for i in intervals])
            try:
                dyn.run(target - done)
            finally:
                done = dyn.nsteps
            if done % check_interval_steps == 0 or done == n_steps:
                for check in checks:
                    reason = check.check(atoms)
                    if reason:
                        stop_reason = f"{reason} at step {done}"
                        break
                if stop_reason:
                    break
                temperatures.append(float(atoms.get_temperature()))
                if npt:
                    volumes.append(float(atoms.get_volume()))
            if on_sample is not None and sample_interval_steps > 0 and done % sample_interval_steps == 0:
                on_sample(done, atoms)
            if progress_callback is not None and (done % progress_interval_steps == 0 or done == n_steps):
                progress_callback(done)
    except (NonFiniteModelOutput, ModelCallError) as exc:
        stop_reason = f"{exc} at step {dyn.nsteps}"
        done = dyn.nsteps
    except (FloatingPointError, OverflowError) as exc:
        stop_reason = f"numerical overflow in the integrator ({exc}) at step {dyn.nsteps}"
        done = dyn.nsteps
    except LipsSimulationError as exc:
        stop_reason = f"{exc} at step {dyn.nsteps}"
        done = dyn.nsteps
    wall_s = time.perf_counter() - start
    cpu_s = time.process_time() - cpu_start
    if stop_reason and progress_callback is not None:
        progress_callback(done)
    n_atoms = len(atoms)
    observables: dict[str, float] = {"volume_A3_initial": volume0}
    if temperatures:
        observables["temperature_K_mean"] = float(np.mean(temperatures))
    if volumes:
        observables["volume_A3_mean"] = float(np.mean(volumes))
    try:
        observables["volume_A3_final"] = float(atoms.get_volume())
    except Exception:  # degenerate cell after a blow-up
        observables["volume_A3_final"] = math.nan
    # JSON-safe: NaN/inf (a blown-up run) become None
    observables = {k: (v if math.isfinite(v) else None) for k, v in observables.items()}  # type: ignore[misc]
    return MDOutcome(
        steps_requested=n_steps,
        steps_done=done,
        completed=not stop_reason and done == n_steps,
        stop_reason=stop_reason,
        wall_s=wall_s,
        us_per_atom_step=(wall_s / (done * n_atoms) * 1e6) if done else None,
        model_fraction=(timed.model_time_s / wall_s) if wall_s > 0 else None,
        model_calls=timed.calls,
        n_atoms=n_atoms,
        timestep_fs=timestep_fs,
        observables=observables,
        cpu_s=cpu_s,
    )
