"""Bad `sessions fetch` flag values: a one-line usage error naming the flag, exit 2, never a traceback.

Each case once crashed with a traceback (exit 1): an unknown input format, fractional request
counts, a proxy or Redis URL the client cannot use, an unreachable Redis, an unusable output path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sessions.httpbin import LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from tests.cli.conftest import Run, invoke

pytestmark = pytest.mark.usefixtures("isolated")

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_REDIS = "redis://127.0.0.1:1"


def _assert_usage_error(run: Run, flag: str) -> None:
    output = run.stdout + run.stderr
    assert run.exit_code == ExitCode.USAGE, output
    assert "Traceback" not in output
    assert flag in run.stderr
    assert run.stdout == ""


def _error_line(run: Run) -> str:
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, run.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--input-format", "yaml"], "--input-format"),
        (["--ratelimit", "gcra", "--limit", "5", "--period", "1s", "--burst", "1.5"], "--burst"),
        (["--ratelimit", "gcra", "--limit", "2.5", "--period", "1s"], "--limit"),
        (["--ratelimit", "slidingwindow", "--limit", "2.5", "--window", "1s"], "--limit"),
        (["--rate", "2.5"], "--rate"),
        (["--rate", "0.5"], "--rate"),
        (["--rate", "1.5/s"], "--rate"),
        (["--ratelimit", "fixedwindow", "--rate", "2.5/m"], "--rate"),
        (["--rate", "inf"], "--rate"),
        (["--ratelimit", "tokenbucket", "--capacity", "nan", "--fill-rate", "1"], "--capacity"),
        (["--ratelimit", "leakybucket", "--capacity", "5", "--leak-rate", "inf"], "--leak-rate"),
        (["--proxy", "notaurl"], "--proxy"),
        (["--proxy", "ftp://127.0.0.1:1"], "--proxy"),
        (["--proxy", "http://"], "--proxy"),
        (["--rate", "5/s", "--backend", "redis", "--redis-url", "bogus://x"], "--redis-url"),
        (["--cache", "redis", "--redis-url", "bogus://x"], "--redis-url"),
        (["--cache", "redis", "--redis-url", UNREACHABLE_REDIS], "--redis-url"),
        (["--rate", "5/s", "--backend", "ftp://127.0.0.1:1/x"], "--backend"),
        (["--cache", "ftp://127.0.0.1:1/x"], "--cache"),
        (["--rate", "5/s", "--backend", "postgresql://127.0.0.1:1/x", "--db", "f.sqlite3"], "--db"),
        (["--rate", "5/s", "--backend", "postgresql://app:pw@127.0.0.1:1/x"], "--backend"),
        (["--cache", "mysql://root@127.0.0.1:1/x"], "--cache"),
    ],
)
def test_bad_flag_value_is_a_usage_error(httpbin: LocalHttpbin, args: list[str], flag: str) -> None:
    _assert_usage_error(invoke(["fetch", "-q", f"{httpbin.url}/get", *args]), flag)


def test_fractional_rate_names_the_flag_and_a_whole_number_equivalent(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", "--rate", "2.5"])
    _assert_usage_error(run, "--rate")
    line = _error_line(run)
    assert line.startswith("error: --rate: ")
    assert "whole number" in line
    assert "5/2s" in line  # what to write instead


def test_fractional_limit_from_the_environment_names_the_flag(httpbin: LocalHttpbin) -> None:
    args = ["fetch", "-q", f"{httpbin.url}/get", "--ratelimit", "gcra", "--period", "1s"]
    run = invoke(args, env={"SESSIONS_LIMIT": "2.5"})
    _assert_usage_error(run, "--limit")
    assert _error_line(run) == "error: --limit: must be a whole number, got 2.5"


def test_help_types_counts_as_integers() -> None:
    run = invoke(["fetch", "--help"])
    lines = {line.split()[1]: line for line in run.stdout.splitlines() if line.startswith("│ --")}
    for flag in ("--limit", "--burst"):
        assert "<int>" in lines[flag], lines[flag]


def test_dry_run_refuses_what_the_run_would_refuse(httpbin: LocalHttpbin) -> None:
    _assert_usage_error(invoke(["fetch", f"{httpbin.url}/get", "--rate", "2.5", "--dry-run"]), "--rate")


def test_unreachable_sql_server_names_the_url_without_its_password(httpbin: LocalHttpbin) -> None:
    url = "postgresql://app:s3cret@127.0.0.1:1/x"
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", "--rate", "5/s", "--backend", url])
    _assert_usage_error(run, "--backend")
    line = _error_line(run)
    assert line.startswith("error: --backend: cannot reach PostgreSQL at postgresql://app:***@127.0.0.1:1/x")
    assert "s3cret" not in run.stderr


def test_unreachable_redis_limiter_prints_the_library_hint_on_one_line(httpbin: LocalHttpbin) -> None:
    args = ["fetch", "-q", f"{httpbin.url}/get", "--rate", "5/s", "--backend", "redis"]
    run = invoke([*args, "--redis-url", UNREACHABLE_REDIS])
    _assert_usage_error(run, "--redis-url")
    line = _error_line(run)
    assert line.startswith("error: --redis-url: cannot reach Redis")
    assert "check that the server runs" in line


def test_an_unusable_backend_leaves_the_previous_output_file_alone(
    httpbin: LocalHttpbin, tmp_path: Path
) -> None:
    """The session is built before `-o` is opened (which truncates it): a bad --redis-url loses nothing."""
    output = tmp_path / "out.jsonl"
    output.write_text("records of the previous run\n")
    args = ["fetch", "-q", f"{httpbin.url}/get", "--rate", "5/s", "--backend", "redis", "-o", str(output)]
    _assert_usage_error(invoke([*args, "--redis-url", UNREACHABLE_REDIS]), "--redis-url")
    assert output.read_text() == "records of the previous run\n"


@pytest.mark.parametrize(
    ("flag", "under_file"),
    [
        ("--save-dir", "sub"),
        ("--output", "out.jsonl"),
        ("--journal", "out.journal"),
        ("--cache-db", "cache.db"),
        ("--db", "limits.db"),
    ],
)
def test_output_path_under_a_regular_file(
    httpbin: LocalHttpbin, tmp_path: Path, flag: str, under_file: str
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory\n")
    extra = {"--cache-db": ["--cache", "sqlite"], "--db": ["--rate", "5/s", "--backend", "sqlite"]}
    args = [*extra.get(flag, []), flag, str(blocker / under_file)]
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", *args])
    _assert_usage_error(run, flag)
    _error_line(run)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_save_dir_that_cannot_be_created(httpbin: LocalHttpbin) -> None:
    _assert_usage_error(invoke(["fetch", "-q", f"{httpbin.url}/get", "--save-dir", "/proc/x"]), "--save-dir")


@pytest.mark.parametrize(
    "args",
    [
        ["--ratelimit", "tokenbucket", "--capacity", "2", "--fill-rate", "0.5"],
        ["--ratelimit", "tokenbucket", "--capacity", "2.5", "--fill-rate", "0.5"],
        ["--ratelimit", "tokenbucket", "--rate", "2.5"],
        ["--ratelimit", "leakybucket", "--capacity", "3", "--leak-rate", "0.5"],
        ["--ratelimit", "gcra", "--limit", "5", "--period", "0.5s", "--burst", "2"],
        ["--ratelimit", "slidingwindow", "--limit", "5", "--window", "0.5"],
        ["--rate", "5/2s"],
        ["--rate", "10/500ms"],
    ],
)
def test_fractional_windows_periods_and_rates_still_work(httpbin: LocalHttpbin, args: list[str]) -> None:
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", *args])
    assert run.exit_code == ExitCode.OK, run.stderr
    assert [record["status"] for record in run.records] == [200]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--input-format", "yaml"], "--input-format"),
        (["--rate", "1.5/s"], "--rate"),
        (["--limit", "2.5", "--ratelimit", "gcra", "--period", "1s"], "--limit"),
        (["--proxy", "notaurl"], "--proxy"),
    ],
)
def test_real_process_exits_two_without_traceback(tmp_path: Path, args: list[str], flag: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
    env.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg"), NO_COLOR="1")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-m", "sessions_cli", "fetch", "-q", "http://127.0.0.1:9/x", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert flag in done.stderr
    assert done.stdout == ""


def test_a_callback_module_in_the_working_directory_is_found(
    httpbin: LocalHttpbin, isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--callback mymod:extract` with mymod.py in the working directory, as the README shows (a console
    script does not put the working directory on sys.path)."""
    (isolated / "mymod_for_sessions_test.py").write_text("def extract(response):\n    return {'n': 1}\n")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", ".", str(isolated))])
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", "--callback", "mymod_for_sessions_test:extract"])
    assert run.exit_code == 0, run.stderr
    assert '"n": 1' in run.stdout or '"n":1' in run.stdout
