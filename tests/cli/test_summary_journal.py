"""Summary accounting and rendering; the resume journal and crash recovery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessions_cli.fetch.journal import DoneSet, Journal, input_key, recover, request_key
from sessions_cli.fetch.summary import LatencyHistogram, Summary, render_histogram, render_summary


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _record(
    status: int | None, ms: float | None = None, kind: str | None = None, cache: bool = False
) -> dict:
    return {
        "status": status,
        "ok": status is not None and status < 400,
        "elapsed_ms": ms,
        "bytes": 10,
        "from_cache": cache,
        "error": {"kind": kind, "message": "m"} if kind else None,
    }


def test_histogram_percentiles_within_one_percent() -> None:
    histogram = LatencyHistogram()
    for value in range(1, 1001):
        histogram.add(float(value))
    stats = histogram.stats()
    assert stats["min"] == 1.0
    assert stats["max"] == 1000.0
    assert stats["mean"] == pytest.approx(500.5)
    for name, expected in (("p50", 500), ("p90", 900), ("p99", 990)):
        assert stats[name] == pytest.approx(expected, rel=0.011)
    assert sum(n for _, n in histogram.bins(8)) == 1000
    assert LatencyHistogram().stats()["p50"] is None


def test_histogram_memory_is_bounded() -> None:
    histogram = LatencyHistogram()
    for n in range(200_000):
        histogram.add(1 + (n % 5000) / 10)
    assert len(histogram.buckets) < 700


def test_summary_counts_and_json() -> None:
    clock = Clock()
    summary = Summary(clock=clock)
    summary.add(_record(200, 10.0))
    summary.add(_record(200, 20.0, cache=True))
    summary.add(_record(404, 30.0), failed_status=True)
    summary.add(_record(None, kind="timeout"))
    summary.add(_record(None, kind="input"))
    summary.add_wait("a.test", 1.5)
    summary.add_wait("a.test", 0.5)
    clock.now += 2.0
    summary.finish()
    data = summary.to_dict()
    assert data["total"] == 5
    assert data["responses"] == 3
    assert data["ok"] == 2
    assert data["success_ratio"] == 0.4
    assert data["rate_per_s"] == 2.5
    assert data["status_codes"] == {"200": 2, "404": 1}
    assert data["errors"] == {"timeout": 1, "input": 1}
    assert data["cache_hit_ratio"] == pytest.approx(0.3333, abs=1e-4)
    assert data["limiter_wait_s"] == {"a.test": 2.0}
    assert data["failed_status"] == 1
    assert data["bytes"] == 50
    json.dumps(data)
    text = "\n".join(render_summary(data))
    assert "Requests   5 in 2.00s (2.5/s), success 40.0%" in text
    assert "200: 2, 404: 1" in text
    assert "timeout: 1" in text
    assert "a.test: 2.00s" in text
    assert "Histogram" in text
    assert "█" in text


def test_render_histogram_scales_bars() -> None:
    lines = render_histogram([(1.0, 10), (2.0, 5), (4.0, 0)], width=10)
    assert lines[0].count("█") == 10
    assert lines[1].count("█") == 5
    assert "█" not in lines[2]


def test_request_key_depends_on_method_url_params_body_only() -> None:
    base = request_key("GET", "http://a.test/")
    assert base == request_key("get", "http://a.test/")
    assert base != request_key("POST", "http://a.test/")
    assert request_key("POST", "http://a.test/", json_body={"a": 1, "b": 2}) == request_key(
        "POST", "http://a.test/", json_body={"b": 2, "a": 1}
    )
    assert request_key("POST", "http://a.test/", data={"a": 1}) != request_key(
        "POST", "http://a.test/", data="a=2"
    )
    assert request_key("GET", "http://a.test/", params={"q": 1}) != base
    assert len(base) == 16
    assert input_key("x") != input_key("y")


def test_done_set_consumes_duplicates() -> None:
    done = DoneSet(
        [request_key("GET", "http://a/"), request_key("GET", "http://a/"), request_key("GET", "http://b/")]
    )
    assert len(done) == 3
    key = request_key("GET", "http://a/")
    assert done.take(key)
    assert done.take(key)
    assert not done.take(key)
    assert not done.take(request_key("GET", "http://c/"))


def test_recover_cuts_unjournaled_and_torn_output(tmp_path: Path) -> None:
    output, journal_path = tmp_path / "out.jsonl", tmp_path / "out.jsonl.journal"
    output.write_bytes(b'{"i":0}\n{"i":1}\n{"i":2}\n{"i":3')  # record 2 unjournaled, record 3 torn
    journal = Journal(journal_path, append=False)
    journal.add("00000000000000aa", 8)
    journal.add("00000000000000bb", 16)
    journal.close()
    with journal_path.open("ab") as handle:
        handle.write(b"00000000000000cc 2")  # torn journal line
    recovery = recover(journal_path, output)
    assert output.read_bytes() == b'{"i":0}\n{"i":1}\n'
    assert journal_path.read_bytes().endswith(b"16 -1\n")
    assert recovery.output_offset == 16
    assert len(recovery.done) == 2
    assert recovery.done.take("00000000000000aa")
    assert not recovery.done.take("00000000000000cc")


def test_recover_without_journal_starts_over(tmp_path: Path) -> None:
    output = tmp_path / "out.jsonl"
    output.write_bytes(b"stale\n")
    recovery = recover(tmp_path / "missing.journal", output)
    assert len(recovery.done) == 0
    assert output.read_bytes() == b""


def test_recover_cuts_save_index(tmp_path: Path) -> None:
    journal_path, index = tmp_path / "j", tmp_path / "index.jsonl"
    index.write_bytes(b"a\nb\nc\n")
    journal = Journal(journal_path, append=False)
    journal.add("00000000000000aa", 0, 2)
    journal.close()
    recover(journal_path, None, index)
    assert index.read_bytes() == b"a\n"
