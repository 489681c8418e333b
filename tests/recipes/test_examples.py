"""Every example in recipes/ runs against the embedded httpbin and passes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from sessions.httpbin import LocalHttpbin
from sessions_cli.run.command import RunRequest, execute

RECIPES = Path(__file__).resolve().parents[2] / "recipes"


def _run(name: str, base: str, *variables: str) -> tuple[int, list[dict[str, object]], str]:
    out, err = io.BytesIO(), io.StringIO()
    request = RunRequest(recipe=RECIPES / name, variables=(f"base={base}", *variables), progress=False)
    code = execute(request, stdout=out, console=Console(file=err, width=200))
    records = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    return code, records, err.getvalue()


def test_every_recipe_is_covered() -> None:
    names = {path.name for path in RECIPES.glob("*.yaml")}
    assert names == {"paginated_walk.yaml", "csv_batch.yaml", "login_flow.yaml", "polite_crawl.yaml"}


def test_paginated_walk(httpbin: LocalHttpbin) -> None:
    code, records, err = _run("paginated_walk.yaml", httpbin.url, "pages=4")
    assert code == 0, err
    assert [r["step_name"] for r in records].count("pages") == 4
    assert sorted(r["url"].rsplit("/", 1)[1] for r in records if r["step_name"] == "items") == list("1234")


def test_csv_batch(httpbin: LocalHttpbin) -> None:
    code, records, err = _run("csv_batch.yaml", httpbin.url)
    assert code == 0, err
    created = [r for r in records if r["step_name"] == "create users"]
    assert sorted(r["iteration"] for r in created) == [0, 1, 2, 3, 4]
    assert all(r["passed"] for r in records)


def test_login_flow_keeps_the_password_out(httpbin: LocalHttpbin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_PASSWORD", "from-the-environment")
    code, records, err = _run("login_flow.yaml", httpbin.url)
    assert code == 0, err
    assert "from-the-environment" not in json.dumps(records) + err
    assert records[2]["captures"] == {"who": "alice"}


def test_login_flow_wrong_password_fails_assertions(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    text = (RECIPES / "login_flow.yaml").read_text()
    wrong = tmp_path / "login_wrong.yaml"
    wrong.write_text(text.replace("(user ~ ':' ~ env.API_PASSWORD)", "(user ~ ':wrong')"))
    out, err = io.BytesIO(), io.StringIO()
    request = RunRequest(recipe=wrong, variables=(f"base={httpbin.url}",), progress=False)
    code = execute(request, stdout=out, console=Console(file=err, width=200))
    assert code == 4
    assert "status: expected 200, got 401" in err.getvalue()


def test_polite_crawl_limits_per_host_and_caches(httpbin: LocalHttpbin) -> None:
    httpbin.arrivals.clear()
    code, records, err = _run("polite_crawl.yaml", httpbin.url)
    assert code == 0, err
    assert sum(r["from_cache"] for r in records) >= 8  # the whole recrawl, at least
    # gcra 4 per second per host, counted server side; 10 ms allow for loopback/scheduling jitter
    assert httpbin.arrivals.max_in_window(0.99) <= 4
    assert len(httpbin.arrivals) == 7  # robots.txt + the 6 distinct pages; repeats came from the cache
