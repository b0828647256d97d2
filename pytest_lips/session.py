"""Session state of a pytest-lips run: settings, models, profile, thresholds, collected results.

:class:`LipsSession` is what :mod:`pytest_lips.plugin` keeps on the pytest config; the plugin's
hooks and fixtures delegate to it.  Everything here is importable without running pytest, but the
methods that talk to pytest items take pytest objects.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import time
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from . import PROTOCOL_VERSION, __version__
from .errors import LipsError, LipsModelError, LipsUsageError

if TYPE_CHECKING:
    from .models import LipsModel
    from .profiles import Profile
    from .results import Metric, RunRecord
    from .system import PackSystem
    from .thresholds import ThresholdSet, Verdict

PROPERTY_METRIC = "lips_metric"
PROPERTY_RUN = "lips_run"
PROPERTY_MODEL = "lips_model"
PROPERTY_PROVENANCE = "lips_provenance"
PROPERTY_CACHE_FAILURES = "lips_cache_failures"


@dataclass
class Settings:
    """Options of a run, after command line and ini file were merged (command line wins)."""

    model_specs: list[str] = field(default_factory=list)
    profile_name: str = "ci"
    tasks: list[str] | None = None
    device: str = "cpu"
    seed: int = 0
    report_path: Path | None = None
    cache_dir: Path = Path(".lips_cache")
    threshold_pairs_ini: list[str] = field(default_factory=list)
    threshold_pairs_cli: list[str] = field(default_factory=list)
    data_path: Path | None = None
    reference_dir: Path | None = None
    energy_offset: str | None = None
    baseline_path: Path | None = None
    save_baseline_path: Path | None = None
    tolerance_pairs_ini: list[str] = field(default_factory=list)
    tolerance_pairs_cli: list[str] = field(default_factory=list)
    plots_dir: Path | None = None
    fresh: bool = False
    offline: bool = False
    #: ``--lips-engine``: MD engine, ``auto`` (torch-sim when installed and the model supports it), ``ase``,
    #: ``torch-sim``.
    engine: str = "auto"
    #: ``--lips-strict``: an interval-decided metric (Task 3 σ298) that is INCONCLUSIVE fails.
    strict: bool = False
    #: ``--lips-save-trajectories``: directory for each Task 3 run's sampled frames (extxyz).
    save_trajectories_dir: Path | None = None
    #: ``--lips-budget-minutes``: wall-clock budget for Task 3 runs extended until σ298 is decided.
    budget_minutes: float | None = None
    #: ``--lips-checkpoint-minutes``: wall-clock minutes between MD checkpoints (0: none).
    checkpoint_minutes: float = 2.0
    #: Threads per process (``None``: ``auto``, usable cores / xdist workers); see :mod:`pytest_lips.threads`.
    threads: int | None = 1
    threads_option: str = "1"


def check_device(device: str) -> None:
    """A ``--lips-device`` that torch cannot use here is a usage error naming the fix."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise pytest.UsageError(
            f"--lips-device / lips_device: {device!r} is not a torch device; use cpu, cuda, cuda:1 or mps"
        ) from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise pytest.UsageError(
                f"--lips-device {device}: CUDA is not available here (torch {torch.__version__}, "
                f"CUDA build: {torch.version.cuda or 'no'}); drop the option to run on cpu, or install a CUDA build "
                "of torch on a machine with an NVIDIA GPU"
            )
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise pytest.UsageError(
                f"--lips-device {device}: this machine has {torch.cuda.device_count()} CUDA device(s); "
                f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}"
            )
    elif parsed.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise pytest.UsageError(f"--lips-device {device}: MPS is not available here; drop the option to run on cpu")


def _engine_choice(raw: Any) -> str:
    """``--lips-engine`` / ``lips_engine`` checked against :data:`pytest_lips.md.engines.ENGINE_CHOICES`
    (no heavy imports)."""
    choice = str(raw or "auto").strip().lower().replace("_", "-")
    if choice not in ("auto", "ase", "torch-sim"):
        raise pytest.UsageError(f"--lips-engine / lips_engine: expected auto, ase or torch-sim, got {raw!r}")
    if choice == "torch-sim":
        import importlib.util

        if importlib.util.find_spec("torch_sim") is None:
            raise pytest.UsageError(
                "--lips-engine torch-sim: torch-sim is not installed; pip install "
                "'pytest-lips[torch-sim]' (Python >= 3.12) or use --lips-engine ase"
            )
    return choice


def _reference_dir(raw: Any) -> Path | None:
    """``--lips-reference`` / ``lips_reference``: a pack directory or the name of a shipped pack."""
    if not raw:
        return None
    from .system import resolve_pack

    try:
        return resolve_pack(str(raw))
    except LipsUsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def settings_from_config(config: pytest.Config) -> Settings:
    """Read options and ini keys into :class:`Settings`; bad values raise :class:`pytest.UsageError`."""

    def value(name: str) -> Any:
        cli = config.getoption(name, default=None)
        if cli not in (None, ""):
            return cli
        ini = config.getini(name)
        return ini if ini not in ("", None) else None

    def path(name: str) -> Path | None:
        raw = value(name)
        return Path(os.path.expanduser(str(raw))) if raw else None

    rootpath = Path(config.rootpath)
    models = list(config.getoption("lips_model_cli") or []) or list(config.getini("lips_model") or [])
    settings = Settings(
        model_specs=[m for m in (s.strip() for s in models) if m],
        profile_name=str(value("lips_profile") or "ci"),
        device=str(value("lips_device") or "cpu"),
        report_path=path("lips_report"),
        cache_dir=path("lips_cache_dir") or rootpath / ".lips_cache",
        threshold_pairs_ini=list(config.getini("lips_thresholds") or []),
        threshold_pairs_cli=list(config.getoption("lips_thresholds_cli") or []),
        data_path=path("lips_data"),
        reference_dir=_reference_dir(value("lips_reference")),
        energy_offset=str(value("lips_energy_offset")).lower() if value("lips_energy_offset") else None,
        baseline_path=path("lips_baseline"),
        save_baseline_path=path("lips_save_baseline"),
        tolerance_pairs_ini=list(config.getini("lips_tolerances") or []),
        tolerance_pairs_cli=list(config.getoption("lips_tolerances_cli") or []),
        plots_dir=path("lips_plots"),
        fresh=bool(value("lips_fresh")),
        offline=bool(value("lips_offline")),
        engine=_engine_choice(value("lips_engine")),
        strict=bool(value("lips_strict")),
        save_trajectories_dir=path("lips_save_trajectories"),
    )
    budget = value("lips_budget_minutes")
    if budget is not None:
        try:
            settings.budget_minutes = float(budget)
            assert settings.budget_minutes > 0
        except (ValueError, AssertionError):
            raise pytest.UsageError(
                f"--lips-budget-minutes / lips_budget_minutes: expected minutes > 0, got {budget!r}"
            ) from None
    checkpoint = value("lips_checkpoint_minutes")
    if checkpoint is not None:
        try:
            settings.checkpoint_minutes = float(checkpoint)
            assert math.isfinite(settings.checkpoint_minutes) and settings.checkpoint_minutes >= 0
        except (ValueError, AssertionError):
            raise pytest.UsageError(
                f"--lips-checkpoint-minutes / lips_checkpoint_minutes: expected minutes >= 0 (0: no checkpoints), "
                f"got {checkpoint!r}"
            ) from None
    seed = value("lips_seed")
    if seed is not None:
        try:
            settings.seed = int(seed)
        except ValueError:
            raise pytest.UsageError(f"--lips-seed / lips_seed: expected an integer >= 0, got {seed!r}") from None
        if settings.seed < 0:
            raise pytest.UsageError(f"--lips-seed / lips_seed: expected an integer >= 0, got {seed!r}")
    threads = value("lips_threads")
    if threads is not None:
        from .threads import parse_threads

        try:
            settings.threads = parse_threads(threads)
        except ValueError as exc:
            raise pytest.UsageError(f"--lips-threads / lips_threads: {exc}") from None
        settings.threads_option = str(threads).strip().lower()
    if settings.device != "cpu":
        check_device(settings.device)
    tasks = value("lips_tasks")
    if tasks:
        from .tasks.registry import find_task, task_names

        chosen: list[str] = []
        everything = False
        for raw in str(tasks).replace(";", ",").split(","):
            name = raw.strip().lower()
            if not name:
                continue
            if name == "all":
                everything = True
                break
            spec = find_task(name)
            if spec is None:
                raise pytest.UsageError(
                    f"--lips-tasks / lips_tasks: unknown task {raw.strip()!r}; "
                    f"choose from {', '.join(task_names())} (or all)"
                )
            chosen.append(spec.name)
        settings.tasks = None if everything else chosen
    if settings.energy_offset not in (None, "auto", "none"):
        raise pytest.UsageError(
            f"--lips-energy-offset / lips_energy_offset: expected auto or none, got {settings.energy_offset!r}"
        )
    if settings.data_path is not None and not settings.data_path.is_file():
        raise pytest.UsageError(f"--lips-data {settings.data_path}: no such file (pass a LiPS-25 extxyz file)")
    if settings.baseline_path is not None and not settings.baseline_path.is_file():
        raise pytest.UsageError(
            f"--lips-baseline {settings.baseline_path}: no such file (write one first with --lips-save-baseline PATH)"
        )
    return settings


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
        self.metric_records: list[dict[str, Any]] = []
        self.run_records: list[dict[str, Any]] = []
        self.model_infos: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}
        #: node id -> skip reason or first line of the failure (why a gated metric was NOT RUN)
        self.reasons: dict[str, str] = {}
        #: gate items that skipped and were FAILED by ``--lips-strict``
        self.strict_failed: set[str] = set()
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

    def engine_info(self) -> dict[str, Any]:
        """The ``--lips-engine`` choice and, per model, the engine and batch sizes its MD runs were computed
        with (for the report's environment). Read from the run records, which reach the xdist controller
        too, so a serial and a parallel report say the same."""
        models: dict[str, dict[str, Any]] = {}
        for run in self.run_records:
            extra = run.get("extra") or {}
            if not extra.get("engine"):
                continue
            entry = models.setdefault(
                str(run.get("model", "")), {"engines": set(), "batch_sizes": set(), "reasons": set()}
            )
            entry["engines"].add(str(extra.get("engine_identity") or extra["engine"]))
            if extra.get("engine_reason"):
                entry["reasons"].add(str(extra["engine_reason"]))
            if extra.get("batch_size") is not None:
                entry["batch_sizes"].add(int(extra["batch_size"]))
        return {
            "choice": self.settings.engine,
            "models": {
                name: {
                    "engines": sorted(e["engines"]),
                    "batch_sizes": sorted(e["batch_sizes"]),
                    "reason": "; ".join(sorted(e["reasons"])),
                }
                for name, e in sorted(models.items())
            },
        }

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

    # -- recording and gating -------------------------------------------------------------------
    def check(self, node: pytest.Item, model: Any, metrics: tuple[Metric, ...]) -> None:
        """Record ``metrics`` on ``node``, then fail/skip according to thresholds and baseline."""
        failures: list[str] = []
        not_gated: list[str] = []
        not_measured: list[str] = []
        inconclusive: list[Verdict] = []
        gated_any = False
        model_name = getattr(model, "name", "") or ""
        if model is not None and hasattr(model, "describe"):
            node.user_properties.append((PROPERTY_MODEL, model.describe()))
        for metric in metrics:
            if not metric.model:
                metric.model = model_name
            verdicts = self.thresholds.evaluate(metric)
            regression = None
            if self.baseline is not None and math.isfinite(metric.value):
                regression = self.baseline.check(metric, self.tolerances, provenance=self.provenance)
                if regression is None and metric.gated and self.thresholds.for_metric(metric.key):
                    regression = self.baseline.missing(metric, self.tolerances)  # a partial baseline: FAILED
            applied = {
                v.threshold.key: self.thresholds.as_dict()[v.threshold.key] for v in verdicts if v.threshold is not None
            }
            record = {
                "metric": metric.to_dict(),
                "verdicts": [v.to_dict() for v in verdicts],
                "thresholds": applied,
                "regression": None if regression is None else regression.to_dict(),
            }
            node.user_properties.append((PROPERTY_METRIC, record))
            for verdict in verdicts:
                if verdict.passed is False:  # includes a gated metric whose value is NaN (it should exist)
                    failures.append(verdict.message)
                elif verdict.inconclusive:  # decided on its interval, which straddles the threshold
                    inconclusive.append(verdict)
                elif verdict.passed is True:
                    gated_any = True
                elif verdict.threshold is not None and not metric.gated:
                    not_gated.append(f"{metric.key} = {metric.formatted()}: {metric.note or 'not gated'}")
                elif not math.isfinite(metric.value):  # n/a without a gate: never PASSED, SKIPPED with the reason
                    not_measured.append(f"{metric.key}: {metric.note or 'no value'}")
            if regression is not None and regression.gated and not regression.passed:
                failures.append(regression.message)
        self._record_provenance(node)
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)
        if inconclusive:
            from .thresholds import inconclusive_summary

            pytest.skip(inconclusive_summary(inconclusive))
        if not_measured and not gated_any:
            pytest.skip(
                "; ".join(
                    ["not measured: " + "; ".join(not_measured)]
                    + (["reported, not gated: " + "; ".join(not_gated)] if not_gated else [])
                )
            )
        if not_gated and not gated_any:
            pytest.skip("reported, not gated: " + "; ".join(not_gated))

    def fail_not_run_under_strict(self, item: pytest.Item, report: pytest.TestReport) -> None:
        """``--lips-strict``: a gate item that SKIPPED without recording its gated metric (data absent,
        package missing, pack slot missing) becomes a FAILED item, like an INCONCLUSIVE verdict."""
        from .gates import gate_item_metric

        key = gate_item_metric(item.nodeid, self.model_names())
        if key is None or any(name == PROPERTY_METRIC for name, _ in item.user_properties):
            return
        reason = _report_reason(report)
        report.outcome = "failed"
        report.longrepr = f"{key}: gated metric NOT RUN fails under --lips-strict: {reason}"
        report.user_properties = [*report.user_properties, ("lips_not_run_strict", reason)]

    def record_run(self, node: pytest.Item, model: Any, run: RunRecord) -> None:
        if not run.model:
            run.model = getattr(model, "name", "") or ""
        if run.extra.get("engine") and "engine_reason" not in run.extra:  # why auto picked ASE or torch-sim
            from .md.engines import engine_reason

            run.extra["engine_reason"] = engine_reason(self.settings.engine, model)
        node.user_properties.append((PROPERTY_RUN, run.to_dict()))
        self._record_provenance(node)

    def _record_provenance(self, node: pytest.Item) -> None:
        """Hand this process's pack/data provenance to the report (travels with xdist reports)."""
        if self.provenance:
            node.user_properties.append((PROPERTY_PROVENANCE, dict(self.provenance)))

    def collect_report(self, report: pytest.TestReport) -> None:
        """Gather metrics, runs and outcomes from test reports (serial runs and xdist controller)."""
        if not report.nodeid.startswith("lips/"):
            return
        previous = self.outcomes.get(report.nodeid)
        if report.failed:
            harness = any(key == "lips_harness_error" for key, _ in report.user_properties)
            strict_gate = any(key == "lips_not_run_strict" for key, _ in report.user_properties)
            outcome = "error" if (report.when != "call" and not strict_gate) or harness else "failed"
            self.outcomes[report.nodeid] = "error" if previous == "error" else outcome
        elif report.skipped and previous not in ("failed", "error"):
            self.outcomes[report.nodeid] = "skipped"
        elif report.when == "call" and previous is None:
            self.outcomes[report.nodeid] = "passed"
        strict_skip = next((v for k, v in report.user_properties if k == "lips_not_run_strict"), None)
        if strict_skip is not None:  # a gate item that skipped, FAILED by --lips-strict: keep the skip's reason
            self.reasons[report.nodeid] = str(strict_skip)
            self.strict_failed.add(report.nodeid)
        elif (report.skipped or report.failed) and report.nodeid not in self.reasons:
            self.reasons[report.nodeid] = _report_reason(report)
        if report.when != "teardown":
            return
        # the plugin's own properties (PROPERTY_*) hold dicts; pytest types the values as object
        for name, value in cast("list[tuple[str, Any]]", report.user_properties):
            if name == PROPERTY_METRIC:
                self.metric_records.append(dict(value, nodeid=report.nodeid))
            elif name == PROPERTY_RUN:
                self.run_records.append(value)
            elif name == PROPERTY_MODEL:
                known = self.model_infos.get(value["name"])
                if known is None or (not known.get("probe_fingerprint") and value.get("probe_fingerprint")):
                    self.model_infos[value["name"]] = value
            elif name == PROPERTY_PROVENANCE:
                for key, info in value.items():
                    self.provenance.setdefault(key, info)
            elif name == PROPERTY_CACHE_FAILURES:
                self.note_cache_failures(report.nodeid, list(value))

    # -- end of session -------------------------------------------------------------------------
    def build_report(self, interrupted: bool = False, exit_status: int | None = None) -> dict[str, Any]:
        """The report dict (:func:`pytest_lips.report.json_report.build_report`) of what was collected.

        ``interrupted`` marks a run stopped by Ctrl-C / ``pytest.exit`` (such a report is refused as a
        baseline); ``exit_status`` is pytest's exit status when known.
        """
        from .report.json_report import build_report, environment_info

        models = {name: model.describe() for name, model in self._models.items()}
        for name, info in self.model_infos.items():
            if name not in models or (info.get("probe_fingerprint") and not models[name].get("probe_fingerprint")):
                models[name] = info
        thresholds = self.thresholds.as_dict()
        skipped_gates = self.not_run_gates(models=self.model_names() or sorted(models))
        verdicts: list[dict[str, Any]] = []
        for record in self.metric_records:
            thresholds.update(record.get("thresholds") or {})
            verdicts.extend(dict(v, nodeid=record["nodeid"]) for v in record.get("verdicts", []))
            if record.get("regression"):
                verdicts.append(dict(record["regression"], nodeid=record["nodeid"], kind="baseline"))
        return build_report(
            plugin_version=__version__,
            protocol_version=self.profile.protocol_version,
            profile_name=self.profile.name,
            profile_description=self.profile.description,
            models=[models[name] for name in sorted(models)],
            seed=self.settings.seed,
            thresholds=thresholds,
            tolerances=self.tolerances.as_dict() if hasattr(self.tolerances, "as_dict") else {},
            metrics=[record["metric"] for record in self.metric_records],
            verdicts=verdicts,
            runs=self.run_records,
            outcomes=dict(self.outcomes),
            environment={**environment_info(self.settings.device), "md_engine": self.engine_info()},
            started_at=self.started_at,
            duration_s=time.time() - self.started,
            baseline=self.baseline.info(self.provenance) if self.baseline is not None else None,
            provenance=self.provenance,
            interrupted=interrupted,
            exit_status=exit_status,
            not_run=skipped_gates,
            selection=self.selection(),
        )

    def not_run_gates(self, models: list[str] | None = None) -> list[dict[str, Any]]:
        """The gated metrics of the selected tasks that no item recorded (:func:`pytest_lips.gates.not_run`)."""
        from .gates import not_run

        return not_run(
            models=models if models is not None else self.model_names(),
            tasks=self.selected_tasks(),
            thresholds=self.thresholds.as_dict(),
            recorded=[(r["metric"].get("model", ""), r["metric"]["key"]) for r in self.metric_records],
            outcomes={n: ("skipped" if n in self.strict_failed else o) for n, o in self.outcomes.items()},
            reasons=self.reasons,
            strict=self.settings.strict,
        )

    def selection(self) -> dict[str, Any]:
        """Which tasks this run selected and how pytest deselected items (``-k``, ``-m``, ``--deselect``,
        ``--lf``): recorded in the report and in a baseline saved from it."""
        option = self.config.option
        out: dict[str, Any] = {"tasks": self.selected_tasks()}
        for name, attribute in (("keyword", "keyword"), ("markexpr", "markexpr")):
            value = getattr(option, attribute, "") or ""
            if value:
                out[name] = str(value)
        deselect = list(getattr(option, "deselect", None) or [])
        if deselect:
            out["deselect"] = [str(d) for d in deselect]
        if getattr(option, "lf", False):
            out["last_failed"] = True
        return out

    def finish(self, terminalreporter: Any, exitstatus: int) -> None:
        """Print the summary table and write report, plots, GitHub summary and baseline."""
        from . import signals
        from .report.terminal import render_summary

        interrupted = _was_interrupted(terminalreporter, exitstatus) or signals.received()
        report = self.build_report(interrupted=interrupted, exit_status=int(exitstatus))
        written: list[str] = []
        problems: list[str] = []
        plot_paths: list[Path] = []
        if self.settings.plots_dir is not None:
            from .report.plots import write_plots

            plot_paths = list(write_plots(report, self.settings.plots_dir))
            written.extend(str(p) for p in plot_paths)
        if self.settings.report_path is not None:
            from .report.json_report import write_report

            try:
                write_report(report, self.settings.report_path, option="--lips-report")
                written.append(str(self.settings.report_path))
            except LipsUsageError as exc:
                problems.append(str(exc))
        if self.settings.save_baseline_path is not None:
            from .report.baseline import save_baseline

            refusal = baseline_refusal(report, terminalreporter, exitstatus)
            if refusal:
                problems.append(
                    f"--lips-save-baseline: did not write {self.settings.save_baseline_path}: {refusal}; "
                    "the file was left as it was"
                )
            else:
                try:
                    save_baseline(report, self.settings.save_baseline_path)
                    written.append(str(self.settings.save_baseline_path))
                except LipsUsageError as exc:
                    problems.append(str(exc))
        summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
        if summary_file:
            from .report.markdown import render_markdown

            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(render_markdown(report, plot_paths=plot_paths) + "\n")
        terminalreporter.write_sep("=", "LiPS-25 summary (pytest-lips)")
        if signals.received():
            terminalreporter.write_line(
                "pytest-lips: stopped by SIGTERM (as Ctrl-C): the report is marked interrupted, no baseline is "
                "written" + (f", {len(self.worker_pids)} xdist workers were stopped" if self.worker_pids else ""),
                red=True,
                bold=True,
            )
        if self.config.get_verbosity() < 0 and self.threads_warning():  # -q hides the header that said it
            terminalreporter.write_line(f"pytest-lips WARNING: {self.threads_warning()}", yellow=True)
        for line in render_summary(report):
            terminalreporter.write_line(line)
        for path in written:
            terminalreporter.write_line(f"pytest-lips wrote {path}")
        for nodeid, line in self.cache_warnings:
            terminalreporter.write_line(f"pytest-lips WARNING: {nodeid}: {line}", yellow=True)
        for problem in problems:
            terminalreporter.write_line(f"pytest-lips: {problem}", red=True, bold=True)

    def header_lines(self) -> list[str]:
        from .threads import applied_threads

        names = ", ".join(self.model_names())
        threads = applied_threads().get("threads_per_process")
        lines = [
            f"pytest-lips {__version__}: profile {self.settings.profile_name}, models {names}, "
            f"device {self.settings.device}, seed {self.settings.seed}, "
            f"threads {threads if threads is not None else self.settings.threads_option} per process, "
            f"cache {self.settings.cache_dir}",
            f"pytest-lips system: {self.system.name} "
            f"(reference pack {self.settings.reference_dir or 'shipped default'})"
            + (f"; {self.system.note}" if self.system.note else ""),
        ]
        if self.threads_warning():
            lines.append(f"pytest-lips WARNING: {self.threads_warning()}")
        for model in self._models.values():
            lines.extend(f"pytest-lips WARNING [{model.name}]: {text}" for text in getattr(model, "warnings", ()))
        return lines

    def threads_warning(self) -> str:
        """:func:`pytest_lips.threads.oversubscription_warning` of the threads set in this process ("" if fine)."""
        from .threads import applied_threads, oversubscription_warning, xdist_processes

        threads = applied_threads().get("threads_per_process")
        return oversubscription_warning(int(threads), xdist_processes(self.config)) if threads else ""


def _report_reason(report: pytest.TestReport) -> str:
    """A skip's reason (without ``Skipped:``) or the first line of a failure, for NOT RUN entries."""
    longrepr = report.longrepr
    if report.skipped and isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        return text[len("Skipped: ") :] if text.startswith("Skipped: ") else text
    lines = [line.strip() for line in str(getattr(report, "longreprtext", "") or "").splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith("E ")), lines[-1] if lines else "")
    return first[2:].strip() if first.startswith("E ") else first


def _was_interrupted(terminalreporter: Any, exitstatus: int) -> bool:
    """Whether the session was stopped by Ctrl-C (KeyboardInterrupt) or ``pytest.exit``."""
    if int(exitstatus) == int(pytest.ExitCode.INTERRUPTED):
        return True
    return getattr(terminalreporter, "_keyboardinterrupt_memo", None) is not None


def baseline_refusal(report: dict[str, Any], terminalreporter: Any, exitstatus: int) -> str:
    """Why this run must not become a baseline (empty string: it may).

    Refused: an interrupted run, an internal or usage error, a run stopped early (``-x``,
    ``--maxfail``), a harness error (ERROR outcome: some metric is missing), and a run without any
    metric for some model.  A model failing its thresholds may still be saved: a baseline records
    the last release, not a passing one.
    """
    if report.get("interrupted"):
        return "the run was interrupted, so its metrics are incomplete"
    if int(exitstatus) in (int(pytest.ExitCode.INTERNAL_ERROR), int(pytest.ExitCode.USAGE_ERROR)):
        return f"pytest ended with exit status {int(exitstatus)} ({pytest.ExitCode(int(exitstatus)).name})"
    session = getattr(terminalreporter, "_session", None)
    stopped = getattr(session, "shouldstop", False) or getattr(session, "shouldfail", False)
    if stopped:
        return f"the run stopped early ({stopped}), so its metrics are incomplete"
    errors = sorted(node for node, outcome in (report.get("outcomes") or {}).items() if outcome == "error")
    if errors:
        more = f" and {len(errors) - 1} more" if len(errors) > 1 else ""
        return f"{errors[0]}{more} ended in ERROR (a harness error), so metrics are missing; fix it and rerun"
    results = report.get("results") or {}
    names = [m.get("name") for m in report.get("models") or []] or list(results)
    empty = [name for name in names if not any(task.get("metrics") for task in (results.get(name) or {}).values())]
    if empty or not names:
        return f"no metrics were recorded for {', '.join(map(str, empty)) or 'any model'}"
    return ""
