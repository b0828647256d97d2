"""Release gating against a saved baseline, end to end through pytester."""

from __future__ import annotations

import pytest

from .test_plugin import lips_args

WORSENED_FACTORY = """
import torch
from ase.calculators.calculator import Calculator, all_changes
from graph_pes.utils.calculator import GraphPESCalculator

MODEL_PATH = {path!r}


class ScaledForces(Calculator):
    \"\"\"The base model with its forces scaled by 1.1: a deliberately worsened release.\"\"\"

    implemented_properties = ["energy", "forces", "stress"]

    def __init__(self):
        super().__init__()
        self.inner = GraphPESCalculator(torch.load(MODEL_PATH, weights_only=False), skin=0.0)

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        self.inner.calculate(atoms, ["energy", "forces", "stress"], system_changes)
        self.results = dict(self.inner.results)
        self.results["forces"] = 1.1 * self.results["forces"]


def make():
    return ScaledForces()
"""


@pytest.fixture
def worsened(pytester: pytest.Pytester, lips_inputs) -> str:
    pytester.makepyfile(worsened_model=WORSENED_FACTORY.format(path=str(lips_inputs["base"])))
    pytester.syspathinsert()
    return "worsened_model:make"


def test_worsened_model_fails_the_baseline_and_passes_without(pytester, lips_inputs, worsened) -> None:
    baseline = pytester.path / "baseline.json"
    saved = pytester.runpytest(*lips_args(lips_inputs, f"--lips-save-baseline={baseline}", model="base"))
    assert saved.ret == 0 and baseline.is_file()

    common = [a for a in lips_args(lips_inputs, model="base") if not a.startswith("--lips-model")]
    without = pytester.runpytest(f"--lips-model={worsened}", *common)
    assert without.ret == 0  # absolute thresholds still pass

    against = pytester.runpytest(f"--lips-model={worsened}", *common, f"--lips-baseline={baseline}")
    assert against.ret == pytest.ExitCode.TESTS_FAILED
    against.stdout.fnmatch_lines(["*FAILED*test_test_split_force_rmse*"])
    text = against.stdout.str()
    assert "test_split.force_rmse" in text and "baseline" in text.lower()

    # a looser tolerance lets the same change through
    loose = pytester.runpytest(
        f"--lips-model={worsened}",
        *common,
        f"--lips-baseline={baseline}",
        "--lips-tolerance=test_split.force_rmse=+100%",
        "-k",
        "test_test_split_force_rmse",
    )
    assert loose.ret == 0


def test_baseline_from_another_profile_is_refused(pytester, lips_inputs) -> None:
    baseline = pytester.path / "baseline.json"
    assert pytester.runpytest(*lips_args(lips_inputs, f"--lips-save-baseline={baseline}", model="base")).ret == 0
    other = pytester.path / "other.yaml"
    other.write_text(lips_inputs["profile"].read_text().replace("name: micro", "name: other"))
    args = [a for a in lips_args(lips_inputs, model="base") if not a.startswith("--lips-profile")]
    result = pytester.runpytest(*args, f"--lips-profile={other}", f"--lips-baseline={baseline}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*profile*"])
    assert "Traceback" not in result.stderr.str()


def test_missing_baseline_file(pytester, lips_inputs) -> None:
    result = pytester.runpytest(*lips_args(lips_inputs, "--lips-baseline=nowhere.json", model="base"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--lips-baseline nowhere.json: no such file*--lips-save-baseline*"])
