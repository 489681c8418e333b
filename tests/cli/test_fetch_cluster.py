"""`sessions fetch --cluster`: the same records as a local run, and every pre-flight refusal as exit 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from sessions.distributed import parse_cluster
from sessions.httpbin import LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.cluster import check_shared_state
from sessions_cli.fetch.options import UsageError
from sessions_cli.fetch.plan import FetchPlan
from tests.cli.conftest import invoke

pytestmark = pytest.mark.usefixtures("isolated")


def _inputs(httpbin: LocalHttpbin, path: Path) -> str:
    rows = [{"url": f"{httpbin.url}/get?i={i}", "meta": {"row": i}} for i in range(25)]
    rows.insert(7, {"url": f"{httpbin.url}/status/404"})
    rows.insert(11, {"url": f"{httpbin.url}/post", "method": "POST", "json": {"a": 1}})
    lines = [json.dumps(row) for row in rows]
    lines.insert(3, '{"url": 5}')  # malformed
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _comparable(text: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in text.splitlines()]
    for record in records:
        record.pop("elapsed_ms")
    return sorted(records, key=lambda r: r["index"])


def test_a_cluster_run_writes_the_records_of_a_local_run(
    dask_client: Any, httpbin: LocalHttpbin, tmp_path: Path
) -> None:
    source = _inputs(httpbin, tmp_path / "in.jsonl")
    local = invoke(["fetch", source, "-o", str(tmp_path / "local.jsonl"), "--summary-json", "l.json"])
    cluster = invoke(
        ["fetch", source, "-o", str(tmp_path / "cluster.jsonl"), "--summary-json", "c.json",
         "--cluster", dask_client.scheduler.address, "--partition-size", "4"]
    )  # fmt: skip
    assert cluster.exit_code == local.exit_code == ExitCode.FAILURES  # the malformed line
    records = _comparable((tmp_path / "cluster.jsonl").read_text())
    assert records == _comparable((tmp_path / "local.jsonl").read_text())
    assert [r["index"] for r in records] == list(range(28))
    summary = json.loads(Path("c.json").read_text())
    assert (summary["total"], summary["workers"], summary["resent"]) == (28, 2, 0)
    assert "Cluster    2 workers, 0 re-sent" in cluster.stderr


def test_local_cluster_uploads_a_callback_file_and_saves_bodies(
    httpbin: LocalHttpbin, tmp_path: Path
) -> None:
    Path("mycb.py").write_text("def origin(response):\n    return {'seen': response.json()['args']['i']}\n")
    urls = [f"{httpbin.url}/get?i={i}" for i in range(6)]
    run = invoke(
        ["fetch", *urls, "--cluster", "local:2", "--callback", "mycb:origin", "--save-dir", "bodies"]
    )
    assert run.exit_code == ExitCode.OK, run.stderr
    records = sorted(run.records, key=lambda r: r["index"])
    assert [r["seen"] for r in records] == [str(i) for i in range(6)]
    saved = sorted(Path("bodies").glob("*.json"))
    assert len(saved) == 6
    index = [json.loads(line) for line in Path("bodies/index.jsonl").read_text().splitlines()]
    assert sorted(entry["file"] for entry in index) == sorted(r["file"] for r in records)


def test_without_distributed_the_flag_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    run = invoke(["fetch", "http://127.0.0.1:9/x", "--cluster", "local:2"])
    assert run.exit_code == ExitCode.USAGE
    assert "pip install 'sessions[dask]'" in run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cluster", "sched:8786"], "--cluster: expected local, local:N or a scheduler address"),
        (["--cluster", "local:0"], "--cluster: local:N needs N ≥ 1"),
        (["--limit-scope", "worker"], "--limit-scope: needs --cluster"),
        (["--resend-unsafe"], "--resend-unsafe: needs --cluster"),
        (["--cluster", "local", "--limit-scope", "host"], "--limit-scope: expected global or worker"),
        (["--cluster", "local", "--partition-size", "0"], "--partition-size: must be at least 1"),
        (["--cluster", "tcp://10.9.9.9:8786", "--rate", "5/s"], "a memory limiter is per process"),
        (
            ["--cluster", "tcp://10.9.9.9:8786", "--rate", "5/s", "--backend", "sqlite"],
            "a sqlite limiter is per host",
        ),
        (["--cluster", "local:2", "--rate", "5/s", "--backend", "redis"], "--redis-url: a limit shared"),
        (["--cluster", "tcp://10.9.9.9:8786", "--cache", "sqlite"], "a sqlite cache is per host"),
    ],
)
def test_refusals_before_any_request(flags: list[str], expected: str) -> None:
    run = invoke(["fetch", "http://127.0.0.1:9/x", "-o", "out.jsonl", *flags])
    assert run.exit_code == ExitCode.USAGE
    assert expected in " ".join(run.stderr.split())
    assert not Path("out.jsonl").exists()


def test_a_shared_limiter_names_every_server_backend() -> None:
    run = invoke(["fetch", "http://127.0.0.1:9/x", "--cluster", "tcp://10.9.9.9:8786", "--rate", "5/s"])
    message = " ".join(run.stderr.split())
    for server in ("redis://HOST:6379", "postgresql://HOST/DB", "mysql://HOST/DB", "--limit-scope worker"):
        assert server in message


def _plan(ratelimit: dict[str, Any] | None, cache: dict[str, Any] | None, scope: str = "global") -> FetchPlan:
    from dataclasses import fields

    defaults: dict[str, Any] = {f.name: None for f in fields(FetchPlan) if f.name != "settings"}
    return FetchPlan(**{**defaults, "ratelimit": ratelimit, "cache": cache, "limit_scope": scope})


@pytest.mark.parametrize(
    ("cluster", "ratelimit", "cache", "scope"),
    [
        ("local:2", {"backend": "sqlite"}, {"backend": "sqlite"}, "global"),  # one host: one SQLite file
        ("tcp://h:8786", {"backend": "memory"}, None, "worker"),  # a limit per worker, on purpose
        (
            "tcp://h:8786",
            {"backend": "redis", "url": "redis://r:6379"},
            {"backend": "redis", "url": "redis://r"},
            "global",
        ),
        (
            "tcp://h:8786",
            {"backend": "sql", "db": "postgresql://pg/test"},
            {"backend": "sql", "db": "mysql://my/test"},
            "global",
        ),
    ],
)
def test_shared_state_that_is_accepted(
    cluster: str, ratelimit: dict[str, Any], cache: dict[str, Any] | None, scope: str
) -> None:
    check_shared_state(_plan(ratelimit, cache, scope), parse_cluster(cluster))


def test_sql_with_a_file_path_is_sqlite_and_per_host() -> None:
    with pytest.raises(UsageError, match="a sqlite limiter is per host"):
        check_shared_state(_plan({"backend": "sql", "db": "l.db"}, None), parse_cluster("tcp://h:8786"))


def test_a_memory_cache_is_refused_even_locally() -> None:
    with pytest.raises(UsageError, match="memory cache is per process"):
        check_shared_state(_plan(None, {"backend": "memory"}), parse_cluster("local:2"))


def _broken_worker_session(plan: FetchPlan) -> Any:
    raise RuntimeError("no route to the cache")


def test_a_failing_cluster_task_is_one_line_and_exit_1(
    dask_client: Any, httpbin: LocalHttpbin, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the workers cannot build their session (here: injected), though the coordinator could
    monkeypatch.setattr("sessions_cli.fetch.cluster.worker_session", _broken_worker_session)
    run = invoke(["fetch", f"{httpbin.url}/get", "--cluster", dask_client.scheduler.address])
    assert run.exit_code == ExitCode.FAILURES
    assert "a cluster task failed, the run stopped: RuntimeError: no route to the cache" in run.stderr
    assert "Traceback" not in run.stderr
