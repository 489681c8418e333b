"""What a new user of the CLI ran into (issue 14, second half), each tried as written."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sessions.httpbin import ArrivalLog, LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.summary import LatencyHistogram, Summary, render_histogram, render_summary
from tests.cli.conftest import invoke

pytestmark = pytest.mark.usefixtures("isolated")


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


# -- 1. a misspelled file name, a binary file ------------------------------------------------


def test_missing_file_argument_is_a_usage_error_before_any_request(
    httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    run = invoke(["fetch", f"{httpbin.url}/get", "urls_missing.txt"])
    assert run.exit_code == ExitCode.USAGE
    assert _one_error_line(run.stderr) == "error: no such file: urls_missing.txt"
    assert run.stdout == ""
    assert len(httpbin_log) == 0


def test_schemeless_host_argument_suggests_a_url() -> None:
    run = invoke(["fetch", "example.com"])
    assert run.exit_code == ExitCode.USAGE
    assert "http://example.com" in _one_error_line(run.stderr)


def test_binary_input_file_is_refused_as_one_line(tmp_path: Path, httpbin_log: ArrivalLog) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(os.urandom(3 * 1024 * 1024))
    for args in (["fetch", str(blob)], ["fetch", "-i", str(blob)]):
        run = invoke(args)
        assert run.exit_code == ExitCode.USAGE
        line = _one_error_line(run.stderr)
        assert line.startswith("error: ")
        assert "not a text URL list" in line
        assert run.stdout == ""
    assert len(httpbin_log) == 0


def test_text_file_with_non_ascii_comment_is_still_read(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_text(f"# liste café\n{httpbin.url}/get\n", encoding="utf-8")
    run = invoke(["fetch", "-q", str(path)])
    assert run.exit_code == ExitCode.OK
    assert [r["status"] for r in run.records] == [200]


# -- 2. every output path is checked before the first request --------------------------------


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--summary-json", "{missing}/summary.json"),
        ("--summary-json", "{dir}"),
        ("--save-dir", "{file}/bodies"),
        ("--journal", "{missing}/run.journal"),
        ("-o", "{missing}/out.jsonl"),
    ],
)
def test_unwritable_output_path_fails_before_any_request(
    flag: str, value: str, httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path
) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("x", encoding="utf-8")
    path = value.format(missing=tmp_path / "no" / "such", dir=tmp_path, file=a_file)
    run = invoke(["fetch", f"{httpbin.url}/get", flag, path])
    assert run.exit_code == ExitCode.USAGE
    line = _one_error_line(run.stderr)
    assert line.startswith(f"error: {flag if flag != '-o' else '--output'}: cannot ")
    assert len(httpbin_log) == 0


def test_summary_json_is_written(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    run = invoke(["fetch", "-q", f"{httpbin.url}/get", "--summary-json", str(target)])
    assert run.exit_code == ExitCode.OK
    assert '"total": 1' in target.read_text(encoding="utf-8")


# -- 8. callback failures count in the Errors row --------------------------------------------


def test_callback_failures_are_counted_in_errors(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    summary = tmp_path / "summary.json"
    urls = [f"{httpbin.url}/get?i={i}" for i in range(3)]
    callback = "tests.cli.callbacks:explode"
    run = invoke(["fetch", *urls, "--callback", callback, "--summary-json", str(summary)])
    assert [len(r["callback_errors"]) for r in run.records] == [1, 1, 1]
    assert "Errors     callback: 3" in run.stderr
    assert json.loads(summary.read_text(encoding="utf-8"))["errors"] == {"callback": 3}


# -- 7. unknown SESSIONS_* variables are warned about, with the closest name -----------------


def test_misspelt_environment_variable_is_warned_about(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q", f"{httpbin.url}/get"], env={"SESSIONS_CONCURENCY": "5"})
    assert run.exit_code == ExitCode.OK  # not fatal
    assert run.stderr.splitlines() == [
        "warning: unknown environment variable SESSIONS_CONCURENCY (did you mean SESSIONS_CONCURRENCY?)"
    ]


def test_variables_the_project_reads_are_not_warned_about(httpbin: LocalHttpbin) -> None:
    env = {"SESSIONS_REQUIRE_REDIS": "1", "SESSIONS_TEST_REDIS_URL": "redis://x", "SESSIONS_RETRIES": "0"}
    run = invoke(["fetch", "-q", f"{httpbin.url}/get"], env=env)
    assert run.exit_code == ExitCode.OK
    assert run.stderr == ""


def test_unknown_config_key_names_the_closest_setting(httpbin: LocalHttpbin) -> None:
    Path("sessions.toml").write_text("concurency = 5\n", encoding="utf-8")
    run = invoke(["fetch", "-q", f"{httpbin.url}/get"])
    assert "unknown setting 'concurency' (did you mean 'concurrency'?)" in _one_error_line(run.stderr)


# -- 4. histogram rows are distinct and readable on runs with cache hits ---------------------


def _histogram_labels(latencies: list[float]) -> list[str]:
    histogram = LatencyHistogram()
    for ms in latencies:
        histogram.add(ms)
    return [" ".join(line.split("│")[0].split()) for line in render_histogram(histogram.bins())]


def test_histogram_with_cache_hits_has_distinct_microsecond_rows() -> None:
    labels = _histogram_labels([0.0] * 40 + [0.02, 0.3, 5.0, 12.0, 48.0])
    assert len(labels) == 8
    assert len(set(labels)) == len(labels), labels
    assert "≤ 0.0ms" not in labels
    assert labels[0].endswith("µs")
    assert labels[-1] == "≤ 48.0ms"


def test_histogram_of_a_narrow_range_adds_decimals_until_distinct() -> None:
    labels = _histogram_labels([10.0, 10.01, 10.02, 10.05])
    assert len(set(labels)) == len(labels), labels


# -- 6. a timed-out request that was retried says how many attempts it took -------------------


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A loopback server that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                accepted.append(listener.accept()[0])

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/never"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize(("retries", "attempts"), [(0, 1), (1, 2)])
def test_timeout_retries_are_counted_in_attempts(silent_server: str, retries: int, attempts: int) -> None:
    run = invoke(["fetch", "-q", silent_server, "--retries", str(retries), "--timeout", "150ms"])
    assert run.exit_code == ExitCode.FAILURES
    [record] = run.records
    assert record["error"]["kind"] == "timeout"
    assert record["attempts"] == attempts


# -- 3. the summary's limiter row is wall-clock time, not the sum of every worker's waits -----


def test_overlapping_waits_count_once_in_wall_clock() -> None:
    from types import SimpleNamespace

    from sessions_cli.fetch.session import LimiterWaitMeter

    class Limiter:
        def _ratelimit_granted(self, key: str, decision: Any) -> Any:
            return decision

    class Metered(LimiterWaitMeter, Limiter):
        pass

    now = [0.0]
    session = Metered()
    session.clock = lambda: now[0]
    # ten workers granted at t=0 each told to wait 1..10 s: 55 s of waits, 10 s of wall clock
    for delay in range(1, 11):
        session._ratelimit_granted("Session:api.test", SimpleNamespace(delay=float(delay)))
    now[0] = 20.0  # a later, separate wait
    session._ratelimit_granted("Session:api.test", SimpleNamespace(delay=2.0))
    now[0] = 21.0  # overlapping the previous one
    session._ratelimit_granted("Session:api.test", SimpleNamespace(delay=2.0))
    assert session.limiter_busy == {"api.test": 13.0}
    now[0] = 21.5  # another scope, overlapping the last wait: the progress bar's figure counts it once
    session._ratelimit_granted("Session:other.test", SimpleNamespace(delay=1.0))
    assert session.limiter_busy == {"api.test": 13.0, "other.test": 1.0}
    assert session.limiter_busy_any == 13.0


def test_summary_limited_row_says_wall_clock_and_share_of_run() -> None:
    now = [100.0]
    summary = Summary(clock=lambda: now[0])
    summary.add_wait("127.0.0.1", 15.0)
    now[0] += 20.0
    summary.finish()
    data = summary.to_dict()
    assert data["limiter_wait_s"] == {"127.0.0.1": 15.0}
    assert data["limiter_wait_share"] == {"127.0.0.1": 0.75}
    assert "Limited    127.0.0.1: 15.00s wall clock (75% of the run)" in render_summary(data)


# -- 5. a single-flight follower is reported as coalesced, with the leader's latency ----------


def test_coalesced_followers_report_the_leaders_latency(
    httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    url = f"{httpbin.url}/delay/0.3"
    run = invoke(["fetch", "-q", url, url, url, "-c", "3", "--cache", "memory"])
    assert run.exit_code == ExitCode.OK
    assert len(httpbin_log.select(path="/delay/0.3")) == 1  # one request upstream
    records = sorted(run.records, key=lambda r: r.get("coalesced", False))
    leader, followers = records[0], records[1:]
    assert "coalesced" not in leader
    assert leader["elapsed_ms"] >= 300.0  # the server's own delay, not a timing claim about us
    for record in followers:
        assert record["coalesced"] is True
        assert record["from_cache"] is False
        assert record["elapsed_ms"] == leader["elapsed_ms"]
        assert record["attempts"] == leader["attempts"]
