"""Records, writers (JSONL/CSV/table), --save-dir names and index."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from sessions_cli.fetch.output import (
    CSV_COLUMNS,
    BodySaver,
    CsvWriter,
    JsonlWriter,
    TableWriter,
    Target,
    body_filename,
)
from sessions_cli.fetch.records import (
    RECORD_FIELDS,
    error_kind,
    exception_record,
    input_error_record,
    merge_callback_results,
    response_record,
)


def _response(status: int = 200, body: bytes = b"hello") -> httpx.Response:
    response = httpx.Response(status, content=body, request=httpx.Request("GET", "http://a.test/"))
    response.elapsed = timedelta(milliseconds=12.5)
    return response


def test_response_record_shape() -> None:
    record = response_record(3, "http://a.test/", "GET", _response(404), meta={"id": 1})
    assert tuple(record)[: len(RECORD_FIELDS)] == RECORD_FIELDS
    assert record["status"] == 404
    assert record["ok"] is False
    assert record["elapsed_ms"] == 12.5
    assert record["bytes"] == 5
    assert record["from_cache"] is False
    assert record["attempts"] == 1
    assert record["error"] is None
    assert record["meta"] == {"id": 1}


def test_error_kinds() -> None:
    request = httpx.Request("GET", "http://a.test/")
    assert error_kind(httpx.ConnectTimeout("x", request=request)) == "timeout"
    assert error_kind(httpx.ConnectError("x", request=request)) == "connect"
    assert error_kind(httpx.RemoteProtocolError("x", request=request)) == "protocol"
    assert error_kind(httpx.TooManyRedirects("x", request=request)) == "redirects"
    assert error_kind(ConnectionRefusedError()) == "connect"
    assert error_kind(KeyError("x")) == "key_error"
    record = exception_record(
        1, "http://a.test/", "GET", httpx.ReadTimeout("slow", request=request), attempts=3
    )
    assert record["status"] is None
    assert record["ok"] is False
    assert record["attempts"] == 3
    assert record["error"] == {"kind": "timeout", "message": "slow"}
    bad = input_error_record(2, "garbage", "line 3: not a URL")
    assert bad["error"]["kind"] == "input"
    assert bad["url"] == "garbage"


def test_callback_results_never_overwrite_core_fields() -> None:
    record = response_record(0, "http://a.test/", "GET", _response())
    merge_callback_results(record, {"status": "mine", "title": "x"})
    assert record["status"] == 200
    assert record["callback_status"] == "mine"
    assert record["title"] == "x"


def test_jsonl_writer_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    writer = JsonlWriter(Target.open_file(path, append=False))
    writer.write({"index": 0, "url": "http://a.test/é"})
    offset = writer.target.offset
    writer.close()
    assert offset == path.stat().st_size
    writer = JsonlWriter(Target.open_file(path, append=True))
    assert writer.target.offset == offset
    writer.write({"index": 1, "raw": b"bytes"})
    writer.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["index"] for line in lines] == [0, 1]
    assert "é" in lines[0]


def test_csv_writer_header_once_and_extra_column(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    record = response_record(0, "http://a.test/", "GET", _response())
    record["title"] = "t"
    writer = CsvWriter(Target.open_file(path, append=False))
    writer.write(record)
    writer.close()
    writer = CsvWriter(Target.open_file(path, append=True))
    writer.write(exception_record(1, "http://b.test/", "GET", TimeoutError("t/o")))
    writer.close()
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["status"] == "200"
    assert json.loads(rows[0]["extra"]) == {"title": "t"}
    assert rows[1]["status"] == ""
    assert rows[1]["error_kind"] == "timeout"


def test_table_writer_escapes_and_marks_errors() -> None:
    lines: list[str] = []
    writer = TableWriter(lines.append, color=False)
    writer.write(exception_record(0, "http://a.test/[x]", "GET", TimeoutError("boom")))
    assert "URL" in lines[0]
    assert "ERR" in lines[1]
    assert "timeout: boom" in lines[1]
    assert "\\[x]" in lines[1]


def test_body_filename_is_readable_and_collision_free() -> None:
    a = body_filename("get", "https://api.test:8443/v1/users?id=1", "k1", "application/json; charset=utf-8")
    b = body_filename("get", "https://api.test:8443/v1/users?id=2", "k2", "application/json")
    assert a.startswith("https_GET_api.test_8443_v1-users_")
    assert a.endswith(".json")
    assert a != b
    assert body_filename("GET", "http://h.test/", "k", None).endswith(".bin")
    assert "_root_" in body_filename("GET", "http://h.test/", "k", "text/html")


def test_body_saver_writes_files_and_index(tmp_path: Path) -> None:
    saver = BodySaver(tmp_path / "bodies")
    record: dict[str, Any] = {"index": 4, "url": "http://h.test/a", "method": "GET", "status": 200}
    name = saver.save(record, "key", b"payload", "text/plain")
    saver.close()
    assert (tmp_path / "bodies" / name).read_bytes() == b"payload"
    entry = json.loads((tmp_path / "bodies" / "index.jsonl").read_text())
    assert entry == {**record, "file": name}
    assert not list((tmp_path / "bodies").glob(".*.part"))


def test_target_on_stream() -> None:
    buffer = io.BytesIO()
    target = Target(buffer)
    target.write(b"abc\n")
    target.close()
    assert buffer.getvalue() == b"abc\n"
    assert target.offset == 4
    assert not buffer.closed


def test_effective_spec_applies_global_flags() -> None:
    from sessions_cli.config import resolve
    from sessions_cli.fetch.inputs import RequestSpec
    from sessions_cli.fetch.plan import RunFlags, build_plan
    from sessions_cli.fetch.runner import effective_spec

    def plan(**flags: Any) -> Any:
        values = resolve({}, env={}, cwd=Path("/nonexistent"), user_dir=Path("/nonexistent"))
        return build_plan(values, RunFlags(urls=("http://a.test/",), **flags))

    plain = RequestSpec(url="http://a.test/")
    assert effective_spec(plain, plan()) is plain
    assert effective_spec(RequestSpec(url="http://a.test/", json={"a": 1}), plan()).method == "POST"
    assert effective_spec(plain, plan(method="put")).method == "PUT"
    posted = effective_spec(plain, plan(json_body='{"k": 1}'))
    assert (posted.method, posted.json) == ("POST", {"k": 1})
    own = effective_spec(
        RequestSpec(url="http://a.test/", method="PATCH", data="x"), plan(data="y", method="PUT")
    )
    assert (own.method, own.data) == ("PATCH", "x")
    assert plain.to_engine() == "http://a.test/"


def test_limiter_wait_meter_counts_delays_per_scope() -> None:
    from types import SimpleNamespace

    from sessions_cli.fetch.session import LimiterWaitMeter

    class Limiter:
        def __init__(self) -> None:
            pass

        def _ratelimit_granted(self, key: str, decision: Any) -> Any:
            return decision

    class Metered(LimiterWaitMeter, Limiter):
        pass

    session = Metered()
    session.clock = lambda: 0.0
    for delay in (0.0, 0.5, 0.25):  # no delay is no wait; the others overlap from t = 0
        session._ratelimit_granted("Session:api.test", SimpleNamespace(delay=delay))
    session._ratelimit_granted("Session:other.test", SimpleNamespace(delay=1.0))
    assert session.limiter_busy == {"api.test": 0.5, "other.test": 1.0}


def test_the_pool_is_at_least_as_wide_as_the_concurrency() -> None:
    # Narrower, requests beyond the pool would queue for a connection and could end in PoolTimeout.
    from sessions_cli.config import resolve
    from sessions_cli.fetch.plan import RunFlags, build_plan
    from sessions_cli.fetch.session import open_session

    def pool_width(concurrency: int) -> int:
        flags = {"concurrency": concurrency}
        values = resolve(flags, env={}, cwd=Path("/nonexistent"), user_dir=Path("/nonexistent"))
        with open_session(build_plan(values, RunFlags(urls=("http://a.test/",))), asynchronous=False) as s:
            return int(s._engine._limits.max_connections)

    assert pool_width(250) == 250
    assert pool_width(4) == 100  # never narrower than a plain Session's
