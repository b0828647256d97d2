"""PNG plots of a report (``--lips-plots DIR``), drawn from ``Metric.details`` (keys in REPORT_SCHEMA.md).

* Task 1 – parity of formation energies, model vs DFT, extrapolation set marked, plus residuals;
* Task 2 – force RMSE along the melt–quench trajectory, regimes shaded, temperature on a 2nd axis;
* Task 3 – Arrhenius plot: D(T) per temperature (and repeats), the fit, its extrapolation to 298 K and
  the accepted σ298 band converted to D;
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
    ``<model>_task3_arrhenius.png``, ``<model>_task4_stability.png`` (model name made file-safe).
    Reasons for skipped plots are appended to ``notes`` when given.
    """
    out_dir = Path(out_dir)
    notes = notes if notes is not None else []
    thresholds = report.get("thresholds") or {}
    written: list[Path] = []
    for model, tasks in sorted((report.get("results") or {}).items()):
        metrics = {m["key"]: m for entry in tasks.values() for m in entry.get("metrics", [])}
        for name, key, builder in _PLOTS:
            metric = metrics.get(key)
            if metric is None:
                continue
            try:
                fig = builder(metrics, model=model, thresholds=thresholds)
            except _Skip as skip:
                msg = f"plot {name} of model {model} skipped: {skip}"
                log.info(msg)
                notes.append(msg)
                continue
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"{safe_name(model)}_{name}.png"
            fig.savefig(path, dpi=dpi)
            written.append(path)
    return sorted(written)


def safe_name(name: str) -> str:
    """A file-name-safe form of a model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "model"


class _Skip(Exception):
    pass


def _new_figure(w: float, h: float, ncols: int = 1, **kw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(w, h), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, **kw)
    return fig, axes


def _need(details: Mapping[str, Any], *keys: str) -> None:
    missing = [k for k in keys if details.get(k) in (None, [], {})]
    if missing:
        raise _Skip(f"details lack {', '.join(missing)}")


def _f(x) -> float:
    return float("nan") if x is None else float(x)


# -- Task 1 ----------------------------------------------------------------------------------------------
def plot_task1_parity(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """Parity (model vs DFT E_f) and residuals; extrapolation structures as open triangles."""
    relaxed = (metrics.get("task1.ef_rmse_relaxed") or {}).get("details") or {}
    _need(relaxed, "structures")
    series = [("relaxed", relaxed["structures"], "#1f77b4")]
    single = ((metrics.get("task1.ef_rmse_single_point") or {}).get("details") or {}).get("structures")
    if single:
        series.append(("single point", single, "#ff7f0e"))

    fig, (ax, res) = _new_figure(10, 4.6, ncols=2)
    all_vals = []
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
            )
            ax.scatter(dft[sel], mod[sel], **kw)
            res.scatter(dft[sel], mod[sel] - dft[sel], **{**kw, "label": None})
        if label == "relaxed":
            err = mod - dft
            worst = [i for i in np.argsort(-np.abs(np.nan_to_num(err))) if ok[i]][:3]
            rmse = float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else float("nan")
            for i in worst:
                if abs(err[i]) > 2 * rmse and np.isfinite(rmse):
                    res.annotate(
                        str(structures[i].get("name", i)),
                        (dft[i], err[i]),
                        fontsize=7,
                        xytext=(6, -10 if err[i] < 0 else 6),
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
    lo, hi = min(all_vals), max(all_vals)
    pad = 0.05 * (hi - lo or 1.0)
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.4", lw=1, ls="--", zorder=0, label="y = x")
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("E$_f$ DFT (meV/atom)")
    ax.set_ylabel("E$_f$ model (meV/atom)")
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title("Formation energies: parity")

    res.axhline(0, color="0.4", lw=1, ls="--")
    value = (metrics.get("task1.ef_rmse_relaxed") or {}).get("value")
    if value is not None and math.isfinite(value):
        res.axhspan(-value, value, color="#1f77b4", alpha=0.12, label=f"± RMSE relaxed = {value:.3g} meV/atom")
        res.legend(fontsize=8, loc="upper left")
    res.set_xlabel("E$_f$ DFT (meV/atom)")
    res.set_ylabel("E$_f$ model − DFT (meV/atom)")
    res.set_title("Residuals")
    fig.suptitle(f"Task 1 — {model}", fontsize=11)
    return fig


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

    # regime spans: consecutive frames with the same regime, edges halfway between frames
    regimes = [f.get("regime") for f in traj]
    if any(regimes):
        edges = np.concatenate([[t[0]], (t[1:] + t[:-1]) / 2, [t[-1]]]) if len(t) > 1 else np.array([t[0], t[0] + 1])
        start = 0
        seen: set[str] = set()
        palette = dict(REGIME_COLOURS)
        for i in range(1, len(traj) + 1):
            if i == len(traj) or regimes[i] != regimes[start]:
                name = regimes[start]
                if name:
                    colour = palette.setdefault(name, _FALLBACK_REGIME_COLOURS[len(palette) % 4])
                    ax.axvspan(
                        edges[start], edges[i], color=colour, alpha=0.45, lw=0, label=None if name in seen else name
                    )
                    seen.add(name)
                start = i
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


def plot_task3_arrhenius(metrics: Mapping[str, Mapping[str, Any]], *, model: str = "", thresholds=None):
    """log D vs 1000/T with repeats, Arrhenius fit extrapolated to 298 K and the accepted band."""
    metric = metrics.get("task3.sigma298") or {}
    d = metric.get("details") or {}
    _need(d, "temperatures_K", "D_cm2_s")
    T = np.array([_f(x) for x in d["temperatures_K"]])
    D = np.array([_f(x) for x in d["D_cm2_s"]])
    if len(T) != len(D):
        raise _Skip("temperatures_K and D_cm2_s differ in length")
    ok = np.isfinite(T) & np.isfinite(D) & (D > 0)
    if not ok.any():
        raise _Skip("no positive diffusion coefficients")
    x = 1000.0 / T
    x298 = 1000.0 / T_ROOM_K
    fig, ax = _new_figure(7.5, 5.2)

    reps = d.get("D_repeats_cm2_s")
    if reps and len(reps) == len(T):
        first = True
        for xi, r in zip(x, reps):
            r = np.array([_f(v) for v in (r or [])])
            r = r[np.isfinite(r) & (r > 0)]
            if len(r):
                ax.scatter(np.full(len(r), xi), r, s=12, color="0.55", zorder=2, label="repeats" if first else None)
                first = False
    yerr = None
    if d.get("D_err_cm2_s") and len(d["D_err_cm2_s"]) == len(T):
        e = np.array([_f(v) for v in d["D_err_cm2_s"]])
        yerr = np.vstack([np.minimum(e, D * 0.999), e])[:, ok]
    ax.errorbar(
        x[ok], D[ok], yerr=yerr, fmt="o", color="#1f77b4", ms=6, capsize=3, zorder=3, label="D(T), mean of repeats"
    )

    ea, d0 = d.get("activation_energy_eV"), d.get("prefactor_cm2_s")
    if ea is not None and d0 is not None and math.isfinite(ea) and math.isfinite(d0) and d0 > 0:
        xs = np.linspace(x[ok].min(), x[ok].max(), 50)
        ax.plot(
            xs,
            d0 * np.exp(-ea * xs / (KB_EV * 1000.0)),
            color="#1f77b4",
            lw=1.5,
            label=f"Arrhenius fit, E$_a$ = {ea:.3g} eV",
        )
        xe = np.linspace(x[ok].max(), x298, 50)
        ax.plot(
            xe,
            d0 * np.exp(-ea * xe / (KB_EV * 1000.0)),
            color="#1f77b4",
            lw=1.2,
            ls="--",
            label="extrapolation to 298 K",
        )

    band_d = d.get("band_D298_cm2_s")
    band_s = d.get("band_mS_cm") or _band_from_thresholds(thresholds)
    if not band_d and band_s and d.get("li_number_density_cm3"):
        band_d = [sigma_to_D(v, float(d["li_number_density_cm3"])) for v in band_s]
    if band_d:
        lo, hi = sorted(float(v) for v in band_d)
        label = "accepted band"
        if band_s:
            label += f" σ$_{{298}}$ ∈ [{band_s[0]:g}, {band_s[1]:g}] mS/cm"
        ax.fill_between([x298 - 0.07, x298 + 0.07], lo, hi, color="#2ca02c", alpha=0.3, lw=0, label=label)

    d298 = d.get("D298_cm2_s")
    if d298 is not None and math.isfinite(d298) and d298 > 0:
        interval = d.get("D298_interval_cm2_s")
        yerr298 = None
        if interval and len(interval) == 2 and None not in interval:
            yerr298 = [[max(d298 - interval[0], 0)], [max(interval[1] - d298, 0)]]
        sigma = metric.get("value")
        s_text = f", σ$_{{298}}$ = {sigma:.3g} mS/cm" if sigma is not None and math.isfinite(sigma) else ""
        ax.errorbar(
            [x298],
            [d298],
            yerr=yerr298,
            fmt="*",
            ms=13,
            color="#d62728",
            capsize=4,
            zorder=4,
            label=f"D(298 K) = {d298:.2e} cm²/s{s_text}",
        )

    ax.set_yscale("log")
    ax.set_xlabel("1000 / T (1/K)")
    ax.set_ylabel("Li diffusion coefficient D (cm²/s)")
    lo_x = min(x[ok].min(), x298) - 0.15
    ax.set_xlim(lo_x, x298 + 0.2)
    top = ax.secondary_xaxis("top", functions=(_inv1000, _inv1000))
    top.set_xlabel("T (K)")
    ticks = sorted({*[float(v) for v in T[ok]], T_ROOM_K})
    top.set_xticks(ticks)
    top.set_xticklabels([f"{v:.0f}" for v in ticks], fontsize=8)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"Task 3 — Li7P3S11 Arrhenius — {model}", fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
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


_PLOTS = (
    ("task1_parity", "task1.ef_rmse_relaxed", plot_task1_parity),
    ("task2_force_error", "task2.force_rmse", plot_task2_force_error),
    ("task3_arrhenius", "task3.sigma298", plot_task3_arrhenius),
    ("task4_stability", "task4.survival_fraction", plot_task4_stability),
)
