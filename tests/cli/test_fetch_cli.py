"""`sessions fetch` in-process (CliRunner) against the embedded httpbin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessions.httpbin import ArrivalLog, LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from tests.cli.conftest import invoke

pytestmark = pytest.mark.usefixtures("isolated")


def _write(path: Path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_version() -> None:
    run = invoke(["--version"])
    assert run.exit_code == 0
    assert run.stdout.startswith("sessions ")


def test_help_shows_examples_and_exit_codes() -> None:
    run = invoke(["fetch", "--help"])
    assert run.exit_code == 0
    text = " ".join(run.stdout.split())
    assert "sessions fetch urls.txt --ratelimit gcra --period 2 --limit 5" in text
    assert "Exit codes: 0" in text
    assert "130 interrupted" in text


def test_exit_code_constants() -> None:
    assert [int(code) for code in ExitCode] == [0, 1, 2, 3, 130]


def test_records_complete_and_malformed_lines_reported(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    urls = [f"{httpbin.url}/get?i={i}" for i in range(6)]
    path = _write(tmp_path / "urls.txt", ["# list", *urls[:3], "not-a-url", "", *urls[3:], "{bad"])
    run = invoke(["fetch", path])
    assert run.exit_code == ExitCode.FAILURES  # two inputs got no HTTP response
    records = sorted(run.records, key=lambda r: r["index"])
    assert [r["index"] for r in records] == list(range(8))
    for record in records:
        assert set(record) >= {"index", "url", "method", "status", "ok", "elapsed_ms", "bytes",
                               "from_cache", "attempts", "error"}  # fmt: skip
    good = [r for r in records if r["status"] == 200]
    assert sorted(r["url"] for r in good) == sorted(urls)
    assert all(r["ok"] and r["error"] is None and r["bytes"] > 0 and r["attempts"] == 1 for r in good)
    bad = [r for r in records if r["status"] is None]
    assert [r["error"]["kind"] for r in bad] == ["input", "input"]
    assert "line 5" in bad[0]["error"]["message"]
    assert "line 10" in bad[1]["error"]["message"]
    assert "Requests   8" in run.stderr
    assert "input: 2" in run.stderr


def test_all_good_exits_zero_and_stdin_is_read(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q"], input=f"{httpbin.url}/get\n{httpbin.url}/status/404\n")
    assert run.exit_code == 0
    assert sorted(r["status"] for r in run.records) == [200, 404]
    assert run.stderr == ""


def test_transport_error_exits_one(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q", "--retries", "0", "http://127.0.0.1:1/", f"{httpbin.url}/get"])
    assert run.exit_code == ExitCode.FAILURES
    error = next(r for r in run.records if r["status"] is None)
    assert error["error"]["kind"] == "connect"


def test_fail_on_status(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q", f"{httpbin.url}/status/404", "--fail-on-status", "4xx"])
    assert run.exit_code == ExitCode.FAILURES
    assert invoke(["fetch", "-q", f"{httpbin.url}/status/404", "--fail-on-status", "5xx"]).exit_code == 0


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--ratelimit", "gcra", "--limit", "5"], "--period"),
        (["--rate", "five"], "--rate"),
        (["--rate", "5/s", "--limit", "3"], "--rate"),
        (["--resume"], "--resume"),
        (["--timeout", "soon"], "--timeout"),
        (["-H", "broken"], "-H"),
        (["--format", "xml"], "--format"),
        (["--json", "{nope"], "--json"),
        (["--callback", "no_such_module_xyz:f"], "--callback"),
        (["--offline"], "--offline"),
        (["-c", "0"], "--concurrency"),
    ],
)
def test_usage_errors_exit_two_and_name_the_flag(httpbin: LocalHttpbin, args: list[str], flag: str) -> None:
    run = invoke(["fetch", f"{httpbin.url}/get", *args])
    assert run.exit_code == ExitCode.USAGE
    assert flag in run.stderr
    assert run.stdout == ""


def test_unreadable_input_exits_three(tmp_path: Path) -> None:
    run = invoke(["fetch", "-i", str(tmp_path / "missing.txt")])
    assert run.exit_code == ExitCode.INPUT
    assert "cannot read" in run.stderr


def test_jsonl_input_with_bodies_and_meta(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    lines = [
        json.dumps({"url": f"{httpbin.url}/post", "method": "POST", "json": {"a": 1}, "meta": {"id": 7}}),
        json.dumps({"url": f"{httpbin.url}/get", "params": {"q": "x"}, "headers": {"X-Test": "yes"}}),
    ]
    path = _write(tmp_path / "in.jsonl", lines)
    callback = tmp_path / "cb.py"
    callback.write_text(
        "def echo(response):\n"
        "    body = response.json()\n"
        "    return {'echo_json': body.get('json'), 'echo_args': body.get('args'),\n"
        "            'x_test': body.get('headers', {}).get('X-Test')}\n"
        "async def boom(response):\n"
        "    raise ValueError('nope')\n",
        encoding="utf-8",
    )
    run = invoke(
        ["fetch", "-i", path, "--callback", f"{callback}:echo", "--callback", f"{callback}:boom", "-q"]
    )
    assert run.exit_code == 0, run.stderr
    post, get = sorted(run.records, key=lambda r: r["index"])
    assert post["method"] == "POST"
    assert post["echo_json"] == {"a": 1}
    assert post["meta"] == {"id": 7}
    assert get["echo_args"] == {"q": "x"}
    assert get["x_test"] == "yes"
    assert post["callback_errors"] == [
        {"callback": f"{callback}:boom", "kind": "value_error", "message": "nope"}
    ]


def test_global_request_flags(httpbin: LocalHttpbin) -> None:
    args = ["-H", "X-A: 1", "--params", "p=2", "--json", '{"k": 3}', "--callback", "tests.cli.callbacks:echo"]
    run = invoke(["fetch", "-q", f"{httpbin.url}/anything", *args])
    assert run.exit_code == 0, run.stderr
    (record,) = run.records
    assert record["method"] == "POST"
    assert record["echo"]["headers"]["X-A"] == "1"
    assert record["echo"]["args"] == {"p": "2"}
    assert record["echo"]["json"] == {"k": 3}


def test_csv_output_and_file_and_summary_json(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    out, summary = tmp_path / "out.csv", tmp_path / "summary.json"
    run = invoke(["fetch", f"{httpbin.url}/get", f"{httpbin.url}/status/500", "-o", str(out),
                  "--summary-json", str(summary), "--retries", "0"])  # fmt: skip
    assert run.exit_code == 0
    assert run.stdout == ""
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("index,url,method,status,ok,elapsed_ms,bytes,from_cache,attempts,error_kind")
    assert len(lines) == 3
    data = json.loads(summary.read_text(encoding="utf-8"))
    assert data["total"] == 2
    assert data["status_codes"] == {"200": 1, "500": 1}
    assert set(data["latency_ms"]) == {"min", "mean", "p50", "p90", "p99", "max"}


def test_save_dir(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    bodies = tmp_path / "bodies"
    run = invoke(
        ["fetch", "-q", f"{httpbin.url}/get?a=1", f"{httpbin.url}/get?a=2", "--save-dir", str(bodies)]
    )
    assert run.exit_code == 0
    index = [json.loads(line) for line in (bodies / "index.jsonl").read_text().splitlines()]
    assert len(index) == 2
    assert len({entry["file"] for entry in index}) == 2
    for record in run.records:
        saved = json.loads((bodies / record["file"]).read_text())
        assert saved["url"].endswith(record["url"][-3:])
        assert record["file"].startswith("http_GET_127.0.0.1_")
        assert record["file"].endswith(".json")


def test_retry_after_is_waited_out(httpbin: LocalHttpbin, httpbin_log: ArrivalLog) -> None:
    url = f"{httpbin.url}/retry-after/1?seconds=1&key=cli-retry"
    run = invoke(["fetch", "-q", url, "--retries", "2"])
    assert run.exit_code == 0
    (record,) = run.records
    assert record["status"] == 200
    assert record["attempts"] == 2
    times = httpbin_log.times(path="/retry-after/1")
    assert len(times) == 2
    assert times[1] - times[0] >= 0.95


def test_dry_run_estimates_from_the_rate(httpbin: LocalHttpbin, httpbin_log: ArrivalLog) -> None:
    urls = [f"{httpbin.url}/get?i={i}" for i in range(25)]
    run = invoke(["fetch", "--dry-run", "--rate", "5/2s", *urls])
    assert run.exit_code == 0
    assert run.stdout.splitlines()[0] == f"GET {urls[0]}"
    assert "25 requests planned" in run.stderr
    assert "at least 9.6s" in run.stderr
    assert httpbin_log.count() == 0


def test_resume_skips_done_inputs(httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = [f"{httpbin.url}/get?i={i}" for i in range(5)]
    path = _write(tmp_path / "urls.txt", [*first, "bogus"])
    assert invoke(["fetch", "-q", path, "-o", str(out)]).exit_code == 1
    more = [f"{httpbin.url}/get?i={i}" for i in range(5, 8)]
    _write(tmp_path / "urls.txt", [*reversed(first), "bogus", *more])
    httpbin_log.clear()
    run = invoke(["fetch", path, "-o", str(out), "--resume"])
    assert httpbin_log.count(path="/get") == 3  # only the new inputs went upstream
    assert "4 skipped" in run.stderr or "6 skipped" in run.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["url"] for r in records if r["status"]) == sorted(first + more)
    assert sum(r["error"] is not None for r in records) == 1  # the malformed line is not repeated


def test_table_is_not_used_when_piped(httpbin: LocalHttpbin) -> None:
    run = invoke(["fetch", "-q", f"{httpbin.url}/get"])
    assert run.stdout.startswith("{")
