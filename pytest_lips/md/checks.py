"""Early-stop checks for MD runs.

A check is called every ``check_interval_steps`` MD steps (and once at the end) with the current
:class:`ase.Atoms`; it returns ``None`` while the run is healthy and a one-line reason when the run
must stop. :meth:`StopCheck.start` is called once before the first step (to remember, e.g., the
initial volume).

Documented floors (defaults of :func:`default_stop_checks`):

* :class:`NonFiniteCheck` — any NaN/inf in positions, momenta or cell. (NaN/inf energies, forces
  and stresses are caught at every model call by :class:`~pytest_lips.md.calculator.TimedCalculator`.)
* :class:`ClosePairCheck` — any pair of atoms (periodic minimum image, ASE neighbour list) closer
  than ``floor_A = 0.5 Å``. No Li/P/S pair is physically found below ~1.9 Å (the shortest bond,
  P–S in PS4 units, is ~2.05 Å); at 0.5 Å two atoms have fused, which for an MLIP means it has left
  its training domain and will not come back. The Task 4 *metric* uses the stricter
  ``task4.close_contact_distance_A`` (1 Å) but does not stop the run at it.
* :class:`VolumeChangeCheck` — the cell volume grew or shrank by more than ``max_factor = 3``
  relative to the start (NPT only): the system has exploded into vacuum or collapsed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms

from ..analysis.contacts import has_close_contact, minimum_pair_distance_A

__all__ = [
    "DEFAULT_PAIR_FLOOR_A",
    "DEFAULT_VOLUME_FACTOR",
    "ClosePairCheck",
    "NonFiniteCheck",
    "StopCheck",
    "VolumeChangeCheck",
    "default_stop_checks",
]

#: Default distance below which a pair counts as fused (stops the run), Å.
DEFAULT_PAIR_FLOOR_A = 0.5
#: Default largest allowed volume change factor in NPT (V/V0 > 3 or V/V0 < 1/3 stops the run).
DEFAULT_VOLUME_FACTOR = 3.0


class StopCheck:
    """Base class: ``start(atoms)`` once, then ``check(atoms) -> reason | None``."""

    name = "check"

    def start(self, atoms: Atoms) -> None:  # noqa: B027 - optional hook
        """Remember whatever the check compares against (default: nothing)."""

    def check(self, atoms: Atoms) -> str | None:
        raise NotImplementedError

    def __call__(self, atoms: Atoms) -> str | None:
        return self.check(atoms)


@dataclass
class NonFiniteCheck(StopCheck):
    """Stop on NaN/inf in positions, momenta or the cell."""

    name: str = "non-finite"

    def check(self, atoms: Atoms) -> str | None:
        if not np.all(np.isfinite(atoms.positions)):
            return "non-finite positions"
        if atoms.has("momenta") and not np.all(np.isfinite(atoms.arrays["momenta"])):
            return "non-finite velocities"
        if not np.all(np.isfinite(atoms.cell.array)):
            return "non-finite cell"
        return None


@dataclass
class ClosePairCheck(StopCheck):
    """Stop when any pair is closer than ``floor_A`` (Å)."""

    floor_A: float = DEFAULT_PAIR_FLOOR_A
    name: str = "close pair"

    def check(self, atoms: Atoms) -> str | None:
        if has_close_contact(atoms, self.floor_A):
            d_min = minimum_pair_distance_A(atoms)
            return f"pair closer than {self.floor_A:g} Å (d_min = {d_min:.3f} Å)"
        return None


@dataclass
class VolumeChangeCheck(StopCheck):
    """Stop when ``V/V0 > max_factor`` or ``V/V0 < 1/max_factor``."""

    max_factor: float = DEFAULT_VOLUME_FACTOR
    name: str = "volume change"
    volume0_A3: float = field(default=math.nan, init=False)

    def start(self, atoms: Atoms) -> None:
        self.volume0_A3 = float(atoms.get_volume())

    def check(self, atoms: Atoms) -> str | None:
        volume = float(atoms.get_volume())
        if not math.isfinite(volume):
            return "non-finite cell volume"
        ratio = volume / self.volume0_A3
        if ratio > self.max_factor or ratio < 1.0 / self.max_factor:
            return (
                f"volume changed by more than a factor {self.max_factor:g} (V/V0 = {ratio:.3g}, V = {volume:.1f} Å^3)"
            )
        return None


def default_stop_checks(
    npt: bool,
    pair_floor_A: float = DEFAULT_PAIR_FLOOR_A,
    volume_factor: float = DEFAULT_VOLUME_FACTOR,
) -> list[StopCheck]:
    """The standard checks: non-finite, close pair, and (for NPT) volume change."""
    checks: list[StopCheck] = [NonFiniteCheck(), ClosePairCheck(pair_floor_A)]
    if npt:
        checks.append(VolumeChangeCheck(volume_factor))
    return checks
