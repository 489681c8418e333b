"""Shared helpers for CLI tests: an isolated config/cache environment and a CliRunner wrapper."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from sessions_cli.app import app


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory with private config and cache dirs; no SESSIONS_* env."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in list(__import__("os").environ):
        if name.startswith("SESSIONS_"):
            monkeypatch.delenv(name)
    return work


class Run:
    """The result of one CLI invocation: exit code, records (stdout JSONL), stderr text."""

    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    @property
    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]


def invoke(args: Sequence[str], input: str | None = None, env: dict[str, str] | None = None) -> Run:
    """Run `sessions ARGS` in-process with CliRunner."""
    result = CliRunner().invoke(app, list(args), input=input, env=env, catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)
