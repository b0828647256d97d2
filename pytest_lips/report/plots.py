"""PNG plots of a report (``--lips-plots DIR``), drawn from ``Metric.details`` (keys in REPORT_SCHEMA.md).

* Task 1 – parity of formation energies, model vs DFT, extrapolation set marked, plus residuals;
* Task 2 – force RMSE along the melt–quench trajectory, regimes shaded, temperature on a 2nd axis;
* Task 3 – Arrhenius plot: D(T) at every temperature (and repeats), unresolved temperatures (the fitted
  line's hop MSD below ``gate_min_msd_A2``) marked, the fit through all of them with its 95 % band, its
  extrapolation to 298 K, D(298 K) with its interval and the accepted σ298 band converted to D;
* Task 4 – T × p grid coloured by survival, with completed/repeats and close-contact percentages.

Uses matplotlib's object API with the Agg canvas (no pyplot, no global backend change). A plot whose
data is absent is skipped (logged, reason appended to ``notes``), never an error.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("pytest_lips.report")

KB_EV = 8.617333262e-5  # eV/K
_KB_J = 1.380649e-23  # J/K
_Q = 1.602176634e-19  # C
T_ROOM_K = 298.15

REGIME_COLOURS = {"crystal": "#9ecae1", "liquid": "#fdae6b", "amorphous": "#a1d99b"}
_FALLBACK_REGIME_COLOURS = ["#dadaeb", "#fdd0a2", "#c7e9c0", "#d9d9d9"]


# -- public --------------------------------------------------------------------------------------------
def write_plots(
    report: Mapping[str, Any], out_dir: str | os.PathLike, *, dpi: int = 120, notes: list[str] | None = None
) -> list[Path]:
    """Draw every plot the report has data for into ``out_dir`` (created); return the PNG paths, sorted.

    File names: ``<model>_task1_parity.png``, ``<model>_task2_force_error.png``,
    ``<model>_task3_arrhenius.png``, ``<model>_task4_stability.png`` (model name made file-safe); with
    several models also ``compare_metrics.png``, ``compare_task3_arrhenius.png`` and
    ``compare_task2_force_error.png``. Reasons for skipped plots are appended to ``notes`` when given.
    """
    out_dir = Path(out_dir)
    written: list[Path] = []
    for figure in report_figures(report, notes=notes):
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / f"{figure.name}.png"
        figure.figure.savefig(path, dpi=dpi)
        written.append(path)
    return sorted(written)


def safe_name(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


class _Skip(Exception):
    pass


def _new_figure(w: float, h: float, ncols: int = 1, nrows: int = 1, **kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as MplFigure

    fig = MplFigure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, **kw)
    return fig, axes


def _need(details: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if details.get(k) in (None, [], {})]
    if missing:
        raise _Skip(f"details lack {', '.join(missing)}")


def _f(x) -> float:
    return float("nan") if x is None else float(x)


# -- Task 1 ----------------------------------------------------------------------------------------------
def task1_threshold_meV_atom(thresholds, key: str = "task1.ef_rmse_relaxed") -> float | None:
    """The tightest ``max`` threshold on ``key`` (meV/atom), or None: the band drawn around parity."""
    values = [
        float(t["value"])
        for t in (thresholds or {}).values()
        if t.get("metric") == key and t.get("direction") == "max" and t.get("value") is not None
    ]
    return min(values) if values else None


def plot_task1_parity(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """Parity (model vs DFT E_f) and residuals, every crystal named; the Task 1 threshold (≤ X meV/atom
    RMSE) shaded as ±X around y = x and around 0; extrapolation structures as open triangles."""
    relaxed = (metrics.get("task1.ef_rmse_relaxed") or {}).get("details") or {}
    _need(relaxed, "structures")
    series = [("relaxed", relaxed["structures"], "#1f77b4")]
    single = ((metrics.get("task1.ef_rmse_single_point") or {}).get("details") or {}).get("structures")
    if single:
        series.append(("single point", single, "#ff7f0e"))

    fig, (ax, res) = _new_figure(11, 6.2, ncols=2)
    all_vals = []
    label_all = len(relaxed["structures"]) <= 16
    for label, structures, colour in series:
        dft = np.array([_f(s.get("ef_dft_meV_atom")) for s in structures])
        mod = np.array([_f(s.get("ef_model_meV_atom")) for s in structures])
        extra = np.array([bool(s.get("extrapolation", False)) for s in structures])
        ok = np.isfinite(dft) & np.isfinite(mod)
        all_vals += list(dft[ok]) + list(mod[ok])
        for mask, marker, face, suffix in ((~extra, "o", colour, ""), (extra, "^", "none", " (extrapolation)")):
            sel = ok & mask
            if not sel.any():
                continue
            kw = dict(
                marker=marker,
                s=36,
                edgecolors=colour,
                facecolors=face,
                linewidths=1.2,
                label=f"{label}{suffix} (n={int(sel.sum())})",
                zorder=3,
            )
            ax.scatter(dft[sel], mod[sel], **kw)
            res.scatter(dft[sel], mod[sel] - dft[sel], **{**kw, "label": None})
        if label == "relaxed":
            err = mod - dft
            named = [i for i in range(len(structures)) if ok[i]]
            if not label_all:  # many structures: name the 8 worst only
                named = [i for i in np.argsort(-np.abs(np.nan_to_num(err))) if ok[i]][:8]
            for axis, ys in ((ax, mod), (res, err)):
                for i, below in zip(named, _label_below(dft[named], ys[named])):
                    axis.annotate(
                        str(structures[i].get("name", i)),
                        (dft[i], ys[i]),
                        fontsize=7,
                        xytext=(5, -10 if below else 4),
                        textcoords="offset points",
                    )
        failed = int((~ok).sum())
        if failed:
            ax.text(
                0.98,
                0.02 + 0.06 * (label != "relaxed"),
                f"{failed} {label} structure(s) without a value",
                transform=ax.transAxes,
                ha="right",
                va="bottom",
                fontsize=8,
                color="#b00",
            )
    if not all_vals:
        raise _Skip("no finite formation energies")
    threshold = task1_threshold_meV_atom(thresholds)
    lo, hi = min(all_vals), max(all_vals)
    pad = 0.08 * (hi - lo or 1.0) + (threshold or 0.0)
    line = np.array([lo - pad, hi + pad])
    ax.plot(line, line, color="0.4", lw=1, ls="--", zorder=1, label="y = x")
    res.axhline(0, color="0.4", lw=1, ls="--")
    if threshold is not None:
        band = f"threshold: RMSE ≤ {threshold:g} meV/atom (±{threshold:g} shaded)"
        ax.fill_between(line, line - threshold, line + threshold, color="#2ca02c", alpha=0.15, lw=0, label=band)
        res.axhspan(-threshold, threshold, color="#2ca02c", alpha=0.15, lw=0, label=band)
    value = (metrics.get("task1.ef_rmse_relaxed") or {}).get("value")
    if value is not None and math.isfinite(value):
        res.plot([], [], " ", label=f"RMSE relaxed = {value:.3g} meV/atom")
    res.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    ax.set_xlim(line[0], line[1])
    ax.set_ylim(line[0], line[1])
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("E$_f$ DFT (meV/atom)")
    ax.set_ylabel("E$_f$ model (meV/atom)")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    ax.set_title("Formation energies: parity")
    res.set_xlabel("E$_f$ DFT (meV/atom)")
    res.set_ylabel("E$_f$ model − DFT (meV/atom)")
    res.set_title("Residuals")
    fig.suptitle(f"Task 1 — {model}", fontsize=11)
    return fig


def _label_below(x: np.ndarray, y: np.ndarray) -> list[bool]:
    """For point labels (drawn to the right, above the point): True (put it below instead) for a point
    whose label would run into that of a point already placed close by (within a quarter of the x
    range to its left and 8 % of the y range)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    dx = 0.25 * (np.ptp(x) if x.size else 1.0) or 1.0
    dy = 0.08 * (np.ptp(y) if y.size else 1.0) or 1.0
    placed: list[tuple[float, float, bool]] = []
    below = []
    for xi, yi in sorted(zip(x, y)):
        crowded = {b for px, py, b in placed if 0 <= xi - px < dx and abs(py - yi) < dy}
        placed.append((xi, yi, False in crowded and True not in crowded))
    lookup = {(px, py): b for px, py, b in placed}
    below = [lookup[(xi, yi)] for xi, yi in zip(x, y)]
    return below


# -- Task 2 ----------------------------------------------------------------------------------------------
def plot_task2_force_error(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """Per-snapshot force RMSE vs time, regimes shaded, thermostat temperature on a second axis."""
    metric = metrics.get("task2.force_rmse") or {}
    details = metric.get("details") or {}
    _need(details, "trajectory")
    traj = sorted(details["trajectory"], key=lambda f: _f(f.get("time_ps")))
    t = np.array([_f(f.get("time_ps")) for f in traj])
    err = np.array([_f(f.get("force_rmse")) for f in traj])
    if not np.isfinite(err).any():
        raise _Skip("no finite force errors")
    fig, ax = _new_figure(9, 4.2)

    _shade_regimes(ax, t, [f.get("regime") for f in traj])  # consecutive frames of a regime
    ax.plot(t, err, color="k", lw=1.2, marker="o", ms=2.5, label="force RMSE per snapshot")
    value = metric.get("value")
    if value is not None and math.isfinite(value):
        ax.axhline(value, color="k", ls=":", lw=1, label=f"overall RMSE = {value:.3g} eV/Å")
    for thr in (thresholds or {}).values():
        if thr.get("metric") == "task2.force_rmse" and thr.get("direction") == "max":
            ax.axhline(thr["value"], color="#c00", ls="--", lw=1, label=f"threshold ≤ {thr['value']:.3g} eV/Å")
    ax.set_xlabel("time along melt–quench (ps)")
    ax.set_ylabel("force RMSE (eV/Å)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(t[0], t[-1] if len(t) > 1 else t[0] + 1)
    temps = np.array([_f(f.get("temperature_K")) for f in traj])
    handles, labels = ax.get_legend_handles_labels()
    if np.isfinite(temps).any():
        tax = ax.twinx()
        (line,) = tax.plot(t, temps, color="#7b3294", ls="--", lw=1, label="temperature")
        tax.set_ylabel("temperature (K)", color="#7b3294")
        tax.tick_params(axis="y", colors="#7b3294")
        handles.append(line)
        labels.append("temperature")
    ax.legend(handles, labels, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=4, frameon=False)
    ax.set_title(f"Task 2 — force error along melt–quench\n{model}", fontsize=11)
    return fig


# -- Task 3 ----------------------------------------------------------------------------------------------
def sigma_to_D(sigma_mS_cm: float, n_li_cm3: float, T_K: float = T_ROOM_K) -> float:
    """Nernst–Einstein (Haven ratio 1): D (cm²/s) of Li⁺ for conductivity σ (mS/cm) at T."""
    sigma_S_m = sigma_mS_cm * 0.1
    n_m3 = n_li_cm3 * 1e6
    return sigma_S_m * _KB_J * T_K / (n_m3 * _Q * _Q) * 1e4


def arrhenius_band(details: Mapping[str, Any], inv_T_per_kK: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % band of the Arrhenius fit of ``task3.sigma298`` at ``1000/T`` = ``inv_T_per_kK`` (1/K ×1000).

    The fit is redone from ``details["per_temperature"]`` (runs at ``fit_temperatures_K``) with
    :func:`pytest_lips.analysis.calibrated_conductivity_at_298`, the function that made the metric; the
    band is its delta-method interval of ln D(T), ±q·se(T), with q read from the reported
    ``D298_interval_cm2_s`` (so that the band at 298 K *is* the reported interval). Raises ``_Skip``
    when the details do not allow it or the refit does not reproduce the reported D(298 K).
    Returns ``(low, high)`` of D in cm²/s.
    """
    from ..analysis.arrhenius import BOLTZMANN_eV_K
    from ..analysis.conductivity import RunDiffusion, calibrated_conductivity_at_298

    per_T = details.get("per_temperature") or {}
    fit_T = details.get("fit_temperatures_K") or []
    d298, interval = details.get("D298_cm2_s"), details.get("D298_interval_cm2_s")
    if not per_T or len(fit_T) < 2 or d298 is None or not interval or None in interval:
        raise _Skip("details lack per_temperature, fit_temperatures_K or D298_interval_cm2_s: no fit band")
    runs = []
    for T in fit_T:
        entry = per_T.get(_temperature_label(T))
        if entry is None:
            raise _Skip(f"per_temperature has no entry for {T:g} K")
        measured = entry.get("temperature_K_measured") or [None] * len(entry["D_cm2_s"])
        errs = entry.get("D_stderr_cm2_s") or [None] * len(entry["D_cm2_s"])
        for D, stderr, tm in zip(entry["D_cm2_s"], errs, measured):
            runs.append(RunDiffusion(float(T), float(D), _f(stderr), _f(tm)))
    estimate = calibrated_conductivity_at_298(runs, n_carriers=1, volume_A3=1.0)
    fit = estimate.arrhenius
    if fit is None or not math.isclose(estimate.D298_cm2_s, float(d298), rel_tol=1e-6):
        raise _Skip("the Arrhenius refit does not reproduce the reported D(298 K): no fit band")
    var_ea, cov_ea_ln, var_ln = fit.covariance[0, 0], fit.covariance[0, 1], fit.covariance[1, 1]

    def se(inv_kT):  # standard error of ln D at 1/(kB T), 1/eV
        return np.sqrt(np.maximum(var_ln + inv_kT**2 * var_ea - 2.0 * inv_kT * cov_ea_ln, 0.0))

    inv_kT_298 = 1.0 / (BOLTZMANN_eV_K * T_ROOM_K)
    se298 = float(se(inv_kT_298))
    if not (se298 > 0 and interval[1] > d298 > 0):
        raise _Skip("D298 interval is degenerate: no fit band")
    q = math.log(float(interval[1]) / float(d298)) / se298
    inv_kT = np.asarray(inv_T_per_kK, dtype=float) / (1000.0 * BOLTZMANN_eV_K)
    ln_D = fit.ln_prefactor - fit.activation_energy_eV * inv_kT
    return np.exp(ln_D - q * se(inv_kT)), np.exp(ln_D + q * se(inv_kT))


def _temperature_label(T: float) -> str:
    return f"{float(T):g}"


@dataclass
class _Arrhenius:
    """What an Arrhenius plot of one model draws (x = 1000/T in 1/K, D in cm²/s)."""

    x: np.ndarray  # per temperature: measured fit temperature where known, else nominal
    T_K: np.ndarray  # nominal
    D: np.ndarray
    err: np.ndarray | None  # half-width of the 95 % interval of the mean
    fitted: np.ndarray  # bool per temperature: used in the Arrhenius fit (every temperature under issue 26's rule)
    unresolved: np.ndarray  # bool per temperature: the fitted line's hop MSD there is below gate_min_msd_A2
    repeats: list[np.ndarray]
    ea: float | None
    d0: float | None
    d298: float | None
    d298_interval: tuple[float, float] | None
    band: tuple[np.ndarray, np.ndarray, np.ndarray] | None  # (x, low, high) of the fit's 95 % band
    band_note: str
    unresolved_note: str  # legend text of the unresolved temperatures ("" when none)
    unfitted_note: str  # legend text of temperatures left out of the fit (older reports; "" when none)
    undecidable: str  # why σ298 may not decide ("" when it may)
    ion: str  # the mobile ion's element ("" when the report does not say)
    n_resolved: int


def _labels(T: np.ndarray, mask: np.ndarray) -> str:
    return ", ".join(f"{t:g} K" for t in T[mask])


def _arrhenius_data(metric: Mapping[str, Any]) -> _Arrhenius:
    """The drawable content of ``task3.sigma298``'s details (REPORT_SCHEMA.md, "Task 3"). A temperature is
    unresolved as the task judged it: ``per_temperature[T].resolved`` (the fitted line's hop MSD
    ``msd_hops_fitted_A2`` ≥ ``protocol.gate_min_msd_A2``), else membership of ``resolved_temperatures_K``."""
    d = metric.get("details") or {}
    _need(d, "temperatures_K", "D_cm2_s")
    T = np.array([_f(x) for x in d["temperatures_K"]])
    D = np.array([_f(x) for x in d["D_cm2_s"]])
    if len(T) != len(D):
        raise _Skip("temperatures_K and D_cm2_s differ in length")
    if not (np.isfinite(T) & np.isfinite(D) & (T > 0)).any():
        raise _Skip("no finite diffusion coefficients")
    if "fit_temperatures_K" in d:
        fit_T = {round(float(t), 6) for t in d.get("fit_temperatures_K") or []}
        fitted = np.array([round(float(t), 6) in fit_T for t in T])
    else:  # older or hand-made details: every positive D counts as fitted
        fitted = np.isfinite(D) & (D > 0)
    T_draw = T.copy()
    measured = d.get("fit_temperatures_measured_K") or []
    for t_nominal, t_meas in zip(d.get("fit_temperatures_K") or [], measured):
        idx = np.flatnonzero(np.isclose(T, float(t_nominal)))
        if idx.size and t_meas is not None and math.isfinite(float(t_meas)):
            T_draw[idx] = float(t_meas)
    err = None
    if d.get("D_err_cm2_s") and len(d["D_err_cm2_s"]) == len(T):
        err = np.array([_f(v) for v in d["D_err_cm2_s"]])
    reps = d.get("D_repeats_cm2_s")
    repeats = [np.array([_f(v) for v in (r or [])]) for r in reps] if reps and len(reps) == len(T) else []
    ea, d0 = d.get("activation_energy_eV"), d.get("prefactor_cm2_s")
    good_fit = ea is not None and d0 is not None and math.isfinite(ea) and math.isfinite(d0) and d0 > 0
    d298 = d.get("D298_cm2_s")
    d298 = float(d298) if d298 is not None and math.isfinite(d298) and d298 > 0 else None
    interval = d.get("D298_interval_cm2_s")
    d298_interval = (
        (float(interval[0]), float(interval[1])) if interval and len(interval) == 2 and None not in interval else None
    )
    x = 1000.0 / T_draw
    band, band_note = None, ""
    if good_fit and fitted.any():
        xs = np.linspace(float(x[fitted].min()), 1000.0 / T_ROOM_K, 120)
        try:
            lo, hi = arrhenius_band(d, xs)
            band = (xs, lo, hi)
        except _Skip as skip:
            band_note = str(skip)
    per_T = d.get("per_temperature") or {}
    resolved_list = d.get("resolved_temperatures_K")
    resolved_T = {round(float(t), 6) for t in resolved_list or []}
    unresolved = np.zeros(len(T), dtype=bool)
    for k, t in enumerate(T):
        entry = per_T.get(_temperature_label(t)) or {}
        if "resolved" in entry:
            unresolved[k] = not bool(entry["resolved"])
        elif resolved_list is not None:
            unresolved[k] = round(float(t), 6) not in resolved_T
    gate = (d.get("protocol") or {}).get("gate_min_msd_A2")
    ion = str(d.get("mobile_ion") or "")
    unresolved_note = ""
    if unresolved.any():
        what = f"{ion} MSD from hops" if ion else "MSD from hops"
        rule = f" < {float(gate):g} Å²" if gate is not None else " too small"
        unresolved_note = f"hops not resolved ({what} on the fitted line{rule}): {_labels(T, unresolved)}"
    unfitted = ~fitted & np.isfinite(D)
    unfitted_note = f"not in the fit: {_labels(T, unfitted)}" if unfitted.any() else ""
    n_resolved = int(np.sum(~unresolved & fitted))
    undecidable = str(d.get("undecidable") or "")
    return _Arrhenius(
        x=x,
        T_K=T,
        D=D,
        err=err,
        fitted=fitted,
        unresolved=unresolved,
        repeats=repeats,
        ea=_f(ea) if good_fit else None,
        d0=_f(d0) if good_fit else None,
        d298=d298,
        d298_interval=d298_interval,
        band=band,
        band_note=band_note,
        unresolved_note=unresolved_note,
        unfitted_note=unfitted_note,
        undecidable=undecidable,
        ion=ion,
        n_resolved=n_resolved,
    )


def _draw_arrhenius(
    ax, data: _Arrhenius, colour: str, *, name: str = "", x_offset: float = 0.0, detailed: bool = True
) -> list[float]:
    """Draw one model's Arrhenius data on ``ax``; return every y value drawn (for the axis limits).

    Every temperature is drawn with its 95 % error bar: resolved ones filled, unresolved ones (the fitted
    line's hop MSD below ``gate_min_msd_A2``: in the fit, but their MSD is mostly vibration) open, with a
    legend entry naming them; temperatures left out of the fit (older reports) grey and crossed out.
    The fit line (solid over the data, dashed down to 298 K), its 95 % band (shaded) and D(298 K) with its
    interval. A mean D ≤ 0 cannot sit on the log axis: :func:`_draw_floor` marks it at the axis floor."""
    prefix = f"{name}: " if name else ""
    ys: list[float] = []
    ok = np.isfinite(data.D) & np.isfinite(data.x)
    pos = ok & (data.D > 0)
    if detailed and data.repeats:
        first = True
        for xi, r in zip(data.x, data.repeats):
            r = r[np.isfinite(r) & (r > 0)]
            if len(r):
                ax.scatter(np.full(len(r), xi), r, s=12, color="0.6", zorder=2, label="repeats" if first else None)
                ys += list(r)
                first = False
    kinds = (
        ("resolved", pos & data.fitted & ~data.unresolved),
        ("unresolved", pos & data.fitted & data.unresolved),
        ("unfitted", pos & ~data.fitted),
    )
    for kind, sel in kinds:
        if not sel.any():
            continue
        yerr = None
        if data.err is not None:
            e = np.where(np.isfinite(data.err), data.err, 0.0)[sel]
            low = np.minimum(e, data.D[sel] * (1 - 1e-9))  # a lower end ≤ 0 is drawn to the axis (log scale)
            yerr = np.vstack([low, e])
            ys += list(data.D[sel] + e)
            ys += [v for v in data.D[sel] - e if v > 0]
        ys += list(data.D[sel])
        style: dict[str, Any]
        if kind == "resolved":
            label = f"{prefix}D(T), hops resolved" if name else "D(T), mean of repeats (95 % CI)"
            style = dict(fmt="o", color=colour, ms=6)
        elif kind == "unresolved":
            label = f"{prefix}{data.unresolved_note}"
            style = dict(fmt="o", color=colour, mfc="white", mec=colour, mew=1.8, ms=8, elinewidth=1.0, ls="none")
        else:
            grey = "0.45" if detailed else colour
            label = f"{prefix}{data.unfitted_note}"
            style = dict(fmt="o", mfc="white", mec=grey, ecolor="0.6" if detailed else colour, ms=7)
        container = ax.errorbar(
            data.x[sel] + x_offset, data.D[sel], yerr=yerr, capsize=3, zorder=4, label=label, **style
        )
        container.lines[0].set_gid(f"lips-{kind}")  # the markers (tests and tools find them by gid)
        if kind == "unfitted":
            ax.scatter(data.x[sel] + x_offset, data.D[sel], marker="x", s=30, color="0.45", zorder=5)
    if data.ea is not None and data.d0 is not None and data.fitted.any():
        x_fit = data.x[data.fitted]
        x298 = 1000.0 / T_ROOM_K
        xs = np.linspace(x_fit.min(), x_fit.max(), 50)
        ax.plot(
            xs,
            data.d0 * np.exp(-data.ea * xs / (KB_EV * 1000.0)),
            color=colour,
            lw=1.5,
            label=f"{prefix}Arrhenius fit, E$_a$ = {data.ea:.3g} eV",
            gid="lips-fit",
        )
        xe = np.linspace(x_fit.max(), x298, 50)
        ax.plot(
            xe,
            data.d0 * np.exp(-data.ea * xe / (KB_EV * 1000.0)),
            color=colour,
            lw=1.2,
            ls="--",
            label="extrapolation to 298 K" if detailed else None,
            gid="lips-extrapolation",
        )
    if data.band is not None:
        bx, lo, hi = data.band
        ax.fill_between(
            bx, lo, hi, color=colour, alpha=0.15, lw=0, label=f"{prefix}95 % band of the fit", gid="lips-fit-band"
        )
        ys += [float(lo.min()), float(hi.max())]
    if data.d298 is not None:
        yerr298 = None
        if data.d298_interval is not None:
            lo298, hi298 = data.d298_interval
            yerr298 = [[max(data.d298 - max(lo298, 0.0), 0.0) * (1 - 1e-9)], [max(hi298 - data.d298, 0.0)]]
            ys += [hi298] + ([lo298] if lo298 > 0 else [])
        ys.append(data.d298)
        container = ax.errorbar(
            [1000.0 / T_ROOM_K + x_offset],
            [data.d298],
            yerr=yerr298,
            fmt="*",
            ms=13 if detailed else 11,
            color=colour if not detailed else "#d62728",
            mec="k",
            mew=0.5,
            capsize=4,
            zorder=6,
            label=None if not detailed else "D(298 K) with 95 % interval",
        )
        container.lines[0].set_gid("lips-d298")
    return ys


def _draw_floor(ax, data: _Arrhenius, colour: str, *, name: str = "", x_offset: float = 0.0) -> None:
    """Temperatures whose mean D is ≤ 0 (no place on a log axis): a downward triangle at the axis floor."""
    sel = np.isfinite(data.D) & np.isfinite(data.x) & (data.D <= 0)
    if not sel.any():
        return
    lo, hi = ax.get_ylim()
    prefix = f"{name}: " if name else ""
    ax.scatter(
        data.x[sel] + x_offset,
        np.full(int(sel.sum()), lo * (hi / lo) ** 0.02),
        marker="v",
        s=40,
        facecolor="white",
        edgecolor=colour,
        zorder=5,
        label=f"{prefix}mean D ≤ 0 (at the axis floor): {_labels(data.T_K, sel)}",
        gid="lips-nonpositive",
    )
    ax.set_ylim(lo, hi)


def _accepted_band(ax, details: Mapping[str, Any], thresholds) -> list[float]:
    """Shade the accepted σ298 band at 298 K, converted to D; return its two D values (or [])."""
    band_d = details.get("band_D298_cm2_s")
    band_s = details.get("band_mS_cm") or _band_from_thresholds(thresholds)
    if not band_d and band_s and details.get("li_number_density_cm3"):
        band_d = [sigma_to_D(v, float(details["li_number_density_cm3"])) for v in band_s]
    if not band_d:
        return []
    lo, hi = sorted(float(v) for v in band_d)
    label = "accepted band"
    if band_s:
        label += f" σ$_{{298}}$ ∈ [{band_s[0]:g}, {band_s[1]:g}] mS/cm"
    x298 = 1000.0 / T_ROOM_K
    ax.fill_between([x298 - 0.08, x298 + 0.08], lo, hi, color="#2ca02c", alpha=0.3, lw=0, label=label, zorder=1)
    return [lo, hi]


def _finish_arrhenius(ax, xs: list[float], ys: list[float], ion: str = "") -> None:
    """Log y axis that contains every drawn value (each error bar end); x from the data to 298 K; T on the
    top axis; the y label names the pack's mobile ion when the report gives it."""
    ax.set_yscale("log")
    positive = [y for y in ys if y is not None and math.isfinite(y) and y > 0]
    if positive:
        lo, hi = min(positive), max(positive)
        ax.set_ylim(lo / 2.0, hi * 2.0)
    x298 = 1000.0 / T_ROOM_K
    ax.set_xlim(min(min(xs), x298) - 0.12, max(max(xs), x298) + 0.2)
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel(
        f"{ion} diffusion coefficient D (cm²/s)" if ion else "diffusion coefficient D of the mobile ion (cm²/s)"
    )
    top = ax.secondary_xaxis("top", functions=(_inv1000, _inv1000))
    top.set_xlabel("T (K)")
    ax.grid(True, which="major", alpha=0.3)


def _undecided_text(data: _Arrhenius) -> str:
    if data.d298 is None:
        why = f"{data.n_resolved} temperature(s) resolved, 2 needed" if data.n_resolved < 2 else "the fit gave none"
        return f"no extrapolation to 298 K: {why}"
    if data.n_resolved < 2 or data.undecidable:
        return f"σ$_{{298}}$ cannot decide: hops resolved at {data.n_resolved} temperature(s), 2 needed"
    return ""


def plot_task3_arrhenius(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """log D vs 1000/T: every temperature with its 95 % error bar (those whose fitted-line hop MSD is below
    ``gate_min_msd_A2`` open and named in the legend as unresolved), the Arrhenius fit through all of them
    with its 95 % band (shaded) down to 298 K, D(298 K) with its interval, and the accepted σ298 band at
    298 K; the axes hold every error bar."""
    metric = metrics.get("task3.sigma298") or {}
    d = metric.get("details") or {}
    data = _arrhenius_data(metric)
    fig, ax = _new_figure(8, 5.6)
    ys = _draw_arrhenius(ax, data, "#1f77b4")
    ys += _accepted_band(ax, d, thresholds)
    _finish_arrhenius(ax, list(data.x[np.isfinite(data.x)]), ys, data.ion)
    _draw_floor(ax, data, "#1f77b4")
    top = ax.child_axes[-1] if ax.child_axes else None
    if top is not None:
        ticks = sorted({*[float(v) for v in data.T_K[np.isfinite(data.T_K)]], T_ROOM_K})
        top.set_xticks(ticks)
        top.set_xticklabels([f"{v:.0f}" for v in ticks], fontsize=8)
    sigma = metric.get("value")
    if sigma is not None and math.isfinite(sigma):
        text = f"σ$_{{298}}$ = {sigma:.3g} mS/cm"
        interval = metric.get("interval")
        if interval and None not in interval:
            text += f" [{interval[0]:.3g}, {interval[1]:.3g}] (95 %)"
        ax.plot([], [], " ", label=text)
    undecided = _undecided_text(data)
    if undecided:
        ax.plot([], [], " ", label=undecided)
    if data.d298 is not None and data.band_note:
        ax.plot([], [], " ", label=f"(no band: {data.band_note})")
    ax.legend(fontsize=7.5, loc="lower left")
    ax.set_title(f"Task 3 — Arrhenius — {model}", fontsize=11)
    return fig


def _inv1000(v):
    v = np.asarray(v, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(v != 0, 1000.0 / np.where(v != 0, v, 1.0), np.inf)


def _band_from_thresholds(thresholds) -> list[float] | None:
    lo = (thresholds or {}).get("task3.sigma298_min", {}).get("value")
    hi = (thresholds or {}).get("task3.sigma298_max", {}).get("value")
    return [lo, hi] if lo is not None and hi is not None else None


# -- Task 4 ----------------------------------------------------------------------------------------------
def plot_task4_stability(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """T × p grid coloured by survival (completed/repeats) with close-contact %; ungated cells hatched."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.patches import Patch, Rectangle

    d = (metrics.get("task4.survival_fraction") or {}).get("details") or {}
    _need(d, "grid")
    grid = [g for g in d["grid"] if g.get("temperature_K") is not None and g.get("pressure_Pa") is not None]
    if not grid:
        raise _Skip("grid has no points with temperature_K and pressure_Pa")
    temps = sorted({float(g["temperature_K"]) for g in grid})
    press = sorted({float(g["pressure_Pa"]) for g in grid})
    cmap = colormaps["RdYlGn"]
    norm = Normalize(0.0, 1.0)
    fig, ax = _new_figure(max(5.0, 1.5 * len(press) + 2.2), max(3.6, 0.85 * len(temps) + 1.8))
    any_ungated = False
    for g in grid:
        i = press.index(float(g["pressure_Pa"]))
        j = temps.index(float(g["temperature_K"]))
        repeats = int(g.get("repeats") or 0)
        completed = int(g.get("completed") or 0)
        surv = completed / repeats if repeats else float("nan")
        gated = bool(g.get("gated", True))
        any_ungated |= not gated
        colour = cmap(norm(surv)) if math.isfinite(surv) else (0.85, 0.85, 0.85, 1.0)
        ax.add_patch(
            Rectangle(
                (i, j), 1, 1, facecolor=colour, edgecolor="white", lw=2, hatch=None if gated else "//", gid="lips-cell"
            )
        )
        text = f"{completed}/{repeats}"
        ccf = g.get("close_contact_fraction")
        if ccf is not None and math.isfinite(float(ccf)):
            text += f"\n{100 * float(ccf):.1f} % cc"
        ax.text(
            i + 0.5,
            j + 0.5,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color="black",
            fontweight="bold" if gated else "normal",
            bbox=dict(boxstyle="round,pad=0.25", facecolor="white", alpha=0.8, linewidth=0),
        )
    ax.set_xlim(0, len(press))
    ax.set_ylim(0, len(temps))
    ax.set_xticks([i + 0.5 for i in range(len(press))])
    ax.set_xticklabels([_pressure_label(p) for p in press])
    ax.set_yticks([j + 0.5 for j in range(len(temps))])
    ax.set_yticklabels([f"{t:.0f}" for t in temps])
    ax.set_xlabel("pressure")
    ax.set_ylabel("temperature (K)")
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    from matplotlib.cm import ScalarMappable

    bar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.06, pad=0.03)
    bar.set_label("survival (completed / repeats)")
    if any_ungated:
        ax.legend(
            handles=[Patch(facecolor="white", edgecolor="0.3", hatch="//", label="outside gated domain")],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.14),
            fontsize=8,
            frameon=False,
        )
    ax.set_title(f"Task 4 — stability map — {model}\n(cc = frames with a pair ≤ 1 Å)", fontsize=10)
    return fig


def _pressure_label(p: float) -> str:
    if p >= 1e9:
        return f"{p / 1e9:g} GPa"
    if p >= 1e5:
        return f"{p / 1e6:g} MPa"
    if p >= 1e3:
        return f"{p / 1e3:g} kPa"
    return f"{p:g} Pa"


# -- several models ----------------------------------------------------------------------------------------
MODEL_COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#7f7f7f"]
_VERDICT_COLOURS = {"PASS": "#2ca02c", "FAIL": "#d62728"}


def model_colour(i: int) -> str:
    return MODEL_COLOURS[i % len(MODEL_COLOURS)]


def comparison_keys(report: Mapping[str, Any]) -> list[str]:
    """Metric keys drawn in the per-metric comparison: every metric with a threshold, the Task 2 regime
    errors and the activation energy, in task order (per-temperature D and per-category test-split
    metrics stay in the table)."""
    from .table import build_rows, threshold_text

    thresholds = report.get("thresholds") or {}
    _models, rows = build_rows(report)
    keys = []
    for row in rows:
        key = row.key
        if (
            threshold_text(thresholds, key)
            or key == "task3.activation_energy"
            or (key.startswith("task2.") and key.endswith(("_rmse", "_mae")))
        ):
            keys.append(key)
    return keys


def plot_compare_metrics(report: Mapping[str, Any], *, keys: list[str] | None = None):
    """One panel per metric: the value of each model with its 95 % interval (or ± uncertainty), coloured
    by verdict (PASS green, FAIL red, otherwise grey), the threshold drawn (band shaded)."""
    from .table import better_direction, build_rows

    thresholds = report.get("thresholds") or {}
    models, rows = build_rows(report)
    keys = keys if keys is not None else comparison_keys(report)
    rows = [r for r in rows if r.key in keys]
    if not rows or len(models) < 1:
        raise _Skip("no metrics to compare")
    ncols = min(3, len(rows))
    nrows = math.ceil(len(rows) / ncols)
    width = max(3.2, 0.55 * len(models) + 1.6)
    fig, axes = _new_figure(width * ncols, 3.0 * nrows + 0.6, ncols=ncols, squeeze=False, nrows=nrows)
    flat = [a for line in axes for a in line]
    xs = np.arange(len(models))
    for ax, row in zip(flat, rows):
        ys: list[float] = []
        for i, model in enumerate(models):
            cell = row.cells.get(model)
            if cell is None:
                continue
            m = cell.metric
            value = m.get("value")
            if value is None or not math.isfinite(value):
                ax.text(i, 0.5, "n/a", transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color="0.4")
                continue
            yerr = None
            interval = m.get("interval")
            if interval and len(interval) == 2 and None not in interval:
                yerr = [[max(value - interval[0], 0.0)], [max(interval[1] - value, 0.0)]]
                ys += [interval[0], interval[1]]
            elif m.get("uncertainty") is not None and math.isfinite(m["uncertainty"]):
                yerr = [[m["uncertainty"]], [m["uncertainty"]]]
                ys += [value - m["uncertainty"], value + m["uncertainty"]]
            ys.append(value)
            colour = _VERDICT_COLOURS.get(cell.verdict, "0.45")
            ax.errorbar([i], [value], yerr=yerr, fmt="o", color=colour, ms=7, capsize=4, zorder=3)
        direction, band = better_direction(thresholds, row.key)
        gates = [t for t in thresholds.values() if t.get("metric") == row.key and t.get("direction") in ("max", "min")]
        if direction == "band" and band is not None:
            ax.axhspan(band[0], band[1], color="#2ca02c", alpha=0.15, lw=0, zorder=0)
            ys += list(band)
        for t in gates:
            ax.axhline(t["value"], color="#c00", ls="--", lw=1, zorder=1)
            ys.append(t["value"])
        finite = [y for y in ys if y is not None and math.isfinite(y)]
        if finite:
            lo, hi = min(finite), max(finite)
            if row.key == "task3.sigma298" and lo > 0 and hi / lo > 30:
                ax.set_yscale("log")
                ax.set_ylim(lo / 1.5, hi * 1.5)
            else:
                pad = 0.08 * (hi - lo or abs(hi) or 1.0)
                ax.set_ylim(lo - pad, hi + pad)
        ax.set_xticks(xs)
        ax.set_xticklabels(
            models, rotation=30 if len(models) > 2 else 0, ha="right" if len(models) > 2 else "center", fontsize=8
        )
        ax.set_xlim(-0.6, len(models) - 0.4)
        ax.set_title(f"{row.key}" + (f"  ({row.threshold_text})" if row.threshold_text else ""), fontsize=9)
        ax.set_ylabel(row.unit or "value", fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    for ax in flat[len(rows) :]:
        ax.set_visible(False)
    fig.suptitle(
        "Metrics per model (95 % interval or ± uncertainty; green PASS, red FAIL, grey not gated; "
        "red dashes: threshold)",
        fontsize=10,
    )
    return fig


def plot_compare_arrhenius(report: Mapping[str, Any], *, thresholds=None):
    """Arrhenius data, fits and 95 % bands of every model on one axis, with the accepted σ298 band; each
    model's unresolved temperatures open markers named in the legend."""
    thresholds = thresholds if thresholds is not None else report.get("thresholds") or {}
    fig, ax = _new_figure(9, 6)
    ys: list[float] = []
    xs: list[float] = []
    band_drawn = False
    any_d298 = False
    drawn: list[tuple[_Arrhenius, str, str, float]] = []
    models = sorted(report.get("results") or {})
    for i, model in enumerate(models):
        metric = _metric(report, model, "task3.sigma298")
        if metric is None:
            continue
        try:
            data = _arrhenius_data(metric)
        except _Skip:
            continue
        offset = 0.012 * (i - (len(models) - 1) / 2)  # σ298 stars side by side
        ys += _draw_arrhenius(ax, data, model_colour(i), name=model, x_offset=offset, detailed=False)
        any_d298 = any_d298 or data.d298 is not None
        undecided = _undecided_text(data)
        if undecided:
            ax.plot([], [], " ", label=f"{model}: {undecided}")
        xs += list(data.x[np.isfinite(data.x)])
        if not band_drawn:
            band = _accepted_band(ax, metric.get("details") or {}, thresholds)
            ys += band
            band_drawn = bool(band)
        drawn.append((data, model_colour(i), model, offset))
    if not drawn:
        raise _Skip("no model has Task 3 Arrhenius data")
    ions = {data.ion for data, *_ in drawn if data.ion}
    _finish_arrhenius(ax, xs, ys, ions.pop() if len(ions) == 1 else "")
    for data, colour, model, offset in drawn:
        _draw_floor(ax, data, colour, name=model, x_offset=offset)
    if any_d298:
        ax.plot([], [], "*", color="0.3", ms=10, label="D(298 K) with 95 % interval (per model colour)")
    ax.legend(fontsize=7, loc="lower left", ncol=1 if len(drawn) < 3 else 2)
    ax.set_title("Task 3 — Arrhenius, all models (open markers: hops not resolved on the fitted line)", fontsize=10)
    return fig


def plot_compare_task2(report: Mapping[str, Any]):
    """Task 2 force error along the melt–quench for every model (regimes shaded), and per regime."""
    models = sorted(report.get("results") or {})
    series = []
    for i, model in enumerate(models):
        metric = _metric(report, model, "task2.force_rmse")
        traj = ((metric or {}).get("details") or {}).get("trajectory")
        if traj:
            series.append((i, model, sorted(traj, key=lambda f: _f(f.get("time_ps")))))
    if not series:
        raise _Skip("no model has Task 2 trajectory details")
    keys = {k for m in models for k in _metric_keys(report, m)}
    regimes = sorted(k.split(".")[1] for k in keys if k.count(".") == 2 and re.fullmatch(r"task2\.\w+\.force_rmse", k))
    fig, (ax, bars) = _new_figure(13, 4.6, ncols=2, width_ratios=[2.2, 1])
    _, _, first = series[0]
    t0 = np.array([_f(f.get("time_ps")) for f in first])
    _shade_regimes(ax, t0, [f.get("regime") for f in first])
    for i, model, traj in series:
        t = np.array([_f(f.get("time_ps")) for f in traj])
        err = np.array([_f(f.get("force_rmse")) for f in traj])
        ax.plot(t, err, color=model_colour(i), lw=1.2, marker="o", ms=2.5, label=model)
    for thr in (report.get("thresholds") or {}).values():
        if thr.get("metric") == "task2.force_rmse" and thr.get("direction") == "max":
            ax.axhline(thr["value"], color="#c00", ls="--", lw=1, label=f"threshold ≤ {thr['value']:.3g} eV/Å")
    ax.set_xlabel("time along melt–quench (ps)")
    ax.set_ylabel("force RMSE per snapshot (eV/Å)")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=5, frameon=False)
    ax.set_title("Task 2 — force error along the melt–quench", fontsize=10)

    groups = [*regimes, "all"]
    width = 0.8 / max(len(series), 1)
    for j, (i, model, _traj) in enumerate(series):
        values = []
        for g in groups:
            metric = _metric(report, model, "task2.force_rmse" if g == "all" else f"task2.{g}.force_rmse")
            v = (metric or {}).get("value")
            values.append(float(v) if v is not None and math.isfinite(v) else float("nan"))
        pos = np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width
        bars.bar(pos, values, width=width * 0.95, color=model_colour(i), label=model)
    bars.set_xticks(np.arange(len(groups)))
    bars.set_xticklabels(groups)
    bars.set_ylabel("force RMSE (eV/Å)")
    bars.set_title("per regime", fontsize=10)
    bars.grid(True, axis="y", alpha=0.3)
    return fig


def _shade_regimes(ax, t: np.ndarray, regimes: list) -> None:
    if not any(regimes) or not len(t):
        return
    edges = np.concatenate([[t[0]], (t[1:] + t[:-1]) / 2, [t[-1]]]) if len(t) > 1 else np.array([t[0], t[0] + 1])
    start = 0
    seen: set[str] = set()
    palette = dict(REGIME_COLOURS)
    for i in range(1, len(regimes) + 1):
        if i == len(regimes) or regimes[i] != regimes[start]:
            name = regimes[start]
            if name:
                colour = palette.setdefault(name, _FALLBACK_REGIME_COLOURS[len(palette) % 4])
                ax.axvspan(edges[start], edges[i], color=colour, alpha=0.45, lw=0, label=None if name in seen else name)
                seen.add(name)
            start = i


def _metric(report: Mapping[str, Any], model: str, key: str) -> Mapping[str, Any] | None:
    for entry in ((report.get("results") or {}).get(model) or {}).values():
        for m in entry.get("metrics", []):
            if m.get("key") == key:
                return m
    return None


def _metric_keys(report: Mapping[str, Any], model: str) -> list[str]:
    return [
        m["key"]
        for entry in ((report.get("results") or {}).get(model) or {}).values()
        for m in entry.get("metrics", [])
    ]


# -- figures of a report -----------------------------------------------------------------------------------
@dataclass
class Figure:
    """One drawn figure: ``name`` (file stem), ``title`` (caption) and the matplotlib figure."""

    name: str
    title: str
    figure: Any

    def png(self, dpi: int = 110) -> bytes:
        """The figure as PNG bytes."""
        import io

        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=dpi)
        return buffer.getvalue()


def _comparisons() -> list[tuple[str, str, Any]]:
    """The comparison figures: the metrics of all models, then each task's own (task registry order)."""
    from ..tasks.registry import iter_tasks, resolve

    out: list[tuple[str, str, Any]] = [("compare_metrics", "Metrics per model", plot_compare_metrics)]
    for spec in iter_tasks():
        out.extend((name, title, resolve(function)) for name, title, function in spec.comparison_plots)
    return out


def report_figures(report: Mapping[str, Any], *, notes: list[str] | None = None, comparison: bool | None = None):
    """Every figure the report has data for: with several models (or ``comparison=True``) the comparison
    figures first, then each model's own plots (which tasks draw what: :mod:`pytest_lips.tasks.registry`).
    Reasons for skipped plots are appended to ``notes``."""
    from ..tasks.registry import iter_tasks

    notes = notes if notes is not None else []
    results = report.get("results") or {}
    out: list[Figure] = []
    if comparison if comparison is not None else len(results) > 1:
        for name, title, compare in _comparisons():
            try:
                out.append(Figure(name, title, compare(report)))
            except _Skip as skip:
                msg = f"comparison plot {name} skipped: {skip}"
                log.info(msg)
                notes.append(msg)
    thresholds = report.get("thresholds") or {}
    for model, tasks in sorted(results.items()):
        metrics = {m["key"]: m for entry in tasks.values() for m in entry.get("metrics", [])}
        for plot in (p for spec in iter_tasks() for p in spec.plots):
            if metrics.get(plot.metric) is None:
                continue
            try:
                fig = plot.builder()(metrics, model=model, thresholds=thresholds)
            except _Skip as skip:
                msg = f"plot {plot.name} of model {model} skipped: {skip}"
                log.info(msg)
                notes.append(msg)
                continue
            out.append(Figure(f"{safe_name(model)}_{plot.name}", f"{model}: {plot.title}", fig))
    return out
