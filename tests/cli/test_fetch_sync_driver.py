"""`run_fetch` with a session factory that returns a sync `Session` (embedding): the sync driver."""

from __future__ import annotations

import io
import json
from pathlib import Path

from rich.console import Console

from sessions.httpbin import LocalHttpbin
from sessions_cli.config import resolve
from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.plan import RunFlags, build_plan
from sessions_cli.fetch.runner import run_fetch
from sessions_cli.fetch.session import open_session


def test_a_sync_session_from_a_factory_writes_every_record_in_place(
    httpbin: LocalHttpbin, tmp_path: Path
) -> None:
    urls = tmp_path / "urls.txt"
    lines = [f"{httpbin.url}/get?i={i}" for i in range(30)]
    lines.insert(10, "not a url at all")  # one bad line never sinks the batch
    lines.insert(20, f"{httpbin.url}/status/404")
    urls.write_text("\n".join(lines) + "\n", encoding="utf-8")
    values = resolve({"concurrency": 4}, env={}, cwd=tmp_path, user_dir=tmp_path / "none")
    plan = build_plan(values, RunFlags(inputs=(str(urls),), quiet=True))
    stdout, stderr = io.BytesIO(), io.StringIO()
    opened: list[object] = []

    def sync_factory(p: object) -> object:
        session = open_session(p, asynchronous=False)  # type: ignore[arg-type]
        opened.append(session)
        return session

    code = run_fetch(plan, console=Console(file=stderr), stdout=stdout, session_factory=sync_factory)
    records = [json.loads(line) for line in stdout.getvalue().splitlines()]
    assert type(opened[0]).__name__ == "Session"  # the sync driver ran
    assert len(records) == 32
    by_index = {r["index"]: r for r in records}
    assert sorted(by_index) == list(range(32))
    assert by_index[10]["error"]["kind"] == "input"
    assert by_index[10]["status"] is None
    assert by_index[20]["status"] == 404
    assert sum(1 for r in records if r["status"] == 200) == 30
    assert code == ExitCode.FAILURES  # the malformed line got no response (README: exit codes)
    assert opened[0].is_closed  # type: ignore[attr-defined]
