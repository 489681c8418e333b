"""`sessions bench`: bounds, a tiny matrix end to end with its JSON validated, compare, throughput."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sessions_cli.bench import register
from sessions_cli.bench.metrics import max_in_window
from sessions_cli.bench.params import ALGORITHMS, bound, default_params, min_duration, random_params
from sessions_cli.bench.report import compare, validate_report

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)
    return app


def test_bounds_follow_the_documented_guarantees() -> None:
    assert bound("slidingwindow", {"limit": 4, "window": 1.0}).count == 4
    assert bound("fixedwindow", {"limit": 4, "window": 1.0}).count == 8
    assert bound("gcra", {"limit": 4, "period": 1.0}).count == 4
    assert bound("gcra", {"limit": 4, "period": 1.0, "burst": 3}).count == 6
    assert bound("tokenbucket", {"capacity": 4, "fill_rate": 4.0}).count == 8


def test_min_durations() -> None:
    assert min_duration("slidingwindow", {"limit": 4, "window": 1.0}, 12) == 2.0
    assert min_duration("fixedwindow", {"limit": 4, "window": 1.0}, 12) == 1.0
    assert min_duration("tokenbucket", {"capacity": 4, "fill_rate": 4.0}, 12) == 2.0
    assert min_duration("gcra", {"limit": 4, "period": 1.0}, 12) == 2.75
    assert min_duration("gcra", {"limit": 4, "period": 1.0}, 1) == 0.0


def test_default_matrix_is_small() -> None:
    total = sum(min_duration(a, default_params(a), 12) for a in ALGORITHMS) * 6  # 3 backends × 2 modes
    assert total < 90


def test_randomized_parameters_stay_within_budget() -> None:
    rng = random.Random(3)
    for algorithm in ALGORITHMS:
        params = random_params(algorithm, rng, 12)
        assert min_duration(algorithm, params, 12) <= 3.0


def test_max_in_window_is_half_open() -> None:
    assert max_in_window([0.0, 0.5, 1.0, 1.5], 1.0) == 2
    assert max_in_window([], 1.0) == 0


def test_tiny_matrix_json_is_valid(app: typer.Typer, tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    args = [
        "bench",
        "--algorithms",
        "gcra,slidingwindow",
        "--backends",
        "memory,sqlite",
        "--modes",
        "sync,async",
    ]
    result = CliRunner().invoke(
        app, [*args, "-n", "5", "--period", "0.5", "--window", "0.5", "--json", str(report_path)]
    )
    assert result.exit_code == 0, result.output
    assert "embedded httpbin" in result.stderr
    report = json.loads(report_path.read_text())
    assert validate_report(report) == []
    assert len(report["cells"]) == 8
    assert report["passed"]
    for cell in report["cells"]:
        assert cell["overshoot"] == 0
        assert cell["counted_on"] == "server"
        assert cell["errors"] == 0
        assert cell["duration_s"] + cell["window_slack_s"] >= cell["expected_min_s"]


def test_validator_rejects_broken_reports() -> None:
    assert validate_report([]) == ["the report must be a JSON object"]
    problems = validate_report({"version": 1, "kind": "limits", "cells": [{"algorithm": "gcra"}]})
    assert any("missing 'overshoot'" in p for p in problems)


def _cell(**changes: object) -> dict[str, object]:
    cell = {"algorithm": "gcra", "backend": "memory", "mode": "sync", "overshoot": 0, "overhead_us": 10.0}
    return {**cell, "latency_p99_ms": 1.0, **changes}


def test_compare_flags_regressions_beyond_noise() -> None:
    baseline = {"kind": "limits", "cells": [_cell()]}
    assert not any(
        c.regressed for c in compare({"kind": "limits", "cells": [_cell(overhead_us=11.0)]}, baseline, 0.25)
    )
    slower = compare({"kind": "limits", "cells": [_cell(overhead_us=20.0)]}, baseline, 0.25)
    assert [c.metric for c in slower if c.regressed] == ["overhead_us"]
    overshoot = compare({"kind": "limits", "cells": [_cell(overshoot=1)]}, baseline, 0.25)
    assert [c.metric for c in overshoot if c.regressed] == ["overshoot"]


def test_compare_exit_code(app: typer.Typer, tmp_path: Path) -> None:
    baseline = tmp_path / "base.json"
    args = ["bench", "--throughput", "-n", "200", "-c", "8", "--modes", "async"]
    assert CliRunner().invoke(app, [*args, "--json", str(baseline)]).exit_code == 0
    data = json.loads(baseline.read_text())
    assert validate_report(data) == []
    data["throughput"][0]["rate_per_s"] *= 100  # a baseline nobody can match
    baseline.write_text(json.dumps(data))
    result = CliRunner().invoke(app, [*args, "--compare", str(baseline)])
    assert result.exit_code == 1
    assert "REGRESSION" in result.stdout


def test_usage_error(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["bench", "--algorithms", "nope"])
    assert result.exit_code == 2


def test_bench_as_subprocess(tmp_path: Path) -> None:
    code = (
        "import sys, typer; from sessions_cli.bench import register; app = typer.Typer(); register(app); "
        "sys.argv = ['sessions', *sys.argv[1:]]; app()"
    )
    out = tmp_path / "r.json"
    done = subprocess.run(
        [sys.executable, "-c", code, "bench", "--algorithms", "tokenbucket", "--backends", "memory",
         "--modes", "async", "-n", "6", "--json", str(out)],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert validate_report(json.loads(out.read_text())) == []
    row = next(line for line in done.stdout.splitlines() if "PASS" in line)
    assert "tokenbucket" in row  # a piped table is not squeezed into ellipses
    assert "capacity=" in row


def test_timed_storage_forgets_the_warm_up() -> None:
    # The warm-up's decisions (imports, a new connection, a script load) must not stretch the cell's window
    # slack (tolerance + slowest decision) nor its mean decision time.
    from sessions.ratelimit import MemoryStorage, Rate
    from sessions_cli.bench.metrics import TimedStorage

    timed = TimedStorage(MemoryStorage())
    params = Rate(5, 1).params("gcra")
    timed.apply("warm", params, 1, "try")
    timed.apply("warm", params, 1, "try")
    timed.reset()
    assert (timed.calls, timed.seconds, timed.slowest) == (0, 0.0, 0.0)
    assert timed.apply("k", params, 1, "try").allowed
    assert timed.calls == 1
    assert 0 < timed.slowest == timed.seconds


@pytest.mark.sql
def test_the_sql_servers_are_bench_backends(app: typer.Typer, tmp_path: Path) -> None:
    from tests.fixtures.sql_servers import sql_run_database

    postgres, mysql = sql_run_database("postgresql"), sql_run_database("mysql")
    report_path = tmp_path / "bench.json"
    args = ["bench", "--algorithms", "gcra", "--backends", "postgres,mysql", "--modes", "sync,async"]
    args += ["--postgres-url", postgres, "--mysql-url", mysql, "-n", "5", "--period", "0.5"]
    result = CliRunner().invoke(app, [*args, "--json", str(report_path)])
    assert result.exit_code == 0, result.output
    report = json.loads(report_path.read_text())
    assert {(c["backend"], c["mode"]) for c in report["cells"]} == {
        ("postgres", "sync"), ("postgres", "async"), ("mysql", "sync"), ("mysql", "async"),
    }  # fmt: skip
    assert report["passed"]
    assert all(cell["overshoot"] == 0 for cell in report["cells"])


def test_a_sql_bench_backend_needs_its_url(app: typer.Typer) -> None:
    result = CliRunner().invoke(app, ["bench", "--backends", "postgres", "-n", "2"])
    assert result.exit_code == 2
    assert "--postgres-url" in result.output
