"""The comparison view: figures of several models, the Arrhenius band, provenance per model, one HTML file."""

import base64
import copy
import math
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from report_synthetic import make_metrics, make_report, task3_metric_from_runs, with_task3_from_runs  # noqa: E402

from pytest_lips.__main__ import main  # noqa: E402
from pytest_lips.analysis import BOLTZMANN_eV_K  # noqa: E402
from pytest_lips.report import merge_reports, render_html, render_markdown, write_report  # noqa: E402
from pytest_lips.report.plots import (  # noqa: E402
    T_ROOM_K,
    arrhenius_band,
    plot_compare_arrhenius,
    plot_compare_metrics,
    plot_compare_task2,
    plot_task1_parity,
    plot_task3_arrhenius,
    report_figures,
)
from pytest_lips.report.provenance import model_provenance  # noqa: E402


def _two_models(pack_b: str = "c" * 64):
    a = with_task3_from_runs(make_report(models=("mace-a",)), "mace-a", Ea=0.25, seed=0)
    b = with_task3_from_runs(
        make_report(models=("mace-b",), force_scales={"mace-b": 1.3}), "mace-b", Ea=0.3, seed=1, unresolved_K=(400, 500)
    )
    a["provenance"] = {"reference_pack": {"name": "lips-open-pbesol", "version": "1", "checksum": "c" * 64}}
    b["provenance"] = {"reference_pack": {"name": "lips-open-pbesol", "version": "1", "checksum": pack_b}}
    b["environment"] = {"python": "3.12", "torch": "2.13"}
    return a, b


# -- Arrhenius band ---------------------------------------------------------------------------------------
def test_arrhenius_band_is_the_reported_interval_at_298_K_and_tends_to_the_Ea_interval():
    sigma, ea = task3_metric_from_runs("m", with_activation_energy=True)
    d = sigma["details"]
    assert d["fit_temperatures_K"] == [400.0, 500.0, 600.0, 700.0, 800.0]  # every temperature is fitted
    assert d["resolved_temperatures_K"] == [500.0, 600.0, 700.0, 800.0]  # 400 K unresolved on the fitted line
    x298 = 1000.0 / T_ROOM_K
    lo, hi = arrhenius_band(d, np.array([x298]))
    assert lo[0] == pytest.approx(d["D298_interval_cm2_s"][0], rel=1e-8)
    assert hi[0] == pytest.approx(d["D298_interval_cm2_s"][1], rel=1e-8)
    # far out, the half-width of ln D grows as q·se(Ea)·(1/kT): the Ea interval's half-width (independent)
    x_far = np.array([100.0, 200.0])  # 1000/T: T = 10 and 5 K
    lo, hi = arrhenius_band(d, x_far)
    inv_kT = x_far / (1000.0 * BOLTZMANN_eV_K)
    slope = np.diff(np.log(hi / lo) / 2) / np.diff(inv_kT)
    assert slope[0] == pytest.approx((ea["interval"][1] - ea["interval"][0]) / 2, rel=1e-3)
    # the band holds the fit line and is narrowest among the data
    xs = np.linspace(1000 / 800, x298, 50)
    lo, hi = arrhenius_band(d, xs)
    line = d["prefactor_cm2_s"] * np.exp(-d["activation_energy_eV"] * xs / (1000 * BOLTZMANN_eV_K))
    assert np.all(lo < line) and np.all(line < hi)
    width = np.log(hi / lo)
    assert width.argmin() < 20 and width[-1] == width.max()


def test_arrhenius_band_refuses_details_it_cannot_reproduce():
    d = copy.deepcopy(task3_metric_from_runs("m")["details"])
    d["D298_cm2_s"] *= 1.5
    with pytest.raises(Exception, match="does not reproduce"):
        arrhenius_band(d, np.array([3.0]))


def _errorbar_ends(ax):
    ends = []
    for container in ax.containers:
        for lines in container.lines[2] if len(container.lines) > 2 else []:
            for seg in lines.get_segments():
                ends += [float(seg[0][1]), float(seg[1][1])]
    return ends


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def _container(ax, gid):
    return [c for c in ax.containers if c.lines[0].get_gid() == gid]


def _points(container):
    return np.asarray(container.lines[0].get_xydata())


def test_arrhenius_plot_fit_band_interval_and_unresolved_temperatures(thresholds):
    sigma = task3_metric_from_runs("m", unresolved_K=(400.0, 500.0))
    d = sigma["details"]
    assert not d["per_temperature"]["400"]["resolved"] and d["per_temperature"]["600"]["resolved"]
    fig = plot_task3_arrhenius({"task3.sigma298": sigma}, model="m", thresholds=thresholds.as_dict())
    ax = fig.axes[0]
    labels = _legend(ax)
    assert any(text.startswith("Arrhenius fit") for text in labels)
    assert "95 % band of the fit" in labels
    assert "hops not resolved (Li MSD from hops on the fitted line < 4 Å²): 400 K, 500 K" in labels
    assert not any("excluded" in text or "not in the fit" in text for text in labels)
    assert any(text.startswith("σ$_{298}$ = ") and "(95 %)" in text for text in labels)
    assert any("accepted band" in text for text in labels)
    assert not any("cannot decide" in text for text in labels)  # 3 temperatures resolved
    assert ax.get_ylabel() == "Li diffusion coefficient D (cm²/s)"
    # every temperature is drawn: resolved filled, unresolved open, at their measured 1000/T
    [resolved], [unresolved] = _container(ax, "lips-resolved"), _container(ax, "lips-unresolved")
    x_measured = 1000.0 / np.array(d["fit_temperatures_measured_K"])
    assert np.allclose(np.sort(_points(resolved)[:, 0]), np.sort(x_measured[2:]))
    assert np.allclose(np.sort(_points(unresolved)[:, 0]), np.sort(x_measured[:2]))
    assert np.allclose(np.sort(_points(unresolved)[:, 1]), np.sort(d["D_cm2_s"][:2]))
    assert unresolved.lines[0].get_markerfacecolor() == "white" != resolved.lines[0].get_markerfacecolor()
    # the fit line runs through all five temperatures (its solid part spans them) and on to 298 K, dashed
    [fit] = [line for line in ax.lines if line.get_gid() == "lips-fit"]
    [extra] = [line for line in ax.lines if line.get_gid() == "lips-extrapolation"]
    assert fit.get_xdata().min() == pytest.approx(x_measured.min()) and fit.get_xdata().max() == pytest.approx(
        x_measured.max()
    )
    assert extra.get_xdata()[-1] == pytest.approx(1000.0 / T_ROOM_K)
    # the band is shaded from the data to 298 K, where its ends are the reported D(298 K) interval
    [band] = [c for c in ax.collections if c.get_gid() == "lips-fit-band"]
    band_xy = band.get_paths()[0].vertices
    assert band_xy[:, 0].max() == pytest.approx(1000.0 / T_ROOM_K)
    [star] = _container(ax, "lips-d298")
    assert _points(star)[0, 1] == pytest.approx(d["D298_cm2_s"])
    # every error bar end (the D(298 K) interval included) lies inside the axis
    lo, hi = ax.get_ylim()
    ends = [e for e in _errorbar_ends(ax) if e > 0]
    assert len(ends) >= 2 * 5 + 2 and all(lo <= e <= hi for e in ends)
    assert lo <= d["D298_interval_cm2_s"][0] and d["D298_interval_cm2_s"][1] <= hi
    x_lo, x_hi = ax.get_xlim()
    assert x_lo < x_measured.min() and x_hi > 1000 / T_ROOM_K


def test_arrhenius_plot_with_one_resolved_temperature_says_sigma_cannot_decide():
    sigma = task3_metric_from_runs("m", unresolved_K=(400.0, 500.0, 600.0, 700.0))
    assert math.isfinite(sigma["value"]) and "hops resolved at 1 temperature(s)" in sigma["details"]["undecidable"]
    ax = plot_task3_arrhenius({"task3.sigma298": sigma}, model="m").axes[0]
    labels = _legend(ax)
    assert "σ$_{298}$ cannot decide: hops resolved at 1 temperature(s), 2 needed" in labels
    assert "hops not resolved (Li MSD from hops on the fitted line < 4 Å²): 400 K, 500 K, 600 K, 700 K" in labels
    assert any(text.startswith("Arrhenius fit") for text in labels)  # the fit still uses every temperature
    assert (
        len(_points(_container(ax, "lips-unresolved")[0])) == 4
        and len(_points(_container(ax, "lips-resolved")[0])) == 1
    )
    # a temperature whose mean D is ≤ 0 has no place on the log axis: marked at its floor, named
    d = copy.deepcopy(sigma)
    d["details"]["D_cm2_s"][0] = -1e-7
    ax = plot_task3_arrhenius({"task3.sigma298": d}, model="m").axes[0]
    [floor] = [c for c in ax.collections if c.get_gid() == "lips-nonpositive"]
    y_floor = floor.get_offsets()[0][1]
    lo, hi = ax.get_ylim()
    assert lo < y_floor < lo * 1.5 and any("mean D ≤ 0 (at the axis floor): 400 K" in t for t in _legend(ax))


# -- Task 1 parity -----------------------------------------------------------------------------------------
def test_parity_names_every_crystal_and_shades_the_threshold_not_the_rmse(thresholds):
    metrics = {m.key: m.to_dict() for m in make_metrics("m")}
    fig = plot_task1_parity(metrics, model="m", thresholds=thresholds.as_dict())
    parity, residuals = fig.axes[:2]
    names = {s["name"] for s in metrics["task1.ef_rmse_relaxed"]["details"]["structures"]}
    assert {t.get_text() for t in parity.texts} >= names
    assert {t.get_text() for t in residuals.texts} >= names
    legend = [t.get_text() for t in residuals.get_legend().get_texts()]
    assert any("threshold: RMSE ≤ 10 meV/atom" in text for text in legend)
    assert not any("± RMSE" in text for text in legend)
    band = [c for c in parity.collections if "threshold" in str(c.get_label())]
    assert len(band) == 1
    # the band is y = x ± 10: its vertices lie 10 meV/atom off the diagonal
    vertices = band[0].get_paths()[0].vertices
    assert np.allclose(np.abs(vertices[:, 1] - vertices[:, 0]), 10.0)


# -- comparison figures ------------------------------------------------------------------------------------
def test_comparison_figures_of_several_models():
    a, b = _two_models()
    merged = merge_reports([a, b], names=["a.json", "b.json"])
    notes = []
    figures = report_figures(merged, notes=notes)
    names = [f.name for f in figures]
    # the metrics of all models first, then each task's comparison in the task registry's order
    assert names[:3] == ["compare_metrics", "compare_task2_force_error", "compare_task3_arrhenius"]
    assert "mace-a_task3_arrhenius" in names and "mace-b_task1_parity" in names
    assert notes == []
    png = figures[0].png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    # single model: no comparison figures
    assert not any(f.name.startswith("compare_") for f in report_figures(a))


def test_compare_metrics_panels_intervals_and_verdict_colours():
    a, b = _two_models()
    merged = merge_reports([a, b], names=["a.json", "b.json"])
    fig = plot_compare_metrics(merged, keys=["task2.force_rmse", "task3.sigma298"])
    force, sigma = [ax for ax in fig.axes if ax.get_visible()]
    assert force.get_title().startswith("task2.force_rmse") and "≤ 0.3" in force.get_title()
    assert [t.get_text() for t in force.get_xticklabels()] == ["mace-a", "mace-b"]
    # the sigma panel: band shaded, each model's interval drawn as its error bar
    ends = sorted(_errorbar_ends(sigma))
    expected = sorted(v for m in ("mace-a", "mace-b") for v in _metric(merged, m, "task3.sigma298")["interval"])
    assert np.allclose(ends, expected)
    verdicts = {m: _verdict(merged, m, "task3.sigma298") for m in ("mace-a", "mace-b")}
    colours = [c.lines[0].get_color() for c in sigma.containers]
    for colour, model in zip(colours, ("mace-a", "mace-b")):
        assert colour == {"PASS": "#2ca02c", "FAIL": "#d62728"}.get(verdicts[model], "0.45")


def _metric(report, model, key):
    return next(m for t in report["results"][model].values() for m in t["metrics"] if m["key"] == key)


def _verdict(report, model, key):
    from pytest_lips.report.table import build_rows

    _models, rows = build_rows(report)
    return next(r for r in rows if r.key == key).cells[model].verdict


def test_compare_arrhenius_and_task2_draw_every_model():
    a, b = _two_models()
    merged = merge_reports([a, b], names=["a.json", "b.json"])
    ax = plot_compare_arrhenius(merged).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    for model in ("mace-a", "mace-b"):
        assert any(text.startswith(f"{model}: Arrhenius fit") for text in labels)
        assert f"{model}: 95 % band of the fit" in labels
    assert "mace-b: hops not resolved (Li MSD from hops on the fitted line < 4 Å²): 400 K, 500 K" in labels
    assert "mace-a: hops not resolved (Li MSD from hops on the fitted line < 4 Å²): 400 K" in labels
    assert any("accepted band" in text for text in labels)
    assert ax.get_ylabel() == "Li diffusion coefficient D (cm²/s)"
    # each model's five temperatures are drawn (resolved + unresolved), and the axis holds every error bar
    assert (
        sum(len(_points(c)) for c in ax.containers if c.lines[0].get_gid() in ("lips-resolved", "lips-unresolved"))
        == 10
    )
    lo, hi = ax.get_ylim()
    ends = [e for e in _errorbar_ends(ax) if e > 0]
    assert len(ends) >= 2 * (2 * 5 + 2) and all(lo <= e <= hi for e in ends)
    ax2 = plot_compare_task2(merged).axes[0]
    drawn = {line.get_label() for line in ax2.lines}
    assert {"mace-a", "mace-b"} <= drawn


# -- merge: provenance -------------------------------------------------------------------------------------
def test_merge_states_different_packs_and_keeps_each_reports_provenance():
    a, b = _two_models(pack_b="d" * 64)
    merged = merge_reports([b, a], names=["b.json", "a.json"])
    [difference] = merged["provenance_differences"]
    assert "reference packs" in difference and "cccccccccccc" in difference and "dddddddddddd" in difference
    by_file = {e["file"]: e for e in merged["merged_from"]}
    assert by_file["a.json"]["provenance"]["reference_pack"]["checksum"] == "c" * 64
    assert by_file["b.json"]["provenance"]["reference_pack"]["checksum"] == "d" * 64
    # each entry keeps its own environment (the entries are sorted by file, the reports were not)
    assert by_file["b.json"]["environment"]["python"] == "3.12" and by_file["a.json"]["environment"]["python"] == "3.11"
    facts = {p.name: dict(p.facts) for p in model_provenance(merged)}
    assert "cccccccccccc" in facts["mace-a"]["reference pack"] and "dddddddddddd" in facts["mace-b"]["reference pack"]
    assert facts["mace-b"]["environment"].startswith("python 3.12")
    assert facts["mace-a"]["model sha256"] == a["models"][0]["sha256"]
    same = merge_reports(list(_two_models()), names=["a.json", "b.json"])
    assert "provenance_differences" not in same
    assert all("provenance" not in e for e in same["merged_from"])


# -- the page ----------------------------------------------------------------------------------------------
def test_cli_html_of_several_reports_is_one_self_contained_file(tmp_path):
    a, b = _two_models(pack_b="d" * 64)
    paths = [write_report(a, tmp_path / "a.json"), write_report(b, tmp_path / "b.json")]
    out = tmp_path / "page" / "report.html"
    assert main(["report", *map(str, paths), "--format", "html", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no side files
    html = out.read_text()
    sources = re.findall(r'<img src="([^"]*)"', html)
    assert len(sources) == 3 + 2 * 4  # comparison figures + 4 plots per model
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Not like for like" in html and "dddddddddddd" in html
    assert "<h2>Provenance</h2>" in html and a["models"][0]["sha256"] in html and b["models"][0]["sha256"] in html
    assert "Thresholds used" in html and re.search(r"<th>mace-a</th>\s*<th>mace-b</th>", html)
    # one report still renders, with its plots embedded
    single = tmp_path / "single.html"
    assert main(["report", str(paths[0]), "--format", "html", "-o", str(single)]) == 0
    assert len(re.findall(r'<img src="data:image/png;base64,', single.read_text())) == 4


def test_markdown_comparison_has_provenance_differences_and_comparison_plot_links(tmp_path):
    a, b = _two_models(pack_b="d" * 64)
    paths = [write_report(a, tmp_path / "a.json"), write_report(b, tmp_path / "b.json")]
    out = tmp_path / "summary.md"
    assert (
        main(["report", *map(str, paths), "--format", "markdown", "-o", str(out), "--plots", str(tmp_path / "p")]) == 0
    )
    md = out.read_text()
    assert "> Not like for like:" in md and "### Provenance" in md and "**mace-b**" in md
    assert "(p/compare_task3_arrhenius.png)" in md and (tmp_path / "p" / "compare_metrics.png").is_file()
    assert f"- model sha256: `{a['models'][0]['sha256']}`" in md


def test_different_profiles_are_still_refused(tmp_path, capsys):
    a, b = _two_models()
    b["profile"] = {"name": "smoke"}
    paths = [write_report(a, tmp_path / "a.json"), write_report(b, tmp_path / "b.json")]
    assert main(["report", *map(str, paths), "--format", "html"]) == 2
    assert "different profile" in capsys.readouterr().err


def test_render_html_without_figures_keeps_the_table():
    html = render_html(make_report())
    assert "<h2>Verdicts</h2>" in html and "<img" not in html and "<h2>Provenance</h2>" in html
    assert "### Provenance" in render_markdown(make_report())
