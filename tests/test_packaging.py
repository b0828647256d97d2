"""The built wheel carries everything the plugin reads at run time, and works outside the source tree."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("build", reason="pip install build (part of the [test] extra)")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [path] = out.glob("pytest_lips-*.whl")
    return path


def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    required = [
        "pytest_lips/plugin.py",
        "pytest_lips/py.typed",
        "pytest_lips/suite/test_task3.py",
        "pytest_lips/reference_data/thresholds.yaml",
        "pytest_lips/reference_data/protocols/smoke.yaml",
        "pytest_lips/reference_data/protocols/ci.yaml",
        "pytest_lips/reference_data/protocols/paper.yaml",
        "pytest_lips/reference_data/pack/manifest.yaml",
    ]
    missing = [name for name in required if name not in names]
    assert not missing, missing
    assert not any("reference_data/build" in name for name in names)  # the generator stays in the sdist
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "lips = pytest_lips.plugin" in text


def test_installed_wheel_runs_outside_the_source_tree(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))
    code = (
        "import pytest_lips, pytest_lips.resources as r, pytest_lips.thresholds as t, pytest_lips.reference as ref;"
        "print(pytest_lips.__file__); print(r.reference_data_dir());"
        "print(len(t.default_thresholds()));"
        "print(ref.load_reference_pack(r.default_pack_dir()).name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module_file, data_dir, n_thresholds, pack = result.stdout.split("\n")[:4]
    assert module_file.startswith(str(target)) and data_dir.startswith(str(target))
    assert int(n_thresholds) >= 10
    assert pack == "lips-open-pbesol"
