from report_synthetic import make_report

from pytest_lips.report import Baseline, render_html, render_markdown, render_summary


def _regressed_multi(tolerances):
    base = Baseline.from_report(make_report(), "baseline.json")
    return make_report(
        models=("mace-a", "mace-b"),
        force_scales={"mace-a": 1.1},
        sigma={"mace-b": 75.0},
        baseline=base,
        tolerances=tolerances,
    )


def test_terminal_single_model(report):
    lines = render_summary(report)
    text = "\n".join(lines)
    assert all(len(line) <= 120 for line in lines)
    assert "gate PASS" in lines[0]
    row = next(line for line in lines if line.lstrip().startswith("sigma298"))
    assert "30 [20, 42]" in row and "mS/cm" in row and "[17, 61]" in row and "PASS" in row
    assert "REPORTED" in text  # activation energy has no threshold
    assert "\x1b[" not in text  # no colour codes


def test_terminal_not_gated_reason():
    lines = render_summary(make_report(gated_md=False))
    text = "\n".join(lines)
    assert "NOT GATED" in text and "profile too short for a conductivity verdict" in text


def test_metric_over_nothing_is_na_with_reason():
    """A metric over no sample (n = 0, value nan), e.g. no extrapolation crystal in the pack, reads n/a
    with its note, in the terminal and in Markdown, rather than a bare nan."""
    from pytest_lips.results import Metric

    report = make_report()
    empty = Metric(
        "task1.ef_rmse_extrapolation_relaxed",
        float("nan"),
        "meV/atom",
        "mace-a",
        "task1",
        n=0,
        note="no extrapolation crystals ran",
    )
    report["results"]["mace-a"]["task1"]["metrics"].append(empty.to_dict())
    lines = render_summary(report)
    row = next(line for line in lines if "ef_rmse_extrapolation_relaxed" in line and "REPORTED" in line)
    assert "n/a" in row and "nan" not in row
    notes = "\n".join(lines[lines.index("n/a, not measured:") :])
    assert "task1.ef_rmse_extrapolation_relaxed: no extrapolation crystals ran" in notes
    assert "| n/a |" in render_markdown(report)
    # a measured nan (n > 0) stays visible as nan: it is a broken result, not an absent one
    report["results"]["mace-a"]["task1"]["metrics"][-1]["n"] = 3
    assert "n/a, not measured:" not in render_summary(report)


def test_terminal_multi_model_best_and_regressions(tolerances):
    lines = render_summary(_regressed_multi(tolerances))
    assert all(len(line) <= 120 for line in lines)
    header = next(line for line in lines if line.startswith("Task"))
    assert "mace-a" in header and "mace-b" in header
    sigma = next(line for line in lines if line.lstrip().startswith("sigma298"))
    assert "30 [20, 42] PASS *" in sigma and "75 [20, 42] FAIL" in sigma and "FAIL *" not in sigma
    force = next(line for line in lines if line.lstrip().startswith("force_rmse") and "0.25" in line)
    assert "0.132 PASS !" in force and "0.12 PASS *" in force
    text = "\n".join(lines)
    assert "REGRESSIONS against the baseline (2)" in text
    assert "FAILED thresholds" in text and "task3.sigma298_max" in text


def test_terminal_many_models_fit_width(tolerances):
    models = tuple(f"a-rather-long-model-name-{i}" for i in range(6))
    lines = render_summary(make_report(models=models), width=100)
    assert all(len(line) <= 100 for line in lines), max(lines, key=len)
    headers = [line for line in lines if line.startswith("Task")]
    assert len(headers) > 1  # split into blocks
    assert all(any(m in h for h in headers) for m in models)


def test_markdown_content(tolerances):
    md = render_markdown(_regressed_multi(tolerances), plot_paths=["plots/mace-a_task3_arrhenius.png"])
    assert md.startswith("## pytest-lips: ❌ FAIL")
    assert "| Task | Metric | Unit | Threshold | mace-a | mace-b |" in md
    row = next(line for line in md.splitlines() if "`task3.sigma298`" in line and line.startswith("|"))
    assert "**30 [20, 42]** ★ ✅ PASS" in row and "75 [20, 42] ❌ FAIL" in row
    assert "### Failed thresholds" in md and "task3.sigma298_max" in md
    assert "### Regressions against `baseline.json`" in md
    reg_lines = [line for line in md.splitlines() if line.startswith("- ❌ REGRESSED")]
    assert len(reg_lines) == 2 and any(
        "task2.force_rmse regressed: 0.165 eV/Å vs baseline 0.15" in x for x in reg_lines
    )
    assert "[mace-a_task3_arrhenius](plots/mace-a_task3_arrhenius.png)" in md
    assert "<details>" in md and "task4.gate_T_max_K" in md


def test_markdown_single_model_rows(report):
    md = render_markdown(report)
    rows = [line for line in md.splitlines() if line.startswith("| task")]
    assert any("`task2.force_rmse` | 0.15 | eV/Å | ≤ 0.3 | ✅ PASS |" in r for r in rows)
    assert "### Regressions" not in md
    assert "ℹ️ REPORTED" in md


def test_markdown_no_regressions_line(tolerances):
    base = Baseline.from_report(make_report(), "b.json")
    md = render_markdown(make_report(baseline=base, tolerances=tolerances))
    assert "- ✅ no regressions" in md and "| Baseline |" in md


def test_html(tolerances):
    html = render_html(_regressed_multi(tolerances), plot_paths=["p/x.png"])
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "<th>mace-a</th>" in html and "task3.sigma298" in html and "FAIL" in html
    assert '<img src="p/x.png"' in html and "Regressions against the baseline" in html
