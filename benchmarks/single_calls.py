"""Sequential single calls — the first thing every user writes — against httpx and the raw clients, ONE run.

    python benchmarks/single_calls.py                 # 3000 calls per contender, median of 5 rounds
    python benchmarks/single_calls.py --calls 5000 --rounds 7

Server: the local nginx of ``benchmarks/_servers.py`` (the embedded httpbin if nginx cannot be had: then only the
ratios mean anything). Each contender makes ``--calls`` GETs one after another on one warmed client (connection
open before the clock starts), reading every body; rounds rotate the order, the median is quoted, and every
ratio is taken within a round. Sync:

* ``httpx``        ``httpx.Client().get`` — the reference of issue 15's targets;
* ``ours``         ``sessions.Session().get``;
* ``ours-mixins``  ``class S(CacheMixin, RatelimitMixin, Session)`` (memory cache and limiter, a limit that never
                   binds) on a miss every call (each URL unique);
* ``ours-hits``    the same session on one cached URL: every call a cache hit;
* ``pyreqwest``    raw ``pyreqwest`` ``SyncClient`` (Rust reqwest + hyper; the candidate engine of issue 15);
* ``proto``, ``proto-mixins``, ``proto-hits``, ``proto-async``: the ``ours*`` rows on issue 15's evaluation
  prototype (``benchmarks/_reqwest_proto.py``: our code paths, pyreqwest doing the I/O; sync single calls on its
  blocking client in the calling thread).

``aiohttp-per-call``: raw aiohttp run the way a sync ``Session`` runs its calls (``run_until_complete`` of one call at a
time on a private loop), the ceiling of that design on the aiohttp engine.

Async (one event loop): ``httpx-async`` (``httpx.AsyncClient``), ``ours-async`` (``AsyncSession.get``),
``aiohttp`` (raw ``ClientSession.get``), ``pyreqwest-async`` (raw ``Client``). Targets (issue 15): ``ours`` ≥ 2.5×
``httpx``; ``ours-mixins`` ≥ 2×; hits unchanged or faster.

Where the sync time goes: the last line times the thread hop alone — a sync ``Session`` runs each call on its
private loop thread (``LoopThread.run`` of a coroutine that does nothing), the cost a sync call pays on top of
the same call made on an event loop (``ours-async``). A missing optional client is skipped with a note
(``pip install -e '.[bench]'``). Results: ``benchmarks/results/single_calls.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

import sessions
from benchmarks._servers import bench_server

Run = Callable[[list[str]], None]  # make these calls; raise on a non-200


def _check(status: int) -> None:
    if status != 200:
        raise RuntimeError(f"status {status}")


def _sync(
    make: Callable[[], Any], call: Callable[[Any, str], int]
) -> Callable[[], tuple[Run, Callable[[], None]]]:
    def open_() -> tuple[Run, Callable[[], None]]:
        client = make()

        def run(urls: list[str]) -> None:
            for url in urls:
                _check(call(client, url))

        return run, client.close

    return open_


class _Mixed(sessions.CacheMixin, sessions.RatelimitMixin, sessions.Session):
    """The seed's composition, on memory (a limit that never binds: the decision is still made every call)."""


def _mixed() -> Any:
    return _Mixed(type="gcra", limit=10**9, period=1, backend="memory")


def _ours_get(client: Any, url: str) -> int:
    response = client.get(url)
    response.read()
    return int(response.status_code)


MISSES = [0]  # ours-hits: calls that did not come from the cache (only the first warm-up call may)


def _hit_get(client: Any, url: str) -> int:
    response = client.get(url)
    MISSES[0] += not response.from_cache
    return int(response.status_code)


def _pyreqwest_get(client: Any, url: str) -> int:
    response = client.get(url).build().send()
    response.bytes()
    return int(response.status)


def _async(
    make: Callable[[], Any], call: Callable[[Any, str], Any]
) -> Callable[[], tuple[Run, Callable[[], None]]]:
    """An async client driven by one private event loop; only the calls are timed, not loop start-up."""

    def open_() -> tuple[Run, Callable[[], None]]:
        loop = asyncio.new_event_loop()
        client = loop.run_until_complete(_enter(make))

        async def many(urls: list[str]) -> None:
            for url in urls:
                _check(await call(client, url))

        def run(urls: list[str]) -> None:
            loop.run_until_complete(many(urls))

        def close() -> None:
            loop.run_until_complete(client.__aexit__(None, None, None))
            loop.close()

        return run, close

    return open_


async def _enter(make: Callable[[], Any]) -> Any:
    client = make()  # inside the loop: aiohttp's session binds to the running loop
    await client.__aenter__()
    return client


async def _httpx_aget(client: Any, url: str) -> int:
    return int((await client.get(url)).status_code)


async def _aiohttp_get(client: Any, url: str) -> int:
    async with client.get(url) as response:
        await response.read()
        return int(response.status)


async def _pyreqwest_aget(client: Any, url: str) -> int:
    response = await client.get(url).build().send()
    await response.bytes()
    return int(response.status)


def _aiohttp_per_call() -> tuple[Run, Callable[[], None]]:
    """Raw aiohttp driven the way a sync `Session` drives it: `run_until_complete` of one call at a time on a
    private loop — the ceiling of that design on this engine."""
    import aiohttp

    loop = asyncio.new_event_loop()
    client = loop.run_until_complete(_enter(aiohttp.ClientSession))

    def run(urls: list[str]) -> None:
        for url in urls:
            _check(loop.run_until_complete(_aiohttp_get(client, url)))

    def close() -> None:
        loop.run_until_complete(client.__aexit__(None, None, None))
        loop.close()

    return run, close


def contenders(notes: list[str]) -> dict[str, Callable[[], tuple[Run, Callable[[], None]]]]:
    out: dict[str, Callable[[], tuple[Run, Callable[[], None]]]] = {
        "httpx": _sync(httpx.Client, _ours_get),
        "ours": _sync(sessions.Session, _ours_get),
        "ours-mixins": _sync(_mixed, _ours_get),
        "ours-hits": _sync(_mixed, _hit_get),
        "httpx-async": _async(httpx.AsyncClient, _httpx_aget),
        "ours-async": _async(sessions.AsyncSession, _httpx_aget),
    }
    import aiohttp

    out["aiohttp"] = _async(aiohttp.ClientSession, _aiohttp_get)
    out["aiohttp-per-call"] = _aiohttp_per_call
    if importlib.util.find_spec("pyreqwest") is None:
        notes.append("pyreqwest not installed (pip install -e '.[bench]'): skipped")
    else:
        from pyreqwest.client import ClientBuilder, SyncClientBuilder

        out["pyreqwest"] = _sync(lambda: SyncClientBuilder().build(), _pyreqwest_get)
        out["pyreqwest-async"] = _async(lambda: ClientBuilder().build(), _pyreqwest_aget)
        # Issue 15's evaluation prototype: our code paths with pyreqwest doing the I/O.
        from benchmarks._reqwest_proto import ReqwestAsyncSession, ReqwestSession

        class _ProtoMixed(sessions.CacheMixin, sessions.RatelimitMixin, ReqwestSession):
            """`_Mixed` on the prototype."""

        def proto_mixed() -> Any:
            return _ProtoMixed(type="gcra", limit=10**9, period=1, backend="memory")

        out["proto"] = _sync(ReqwestSession, _ours_get)
        out["proto-mixins"] = _sync(proto_mixed, _ours_get)
        out["proto-hits"] = _sync(proto_mixed, _hit_get)
        out["proto-async"] = _async(ReqwestAsyncSession, _httpx_aget)
    return out


def _hop_us(calls: int = 20000) -> float:
    from sessions._engine import LoopThread

    async def nothing() -> None:
        return None

    thread = LoopThread()
    thread.run(nothing())  # started
    started = time.perf_counter()
    for _ in range(calls):
        thread.run(nothing())
    elapsed = time.perf_counter() - started
    thread.stop()
    return elapsed / calls * 1e6


def _urls(base: str, name: str, calls: int, round_: int) -> list[str]:
    if name.endswith("-hits"):
        return [f"{base}/hit"] * calls  # one URL, cached by the warm-up call
    return [f"{base}/get?c={name}&r={round_}&i={i}" for i in range(calls)]  # unique: misses for the cache


def _one(opener: Callable[[], tuple[Run, Callable[[], None]]], urls: list[str], warm: list[str]) -> float:
    run, close = opener()
    try:
        run(warm)  # connection open (and for the hits, the entry cached)
        started = time.perf_counter()
        run(urls)
        return len(urls) / (time.perf_counter() - started)
    finally:
        close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="comma-separated contenders (their references are kept)")
    args = parser.parse_args()
    notes: list[str] = []
    table = contenders(notes)
    if args.only:
        keep = set(args.only.split(",")) | {"httpx", "httpx-async"}
        table = {name: opener for name, opener in table.items() if name in keep}
    rates: dict[str, list[float]] = {name: [] for name in table}
    with bench_server() as server:
        names = list(table)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                warm = (
                    [f"{server.base_url}/hit"] * 20
                    if name.endswith("-hits")
                    else [f"{server.base_url}/warm"] * 20
                )
                MISSES[0] = 0
                rates[name].append(_one(table[name], _urls(server.base_url, name, args.calls, round_), warm))
                if name.endswith("-hits") and MISSES[0] > 1:
                    raise SystemExit(
                        f"{name}: {MISSES[0]} calls missed the cache (is the response cacheable?)"
                    )
        print(
            f"{args.calls} sequential GETs per contender against {server.name}, median of {args.rounds} rounds"
        )
    for note in notes:
        print(f"note: {note}")
    results: dict[str, Any] = {}
    for name, values in rates.items():
        reference = "httpx-async" if name.endswith("-async") or name == "aiohttp" else "httpx"
        ratio = statistics.median(v / r for v, r in zip(values, rates[reference], strict=True))
        results[name] = {"calls_per_s": statistics.median(values), f"ratio_to_{reference}": ratio}
        print(f"  {name:16} {statistics.median(values):8.0f}/s   {ratio:5.2f}x {reference}")
    hop = _hop_us()
    results["loop-hop"] = {"us_per_call": hop}
    print(f"  loop-thread hop alone: {hop:.1f} µs per call (LoopThread.run of a no-op coroutine)")
    out = Path(__file__).parent / "results" / "single_calls.json"
    out.parent.mkdir(exist_ok=True)
    stamp = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    out.write_text(json.dumps({"when": stamp, "calls": args.calls, "results": results}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
