"""One exception hierarchy for the whole system; each class carries the CLI exit code.

Only the CLI turns these into a message and an exit code. Stages return falsy values for
expected per-page outcomes (unreadable QR, too few marks) instead of raising.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The command line's exit codes, one name each (listed by ``phieu --help`` and docs/scanning.md)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    DEFINITION = 3
    INPUT_FILE = 4
    MISSING_TOOL = 5
    STORAGE = 6
    NOT_FOUND = 7
    CONFLICT = 8
    PAGES_NEED_ATTENTION = 10
    DO_NOT_RECONCILE = 11


class PhieuError(Exception):
    """Base class: a problem a person can act on. The message says what and what to do."""

    exit_code = ExitCode.UNEXPECTED


class DefinitionError(PhieuError):
    """A questionnaire definition is malformed (message names the file and line)."""

    exit_code = ExitCode.DEFINITION


class InputFileError(PhieuError):
    """A scan or input file cannot be read at all (message names the file and page).

    ``reason`` is a short code kept with the file's record (``scanner.problems.REASONS``).
    """

    exit_code = ExitCode.INPUT_FILE

    def __init__(self, message: str, *, reason: str = "corrupt_file") -> None:
        super().__init__(message)
        self.reason = reason


class MissingToolError(PhieuError):
    """An external program or library is missing; the message says what to install."""

    exit_code = ExitCode.MISSING_TOOL


class StorageError(PhieuError):
    """The database or the file store refused an operation."""

    exit_code = ExitCode.STORAGE


class NotFoundError(PhieuError):
    """A survey, sheet, user or other named thing does not exist."""

    exit_code = ExitCode.NOT_FOUND


class ConflictError(PhieuError):
    """The request clashes with stored state (duplicate id, stale review decision...)."""

    exit_code = ExitCode.CONFLICT


class ReconciliationError(PhieuError):
    """Result totals do not add up to the sheets returned (the message says where they break)."""

    exit_code = ExitCode.DO_NOT_RECONCILE


EXIT_CODES: dict[ExitCode, str] = {
    ExitCode.OK: "success",
    ExitCode.UNEXPECTED: "unexpected error",
    ExitCode.USAGE: "wrong command-line usage",
    ExitCode.DEFINITION: "questionnaire definition invalid",
    ExitCode.INPUT_FILE: "input file unreadable",
    ExitCode.MISSING_TOOL: "external tool missing",
    ExitCode.STORAGE: "database or file store error",
    ExitCode.NOT_FOUND: "named thing not found",
    ExitCode.CONFLICT: "conflict with stored state",
    ExitCode.PAGES_NEED_ATTENTION: "scan finished, but some pages need attention (unidentified or duplicate)",
    ExitCode.DO_NOT_RECONCILE: "result totals do not reconcile with the sheets returned",
}
