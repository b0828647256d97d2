"""Exceptions with messages meant for users: each names the file or option at fault and the fix."""

from __future__ import annotations


class LipsError(Exception):
    """Base class of every error pytest-lips raises on purpose."""


class LipsUsageError(LipsError):
    """Bad command-line option, ini key, threshold or profile (reported as a pytest usage error)."""


class LipsModelError(LipsError):
    """A model file or factory that cannot be loaded or does not behave like an interatomic potential."""


class LipsDataError(LipsError):
    """A data set, cache or reference-pack file that is missing, truncated, corrupt or inconsistent."""


class LipsSimulationError(LipsError):
    """A simulation that cannot go on (non-finite energies or forces, atoms collapsing, cell blowing up)."""
