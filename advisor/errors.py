"""One family of exceptions: every error a user can cause is an ``AdvisorError``.

The CLI catches this family, prints the message (one paragraph that names the file, row or
field, what was expected and how to fix it) and exits with code 2. Anything else escaping
the library is a bug.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AdvisorError(Exception):
    """Base class of every error caused by user input or an unsolvable problem."""

    exit_code = 2


class CatalogError(AdvisorError):
    """A catalog file is malformed, inconsistent or names something unknown."""


class DemandError(AdvisorError):
    """A demand CSV or workloads file is malformed."""


class InfeasibleError(AdvisorError):
    """The problem has no solution; the message says which workload, hours and limit."""


class SolverError(AdvisorError):
    """The solver is missing, failed, or found no plan within its limits."""


class PlanError(AdvisorError):
    """A plan file cannot be read, or does not match the demand it is checked against."""


class OutputError(AdvisorError):
    """An output location cannot be written."""


def closest(name: str, choices: Iterable[str]) -> str:
    """``" Did you mean 'x'?"`` for the closest valid name, else ``""`` (for a message that
    lists the valid names itself)."""
    close = difflib.get_close_matches(name, sorted(set(choices)), n=1, cutoff=0.5)
    return f" Did you mean '{close[0]}'?" if close else ""


#: The most valid names an error lists in full (the catalog's GPUs, providers, a file's fields
#: all fit); a longer list is only counted.
MAX_LISTED_NAMES = 40


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest valid name, or a list of valid names."""
    pool = sorted(set(choices))
    hint = closest(name, pool)
    if hint:
        return hint
    if len(pool) <= MAX_LISTED_NAMES:
        return " Valid names: " + ", ".join(pool) + "."
    return f" See the catalog for the {len(pool)} valid names."
