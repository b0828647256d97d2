"""The session of a pytest-lips run: the lazy resources every item shares, and the composition of the rest.

:class:`LipsSession` is what :mod:`pytest_lips.plugin` keeps on the pytest config; the plugin's hooks and
fixtures delegate to it.  It holds the settings (parsed by :mod:`pytest_lips.settings`), loads on first
use the models, profile, thresholds, tolerances, baseline, reference pack, data set, run store and MD
engines, builds run keys, and hands recording and gating to :mod:`pytest_lips.gating` and the end of the
session (report, summary, files) to :mod:`pytest_lips.report.session_report`.  Everything here is
importable without running pytest, but the methods that talk to pytest items take pytest objects.
"""

from __future__ import annotations

import datetime as _dt
import time
import uuid
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pytest

from . import PROTOCOL_VERSION, __version__
from .errors import LipsError, LipsModelError, LipsUsageError
from .gating import (
    PROPERTY_CACHE_FAILURES,
    PROPERTY_METRIC,
    PROPERTY_MODEL,
    PROPERTY_PROVENANCE,
    PROPERTY_RUN,
    CollectedResults,
    fail_not_run_under_strict,
    gate_metrics,
    record_provenance,
)
from .settings import Settings, check_device, settings_from_config

if TYPE_CHECKING:
    from .models import LipsModel
    from .profiles import Profile
    from .results import Metric, RunRecord
    from .system import PackSystem
    from .thresholds import ThresholdSet

#: Importable from here as before the split (the plugin and older callers).
__all__ = [
    "PROPERTY_CACHE_FAILURES",
    "PROPERTY_METRIC",
    "PROPERTY_MODEL",
    "PROPERTY_PROVENANCE",
    "PROPERTY_RUN",
    "LipsSession",
    "Settings",
    "check_device",
    "settings_from_config",
]


class LipsSession:
    """Everything pytest-lips knows during one pytest run (controller or xdist worker)."""

    def __init__(self, config: pytest.Config, settings: Settings) -> None:
        self.config = config
        self.settings = settings
        workerinput = getattr(config, "workerinput", None)
        self.session_id: str = (workerinput or {}).get("lips_session_id") or uuid.uuid4().hex
        self.active = False
        self.started = time.time()
        self.started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self._models: dict[str, LipsModel] = {}
        self._model_errors: dict[str, str] = {}
        #: What the items reported (:class:`pytest_lips.gating.CollectedResults`).
        self.results = CollectedResults()
        self._last_progress: dict[str, float] = {}
        self._pack_state: tuple[Any, LipsError | None] | None = None
        #: What the results were computed from: ``{"reference_pack": {...}, "data": {...}}`` (see build_report).
        self.provenance: dict[str, Any] = {}
        self._check_output_paths()
        #: ``(nodeid, line)`` of results that could not be cached (one line per item, printed at the end).
        self.cache_warnings: list[tuple[str, str]] = []
        #: The pytest session (set at its start): its ``items`` are the selected items.
        self.pytest_session: Any = None
        #: Pids of the xdist workers (controller only): a SIGTERM is passed on to them.
        self.worker_pids: list[int] = []
        if settings.model_specs and not hasattr(config, "workerinput"):
            self._check_cache_dir()
        if settings.model_specs:
            self._validate_early()

    # -- start-up -----------------------------------------------------------------------------
    def _validate_early(self) -> None:
        """Load profile, thresholds and models now, so that bad input stops the run at once."""
        try:
            profile = self.profile
            unknown = [t for t in (self.settings.tasks or []) if t not in profile.tasks]
            if unknown:
                raise LipsUsageError(f"--lips-tasks: profile {profile.name!r} does not define {', '.join(unknown)}")
            from .profiles import parse_protocols

            parse_protocols(profile, profile.tasks)  # every section, selected or not: typos stop the run now
            from .thresholds import default_thresholds

            defaults = default_thresholds(self.system)
            defaults.update_from_pairs(self.settings.threshold_pairs_ini, origin="ini")
            defaults.update_from_pairs(self.settings.threshold_pairs_cli, origin="cli")
            from .tolerances import default_tolerances

            tolerances = default_tolerances(defaults)  # parsed now to report bad keys early
            tolerances.update_from_pairs(self.settings.tolerance_pairs_ini, origin="ini")
            tolerances.update_from_pairs(self.settings.tolerance_pairs_cli, origin="cli")
            self.baseline  # noqa: B018
            if self.is_xdist_controller:  # the workers load the models; spare this process the imports
                from .models import check_model_spec

                for spec in self.settings.model_specs:
                    check_model_spec(spec)
                return
            if hasattr(self.config, "workerinput"):  # loaded by the first item that needs it (:meth:`model`):
                return  # a load error is then that item's ERROR, not a worker crash in start-up
            for name, spec in zip(self.model_names(), self.settings.model_specs):
                self._models[name] = self._load_model(spec, name)
        except LipsError as exc:
            raise pytest.UsageError(str(exc)) from None

    @property
    def is_xdist_controller(self) -> bool:
        """Whether this process is the controller of ``pytest -n N`` / ``--dist``: it runs no test, so it
        checks the ``--lips-model`` values without loading them (:func:`pytest_lips.models.check_model_spec`);
        each worker loads a model when its first item needs it, and a model that passes these checks
        but fails to load is an ERROR of every item that uses it."""
        from .threads import is_xdist_controller

        return is_xdist_controller(self.config)

    def _check_output_paths(self) -> None:
        """Fail at start-up, before any computing, when a report or baseline cannot be written."""
        from .report.json_report import check_writable

        for option, target in (
            ("--lips-report", self.settings.report_path),
            ("--lips-save-baseline", self.settings.save_baseline_path),
        ):
            if target is None:
                continue
            try:
                check_writable(target, option)
            except LipsUsageError as exc:
                raise pytest.UsageError(str(exc)) from None

    def _check_cache_dir(self) -> None:
        """Fail at start-up when the cache directory (and its ``runs``/``data`` folders) is not a writable
        directory with a few MB free (:func:`pytest_lips.store.check_directory`)."""
        from .store import MIN_FREE_BYTES, check_directory

        root = self.settings.cache_dir
        try:
            check_directory(root, MIN_FREE_BYTES)
            for sub in ("runs", "data"):
                if (root / sub).exists() and not (root / sub).is_dir():
                    raise NotADirectoryError(f"{root / sub} exists and is not a directory")
        except OSError as exc:
            raise pytest.UsageError(
                f"--lips-cache-dir / lips_cache_dir: {exc}; pass a writable directory with a few MB free"
            ) from None

    def note_cache_failures(self, nodeid: str, failures: list[str]) -> None:
        """Record the failed cache writes of one item as one line (the results were still used)."""
        if not failures:
            return
        first = failures[0]
        more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
        self.cache_warnings.append(
            (nodeid, f"{first}{more}: the computed result was used and reported, and will be recomputed next time")
        )

    def _load_model(self, spec: str, name: str) -> LipsModel:
        from .models import load_lips_model
        from .quiet import quiet_library_warnings

        # before pytest captures warnings: a factory importing graph-pes/e3nn would print torch.jit
        # deprecations above the header (the filters are narrow: the user's own warnings still show)
        with quiet_library_warnings():
            return load_lips_model(spec, device=self.settings.device, name=name, elements=self.system.elements)

    def loaded_models(self) -> dict[str, LipsModel]:
        """The models loaded in this process so far, by name (none on the xdist controller)."""
        return dict(self._models)

    def selected_items(self) -> list[Any]:
        """The items this process will run, after deselection (``-k``, ``-m``, ``--lf``, ``--deselect``)."""
        return list(getattr(self.pytest_session, "items", None) or ())

    def activate(self) -> None:
        self.active = True

    # -- models, profile, thresholds ----------------------------------------------------------
    def model_names(self) -> list[str]:
        """Test-id-safe unique names of the ``--lips-model`` models (no loading needed)."""
        from .models import model_stem, unique_names

        return unique_names([model_stem(spec) for spec in self.settings.model_specs])

    def model(self, name: str) -> LipsModel:
        if name in self._model_errors:  # tried once: every later item reports the same error at once
            pytest.fail(self._model_errors[name], pytrace=False)
        if name not in self._models:
            spec = dict(zip(self.model_names(), self.settings.model_specs))[name]
            try:
                self._models[name] = self._load_model(spec, name)
            except LipsModelError as exc:
                self._model_errors[name] = str(exc)
            if name in self._model_errors:  # failed outside the except block: no "During handling of ..." chain
                pytest.fail(self._model_errors[name], pytrace=False)
        return self._models[name]

    @cached_property
    def system(self) -> PackSystem:
        """The material system of the reference pack (its manifest's ``system`` section, read without
        checksums); a broken section is a usage error naming the manifest."""
        from .system import read_pack_system

        try:
            system = read_pack_system(self.settings.reference_dir)
        except LipsError as exc:
            raise pytest.UsageError(f"--lips-reference: {exc}") from None
        self.provenance["system"] = system.describe()
        return system

    @property
    def system_label(self) -> str:
        """The system's id for test ids when it is not the shipped default's (LiPS ids stay unchanged)."""
        from .system import is_default_system

        return "" if is_default_system(self.system) else self.system.id

    @cached_property
    def profile(self) -> Profile:
        from .profiles import load_profile

        return load_profile(self.settings.profile_name)

    @cached_property
    def thresholds(self) -> ThresholdSet:
        """Defaults, then ini key, then the ``pytest_lips_thresholds`` hook, then ``--lips-threshold``."""
        from .thresholds import default_thresholds

        try:
            thresholds = default_thresholds(self.system)
            thresholds.update_from_pairs(self.settings.threshold_pairs_ini, origin="ini")
            self.config.hook.pytest_lips_thresholds(config=self.config, thresholds=thresholds)
            thresholds.update_from_pairs(self.settings.threshold_pairs_cli, origin="cli")
            thresholds.strict_intervals = self.settings.strict
        except LipsUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        return thresholds

    @cached_property
    def tolerances(self) -> Any:
        """Baseline tolerances (:class:`pytest_lips.tolerances.ToleranceSet`)."""
        from .tolerances import default_tolerances

        tolerances = default_tolerances(self.thresholds)
        tolerances.update_from_pairs(self.settings.tolerance_pairs_ini, origin="ini")
        tolerances.update_from_pairs(self.settings.tolerance_pairs_cli, origin="cli")
        return tolerances

    @cached_property
    def baseline(self) -> Any:
        """The ``--lips-baseline`` to compare with, or ``None``."""
        if self.settings.baseline_path is None:
            return None
        from .report.baseline import load_baseline

        try:
            baseline = load_baseline(self.settings.baseline_path)
            baseline.check_compatible(self.profile.name, self.profile.protocol_version)
            baseline.check_covers(self.model_names())
        except LipsUsageError as exc:
            raise pytest.UsageError(str(exc)) from None
        return baseline

    def selected_tasks(self) -> list[str]:
        tasks = self.profile.tasks
        if self.settings.tasks is not None:
            tasks = tuple(t for t in tasks if t in self.settings.tasks)
        return list(tasks)

    @cached_property
    def store(self) -> Any:
        from .store import RunStore

        return RunStore(self.settings.cache_dir / "runs", reuse=not self.settings.fresh, session_id=self.session_id)

    def md_engine(self, model: LipsModel | None = None) -> Any:
        """The MD engine for ``model`` (:func:`pytest_lips.md.engines.select_engine` of ``--lips-engine``),
        one per model."""
        from .md.engines import select_engine

        engines = self.__dict__.setdefault("_md_engines", {})
        name = getattr(model, "name", None)
        if name not in engines:
            try:
                engines[name] = (
                    select_engine(self.settings.engine, model, device=self.settings.device)
                    if self.settings.engine != "ase"
                    else select_engine("ase")
                )
            except LipsUsageError as exc:
                raise pytest.UsageError(str(exc)) from None
        return engines[name]

    def engine_identity(self, model: LipsModel | None = None) -> str:
        """Name, version (and dtype) of the MD engine that computes ``model``'s MD results (part of every key):
        ``ase-3.29.0`` or ``torch-sim-0.6.2-float32``."""
        return self.md_engine(model).identity()

    def run_key(
        self, model: LipsModel, *parts: Any, task: str | None = None, dataset: Any = None, protocol: Any = None
    ) -> str:
        """Cache key of a computed result of ``model`` (for ``task``): everything the result depends on.

        Built by :func:`pytest_lips.identity.result_key` from the model's identity, the reference pack's
        content checksum (unless the task registry says ``task`` does not read the pack,
        :attr:`~pytest_lips.tasks.registry.TaskSpec.uses_pack`: the test split and Task 4 never read it, so
        editing it does not recompute them), the data set's checksum and split origin (when ``dataset`` is given),
        the task protocol as canonical JSON (when ``protocol`` is given), the MD engine, base seed,
        device, profile, protocol and plugin versions, threads per process and library versions
        (:func:`pytest_lips.identity.numerical_environment`), then ``parts``.  A model without a checksum
        (built in a conftest.py) only reuses results of this session.
        """
        from .identity import (
            ResultContext,
            data_checksum,
            model_identity,
            numerical_environment,
            protocol_checksum,
            result_key,
        )
        from .tasks.registry import task_spec

        uses_pack = task is None or task_spec(task).uses_pack
        context = ResultContext(
            plugin_version=__version__,
            protocol_version=f"{PROTOCOL_VERSION}/{self.profile.protocol_version}",
            profile=self.profile.name,
            device=self.settings.device,
            engine=self.engine_identity(model),
            seed=self.settings.seed,
            pack=self.pack_checksum() if uses_pack else "",
            data=data_checksum(dataset) if dataset is not None else "",
            protocol=protocol_checksum(protocol) if protocol is not None else "",
            numerics=numerical_environment(),
        )
        if hasattr(model, "probe_elements") and model.probe_elements is None:  # e.g. a conftest.py model
            model.probe_elements = self.system.elements  # fingerprinted on the system's probe cell
        try:
            ident = model_identity(model, self.session_id)
        except LipsModelError:
            raise
        except Exception as exc:  # noqa: BLE001 - the factory broke while fingerprinting: the model's fault, stated once
            raise LipsModelError(
                f"--lips-model {getattr(model, 'spec', model)}: evaluating the 12-atom probe cell for the result "
                f"key failed ({type(exc).__name__}: {exc})"
            ) from None
        return result_key(ident, context, parts)

    def _load_pack(self) -> tuple[Any, LipsError | None]:
        """The reference pack, loaded and checksum-verified once per process, or the error."""
        if self._pack_state is None:
            from .identity import pack_checksum
            from .reference import load_reference_pack
            from .resources import default_pack_dir

            try:
                pack = load_reference_pack(self.settings.reference_dir or default_pack_dir())
            except LipsError as exc:
                self._pack_state = (None, exc)
            else:
                checksum = pack_checksum(pack)
                self._pack_state = (pack, None)
                self.provenance["reference_pack"] = {
                    "root": str(pack.root),
                    "name": pack.name,
                    "version": pack.version,
                    "system": pack.system.name,
                    "checksum": checksum,
                }
        return self._pack_state

    def pack_checksum(self) -> str:
        """Content checksum of the reference pack (:func:`pytest_lips.identity.pack_checksum`).

        ``none`` when the pack cannot be loaded (the tests that need it skip or fail on their own).
        """
        pack, _error = self._load_pack()
        return self.provenance["reference_pack"]["checksum"] if pack is not None else "none"

    def reference_pack(self) -> Any:
        from .data import DataUnavailable

        pack, error = self._load_pack()
        if isinstance(error, DataUnavailable):
            pytest.skip(str(error))
        if error is not None:
            pytest.fail(str(error), pytrace=False)
        return pack

    def dataset(self) -> Any:
        from .data import DataUnavailable, load_lips_dataset

        try:
            dataset = load_lips_dataset(
                self.settings.data_path,
                cache_dir=self.settings.cache_dir / "data",
                allow_download=not self.settings.offline,
                fresh=self.settings.fresh,
                system=self.system,
            )
        except DataUnavailable as exc:
            pytest.skip(str(exc))
        except LipsError as exc:
            pytest.fail(str(exc), pytrace=False)
        self.provenance["data"] = dataset.describe()
        return dataset

    # -- progress -------------------------------------------------------------------------------
    def progress(self, label: str, total_steps: int, min_interval_s: float = 10.0) -> Any:
        """A callback ``callback(steps_done)`` showing one batch's progress (:class:`~.progress.ProgressLine`: one
        updating line on a terminal, plain rate-limited lines otherwise; silent with ``-q`` and on xdist workers)."""
        from .progress import ProgressLine

        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        quiet = self.config.get_verbosity() < 0 or hasattr(self.config, "workerinput") or reporter is None
        return ProgressLine(
            label,
            total_steps,
            None if quiet else reporter,
            self.config.pluginmanager.get_plugin("capturemanager"),
            tty=bool(getattr(reporter, "isatty", False)),
            min_interval_s=min_interval_s,
        )

    def notice(self, line: str) -> None:
        """Write one line to the terminal now (as the progress lines do; silent on xdist workers)."""
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None or hasattr(self.config, "workerinput"):
            return
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    # -- recording and gating (:mod:`pytest_lips.gating`) ------------------------------------------
    def check(self, node: pytest.Item, model: Any, metrics: tuple[Metric, ...]) -> None:
        """Record ``metrics`` on ``node``, then fail/skip according to thresholds and baseline."""
        gate_metrics(
            node,
            model,
            metrics,
            thresholds=self.thresholds,
            baseline=self.baseline,
            tolerances=self.tolerances,
            provenance=self.provenance,
        )

    def fail_not_run_under_strict(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """``--lips-strict``: a gate item that SKIPPED without its gated metric FAILS
        (:func:`pytest_lips.gating.fail_not_run_under_strict`)."""
        fail_not_run_under_strict(item, report, self.model_names())

    def record_run(self, node: pytest.Item, model: Any, run: RunRecord) -> None:
        if not run.model:
            run.model = getattr(model, "name", "") or ""
        if run.extra.get("engine") and "engine_reason" not in run.extra:  # why auto picked ASE or torch-sim
            from .md.engines import engine_reason

            run.extra["engine_reason"] = engine_reason(self.settings.engine, model)
        node.user_properties.append((PROPERTY_RUN, run.to_dict()))
        record_provenance(node, self.provenance)

    def collect_report(self, report: pytest.TestReport) -> None:
        """Gather metrics, runs and outcomes from test reports (serial runs and xdist controller)."""
        self.results.collect(report, self.provenance, self.note_cache_failures)

    def not_run_gates(self, models: list[str] | None = None) -> list[dict[str, Any]]:
        """The gated metrics of the selected tasks that no item recorded (:func:`pytest_lips.gates.not_run`)."""
        return self.results.not_run_gates(
            models=models if models is not None else self.model_names(),
            tasks=self.selected_tasks(),
            thresholds=self.thresholds.as_dict(),
            strict=self.settings.strict,
        )

    # -- end of session (:mod:`pytest_lips.report.session_report`) --------------------------------
    def build_report(self, interrupted: bool = False, exit_status: int | None = None) -> dict[str, Any]:
        """The report dict of what was collected (:func:`pytest_lips.report.session_report.build_session_report`)."""
        from .report.session_report import build_session_report

        return build_session_report(self, interrupted=interrupted, exit_status=exit_status)

    def engine_info(self) -> dict[str, Any]:
        """The ``--lips-engine`` choice and, per model, engines and batch sizes of its MD runs
        (:func:`pytest_lips.report.session_report.engine_info`)."""
        from .report.session_report import engine_info

        return engine_info(self.results.run_records, self.settings.engine)

    def selection(self) -> dict[str, Any]:
        """Which tasks this run selected and how pytest deselected items
        (:func:`pytest_lips.report.session_report.selection`)."""
        from .report.session_report import selection

        return selection(self.config, self.selected_tasks())

    def finish(self, terminalreporter: Any, exitstatus: int) -> None:
        """Print the summary table and write report, plots, GitHub summary and baseline
        (:func:`pytest_lips.report.session_report.finish`)."""
        from .report.session_report import finish

        finish(self, terminalreporter, exitstatus)

    def header_lines(self) -> list[str]:
        """The lines under pytest's header (:func:`pytest_lips.report.session_report.header_lines`)."""
        from .report.session_report import header_lines

        return header_lines(self)

    def threads_warning(self) -> str:
        """:func:`pytest_lips.threads.oversubscription_warning` of the threads set in this process ("" if fine)."""
        from .threads import applied_threads, oversubscription_warning, xdist_processes

        threads = applied_threads().get("threads_per_process")
        return oversubscription_warning(int(threads), xdist_processes(self.config)) if threads else ""
