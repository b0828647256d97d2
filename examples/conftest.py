"""Example conftest.py for a project that gates its own MLIP with pytest-lips.

Copy this file into the directory you run pytest from (a root conftest.py). It shows the two
customisation points most users need:

1. ``pytest_lips_thresholds(config, thresholds)`` - a hook called once per session with the threshold set
   after the packaged defaults (``reference_data/thresholds.yaml``) and the ``lips_thresholds`` ini key were
   applied, and before ``--lips-threshold KEY=VALUE`` options. Change values in place; keys are metric keys
   (docs/ARCHITECTURE.md, "Metric keys") in the metric's units: meV/atom for energies, eV/A for forces,
   mS/cm for conductivities.
2. Overriding the ``lips_model`` fixture - test a model built in Python instead of passing
   ``--lips-model``. A root-level override is picked up by the plugin as the model under test, so
   ``pytest --lips-profile smoke`` then runs without ``--lips-model``. Return a
   :class:`pytest_lips.models.LipsModel`, made with ``model_from_factory`` (any ASE calculator) or
   ``model_from_graph_pes`` (an in-memory graph-pes model).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_lips.models import model_from_factory, model_from_graph_pes  # noqa: F401 (model_from_factory: the commented alternative below)

HERE = Path(__file__).resolve().parent


def pytest_lips_thresholds(config, thresholds):
    """Tighten/loosen gates for this project."""
    # a small model trained on our own data: accept up to 0.2 eV/A force RMSE on the Task 2 snapshots
    thresholds["task2.force_rmse"] = 0.2
    # and up to 15 meV/atom on the held-out LiPS-25 test split
    thresholds["test_split.energy_rmse"] = 15.0


@pytest.fixture(scope="session")
def lips_model():
    """The model under test, built in Python.

    Option A (active): the example graph-pes model, loaded in memory (e.g. straight after training).
    Option B (commented): any ASE calculator, here CHGNet from examples/chgnet_factory.py. The factory must
    return a NEW calculator on every call: the plugin asks for one per MD trajectory.
    """
    from graph_pes.models import load_model

    model = load_model(HERE / "lips-example-model.pt")
    return model_from_graph_pes("lips-example-model", model, device="cpu")

    # Option B:
    # from examples.chgnet_factory import make_calculator
    # return model_from_factory("chgnet-0.4.2", make_calculator)
