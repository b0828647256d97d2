"""Loading the model under test: a graph-pes model file or an importable calculator factory.

``--lips-model`` accepts

* the path of a graph-pes model saved with ``torch.save`` (loaded with
  :func:`graph_pes.models.load_model`, wrapped in :class:`graph_pes.utils.calculator.GraphPESCalculator`);
* ``package.module:callable`` — a factory returning an ASE calculator (how MACE, CHGNet or any other
  calculator plugs in) or a graph-pes model.  A ``device`` keyword is passed when the callable accepts it.

Every call of :meth:`LipsModel.new_calculator` returns a fresh calculator, so that MD trajectories
never share neighbour-list or result caches.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import math
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import BaseCalculator, Calculator

from .errors import LipsModelError


def system_elements(elements: Iterable[str] | None = None) -> tuple[str, ...]:
    """``elements``, or those of the shipped default pack's system (the elements a model must know)."""
    if elements is not None:
        return tuple(elements)
    from .system import default_system

    return default_system().elements


_FACTORY_PATTERN = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


@dataclass
class LipsModel:
    """The model under test, as the tasks see it.

    Attributes
    ----------
    name:
        Short name used in test ids and reports (file stem or factory name).
    spec:
        What the user passed (path or ``module:callable``).
    kind:
        ``"graph-pes"`` or ``"factory"``.
    device:
        ``"cpu"``, ``"cuda"``, ... (passed on to the calculator).
    sha256:
        Checksum of the model file (for a factory: of the module's source file), or ``None``.
    graph_pes_model:
        The loaded :class:`graph_pes.GraphPESModel` when there is one (enables batched evaluation).
    """

    name: str
    spec: str
    kind: str
    device: str = "cpu"
    sha256: str | None = None
    graph_pes_model: Any = None
    skin_A: float = 1.0
    #: ``module:qualname`` of a ``--lips-model module:callable`` factory (part of its result identity).
    factory_target: str | None = None
    #: Keyword arguments the factory is called with (``{"device": ...}`` when it accepts one).
    factory_kwargs: dict[str, Any] = field(default_factory=dict)
    #: Fingerprint of energy/forces/stress on the probe cell (:func:`pytest_lips.identity.probe_fingerprint`),
    #: computed on first use.
    probe_fingerprint: str | None = None
    #: Problems worth a line in the header and the report (e.g. a device that could not be applied).
    warnings: list[str] = field(default_factory=list)
    #: Elements of the reference pack's system: the probe cell of checks and fingerprint is built from them
    #: (:func:`probe_structure`); ``None``: the shipped default pack's.
    probe_elements: tuple[str, ...] | None = None
    _factory: Callable[..., Calculator] | None = field(default=None, repr=False)
    _check_calculator: Any = field(default=None, repr=False)
    #: A torch-sim ``ModelInterface`` returned by a ``module:callable`` factory (batched MD).
    _torch_sim_model: Any = field(default=None, repr=False)

    def new_calculator(self, stress: bool = False) -> Calculator:
        """A fresh ASE calculator for this model.

        For graph-pes models, the calculator computes energy and forces (and stress when
        ``stress=True``) in one model call whatever ASE asks for, so MD loggers that read the
        energy after the integrator asked for forces cost nothing extra.
        """
        if self.graph_pes_model is not None:
            return _FusedGraphPESCalculator(
                self.graph_pes_model, device=self.device, skin=self.skin_A, with_stress=stress
            )
        assert self._factory is not None
        calc = _call_factory(self._factory, self.spec)
        check_calculator(calc, self.spec)
        return calc

    def supports_torch_sim(self) -> bool:
        """Whether :meth:`torch_sim_model` can return a model (torch-sim installed, graph-pes or torch-sim model)."""
        import importlib.util

        if importlib.util.find_spec("torch_sim") is None:
            return False
        return self._torch_sim_model is not None or self.graph_pes_model is not None

    def torch_sim_model(self, device: str | None = None, dtype: Any = None, compute_stress: bool = True) -> Any:
        """A torch-sim ``ModelInterface`` for batched MD (:class:`pytest_lips.md.engines.TorchSimEngine`), or ``None``.

        graph-pes models: graph-pes's own wrapper (``GraphPESModel.torch_sim_model``) around a COPY of
        the model (the wrapper casts its module to ``dtype`` in place; the ASE calculators keep theirs),
        ``dtype`` default ``torch.float32``. A factory that returned a torch-sim model: that model.
        ``None`` when torch-sim is not installed or the model is a plain ASE calculator.
        """
        if not self.supports_torch_sim():
            return None
        if self._torch_sim_model is not None:
            return self._torch_sim_model
        import copy

        import torch

        model = copy.deepcopy(self.graph_pes_model)
        return model.torch_sim_model(
            device=torch.device(device or self.device),
            dtype=dtype if dtype is not None else torch.float32,
            compute_stress=compute_stress,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description for reports."""
        return {
            "name": self.name,
            "spec": self.spec,
            "kind": self.kind,
            "device": self.device,
            "sha256": self.sha256,
            "factory": self.factory_target,
            "factory_kwargs": dict(self.factory_kwargs) if self.factory_target else None,
            "probe_fingerprint": self.probe_fingerprint,
            **({"warnings": list(self.warnings)} if self.warnings else {}),
        }


def _make_fused_calculator_class() -> type:
    from graph_pes.utils.calculator import GraphPESCalculator

    class FusedGraphPESCalculator(GraphPESCalculator):
        """GraphPESCalculator that always computes energy and forces together."""

        def __init__(self, model: Any, *, with_stress: bool = False, **kwargs: Any) -> None:
            super().__init__(model, **kwargs)
            self._always = ["energy", "forces"] + (["stress"] if with_stress else [])

        def calculate(self, atoms=None, properties=None, system_changes=None):  # type: ignore[override]
            wanted = list(dict.fromkeys([*self._always, *(properties or [])]))
            if atoms is not None and "stress" in wanted and not np.all(atoms.pbc):
                wanted.remove("stress")
            if system_changes is None:
                return super().calculate(atoms, wanted)
            return super().calculate(atoms, wanted, system_changes)

    return FusedGraphPESCalculator


_FUSED: type | None = None


def _FusedGraphPESCalculator(model: Any, **kwargs: Any) -> Calculator:  # noqa: N802 - factory
    global _FUSED
    if _FUSED is None:
        _FUSED = _make_fused_calculator_class()
    return _FUSED(model, **kwargs)


# ---------------------------------------------------------------------------------------------
# loading


def _parse_spec(spec: str) -> tuple[str, Path | None]:
    """``(spec, path)`` of a ``--lips-model`` value: ``path`` when it names an existing file, None for a
    ``module:callable`` factory. An empty value, a directory or a missing file is a :class:`LipsModelError`."""
    spec = str(spec).strip()
    if not spec:
        raise LipsModelError("--lips-model: empty value; pass a graph-pes model file or module:callable")
    path = Path(spec).expanduser()
    if path.exists():
        if path.is_dir():
            raise LipsModelError(f"--lips-model {path}: is a directory; pass the model file inside it")
        return spec, path
    if _FACTORY_PATTERN.match(spec):
        return spec, None
    raise LipsModelError(
        f"--lips-model {spec}: no such file (looked for {path.resolve()}); pass the path of a "
        "graph-pes model saved with torch.save, or an importable factory 'package.module:callable' "
        "returning an ASE calculator"
    )


def load_lips_model(
    spec: str,
    device: str = "cpu",
    name: str | None = None,
    check: bool = True,
    elements: Iterable[str] | None = None,
) -> LipsModel:
    """Load ``spec`` (model file path or ``module:callable``) and check it on a cell of the system's elements.

    ``elements``: the reference pack's (``system.elements``; default: the shipped default pack's).
    Raises :class:`LipsModelError` with a message that names the option value and the fix.
    """
    spec, path = _parse_spec(spec)
    if path is not None:
        model = _load_graph_pes_file(path, device=device, name=name)
    else:
        model = _load_factory(spec, device=device, name=name)
    if elements is not None:
        model.probe_elements = tuple(elements)
    if check:
        check_model(model)
    return model


def check_model_spec(spec: str) -> None:
    """The checks of :func:`load_lips_model` that need no import of the model's libraries.

    The xdist controller runs these instead of loading (its workers load and check the model
    themselves; importing graph-pes alone costs ~10 CPU-s): the path is a file, or ``spec`` has the
    ``module:callable`` form and its module can be found. Raises :class:`LipsModelError`.
    """
    spec, path = _parse_spec(spec)
    if path is not None:
        check_model_file(path)
        return
    module_name = spec.split(":", 1)[0]
    top = module_name.split(".")[0]
    try:
        found = importlib.util.find_spec(top) is not None
    except (ImportError, ValueError):
        found = False
    if not found and not (Path.cwd() / f"{top}.py").exists() and not (Path.cwd() / top).is_dir():
        raise LipsModelError(
            f"--lips-model {spec}: cannot import module {module_name} (no module named {top!r}); install "
            "the package that provides it or run pytest from the directory that contains it"
        )


def pickled_class(path: Path) -> str | None:
    """``module.Class`` of the object that ``torch.save`` wrote to ``path``, read from the pickle's
    opcodes without unpickling (nothing in the file runs); None when no class is named first."""
    import io
    import pickletools
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if not members:
            return None
        data = archive.read(members[0])
    containers = {"EMPTY_DICT": "builtins.dict", "EMPTY_LIST": "builtins.list", "EMPTY_TUPLE": "builtins.tuple"}
    strings: list[str] = []
    for opcode, arg, _ in pickletools.genops(io.BytesIO(data)):
        if opcode.name == "GLOBAL":
            return str(arg).replace(" ", ".")
        if opcode.name == "STACK_GLOBAL" and len(strings) >= 2:
            return f"{strings[-2]}.{strings[-1]}"
        if isinstance(arg, str) and "UNICODE" in opcode.name:
            strings.append(arg)
        elif opcode.name not in ("PROTO", "FRAME", "MEMOIZE", "BINPUT", "LONG_BINPUT", "PUT"):
            return containers.get(opcode.name)  # the top-level object is not an instance of a class
    return None


#: modules whose pickled top-level objects are never graph-pes models (state dicts, checkpoints as
#: dicts, plain torch modules, TorchScript)
_NOT_MODEL_MODULES = ("builtins.", "collections.", "torch.", "__torch__.")


def check_model_file(path: Path) -> None:
    """Without importing torch or graph-pes: ``path`` is a ``torch.save`` archive whose top-level object
    is an instance of a class outside ``_NOT_MODEL_MODULES`` (a text file, a state dict, a checkpoint
    dict, a plain torch module or a TorchScript archive is a :class:`LipsModelError`). Loading can still
    fail later (a damaged archive, a class that is not a GraphPESModel or that cannot be imported)."""
    import zipfile

    fix = (
        "Save models with torch.save(model, path) or graph-pes training; other calculators plug in "
        "as --lips-model package.module:callable"
    )
    if not zipfile.is_zipfile(path):
        raise LipsModelError(f"--lips-model {path}: not a graph-pes model file (not a torch.save archive). {fix}")
    try:
        cls = pickled_class(path)
    except Exception as exc:  # a damaged archive or pickle
        raise LipsModelError(
            f"--lips-model {path}: not a graph-pes model file ({type(exc).__name__}: {_first_line(exc)}). {fix}"
        ) from None
    # Only what is surely not a model is refused here: a model class may live in the user's own package
    # (a GraphPESModel subclass), which only loading can tell; the workers load and check it.
    if cls is None or cls.startswith(_NOT_MODEL_MODULES):
        held = f"a {cls}" if cls else "no pickled object (a TorchScript archive?)"
        raise LipsModelError(f"--lips-model {path}: the file holds {held}, not a graph-pes GraphPESModel. {fix}")


def _load_graph_pes_file(path: Path, device: str, name: str | None) -> LipsModel:
    from .quiet import quiet_library_warnings

    try:
        with quiet_library_warnings():  # e3nn calls the deprecated torch.jit.script at import
            import torch
            from graph_pes import GraphPESModel
            from graph_pes.models import load_model
    except ImportError as exc:  # pragma: no cover - both are dependencies
        raise LipsModelError(
            f"--lips-model {path}: graph-pes is not importable ({exc}); pip install graph-pes"
        ) from None
    try:
        # Security: graph-pes unpickles the file (torch.load(weights_only=False)), which runs any code
        # the file carries -- load only model files you trust (README, "Security").
        with quiet_library_warnings():  # e3nn's torch.jit.script/load while a MACE model unpickles
            model = load_model(path)
    except Exception as exc:  # torch raises many types for non-model files
        library = library_at_fault(exc)
        if library:  # e.g. e3nn 0.6.0 (installed by sevenn) cannot unpickle graph-pes's e3nn 0.4.4 objects
            raise LipsModelError(
                f"--lips-model {path}: loading failed inside {library} ({type(exc).__name__}: {_first_line(exc)}): "
                "the file was most likely saved with another version of that library; install the version "
                "graph-pes requires (or the one the model was saved with) in this environment"
            ) from None
        raise LipsModelError(
            f"--lips-model {path}: not a graph-pes model file ({type(exc).__name__}: {_first_line(exc)}). "
            "Save models with torch.save(model, path) or graph-pes training; other calculators plug in "
            "as --lips-model package.module:callable"
        ) from None
    if not isinstance(model, GraphPESModel):
        raise LipsModelError(
            f"--lips-model {path}: the file holds a {type(model).__name__}, not a graph-pes GraphPESModel"
        )
    try:
        model = model.to(device)
    except Exception as exc:
        raise LipsModelError(f"--lips-device {device}: cannot move the model there ({_first_line(exc)})") from None
    model.eval()
    del torch
    return LipsModel(
        name=name or path.stem,
        spec=str(path),
        kind="graph-pes",
        device=device,
        sha256=file_sha256(path),
        graph_pes_model=model,
    )


def _load_factory(spec: str, device: str, name: str | None) -> LipsModel:
    module_name, attr_path = spec.split(":", 1)
    module = _import_module(module_name, spec)
    target: Any = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise LipsModelError(f"--lips-model {spec}: module {module_name} has no attribute {attr_path}") from None
    if not callable(target):
        raise LipsModelError(f"--lips-model {spec}: {attr_path} is not callable")
    try:
        accepts_device = "device" in inspect.signature(target).parameters
    except (TypeError, ValueError):
        accepts_device = False

    def factory() -> Any:
        return target(device=device) if accepts_device else target()

    source = getattr(module, "__file__", None)
    sha = file_sha256(Path(source)) if source and Path(source).is_file() else None
    model = LipsModel(
        name=name or factory_model_name(spec),
        spec=spec,
        kind="factory",
        device=device,
        sha256=sha,
        factory_target=f"{module_name}:{attr_path}",
        factory_kwargs={"device": device} if accepts_device else {},
        _factory=factory,
    )
    # A factory may hand back a graph-pes model instead of a calculator.  Every other call builds a
    # fresh calculator, so no trajectory shares state with another (or with the start-up check).
    first = _call_factory(factory, spec)
    try:
        from graph_pes import GraphPESModel

        if isinstance(first, GraphPESModel):
            model.graph_pes_model = first.to(device).eval()
            model._factory = None
            return model
    except ImportError:  # pragma: no cover
        pass
    if _is_torch_sim_model(first):  # batched MD with torch-sim; ASE MD through a thin calculator
        from .md.calculator import TorchSimModelCalculator

        model._torch_sim_model = first
        model._factory = lambda: TorchSimModelCalculator(first)
        first = model._factory()
    check_calculator(first, spec)
    if not accepts_device and device != "cpu":
        used = calculator_device(first)
        model.device = used
        model.warnings.append(
            f"--lips-device {device} not applied to {spec}: the factory has no 'device' parameter, so the "
            f"calculator runs where the factory puts it ({used}); add a device keyword to the factory"
        )
    model._check_calculator = first
    return model


def check_calculator(calc: Any, spec: str) -> None:
    """A factory's product must be an ASE calculator; anything else is a :class:`LipsModelError`."""
    if isinstance(calc, Atoms) or not (
        isinstance(calc, BaseCalculator)
        or all(callable(getattr(calc, name, None)) for name in ("calculate", "get_potential_energy", "get_forces"))
    ):
        shown = repr(calc)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise LipsModelError(
            f"--lips-model {spec}: the factory returned {type(calc).__name__} {shown}, not an ASE calculator "
            "or a graph-pes model; return an ase.calculators.calculator.Calculator instance (or a GraphPESModel)"
        )


def calculator_device(calc: Any) -> str:
    """Where a calculator computes: its ``device`` attribute, else the device of its torch parameters,
    else ``"cpu"`` for a calculator without torch parameters; ``"unknown"`` when nothing tells."""
    device = getattr(calc, "device", None)
    if device is not None:
        return str(device)
    found_module = False
    for name in ("model", "models", "potential", "module"):
        module = getattr(calc, name, None)
        for candidate in module if isinstance(module, (list, tuple)) else [module]:
            parameters = getattr(candidate, "parameters", None)
            if callable(parameters):
                found_module = True
                try:
                    return str(next(iter(parameters())).device)
                except (StopIteration, TypeError):
                    continue
    return "unknown" if found_module else "cpu"


def _is_torch_sim_model(obj: Any) -> bool:
    """Whether ``obj`` is a torch-sim ``ModelInterface`` (without importing torch-sim when absent)."""
    if "torch_sim" not in sys.modules and "torch_sim" not in type(obj).__module__:
        return False
    try:
        from torch_sim.models.interface import ModelInterface
    except ImportError:  # pragma: no cover
        return False
    return isinstance(obj, ModelInterface)


def _call_factory(factory: Callable[[], Any], spec: str) -> Any:
    try:
        return factory()
    except Exception as exc:
        raise LipsModelError(
            f"--lips-model {spec}: calling the factory failed ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


def _import_module(module_name: str, spec: str) -> Any:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        cwd = str(Path.cwd())
        if exc.name == module_name.split(".")[0] and cwd not in sys.path:
            sys.path.insert(0, cwd)
            try:
                return importlib.import_module(module_name)
            except ModuleNotFoundError:
                pass
        raise LipsModelError(
            f"--lips-model {spec}: cannot import module {module_name} ({exc}); install the package "
            "that provides it or run pytest from the directory that contains it"
        ) from None
    except Exception as exc:
        raise LipsModelError(
            f"--lips-model {spec}: importing {module_name} failed ({type(exc).__name__}: {_first_line(exc)})"
        ) from None


# ---------------------------------------------------------------------------------------------
# checks


def probe_structure(elements: Iterable[str] | None = None) -> Atoms:
    """A small periodic cell holding every element of the system, for model checks and fingerprints.

    The 12-atom cubic antifluorite cell (a = 5.72 Å): its 8 tetrahedral sites hold the first element,
    its 4 fcc sites the last, and the elements in between replace fcc sites (then tetrahedral ones) one
    each, in order.  For the LiPS pack's ``(Li, P, S)``: antifluorite Li2S with one S replaced by P, the
    cell every LiPS fingerprint was computed on (unchanged).  ``elements`` default: the shipped default
    pack's system.
    """
    elements = system_elements(elements)
    if not elements:
        raise ValueError("probe_structure needs at least one element")
    a_A = 5.72
    fcc_sites = np.array([[0.0, 0.0, 0.0], [0.0, 0.5, 0.5], [0.5, 0.0, 0.5], [0.5, 0.5, 0.0]])
    # each fcc site followed by its two tetrahedral neighbours at +1/4 and +3/4 of the body diagonal (the
    # site order of ASE's antifluorite builder, so the LiPS cell is bit for bit the one of earlier versions)
    scaled = np.array([s for f in fcc_sites for s in (f, f + 0.25, f + 0.75)]) % 1.0
    fcc = [0, 3, 6, 9]
    tetra = [i for i in range(12) if i not in fcc]
    symbols = [elements[0] if i in tetra else elements[-1] for i in range(12)]
    middle = list(elements[1:-1])
    if len(middle) > 10:
        raise ValueError(f"probe_structure: {len(elements)} elements do not fit a 12-atom cell")
    for site, element in zip([*fcc[:-1], *tetra[:-1]], middle):
        symbols[site] = element
    return Atoms(symbols=symbols, positions=scaled * a_A, cell=np.eye(3) * a_A, pbc=True)


def _probe_label(elements: Iterable[str] | None) -> str:
    return "-".join(system_elements(elements))


def check_model(model: LipsModel, elements: Iterable[str] | None = None) -> None:
    """Fail early, with a clear message, on a model that cannot describe the system's elements.

    Checks the elements a graph-pes model has seen (when it records them) and that energy, forces and
    stress on :func:`probe_structure` are finite.  ``elements`` default: ``model.probe_elements``, else the
    shipped default pack's.
    """
    elements = system_elements(elements if elements is not None else model.probe_elements)
    label = _probe_label(elements)
    if model.graph_pes_model is not None:
        missing = missing_elements(model.graph_pes_model, elements)
        if missing:
            seen = ", ".join(model.graph_pes_model.elements_seen) or "none"
            raise LipsModelError(
                f"--lips-model {model.spec}: the model has never seen {', '.join(missing)} "
                f"(elements it knows: {seen}); the reference pack's system needs a model trained on "
                f"{', '.join(elements)}"
            )
    atoms = probe_structure(elements)
    if model._check_calculator is not None:  # the factory's first product, used once and dropped
        calc, model._check_calculator = model._check_calculator, None
    else:
        calc = model.new_calculator(stress=True) if model.graph_pes_model is not None else model.new_calculator()
    atoms.calc = calc
    from .quiet import quiet_library_warnings

    try:
        with quiet_library_warnings():  # ASE's ndarray.shape under NumPy 2.5
            energy = float(atoms.get_potential_energy())
            forces = np.asarray(atoms.get_forces(), dtype=float)
    except Exception as exc:
        raise LipsModelError(
            f"--lips-model {model.spec}: evaluating a 12-atom {label} cell failed "
            f"({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not math.isfinite(energy) or not np.all(np.isfinite(forces)):
        raise LipsModelError(
            f"--lips-model {model.spec}: the model returns non-finite energy or forces on a 12-atom "
            f"{label} cell (energy = {energy}); check the model's parameters and training"
        )


def missing_elements(graph_pes_model: Any, required: Iterable[str]) -> list[str]:
    """Elements of ``required`` unknown to a graph-pes model.

    Uses ``model.elements_seen`` (elements recorded by its per-element parameters).  A model without
    per-element parameters records none; it is given the benefit of the doubt (empty list).
    """
    try:
        seen = set(graph_pes_model.elements_seen)
    except Exception:
        return []
    if not seen:
        return []
    return [element for element in required if element not in seen]


def file_sha256(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def factory_model_name(spec: str) -> str:
    """Readable, test-id-safe name of a ``package.module:qualname`` factory: ``module.qualname``.

    The last module component is kept so that factories of the same name in two modules differ
    (``mymod:make`` -> ``mymod.make``, ``examples.chgnet_factory:make_calculator`` ->
    ``chgnet_factory.make_calculator``); :func:`unique_names` resolves what still collides.
    """
    module_name, _, attr_path = str(spec).partition(":")
    return f"{module_name.rsplit('.', 1)[-1]}.{attr_path}" if attr_path else module_name


def model_stem(spec: str) -> str:
    """Name of the model of a ``--lips-model`` value before :func:`unique_names`: file stem or factory name."""
    spec = str(spec).strip()
    if ":" in spec and not Path(spec).expanduser().exists() and _FACTORY_PATTERN.match(spec):
        return factory_model_name(spec)
    return Path(spec).stem


def unique_names(names: list[str]) -> list[str]:
    """Make model names unique for test ids (``m``, ``m-2``, ``m-3`` …) and id-safe."""
    out: list[str] = []
    counts: dict[str, int] = {}
    for raw in names:
        base = re.sub(r"[^\w.+-]", "_", raw) or "model"
        counts[base] = counts.get(base, 0) + 1
        out.append(base if counts[base] == 1 else f"{base}-{counts[base]}")
    return out


#: Top-level modules whose frames never name the library at fault of a failed load (the loaders themselves).
_LOADER_MODULES = frozenset({"torch", "graph_pes", "pytest_lips", "pickle", "_pickle", "copyreg", "_pytest", "pluggy"})


def library_at_fault(exc: BaseException) -> str:
    """``"e3nn 0.6.0 (graph-pes 1.0.2 requires e3nn==0.4.4)"`` when ``exc`` was raised inside a third-party
    library (the innermost frame outside the standard library, torch, graph-pes and pytest-lips), else ``""``.

    The library's version is its distribution's; what graph-pes requires of it is read from graph-pes's
    metadata (shown only when the installed version does not satisfy it)."""
    import sys
    from importlib.metadata import PackageNotFoundError, packages_distributions, version

    tb = exc.__traceback__
    innermost = ""
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__") or "")
        top = module.split(".", 1)[0]
        if top and top not in _LOADER_MODULES and top not in sys.stdlib_module_names and top != "__main__":
            innermost = top
        tb = tb.tb_next
    if not innermost:
        return ""
    dist = (packages_distributions().get(innermost) or [innermost])[0]
    try:
        installed = version(dist)
    except PackageNotFoundError:
        return f"module {innermost} (not an installed distribution)"
    required = required_by("graph-pes", dist)
    if required and not _satisfies(installed, required):
        return f"{dist} {installed} (graph-pes {version('graph-pes')} requires {dist}{required})"
    return f"{dist} {installed}"


def required_by(distribution: str, dependency: str) -> str:
    """The version specifier ``distribution`` declares for ``dependency`` (``"==0.4.4"``), ``""`` if none."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        from packaging.requirements import Requirement
        from packaging.utils import canonicalize_name
    except ImportError:  # pragma: no cover - packaging comes with pytest
        return ""
    try:
        declared = requires(distribution) or []
    except PackageNotFoundError:
        return ""
    for line in declared:
        req = Requirement(line)
        optional = req.marker is not None and "extra" in str(req.marker)
        if canonicalize_name(req.name) == canonicalize_name(dependency) and not optional:
            return str(req.specifier)
    return ""


def _satisfies(installed: str, specifier: str) -> bool:
    try:
        from packaging.specifiers import SpecifierSet

        return SpecifierSet(specifier).contains(installed, prereleases=True)
    except Exception:  # noqa: BLE001 - an unparsable version: do not claim a mismatch
        return True


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def model_from_factory(name: str, factory: Callable[[], Calculator], sha256: str | None = None) -> LipsModel:
    """A :class:`LipsModel` from a zero-argument callable returning a fresh ASE calculator.

    For a ``lips_model`` fixture override in a conftest.py::

        @pytest.fixture(scope="session")
        def lips_model():
            return model_from_factory("my-mace", lambda: mace_mp(model="small", device="cpu"))
    """
    return LipsModel(name=name, spec=f"<factory {name}>", kind="factory", sha256=sha256, _factory=factory)


def model_from_graph_pes(name: str, graph_pes_model: Any, device: str = "cpu") -> LipsModel:
    """A :class:`LipsModel` wrapping an in-memory graph-pes model (no file needed)."""
    return LipsModel(
        name=name,
        spec=f"<graph-pes {type(graph_pes_model).__name__}>",
        kind="graph-pes",
        device=device,
        graph_pes_model=graph_pes_model.to(device).eval(),
    )
