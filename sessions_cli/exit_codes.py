"""Process exit codes of the `sessions` CLI (documented in `--help` and the README)."""

from __future__ import annotations

from enum import IntEnum

__all__ = ["EXIT_CODES_HELP", "ExitCode"]


class ExitCode(IntEnum):
    """What a `sessions` process exit status means."""

    OK = 0
    """Every request got an HTTP response (and none matched `--fail-on-status`)."""
    FAILURES = 1
    """One or more inputs got no response (a transport error after retries, or a malformed line), or a
    `--fail-on-status` match."""
    USAGE = 2
    """Bad flags or contradictory options (the message names the flag)."""
    INPUT = 3
    """The input file could not be read."""
    INTERRUPTED = 130
    """Ctrl-C / SIGTERM: finished records were flushed and the journal written."""


EXIT_CODES_HELP = (
    "Exit codes: 0 every request got an HTTP response; 1 transport errors after retries "
    "(or --fail-on-status matched); 2 usage error; 3 unreadable input; 130 interrupted."
)
