"""The built wheel carries everything the plugin reads at run time, and works outside the source tree.

The distributions are built as the release workflow (.github/workflows/release.yml) builds them:
``python -m build`` makes the sdist and then the wheel FROM the sdist, so a file the sdist forgets is
missing from the wheel too. The last test installs the wheel into a fresh virtual environment the way
examples/github-actions.yml installs it in its merge job (``pip install --no-deps``) and renders a
report with the installed console script, from outside the source tree.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("build", reason="pip install build (part of the [test] extra)")
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],  # sdist, then the wheel from it
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [wheel] = out.glob("pytest_lips-*.whl")
    [sdist] = out.glob("pytest_lips-*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def wheel(dists: dict[str, Path]) -> Path:
    return dists["wheel"]


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
        "pytest_lips/reference_data/pack-li6ps5cl/manifest.yaml",
    ]
    # every file of the shipped reference packs (structures, DFT records, manifest, README) is in the wheel
    for pack_name in ("pack", "pack-li6ps5cl"):
        pack = ROOT / "reference_data" / pack_name
        required += [
            f"pytest_lips/reference_data/{pack_name}/" + p.relative_to(pack).as_posix()
            for p in sorted(pack.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        ]
    required += [
        "pytest_lips/reference_data/protocols/" + p.name
        for p in sorted((ROOT / "reference_data" / "protocols").glob("*"))
    ]
    assert len(required) > 100
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
        "print(ref.load_reference_pack(r.default_pack_dir()).name);"
        "import pytest_lips.system as s;"
        "print(ref.load_reference_pack(s.resolve_pack('li6ps5cl-open-pbesol')).system.name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    module_file, data_dir, n_thresholds, pack, second = result.stdout.split("\n")[:5]
    assert module_file.startswith(str(target)) and data_dir.startswith(str(target))
    assert int(n_thresholds) >= 10
    assert pack == "lips-open-pbesol"
    assert second == "Li6PS5Cl argyrodite"  # the second shipped pack, selected by name


def test_sdist_has_the_sources_the_wheel_is_built_from(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {
        "pyproject.toml",
        "README.md",
        "reference_data/thresholds.yaml",
        "reference_data/pack/manifest.yaml",
    } <= names
    assert not any(name.startswith("reference_data/build/work") for name in names)


def test_wheel_metadata_offers_the_extras_the_workflow_installs(wheel: Path) -> None:
    archive = zipfile.ZipFile(wheel)
    metadata = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    extras = set(re.findall(r"^Provides-Extra: (\S+)$", metadata, re.M))
    workflow = (ROOT / "examples" / "github-actions.yml").read_text()
    asked = set(re.findall(r"pytest-lips\[([a-z,-]+)\]", workflow)[0].split(","))
    assert asked and asked <= extras, (asked, extras)
    assert "Requires-Python: >=3.10" in metadata


def test_wheel_in_a_fresh_venv_renders_a_report_like_the_workflow(wheel: Path, tmp_path: Path) -> None:
    """``pip install --no-deps`` of the wheel into a new venv (the workflow's merge job); the dependencies
    come from this interpreter's site-packages through a .pth file (no network in tests), never the
    source tree: PYTHONPATH is cleared and the command runs elsewhere."""
    import site
    import sysconfig

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
        env=env,
    )
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout.strip()
    )
    ours = [p for p in {*site.getsitepackages(), sysconfig.get_paths()["purelib"]} if Path(p).is_dir()]
    (purelib / "zz_deps.pth").write_text("\n".join(ours) + "\n")  # appended after the venv's own packages
    sys.path.insert(0, str(ROOT / "tests" / "report"))
    try:
        from report_synthetic import make_report
    finally:
        sys.path.pop(0)
    from pytest_lips.report import write_report

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    report = write_report(make_report(), elsewhere / "lips-report.json")
    script = bindir / ("pytest-lips.exe" if os.name == "nt" else "pytest-lips")
    result = subprocess.run(
        [str(script), "report", str(report), "--format", "html", "-o", "lips-report.html"],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    html = (elsewhere / "lips-report.html").read_text()
    assert html.count('<img src="data:image/png;base64,') == 4
    where = subprocess.run(
        [
            str(python),
            "-c",
            "import pytest_lips, importlib.metadata as m; print(pytest_lips.__file__);"
            "print([e.value for e in m.entry_points(group='pytest11') if e.name == 'lips'])",
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.splitlines()
    assert where[0].startswith(str(venv)) and where[1] == "['pytest_lips.plugin']"
