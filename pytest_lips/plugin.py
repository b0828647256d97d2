"""The pytest glue of pytest-lips: options, fixtures, collection of the built-in suite, summary.

Kept thin on purpose: the science is in :mod:`pytest_lips.tasks` / :mod:`pytest_lips.analysis`,
the session state in :mod:`pytest_lips.session`, the rendering in :mod:`pytest_lips.report`.
Nothing heavy (numpy, torch, ASE) is imported unless a model is given, so an unrelated test suite
pays no start-up time for having the plugin installed.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

from . import hooks as _hookspecs

if TYPE_CHECKING:
    from .models import LipsModel
    from .results import Metric, RunRecord
    from .session import LipsSession

SUITE_DIR = Path(__file__).resolve().parent / "suite"

#: Prefix of the node ids of the built-in suite (``lips/test_task3.py::test_...``).
NODEID_PREFIX = "lips"

_SESSION_KEY = pytest.StashKey["LipsSession"]()

# (option, ini key, help, kind) -- every option is also an ini key in [tool.pytest.ini_options].
_OPTIONS: list[tuple[str, str, str, str]] = [
    (
        "--lips-model",
        "lips_model",
        "model under test: a graph-pes model file, or package.module:callable returning an ASE "
        "calculator; repeat for several models",
        "append",
    ),
    ("--lips-profile", "lips_profile", "protocol profile: smoke, ci (default), paper, or a YAML file", "string"),
    (
        "--lips-tasks",
        "lips_tasks",
        "comma-separated tasks to run, e.g. test_split,task1,task3 (default: all in the profile)",
        "string",
    ),
    ("--lips-device", "lips_device", "torch device for graph-pes models (default: cpu)", "string"),
    ("--lips-seed", "lips_seed", "base random seed of every MD run and subsample (default: 0)", "string"),
    ("--lips-report", "lips_report", "write the JSON report to this path", "string"),
    (
        "--lips-cache-dir",
        "lips_cache_dir",
        "directory for the data-set cache and finished MD runs (default: <rootdir>/.lips_cache)",
        "string",
    ),
    ("--lips-threshold", "lips_thresholds", "override a gate threshold: KEY=VALUE (repeatable)", "append"),
    (
        "--lips-data",
        "lips_data",
        "local LiPS-25 extxyz file (default: load-atoms download into the cache dir)",
        "string",
    ),
    (
        "--lips-reference",
        "lips_reference",
        "reference pack: a directory holding manifest.yaml, or the name of a shipped pack (lips-open-pbesol, the "
        "default; li6ps5cl-open-pbesol); its manifest's system section declares the chemistry",
        "string",
    ),
    (
        "--lips-energy-offset",
        "lips_energy_offset",
        "auto: fit per-element energy offsets on the training split (zero-shot models); none (default)",
        "string",
    ),
    ("--lips-baseline", "lips_baseline", "compare every metric with this saved baseline JSON", "string"),
    ("--lips-save-baseline", "lips_save_baseline", "save this run's metrics as a baseline JSON", "string"),
    (
        "--lips-tolerance",
        "lips_tolerances",
        "allowed change against the baseline: KEY=+5%% or KEY=+0.01 (repeatable)",
        "append",
    ),
    ("--lips-plots", "lips_plots", "write PNG plots into this directory", "string"),
    (
        "--lips-engine",
        "lips_engine",
        "MD engine for Tasks 3-4: auto (default: torch-sim, all runs of a task as one batched system, when "
        "torch-sim is installed and the model supports it; else ase), ase (one ASE run after the other), torch-sim",
        "string",
    ),
    (
        "--lips-save-trajectories",
        "lips_save_trajectories",
        "write each Task 3 run's sampled frames (unwrapped positions, cell, T) as extxyz into this directory",
        "string",
    ),
    (
        "--lips-budget-minutes",
        "lips_budget_minutes",
        "wall-clock minutes Task 3 may spend extending runs (up to task3.max_production_ps) until sigma298 is decided",
        "string",
    ),
    (
        "--lips-checkpoint-minutes",
        "lips_checkpoint_minutes",
        "wall-clock minutes between checkpoints of a running MD batch (torch-sim engine) in the cache dir; an "
        "interrupted session's rerun resumes from the last one (default: 2; 0: no checkpoints)",
        "string",
    ),
    (
        "--lips-threads",
        "lips_threads",
        (
            "CPU threads per process for torch/OpenMP: N, or auto (usable cores / xdist workers); default 1, "
            "which makes runs with the same seed bit-identical, serial or with -n"
        ),
        "string",
    ),
]

_FLAGS: list[tuple[str, str, str]] = [
    ("--lips-fresh", "lips_fresh", "recompute MD runs and relaxations cached by earlier sessions"),
    ("--lips-offline", "lips_offline", "never try to download the LiPS-25 data set"),
    (
        "--lips-strict",
        "lips_strict",
        "an INCONCLUSIVE interval-decided gate (Task 3 sigma298 interval straddling the band) fails, and so "
        "does a gated metric that was NOT RUN (its test skipped or was deselected)",
    ),
]


# ---------------------------------------------------------------------------------------------
# options and configuration


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(_hookspecs)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lips", "LiPS-25 benchmark gates (pytest-lips)")
    for option, ini, help_text, kind in _OPTIONS:
        dest = ini if kind != "append" else f"{ini}_cli"
        group.addoption(
            option,
            dest=dest,
            action="append" if kind == "append" else "store",
            default=None,
            metavar="VALUE",
            help=help_text,
        )
        ini_type: Literal["linelist", "string"] = "linelist" if kind == "append" else "string"
        parser.addini(
            ini,
            help=help_text.replace("%%", "%"),
            type=ini_type,
            default=[] if kind == "append" else "",
        )
    for option, ini, help_text in _FLAGS:
        group.addoption(option, dest=ini, action="store_true", default=None, help=help_text)
        parser.addini(ini, help=help_text, type="bool", default=False)


def pytest_configure(config: pytest.Config) -> None:
    from .tasks.registry import markers

    for name, description in markers().items():
        config.addinivalue_line("markers", f"{name}: {description}")
    from .session import LipsSession
    from .settings import settings_from_config

    settings = settings_from_config(config)  # raises UsageError on bad options
    if settings.model_specs:
        overriding = _lips_model_overrides(config)
        if overriding:  # both at once: the conftest's model would run under the --lips-model name in every id
            raise pytest.UsageError(
                f"--lips-model {', '.join(settings.model_specs)}: {overriding[0]} overrides the lips_model "
                "fixture, whose model would be tested instead; drop --lips-model (and the lips_model ini key) "
                "to test the conftest's model, or remove the override"
            )
        from .quiet import pytest_filterwarnings_lines

        for line in pytest_filterwarnings_lines():  # the LiPS-25 suite runs: hide the library noise it provokes
            config.addinivalue_line("filterwarnings", line)
        apply_lips_threads(config, settings)  # before any model is loaded; an unrelated suite keeps its threads
    session = LipsSession(config, settings)
    config.stash[_SESSION_KEY] = session
    config.pluginmanager.register(_LipsHooks(session), "lips-session")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(session), "lips-xdist")


def apply_lips_threads(config: pytest.Config, settings: Any) -> dict[str, Any]:
    """Set the threads of this process (controller or xdist worker) from ``--lips-threads``."""
    from .threads import apply_threads, is_xdist_controller, resolve_threads, xdist_processes

    processes = xdist_processes(config)
    threads = resolve_threads(settings.threads, processes)
    return apply_threads(
        threads, requested=settings.threads_option, processes=processes, set_torch=not is_xdist_controller(config)
    )


def get_session(config: pytest.Config) -> LipsSession:
    """The :class:`~pytest_lips.session.LipsSession` of this pytest run."""
    return config.stash[_SESSION_KEY]


class _XdistHooks:
    """Hands the controller's session id to xdist workers (registered only when xdist is present)."""

    def __init__(self, session: LipsSession) -> None:
        self.session = session

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["lips_session_id"] = self.session.session_id

    def pytest_testnodeready(self, node: Any) -> None:
        """Remember the worker's pid: a SIGTERM of the controller is passed on to it (:mod:`pytest_lips.signals`)."""
        try:
            self.session.worker_pids.append(int(node.gateway._rinfo().pid))
        except Exception:  # noqa: BLE001 - another gateway type: the worker then stops with xdist's shutdown
            pass

    @pytest.hookimpl(tryfirst=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        """Under ``pytest -n N`` with xdist's implicit ``--dist load``: keep each MD batch on one worker.

        Every item of a Task 3 (or Task 4) batch of one model reads runs that ONE engine call computes
        for all of them. Spread by ``load``, a second worker reaching the batch waits on its lock while
        the first computes it; here the batch's items form one work unit (xdist's ``loadscope``
        machinery with the scope ``<module>::<model>``) and every other item is its own unit, so the
        other workers run the rest of the suite meanwhile. An explicit ``--dist`` is kept.
        (``--dist loadgroup`` with ``xdist_group`` marks would do the same, but pytest-xdist 3.8 renames
        node ids through an attribute pytest 9.2 no longer reads.)
        """
        if not self.session.settings.model_specs or getattr(config.option, "dist", "no") != "load":
            return None
        if _dist_given_explicitly(config):
            return None
        from xdist.scheduler import LoadScopeScheduling

        models = sorted(self.session.model_names(), key=len, reverse=True)

        class BatchScheduling(LoadScopeScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return md_batch_scope(nodeid, models) or nodeid

        return BatchScheduling(config, log)


def batched_modules() -> set[str]:
    """File names of the suite modules whose items share one batched MD engine call per model (task registry)."""
    from .tasks.registry import iter_tasks

    return {spec.suite_file for spec in iter_tasks() if spec.batched_md}


def md_batch_scope(nodeid: str, models: list[str]) -> str | None:
    """``lips/test_task3.py::<model>`` for an item of a batched MD task, else ``None``.

    The model is the first part of the parameter id (``test_task3_md_run[<model>-T600K-r1]``);
    ``models`` longest first, so that a model whose name extends another's is matched whole.
    """
    module, _, rest = nodeid.partition("::")
    if not module.startswith(f"{NODEID_PREFIX}/") or module.rsplit("/", 1)[-1] not in batched_modules():
        return None
    params = rest.partition("[")[2].rstrip("]")
    model = next((m for m in models if params == m or params.startswith(f"{m}-")), None)
    return None if model is None else f"{module}::{model}"


def _dist_given_explicitly(config: pytest.Config) -> bool:
    """Whether ``--dist`` was on the command line, in ``PYTEST_ADDOPTS`` or in the ini ``addopts``."""
    args = [*map(str, config.invocation_params.args), *shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))]
    args += [str(a) for a in config.getini("addopts") or ()]
    return any(a == "--dist" or a.startswith("--dist=") for a in args)


# ---------------------------------------------------------------------------------------------
# collection


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the built-in suite when a model is given (option, ini key or conftest fixture)."""
    lips = get_session(config)
    if not lips.settings.model_specs and not _lips_model_overrides(config):
        return
    if not lips.settings.model_specs:  # a conftest.py provides the model: threads were not set yet
        apply_lips_threads(config, lips.settings)
    lips.activate()
    # a pack other than the shipped default names its system in the node ids (lips/<system id>/test_task1.py::...);
    # the LiPS pack's ids stay lips/test_task1.py::... (--lf, baselines and saved reports keep matching)
    prefix = "/".join(p for p in (NODEID_PREFIX, lips.system_label) if p)
    from .tasks.registry import task_spec

    for task in lips.selected_tasks():
        spec = task_spec(task)
        path = spec.suite_path()
        module = pytest.Module.from_parent(session, path=path, nodeid=f"{prefix}/{path.name}")
        new = list(session.genitems(module))
        if task == "test_split" and not lips.system.dataset:
            # the pack has no data set: only the items of the gated metrics, each SKIPPED with that reason (so
            # each NOT RUN row says why), not the per-category items of a data set that does not exist
            gates = {gate.function for gate in spec.gates}
            new = [i for i in new if getattr(i, "originalname", "") in gates]
        for item in new:
            item.add_marker("lips")  # before -m deselects (this hook runs first)
            item.add_marker(spec.marker)
            items.append(item)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Never collect the suite modules as ordinary test files (e.g. when rootdir is a parent of the
    installed package); they are added, once, by :func:`pytest_collection_modifyitems`."""
    if collection_path == SUITE_DIR or SUITE_DIR in collection_path.parents:
        return True
    return None


def _lips_model_overrides(config: pytest.Config) -> list[str]:
    """Where the ``lips_model`` fixture is overridden for the suite's items (which sit at the rootdir):
    the paths of conftest.py files in the rootdir or above it, and the names of other plugin modules,
    that define a ``lips_model`` fixture."""
    from _pytest.fixtures import FixtureFunctionDefinition

    root = Path(config.rootpath)
    found = []
    for plugin in config.pluginmanager.get_plugins():
        # the plugin's own namespace only: getattr would run a module's __getattr__ (torch's imports)
        defined = getattr(plugin, "__dict__", {}).get("lips_model")
        if plugin is sys.modules[__name__] or not isinstance(defined, FixtureFunctionDefinition):
            continue
        path = getattr(plugin, "__file__", None)
        if path and Path(path).name == "conftest.py":
            if Path(path).parent in (root, *root.parents):
                found.append(str(path))
        else:
            found.append(str(path or getattr(plugin, "__name__", plugin)))
    return found


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize every suite test by model, with the model name first in the test id."""
    if "lips_model" not in metafunc.fixturenames:
        return
    lips = get_session(metafunc.config)
    names = lips.model_names()
    if names:
        metafunc.parametrize("lips_model", names, ids=names, indirect=True, scope="session")


# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="session")
def lips_session(pytestconfig: pytest.Config) -> LipsSession:
    """The session state (settings, models, profile, thresholds, collected results)."""
    return get_session(pytestconfig)


@pytest.fixture(scope="session")
def lips_model(request: pytest.FixtureRequest, lips_session: LipsSession) -> LipsModel:
    """The model under test (:class:`pytest_lips.models.LipsModel`); one per ``--lips-model``.

    Use ``lips_model.new_calculator()`` for a fresh ASE calculator.  Override this fixture in a
    root conftest.py to test a model built in Python (return a LipsModel, e.g. from
    :func:`pytest_lips.models.model_from_factory` or
    :func:`pytest_lips.models.model_from_graph_pes`).
    """
    name = getattr(request, "param", None)
    if name is None:
        pytest.fail("no LiPS model: pass --lips-model PATH_OR_SPEC or override the lips_model fixture", pytrace=False)
    return lips_session.model(name)


@pytest.fixture(scope="session")
def lips_profile(lips_session: LipsSession) -> Any:
    """The protocol profile (:class:`pytest_lips.profiles.Profile`)."""
    return lips_session.profile


@pytest.fixture(scope="session")
def lips_thresholds(lips_session: LipsSession) -> Any:
    """Gate thresholds after every layer (defaults, ini, hook, command line)."""
    return lips_session.thresholds


@pytest.fixture(scope="session")
def lips_reference(lips_session: LipsSession) -> Any:
    """The reference pack (``--lips-reference DIR`` or the shipped open PBEsol pack)."""
    return lips_session.reference_pack()


@pytest.fixture(scope="session")
def lips_dataset(lips_session: LipsSession) -> Any:
    """The LiPS-25 data set (``--lips-data`` file or load-atoms download); SKIPPED when unavailable."""
    return lips_session.dataset()


@pytest.fixture(scope="session")
def lips_store(lips_session: LipsSession) -> Any:
    """Results shared between items and xdist workers (:class:`pytest_lips.store.RunStore`)."""
    return lips_session.store


@pytest.fixture(scope="session")
def lips_seed(lips_session: LipsSession) -> int:
    """The base random seed (``--lips-seed``)."""
    return lips_session.settings.seed


@pytest.fixture
def lips_progress(lips_session: LipsSession) -> Callable[[str, int], Callable[[int], None]]:
    """``lips_progress(label, total_steps)`` returns a callback ``callback(steps_done)`` that prints
    rate-limited progress lines (quiet with ``-q`` and on xdist workers)."""
    return lips_session.progress


@pytest.fixture
def lips_check(request: pytest.FixtureRequest, lips_session: LipsSession) -> Callable[..., None]:
    """``lips_check(*metrics)``: record metrics, then gate them.

    Fails the test (naming metric, value ± uncertainty, unit, threshold and margin) when a threshold
    or the baseline comparison fails; skips it with "reported, not gated: …" when the profile is too
    short to support a verdict on any of them.
    """

    def check(*metrics: Metric) -> None:
        lips_session.check(request.node, _model_of(request), metrics)

    return check


@pytest.fixture
def lips_record_run(request: pytest.FixtureRequest, lips_session: LipsSession) -> Callable[[RunRecord], None]:
    """``lips_record_run(record)``: add one MD run's bookkeeping to the report."""

    def record(run: RunRecord) -> None:
        lips_session.record_run(request.node, _model_of(request), run)

    return record


def _model_of(request: pytest.FixtureRequest) -> Any:
    if "lips_model" in request.fixturenames:
        return request.getfixturevalue("lips_model")
    return None


# ---------------------------------------------------------------------------------------------
# results, summary, report


class _LipsHooks:
    """Per-run hooks bound to the session (registered in pytest_configure)."""

    def __init__(self, session: LipsSession) -> None:
        self.session = session

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session.pytest_session = session  # its items (after -k, -m, --lf) decide what MD batches hold
        if self.session.settings.model_specs:
            self.session.activate()
        if self.session.active:
            from . import signals

            signals.install(children=lambda: list(self.session.worker_pids))

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        from . import signals

        signals.uninstall()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # On the xdist controller (user_properties travel with the reports) and in serial runs.
        if self.session.active:
            self.session.collect_report(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        if call.when == "call":  # a batch that raised leaves no progress line on the terminal
            from .progress import close_all

            close_all()
        if call.when == "call" and call.excinfo is not None and item.nodeid.startswith(f"{NODEID_PREFIX}/"):
            classify_exception(report, call.excinfo)
        store = self.session.__dict__.get("store")  # only once some item used it
        failures = store.drain_write_failures() if store is not None else []
        if failures:  # travels to the xdist controller; one line per item at the end
            from .gating import PROPERTY_CACHE_FAILURES

            item.user_properties.append((PROPERTY_CACHE_FAILURES, failures))  # read from the teardown report
            if call.when == "teardown" and report.user_properties is not item.user_properties:
                report.user_properties = [*report.user_properties, (PROPERTY_CACHE_FAILURES, failures)]
        if report.skipped and self.session.settings.strict:
            self.session.fail_not_run_under_strict(item, report)
        return report

    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if report.failed and _user_property(report, "lips_harness_error"):
            return "error", "E", ("ERROR", {"red": True})
        if report.failed and _user_property(report, "lips_not_run_strict"):  # a gate, even when skipped in setup
            return "failed", "F", ("FAILED", {"red": True})
        return None

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        """``--lips-strict``: a gated metric that did not run (e.g. deselected) fails the run."""
        lips = self.session
        if lips.active and lips.settings.strict and not hasattr(session.config, "workerinput"):
            if int(exitstatus) == int(pytest.ExitCode.OK) and lips.not_run_gates():
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
        if self.session.active and not hasattr(config, "workerinput"):
            self.session.finish(terminalreporter, exitstatus)


def classify_exception(report: pytest.TestReport, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """A gate failing is FAILED; a crash of the harness is shown as ERROR; our own errors read clean.

    Assertion failures, ``pytest.fail`` and :class:`~pytest_lips.errors.LipsSimulationError` (the
    model broke the simulation) stay FAILED.  A :class:`~pytest_lips.errors.LipsError` (bad data, bad
    pack) becomes an ERROR whose text is the message alone; any other exception is a harness crash,
    an ERROR with its traceback.
    """
    from .data import DataUnavailable
    from .errors import LipsError, LipsSimulationError

    value = excinfo.value
    if isinstance(value, (AssertionError, LipsSimulationError, pytest.fail.Exception, pytest.skip.Exception)):
        return
    if isinstance(value, DataUnavailable):  # absent data (e.g. a pack slot still pending): SKIPPED with the reason
        path, lineno = excinfo.traceback[-1].path, excinfo.traceback[-1].lineno
        report.outcome = "skipped"
        report.longrepr = (str(path), lineno + 1, f"Skipped: {value}")
        return
    report.user_properties = [*report.user_properties, ("lips_harness_error", True)]
    if isinstance(value, LipsError):
        report.longrepr = f"{type(value).__name__}: {value}"


def _user_property(report: Any, name: str) -> bool:
    return any(key == name for key, _ in getattr(report, "user_properties", ()))


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    lips = get_session(config)
    if not lips.settings.model_specs:
        return None
    return lips.header_lines()


def iter_suite_paths() -> Iterator[Path]:
    """Paths of the suite modules of every task in the registry (for tools and tests)."""
    from .tasks.registry import iter_tasks

    for spec in iter_tasks():
        yield spec.suite_path()
