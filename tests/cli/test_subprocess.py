"""`sessions` as a real process: exit codes, the design-card rate limit, SIGINT and kill -9 + --resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sessions.httpbin import ArrivalLog, LocalHttpbin
from sessions_cli.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
    env.update(
        PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_CACHE_HOME=str(tmp_path / "cache")
    )
    env["NO_COLOR"] = "1"
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sessions_cli", *args]


def run(
    tmp_path: Path, *args: str, stdin: str | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _cmd(*args),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path),
        timeout=timeout,
    )


def _urls(path: Path, urls: list[str]) -> str:
    path.write_text("\n".join(urls) + "\n", encoding="utf-8")
    return str(path)


def _records(path: Path) -> list[dict]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.decode().splitlines()]


def each_input_once(out: Path, count: int) -> list[dict]:
    """The output's records, checked to hold inputs 0 … count-1 once each (nothing lost, nothing doubled)."""
    records = _records(out)
    counts = Counter(record["index"] for record in records)
    assert sorted(counts) == list(range(count)), "lost records"
    assert max(counts.values()) == 1, "duplicated records"
    return records


def test_import_is_light() -> None:
    heavy = "('httpx', 'aiohttp', 'sessions')"
    code = f"import sys, sessions_cli.app; print(sorted(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_exit_codes_and_streams(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    ok = run(tmp_path, "fetch", f"{httpbin.url}/get")
    assert ok.returncode == ExitCode.OK
    assert json.loads(ok.stdout)["status"] == 200
    assert "Requests   1" in ok.stderr
    assert run(tmp_path, "--version").stdout.startswith("sessions ")
    assert run(tmp_path, "fetch", "-i", "missing.txt").returncode == ExitCode.INPUT
    usage = run(tmp_path, "fetch", f"{httpbin.url}/get", "--ratelimit", "gcra", "--limit", "5")
    assert usage.returncode == ExitCode.USAGE
    assert "--period" in usage.stderr
    assert run(tmp_path, "fetch", "--bogus-flag").returncode == ExitCode.USAGE
    piped = run(tmp_path, "fetch", "--retries", "0", stdin=f"{httpbin.url}/get\nhttp://127.0.0.1:1/\n")
    assert piped.returncode == ExitCode.FAILURES
    assert sorted(str(json.loads(line)["status"]) for line in piped.stdout.splitlines()) == ["200", "None"]


def _has_ratelimit() -> bool:
    import importlib

    import sessions

    if hasattr(sessions, "RatelimitMixin"):
        return True
    try:
        return hasattr(importlib.import_module("sessions.ratelimit"), "RatelimitMixin")
    except ImportError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not _has_ratelimit(), reason="RatelimitMixin has not landed in sessions yet")
def test_design_card_command_holds_its_limit(
    httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path
) -> None:
    urls = _urls(tmp_path / "urls.txt", [f"{httpbin.url}/get?i={i}" for i in range(12)])
    started = time.monotonic()
    result = run(tmp_path, "fetch", urls, "--ratelimit", "gcra", "--period", "2", "--limit", "5")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 12
    assert httpbin_log.count(path="/get") == 12
    assert httpbin_log.max_in_window(1.99, path="/get") <= 5  # server-side count per 2 s window
    assert elapsed >= (12 - 5) * 2 / 5 * 0.95


def _wait_for_lines(path: Path, count: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_bytes().count(b"\n") >= count:
            return
        assert process.poll() is None, "finished before it could be interrupted"
        time.sleep(0.02)
    raise AssertionError(f"{path} never reached {count} lines")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_interrupt_then_resume_loses_and_duplicates_nothing(
    httpbin: LocalHttpbin, tmp_path: Path, sig: signal.Signals
) -> None:
    total = 40
    urls = [f"{httpbin.url}/delay/0.15?i={i}" for i in range(total)] + ["not a url"]
    path = _urls(tmp_path / "urls.txt", urls)
    out = tmp_path / "out.jsonl"
    args = ["fetch", path, "-o", str(out), "-c", "4", "-q"]
    process = subprocess.Popen(_cmd(*args), cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE)
    _wait_for_lines(out, 8, process)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    if sig == signal.SIGINT:
        assert process.returncode == ExitCode.INTERRUPTED, stderr
    else:
        assert process.returncode == -signal.SIGKILL
    done_before = len(_records(out)) if out.read_bytes().endswith(b"\n") else None
    assert done_before is None or done_before < total + 1

    resumed = run(tmp_path, *args, "--resume")
    assert resumed.returncode == ExitCode.FAILURES, resumed.stderr  # the malformed line
    records = each_input_once(out, total + 1)
    assert all(r["status"] == 200 for r in records if r["index"] < total)
