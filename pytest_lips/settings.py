"""Settings of a pytest-lips run: the ``--lips-*`` options and ini keys read into :class:`Settings`.

:func:`settings_from_config` merges command line and ini file (command line wins) and checks every value
at start-up (a bad one is one :class:`pytest.UsageError` line naming the option and the fix).  No heavy
imports: torch only for a ``--lips-device`` other than cpu.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .errors import LipsUsageError


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


def engine_choice(raw: Any) -> str:
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


def reference_dir(raw: Any) -> Path | None:
    """``--lips-reference`` / ``lips_reference``: a pack directory or the name of a shipped pack."""
    if not raw:
        return None
    from .system import resolve_pack

    try:
        return resolve_pack(str(raw))
    except LipsUsageError as exc:
        raise pytest.UsageError(str(exc)) from None


def parse_tasks(raw: Any) -> list[str] | None:
    """``--lips-tasks`` / ``lips_tasks``: comma-separated task names or aliases of the task registry
    (:mod:`pytest_lips.tasks.registry`) as canonical names; ``None`` for ``all``."""
    from .tasks.registry import find_task, task_names

    chosen: list[str] = []
    for part in str(raw).replace(";", ",").split(","):
        name = part.strip().lower()
        if not name:
            continue
        if name == "all":
            return None
        spec = find_task(name)
        if spec is None:
            raise pytest.UsageError(
                f"--lips-tasks / lips_tasks: unknown task {part.strip()!r}; "
                f"choose from {', '.join(task_names())} (or all)"
            )
        chosen.append(spec.name)
    return chosen


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
        reference_dir=reference_dir(value("lips_reference")),
        energy_offset=str(value("lips_energy_offset")).lower() if value("lips_energy_offset") else None,
        baseline_path=path("lips_baseline"),
        save_baseline_path=path("lips_save_baseline"),
        tolerance_pairs_ini=list(config.getini("lips_tolerances") or []),
        tolerance_pairs_cli=list(config.getoption("lips_tolerances_cli") or []),
        plots_dir=path("lips_plots"),
        fresh=bool(value("lips_fresh")),
        offline=bool(value("lips_offline")),
        engine=engine_choice(value("lips_engine")),
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
        settings.tasks = parse_tasks(tasks)
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
