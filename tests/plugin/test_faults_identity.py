"""Fault injection for issue 17 (part A): result identity, baselines that survive faults, provenance.

Each test reproduces one fault of the issue through pytester with the small inputs of conftest.py
(a graph-pes Lennard-Jones model and a 60-structure LiPS-format file) and checks that it is gone.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from .test_plugin import lips_args, metric_values, read_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "data"))

FACTORIES = """
from ase.calculators.lj import LennardJones


def zero():
    return LennardJones(sigma=2.0, epsilon=1e-9, rc=5.0)


def huge():
    return LennardJones(sigma=2.0, epsilon=0.5, rc=5.0)
"""

INTERRUPTING = """
from ase.calculators.lj import LennardJones

CALLS = [0]


class CtrlC(LennardJones):
    \"\"\"Lennard-Jones whose sixth evaluation is interrupted, as Ctrl-C in the middle of the run.\"\"\"

    def calculate(self, *args, **kwargs):
        CALLS[0] += 1
        if CALLS[0] == 6:  # after the start-up check and the probe fingerprint, during the test split
            raise KeyboardInterrupt
        super().calculate(*args, **kwargs)


def make():
    return CtrlC(sigma=2.0, epsilon=0.05, rc=5.0)
"""


def _without_model(inputs: dict[str, Path], *extra: str) -> list[str]:
    return [a for a in lips_args(inputs, *extra) if not a.startswith("--lips-model")]


def test_two_factories_of_one_module_get_their_own_results(pytester: pytest.Pytester, lips_inputs) -> None:
    pytester.makepyfile(faultmod_a=FACTORIES)
    pytester.syspathinsert()
    report = pytester.path / "r.json"
    args = [
        "--lips-model=faultmod_a:zero",
        "--lips-model=faultmod_a:huge",
        *_without_model(lips_inputs, f"--lips-report={report}"),
    ]
    result = pytester.runpytest(*args)
    assert result.ret in (0, 1), result.stdout.str()[-2000:]
    values = metric_values(read_report(report), "test_split.energy_rmse")
    assert set(values) == {"faultmod_a.zero", "faultmod_a.huge"}  # readable, distinct model names
    assert values["faultmod_a.zero"] != pytest.approx(values["faultmod_a.huge"], rel=1e-3)
    models = {m["name"]: m for m in read_report(report)["models"]}
    assert models["faultmod_a.zero"]["factory"] == "faultmod_a:zero"
    assert models["faultmod_a.zero"]["probe_fingerprint"] != models["faultmod_a.huge"]["probe_fingerprint"]
    # a second session reads both from the cache, still apart
    again = pytester.path / "r2.json"
    assert pytester.runpytest(*[a.replace(str(report), str(again)) for a in args]).ret == result.ret
    assert metric_values(read_report(again), "test_split.energy_rmse") == values


def test_interrupt_keeps_the_baseline_and_marks_the_report(pytester: pytest.Pytester, lips_inputs) -> None:
    baseline = pytester.path / "b.json"
    assert pytester.runpytest(*lips_args(lips_inputs, f"--lips-save-baseline={baseline}", model="base")).ret == 0
    good_bytes = baseline.read_bytes()

    pytester.makepyfile(faultmod_int=INTERRUPTING)
    pytester.syspathinsert()
    report = pytester.path / "r.json"
    result = pytester.runpytest(
        "--lips-model=faultmod_int:make",
        *_without_model(lips_inputs, f"--lips-save-baseline={baseline}", f"--lips-report={report}"),
        no_reraise_ctrlc=True,
    )
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert baseline.read_bytes() == good_bytes  # not overwritten by the partial run
    data = read_report(report)
    assert data["interrupted"] is True and data["summary"]["gate"] == "INTERRUPTED"
    text = result.stdout.str()
    assert "run INTERRUPTED" in text and "did not write" in text and "no model given" not in text
    assert not list(pytester.path.glob("*.tmp")) and not list(pytester.path.glob(".*.tmp"))

    refused = pytester.runpytest(*lips_args(lips_inputs, f"--lips-baseline={report}", model="worse"))
    assert refused.ret == pytest.ExitCode.USAGE_ERROR
    refused.stderr.fnmatch_lines(["*--lips-baseline*r.json*interrupted run*"])


def test_run_stopped_early_does_not_save_a_baseline(pytester: pytest.Pytester, lips_inputs) -> None:
    baseline = pytester.path / "b.json"
    result = pytester.runpytest(
        *lips_args(
            lips_inputs,
            f"--lips-save-baseline={baseline}",
            "-x",
            "--lips-threshold=test_split.force_rmse=1e-12",
            model="worse",
        )
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert not baseline.exists()
    result.stdout.fnmatch_lines(["*did not write*stopped early*"])


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ("oops", "*b.json*metrics* must be an object*"),
        ({}, "*b.json: holds no metrics*--lips-save-baseline*"),
        (
            {
                "other-a": {"test_split.force_rmse": {"value": 0.1}},
                "other-b": {"test_split.force_rmse": {"value": 0.1}},
            },
            "*b.json: holds no metric for model 'worse'*other-a, other-b*",
        ),
        (
            {"worse": {"test_split.force_rmse": {"value": "abc"}}},
            "*b.json: metric 'test_split.force_rmse' of model 'worse' has value 'abc'*must be a number*",
        ),
    ],
    ids=["metrics-not-an-object", "empty", "no-metric-for-the-model", "value-not-a-number"],
)
def test_bad_baselines_are_usage_errors(pytester: pytest.Pytester, lips_inputs, metrics, message) -> None:
    baseline = pytester.path / "b.json"
    baseline.write_text(
        json.dumps(
            {
                "schema_version": 1,
                "kind": "pytest-lips-baseline",
                "protocol_version": "1",
                "profile": "micro",
                "models": [],
                "metrics": metrics,
            }
        )
    )
    result = pytester.runpytest(*lips_args(lips_inputs, f"--lips-baseline={baseline}", model="worse"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("where", ["directory", "missing-parent"])
@pytest.mark.parametrize("option", ["--lips-report", "--lips-save-baseline"])
def test_unwritable_outputs_stop_the_run_before_computing(
    pytester: pytest.Pytester, lips_inputs, where, option
) -> None:
    target = pytester.path / ("out" if where == "directory" else "missing/out.json")
    if where == "directory":
        target.mkdir()
    result = pytester.runpytest(*lips_args(lips_inputs, f"{option}={target}"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{option} {target}: *"])
    assert "lips/test_" not in result.stdout.str()  # nothing was run
    assert not [p for p in pytester.path.rglob("*") if p.name.endswith(".tmp") or p.name.endswith(".probe")]


TASK2_PROFILE = """\
name: micro-task2
protocol_version: "1"
description: plugin tests only
task2:
  max_frames: null
  energy_offset: none
  batch_size: 16
  max_atoms_per_batch: 4000
  dataset_split: test
  dataset_max_structures: 5
"""


def test_editing_the_pack_recomputes_task2(pytester: pytest.Pytester, lips_inputs) -> None:
    import ase.io
    from lips_testdata import lj, make_pack

    from pytest_lips.reference import write_manifest

    pack = pytester.path / "pack"
    manifest = make_pack(pack, lj(epsilon=0.04))
    profile = pytester.path / "task2.yaml"
    profile.write_text(TASK2_PROFILE)
    args = [
        f"--lips-model={lips_inputs['model']}",
        f"--lips-profile={profile}",
        f"--lips-reference={pack}",
        "--lips-offline",
        "-p",
        "no:randomly",
        "-k",
        "not dataset",
    ]
    first, second = pytester.path / "r1.json", pytester.path / "r2.json"
    assert pytester.runpytest(*args, f"--lips-report={first}").ret in (0, 1)

    frames_path = pack / "task2" / "li7p3s11_melt_quench.extxyz"
    frames = ase.io.read(str(frames_path), index=":")
    for atoms in frames:  # Task-2 forces x 3; the manifest is refreshed, name@version unchanged
        atoms.calc.results["forces"] = 3 * atoms.get_forces()
    ase.io.write(str(frames_path), frames, format="extxyz")
    write_manifest(pack, manifest)
    assert pytester.runpytest(*args, f"--lips-report={second}").ret in (0, 1)

    before, after = read_report(first), read_report(second)
    rmse = [metric_values(r, "task2.force_rmse")["good"] for r in (before, after)]
    assert abs(rmse[1] - rmse[0]) > 0.1 * rmse[0]  # recomputed, not read from the cache
    checksums = [r["provenance"]["reference_pack"]["checksum"] for r in (before, after)]
    assert checksums[0] != checksums[1]
    assert before["provenance"]["reference_pack"]["version"] == after["provenance"]["reference_pack"]["version"]


def test_in_place_edit_of_the_data_file_is_reread(pytester: pytest.Pytester, lips_inputs) -> None:
    data = pytester.path / "lips.extxyz"
    shutil.copy(lips_inputs["data"], data)
    first, second = pytester.path / "r1.json", pytester.path / "r2.json"
    args = [a for a in lips_args(lips_inputs) if not a.startswith("--lips-data")] + [f"--lips-data={data}"]
    assert pytester.runpytest(*args, f"--lips-report={first}").ret == 0

    stat = data.stat()
    text = data.read_text()
    # change the first decimal of every energy: same length, same size
    edited = re.sub(r"(energy=-?\d+\.)(\d)", lambda m: m.group(1) + str((int(m.group(2)) + 5) % 10), text)
    assert edited != text and len(edited) == len(text)
    with open(data, "r+", encoding="utf-8") as handle:  # in place: same inode
        handle.write(edited)
    os.utime(data, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (data.stat().st_size, data.stat().st_mtime_ns) == (stat.st_size, stat.st_mtime_ns)
    assert pytester.runpytest(*args, f"--lips-report={second}").ret in (0, 1)

    before, after = read_report(first), read_report(second)
    assert metric_values(before, "test_split.energy_rmse")["good"] != pytest.approx(
        metric_values(after, "test_split.energy_rmse")["good"], abs=1e-3
    )
    assert before["provenance"]["data"]["sha256"] != after["provenance"]["data"]["sha256"]


def test_report_records_data_provenance(pytester: pytest.Pytester, lips_inputs) -> None:
    from pytest_lips.data import file_sha256

    report = pytester.path / "r.json"
    assert pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={report}")).ret == 0
    provenance = read_report(report)["provenance"]
    data = provenance["data"]
    assert data["source"] == str(lips_inputs["data"]) and data["sha256"] == file_sha256(lips_inputs["data"])
    assert data["split_source"].startswith("stratified") and sum(data["split_sizes"].values()) == 60
    assert data["split_sizes"]["test"] > 0


def test_energy_offset_recorded_once_and_consistently(pytester: pytest.Pytester, lips_inputs) -> None:
    report = pytester.path / "r.json"
    assert pytester.runpytest(*lips_args(lips_inputs, f"--lips-report={report}", "--lips-energy-offset=auto")).ret == 0
    [metric] = [
        m
        for m in read_report(report)["results"]["good"]["test_split"]["metrics"]
        if m["key"] == "test_split.energy_rmse"
    ]
    details = metric["details"]
    assert details["energy_offset"] == details["protocol"]["energy_offset"] == "auto"
    assert details["offsets"]["rank_deficient"] is False  # random compositions determine every element
