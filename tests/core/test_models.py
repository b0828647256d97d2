"""Model loading: graph-pes files, factories, clear errors, one model call per MD step."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from graph_pes.models import AdditionModel, FixedOffset, LennardJones

from pytest_lips.errors import LipsModelError
from pytest_lips.models import (
    load_lips_model,
    model_from_graph_pes,
    probe_structure,
    unique_names,
)


def lips_lj() -> AdditionModel:
    return AdditionModel(offset=FixedOffset(Li=-1.9, P=-5.4, S=-4.1), pair=LennardJones(epsilon=0.05, sigma=2.2))


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "lj-model.pt"
    torch.save(lips_lj(), path)
    return path


def test_graph_pes_file(model_file: Path) -> None:
    model = load_lips_model(str(model_file))
    assert model.name == "lj-model" and model.kind == "graph-pes"
    assert len(model.sha256) == 64
    first, second = model.new_calculator(), model.new_calculator()
    assert first is not second  # every trajectory gets its own calculator
    atoms = probe_structure()
    atoms.calc = first
    assert np.isfinite(atoms.get_potential_energy())


def test_missing_file_names_option_and_fix(tmp_path: Path) -> None:
    with pytest.raises(LipsModelError, match=r"--lips-model .*nope.pt: no such file.*module:callable"):
        load_lips_model(str(tmp_path / "nope.pt"))


def test_not_a_model_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pt"
    path.write_text("not a model")
    with pytest.raises(LipsModelError, match="not a graph-pes model file"):
        load_lips_model(str(path))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    with pytest.raises(LipsModelError, match="not a graph-pes|GraphPESModel"):
        load_lips_model(str(tmp_path / "dict.pt"))


def test_model_without_lips_elements(tmp_path: Path) -> None:
    path = tmp_path / "ch.pt"
    torch.save(AdditionModel(offset=FixedOffset(H=-1.0, C=-2.0), pair=LennardJones()), path)
    with pytest.raises(LipsModelError, match=r"never seen Li, P, S.*H, C"):
        load_lips_model(str(path))


def test_model_returning_nan(tmp_path: Path) -> None:
    path = tmp_path / "nan.pt"
    torch.save(LennardJones(epsilon=float("nan")), path)
    with pytest.raises(LipsModelError, match="non-finite"):
        load_lips_model(str(path))


def test_factory_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "my_factories.py"
    module.write_text(
        textwrap.dedent(
            """
        from ase.calculators.lj import LennardJones
        calls = []
        def make(device="cpu"):
            calls.append(device)
            return LennardJones(sigma=2.0, epsilon=0.01, rc=5.0)
        not_callable = 3
        """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    model = load_lips_model("my_factories:make", device="cpu")
    assert model.kind == "factory" and model.name == "my_factories.make" and model.graph_pes_model is None
    a, b = model.new_calculator(), model.new_calculator()
    assert a is not b
    # one call for the start-up check, then one per new_calculator()
    assert sys.modules["my_factories"].calls == ["cpu", "cpu", "cpu"]
    with pytest.raises(LipsModelError, match="not callable"):
        load_lips_model("my_factories:not_callable")
    with pytest.raises(LipsModelError, match="has no attribute"):
        load_lips_model("my_factories:missing")
    with pytest.raises(LipsModelError, match="cannot import module"):
        load_lips_model("no_such_module_xyz:make")


def test_energy_and_forces_in_one_model_call() -> None:
    model = model_from_graph_pes("lj", lips_lj())
    atoms = probe_structure()
    calc = model.new_calculator()
    calls = []
    predict = calc.model.predict

    def counting_predict(*args, **kwargs):
        calls.append(1)
        return predict(*args, **kwargs)

    calc.model.predict = counting_predict
    atoms.calc = calc
    atoms.get_forces()  # what ASE MD asks for
    n_after_forces = len(calls)
    atoms.get_potential_energy()  # what an MD logger asks for next
    assert n_after_forces >= 1
    assert len(calls) == n_after_forces  # no second model call


def test_unique_names() -> None:
    assert unique_names(["m", "m", "a b", "m"]) == ["m", "m-2", "a_b", "m-3"]
