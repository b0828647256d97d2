"""The README's main run works as written: it is read out of README.md and executed.

Runs the whole smoke profile on the shipped example model and default reference pack (about a
minute on two cores), so it also checks that the pack's checksums match its files.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_main_command() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The main run", 1)[1]
    match = re.search(r"```bash\n(pytest [^\n]+)\n```", section)
    assert match, "README.md has no ```bash block with the main pytest command under '## The main run'"
    return shlex.split(match.group(1))


def test_readme_main_run(tmp_path: Path) -> None:
    command = readme_main_command()
    assert command[0] == "pytest" and "--lips-profile=smoke" in command
    report = tmp_path / "lips-report.json"
    args = [a for a in command[1:] if not a.startswith("--lips-report")]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *args,
            f"--lips-report={report}",
            f"--lips-cache-dir={tmp_path / 'cache'}",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = result.stdout + result.stderr
    # exit status 0 (every gate passed) or 1 (some FAILED); never an error, interruption or usage error.
    # The example model is small and fails some gates on the default pack: each failure must be a
    # threshold verdict, not a crash of the harness.
    assert result.returncode in (0, 1), output[-6000:]
    assert "LiPS-25 summary (pytest-lips)" in output
    assert " error" not in output.split("LiPS-25 summary", 1)[1].lower().split("short test summary")[0]
    data = json.loads(report.read_text())
    [model] = data["models"]
    assert model["name"] == "lips-example-model" and len(model["sha256"]) == 64
    tasks = set(data["results"]["lips-example-model"])
    assert {"task3", "task4"} <= tasks, tasks
    assert all(outcome != "error" for outcome in data["outcomes"].values()), data["outcomes"]
    # every FAILED test is a threshold verdict of the model (the report counts both independently)
    summary = data["summary"]
    verdicts = summary["models"]["lips-example-model"]["verdicts"]
    assert summary["outcomes"].get("failed", 0) == verdicts["fail"], summary
    assert (result.returncode == 1) == (verdicts["fail"] > 0), summary
