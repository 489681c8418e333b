"""Configuration precedence, profiles and `sessions config show`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sessions_cli.config import ConfigError, resolve
from tests.cli.conftest import invoke


def _resolve(
    cwd: Path, user: Path, flags: dict | None = None, env: dict | None = None, profile: str | None = None
):
    return resolve(flags or {}, env=env or {}, cwd=cwd, user_dir=user, profile=profile)


def test_defaults(tmp_path: Path) -> None:
    values = _resolve(tmp_path, tmp_path / "user")
    assert values["concurrency"] == 10
    assert values["limit_by"] == "host"
    assert values["follow"] is True
    assert set(values.sources.values()) == {"default"}


def test_precedence_flag_env_project_user_default(tmp_path: Path) -> None:
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.toml").write_text('concurrency = 3\ntimeout = "5s"\nretries = 4\nhttp2 = true\n')
    (tmp_path / "sessions.toml").write_text('concurrency = 7\ntimeout = "8s"\nretries = 1\n')
    env = {"SESSIONS_TIMEOUT": "9s", "SESSIONS_CONCURRENCY": "11"}
    values = _resolve(tmp_path, user, flags={"concurrency": 32, "timeout": None}, env=env)
    assert (values["concurrency"], values.sources["concurrency"]) == (32, "flag")
    assert (values["timeout"], values.sources["timeout"]) == ("9s", "env SESSIONS_TIMEOUT")
    assert (values["retries"], values.sources["retries"]) == (1, str(tmp_path / "sessions.toml"))
    assert (values["http2"], values.sources["http2"]) == (True, str(user / "config.toml"))
    assert values.sources["proxy"] == "default"


def test_pyproject_tool_table_and_profiles(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.sessions]\nrate = "5/s"\n'
        '[tool.sessions.profiles.api-x]\nrate = "1/2s"\nheaders = ["X-Key: 1"]\n'
    )
    user = tmp_path / "user"
    user.mkdir()
    (user / "config.toml").write_text('[profiles.api-x]\nconcurrency = 2\nrate = "9/s"\n')
    plain = _resolve(tmp_path, user)
    assert plain["rate"] == "5/s"
    assert plain["concurrency"] == 10
    profiled = _resolve(tmp_path, user, profile="api-x")
    assert profiled["rate"] == "1/2s"
    assert profiled["headers"] == ["X-Key: 1"]
    assert profiled["concurrency"] == 2
    assert "[profiles.api-x]" in profiled.sources["concurrency"]
    via_env = _resolve(tmp_path, user, env={"SESSIONS_PROFILE": "api-x"})
    assert via_env.profile == "api-x"


def test_sessions_toml_wins_over_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.sessions]\nconcurrency = 5\n")
    (tmp_path / "sessions.toml").write_text("retries = 0\n")
    values = _resolve(tmp_path, tmp_path / "user")
    assert values["concurrency"] == 10
    assert values["retries"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [("concurency = 3\n", "did you mean 'concurrency'"), ("concurrency = 'many'\n", "bad value"),
     ("follow = 'perhaps'\n", "bad value"), ("[broken\n", "sessions.toml")],
)  # fmt: skip
def test_bad_config_files_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sessions.toml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        _resolve(tmp_path, tmp_path / "user")


def test_unknown_profile_lists_known(tmp_path: Path) -> None:
    (tmp_path / "sessions.toml").write_text("[profiles.a]\nretries = 1\n")
    with pytest.raises(ConfigError, match="known: a"):
        _resolve(tmp_path, tmp_path / "user", profile="b")


def test_env_booleans_and_lists(tmp_path: Path) -> None:
    values = _resolve(
        tmp_path, tmp_path / "u", env={"SESSIONS_FOLLOW": "no", "SESSIONS_HEADERS": "A: 1\nB: 2"}
    )
    assert values["follow"] is False
    assert values["headers"] == ["A: 1", "B: 2"]


@pytest.mark.usefixtures("isolated")
def test_config_show_reports_sources(isolated: Path) -> None:
    (isolated / "sessions.toml").write_text('rate = "5/2s"\n[profiles.fast]\nconcurrency = 64\n')
    run = invoke(["config", "show", "--profile", "fast", "--json"], env={"SESSIONS_RETRIES": "5"})
    assert run.exit_code == 0
    data = json.loads(run.stdout)
    assert data["settings"]["rate"] == {"value": "5/2s", "source": str(isolated / "sessions.toml")}
    assert data["settings"]["concurrency"]["value"] == 64
    assert data["settings"]["retries"] == {"value": 5, "source": "env SESSIONS_RETRIES"}
    table = invoke(["config", "show"])
    assert "rate" in table.stdout
    assert "default" in table.stdout
    assert invoke(["config", "show", "--profile", "nope"]).exit_code == 2


@pytest.mark.usefixtures("isolated")
def test_fetch_uses_config_file(isolated: Path, httpbin) -> None:
    (isolated / "sessions.toml").write_text('headers = ["X-From-Config: yes"]\n')
    run = invoke(["fetch", "-q", f"{httpbin.url}/headers", "--callback", "tests.cli.callbacks:echo", "-v"])
    assert run.exit_code == 0
    assert run.records[0]["echo"]["headers"]["X-From-Config"] == "yes"
    assert "config: headers" in run.stderr


def test_a_layer_that_sets_a_rate_limit_sets_all_its_amounts(tmp_path: Path) -> None:
    """`--limit 10 --period 1s` (or a profile's limit/period) over a file's `rate`: a new limit, no clash."""
    user = tmp_path / "user"
    (tmp_path / "sessions.toml").write_text(
        'rate = "5/2s"\nconcurrency = 4\n[profiles.api-x]\nratelimit = "gcra"\nlimit = 100\nperiod = "1m"\n'
    )
    flagged = _resolve(tmp_path, user, flags={"limit": 10, "period": "1s"})
    assert (flagged["limit"], flagged["period"], flagged["rate"]) == (10, "1s", None)
    assert flagged.sources["rate"] == "default"
    profiled = _resolve(tmp_path, user, profile="api-x")
    assert (profiled["limit"], profiled["period"], profiled["rate"]) == (100, "1m", None)
    assert profiled["concurrency"] == 4  # other settings still layer one by one
    by_env = _resolve(tmp_path, user, env={"SESSIONS_FILL_RATE": "0.5", "SESSIONS_CAPACITY": "2"})
    assert (by_env["fill_rate"], by_env["capacity"], by_env["rate"]) == (0.5, 2, None)
    # amounts from different layers combine; a higher `rate` drops the amounts below it
    combined = _resolve(tmp_path, user, flags={"period": "1s"}, env={"SESSIONS_LIMIT": "3"})
    assert (combined["limit"], combined["period"], combined["rate"]) == (3, "1s", None)
    over = _resolve(tmp_path, user, profile="api-x", flags={"rate": "1/s"})
    assert (over["rate"], over["limit"], over["period"]) == ("1/s", None, None)


def test_the_readme_profile_example_runs(isolated: Path) -> None:
    (isolated / "sessions.toml").write_text(
        'concurrency = 32\ntimeout = "10s"\nrate = "5/2s"\nheaders = ["User-Agent: my-crawler/1.0"]\n\n'
        '[profiles.api-x]\nratelimit = "gcra"\nlimit = 100\nperiod = "1m"\ncache = "sqlite"\nexpire = "1h"\n'
    )
    run = invoke(["fetch", "http://127.0.0.1:9/x", "--profile", "api-x", "--dry-run"])
    assert run.exit_code == 0, run.stderr
