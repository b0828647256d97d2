"""A timing, property-widening wrapper around the model's ASE calculator.

ASE's integrators ask the calculator for one property at a time (``get_forces`` and, for NPT,
``get_stress``); a calculator that computes only what it is asked for (e.g.
:class:`graph_pes.utils.calculator.GraphPESCalculator`, whose ``results`` hold only the requested
properties) would then run the model once for the forces and again for the stress or the energy.
:class:`TimedCalculator` always asks the wrapped calculator for every property the MD needs in ONE
call (energy + forces, plus stress for NPT), so each MD step costs one model evaluation, and it
measures the wall time spent inside the wrapped calculator (the "model time"). It also checks the
results are finite, so a model that returns NaN stops the run at the first bad step instead of
propagating NaN into positions and the neighbour list.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
from ase.calculators.calculator import Calculator, all_changes

from ..errors import LipsSimulationError

__all__ = ["ModelCallError", "NonFiniteModelOutput", "TimedCalculator", "TorchSimModelCalculator"]


class NonFiniteModelOutput(LipsSimulationError):
    """The model returned a NaN or infinite energy, force or stress."""


class ModelCallError(LipsSimulationError):
    """The wrapped calculator raised while the MD asked it for energies/forces."""


class TimedCalculator(Calculator):
    """Delegate to ``inner``, computing ``properties`` together in every call, and time it.

    Parameters
    ----------
    inner:
        Any ASE calculator (a fresh one per trajectory, e.g. ``LipsModel.new_calculator()``).
    properties:
        Properties requested from ``inner`` in every call (those it does not implement are
        dropped); ``("energy", "forces")`` for NVT, ``("energy", "forces", "stress")`` for NPT.
    check_finite:
        Raise :class:`NonFiniteModelOutput` when a result contains NaN/inf.

    Attributes
    ----------
    calls:
        Number of calls of ``inner.calculate`` (model evaluations).
    model_time_s:
        Wall time spent inside ``inner.calculate``, s.
    """

    def __init__(
        self,
        inner: Calculator,
        properties: Sequence[str] = ("energy", "forces"),
        check_finite: bool = True,
    ):
        super().__init__()
        self.inner = inner
        implemented = list(getattr(inner, "implemented_properties", ["energy", "forces"]))
        if "energy" in implemented and "free_energy" not in implemented:
            implemented.append("free_energy")
        self.implemented_properties = implemented
        self.properties = [p for p in properties if p in implemented]
        self.check_finite = check_finite
        self.calls = 0
        self.model_time_s = 0.0

    def calculate(
        self,
        atoms=None,
        properties: Sequence[str] = ("energy",),
        system_changes: Sequence[str] = tuple(all_changes),
    ) -> None:
        super().calculate(atoms, properties, system_changes)
        wanted = list(dict.fromkeys([*self.properties, *properties]))
        inner_wanted = [p for p in wanted if p != "free_energy" or "free_energy" in self.inner.implemented_properties]
        if "free_energy" in wanted and "energy" not in inner_wanted:
            inner_wanted.append("energy")
        start = time.perf_counter()
        try:
            self.inner.calculate(self.atoms, inner_wanted, list(system_changes))
        except LipsSimulationError:
            raise
        except Exception as exc:  # the model failing on a configuration is a property of the model
            raise ModelCallError(f"model calculator raised {type(exc).__name__}: {exc}") from exc
        finally:
            self.model_time_s += time.perf_counter() - start
            self.calls += 1
        results = dict(self.inner.results)
        if "energy" in results and "free_energy" not in results:
            results["free_energy"] = results["energy"]
        if self.check_finite:
            for key in ("energy", "forces", "stress"):
                value = results.get(key)
                if value is not None and not np.all(np.isfinite(value)):
                    raise NonFiniteModelOutput(f"non-finite {key} from the model")
        self.results = results

    def reset_counters(self) -> None:
        """Zero :attr:`calls` and :attr:`model_time_s`."""
        self.calls = 0
        self.model_time_s = 0.0


class TorchSimModelCalculator(Calculator):
    """An ASE calculator around a torch-sim ``ModelInterface`` (one system per call).

    Lets a ``--lips-model module:callable`` that returns a torch-sim model run everywhere an ASE
    calculator is needed (Tasks 1–2, the ASE MD engine); batched MD uses the model directly.
    Energies in eV, forces in eV/Å, stress in eV/Å^3 (ASE's sign convention, Voigt order).
    """

    implemented_properties: list[str] = ["energy", "free_energy", "forces", "stress"]

    def __init__(self, model) -> None:
        super().__init__()
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=tuple(all_changes)) -> None:
        super().calculate(atoms, properties, system_changes)
        import torch_sim as ts

        state = ts.io.atoms_to_state([self.atoms], device=self.model.device, dtype=self.model.dtype)
        out = self.model(state)
        energy = float(out["energy"].detach().reshape(-1)[0].cpu())
        self.results = {
            "energy": energy,
            "free_energy": energy,
            "forces": out["forces"].detach().cpu().double().numpy(),
        }
        if out.get("stress") is not None:
            s = out["stress"].detach().cpu().double().numpy().reshape(3, 3)
            self.results["stress"] = np.array([s[0, 0], s[1, 1], s[2, 2], s[1, 2], s[0, 2], s[0, 1]])
