import json
import os
import subprocess
import sys
from pathlib import Path

from report_synthetic import make_report

from pytest_lips.__main__ import main
from pytest_lips.report import load_report, write_report

ROOT = Path(__file__).resolve().parents[2]


def test_report_subprocess_text(tmp_path):
    path = write_report(make_report(), tmp_path / "r.json")
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest_lips", "report", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "gate PASS" in proc.stdout and "sigma298" in proc.stdout


def test_report_side_by_side_markdown_with_plots(tmp_path, capsys):
    a = write_report(make_report(models=("mace-a",)), tmp_path / "a.json")
    b = write_report(make_report(models=("mace-b",), force_scales={"mace-b": 0.9}), tmp_path / "b.json")
    out = tmp_path / "out" / "summary.md"
    assert (
        main(
            [
                "report",
                str(a),
                str(b),
                "--format",
                "markdown",
                "-o",
                str(out),
                "--plots",
                str(tmp_path / "out" / "plots"),
            ]
        )
        == 0
    )
    md = out.read_text()
    assert "| mace-a | mace-b |" in md
    assert "(plots/mace-b_task4_stability.png)" in md
    assert (tmp_path / "out" / "plots" / "mace-b_task4_stability.png").is_file()


def test_report_html_and_check(tmp_path, capsys):
    bad = write_report(make_report(sigma={"mace-a": 80.0}), tmp_path / "bad.json")
    assert main(["report", str(bad), "--format", "html", "-o", str(tmp_path / "r.html")]) == 0
    assert "<table>" in (tmp_path / "r.html").read_text()
    assert main(["report", str(bad), "--check"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_merge_command(tmp_path, capsys):
    a = write_report(make_report(models=("mace-a",)), tmp_path / "a.json")
    b = write_report(make_report(models=("mace-b",)), tmp_path / "b.json")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m.json")]) == 0
    merged = load_report(tmp_path / "m.json")
    assert sorted(merged["results"]) == ["mace-a", "mace-b"]
    assert "merged 2 report(s)" in capsys.readouterr().err


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "missing.json")]) == 2
    err = capsys.readouterr().err
    assert "missing.json does not exist" in err
    a = write_report(make_report(), tmp_path / "a.json")
    b = write_report(make_report(profile_name="paper"), tmp_path / "b.json")
    assert main(["merge", str(a), str(b), "-o", str(tmp_path / "m.json")]) == 2
    assert "different profile" in capsys.readouterr().err


def test_baseline_and_compare_commands(tmp_path, capsys):
    old = write_report(make_report(), tmp_path / "old.json")
    assert main(["baseline", str(old), "-o", str(tmp_path / "baseline.json")]) == 0
    assert json.loads((tmp_path / "baseline.json").read_text())["kind"] == "pytest-lips-baseline"
    new = write_report(make_report(force_scales={"mace-a": 1.1}), tmp_path / "new.json")
    capsys.readouterr()
    assert main(["compare", str(new), "--baseline", str(tmp_path / "baseline.json")]) == 1
    out = capsys.readouterr().out
    assert "2 regression(s)" in out and "task2.force_rmse regressed" in out
    assert (
        main(
            [
                "compare",
                str(new),
                "--baseline",
                str(tmp_path / "baseline.json"),
                "--tolerance",
                "task2.force_rmse=+20%",
                "--tolerance",
                "test_split.force_rmse=+20%",
            ]
        )
        == 0
    )
    paper = write_report(make_report(profile_name="paper"), tmp_path / "paper.json")
    assert main(["compare", str(paper), "--baseline", str(tmp_path / "baseline.json")]) == 2
    assert "Comparing across profiles is refused" in capsys.readouterr().err
