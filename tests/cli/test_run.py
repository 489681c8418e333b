"""`sessions run` end to end against the embedded httpbin: CliRunner, exit codes, dry run, subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sessions.httpbin import LocalHttpbin
from sessions_cli.run import register

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command("noop", hidden=True)
    def noop() -> None:  # a second command keeps `run` a subcommand
        """Nothing."""

    return app


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def _records(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_run_passes_and_writes_records(app: typer.Typer, httpbin: LocalHttpbin, tmp_path: Path) -> None:
    recipe = _recipe(
        tmp_path,
        """
        vars: {n: 1}
        steps:
          - request: {url: "{{ base }}/get", params: {n: "{{ n }}"}}
            capture: {n_seen: "$.args.n"}
            assert: {status: 200, jsonpath: {"$.args.n": "{{ n }}"}}
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe), "--var", f"base={httpbin.url}", "--var", "n=7"])
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    assert records[0]["status"] == 200
    assert records[0]["captures"] == {"n_seen": "7"}
    assert records[0]["passed"] is True


def test_assertion_failure_exits_4_and_stops(app: typer.Typer, httpbin: LocalHttpbin, tmp_path: Path) -> None:
    recipe = _recipe(
        tmp_path,
        f"""
        steps:
          - request: {httpbin.url}/status/404
            assert: {{status: 200}}
          - request: {httpbin.url}/get
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 4
    records = _records(result.stdout)
    assert len(records) == 1
    assert records[0]["assertions"] == ["status: expected 200, got 404"]
    assert "stopped after step" in result.stderr


def test_invalid_recipe_exits_3_and_sends_nothing(
    app: typer.Typer, httpbin: LocalHttpbin, httpbin_log: object, tmp_path: Path
) -> None:
    recipe = _recipe(
        tmp_path,
        f"""
        steps:
          - request: {httpbin.url}/get
          - request: "{httpbin.url}/get?x={{{{ undefined_thing }}}}"
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 3
    assert f"{recipe}:3: steps[1].request.url: undefined variable 'undefined_thing'" in result.stderr
    assert len(httpbin.arrivals) == 0


def test_transport_error_exits_1(app: typer.Typer, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "steps:\n  - request: http://127.0.0.1:9/nothing-listens-here\n")
    result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 1
    assert _records(result.stdout)[0]["error"]["kind"] == "connect"


def test_dry_run_renders_without_sending(
    app: typer.Typer, httpbin: LocalHttpbin, httpbin_log: object, tmp_path: Path
) -> None:
    (tmp_path / "rows.csv").write_text("id\n1\n2\n", encoding="utf-8")
    recipe = _recipe(
        tmp_path,
        """
        env: {SECRET: hunter2-secret}
        session: {base_url: "{{ base }}", ratelimit: {rate: 1/s}}
        steps:
          - request: {url: /login, headers: {X-Key: "{{ env.SECRET }}"}}
            capture: {ids: "$.ids"}
          - data: rows.csv
            request: "/rows/{{ row.id }}"
          - foreach: "{{ ids }}"
            request: "/items/{{ item }}"
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe), "--dry-run", "--var", "base=http://h"])
    assert result.exit_code == 0, result.output
    planned = _records(result.stdout)
    assert planned[0]["headers"] == {"X-Key": "***"}
    assert [p["url"] for p in planned[1:3]] == ["http://h/rows/1", "http://h/rows/2"]
    assert planned[3]["url"] == "http://h/items/<item>"
    assert "loop" in planned[3]
    assert "3 request(s) planned" in result.stderr
    assert "at least 2.0s" in result.stderr
    assert len(httpbin.arrivals) == 0


def test_output_file_and_csv(app: typer.Typer, httpbin: LocalHttpbin, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, f"output: out.csv\nsteps:\n  - request: {httpbin.url}/get\n")
    result = CliRunner().invoke(app, ["run", str(recipe), "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "out.csv").read_text().splitlines()
    assert lines[0].startswith("index,url,method,status")
    assert len(lines) == 2


def test_callbacks_merge_into_records(app: typer.Typer, httpbin: LocalHttpbin, tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(
        "def size(response):\n    return {'size_kb': round(len(response.content) / 1024, 3)}\n"
        "def total_pages(response):\n    return response.json()['args']['pages']\n",
        encoding="utf-8",
    )
    recipe = _recipe(
        tmp_path,
        f"""
        callbacks: [hooks.py:size]
        steps:
          - request: {httpbin.url}/get?pages=4
            capture: {{pages: {{python: "hooks.py:total_pages"}}}}
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    record = _records(result.stdout)[0]
    assert "size_kb" in record
    assert record["captures"] == {"pages": "4"}


def test_runtime_template_error_exits_3(app: typer.Typer, httpbin: LocalHttpbin, tmp_path: Path) -> None:
    recipe = _recipe(
        tmp_path,
        f"""
        steps:
          - request: {httpbin.url}/get
            capture: {{args: "$.args"}}
          - request: "{httpbin.url}/get?x={{{{ args.missing }}}}"
        """,
    )
    result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 3
    assert "'dict object' has no attribute 'missing'" in result.stdout


def test_real_subprocess(tmp_path: Path) -> None:
    with LocalHttpbin() as server:
        recipe = _recipe(
            tmp_path,
            """
            steps:
              - foreach: [a, b, c]
                request: "{{ base }}/anything/{{ item }}"
                assert: {jsonpath: {"$.url": {contains: "/anything/{{ item }}"}}}
            """,
        )
        code = (
            "import sys, typer; from sessions_cli.run import register; app = typer.Typer(); register(app); "
            "app.command('noop')(lambda: None); sys.argv = ['sessions', *sys.argv[1:]]; app()"
        )
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        done = subprocess.run(
            [sys.executable, "-c", code, "run", str(recipe), "--var", f"base={server.url}"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        records = _records(done.stdout)
        assert sorted(r["iteration"] for r in records) == [0, 1, 2]
        assert server.arrivals.count(path="/anything/") == 3
