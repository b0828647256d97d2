"""Benchmark profiles (``smoke``, ``ci``, ``paper``): protocol sizes, lengths and temperatures.

A profile is a YAML file in ``reference_data/protocols/<name>.yaml`` (or any path given to
``--lips-profile``).  Its top level holds ``name``, ``protocol_version``, ``description`` and one
section per task (``test_split``, ``task1`` … ``task4``).  Each task module turns its section into a
typed protocol dataclass (e.g. :class:`pytest_lips.tasks.task3_conductivity.Task3Protocol`), so the
knowledge of what a section contains stays with the task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .errors import LipsUsageError
from .resources import protocols_dir

P = TypeVar("P")

#: Tasks in suite order.
TASK_NAMES: tuple[str, ...] = ("test_split", "task1", "task2", "task3", "task4")


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
        return dict(self.sections.get(task) or {})

    @property
    def tasks(self) -> tuple[str, ...]:
        """Tasks this profile defines, in suite order."""
        return tuple(t for t in TASK_NAMES if t in self.sections)


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
    unknown = set(raw) - {"name", "protocol_version", "description", "cost", *TASK_NAMES}
    if unknown:
        raise LipsUsageError(
            f"--lips-profile: {path} has unknown sections {sorted(unknown)}; known: {list(TASK_NAMES)}"
        )
    return Profile(
        name=str(raw["name"]),
        protocol_version=str(raw.get("protocol_version", "1")),
        description=str(raw.get("description", "")),
        sections={k: raw[k] for k in TASK_NAMES if k in raw},
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
    values = dict(section or {})
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(values) - known
    if unknown:
        raise LipsUsageError(f"profile section {task}: unknown keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        for key, convert in (converters or {}).items():
            if values.get(key) is not None:
                values[key] = convert(values[key])
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise LipsUsageError(f"profile section {task}: {exc}") from None


def float_tuple(value: Any) -> tuple[float, ...]:
    """A YAML list (or a single number) as a tuple of floats."""
    return tuple(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))


def int_triple(value: Any) -> tuple[int, int, int]:
    """A YAML list of three integers, or one integer repeated three times."""
    items = value if isinstance(value, (list, tuple)) else (value, value, value)
    return tuple(int(v) for v in items)  # type: ignore[return-value]
