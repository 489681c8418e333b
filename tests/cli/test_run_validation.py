"""`sessions run` validation: every kind of recipe problem is reported with file, line and path."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from sessions_cli.run.errors import RecipeInvalid
from sessions_cli.run.source import load_source
from sessions_cli.run.validate import build_recipe


def _write(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def _errors(
    tmp_path: Path, text: str, environ: dict[str, str] | None = None
) -> list[tuple[int | None, str, str]]:
    path = _write(tmp_path, text)
    with pytest.raises(RecipeInvalid) as info:
        build_recipe(load_source(path), {}, environ or {})
    assert all(error.file == str(path) for error in info.value.errors)
    return [(error.line, error.path, error.message) for error in info.value.errors]


def test_valid_recipe_builds(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        vars: {base: "http://x", n: 2}
        steps:
          - request: {url: "{{ base }}/get", params: {n: "{{ n }}"}}
            capture: {page: "$.args.n"}
          - foreach: "{{ [page] }}"
            request: "{{ base }}/anything/{{ item }}"
        """,
    )
    recipe = build_recipe(load_source(path), {}, {})
    assert [step.name for step in recipe.steps] == ["step 1", "step 2"]
    assert recipe.steps[1].loop is not None
    assert recipe.steps[1].loop.var == "item"


def test_yaml_syntax_error_has_line(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "steps:\n  - request: {url: x\n  - bad: [\n")
    assert errors[0][0] is not None
    assert "invalid YAML" in errors[0][2]


def test_unknown_key_with_suggestion(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        steps:
          - request: {url: "http://x/get"}
          - request: {url: "http://x/get"}
            captur: {id: "$.id"}
        """,
    )
    assert errors == [(4, "steps[1].captur", "unknown key 'captur' (did you mean 'capture'?)")]


def test_wrong_type(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        session:
          concurrency: many
        steps:
          - request: {url: "http://x/get", headers: [a, b]}
            retry: -1
        """,
    )
    assert (2, "session.concurrency", "expected a positive integer, got a string") in errors
    assert any(path == "steps[0].request.headers" and "mapping" in message for _, path, message in errors)
    assert (5, "steps[0].retry", "must not be negative") in errors


def test_undefined_variable_names_path_and_suggests(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        vars: {base_url: "http://x"}
        steps:
          - request: {url: "http://x/get"}
            capture: {id: "$.json.id"}
          - request:
              url: "{{ base_ur }}/items/{{ id }}"
            assert:
              jsonpath:
                "$.x": "{{ nope }}"
        """,
    )
    assert (6, "steps[1].request.url", "undefined variable 'base_ur' (did you mean 'base_url'?)") in errors
    assert any(path.startswith("steps[1].assert.jsonpath.$.x") and "'nope'" in m for _, path, m in errors)
    assert not any("'id'" in message for _, _, message in errors)  # an earlier capture is defined


def test_capture_is_not_visible_before_its_step(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        steps:
          - request: "http://x/{{ token }}"
          - request: "http://x/login"
            capture: {token: {header: X-Token}}
        """,
    )
    assert errors == [(2, "steps[0].request.url", "undefined variable 'token'")]


def test_env_and_csv_columns_are_checked(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("name,email\nada,a@x\n", encoding="utf-8")
    errors = _errors(
        tmp_path,
        """
        env: [TOKEN]
        steps:
          - data: rows.csv
            request:
              url: "http://x/{{ row.nmae }}"
              headers: {Authorization: "Bearer {{ env.TOKN }}"}
        """,
        environ={"TOKEN": "abc"},
    )
    assert (
        5,
        "steps[0].request.url",
        "undefined column of 'row' 'row.nmae' (did you mean 'row.name'?)",
    ) in errors
    assert any("environment variable 'env.TOKN'" in message for _, _, message in errors)


def test_missing_environment_variable(tmp_path: Path) -> None:
    errors = _errors(tmp_path, "env: [API_KEY]\nsteps:\n  - request: http://x/get\n")
    assert errors == [(1, "env.API_KEY", "environment variable API_KEY is not set (and has no default)")]


def test_expressions_are_checked(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        steps:
          - request: http://x/get
            capture:
              a: {jsonpath: "$.[["}
              b: {regex: "(unclosed"}
              c: {python: "no_such_module_xyz:f"}
              d: {header: X, status: true}
            assert:
              status: 20
        """,
    )
    paths = {path for _, path, _ in errors}
    assert {
        "steps[0].capture.a.jsonpath",
        "steps[0].capture.b.regex",
        "steps[0].capture.c.python",
        "steps[0].capture.d",
        "steps[0].assert.status",
    } <= paths


def test_ratelimit_parameters_use_fetch_rules(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        session:
          ratelimit: {algorithm: gcra, limit: 5}
        steps:
          - request: http://x/get
        """,
    )
    assert errors == [(2, "session.ratelimit.period", "algorithm gcra needs period (or rate)")]


def test_loop_problems(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        """
        steps:
          - foreach: [1, 2]
            data: missing.csv
            request: http://x/get
          - as: thing
            request: http://x/get
        """,
    )
    paths = [path for _, path, _ in errors]
    assert "steps[0].data" in paths
    assert "steps[1].as" in paths


def test_missing_steps_and_top_level_type(tmp_path: Path) -> None:
    assert _errors(tmp_path, "name: x\n") == [(1, "", "missing required key 'steps'")]
    assert _errors(tmp_path, "- a\n")[0][2] == "expected a mapping, got a list"


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeInvalid, match="cannot read recipe"):
        load_source(tmp_path / "nope.yaml")
