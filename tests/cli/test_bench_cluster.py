"""`sessions bench --throughput --cluster`: a row across a Dask cluster beside the local rows; refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from sessions.httpbin import ArrivalLog, LocalHttpbin
from sessions_cli.bench import register
from sessions_cli.bench.report import validate_report


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_a_throughput_row_across_the_cluster(
    app: typer.Typer, dask_client: Any, httpbin: LocalHttpbin, httpbin_log: ArrivalLog, tmp_path: Path
) -> None:
    report = tmp_path / "report.json"
    path = "/anything/bench-cluster"
    args = ["bench", "--throughput", "-n", "120", "-c", "4", "--modes", "async", "--url",
            f"{httpbin.url}{path}", "--cluster", dask_client.scheduler.address,
            "--json", str(report)]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert validate_report(data) == []
    local, cluster = data["throughput"]
    assert (local["mode"], local["workers"]) == ("async", 1)
    assert cluster["mode"] == f"cluster {dask_client.scheduler.address}"
    assert (cluster["workers"], cluster["requests"], cluster["errors"]) == (2, 120, 0)
    assert cluster["latency_p50_ms"] is not None
    assert httpbin_log.count(path=path) == 240  # both rows really sent their requests


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--cluster", "local:2"], "add --throughput"),
        (["--throughput", "--cluster", "sched:8786"], "expected local, local:N or a scheduler address"),
        (["--throughput", "--cluster", "tcp://10.9.9.9:8786"], "pass --url http://HOST:PORT"),
    ],
)
def test_refusals(app: typer.Typer, flags: list[str], expected: str) -> None:
    result = CliRunner().invoke(app, ["bench", "-n", "10", *flags])
    assert result.exit_code == 2
    assert expected in " ".join(re.sub("[│╭╮╰╯─]", " ", result.output).split())  # out of Rich's error box
