"""`sessions run`: fixes from the README audit (dry-run loops over captures, `index`, `--var`, masking)."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

from sessions.httpbin import ArrivalLog, LocalHttpbin
from tests.cli.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]
RECIPES = ROOT / "recipes"


def _recipe(tmp_path: Path, text: str, name: str = "recipe.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def _lines(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_dry_run_reports_a_loop_computed_from_a_capture_as_unknown(
    isolated: Path, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    # the README's example: foreach over range(1, total_pages + 1), total_pages captured by step 0
    run = invoke(["run", str(RECIPES / "paginated_walk.yaml"), "--dry-run", "--var", f"base={httpbin.url}"])
    assert run.exit_code == 0, run.stderr
    planned = _lines(run.stdout)
    assert [p["step_name"] for p in planned] == ["index", "pages", "items"]
    assert "range(1, total_pages + 1)" in str(planned[1]["loop"])
    assert "<total_pages>" in str(planned[1]["loop"])
    assert planned[1]["params"] == {"page": "<page>", "per_page": 2}
    assert "1 request(s) planned, plus 2 loop(s) over captured values" in run.stderr
    assert len(httpbin_log) == 0


def test_dry_run_does_not_crash_on_arithmetic_with_a_capture(isolated: Path, tmp_path: Path) -> None:
    recipe = _recipe(
        tmp_path,
        """
        steps:
          - request: http://h/count
            capture: {n: "$.n"}
          - request: {url: http://h/next, params: {page: "{{ n + 1 }}"}}
        """,
    )
    run = invoke(["run", str(recipe), "--dry-run"])
    assert run.exit_code == 0, run.stderr
    planned = _lines(run.stdout)
    assert "<n>" in str(planned[1]["unknown"])


def test_index_is_0_in_a_step_without_a_loop(
    isolated: Path, tmp_path: Path, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    # the README's format reference: `headers: {X-Trace: "{{ index }}"}` in a step that is not a loop
    recipe = _recipe(
        tmp_path,
        """
        session: {base_url: "{{ base }}"}
        steps:
          - request: {url: /headers, headers: {X-Trace: "{{ index }}"}}
            assert: {jsonpath: {"$.headers.X-Trace": "{{ index }}"}}
          - foreach: [a, b]
            request: {url: /headers, headers: {X-Trace: "{{ index }}"}}
            capture: {trace: "$.headers.X-Trace"}
        """,
    )
    run = invoke(["run", str(recipe), "--var", f"base={httpbin.url}"])
    assert run.exit_code == 0, run.stdout + run.stderr
    records = run.records
    assert records[0]["passed"] is True
    assert sorted(str(r["captures"]["trace"]) for r in records[1:]) == ["0", "1"]

    dry = invoke(["run", str(recipe), "--dry-run", "--var", f"base={httpbin.url}"])
    assert dry.exit_code == 0, dry.stderr
    assert _lines(dry.stdout)[0]["headers"] == {"X-Trace": "0"}


def test_index_in_the_session_block_is_found_before_sending(
    isolated: Path, tmp_path: Path, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    recipe = _recipe(
        tmp_path,
        f"""
        session:
          headers: {{X-Trace: "{{{{ index }}}}"}}
        steps:
          - request: {httpbin.url}/get
        """,
    )
    run = invoke(["run", str(recipe)])
    assert run.exit_code == 3
    assert f"{recipe}:2: session.headers.X-Trace: undefined variable 'index'" in run.stderr
    assert len(httpbin_log) == 0


def test_malformed_var_is_a_usage_error(isolated: Path, tmp_path: Path) -> None:
    recipe = _recipe(tmp_path, "steps:\n  - request: http://h/get\n")
    run = invoke(["run", str(recipe), "--var", "novalue"])
    assert run.exit_code == 2
    message = run.stderr.strip()
    assert len(message.splitlines()) == 1
    assert message.startswith("error: --var: expected name=value")
    assert "'novalue'" in message


def test_credentials_derived_from_a_secret_are_masked(
    isolated: Path, tmp_path: Path, httpbin: LocalHttpbin
) -> None:
    password = "correct-horse-battery"
    derived = base64.b64encode(f"alice:{password}".encode()).decode()
    dry = invoke(["run", str(RECIPES / "login_flow.yaml"), "--dry-run", "--var", f"base={httpbin.url}"])
    assert dry.exit_code == 0, dry.stderr
    assert derived not in dry.stdout + dry.stderr
    assert _lines(dry.stdout)[0]["headers"] == {"Authorization": "Basic ***"}
    assert _lines(dry.stdout)[2]["headers"] == {"Authorization": "Bearer <token>"}  # a placeholder

    # at run time: an echo of the derived header (a capture, an assertion message) is masked too
    recipe = _recipe(
        tmp_path,
        f"""
        env: {{API_PASSWORD: {password}}}
        steps:
          - request:
              url: {httpbin.url}/headers
              headers: {{Authorization: "Basic {{{{ ('alice:' ~ env.API_PASSWORD) | b64encode }}}}"}}
            capture: {{sent: "$.headers.Authorization"}}
            assert: {{jsonpath: {{"$.headers.Authorization": "nope"}}}}
        """,
    )
    run = invoke(["run", str(recipe)])
    assert run.exit_code == 4
    assert derived not in run.stdout + run.stderr
    assert run.records[0]["captures"] == {"sent": "Basic ***"}
