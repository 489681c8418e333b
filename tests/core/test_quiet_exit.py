"""A session nobody closes (the seed README's first example) exits as quietly as httpx and requests."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sessions.httpbin import LocalHttpbin

SCRIPTS = {
    "sync": """
        from sessions import Session
        client = Session()
        print(client.get(URL).status_code)
    """,
    "sync-with-mixins": """
        from sessions import Session, CacheMixin, RatelimitMixin
        class Limited(CacheMixin, RatelimitMixin, Session):
            pass
        client = Limited()
        print(client.get(URL).status_code)
    """,
    "async-after-asyncio-run": """
        import asyncio
        from sessions import AsyncSession
        async def main():
            client = AsyncSession()
            print((await client.get(URL)).status_code)
        asyncio.run(main())
    """,
    "sync-dropped-in-a-loop": """
        import threading
        from sessions import Session
        for _ in range(50):  # a new session per call, never closed: each goes with its loop thread and pool
            status = Session().get(URL).status_code
        loops = [t for t in threading.enumerate() if t.name == "sessions-loop"]
        assert len(loops) <= 1, f"{len(loops)} loop threads left behind"
        print(status)
    """,
    "async-kept-past-its-loop": """
        import asyncio
        from sessions import AsyncSession
        client = AsyncSession()
        async def main():
            print((await client.get(URL)).status_code)
        asyncio.run(main())
    """,
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_an_unclosed_session_prints_nothing_at_exit(
    script: str, httpbin: LocalHttpbin, tmp_path: Path
) -> None:
    code = f"URL = {httpbin.url + '/get'!r}\n" + textwrap.dedent(SCRIPTS[script])
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}  # a default SQLite cache lands here, not in ~
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "200"
    assert done.stderr == ""  # no "Unclosed client session", no "Unclosed connector"
