"""What a start pays for: a quiet fetch imports neither rich, httpx's own command line, the cache nor the
limiter's server storages; the library imports them on first use, and behaves the same when it does.

Each check runs in a fresh interpreter (this test process has imported everything long ago)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from sessions.httpbin import LocalHttpbin

ROOT = Path(__file__).resolve().parents[2]

# Modules a quiet `sessions fetch` with no cache and no limit has no use for.
NOT_NEEDED = (
    "rich.console",
    "click",
    "pygments",
    "importlib.resources",
    "sessions.cache",
    "sessions.ratelimit",
    "sessions.backends",
)


def _python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
    env.update(
        PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "cfg"), XDG_CACHE_HOME=str(tmp_path / "c")
    )
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60,
    )  # fmt: skip


def test_a_quiet_fetch_loads_only_the_http_stack(tmp_path: Path) -> None:
    with LocalHttpbin() as httpbin:
        urls = tmp_path / "urls.txt"
        urls.write_text(f"{httpbin.url}/get?a=1\n{httpbin.url}/status/404\n", encoding="utf-8")
        done = _python(
            f"""
            import json, sys
            from sessions_cli.app import main
            sys.argv = ["sessions", "fetch", "-i", {str(urls)!r}, "-o", "out.jsonl", "--no-progress", "-q"]
            try:
                main()
            except SystemExit as exc:
                code = exc.code
            real_cli = getattr(sys.modules.get("httpx._main"), "__file__", None)
            loaded = [name for name in {NOT_NEEDED!r} if name in sys.modules]
            print(json.dumps({{"code": code, "loaded": loaded, "httpx_cli": real_cli}}), file=sys.__stderr__)
            """,
            tmp_path,
        )
    report = json.loads(done.stderr.strip().splitlines()[-1])
    assert report == {"code": 0, "loaded": [], "httpx_cli": None}, done.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert sorted(r["status"] for r in records) == [200, 404]


def test_httpx_command_line_still_runs_when_called(tmp_path: Path) -> None:
    done = _python(
        """
        import sys
        from sessions_cli.app import _defer_httpx_command_line
        _defer_httpx_command_line()
        import httpx
        assert getattr(sys.modules["httpx._main"], "__file__", None) is None  # the stand-in
        sys.argv = ["httpx", "--help"]
        try:
            httpx.main()
        except SystemExit as exc:
            assert exc.code == 0
        real = sys.modules["httpx._main"]
        assert real.__file__.endswith("_main.py")
        try:
            httpx.main()  # a second call uses the module the first one loaded (not executed again)
        except SystemExit as exc:
            assert exc.code == 0
        assert sys.modules["httpx._main"] is real
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Usage: httpx <URL>") == 2


def test_the_library_loads_mixins_and_storages_on_first_use(tmp_path: Path) -> None:
    done = _python(
        """
        import sys
        import sessions
        from sessions import Session, RatelimitMixin
        assert "sessions.cache" not in sys.modules and "sessions.ratelimit._sql" not in sys.modules

        class Limited(RatelimitMixin, Session):
            pass

        # The cache's options are accepted by a limiter-only class (the seed's Testing section does this):
        # its module was not imported before, the first mixin's options load it.
        with Limited(type="gcra", limit=5, period=2, expire_after=60, backend="memory") as s:
            pass
        assert "sessions.cache._mixin" in sys.modules
        from sessions.ratelimit import SQLiteStorage
        assert SQLiteStorage.__module__ == "sessions.ratelimit._sqlite"
        try:
            sessions.NoSuchThing
        except AttributeError as exc:
            assert "NoSuchThing" in str(exc)
        else:
            raise AssertionError("no AttributeError")
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
