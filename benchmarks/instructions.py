"""Instructions per request under callgrind: the noise-free figure for issue 15's engine comparison, ONE run.

    python benchmarks/instructions.py                 # every contender, 500 and 2500 requests each
    python benchmarks/instructions.py --only ours-get,proto-get --small 200 --large 1200

Wall-clock medians on this shared 2-core VM swing by ±30 % between repetitions (see benchmarks/README.md), so
they cannot say whether a 10 % difference is real. Instruction counts can: each contender runs in a child
process under ``valgrind --tool=callgrind`` (all its threads counted — pyreqwest's Tokio runtime included — the
server not), once with ``--small`` and once with ``--large`` requests; the difference divided by the difference
in requests is the cost of one request, with interpreter start, imports, client set-up and warm-up cancelled
out. Server: the local nginx of ``_servers.py``. Needs ``valgrind`` (``apt-get install valgrind``).

Contenders — batches, 32 in flight: ``aiohttp`` (raw worker pool), ``pyreqwest`` (raw worker pool),
``ours-async`` / ``ours-sync`` (``AsyncSession.requests`` / ``Session.requests``), ``proto-async`` /
``proto-sync`` (the same on issue 15's pyreqwest prototype, ``_reqwest_proto.py``). Sequential single calls:
``httpx-get`` (``httpx.Client.get``), ``ours-get`` (``Session.get``), ``ours-mixins-get`` (the seed's
``CacheMixin, RatelimitMixin, Session`` on memory, every call a miss), ``proto-get`` (the prototype's),
``aiohttp-get`` (raw aiohttp, one ``run_until_complete`` per call: how a sync Session drives it),
``pyreqwest-get`` (raw ``SyncClient``).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CONCURRENCY = 32


async def _aiohttp_batch(urls: list[str]) -> None:
    import aiohttp

    it = iter(urls)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:

        async def worker() -> None:
            for u in it:
                async with s.get(u) as r:
                    await r.read()

        await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])


async def _pyreqwest_batch(urls: list[str]) -> None:
    from pyreqwest.client import ClientBuilder

    it = iter(urls)
    async with ClientBuilder().max_connections(CONCURRENCY).build() as client:

        async def worker() -> None:
            for u in it:
                await (await client.get(u).build().send()).bytes()

        await asyncio.gather(*[worker() for _ in range(CONCURRENCY)])


async def _async_session_batch(cls: Any, urls: list[str]) -> None:
    async with cls() as s:
        await s.requests(urls, concurrency=CONCURRENCY, progress=False)


def _sync_session_batch(cls: Any, urls: list[str]) -> None:
    with cls() as s:
        s.requests(urls, concurrency=CONCURRENCY, progress=False)


def _sequential(make: Callable[[], Any], urls: list[str]) -> None:
    with make() as client:
        for u in urls:
            client.get(u).read()


def _aiohttp_per_call(urls: list[str]) -> None:
    import aiohttp

    loop = asyncio.new_event_loop()

    async def make() -> aiohttp.ClientSession:
        return aiohttp.ClientSession()

    async def one(s: aiohttp.ClientSession, u: str) -> None:
        async with s.get(u) as r:
            await r.read()

    s = loop.run_until_complete(make())
    for u in urls:
        loop.run_until_complete(one(s, u))
    loop.run_until_complete(s.close())
    loop.close()


def _pyreqwest_per_call(urls: list[str]) -> None:
    from pyreqwest.client import SyncClientBuilder

    with SyncClientBuilder().build() as client:
        for u in urls:
            client.get(u).build().send().bytes()


def _mixed() -> Any:
    """The seed's composition on memory, with a limit that never binds (the decision is still made)."""
    import sessions

    class Mixed(sessions.CacheMixin, sessions.RatelimitMixin, sessions.Session):
        pass

    return Mixed(type="gcra", limit=10**9, period=1, backend="memory")


def _run(name: str, urls: list[str]) -> None:
    import httpx

    import sessions
    from benchmarks._reqwest_proto import ReqwestAsyncSession, ReqwestSession

    table: dict[str, Callable[[], None]] = {
        "aiohttp": lambda: asyncio.run(_aiohttp_batch(urls)),
        "pyreqwest": lambda: asyncio.run(_pyreqwest_batch(urls)),
        "ours-async": lambda: asyncio.run(_async_session_batch(sessions.AsyncSession, urls)),
        "ours-sync": lambda: _sync_session_batch(sessions.Session, urls),
        "proto-async": lambda: asyncio.run(_async_session_batch(ReqwestAsyncSession, urls)),
        "proto-sync": lambda: _sync_session_batch(ReqwestSession, urls),
        "httpx-get": lambda: _sequential(httpx.Client, urls),
        "ours-get": lambda: _sequential(sessions.Session, urls),
        "ours-mixins-get": lambda: _sequential(_mixed, urls),
        "proto-get": lambda: _sequential(ReqwestSession, urls),
        "aiohttp-get": lambda: _aiohttp_per_call(urls),
        "pyreqwest-get": lambda: _pyreqwest_per_call(urls),
    }
    table[name]()


CONTENDERS = (
    *("aiohttp", "pyreqwest", "ours-async", "ours-sync", "proto-async", "proto-sync"),
    *("httpx-get", "ours-get", "ours-mixins-get", "proto-get", "aiohttp-get", "pyreqwest-get"),
)


def _instructions(name: str, n: int, base: str) -> int:
    command = [
        *("valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"),
        *(sys.executable, __file__, "--child", name, "--n", str(n), "--base", base),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    found = re.findall(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise SystemExit(f"{name}: callgrind run failed (exit {done.returncode}):\n{done.stderr[-2000:]}")
    return int(found[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", help="comma-separated contenders")
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--large", type=int, default=2500)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--base", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _run(args.child, [f"{args.base}/get?i={i}" for i in range(args.n)])
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind not found: apt-get install valgrind")
    from benchmarks._servers import bench_server

    names = args.only.split(",") if args.only else list(CONTENDERS)
    unknown = sorted(set(names) - set(CONTENDERS))
    if unknown:
        raise SystemExit(f"unknown contenders {unknown}; choose from {', '.join(CONTENDERS)}")
    per_request: dict[str, float] = {}
    with bench_server() as server:
        print(
            f"instructions per request under callgrind ({args.large} - {args.small} requests), {server.name}"
        )
        for name in names:
            small = _instructions(name, args.small, server.base_url)
            large = _instructions(name, args.large, server.base_url)
            per_request[name] = (large - small) / (args.large - args.small)
            print(f"  {name:14} {per_request[name] / 1000:8.1f}k", flush=True)
    for ours, reference in (
        ("ours-async", "aiohttp"),
        ("ours-sync", "aiohttp"),
        ("proto-async", "aiohttp"),
        ("proto-async", "pyreqwest"),
        ("proto-sync", "pyreqwest"),
        ("ours-get", "httpx-get"),
        ("proto-get", "httpx-get"),
        ("ours-get", "aiohttp-get"),
        ("ours-mixins-get", "httpx-get"),
        ("ours-mixins-get", "ours-get"),
    ):
        if ours in per_request and reference in per_request:
            ratio = per_request[reference] / per_request[ours]
            print(f"  {ours} / {reference}: {ratio:.2f}x (fewer instructions is faster: reference / ours)")


if __name__ == "__main__":
    main()
