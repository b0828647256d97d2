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

Analysis per run: Li MSD averaged over all time origins with the framework (P, S) centre-of-mass
drift removed (:func:`pytest_lips.analysis.mean_squared_displacement`, lags up to half the production
length), D from a straight line through the MSD between ``fit_start_fraction`` and
``fit_end_fraction`` of the largest lag (:func:`pytest_lips.analysis.fit_diffusion`; defaults
0.1–0.5, i.e. 5–25 % of the production). Across runs: Arrhenius fit of the per-temperature mean D,
extrapolation to 298.15 K and Nernst–Einstein conductivity with Haven ratio 1
(:func:`pytest_lips.analysis.conductivity_at_298`); the 95 % interval is a percentile bootstrap over
repeats (a delta-method interval when a temperature has a single repeat).

Metrics: ``task3.sigma298`` [mS/cm] (gated against the paper's accepted band, thresholds
``task3.sigma298_min``/``_max``), ``task3.activation_energy`` [eV] and ``task3.D_<T>K`` [cm^2/s]
(reported).

When is a verdict supported (``gated``)? Only when the protocol's production run is at least
``gate_min_production_ps`` (default 50 ps). Shorter profiles (``smoke``: 0.4 ps; ``ci``: a few ps on
84 atoms) give MSDs dominated by vibrations and single hops and a σ298 uncertain by orders of
magnitude after the Arrhenius extrapolation, so they are reported with ``gated=False`` and a note.
In addition, temperatures whose mean Li MSD at the end of the fit window is below
``gate_min_msd_A2`` (default 4 Å², i.e. a root-mean-square displacement of 2 Å — less than one
Li–Li site distance) are "unresolved": if at least two temperatures are resolved the Arrhenius fit
uses only those; otherwise it uses every temperature with D > 0 and says so in the note (a model
whose Li ions do not move at all then gets a tiny σ298 and fails the gate, as it should). A run that
stopped early (blow-up) makes σ298 NaN, which fails a gated check.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from ase import Atoms

from ..profiles import float_tuple, int_triple, protocol_from_section
from ..analysis import conductivity_at_298, fit_diffusion, mean_squared_displacement, t_interval
from ..errors import LipsDataError, LipsUsageError
from ..md import NVTSettings, run_md
from ..results import Metric
from .structures import supercell

__all__ = [
    "PROTOCOL_VERSION",
    "TASK",
    "Task3Protocol",
    "Task3Run",
    "analyse",
    "load_structure",
    "plan_runs",
    "run_one",
    "run_seed",
]

TASK = "task3"
#: Bump when the meaning of a stored run result changes (part of the run-store key).
PROTOCOL_VERSION = "task3-1"
#: At most this many MSD points are stored per run (the fit uses the full-resolution curve).
MAX_STORED_MSD_POINTS = 200


@dataclass(frozen=True)
class Task3Protocol:
    """The ``task3:`` section of a profile (units in the field names).

    Attributes
    ----------
    structure:
        Path of the Li7P3S11 cell inside the reference pack.
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
    gate_min_production_ps, gate_min_msd_A2:
        The criteria for a gated verdict (see the module docstring).
    n_bootstrap:
        Bootstrap resamples for the σ298 interval.
    """

    structure: str = "task3/Li7P3S11.extxyz"
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
    gate_min_production_ps: float = 50.0
    gate_min_msd_A2: float = 4.0
    n_bootstrap: int = 2000

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> Task3Protocol:
        """Parse a profile's ``task3:`` section (missing keys take the paper defaults above)."""
        proto = protocol_from_section(cls, section, "task3",
                                      {"supercell": int_triple, "temperatures_K": float_tuple})
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

    def verdict_supported(self) -> tuple[bool, str]:
        """Whether this protocol is long enough for a gated σ298, and if not, why."""
        if self.production_ps < self.gate_min_production_ps:
            return False, (
                f"production of {self.production_ps:g} ps per run is shorter than the "
                f"{self.gate_min_production_ps:g} ps needed for a converged Li MSD (task3 "
                "gate_min_production_ps); use the paper profile for a verdict"
            )
        return True, ""

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
    """The Li7P3S11 reference cell: ``reference.task3_structure()`` if available, else the default pack file."""
    if reference is not None and hasattr(reference, "task3_structure"):
        return reference.task3_structure()
    from ase.io import read

    from ..resources import default_pack_dir

    path = default_pack_dir() / protocol.structure
    if not path.is_file():
        raise LipsDataError(
            f"Task 3 structure {path} is missing; re-generate the reference pack (reference_data/build) "
            "or reinstall pytest-lips"
        )
    return read(path, index=-1)


def _downsample(lag: np.ndarray, msd: np.ndarray, n_max: int) -> tuple[list[float], list[float]]:
    if lag.size <= n_max:
        idx = np.arange(lag.size)
    else:
        idx = np.unique(np.round(np.linspace(0, lag.size - 1, n_max)).astype(int))
    return [float(v) for v in lag[idx]], [float(v) for v in msd[idx]]


def run_one(
    run: Task3Run,
    structure: Atoms,
    calculator,
    protocol: Task3Protocol,
    progress: Callable[[int], None] | None = None,
    model: str = "",
) -> dict[str, Any]:
    """Run one NVT trajectory and reduce it to a small JSON-serialisable dict.

    Parameters
    ----------
    run:
        The run from :func:`plan_runs`.
    structure:
        The Li7P3S11 reference cell (it is repeated ``protocol.supercell`` times).
    calculator:
        A fresh ASE calculator for this trajectory.
    progress:
        ``progress(steps_done)`` over the whole run (equilibration + production).

    Returns
    -------
    ``{"record": RunRecord dict, "run": ..., "temperature_K", "n_li", "volume_A3", "lag_ps",
    "msd_A2" (≤ 200 points), "D_cm2_s", "D_stderr_cm2_s", "fit_window_ps", "msd_end_of_fit_A2",
    "protocol_version"}``; the MSD and D entries are ``None`` when the run stopped early.
    """
    atoms = supercell(structure, protocol.supercell)
    symbols = np.array(atoms.get_chemical_symbols())
    li = symbols == "Li"
    if not li.any():
        raise LipsDataError("Task 3 structure contains no Li")
    framework = ~li
    masses = atoms.get_masses()
    fw_masses = masses[framework]
    n_eq = protocol.equilibration_steps
    frames: list[np.ndarray] = []

    def on_sample(step: int, current: Atoms) -> None:
        if step < n_eq:
            return
        pos = current.positions  # unwrapped: ASE MD never wraps positions
        com = (fw_masses[:, None] * pos[framework]).sum(axis=0) / fw_masses.sum()
        frames.append(np.vstack([pos[li], com[None, :]]))

    outcome = run_md(
        atoms,
        calculator,
        protocol.ensemble,
        n_steps=protocol.total_steps,
        timestep_fs=protocol.timestep_fs,
        temperature_K=run.temperature_K,
        seed=run.seed,
        sample_interval_steps=protocol.sample_interval_steps,
        on_sample=on_sample,
        progress_callback=progress,
    )
    n_li = int(li.sum())
    result: dict[str, Any] = {
        "protocol_version": PROTOCOL_VERSION,
        "run": run.to_dict(),
        "temperature_K": run.temperature_K,
        "n_atoms": len(atoms),
        "n_li": n_li,
        "volume_A3": float(atoms.get_volume()),
        "lag_ps": None,
        "msd_A2": None,
        "D_cm2_s": None,
        "D_stderr_cm2_s": None,
        "fit_window_ps": None,
        "msd_end_of_fit_A2": None,
    }
    extra = {"temperature_K": run.temperature_K, "repeat": run.repeat, "n_atoms": len(atoms),
             "equilibration_steps": n_eq, "production_frames": len(frames)}
    if outcome.completed and len(frames) >= 2:
        positions = np.asarray(frames)
        mobile = np.zeros(n_li + 1, dtype=bool)
        mobile[:n_li] = True
        msd = mean_squared_displacement(
            positions,
            frame_interval_ps=protocol.sample_interval_steps * protocol.timestep_fs / 1000.0,
            mobile_mask=mobile,
            framework_mask=~mobile,
            max_lag_fraction=protocol.msd_max_lag_fraction,
        )
        fit = fit_diffusion(msd.lag_ps, msd.msd_A2, protocol.fit_start_fraction, protocol.fit_end_fraction)
        end_index = int(np.searchsorted(msd.lag_ps, fit.window_ps[1]))
        result["lag_ps"], result["msd_A2"] = _downsample(msd.lag_ps, msd.msd_A2, MAX_STORED_MSD_POINTS)
        result.update(
            D_cm2_s=fit.D_cm2_s,
            D_stderr_cm2_s=fit.D_stderr_cm2_s,
            fit_window_ps=list(fit.window_ps),
            msd_end_of_fit_A2=float(msd.msd_A2[min(end_index, msd.msd_A2.size - 1)]),
        )
        extra.update(D_cm2_s=fit.D_cm2_s, msd_end_of_fit_A2=result["msd_end_of_fit_A2"])
    result["record"] = outcome.to_run_record(TASK, run.run_id, model=model, seed=run.seed, extra=extra).to_dict()
    return result


def _temperature_key(temperature_K: float) -> str:
    return f"{TASK}.D_{_temperature_label(temperature_K)}K"


def analyse(
    run_results: list[dict[str, Any]],
    protocol: Task3Protocol,
    model: str = "",
    seed: int = 0,
) -> list[Metric]:
    """σ298, activation energy and per-temperature D from the run results of :func:`run_one`.

    Returns ``[task3.sigma298, task3.activation_energy, task3.D_<T>K ...]``.
    """
    supported, why_not = protocol.verdict_supported()
    failed = [r for r in run_results if not r["record"]["completed"]]
    ok = [r for r in run_results if r["record"]["completed"] and r.get("D_cm2_s") is not None]
    by_T: dict[float, list[dict[str, Any]]] = defaultdict(list)
    for r in ok:
        by_T[float(r["temperature_K"])].append(r)
    notes: list[str] = []
    if not supported:
        notes.append(f"reported, not gated: {why_not}")
    if failed:
        notes.append(
            "runs stopped early: "
            + "; ".join(f"{r['record']['run_id']}: {r['record']['stop_reason']}" for r in failed)
        )
    missing_T = sorted(set(protocol.temperatures_K) - set(by_T))

    metrics: list[Metric] = []
    # per-temperature D (reported)
    per_T_details: dict[str, Any] = {}
    for T in sorted(by_T):
        values = np.array([r["D_cm2_s"] for r in by_T[T]], dtype=float)
        mean, interval = t_interval(values)
        msd_end = float(np.mean([r["msd_end_of_fit_A2"] for r in by_T[T]]))
        per_T_details[_temperature_label(T)] = {
            "D_cm2_s": values.tolist(), "msd_end_of_fit_A2": msd_end,
            "resolved": bool(msd_end >= protocol.gate_min_msd_A2 and mean > 0),
        }
        metrics.append(
            Metric(
                key=_temperature_key(T), value=float(mean), unit="cm^2/s", model=model, task=TASK,
                interval=None if not math.isfinite(interval[0]) else interval, n=int(values.size),
                gated=supported, note="; ".join(notes) or f"mean over {values.size} repeats (95 % t interval)",
                details={"D_cm2_s": values.tolist(), "msd_end_of_fit_A2": msd_end,
                         "run_ids": [r["record"]["run_id"] for r in by_T[T]]},
            )
        )

    resolved = [T for T, d in per_T_details.items() if d["resolved"]]
    positive = {T: [v for v in by_T[T] if v["D_cm2_s"] > 0] for T in by_T}
    use_T = [float(T) for T in resolved] if len(resolved) >= 2 else [T for T in by_T if len(positive[T]) == len(by_T[T])]
    if len(resolved) < 2 and by_T:
        notes.append(
            f"Li diffusion resolved (mean MSD at the end of the fit window >= {protocol.gate_min_msd_A2:g} Å^2) at "
            f"{len(resolved)} temperature(s) only; Arrhenius fit over all temperatures with D > 0"
        )
    elif len(use_T) < len(by_T):
        notes.append(f"unresolved temperatures left out of the Arrhenius fit: "
                     f"{', '.join(t for t in per_T_details if not per_T_details[t]['resolved'])} K")
    if missing_T:
        notes.append(f"no completed run at {', '.join(_temperature_label(t) for t in missing_T)} K")

    sigma = Metric(key=f"{TASK}.sigma298", value=math.nan, unit="mS/cm", model=model, task=TASK,
                   n=len(run_results), gated=supported)
    ea = Metric(key=f"{TASK}.activation_energy", value=math.nan, unit="eV", model=model, task=TASK,
                n=len(run_results), gated=supported)
    details: dict[str, Any] = {
        # Arrhenius-plot data (docs/REPORT_SCHEMA.md, "Task 3")
        "temperatures_K": [float(T) for T in sorted(by_T)],
        "D_cm2_s": [float(np.mean([r["D_cm2_s"] for r in by_T[T]])) for T in sorted(by_T)],
        "D_repeats_cm2_s": [[float(r["D_cm2_s"]) for r in by_T[T]] for T in sorted(by_T)],
        "per_temperature": per_T_details,
        "fit_temperatures_K": sorted(use_T),
        "failed_runs": [r["record"]["run_id"] for r in failed],
        "protocol": protocol.to_dict(),
    }
    if not failed and len(use_T) >= 2:
        volumes = {r["volume_A3"] for r in ok}
        n_li = {r["n_li"] for r in ok}
        n_li_value = n_li.pop()
        estimate = conductivity_at_298(
            {T: [r["D_cm2_s"] for r in by_T[T]] for T in use_T},
            n_carriers=n_li_value,
            volume_A3=float(np.mean(list(volumes))),
            n_bootstrap=protocol.n_bootstrap,
            seed=seed,
        )
        sigma.value = estimate.sigma298_mS_cm
        sigma.interval = _finite_interval(estimate.interval_mS_cm)
        ea.value = estimate.activation_energy_eV
        ea.interval = _finite_interval(estimate.activation_energy_interval_eV)
        n_li_cell = n_li_value
        volume_A3 = float(np.mean(list(volumes)))
        details.update(D298_cm2_s=estimate.D298_cm2_s, interval_method=estimate.method,
                       activation_energy_eV=estimate.activation_energy_eV,
                       prefactor_cm2_s=float(estimate.arrhenius.prefactor_cm2_s),
                       li_number_density_cm3=n_li_cell / (volume_A3 * 1e-24))
        if sigma.interval is not None and estimate.sigma298_mS_cm > 0:
            # σ ∝ D at fixed T and density, so the σ interval maps onto D(298 K) directly
            scale = estimate.D298_cm2_s / estimate.sigma298_mS_cm
            details["D298_interval_cm2_s"] = [sigma.interval[0] * scale, sigma.interval[1] * scale]
    elif failed:
        notes.append("σ298 is not computed because runs stopped early (the model is not stable in this MD)")
    else:
        notes.append("fewer than 2 temperatures with D > 0: no Arrhenius extrapolation")
    note = "; ".join(notes)
    for metric in (sigma, ea):
        metric.note = note
        metric.details = dict(details)
    for metric in metrics:
        if failed or not supported:
            metric.note = note
    return [sigma, ea, *metrics]


def _finite_interval(interval: tuple[float, float]) -> tuple[float, float] | None:
    return interval if all(math.isfinite(v) for v in interval) else None

