"""Small synthetic LiPS results for the report tests (no MD, no model)."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from pytest_lips.results import Metric, RunRecord
from pytest_lips.thresholds import default_thresholds

KB_EV = 8.617333262e-5


def task1_details(n: int = 12, seed: int = 0, scale: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    structures = []
    for i in range(n):
        dft = float(-600 + 40 * i + rng.normal(0, 5))
        structures.append(
            {
                "name": f"Li{i % 4 + 1}PS{i % 3 + 3}-{i}",
                "ef_dft_meV_atom": dft,
                "ef_model_meV_atom": dft + float(rng.normal(0, 4)) * scale,
                "extrapolation": i >= n - 3,
            }
        )
    return {"structures": structures}


def task2_details(scale: float = 1.0) -> dict:
    traj = []
    for i in range(60):
        t = i * 0.5
        if t < 8:
            regime, temp = "crystal", 300 + t * 150
        elif t < 20:
            regime, temp = "liquid", 1500.0
        else:
            regime, temp = "amorphous", 1500 - (t - 20) * 120
        base = {"crystal": 0.08, "liquid": 0.2, "amorphous": 0.14}[regime]
        traj.append(
            {"time_ps": t, "temperature_K": temp, "regime": regime, "force_rmse": scale * (base + 0.01 * math.sin(i))}
        )
    return {"trajectory": traj}


def task3_details(ea: float = 0.2, d0: float = 5e-4) -> dict:
    temps = [600.0, 700.0, 800.0, 900.0]
    d = [d0 * math.exp(-ea / (KB_EV * t)) for t in temps]
    reps = [[x * 0.9, x * 1.05, x * 1.08] for x in d]
    d298 = d0 * math.exp(-ea / (KB_EV * 298.15))
    n_li = 2.2e22  # cm^-3
    # sigma = n q^2 D / (kB T); in mS/cm
    q = 1.602176634e-19
    kb = 1.380649e-23

    def to_d(s_mS_cm: float) -> float:
        return s_mS_cm * 1e-3 * 100 * kb * 298.15 / (n_li * 1e6 * q * q) * 1e4  # cm^2/s

    return {
        "temperatures_K": temps,
        "D_cm2_s": d,
        "D_repeats_cm2_s": reps,
        "D_err_cm2_s": [0.1 * x for x in d],
        "activation_energy_eV": ea,
        "prefactor_cm2_s": d0,
        "D298_cm2_s": d298,
        "D298_interval_cm2_s": [d298 * 0.6, d298 * 1.6],
        "band_mS_cm": [17.0, 61.0],
        "band_D298_cm2_s": [to_d(17.0), to_d(61.0)],
        "li_number_density_cm3": n_li,
    }


def task4_details(fail_hot: bool = True) -> dict:
    grid = []
    for t in (1000.0, 1500.0, 2000.0, 2500.0):
        for p in (1e5, 1e8, 1e9):
            completed = 3
            ccf = 0.0
            if fail_hot and t >= 2500:
                completed, ccf = 1, 0.12
            if fail_hot and p >= 1e9 and t >= 2000:
                completed, ccf = min(completed, 2), max(ccf, 0.03)
            grid.append(
                {
                    "temperature_K": t,
                    "pressure_Pa": p,
                    "repeats": 3,
                    "completed": completed,
                    "close_contact_fraction": ccf,
                    "gated": t <= 2000 and p <= 1e8,
                }
            )
    return {"grid": grid}


def make_metrics(
    model: str = "mace-a",
    force_scale: float = 1.0,
    sigma: float = 30.0,
    sigma_interval=(20.0, 42.0),
    gated_md: bool = True,
) -> list[Metric]:
    m = [
        Metric("test_split.energy_rmse", 3.2, "meV/atom", model, "test_split", n=500),
        Metric("test_split.force_rmse", 0.12 * force_scale, "eV/Å", model, "test_split", n=500),
        Metric("test_split.li2s.force_rmse", 0.09 * force_scale, "eV/Å", model, "test_split", n=40),
        Metric("task1.ef_rmse_relaxed", 4.1, "meV/atom", model, "task1", n=12, details=task1_details()),
        Metric("task1.ef_rmse_single_point", 3.9, "meV/atom", model, "task1", n=12),
        Metric(
            "task2.force_rmse", 0.15 * force_scale, "eV/Å", model, "task2", n=60, details=task2_details(force_scale)
        ),
        Metric(
            "task3.sigma298",
            sigma,
            "mS/cm",
            model,
            "task3",
            interval=tuple(sigma_interval),
            n=12,
            gated=gated_md,
            note="" if gated_md else "profile too short for a conductivity verdict",
            details=task3_details(),
        ),
        Metric("task3.activation_energy", 0.2, "eV", model, "task3", uncertainty=0.02),
        Metric("task4.survival_fraction", 1.0, "1", model, "task4", n=18, details=task4_details()),
        Metric("task4.close_contact_fraction", 0.0, "1", model, "task4"),
    ]
    return m


def make_runs(model: str = "mace-a") -> list[RunRecord]:
    runs = []
    for t in (600, 700):
        for r in (1, 2):
            runs.append(RunRecord("task3", f"T{t}K-r{r}", model, 1000, 1000, 2.0, True, "", 12.5 + r, 3.1, 0.8, r))
    return runs


def make_report(
    models=("mace-a",),
    force_scales=None,
    baseline=None,
    tolerances=None,
    sigma=None,
    outcomes=None,
    gated_md=True,
    shuffle_seed=None,
    **kw,
):
    from pytest_lips.report import build_report

    thresholds = default_thresholds()
    metrics, verdicts, runs = [], [], []
    for model in models:
        scale = (force_scales or {}).get(model, 1.0)
        for metric in make_metrics(model, scale, sigma=(sigma or {}).get(model, 30.0), gated_md=gated_md):
            metrics.append(metric.to_dict())
            verdicts += [v.to_dict() for v in thresholds.evaluate(metric)]
            if baseline is not None:
                comp = baseline.check(metric, tolerances)
                if comp is not None:
                    verdicts.append(comp.to_dict())
        runs += [r.to_dict() for r in make_runs(model)]
    if outcomes is None:
        outcomes = {f"test_task3_sigma298[{m}]": "passed" for m in models}
    if shuffle_seed is not None:
        rng = np.random.default_rng(shuffle_seed)
        for lst in (metrics, verdicts, runs):
            order = rng.permutation(len(lst))
            lst[:] = [lst[j] for j in order]
        outcomes = dict(reversed(list(outcomes.items())))
    args = dict(
        plugin_version="0.1.0",
        protocol_version="1",
        profile_name="ci",
        profile_description="CI profile",
        models=[
            {
                "name": m,
                "spec": f"{m}.pt",
                "sha256": hashlib.sha256(m.encode()).hexdigest(),
                "kind": "graph-pes",
                "device": "cpu",
            }
            for m in models
        ],
        seed=42,
        thresholds=thresholds.as_dict(),
        tolerances=(tolerances.as_dict() if tolerances else {}),
        metrics=metrics,
        verdicts=verdicts,
        runs=runs,
        outcomes=outcomes,
        environment={"python": "3.11", "torch": "2.x"},
        started_at="2026-01-01T00:00:00+00:00",
        duration_s=12.0,
        baseline=baseline.info() if baseline is not None else None,
    )
    args.update(kw)
    return build_report(**args)


def task3_metric_from_runs(
    model: str = "m",
    Ea: float = 0.25,
    D0: float = 1e-2,
    noise: float = 0.1,
    seed: int = 0,
    unresolved_K=(400.0,),
    with_activation_energy: bool = False,
):
    """``task3.sigma298`` as the plugin makes it: synthetic runs (Arrhenius D with noise) through
    :func:`pytest_lips.tasks.task3_conductivity.analyse`. Every temperature enters the fit (issue 26); the
    runs at the temperatures in ``unresolved_K`` end their MSD fit window at 0.01 ps, so that the fitted
    line's hop MSD there (6 D̂ t_end ≤ 0.2 Å²) is below ``gate_min_msd_A2`` (4 Å²): unresolved. The others'
    window ends at 250 ps (≥ 100 Å² on the line: resolved)."""
    from pytest_lips.analysis import BOLTZMANN_eV_K
    from pytest_lips.tasks import task3_conductivity as task3

    protocol = task3.Task3Protocol(temperatures_K=(400.0, 500.0, 600.0, 700.0, 800.0), repeats=3)
    rng = np.random.default_rng(seed)
    results = []
    for run in task3.plan_runs(protocol, 0):
        D = D0 * math.exp(-Ea / (BOLTZMANN_eV_K * run.temperature_K)) * (1 + noise * rng.standard_normal())
        record = RunRecord(task="task3", run_id=run.run_id, steps_requested=10, steps_done=10, completed=True)
        results.append(
            {
                "record": record.to_dict(),
                "temperature_K": run.temperature_K,
                "n_li": 224,
                "mobile_ion": "Li",
                "volume_A3": 14000.0,
                "D_cm2_s": D,
                "D_stderr_cm2_s": noise * abs(D),
                "temperature_K_measured": run.temperature_K * (1 + 0.01 * rng.standard_normal()),
                "msd_end_of_fit_A2": 0.5 if run.temperature_K in unresolved_K else 20.0,
                "fit_window_ps": [0.001, 0.01] if run.temperature_K in unresolved_K else [1.0, 250.0],
            }
        )
    sigma, activation_energy = task3.analyse(results, protocol, model=model)[:2]
    return sigma.to_dict() if not with_activation_energy else (sigma.to_dict(), activation_energy.to_dict())


def with_task3_from_runs(report: dict, model: str, **kwargs) -> dict:
    """``report`` with ``model``'s ``task3.sigma298`` replaced by :func:`task3_metric_from_runs` (and its
    threshold verdicts re-evaluated)."""
    metric = task3_metric_from_runs(model, **kwargs)
    entry = report["results"][model]["task3"]
    entry["metrics"] = [metric if m["key"] == "task3.sigma298" else m for m in entry["metrics"]]
    verdicts = [v.to_dict() for v in default_thresholds().evaluate(Metric.from_dict(metric))]
    entry["verdicts"] = [v for v in entry["verdicts"] if v.get("metric") != "task3.sigma298"] + verdicts
    from pytest_lips.report import summarize

    report["summary"] = summarize(report)
    return report
