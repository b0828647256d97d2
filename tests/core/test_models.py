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
    check_model_spec,
    load_lips_model,
    model_from_graph_pes,
    pickled_class,
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


def test_spec_check_reads_the_pickle_without_running_it(tmp_path: Path, model_file: Path) -> None:
    """The xdist controller's check: a graph-pes archive passes (any pickle protocol); a state dict,
    another torch module, a TorchScript archive and a text file are named, with the fix."""
    assert pickled_class(model_file) == "graph_pes.models.addition.AdditionModel"
    torch.save(lips_lj(), tmp_path / "p4.pt", pickle_protocol=4)  # STACK_GLOBAL instead of GLOBAL
    assert pickled_class(tmp_path / "p4.pt") == "graph_pes.models.addition.AdditionModel"
    check_model_spec(str(model_file))
    check_model_spec(str(tmp_path / "p4.pt"))
    torch.save({"weights": torch.zeros(3)}, tmp_path / "dict.pt")
    torch.save(torch.nn.Linear(2, 2), tmp_path / "linear.pt")
    torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), tmp_path / "script.pt")
    (tmp_path / "notes.pt").write_text("not a model")
    for name, held in [
        ("dict", "a builtins.dict"),
        ("linear", "a torch.nn.modules.linear.Linear"),
        ("script", "__torch__"),
        ("notes", "not a torch.save archive"),
    ]:
        with pytest.raises(LipsModelError, match=rf"--lips-model .*{name}.pt: .*{held}.*torch.save\(model, path\)"):
            check_model_spec(str(tmp_path / f"{name}.pt"))
    with pytest.raises(LipsModelError, match="is a directory"):
        check_model_spec(str(tmp_path))
    with pytest.raises(LipsModelError, match="cannot import module no_such_pkg_xyz"):
        check_model_spec("no_such_pkg_xyz.models:make")
    check_model_spec("textwrap:dedent")  # found, not imported further
    # a model class from the user's own package passes: only loading can tell it is a GraphPESModel
    (tmp_path / "my_models.py").write_text(
        "from graph_pes.models import LennardJones\nclass MyLJ(LennardJones):\n    pass\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        import my_models  # type: ignore[import-not-found]

        torch.save(my_models.MyLJ(), tmp_path / "mine.pt")
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("my_models", None)
    assert pickled_class(tmp_path / "mine.pt") == "my_models.MyLJ"
    check_model_spec(str(tmp_path / "mine.pt"))


def test_spec_check_imports_neither_torch_nor_graph_pes(model_file: Path) -> None:
    """What makes it worth having: the controller of ``pytest -n N`` skips ~10 CPU-s of imports."""
    import subprocess

    code = (
        "import sys; from pathlib import Path; from pytest_lips.models import check_model_spec; "
        f"check_model_spec({str(model_file)!r}); "
        "print(sorted(m for m in ('torch', 'graph_pes') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


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
