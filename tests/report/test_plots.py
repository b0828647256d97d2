import copy

import pytest

pytest.importorskip("matplotlib")

from report_synthetic import make_metrics, make_report  # noqa: E402

from pytest_lips.report import write_plots  # noqa: E402
from pytest_lips.report.plots import (  # noqa: E402
    plot_task1_parity,
    plot_task2_force_error,
    plot_task3_arrhenius,
    plot_task4_stability,
    safe_name,
    sigma_to_D,
)


def _metrics():
    return {m.key: m.to_dict() for m in make_metrics("m")}


def _png_ok(path):
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_write_plots_all(tmp_path, report):
    notes = []
    paths = write_plots(report, tmp_path / "plots", notes=notes)
    assert [p.name for p in paths] == [
        "mace-a_task1_parity.png",
        "mace-a_task2_force_error.png",
        "mace-a_task3_arrhenius.png",
        "mace-a_task4_stability.png",
    ]
    for p in paths:
        _png_ok(p)
    assert notes == []


def test_missing_details_are_skipped(tmp_path, report):
    rep = copy.deepcopy(report)
    for task in rep["results"]["mace-a"].values():
        for m in task["metrics"]:
            if m["key"] in ("task2.force_rmse", "task3.sigma298"):
                m["details"] = {}
    notes = []
    paths = write_plots(rep, tmp_path, notes=notes)
    assert [p.name for p in paths] == ["mace-a_task1_parity.png", "mace-a_task4_stability.png"]
    assert len(notes) == 2 and "details lack trajectory" in notes[0]
    empty = make_report(metrics=[], verdicts=[], runs=[])
    assert write_plots(empty, tmp_path / "none") == []
    assert not (tmp_path / "none").exists()


def test_parity_points():
    fig = plot_task1_parity(_metrics(), model="m")
    parity = fig.axes[0]
    n = sum(len(c.get_offsets()) for c in parity.collections)
    assert n == 12
    extrapolation = [c for c in parity.collections if "extrapolation" in str(c.get_label())]
    assert len(extrapolation) == 1 and len(extrapolation[0].get_offsets()) == 3


def test_parity_with_failed_structure():
    metrics = _metrics()
    metrics["task1.ef_rmse_relaxed"]["details"]["structures"][0]["ef_model_meV_atom"] = None
    fig = plot_task1_parity(metrics)
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 11
    assert any("without a value" in t.get_text() for t in fig.axes[0].texts)


def test_task2_regimes_shaded():
    fig = plot_task2_force_error(_metrics(), model="m")
    ax = fig.axes[0]
    spans = [p for p in ax.patches]
    assert len(spans) == 3  # crystal, liquid, amorphous
    labels = ax.get_legend().get_texts()
    assert {"crystal", "liquid", "amorphous", "temperature"} <= {t.get_text() for t in labels}
    assert len(ax.lines[0].get_xdata()) == 60


def test_task3_arrhenius_elements():
    fig = plot_task3_arrhenius(_metrics(), model="m")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any(label.startswith("Arrhenius fit") for label in labels)
    assert "extrapolation to 298 K" in labels
    assert any("accepted band" in label for label in labels)
    assert any(label.startswith("D(298 K)") for label in labels)
    assert ax.get_yscale() == "log"
    lo, hi = ax.get_xlim()
    assert lo < 1000 / 900 and hi > 1000 / 298.15


def test_task3_band_from_density_and_thresholds():
    metrics = _metrics()
    details = metrics["task3.sigma298"]["details"]
    expected = details.pop("band_D298_cm2_s")
    details.pop("band_mS_cm")
    thresholds = {"task3.sigma298_min": {"value": 17.0}, "task3.sigma298_max": {"value": 61.0}}
    assert sigma_to_D(17.0, details["li_number_density_cm3"]) == pytest.approx(expected[0])
    fig = plot_task3_arrhenius(metrics, thresholds=thresholds)
    assert any("accepted band" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    details.pop("li_number_density_cm3")
    fig = plot_task3_arrhenius(metrics, thresholds=thresholds)
    assert not any("accepted band" in t.get_text() for t in fig.axes[0].get_legend().get_texts())


def test_task4_grid_cells():
    fig = plot_task4_stability(_metrics(), model="m")
    ax = fig.axes[0]
    cells = [p for p in ax.patches if p.get_gid() == "lips-cell"]
    assert len(cells) == 12  # 4 temperatures x 3 pressures
    assert sum(1 for c in cells if c.get_hatch()) == 6  # outside T <= 2000 K and p <= 1e8 Pa
    texts = [t.get_text() for t in ax.texts]
    assert "1/3\n12.0 % cc" in texts and texts.count("3/3\n0.0 % cc") == 8
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0.1 MPa", "100 MPa", "1 GPa"]


def test_safe_name():
    assert safe_name("org/model v2.pt") == "org_model_v2.pt"
    assert safe_name("..") == "model"
