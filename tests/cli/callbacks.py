"""Callbacks used by the CLI tests through `--callback tests.cli.callbacks:NAME`."""

from __future__ import annotations

from typing import Any


def echo(response: Any) -> dict[str, Any]:
    """Put httpbin's echo of the request into the record."""
    return {"echo": response.json()}


def explode(response: Any) -> dict[str, Any]:
    """A callback that always raises."""
    raise ValueError(f"no luck with {response.status_code}")
