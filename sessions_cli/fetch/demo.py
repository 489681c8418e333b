"""`sessions fetch --demo`: the quick start's "main job on embedded defaults".

Starts the embedded httpbin on a free port, writes a sample URL list, and runs an ordinary
`sessions fetch` over it with a GCRA limit and a memory cache, so a fresh install shows records,
the progress bar, the summary, rate limiting and cache hits without any server of your own.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

__all__ = ["demo_urls", "run_demo"]

DEMO_SIZE = 40


def demo_urls(base: str, n: int = DEMO_SIZE) -> list[str]:
    """A mixed sample: JSON, a cacheable page repeated (cache hits), a 404 and small delays."""
    urls: list[str] = []
    for i in range(n):
        kind = i % 5
        if kind == 0:
            urls.append(f"{base}/get?item={i}")
        elif kind == 1:
            urls.append(f"{base}/cache/60")
        elif kind == 2:
            urls.append(f"{base}/delay/0.05?item={i}")
        elif kind == 3:
            urls.append(f"{base}/uuid?item={i}")
        else:
            urls.append(f"{base}/status/404" if i == 4 else f"{base}/json?item={i}")
    return urls


def run_demo(console: Console, fetch: Callable[..., None]) -> int:
    """Run `fetch` (the command function, with keyword overrides) against a fresh embedded httpbin."""
    from sessions.httpbin import LocalHttpbin

    with LocalHttpbin() as httpbin, tempfile.TemporaryDirectory(prefix="sessions-demo-") as tmp:
        url_file = Path(tmp) / "urls.txt"
        url_file.write_text("\n".join(demo_urls(httpbin.url)) + "\n", encoding="utf-8")
        console.print(
            f"demo: embedded httpbin at {httpbin.url}; fetching {DEMO_SIZE} URLs with "
            "--ratelimit gcra --limit 20 --period 1 --cache memory",
            highlight=False,
        )
        try:
            fetch(urls=[str(url_file)], input=None, ratelimit="gcra", limit=20, period="1", cache="memory")
        except typer.Exit as done:
            return int(done.exit_code)
    return 0
