"""The torch-sim engine: every job of a call as one batched torch-sim system (one model call per step
for all of them).

Integrators: torch-sim's Nosé–Hoover chain NVT (:func:`torch_sim.nvt_nose_hoover_step`, Martyna et
al. 1996, the same equations as ASE's ``NoseHooverChainNVT``) and, for NPT,
:func:`torch_sim.npt_nose_hoover_isotropic_step`. That barostat is the closest of torch-sim's to ASE's
``IsotropicMTKNPT``: both integrate the Martyna–Tobias–Klein isotropic equations (Tuckerman et al.
2006: log-volume coordinate ``ε = ln(V/V0)/3``, cell shape kept, ``α = 1 + 3/N_f``) with separate
Nosé–Hoover chains on the particles and on the barostat, deterministic and time-reversible.
torch-sim's other isotropic barostats are stochastic (``npt_langevin_isotropic``: Langevin piston;
``npt_crescale``: stochastic cell rescaling) and sample the same ensemble with different dynamics.

:class:`TorchSimEngine` groups the jobs (same ensemble settings and time step) and bins them into
batches; :class:`_BatchRun` integrates one batch in named steps: the state is built
(:meth:`~_BatchRun.build_state`), resumed from a checkpoint or observed at step 0
(:meth:`~_BatchRun.resume_or_start`), stepped (:meth:`~_BatchRun.step_loop`: finished systems leave,
one batched step, non-finite output stops its system, :meth:`~_BatchRun.observe` checks and samples,
checkpoints every few minutes through :meth:`~_BatchRun.snapshot`), and each job's
:class:`~pytest_lips.md.jobs.MDTrajectory` assembled (:meth:`~_BatchRun.trajectories`). A stopped
system leaves the batch (:meth:`~_BatchRun.remove`) and the others go on. Units as in
:mod:`pytest_lips.md.jobs`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from ase import units

from ..errors import LipsUsageError
from ._engine_common import Progress, announce, check_unique, frame_arrays, package_version
from .engine import NPTSettings, NVTSettings, initialise_velocities
from .jobs import MDJob, MDTrajectory, array_stop_reason, kinetic_temperature_K, pressure_Pa

__all__ = ["TorchSimEngine"]


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

        self.version = package_version("torch-sim-atomistic")
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
        check_unique(jobs)
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

                announce(progress, [jobs[i].job_id for i in batch])
                trajectories = _BatchRun(
                    self, [jobs[i] for i in batch], ts_model, device, batch_progress, checkpoint
                ).run()
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


#: Per-job frame lists of a running batch: steps, positions (Å), cells (Å), T (K), V (Å³), p (Pa).
_FRAME_FIELDS = ("steps", "pos", "cell", "T", "V", "p")


class _BatchRun:
    """One batch of jobs (same ensemble and time step) integrated together by torch-sim.

    Holds what the loop carries from one step to the next: the torch-sim ``state``, per-system ``kT``
    and ``p_ext``, the ``active`` jobs (job index of every system still in the batch, in batch order),
    and per job the sampled ``frames``, the check-point observables, steps done, stop reason, final
    state and model calls. :meth:`run` goes through the named steps.
    """

    def __init__(
        self, engine: TorchSimEngine, jobs: list[MDJob], ts_model: Any, device: str, progress: Progress, checkpoint: Any
    ) -> None:
        self.engine = engine
        self.jobs = jobs
        self.device = device
        self.dtype = engine.dtype
        self.progress = progress
        self.checkpoint = checkpoint
        self.ensemble = jobs[0].ensemble
        self.npt = self.ensemble.npt
        self.model: Any = _TimedModel(ts_model)
        n_jobs = len(jobs)
        self.active = list(range(n_jobs))
        self.frames: list[dict[str, list]] = [{name: [] for name in _FRAME_FIELDS} for _ in jobs]
        self.temps_check: list[list[float]] = [[] for _ in jobs]
        self.vols_check: list[list[float]] = [[] for _ in jobs]
        self.steps_done = [0] * n_jobs
        self.stop_reason = [""] * n_jobs
        self.final: list[tuple[np.ndarray, np.ndarray, np.ndarray] | None] = [None] * n_jobs
        self.calls_in = [0] * n_jobs
        self.label = "|".join(job.job_id for job in jobs)
        self.current = 0
        self.resumed_at: int | None = None
        self.state: Any = None
        self.kT: Any = None
        self.p_ext: Any = None
        self.chain_names: tuple[str, ...] = ()
        self.wall_start = 0.0
        self.cpu_start = 0.0

    def run(self) -> list[MDTrajectory]:
        """Integrate the batch: build, resume or start, step, and assemble one trajectory per job."""
        self.build_state()
        self.resume_or_start()
        self.step_loop()
        self.keep_final(list(range(len(self.active))))
        wall_s = time.perf_counter() - self.wall_start
        cpu_s = time.process_time() - self.cpu_start
        if self.checkpoint is not None:
            self.checkpoint.finished(self.label)
        self.progress(sum(self.steps_done))
        return self.trajectories(wall_s, cpu_s)

    # -- state building ---------------------------------------------------------------------------
    def _tensor(self, values: Any) -> Any:
        import torch

        return torch.as_tensor(np.asarray(values, dtype=float), device=self.device, dtype=self.dtype)

    def build_state(self) -> None:
        """Start structures (velocities drawn or given), the batched torch-sim state, per-system kT and
        pressure, and the integrator's initial state (the first model call)."""
        import torch
        import torch_sim as ts

        start_atoms = []
        for job in self.jobs:
            atoms = job.atoms.copy()
            if job.initialise_velocities:
                initialise_velocities(atoms, job.temperature_K, job.seed)
            elif not atoms.has("momenta"):
                raise LipsUsageError(f"MD job {job.job_id}: initialise_velocities=False needs momenta on the atoms")
            start_atoms.append(atoms)
        self.sizes = [len(a) for a in start_atoms]
        self.numbers = [a.numbers.copy() for a in start_atoms]
        self.masses = [a.get_masses() for a in start_atoms]
        self.volume0 = [float(a.get_volume()) for a in start_atoms]
        state: Any = ts.io.atoms_to_state(start_atoms, device=torch.device(self.device), dtype=self.dtype)
        momenta = self._tensor(np.concatenate([a.get_momenta() for a in start_atoms]))
        # NVT: torch-sim's chain counts N_f = 3N - 3 degrees of freedom (the centre of mass is at rest),
        # ASE's NoseHooverChainNVT 3N. kT' = kT 3N / (3N - 3) makes the first chain element identical to
        # ASE's (Q1 = 3N kT tau^2, force 2 E_kin - 3N kT): both engines target 2 <E_kin> = 3N k_B T, so the
        # kinetic temperature of jobs.py reads T on either engine. NPT keeps kT (the cell mass
        # W = 3 (N + 1) kT tau_p^2 is then ASE's); its particle chain targets (3N - 3) k_B T, i.e. a kinetic
        # temperature (1 - 1/N) T (0.1 % at the 1008 atoms of Task 4).
        scale = [1.0 if self.npt else 3 * n / (3 * n - 3) for n in self.sizes]
        self.kT = self._tensor([job.temperature_K * units.kB * f for job, f in zip(self.jobs, scale)])
        self.p_ext = self._tensor([(job.pressure_Pa or 0.0) * units.Pascal for job in self.jobs])
        dt = self._tensor(self.jobs[0].timestep_fs * units.fs)
        ensemble, model = self.ensemble, self.model
        self.wall_start = time.perf_counter()
        self.cpu_start = time.process_time()
        if self.npt:
            assert isinstance(ensemble, NPTSettings)
            self.state = ts.npt_nose_hoover_isotropic_init(
                state,
                model,
                kT=self.kT,
                dt=dt,
                chain_length=ensemble.tchain,
                t_tau=self._tensor(ensemble.tdamp_fs * units.fs),
                b_tau=self._tensor(ensemble.pdamp_fs * units.fs),
                momenta=momenta,
            )

            def step(s: Any, kT_: Any, p_: Any) -> Any:
                return ts.npt_nose_hoover_isotropic_step(s, model, dt=dt, kT=kT_, external_pressure=p_)

            self.chain_names = ("thermostat", "barostat")
        else:
            self.state = ts.nvt_nose_hoover_init(
                state,
                model,
                kT=self.kT,
                dt=dt,
                tau=self._tensor(ensemble.tdamp_fs * units.fs),
                chain_length=ensemble.tchain,
                momenta=momenta,
            )

            def step(s: Any, kT_: Any, p_: Any) -> Any:
                return ts.nvt_nose_hoover_step(s, model, dt=dt, kT=kT_)

            self.chain_names = ("chain",)
        self.step = step

    # -- the batch's systems ----------------------------------------------------------------------
    def host_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Positions (Å), momenta, cells (Å, rows are vectors) and, in NPT, stresses of every system, as float64."""
        s = self.state
        pos = s.positions.detach().cpu().double().numpy()
        mom = s.momenta.detach().cpu().double().numpy()
        cell = (s.current_cell if self.npt else s.cell).mT.detach().cpu().double().numpy()
        stress = s.stress.detach().cpu().double().numpy() if self.npt else None
        return pos, mom, cell, stress

    def offsets(self) -> list[int]:
        """Atom offsets of the active systems in the batched arrays."""
        return [0, *np.cumsum([self.sizes[j] for j in self.active]).tolist()]

    def keep_final(self, pos_in_batch: list[int], host: tuple | None = None) -> None:
        """Record the current positions, momenta and cell of the systems at ``pos_in_batch`` as their final state."""
        if not pos_in_batch:
            return
        host = host or self.host_arrays()
        off = self.offsets()
        for k in pos_in_batch:
            sl = slice(off[k], off[k + 1])
            self.final[self.active[k]] = (host[0][sl].copy(), host[1][sl].copy(), host[2][k].copy())

    def remove(self, stopped: list[int]) -> None:
        """The jobs ``stopped`` leave the batch (the state and the chains are sliced to the others)."""
        import torch

        keep_pos = [k for k, j in enumerate(self.active) if j not in stopped]
        if not keep_pos:  # every system stopped: torch-sim cannot hold an empty state
            self.active = []
            return
        n_sys = len(self.active)
        state = self.state
        keep = torch.as_tensor(keep_pos, device=state.positions.device, dtype=torch.long)
        new_state = state[keep]
        for name in self.chain_names:
            setattr(new_state, name, _slice_chain(getattr(state, name), keep, n_sys))
        self.state, self.kT, self.p_ext = new_state, self.kT[keep], self.p_ext[keep]
        self.active = [self.active[k] for k in keep_pos]

    # -- checks and removal of stopped systems ----------------------------------------------------
    def stop(self, pos_in_batch: list[int], reasons: list[str], at_step: int, host: tuple | None = None) -> None:
        """The systems at ``pos_in_batch`` stop at ``at_step`` for ``reasons`` and leave the batch."""
        self.keep_final(pos_in_batch, host)
        for k, reason in zip(pos_in_batch, reasons):
            j = self.active[k]
            self.stop_reason[j] = f"{reason} at step {at_step}"
            self.steps_done[j] = at_step
        self.remove([self.active[k] for k in pos_in_batch])

    def finite_or_stop(self, at_step: int) -> None:
        """Stop every system whose energy or forces from the model are not finite."""
        import torch

        state = self.state
        energy_ok = torch.isfinite(state.energy)
        if bool(energy_ok.all()) and bool(torch.isfinite(state.forces).all()):
            return
        bad_atoms = (~torch.isfinite(state.forces).all(dim=1)).to(state.forces.dtype)
        bad_forces = torch.zeros(len(self.active), dtype=state.forces.dtype, device=energy_ok.device)
        bad_forces.index_add_(0, state.system_idx, bad_atoms)
        bad = [k for k in range(len(self.active)) if not bool(energy_ok[k]) or float(bad_forces[k]) > 0]
        self.stop(bad, ["non-finite energy or forces from the model"] * len(bad), at_step)

    # -- sampling ---------------------------------------------------------------------------------
    def observe(self, at_step: int) -> None:
        """Stop checks, check-point observables and frames of every active system at ``at_step``."""
        host = self.host_arrays()
        off = self.offsets()
        bad, reasons = [], []
        for k, j in enumerate(self.active):
            job = self.jobs[j]
            sl = slice(off[k], off[k + 1])
            is_check = at_step % job.check_interval_steps == 0 or at_step == job.n_steps
            if is_check:
                reason = array_stop_reason(
                    host[0][sl],
                    host[2][k],
                    host[1][sl],
                    self.numbers[j],
                    volume0_A3=self.volume0[j],
                    npt=self.npt,
                    pair_floor_A=job.pair_floor_A,
                    volume_factor=job.volume_factor,
                )
                if reason:
                    bad.append(k)
                    reasons.append(reason)
                    continue
            temperature = kinetic_temperature_K(host[1][sl], self.masses[j])
            volume = float(abs(np.linalg.det(host[2][k])))
            if is_check and at_step > 0:
                self.temps_check[j].append(temperature)
                if self.npt:
                    self.vols_check[j].append(volume)
            if job.samples_at(at_step):
                fr = self.frames[j]
                fr["steps"].append(at_step)
                fr["pos"].append(host[0][sl].copy())
                fr["cell"].append(host[2][k].copy())
                fr["T"].append(temperature)
                fr["V"].append(volume)
                if self.npt:
                    assert host[3] is not None
                    fr["p"].append(pressure_Pa(host[3][k], host[1][sl], self.masses[j], volume))
        if bad:
            self.stop(bad, reasons, at_step, host)

    def observes_at(self, step: int) -> bool:
        """Whether some active job checks or samples at ``step``."""
        jobs = [self.jobs[j] for j in self.active]
        return any(step % job.check_interval_steps == 0 or step == job.n_steps or job.samples_at(step) for job in jobs)

    # -- the step loop ----------------------------------------------------------------------------
    def resume_or_start(self) -> None:
        """Restore the batch's checkpoint when there is one of the same jobs; else count the init call,
        check it and observe step 0."""
        checkpoint = self.checkpoint
        saved = checkpoint.load(self.label) if checkpoint is not None else None
        if saved is not None and saved.get("job_ids") == [job.job_id for job in self.jobs]:
            self.restore(saved)
            self.resumed_at = self.current
            checkpoint.resumed(self.label, self.current)
            self.progress(sum(self.steps_done))
        else:
            for j in self.active:  # the init call
                self.calls_in[j] += 1
            self.finite_or_stop(0)
            if self.active:
                self.observe(0)
        if checkpoint is not None:
            checkpoint.start(self.label)

    def retire_finished(self) -> None:
        """Jobs that have done their steps keep their final state and leave the batch."""
        finished = [k for k, j in enumerate(self.active) if self.jobs[j].n_steps <= self.current]
        if not finished:
            return
        self.keep_final(finished)
        for k in finished:
            self.steps_done[self.active[k]] = self.current
        self.remove([self.active[k] for k in finished])

    def advance(self) -> bool:
        """One batched step of every active system; ``False`` when the model raised (all of them stop)."""
        try:
            self.state = self.step(self.state, self.kT, self.p_ext)
        except Exception as exc:  # noqa: BLE001 - the model failing: no way to tell which system, stop them all
            reason = f"model raised {type(exc).__name__} in a batched step: {str(exc).splitlines()[0][:200]}"
            self.stop(list(range(len(self.active))), [reason] * len(self.active), self.current)
            return False
        self.current += 1
        for j in self.active:
            self.calls_in[j] += 1
            self.steps_done[j] = self.current
        return True

    def step_loop(self) -> None:
        """Step until every job has done its steps or stopped; checkpoint when due, report progress."""
        checkpoint = self.checkpoint
        max_steps = max(job.n_steps for job in self.jobs)
        progress_every = max(1, min(500, max_steps // 50))
        while self.current < max_steps and self.active:
            if checkpoint is not None and self.current > 0 and checkpoint.due(self.label):
                checkpoint.save(self.label, self.snapshot())
            self.retire_finished()
            if not self.active or not self.advance():
                break
            self.finite_or_stop(self.current)
            if not self.active:
                break
            if self.observes_at(self.current):
                self.observe(self.current)
            if self.current % progress_every == 0 or self.current == max_steps:
                self.progress(sum(self.steps_done))

    # -- checkpointing ----------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """Everything the loop carries from one step to the next (see :mod:`pytest_lips.md.checkpoint`)."""
        import torch

        state = self.state
        rng = getattr(state, "_rng", None)
        return {
            "step": self.current,
            "job_ids": [job.job_id for job in self.jobs],
            "active": list(self.active),
            "state": _tensor_fields(state),
            "chains": {name: _tensor_fields(getattr(state, name)) for name in self.chain_names},
            "rng": rng.get_state() if isinstance(rng, torch.Generator) else None,
            "kT": self.kT.detach().cpu().clone(),
            "p_ext": self.p_ext.detach().cpu().clone(),
            "host": _to_saved(
                {
                    "frames": self.frames,
                    "temps_check": self.temps_check,
                    "vols_check": self.vols_check,
                    "steps_done": self.steps_done,
                    "stop_reason": self.stop_reason,
                    "final": self.final,
                    "calls_in": self.calls_in,
                }
            ),
            "wall_s": time.perf_counter() - self.wall_start,
            "cpu_s": time.process_time() - self.cpu_start,
            "model_calls": self.model.calls,
            "model_time_s": self.model.time_s,
        }

    def restore(self, saved: dict[str, Any]) -> None:
        """Put the loop back where :meth:`snapshot` saved it (bit for bit)."""
        import torch

        stopped = [j for j in self.active if j not in saved["active"]]
        if stopped:  # the same systems as at the checkpoint (their values are replaced next)
            self.remove(stopped)
        target = torch.device(self.device)
        state = self.state
        for name, value in saved["state"].items():
            setattr(state, name, value.to(target))
        for name in self.chain_names:
            chain = getattr(state, name)
            values = {k: v.to(target) for k, v in saved["chains"][name].items()}
            setattr(state, name, dataclasses.replace(chain, **values))
        rng = getattr(state, "_rng", None)
        if saved.get("rng") is not None and isinstance(rng, torch.Generator):
            rng.set_state(saved["rng"])
        self.kT, self.p_ext = saved["kT"].to(target), saved["p_ext"].to(target)
        host = _from_saved(saved["host"])
        self.frames[:] = host["frames"]
        self.temps_check[:], self.vols_check[:] = host["temps_check"], host["vols_check"]
        self.steps_done[:], self.stop_reason[:] = host["steps_done"], host["stop_reason"]
        self.calls_in[:] = host["calls_in"]
        self.final[:] = [None if f is None else tuple(f) for f in host["final"]]
        self.current = int(saved["step"])
        self.wall_start = time.perf_counter() - float(saved["wall_s"])
        self.cpu_start = time.process_time() - float(saved["cpu_s"])
        self.model.calls, self.model.time_s = int(saved["model_calls"]), float(saved["model_time_s"])

    # -- results ----------------------------------------------------------------------------------
    def trajectories(self, wall_s: float, cpu_s: float) -> list[MDTrajectory]:
        """One :class:`MDTrajectory` per job: frames, final state, stop, and its share of the batch's timings."""
        engine = self.engine
        sizes, steps_done = self.sizes, self.steps_done
        atom_steps = sum(steps_done[j] * sizes[j] for j in range(len(self.jobs)))
        us_per_atom_step = wall_s / atom_steps * 1e6 if atom_steps else None
        model_fraction = self.model.time_s / wall_s if wall_s > 0 else None
        out = []
        for j, job in enumerate(self.jobs):
            fr = self.frames[j]
            n = sizes[j]
            share = (steps_done[j] * n / atom_steps) if atom_steps else 0.0
            entry = self.final[j]
            pos_f, mom_f, cell_f = (
                entry
                if entry is not None
                else (np.full((n, 3), np.nan), np.full((n, 3), np.nan), np.full((3, 3), np.nan))
            )
            extra: dict[str, Any] = {"volume_A3_initial": self.volume0[j]}
            if self.temps_check[j]:
                extra["temperature_K_mean"] = float(np.mean(self.temps_check[j]))
            if self.vols_check[j]:
                extra["volume_A3_mean"] = float(np.mean(self.vols_check[j]))
            vol_final = float(abs(np.linalg.det(cell_f)))
            extra["volume_A3_final"] = vol_final if math.isfinite(vol_final) else None
            extra.update(
                engine_identity=engine.identity(),
                model_fraction=model_fraction,
                cpu_s=cpu_s * share,
                batch_wall_s=wall_s,
                dtype=str(self.dtype).replace("torch.", ""),
                device=str(self.device),
            )
            if self.resumed_at is not None:
                extra["resumed_at_step"] = self.resumed_at
            completed = not self.stop_reason[j] and steps_done[j] == job.n_steps
            out.append(
                MDTrajectory(
                    job_id=job.job_id,
                    **frame_arrays(fr, n, self.npt),
                    steps_done=steps_done[j],
                    completed=completed,
                    stop_reason=self.stop_reason[j],
                    wall_s=wall_s * share,
                    us_per_atom_step=us_per_atom_step,
                    model_calls=self.calls_in[j],
                    final_positions_A=pos_f,
                    final_momenta=mom_f,
                    final_cell_A=cell_f,
                    engine=engine.name,
                    batch_size=len(self.jobs),
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
