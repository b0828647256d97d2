"""The one list of tasks: what each task is called, where its code lives and what it reads.

Every place that needs "the tasks" (profiles and their validation, ``--lips-tasks`` and its aliases,
markers, collection of the suite, xdist batching, gate items, the report's task order, plots,
baselines' provenance scopes, run keys' ``uses_pack``) reads :data:`TASKS` through the functions
below, at call time, so that a task added here (or, in a test, to :data:`TASKS` by monkeypatching) is
known everywhere.  Importing this module is cheap (no numpy, torch or ASE): the protocol class and
the plot functions are named by ``"module:attribute"`` strings and imported when asked for.

How to add a task: see docs/ARCHITECTURE.md, "How to add a task".
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def resolve(target: str) -> Any:
    """The attribute named by ``"package.module:attribute"`` (imported now)."""
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class PlotSpec:
    """One per-model plot a task contributes to ``--lips-plots`` and the HTML report.

    ``name`` is the file stem after the model (``<model>_<name>.png``); the plot is drawn when the model's
    results hold ``metric``; ``function`` (``"module:callable"``) is called as
    ``function(metrics_by_key, model=..., thresholds=...)`` and returns a matplotlib figure.
    """

    name: str
    metric: str
    title: str
    function: str

    def builder(self) -> Any:
        return resolve(self.function)


@dataclass(frozen=True)
class GateItem:
    """The suite item that gates a gated metric: ``<test function>[<model><param_suffix>]`` in the task's
    suite module (used to name the item of a gate that was NOT RUN, and by ``--lips-strict``)."""

    metric: str
    function: str
    param_suffix: str = ""


@dataclass(frozen=True)
class TaskSpec:
    """One benchmark task.

    Attributes
    ----------
    name:
        Canonical name: the profile section, the ``--lips-tasks`` value, the metric-key prefix
        (``task3.sigma298``) and the report's task key.
    aliases:
        Other spellings accepted by ``--lips-tasks`` (lower case).
    title:
        One line describing the task (the marker's help text).
    protocol:
        ``"module:Class"`` of the protocol dataclass with ``from_section(dict)`` (parsed at start-up so a
        bad profile stops the run), or ``None`` when the task has no settings.
    suite_module:
        Dotted name of the pytest module collected for the task (``pytest_lips.suite.test_task3``).
    batched_md:
        Whether the task's items of one model share one batched MD engine call (kept on one xdist worker).
    uses_pack:
        Whether results read the reference pack (its checksum then enters their run keys and a baseline
        compares its provenance).
    uses_dataset:
        Whether results read the LiPS-25 data set (a baseline compares the data set's provenance).
    pack_item:
        When the task reads one file of the pack named by its own manifest section (``task2: {file: ...}``):
        that section's file key (``"file"``, ``"structure"``); see :attr:`pytest_lips.reference.ReferencePack.items`.
    dataset_metrics:
        When only some metrics of the task read the data set (and not the pack): their key prefixes
        (Task 2's ``task2.dataset``); see :func:`metric_inputs`.
    plots:
        Per-model plots the task contributes, in drawing order.
    comparison_plots:
        ``(name, title, "module:callable")`` of figures comparing several models (``callable(report)``).
    gates:
        The item of each gated metric of the task.
    """

    name: str
    title: str
    suite_module: str
    aliases: tuple[str, ...] = ()
    protocol: str | None = None
    batched_md: bool = False
    uses_pack: bool = True
    uses_dataset: bool = False
    pack_item: str | None = None
    dataset_metrics: tuple[str, ...] = ()
    plots: tuple[PlotSpec, ...] = ()
    comparison_plots: tuple[tuple[str, str, str], ...] = ()
    gates: tuple[GateItem, ...] = field(default=())

    @property
    def marker(self) -> str:
        """The pytest marker of the task's items (``lips_task3``)."""
        return f"lips_{self.name}"

    @property
    def metric_prefix(self) -> str:
        """Metric keys of the task start with this (``task3.``)."""
        return f"{self.name}."

    def protocol_type(self) -> Any:
        """The protocol dataclass (imported now), or ``None``."""
        return None if self.protocol is None else resolve(self.protocol)

    def suite_path(self) -> Path:
        """File of the suite module (found without importing it)."""
        spec = importlib.util.find_spec(self.suite_module)
        if spec is None or spec.origin is None:
            raise ModuleNotFoundError(f"task {self.name}: suite module {self.suite_module} not found")
        return Path(spec.origin)

    @property
    def suite_file(self) -> str:
        """File name of the suite module (``test_task3.py``), as in node ids."""
        return self.suite_module.rsplit(".", 1)[-1] + ".py"


_PLOTS = "pytest_lips.report.plots"

#: Every task, in canonical (suite and report) order.
TASKS: tuple[TaskSpec, ...] = (
    TaskSpec(
        name="test_split",
        aliases=("split", "0"),
        title="LiPS-25 test-split energy and force errors",
        protocol="pytest_lips.tasks.test_split:TestSplitProtocol",
        suite_module="pytest_lips.suite.test_test_split",
        uses_pack=False,
        uses_dataset=True,
        gates=(
            GateItem("test_split.energy_rmse", "test_test_split_energy_rmse"),
            GateItem("test_split.force_rmse", "test_test_split_force_rmse"),
        ),
    ),
    TaskSpec(
        name="task1",
        aliases=("1",),
        title="LiPS-25 Task 1: formation energies relative to the reference pack's end members",
        protocol="pytest_lips.tasks.task1_formation:Task1Protocol",
        suite_module="pytest_lips.suite.test_task1",
        plots=(
            PlotSpec(
                "task1_parity", "task1.ef_rmse_relaxed", "Task 1 formation energies", f"{_PLOTS}:plot_task1_parity"
            ),
        ),
        gates=(
            GateItem("task1.ef_rmse_relaxed", "test_task1_ef_rmse", "-relaxed"),
            GateItem("task1.ef_rmse_single_point", "test_task1_ef_rmse", "-single_point"),
        ),
    ),
    TaskSpec(
        name="task2",
        aliases=("2",),
        title="LiPS-25 Task 2: forces along the reference pack's melt-quench",
        protocol="pytest_lips.tasks.task2_forces:Task2Protocol",
        suite_module="pytest_lips.suite.test_task2",
        pack_item="file",
        uses_dataset=True,
        dataset_metrics=("task2.dataset",),  # read the data set, not the pack; every other task2 metric the pack
        plots=(
            PlotSpec(
                "task2_force_error",
                "task2.force_rmse",
                "Task 2 force error along the melt–quench",
                f"{_PLOTS}:plot_task2_force_error",
            ),
        ),
        comparison_plots=(
            (
                "compare_task2_force_error",
                "Task 2: force error along the melt–quench per model",
                f"{_PLOTS}:plot_compare_task2",
            ),
        ),
        gates=(GateItem("task2.force_rmse", "test_task2_force_rmse"),),
    ),
    TaskSpec(
        name="task3",
        aliases=("3",),
        title="LiPS-25 Task 3: conductivity of the pack's mobile ion from MD",
        protocol="pytest_lips.tasks.task3_conductivity:Task3Protocol",
        suite_module="pytest_lips.suite.test_task3",
        pack_item="structure",
        batched_md=True,
        plots=(
            PlotSpec("task3_arrhenius", "task3.sigma298", "Task 3 Arrhenius plot", f"{_PLOTS}:plot_task3_arrhenius"),
        ),
        comparison_plots=(
            ("compare_task3_arrhenius", "Task 3: Arrhenius lines of all models", f"{_PLOTS}:plot_compare_arrhenius"),
        ),
        gates=(GateItem("task3.sigma298", "test_task3_sigma298"),),
    ),
    TaskSpec(
        name="task4",
        aliases=("4",),
        title="LiPS-25 Task 4: robustness of MD from random hard-sphere cells",
        protocol="pytest_lips.tasks.task4_robustness:Task4Protocol",
        suite_module="pytest_lips.suite.test_task4",
        batched_md=True,
        uses_pack=False,
        plots=(
            PlotSpec(
                "task4_stability", "task4.survival_fraction", "Task 4 stability map", f"{_PLOTS}:plot_task4_stability"
            ),
        ),
        gates=(
            GateItem("task4.survival_fraction", "test_task4_survival"),
            GateItem("task4.close_contact_fraction", "test_task4_close_contacts"),
        ),
    ),
)


def iter_tasks() -> Iterator[TaskSpec]:
    """Every task in canonical order (reads :data:`TASKS` now)."""
    return iter(TASKS)


def task_names() -> tuple[str, ...]:
    """Canonical task names in order: ``("test_split", "task1", ...)``."""
    return tuple(spec.name for spec in TASKS)


def task_spec(name_or_alias: str) -> TaskSpec:
    """The task called ``name_or_alias`` (canonical name or alias, any case); ``KeyError`` when unknown."""
    wanted = str(name_or_alias).strip().lower()
    for spec in TASKS:
        if wanted == spec.name or wanted in spec.aliases:
            return spec
    raise KeyError(f"unknown task {name_or_alias!r}; known: {', '.join(task_names())}")


def find_task(name_or_alias: str) -> TaskSpec | None:
    """:func:`task_spec`, or ``None`` when unknown."""
    try:
        return task_spec(name_or_alias)
    except KeyError:
        return None


def task_order(task: str) -> tuple[int, str]:
    """Sort key: canonical order for known tasks, then alphabetical."""
    names = task_names()
    return (names.index(task), task) if task in names else (len(names), task)


def metric_inputs(metric_key: str) -> tuple[bool, bool]:
    """``(reads the pack, reads the data set)`` for a metric key (a task not in the registry: neither)."""
    spec = find_task(metric_key.split(".", 1)[0])
    if spec is None:
        return False, False
    if spec.dataset_metrics:
        if metric_key.startswith(spec.dataset_metrics):
            return False, True
        return spec.uses_pack, False
    return spec.uses_pack, spec.uses_dataset


def gate_items() -> dict[str, tuple[str, str, str]]:
    """Gated metric key → ``(suite file, test function, parameter suffix)`` over every task."""
    return {g.metric: (spec.suite_file, g.function, g.param_suffix) for spec in TASKS for g in spec.gates}


def markers() -> dict[str, str]:
    """Marker name → description: ``lips`` and one per task."""
    return {"lips": "a test of the LiPS-25 benchmark suite (pytest-lips)", **{s.marker: s.title for s in TASKS}}


__all__ = [
    "GateItem",
    "PlotSpec",
    "TASKS",
    "TaskSpec",
    "find_task",
    "gate_items",
    "iter_tasks",
    "markers",
    "resolve",
    "metric_inputs",
    "task_names",
    "task_order",
    "task_spec",
]
