"""One exception hierarchy for the whole system; each class carries the CLI exit code.

Only the CLI turns these into a message and an exit code. Stages return falsy values for
expected per-page outcomes (unreadable QR, too few marks) instead of raising.
"""

from __future__ import annotations


class PhieuError(Exception):
    """Base class: a problem a person can act on. The message says what and what to do."""

    exit_code = 1


class DefinitionError(PhieuError):
    """A questionnaire definition is malformed (message names the file and line)."""

    exit_code = 3


class InputFileError(PhieuError):
    """A scan or input file cannot be read at all (message names the file and page)."""

    exit_code = 4


class MissingToolError(PhieuError):
    """An external program or library is missing; the message says what to install."""

    exit_code = 5


class StorageError(PhieuError):
    """The database or the file store refused an operation."""

    exit_code = 6


class NotFoundError(PhieuError):
    """A survey, sheet, user or other named thing does not exist."""

    exit_code = 7


class ConflictError(PhieuError):
    """The request clashes with stored state (duplicate id, stale review decision...)."""

    exit_code = 8


EXIT_CODES: dict[int, str] = {
    0: "success",
    1: "unexpected error",
    2: "wrong command-line usage",
    3: "questionnaire definition invalid",
    4: "input file unreadable",
    5: "external tool missing",
    6: "database or file store error",
    7: "named thing not found",
    8: "conflict with stored state",
    10: "scan finished, but some pages need attention (unidentified or duplicate)",
}
