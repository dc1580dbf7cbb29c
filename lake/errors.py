"""The one family of errors winnow reports: `WinnowError` and its kinds.

The command line prints any of them as one line, `error: MESSAGE`, with no traceback
(unless `--debug`), and exits with the error's `exit_code`: 2 for a usage error (an
option, argument, file or query the user gave is wrong), 1 for a job that failed.
Every package raises these (or subclasses of them); nothing else should reach the user.
"""

from __future__ import annotations


class WinnowError(Exception):
    """A job failed; the message says what and where, in one line."""

    exit_code = 1


class UsageError(WinnowError):
    """What the user asked for is wrong: an option's value, a file, a name, a query."""

    exit_code = 2


def check(condition: bool, message: str) -> None:
    """Raise `UsageError(message)` unless `condition`: for validating options before any write."""
    if not condition:
        raise UsageError(message)


def positive(value, option: str, allow_zero: bool = False):
    """`value` when it is an integer > 0 (or >= 0 with `allow_zero`), else a `UsageError`
    naming `option`; None passes (an option left at its default)."""
    if value is None:
        return value
    check(isinstance(value, int) and not isinstance(value, bool), f"{option} must be a whole number, got {value!r}")
    ok = value >= 0 if allow_zero else value > 0
    check(ok, f"{option} must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value
