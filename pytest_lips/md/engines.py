"""MD engines: integrate a list of :class:`~pytest_lips.md.jobs.MDJob` into :class:`~pytest_lips.md.jobs.MDTrajectory`.

* :class:`AseEngine` (``"ase"``) — one ASE trajectory after the other through
  :func:`~pytest_lips.md.engine.run_md` (ASE's ``NoseHooverChainNVT`` / ``IsotropicMTKNPT`` /
  ``MTKNPT`` / ``Bussi`` / ``LangevinBAOAB``), any ASE calculator, one model call per trajectory
  per step.
* :class:`TorchSimEngine` (``"torch-sim"``) — every job as one batched torch-sim system (one model
  call per step for all of them): torch-sim's Nosé–Hoover chain NVT
  (:func:`torch_sim.nvt_nose_hoover_step`, Martyna et al. 1996, the same equations as ASE's
  ``NoseHooverChainNVT``) and, for NPT, :func:`torch_sim.npt_nose_hoover_isotropic_step`. That
  barostat is the closest of torch-sim's to ASE's ``IsotropicMTKNPT``: both integrate the
  Martyna–Tobias–Klein isotropic equations (Tuckerman et al. 2006: log-volume coordinate
  ``ε = ln(V/V0)/3``, cell shape kept, ``α = 1 + 3/N_f``) with separate Nosé–Hoover chains on the
  particles and on the barostat, deterministic and time-reversible. torch-sim's other isotropic
  barostats are stochastic (``npt_langevin_isotropic``: Langevin piston; ``npt_crescale``:
  stochastic cell rescaling) and sample the same ensemble with different dynamics.

``select_engine(choice, model)`` is the one place the engine is chosen (``--lips-engine``):
``auto`` = torch-sim when it is installed and the model offers a torch-sim model
(:meth:`pytest_lips.models.LipsModel.torch_sim_model`), else ASE.

Early stops (:func:`~pytest_lips.md.jobs.array_stop_reason`) act on one job: in a batch the
stopped system leaves the batch and the others go on. Units as in :mod:`pytest_lips.md.jobs`.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
from ase import Atoms, units

from ..errors import LipsUsageError
from .checks import default_stop_checks
from .engine import NPTSettings, NVTSettings, initialise_velocities, run_md
from .jobs import (
    MDJob,
    MDTrajectory,
    array_stop_reason,
    kinetic_temperature_K,
    pressure_Pa,
)

__all__ = [
    "ENGINE_CHOICES",
    "AseEngine",
    "MDEngine",
    "TorchSimEngine",
    "select_engine",
    "torch_sim_available",
]

#: Values of ``--lips-engine``.
ENGINE_CHOICES = ("auto", "ase", "torch-sim")

Progress = Callable[[int], None]


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


def _announce(progress: Progress | None, run_ids: list[str]) -> None:
    """Tell a progress callback that offers ``set_running`` (``lips_progress``'s) which runs are in flight."""
    set_running = getattr(progress, "set_running", None)
    if set_running is not None:
        set_running(run_ids)


def torch_sim_available() -> bool:
    """Whether torch-sim (``torch-sim-atomistic``, Python >= 3.12) can be imported."""
    return importlib.util.find_spec("torch_sim") is not None


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------------------------------------
# ASE


class AseEngine:
    """Sequential ASE MD (today's behaviour): one fresh calculator and one :func:`run_md` per job.

    ``model`` is anything with ``new_calculator(stress: bool)`` (a :class:`~pytest_lips.models.LipsModel`)
    or a zero-argument callable returning a fresh ASE calculator.
    """

    name = "ase"

    def __init__(self) -> None:
        self.version = _version("ase")

    def identity(self) -> str:
        return f"ase-{self.version}"

    def run(
        self, jobs: Sequence[MDJob], model: Any, progress: Progress | None = None, checkpoint: Any = None
    ) -> list[MDTrajectory]:
        """Integrate the jobs one after the other. ``checkpoint`` is ignored: ASE's integrators keep their
        thermostat state in objects of their own (README, "MD progress survives interruption")."""
        del checkpoint
        _check_unique(jobs)
        done_before = 0
        out = []
        for job in jobs:

            def job_progress(steps: int, offset: int = done_before) -> None:
                if progress is not None:
                    progress(offset + steps)

            _announce(progress, [job.job_id])
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
            steps=np.asarray(frames["steps"], dtype=int),
            positions_A=np.asarray(frames["pos"], dtype=float).reshape(-1, n, 3),
            cells_A=np.asarray(frames["cell"], dtype=float).reshape(-1, 3, 3),
            temperatures_K=np.asarray(frames["T"], dtype=float),
            volumes_A3=np.asarray(frames["V"], dtype=float),
            pressures_Pa=np.asarray(frames["p"], dtype=float) if job.npt else None,
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


def _check_unique(jobs: Sequence[MDJob]) -> None:
    ids = [job.job_id for job in jobs]
    if len(set(ids)) != len(ids):
        raise LipsUsageError(f"MD job ids must be unique within one engine call: {ids}")


# ---------------------------------------------------------------------------------------------
# torch-sim


class _TimedModel:
    """Counts and times calls of a torch-sim model (attributes are delegated to it)."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.calls = 0
        self.time_s = 0.0

    def __call__(self, state: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self._model(state, **kwargs)
        finally:
            self.calls += 1
            self.time_s += time.perf_counter() - start

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def _slice_chain(chain: Any, keep: Any, n_systems: int) -> Any:
    """A Nosé–Hoover chain (a *global* attribute of torch-sim states, so not sliced by
    ``state[keep]``) restricted to the systems ``keep``: every tensor whose first axis is the
    system axis is indexed."""
    import dataclasses

    import torch

    updates = {}
    for f in dataclasses.fields(chain):
        value = getattr(chain, f.name)
        if isinstance(value, torch.Tensor) and value.ndim >= 1 and value.shape[0] == n_systems:
            updates[f.name] = value[keep].clone()
    return dataclasses.replace(chain, **updates)


class TorchSimEngine:
    """All jobs of a call integrated as batched torch-sim systems (see the module docstring).

    Jobs are grouped by ensemble settings and time step (per-system temperatures and pressures are
    fine within a group); each group runs as one batch. On a CUDA device the batch is split by
    torch-sim's :class:`torch_sim.autobatching.BinningAutoBatcher` when it does not fit in memory;
    ``max_systems`` caps the batch size by hand.

    Parameters
    ----------
    device:
        Torch device (default: the model's ``device``).
    dtype:
        ``torch.float32`` (default; what the graph-pes example model is trained in) or ``torch.float64``.
    max_systems:
        At most this many jobs per batch (``None``: all, or what the autobatcher allows on GPU).
    cpu_max_atoms:
        On a CPU, consecutive jobs are batched up to this many atoms (at least one job per batch).
        Measured with the example model on 2 shared cores (``benchmarks/md_engines.py``): 6 x 84 atoms
        in one batch ran at 1.28x the CPU throughput of sequential ASE, 15 x 672 atoms in one batch at
        0.67x (large batches lose on CPU caches), hence the cap. ``None``: no cap.
    """

    name = "torch-sim"

    def __init__(
        self,
        device: str | None = None,
        dtype: Any = None,
        max_systems: int | None = None,
        cpu_max_atoms: int | None = 1024,
    ) -> None:
        import torch

        self.version = _version("torch-sim-atomistic")
        self.device = device
        self.dtype = dtype if dtype is not None else torch.float32
        self.max_systems = max_systems
        self.cpu_max_atoms = cpu_max_atoms
        #: Batch sizes of the last :meth:`run` (for reports).
        self.batch_sizes: list[int] = []

    def identity(self) -> str:
        return f"torch-sim-{self.version}-{str(self.dtype).replace('torch.', '')}"

    # -- public ---------------------------------------------------------------------------------
    def run(
        self, jobs: Sequence[MDJob], model: Any, progress: Progress | None = None, checkpoint: Any = None
    ) -> list[MDTrajectory]:
        _check_unique(jobs)
        self.batch_sizes = []
        device = self.device or getattr(model, "device", None) or "cpu"
        needs_stress = any(job.npt for job in jobs)
        ts_model = (
            model.torch_sim_model(device=device, dtype=self.dtype, compute_stress=needs_stress)
            if hasattr(model, "torch_sim_model")
            else model
        )
        if ts_model is None:
            raise LipsUsageError(
                f"--lips-engine torch-sim: model {getattr(model, 'name', model)!r} has no torch-sim model "
                "(graph-pes models and module:callable factories returning a torch-sim ModelInterface "
                "have one); use --lips-engine ase"
            )
        groups: dict[tuple, list[int]] = {}
        for i, job in enumerate(jobs):
            if isinstance(job.ensemble, NVTSettings) and job.ensemble.thermostat != "nose_hoover_chain":
                raise LipsUsageError(
                    f"--lips-engine torch-sim: thermostat {job.ensemble.thermostat!r} is not "
                    "available (nose_hoover_chain only); use --lips-engine ase"
                )
            if isinstance(job.ensemble, NPTSettings) and job.ensemble.barostat != "isotropic_mtk":
                raise LipsUsageError(
                    f"--lips-engine torch-sim: barostat {job.ensemble.barostat!r} is not "
                    "available (isotropic_mtk only); use --lips-engine ase"
                )
            groups.setdefault((job.ensemble, float(job.timestep_fs)), []).append(i)
        results: list[MDTrajectory | None] = [None] * len(jobs)
        done_offset = 0
        for indices in groups.values():
            for batch in self._bins([jobs[i] for i in indices], indices, ts_model, device):

                def batch_progress(steps: int, offset: int = done_offset) -> None:
                    if progress is not None:
                        progress(offset + steps)

                _announce(progress, [jobs[i].job_id for i in batch])
                trajectories = self._run_batch([jobs[i] for i in batch], ts_model, device, batch_progress, checkpoint)
                for i, traj in zip(batch, trajectories):
                    results[i] = traj
                done_offset += sum(jobs[i].n_steps for i in batch)
                self.batch_sizes.append(len(batch))
        return [r for r in results if r is not None]

    # -- batching -------------------------------------------------------------------------------
    def _bins(self, jobs: list[MDJob], indices: list[int], ts_model: Any, device: str) -> list[list[int]]:
        size = len(jobs) if self.max_systems is None else max(1, self.max_systems)
        if self.max_systems is None and str(device).startswith("cuda") and len(jobs) > 1:
            import torch
            import torch_sim as ts

            states = [ts.io.atoms_to_state([job.atoms], device=torch.device(device), dtype=self.dtype) for job in jobs]
            batcher: Any = ts.autobatching.BinningAutoBatcher(
                ts_model, memory_scales_with=getattr(ts_model, "memory_scales_with", "n_atoms_x_density")
            )
            batcher.load_states(states)
            return [[indices[j] for j in idx] for idx in batcher.index_bins]
        if self.cpu_max_atoms is not None and not str(device).startswith("cuda"):
            bins: list[list[int]] = [[]]
            atoms_in = 0
            for i, job in zip(indices, jobs):
                n = len(job.atoms)
                if bins[-1] and (atoms_in + n > self.cpu_max_atoms or len(bins[-1]) >= size):
                    bins.append([])
                    atoms_in = 0
                bins[-1].append(i)
                atoms_in += n
            return bins
        return [indices[k : k + size] for k in range(0, len(indices), size)]

    def _run_batch(
        self, jobs: list[MDJob], ts_model: Any, device: str, progress: Progress, checkpoint: Any = None
    ) -> list[MDTrajectory]:
        import dataclasses

        import torch
        import torch_sim as ts

        dtype = self.dtype
        ensemble = jobs[0].ensemble
        npt = ensemble.npt
        timestep_fs = jobs[0].timestep_fs
        start_atoms = []
        for job in jobs:
            atoms = job.atoms.copy()
            if job.initialise_velocities:
                initialise_velocities(atoms, job.temperature_K, job.seed)
            elif not atoms.has("momenta"):
                raise LipsUsageError(f"MD job {job.job_id}: initialise_velocities=False needs momenta on the atoms")
            start_atoms.append(atoms)
        sizes = [len(a) for a in start_atoms]
        numbers = [a.numbers.copy() for a in start_atoms]
        masses = [a.get_masses() for a in start_atoms]
        volume0 = [float(a.get_volume()) for a in start_atoms]
        model: Any = _TimedModel(ts_model)

        def tensor(values: Any) -> torch.Tensor:
            return torch.as_tensor(np.asarray(values, dtype=float), device=device, dtype=dtype)

        state: Any = ts.io.atoms_to_state(start_atoms, device=torch.device(device), dtype=dtype)
        momenta = tensor(np.concatenate([a.get_momenta() for a in start_atoms]))
        # NVT: torch-sim's chain counts N_f = 3N - 3 degrees of freedom (the centre of mass is at rest),
        # ASE's NoseHooverChainNVT 3N. kT' = kT 3N / (3N - 3) makes the first chain element identical to
        # ASE's (Q1 = 3N kT tau^2, force 2 E_kin - 3N kT): both engines target 2 <E_kin> = 3N k_B T, so the
        # kinetic temperature of jobs.py reads T on either engine. NPT keeps kT (the cell mass
        # W = 3 (N + 1) kT tau_p^2 is then ASE's); its particle chain targets (3N - 3) k_B T, i.e. a kinetic
        # temperature (1 - 1/N) T (0.1 % at the 1008 atoms of Task 4).
        scale = [1.0 if npt else 3 * n / (3 * n - 3) for n in sizes]
        kT = tensor([job.temperature_K * units.kB * f for job, f in zip(jobs, scale)])
        p_ext = tensor([(job.pressure_Pa or 0.0) * units.Pascal for job in jobs])
        dt = tensor(timestep_fs * units.fs)
        wall_start = time.perf_counter()
        cpu_start = time.process_time()
        if npt:
            assert isinstance(ensemble, NPTSettings)
            state = ts.npt_nose_hoover_isotropic_init(
                state,
                model,
                kT=kT,
                dt=dt,
                chain_length=ensemble.tchain,
                t_tau=tensor(ensemble.tdamp_fs * units.fs),
                b_tau=tensor(ensemble.pdamp_fs * units.fs),
                momenta=momenta,
            )

            def step(s: Any, kT_: Any, p_: Any) -> Any:
                return ts.npt_nose_hoover_isotropic_step(s, model, dt=dt, kT=kT_, external_pressure=p_)

            chain_names: tuple[str, ...] = ("thermostat", "barostat")
        else:
            state = ts.nvt_nose_hoover_init(
                state,
                model,
                kT=kT,
                dt=dt,
                tau=tensor(ensemble.tdamp_fs * units.fs),
                chain_length=ensemble.tchain,
                momenta=momenta,
            )

            def step(s: Any, kT_: Any, p_: Any) -> Any:
                return ts.nvt_nose_hoover_step(s, model, dt=dt, kT=kT_)

            chain_names = ("chain",)

        n_jobs = len(jobs)
        active = list(range(n_jobs))  # job index of every system in the batch, in batch order
        frames: list[dict[str, list]] = [{"steps": [], "pos": [], "cell": [], "T": [], "V": [], "p": []} for _ in jobs]
        temps_check: list[list[float]] = [[] for _ in jobs]
        vols_check: list[list[float]] = [[] for _ in jobs]
        steps_done = [0] * n_jobs
        stop_reason = [""] * n_jobs
        final: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * n_jobs
        calls_in = [0] * n_jobs

        def host_arrays(s: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
            pos = s.positions.detach().cpu().double().numpy()
            mom = s.momenta.detach().cpu().double().numpy()
            cell = (s.current_cell if npt else s.cell).mT.detach().cpu().double().numpy()
            stress = s.stress.detach().cpu().double().numpy() if npt else None
            return pos, mom, cell, stress

        def offsets() -> list[int]:
            return [0, *np.cumsum([sizes[j] for j in active]).tolist()]

        def remove(stopped: list[int]) -> Any:
            nonlocal state, kT, p_ext, active
            keep_pos = [k for k, j in enumerate(active) if j not in stopped]
            if not keep_pos:  # every system stopped: torch-sim cannot hold an empty state
                active = []
                return
            n_sys = len(active)
            keep = torch.as_tensor(keep_pos, device=state.positions.device, dtype=torch.long)
            new_state = state[keep]
            for name in chain_names:
                setattr(new_state, name, _slice_chain(getattr(state, name), keep, n_sys))
            state, kT, p_ext = new_state, kT[keep], p_ext[keep]
            active = [active[k] for k in keep_pos]

        def stop(pos_in_batch: list[int], reasons: list[str], at_step: int, host: tuple | None = None) -> None:
            host = host or host_arrays(state)
            off = offsets()
            for k, reason in zip(pos_in_batch, reasons):
                j = active[k]
                sl = slice(off[k], off[k + 1])
                final[j] = (host[0][sl].copy(), host[1][sl].copy(), host[2][k].copy())
                stop_reason[j] = f"{reason} at step {at_step}"
                steps_done[j] = at_step
            remove([active[k] for k in pos_in_batch])

        def observe(at_step: int) -> None:
            """Stop checks, check-point observables and frames of every active system at ``at_step``."""
            host = host_arrays(state)
            off = offsets()
            bad, reasons = [], []
            for k, j in enumerate(active):
                job = jobs[j]
                sl = slice(off[k], off[k + 1])
                is_check = at_step % job.check_interval_steps == 0 or at_step == job.n_steps
                if is_check:
                    reason = array_stop_reason(
                        host[0][sl],
                        host[2][k],
                        host[1][sl],
                        numbers[j],
                        volume0_A3=volume0[j],
                        npt=npt,
                        pair_floor_A=job.pair_floor_A,
                        volume_factor=job.volume_factor,
                    )
                    if reason:
                        bad.append(k)
                        reasons.append(reason)
                        continue
                temperature = kinetic_temperature_K(host[1][sl], masses[j])
                volume = float(abs(np.linalg.det(host[2][k])))
                if is_check and at_step > 0:
                    temps_check[j].append(temperature)
                    if npt:
                        vols_check[j].append(volume)
                if job.samples_at(at_step):
                    fr = frames[j]
                    fr["steps"].append(at_step)
                    fr["pos"].append(host[0][sl].copy())
                    fr["cell"].append(host[2][k].copy())
                    fr["T"].append(temperature)
                    fr["V"].append(volume)
                    if npt:
                        assert host[3] is not None
                        fr["p"].append(pressure_Pa(host[3][k], host[1][sl], masses[j], volume))
            if bad:
                stop(bad, reasons, at_step, host)

        def finite_or_stop(at_step: int) -> None:
            energy_ok = torch.isfinite(state.energy)
            if bool(energy_ok.all()) and bool(torch.isfinite(state.forces).all()):
                return
            bad_atoms = (~torch.isfinite(state.forces).all(dim=1)).to(state.forces.dtype)
            bad_forces = torch.zeros(len(active), dtype=state.forces.dtype, device=energy_ok.device)
            bad_forces.index_add_(0, state.system_idx, bad_atoms)
            bad = [k for k in range(len(active)) if not bool(energy_ok[k]) or float(bad_forces[k]) > 0]
            stop(bad, ["non-finite energy or forces from the model"] * len(bad), at_step)

        label = "|".join(job.job_id for job in jobs)
        current = 0
        resumed_at: int | None = None

        def snapshot() -> dict[str, Any]:
            """Everything the loop carries from one step to the next (see :mod:`pytest_lips.md.checkpoint`)."""
            rng = getattr(state, "_rng", None)
            return {
                "step": current,
                "job_ids": [job.job_id for job in jobs],
                "active": list(active),
                "state": _tensor_fields(state),
                "chains": {name: _tensor_fields(getattr(state, name)) for name in chain_names},
                "rng": rng.get_state() if isinstance(rng, torch.Generator) else None,
                "kT": kT.detach().cpu().clone(),
                "p_ext": p_ext.detach().cpu().clone(),
                "host": _to_saved(
                    {
                        "frames": frames,
                        "temps_check": temps_check,
                        "vols_check": vols_check,
                        "steps_done": steps_done,
                        "stop_reason": stop_reason,
                        "final": final,
                        "calls_in": calls_in,
                    }
                ),
                "wall_s": time.perf_counter() - wall_start,
                "cpu_s": time.process_time() - cpu_start,
                "model_calls": model.calls,
                "model_time_s": model.time_s,
            }

        def restore(saved: dict[str, Any]) -> None:
            nonlocal state, kT, p_ext, current, wall_start, cpu_start
            stopped = [j for j in active if j not in saved["active"]]
            if stopped:  # the same systems as at the checkpoint (their values are replaced next)
                remove(stopped)
            target = torch.device(device)
            for name, value in saved["state"].items():
                setattr(state, name, value.to(target))
            for name in chain_names:
                chain = getattr(state, name)
                values = {k: v.to(target) for k, v in saved["chains"][name].items()}
                setattr(state, name, dataclasses.replace(chain, **values))
            rng = getattr(state, "_rng", None)
            if saved.get("rng") is not None and isinstance(rng, torch.Generator):
                rng.set_state(saved["rng"])
            kT, p_ext = saved["kT"].to(target), saved["p_ext"].to(target)
            host = _from_saved(saved["host"])
            frames[:] = host["frames"]
            temps_check[:], vols_check[:] = host["temps_check"], host["vols_check"]
            steps_done[:], stop_reason[:], calls_in[:] = host["steps_done"], host["stop_reason"], host["calls_in"]
            final[:] = [None if f is None else tuple(f) for f in host["final"]]
            current = int(saved["step"])
            wall_start = time.perf_counter() - float(saved["wall_s"])
            cpu_start = time.process_time() - float(saved["cpu_s"])
            model.calls, model.time_s = int(saved["model_calls"]), float(saved["model_time_s"])

        saved = checkpoint.load(label) if checkpoint is not None else None
        if saved is not None and saved.get("job_ids") == [job.job_id for job in jobs]:
            restore(saved)
            resumed_at = current
            checkpoint.resumed(label, current)
            progress(sum(steps_done))
        else:
            for j in active:  # the init call
                calls_in[j] += 1
            finite_or_stop(0)
            if active:
                observe(0)
        if checkpoint is not None:
            checkpoint.start(label)
        max_steps = max(job.n_steps for job in jobs)
        progress_every = max(1, min(500, max_steps // 50))
        while current < max_steps and active:
            if checkpoint is not None and current > 0 and checkpoint.due(label):
                checkpoint.save(label, snapshot())
            finished = [k for k, j in enumerate(active) if jobs[j].n_steps <= current]
            if finished:
                host = host_arrays(state)
                off = offsets()
                for k in finished:
                    j = active[k]
                    sl = slice(off[k], off[k + 1])
                    final[j] = (host[0][sl].copy(), host[1][sl].copy(), host[2][k].copy())
                    steps_done[j] = current
                remove([active[k] for k in finished])
                if not active:
                    break
            try:
                state = step(state, kT, p_ext)
            except Exception as exc:  # noqa: BLE001 - the model failing: no way to tell which system, stop them all
                reason = f"model raised {type(exc).__name__} in a batched step: {str(exc).splitlines()[0][:200]}"
                stop(list(range(len(active))), [reason] * len(active), current)
                break
            current += 1
            for j in active:
                calls_in[j] += 1
                steps_done[j] = current
            finite_or_stop(current)
            if not active:
                break
            if any(
                current % jobs[j].check_interval_steps == 0 or current == jobs[j].n_steps or jobs[j].samples_at(current)
                for j in active
            ):
                observe(current)
            if current % progress_every == 0 or current == max_steps:
                progress(sum(steps_done))
        if active:
            host = host_arrays(state)
            off = offsets()
            for k, j in enumerate(active):
                sl = slice(off[k], off[k + 1])
                final[j] = (host[0][sl].copy(), host[1][sl].copy(), host[2][k].copy())
        wall_s = time.perf_counter() - wall_start
        cpu_s = time.process_time() - cpu_start
        if checkpoint is not None:
            checkpoint.finished(label)
        progress(sum(steps_done))
        atom_steps = sum(steps_done[j] * sizes[j] for j in range(n_jobs))
        us_per_atom_step = wall_s / atom_steps * 1e6 if atom_steps else None
        model_fraction = model.time_s / wall_s if wall_s > 0 else None
        out = []
        for j, job in enumerate(jobs):
            fr = frames[j]
            n = sizes[j]
            share = (steps_done[j] * n / atom_steps) if atom_steps else 0.0
            entry = final[j]
            pos_f, mom_f, cell_f = (
                entry
                if entry is not None
                else (np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.full((3, 3), np.nan))
            )
            extra: dict[str, Any] = {"volume_A3_initial": volume0[j]}
            if temps_check[j]:
                extra["temperature_K_mean"] = float(np.mean(temps_check[j]))
            if vols_check[j]:
                extra["volume_A3_mean"] = float(np.mean(vols_check[j]))
            vol_final = float(abs(np.linalg.det(cell_f)))
            extra["volume_A3_final"] = vol_final if math.isfinite(vol_final) else None
            extra.update(
                engine_identity=self.identity(),
                model_fraction=model_fraction,
                cpu_s=cpu_s * share,
                batch_wall_s=wall_s,
                dtype=str(self.dtype).replace("torch.", ""),
                device=str(device),
            )
            if resumed_at is not None:
                extra["resumed_at_step"] = resumed_at
            completed = not stop_reason[j] and steps_done[j] == job.n_steps
            out.append(
                MDTrajectory(
                    job_id=job.job_id,
                    steps=np.asarray(fr["steps"], dtype=int),
                    positions_A=np.asarray(fr["pos"], dtype=float).reshape(-1, n, 3),
                    cells_A=np.asarray(fr["cell"], dtype=float).reshape(-1, 3, 3),
                    temperatures_K=np.asarray(fr["T"], dtype=float),
                    volumes_A3=np.asarray(fr["V"], dtype=float),
                    pressures_Pa=np.asarray(fr["p"], dtype=float) if npt else None,
                    steps_done=steps_done[j],
                    completed=completed,
                    stop_reason=stop_reason[j],
                    wall_s=wall_s * share,
                    us_per_atom_step=us_per_atom_step,
                    model_calls=calls_in[j],
                    final_positions_A=pos_f,
                    final_momenta=mom_f,
                    final_cell_A=cell_f,
                    engine=self.name,
                    batch_size=n_jobs,
                    extra=extra,
                )
            )
        return out


def _tensor_fields(obj: Any) -> dict[str, Any]:
    """The tensor fields of a torch-sim dataclass (state or Nosé–Hoover chain), detached copies on the CPU."""
    import dataclasses

    import torch

    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if isinstance(value, torch.Tensor):
            out[f.name] = value.detach().cpu().clone()
    return out


def _to_saved(value: Any) -> Any:
    """Host bookkeeping (numpy arrays, tuples, lists, dicts) as what ``torch.load(weights_only=True)`` reads."""
    import torch

    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.array(value, copy=True))
    if isinstance(value, dict):
        return {k: _to_saved(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_saved(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_saved(value: Any) -> Any:
    """Inverse of :func:`_to_saved` (tensors back to numpy arrays, bit for bit)."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.numpy()
    if isinstance(value, dict):
        return {k: _from_saved(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_saved(v) for v in value]
    return value


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
