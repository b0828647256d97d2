"""Result records shared by the tasks, the plugin and the reports.

A task produces :class:`Metric` objects (one number with its unit and uncertainty) and, for MD,
:class:`RunRecord` objects (one trajectory).  Both are plain dataclasses that round-trip through
JSON (``to_dict`` / ``from_dict``) so that xdist workers can send them to the controller through
``report.user_properties`` and reports can be re-read later.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Metric:
    """One measured quantity of one model.

    Attributes
    ----------
    key:
        Dotted metric name, e.g. ``"task2.force_rmse"``; thresholds refer to metrics by this key.
    value:
        The number, in ``unit``.
    unit:
        SI-style unit string (``"eV/Å"``, ``"meV/atom"``, ``"mS/cm"``, ``"cm^2/s"``, ``"eV"``, ``"1"``).
    model:
        Name of the model (as in the test id).
    task:
        ``"task1"`` … ``"task4"`` or ``"test_split"``.
    uncertainty:
        Half-width of a 95 % interval, if known (same unit as ``value``).
    interval:
        Explicit ``(low, high)`` 95 % interval, if known (for asymmetric intervals).
    n:
        Number of samples the metric is computed from (structures, frames, repeats).
    gated:
        ``False`` when the metric is reported but the profile is too short to support a verdict.
    note:
        Human-readable remark (why it is not gated, what it was computed over).
    details:
        Free-form JSON-serialisable extras (per-structure errors, per-temperature D, ...).
    """

    key: str
    value: float
    unit: str
    model: str = ""
    task: str = ""
    uncertainty: float | None = None
    interval: tuple[float, float] | None = None
    n: int | None = None
    gated: bool = True
    note: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["value"] = _json_float(self.value)
        if self.interval is not None:
            data["interval"] = [_json_float(v) for v in self.interval]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Metric:
        data = dict(data)
        if data.get("interval") is not None:
            data["interval"] = tuple(float(v) for v in data["interval"])
        data["value"] = float("nan") if data.get("value") is None else float(data["value"])
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})

    def formatted(self) -> str:
        """``value ± uncertainty unit`` with sensible precision."""
        text = format_number(self.value)
        if self.interval is not None:
            text += f" [{format_number(self.interval[0])}, {format_number(self.interval[1])}]"
        elif self.uncertainty is not None:
            text += f" ± {format_number(self.uncertainty)}"
        return f"{text}{unit_suffix(self.unit)}"


@dataclass
class RunRecord:
    """Bookkeeping of one MD trajectory (Task 3 or Task 4).

    Attributes
    ----------
    run_id:
        Stable identifier, e.g. ``"T600K-r1"`` or ``"T2000K-p1e+08Pa-r2"``.
    steps_requested, steps_done:
        MD steps asked for and actually integrated.
    time_ps:
        Simulated time reached, ps.
    completed:
        Whether the run reached its end without an early stop.
    stop_reason:
        Why it stopped early (``"non-finite forces"``, ``"pair closer than 0.5 Å"``, ...), else ``""``.
    wall_s:
        Wall-clock time of the run, s.
    us_per_atom_step:
        Wall time per atom per MD step, µs.
    model_fraction:
        Share of the step time spent inside the model calculator (0..1), if measured.
    seed:
        Random seed of the run.
    extra:
        Task-specific details (temperature, pressure, close-contact frames, ...).
    """

    task: str
    run_id: str
    model: str = ""
    steps_requested: int = 0
    steps_done: int = 0
    time_ps: float = 0.0
    completed: bool = False
    stop_reason: str = ""
    wall_s: float = 0.0
    us_per_atom_step: float | None = None
    model_fraction: float | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def _json_float(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def format_number(value: float | None) -> str:
    """Format a float with 3–4 significant digits; ``nan``/``None`` as ``"nan"``."""
    if value is None or not math.isfinite(value):
        return "nan" if value is None or math.isnan(value) else ("inf" if value > 0 else "-inf")
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e5 or magnitude < 1e-3:
        return f"{value:.3e}"
    if magnitude >= 100:
        return f"{value:.1f}"
    return f"{value:.4g}"


def unit_suffix(unit: str) -> str:
    """`` unit`` for display; nothing for dimensionless quantities (unit ``"1"`` or empty)."""
    return "" if unit in ("", "1") else f" {unit}"
