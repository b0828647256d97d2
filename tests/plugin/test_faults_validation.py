"""Fault injection for issue 17 (items 4-7, 9): each fault is a clear one-line usage error, a FAILED or
SKIPPED verdict with its reason, or silence -- never a traceback, never a gate that passes by mistake.

Item 4: same seed, same numbers (threads).  Item 5: gates that cannot fail.  Item 6: trust
boundaries of the reference pack.  Item 7: bad input stops the run at start-up.  Item 9: noise.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from pytest_lips.errors import LipsDataError, LipsUsageError

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]

MD_PROFILE = """\
name: tiny-md
protocol_version: "1"
description: determinism check (Task 1 relaxations and Task 4 NPT MD, the issue's examples)
task1:
  fmax_eV_A: 0.01
  max_steps: 20
  structures: [Li2P2S6]
task4:
  n_atoms: 42
  relax_fmax_eV_A: 0.5
  relax_max_steps: 5
  temperatures_K: [2000]
  pressures_Pa: [1.0e+8, 1.0e+10]
  repeats: 1
  timestep_fs: 1.0
  production_ps: 0.03
  sample_interval_fs: 5.0
"""


def usage_error(result: pytest.RunResult, pattern: str) -> None:
    """Exit status 4, the message on stderr, no traceback anywhere."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str()[-2000:] + result.stderr.str()[-2000:]
    result.stderr.fnmatch_lines([pattern])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def write_profile(root: Path, name: str, body: str) -> Path:
    path = root / f"{name}.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        name: {name}
        protocol_version: "1"
        description: fault injection
    """)
        + textwrap.dedent(body)
    )
    return path


# -- item 4: threads and determinism ------------------------------------------------------------------


def test_threads_resolution_and_parsing() -> None:
    from pytest_lips.threads import parse_threads, resolve_threads

    assert parse_threads("1") == 1 and parse_threads(" 3 ") == 3 and parse_threads("auto") is None
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(ValueError, match="whole number >= 1 or auto"):
            parse_threads(bad)
    assert resolve_threads(4, processes=8, cores=2) == 4  # an explicit number wins
    assert resolve_threads(None, processes=1, cores=16) == 16  # auto, serial
    assert resolve_threads(None, processes=2, cores=16) == 8  # auto, -n 2
    assert resolve_threads(None, processes=4, cores=2) == 1  # never below one


def test_threads_option_is_validated(pytester: pytest.Pytester, lips_inputs) -> None:
    usage_error(
        pytester.runpytest(f"--lips-model={lips_inputs['model']}", "--lips-threads=0"),
        "*--lips-threads / lips_threads: expected a whole number >= 1 or auto, got '0'*",
    )


def test_same_seed_bit_identical_serial_and_xdist(pytester: pytest.Pytester, lips_inputs) -> None:
    """Task 1 relaxations and Task 4 MD with the same seed: bit-identical metrics and runs, serially and
    with -n 2.

    With the default of one thread per process every reduction has one order; the report records
    the threads.  (With several threads torch's CPU reductions may add in a different order each
    call, and MD amplifies the last-bit differences; see pytest_lips.threads.)
    """
    pytest.importorskip("xdist")
    from pytest_lips.report import strip_timings

    profile = pytester.path / "tiny-md.yaml"
    profile.write_text(MD_PROFILE)
    serial, parallel = pytester.path / "serial.json", pytester.path / "parallel.json"
    base = [
        f"--lips-model={lips_inputs['model']}",
        f"--lips-profile={profile}",
        "--lips-offline",
        "-p",
        "no:randomly",
        "-p",
        "no:cacheprovider",
    ]
    # separate caches: the second session must compute, not read the first one's results
    first = pytester.runpytest(*base, f"--lips-report={serial}", f"--lips-cache-dir={pytester.path / 'c1'}")
    second = pytester.runpytest(
        *base, f"--lips-report={parallel}", "-n", "2", f"--lips-cache-dir={pytester.path / 'c2'}"
    )
    assert "Traceback" not in first.stdout.str() + second.stdout.str()
    a, b = json.loads(serial.read_text()), json.loads(parallel.read_text())
    assert a["environment"]["threads_per_process"] == b["environment"]["threads_per_process"] == 1
    metrics_a = [m for t in a["results"]["good"].values() for m in t["metrics"]]
    metrics_b = [m for t in b["results"]["good"].values() for m in t["metrics"]]
    assert {m["key"] for m in metrics_a} >= {"task1.ef_rmse_relaxed", "task4.close_contact_fraction"}
    assert metrics_a == metrics_b  # values, details (per-frame shortest pairs, ...): exact, not approx

    def runs(report: dict) -> list[dict]:
        """Run records without wall-clock figures (which differ from run to run by nature)."""
        out = []
        for run in strip_timings(report)["results"]["good"]["task4"]["runs"]:
            extra = {k: v for k, v in run.get("extra", {}).items() if not k.endswith("_s") and k != "model_fraction"}
            out.append(dict(run, extra=extra))
        return sorted(out, key=lambda r: r["run_id"])

    assert len(runs(a)) == 2 and runs(a) == runs(b)


# -- item 5: gates that cannot fail -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "1e999"])
def test_threshold_must_be_finite(pytester: pytest.Pytester, lips_inputs, value) -> None:
    usage_error(
        pytester.runpytest(f"--lips-model={lips_inputs['model']}", f"--lips-threshold=task2.force_rmse={value}"),
        "*--lips-threshold: threshold task2.force_rmse must be a finite number*",
    )


def test_threshold_hook_cannot_set_infinity() -> None:
    from pytest_lips.thresholds import default_thresholds

    thresholds = default_thresholds()
    with pytest.raises(LipsUsageError, match="finite"):
        thresholds["task2.force_rmse"] = float("inf")


def test_tolerance_must_be_finite() -> None:
    from pytest_lips.tolerances import Tolerance

    with pytest.raises(LipsUsageError, match="finite amount"):
        Tolerance.parse("task2.force_rmse", "+1e999", origin="cli")
    assert Tolerance.parse("task2.force_rmse", "+1e9", origin="cli").amount == 1e9


def test_nan_metric_is_never_passed(pytester: pytest.Pytester, lips_inputs) -> None:
    """n/a without a threshold -> SKIPPED 'not measured'; n/a of a gated metric -> FAILED."""
    pytester.makepyfile(
        test_inner=textwrap.dedent("""
        from pytest_lips.results import Metric

        def test_stress_without_virials(lips_check):
            lips_check(Metric("test_split.stress_rmse", float("nan"), "GPa", gated=False,
                              note="no reference stresses (virials) in the evaluated structures"))

        def test_gated_metric_is_nan(lips_check):
            lips_check(Metric("task2.force_rmse", float("nan"), "eV/Å"))

        def test_reported_metric_is_nan(lips_check):
            lips_check(Metric("task2.liquid.force_rmse", float("nan"), "eV/Å", note="no liquid snapshots"))
    """)
    )
    result = pytester.runpytest(
        f"--lips-model={lips_inputs['model']}",
        f"--lips-profile={lips_inputs['profile']}",
        f"--lips-data={lips_inputs['data']}",
        "--lips-offline",
        "--lips-tasks=test_split",
        "-k",
        "inner",
        "-rsf",
        "-p",
        "no:randomly",
    )
    result.assert_outcomes(failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*SKIPPED*not measured: test_split.stress_rmse: no reference stresses*",
            "*SKIPPED*not measured: task2.liquid.force_rmse: no liquid snapshots*",
            "*FAILED*test_gated_metric_is_nan*",
        ]
    )
    result.stdout.fnmatch_lines(["*task2.force_rmse = nan eV/Å violates threshold*value is not finite*"])


def test_task4_close_contacts_after_a_blow_up_fail() -> None:
    """The ci example: the gated run blew up at step 6 with one measured frame (no close contact).

    Counting only that frame gave a close-contact fraction of 0 (PASSED); the frames the run never
    reached now count, so the fraction is ~1 and the default threshold (0) fails it.
    """
    from pytest_lips.results import RunRecord
    from pytest_lips.tasks import task4_robustness as task4
    from pytest_lips.thresholds import default_thresholds

    protocol = task4.Task4Protocol(
        n_atoms=84,
        temperatures_K=(2000.0,),
        pressures_Pa=(1e8,),
        repeats=1,
        production_ps=1.5,
        sample_interval_fs=50.0,
        timestep_fs=1.0,
    )
    record = RunRecord(
        task="task4",
        run_id="T2000K-p1e+08Pa-r1",
        completed=False,
        stop_reason="non-finite forces",
        steps_requested=protocol.production_steps,
        steps_done=6,
    )
    result = {
        "record": record.to_dict(),
        "temperature_K": 2000.0,
        "pressure_Pa": 1e8,
        "repeat": 1,
        "d_min_A": [1.8],
        "frame_steps": [0],
        "volume_A3": [1000.0],
    }
    survival, contacts = task4.analyse([result], protocol, 1.0, task4.GateDomain(2000.0, 1e8))
    planned = protocol.production_steps // protocol.sample_interval_steps + 1  # 31 frames
    assert task4.unreached_frames(result, protocol) == planned - 1
    assert contacts.value == pytest.approx((planned - 1) / planned) and contacts.gated
    assert "never reached" in contacts.note
    verdicts = default_thresholds().evaluate(contacts)
    assert verdicts and all(v.passed is False for v in verdicts)
    assert survival.value == 0.0
    # a completed run is judged on its frames only
    done = dict(
        result,
        record=dict(record.to_dict(), completed=True, steps_done=protocol.production_steps),
        d_min_A=[1.8] * planned,
    )
    assert task4.analyse([done], protocol, 1.0, task4.GateDomain(2000.0, 1e8))[1].value == 0.0


# -- item 6: trust boundaries -------------------------------------------------------------------------


def _pack_with(tmp_path: Path, rel: str) -> Path:
    from pytest_lips.data import file_sha256

    pack = tmp_path / "pack"
    pack.mkdir(parents=True)
    outside = tmp_path / "secret.extxyz"
    outside.write_text("not for the plugin\n")
    manifest = {
        "schema_version": 1,
        "name": "p",
        "version": "1",
        "method": {},
        "units": {},
        "files": [{"path": rel, "sha256": file_sha256(outside)}],
    }
    import yaml

    (pack / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return pack


def test_manifest_paths_cannot_leave_the_pack(tmp_path: Path) -> None:
    from pytest_lips.reference import load_reference_pack

    with pytest.raises(LipsDataError, match=r"files\[0\] path '\.\./secret\.extxyz' resolves to .*outside the pack"):
        load_reference_pack(_pack_with(tmp_path / "dots", "../secret.extxyz"))
    absolute = tmp_path / "abs"
    absolute.mkdir()
    with pytest.raises(LipsDataError, match=r"files\[0\] has the absolute path"):
        load_reference_pack(_pack_with(absolute, str(absolute / "secret.extxyz")))
    linked = tmp_path / "link"
    linked.mkdir()
    pack = _pack_with(linked, "data/secret.extxyz")
    (pack / "data").symlink_to(linked, target_is_directory=True)  # pack/data -> outside the pack
    with pytest.raises(LipsDataError, match="symbolic link"):
        load_reference_pack(pack)


def test_readme_has_a_security_section() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "## Security" in text
    section = text.split("## Security", 1)[1].split("\n## ", 1)[0]
    for phrase in ("weights_only=False", "factory", "sha256", "trust"):
        assert phrase in section, phrase


# -- item 7: errors at start-up -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pattern"),
    [
        ("test_split:\n  max_structure: 20\n", "*profile section test_split: unknown keys [[]'max_structure'[]]*"),
        ("task3:\n  timestep_fs: 0\n", "*profile section task3: timestep_fs is a time and must be > 0, got 0*"),
        ("task4:\n  production_ps: -1\n", "*profile section task4: production_ps is a time and must be > 0*"),
        ("test_split:\n  max_structures: -5\n", "*profile section test_split: max_structures must be >= 0*"),
        ("task1:\n  fmax_eV_A: .inf\n", "*profile section task1: fmax_eV_A must be a finite number*"),
        ("task1:\n  max_steps: many\n", "*profile section task1: max_steps must be a whole number, got 'many'*"),
        ("task4:\n  temperatures_K: [2000, .nan]\n", "*profile section task4: temperatures_K must be a finite number*"),
        ("task2: [1, 2]\n", "*section task2*must be a mapping*"),
    ],
    ids=[
        "typo",
        "zero-timestep",
        "negative-time",
        "negative-count",
        "inf",
        "not-a-number",
        "nan-in-list",
        "not-a-mapping",
    ],
)
def test_bad_profile_values_stop_the_run_at_start(pytester: pytest.Pytester, lips_inputs, body, pattern) -> None:
    profile = write_profile(pytester.path, "bad", body)
    usage_error(pytester.runpytest(f"--lips-model={lips_inputs['model']}", f"--lips-profile={profile}"), pattern)


def test_negative_seed(pytester: pytest.Pytester, lips_inputs) -> None:
    usage_error(
        pytester.runpytest(f"--lips-model={lips_inputs['model']}", "--lips-seed=-1"),
        "*--lips-seed / lips_seed: expected an integer >= 0, got '-1'*",
    )


@pytest.fixture
def factories(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> str:
    pytester.makepyfile(
        bad_factories=textwrap.dedent("""
        from ase.build import bulk
        from ase.calculators.lj import LennardJones

        def returns_text(device="cpu"):
            return "mace-small"

        def returns_atoms(device="cpu"):
            return bulk("Li")

        def lj_without_device():
            return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
    """)
    )
    monkeypatch.syspath_prepend(str(pytester.path))
    return "bad_factories"


@pytest.mark.parametrize(("name", "what"), [("returns_text", "str 'mace-small'"), ("returns_atoms", "Atoms")])
def test_factory_must_return_a_calculator(pytester: pytest.Pytester, factories, name, what) -> None:
    usage_error(
        pytester.runpytest(f"--lips-model={factories}:{name}"),
        f"*--lips-model {factories}:{name}: the factory returned {what}*not an ASE calculator or a graph-pes model*",
    )


def test_factory_without_device_says_where_it_runs(factories) -> None:
    from pytest_lips.models import load_lips_model

    model = load_lips_model(f"{factories}:lj_without_device", device="cuda")
    assert model.device == "cpu"  # what is really used, not what was asked for
    assert model.warnings and "--lips-device cuda not applied" in model.warnings[0]
    assert model.describe()["warnings"] == model.warnings
    assert load_lips_model(f"{factories}:lj_without_device", device="cpu").warnings == []


def test_cuda_without_a_gpu_is_a_usage_error(pytester: pytest.Pytester, lips_inputs) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    usage_error(
        pytester.runpytest(f"--lips-model={lips_inputs['model']}", "--lips-device=cuda"),
        "*--lips-device cuda: CUDA is not available here*drop the option to run on cpu*",
    )
    usage_error(
        pytester.runpytest(f"--lips-model={lips_inputs['model']}", "--lips-device=gpu"),
        "*--lips-device / lips_device: 'gpu' is not a torch device*",
    )


def test_calculator_device_detection() -> None:
    import torch
    from ase.calculators.lj import LennardJones

    from pytest_lips.models import calculator_device

    class WithModule:
        model = torch.nn.Linear(2, 2)

    class WithAttribute:
        device = torch.device("cpu")

    assert calculator_device(LennardJones()) == "cpu"
    assert calculator_device(WithModule()) == "cpu"
    assert calculator_device(WithAttribute()) == "cpu"


# -- item 9: noise ------------------------------------------------------------------------------------------


def test_quiet_filters_are_narrow() -> None:
    from pytest_lips.quiet import quiet_library_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_library_warnings():
            warnings.warn_explicit(
                "logm result may be inaccurate, approximate err = 3e-13",
                RuntimeWarning,
                "x.py",
                1,
                module="scipy._lib._util",
            )
            warnings.warn_explicit(
                "`torch.jit.script` is deprecated. Please switch",
                DeprecationWarning,
                "x.py",
                1,
                module="torch.jit._script",
            )
            warnings.warn_explicit(
                "Setting the shape on a NumPy array has been deprecated",
                DeprecationWarning,
                "x.py",
                1,
                module="ase.atoms",
            )
            # the same text from the user's own code, and other warnings, still come through
            warnings.warn_explicit("logm result may be inaccurate", RuntimeWarning, "x.py", 1, module="user_code")
            warnings.warn("a user's warning", UserWarning, stacklevel=1)  # raised here, in "user code"
        warnings.warn_explicit("logm result may be inaccurate", RuntimeWarning, "x.py", 1, module="scipy.linalg")
    messages = [str(w.message) for w in caught]
    assert messages == ["logm result may be inaccurate", "a user's warning", "logm result may be inaccurate"]


def test_loading_the_example_model_and_relaxing_is_quiet() -> None:
    """In a fresh interpreter with every warning shown: loading the (MACE) example model and relaxing a
    crystal in its cell filter print none of the torch.jit / ASE / scipy-logm warnings."""
    model = REPO / "examples" / "lips-example-model.pt"
    if not model.is_file():
        pytest.skip("examples/lips-example-model.pt is not in this checkout")
    code = textwrap.dedent(f"""
        from pytest_lips.models import load_lips_model
        from pytest_lips.reference import load_reference_pack
        from pytest_lips.tasks import task1_formation as t1
        model = load_lips_model({str(model)!r})
        pack = load_reference_pack()
        protocol = t1.Task1Protocol(fmax_eV_A=0.01, max_steps=15)
        out = t1.run_structure(pack.task1_entry("gamma-Li3PS4"), model, protocol, "relaxed")
        print("steps", out["steps"])
    """)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="always")
    proc = subprocess.run(
        [sys.executable, "-W", "always", "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "steps" in proc.stdout
    for noise in ("torch.jit", "logm result may be inaccurate", "Setting the shape on a NumPy array"):
        assert noise not in proc.stderr, proc.stderr[-2000:]
