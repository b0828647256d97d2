"""Benchmark profiles (``smoke``, ``ci``, ``paper``): protocol sizes, lengths and temperatures.

A profile is a YAML file in ``reference_data/protocols/<name>.yaml`` (or any path given to
``--lips-profile``).  Its top level holds ``name``, ``protocol_version``, ``description`` and one
section per task of the task registry (:mod:`pytest_lips.tasks.registry`: ``test_split``, ``task1`` …
``task4``).  Each task module turns its section into a
typed protocol dataclass (e.g. :class:`pytest_lips.tasks.task3_conductivity.Task3Protocol`), so the
knowledge of what a section contains stays with the task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import LipsUsageError
from .resources import protocols_dir
from .tasks.registry import task_names, task_spec

P = TypeVar("P")


@dataclass(frozen=True)
class Profile:
    """A parsed profile file."""

    name: str
    protocol_version: str
    description: str
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    path: Path | None = None

    def section(self, task: str) -> dict[str, Any]:
        """The raw settings of ``task`` (empty dict when the profile leaves the task out)."""
        raw = self.sections.get(task) or {}
        if not isinstance(raw, dict):
            raise LipsUsageError(f"profile {self.name}: section {task} must be a mapping of settings, got {raw!r}")
        return dict(raw)

    @property
    def tasks(self) -> tuple[str, ...]:
        """Tasks this profile defines, in suite order."""
        return tuple(t for t in task_names() if t in self.sections)


def available_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(p.stem for p in protocols_dir().glob("*.yaml"))


def load_profile(name_or_path: str) -> Profile:
    """Load a shipped profile by name, or a profile file by path."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.is_file():
        path = candidate
        if not path.is_file():
            raise LipsUsageError(f"--lips-profile: profile file {path} does not exist")
    else:
        path = protocols_dir() / f"{name_or_path}.yaml"
        if not path.is_file():
            raise LipsUsageError(
                f"--lips-profile: unknown profile {name_or_path!r}; choose one of "
                f"{', '.join(available_profiles())} or give the path of a profile YAML file"
            )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LipsUsageError(f"--lips-profile: cannot read {path}: {exc}") from None
    if not isinstance(raw, dict) or "name" not in raw:
        raise LipsUsageError(f"--lips-profile: {path} is not a profile (no 'name' at the top level)")
    tasks = task_names()
    unknown = set(raw) - {"name", "protocol_version", "description", "cost", *tasks}
    if unknown:
        raise LipsUsageError(f"--lips-profile: {path} has unknown sections {sorted(unknown)}; known: {list(tasks)}")
    return Profile(
        name=str(raw["name"]),
        protocol_version=str(raw.get("protocol_version", "1")),
        description=str(raw.get("description", "")),
        sections={k: raw[k] for k in tasks if k in raw},
        path=path,
    )


def protocol_from_section(
    cls: type[P],
    section: dict[str, Any] | None,
    task: str,
    converters: dict[str, Callable[[Any], Any]] | None = None,
) -> P:
    """Build the protocol dataclass ``cls`` of ``task`` from its profile section.

    Missing keys take the dataclass defaults; unknown keys, wrong types and values rejected by a
    converter are a :class:`LipsUsageError` naming the section and the known keys.  ``converters``
    map keys to functions applied to the raw YAML value (e.g. a list to a tuple of floats).
    """
    if section is not None and not isinstance(section, dict):
        raise LipsUsageError(
            f"profile section {task}: expected a mapping of settings, got {type(section).__name__} {section!r}"
        )
    values = dict(section or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise LipsUsageError(f"profile section {task}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    types = {f.name: str(f.type) for f in fields(cls)}  # type: ignore[arg-type]
    try:
        for key, convert in (converters or {}).items():
            if values.get(key) is not None:
                values[key] = convert(values[key])
        for key in list(values):
            values[key] = check_value(task, key, values[key], types[key])
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise LipsUsageError(f"profile section {task}: {exc}") from None


#: Time settings (``*_fs``, ``*_ps``) that may be zero; every other one must be > 0.
ZERO_TIMES_OK = frozenset({"equilibration_ps", "gate_min_production_ps", "fit_min_lag_ps"})


def check_value(task: str, key: str, value: Any, type_name: str) -> Any:
    """Check one profile setting against its declared type; return it (integral floats as ints).

    Rules for every task: integers are integers >= 0 (counts, steps, seeds); floats and lists of
    floats are finite numbers; times (keys ending in ``_fs`` or ``_ps``) are > 0, except
    :data:`ZERO_TIMES_OK` (>= 0); strings are strings.  ``None`` is allowed where the type says
    ``| None``.  Task-specific ranges are checked by each protocol's ``validate()``.  Raises
    :class:`LipsUsageError` naming ``task.key`` and the fix.
    """
    where = f"profile section {task}: {key}"
    if value is None:
        if "None" in type_name:
            return None
        raise LipsUsageError(f"{where} cannot be null; give a value or leave the key out for the default")
    base = type_name.split("|")[0].strip()
    if base == "int":
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise LipsUsageError(f"{where} must be a whole number, got {value!r}")
        if value < 0:
            raise LipsUsageError(f"{where} must be >= 0 (a count, step number or seed), got {value}")
        return value
    if base == "float":
        number = _finite_number(where, value)
        if key.endswith(("_fs", "_ps")):
            if key in ZERO_TIMES_OK and number < 0:
                raise LipsUsageError(f"{where} is a time and must be >= 0, got {value!r}")
            if key not in ZERO_TIMES_OK and number <= 0:
                raise LipsUsageError(f"{where} is a time and must be > 0, got {value!r}")
        return number
    if base.startswith("tuple["):
        items = value if isinstance(value, (list, tuple)) else (value,)
        if "float" in base:
            return tuple(_finite_number(where, v) for v in items)
        if "int" in base:
            out = []
            for v in items:
                if isinstance(v, float) and math.isfinite(v) and v.is_integer():
                    v = int(v)
                if isinstance(v, bool) or not isinstance(v, int):
                    raise LipsUsageError(f"{where} must be whole numbers, got {value!r}")
                out.append(v)
            return tuple(out)
        return tuple(items)
    if base == "str" and not isinstance(value, str):
        raise LipsUsageError(f"{where} must be a text value, got {value!r}")
    return value


def _finite_number(where: str, value: Any) -> float:
    if isinstance(value, bool):
        raise LipsUsageError(f"{where} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LipsUsageError(f"{where} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise LipsUsageError(f"{where} must be a finite number, got {value!r}")
    return number


def parse_protocols(profile: Profile, tasks: Iterable[str]) -> dict[str, Any]:
    """Parse (and so validate) the sections of ``tasks`` into their protocol dataclasses.

    Called at start-up, so that a typo or a bad value in a profile stops the run with one line
    instead of failing every test item.  Raises :class:`LipsUsageError`.
    """
    parsed: dict[str, Any] = {}
    for task in tasks:
        cls = task_spec(task).protocol_type()
        if cls is None:  # a task without settings
            parsed[task] = None
            continue
        try:
            parsed[task] = cls.from_section(profile.section(task))
        except LipsUsageError as exc:
            where = f" ({profile.path})" if profile.path is not None else ""
            raise LipsUsageError(f"--lips-profile {profile.name}{where}: {exc}") from None
    return parsed


def float_tuple(value: Any) -> tuple[float, ...]:
    """A YAML list (or a single number) as a tuple of floats."""
    return tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


def int_triple(value: Any) -> tuple[int, int, int]:
    """A YAML list of three integers, or one integer repeated three times."""
    items = value if isinstance(value, (list, tuple)) else (value, value, value)
    return tuple(int(v) for v in items)  # type: ignore[return-value]
