"""Batch GET throughput: our batch engine against raw aiohttp and raw httpx, in ONE run.

    python benchmarks/throughput.py                     # 5000 GETs, 32 in flight, median of 3, default loop
    python benchmarks/throughput.py --uvloop            # every contender on uvloop
    python benchmarks/throughput.py --n 20000 --repeat 5 --only aiohttp,ours-async

Server: a local nginx (``benchmarks/_servers.py``: Debian's nginx, installed with apt-get if missing, one worker,
keep-alive, access log off, a 52-byte JSON body for every path); falls back to the embedded httpbin, saying so.

Contenders (each gets a fresh client/pool per repetition; connection set-up is inside the timed block for all;
client construction is outside it):

* ``aiohttp``       raw aiohttp: ``concurrency`` workers pulling URLs from one iterator, ``TCPConnector(limit=c)``
* ``httpx-async``   raw ``httpx.AsyncClient``: ``asyncio.gather`` over all URLs with a ``Semaphore(c)``
* ``httpx-sync``    ``httpx.Client`` sequential (c = 1)
* ``ours-async``    ``await sessions.AsyncSession().requests(urls, concurrency=c, progress=False)``
* ``ours-sync``     ``sessions.Session().requests(urls, concurrency=c, progress=False)``
* ``proto-async``, ``proto-sync``: the ``ours-*`` rows on issue 15's evaluation prototype
                    (``benchmarks/_reqwest_proto.py``: our batch engine, pyreqwest doing the I/O)
* ``pyreqwest``     raw pyreqwest (Rust reqwest + hyper, issue 15's candidate engine): the aiohttp worker pool's
                    shape on ``ClientBuilder().max_connections(c)``, each response's body read (skipped with a
                    note when pyreqwest is not installed: ``pip install -e '.[bench]'``)

Fairness: a warm-up round (every contender once, on min(n, 1000) URLs), then ``--repeat`` rounds in rotated
order; the median is reported. Every async contender runs under the same event loop policy: asyncio's default
(``--uvloop``: ``uvloop.EventLoopPolicy`` is installed process-wide, so loops created by our sync Session's loop
thread are uvloop too). The loop class each contender actually ran on is recorded during warm-up.

Besides req/s (wall clock), the script reports process CPU µs per request (all threads; nginx excluded): on a
shared 2-core VM other processes steal CPU and move req/s by ±20 %, while CPU per request stays steady. Ratios are
given for both. Results go to ``benchmarks/results/throughput.json`` with the machine info.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _ROOT)

import aiohttp  # noqa: E402
import httpx  # noqa: E402

from benchmarks._servers import (  # noqa: E402
    BenchServer,
    bench_server,
    command_output,
    cpu_model,
    exit_on_sigterm,
    versions,
)

Timing = tuple[float, float]  # (wall seconds, process CPU seconds)
TARGET_VS_AIOHTTP = 1.0  # issue 15 (0.8 before)
TARGET_VS_HTTPX = 4.0
TARGET_VS_PYREQWEST = 0.8  # issue 15


class Clock:
    """Wall and process CPU time of a block; ``.result = (wall_s, cpu_s)``."""

    def __enter__(self) -> Clock:
        self._w, self._c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.result = (time.perf_counter() - self._w, time.process_time() - self._c)


class BenchError(RuntimeError):
    pass


def _loop_name() -> str:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return "no running loop"
    return f"{type(loop).__module__.split('.')[0]}.{type(loop).__name__}"


# ---------------------------------------------------------------------------------------------- contenders


async def _raw_aiohttp(urls: list[str], c: int, seen: list[str]) -> Timing:
    seen.append(_loop_name())
    it = iter(urls)
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:

        async def worker() -> None:
            nonlocal errors
            for u in it:
                async with s.get(u) as r:
                    await r.read()
                    errors += r.status != 200

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
    if errors:
        raise BenchError(f"{errors} non-200 responses")
    return clk.result


async def _raw_aiohttp_keeping(urls: list[str], c: int, seen: list[str]) -> Timing:
    """The worker pool above, but it keeps what it fetched (status, headers, body), as a batch must return it:
    the reference for what holding thousands of results costs (allocation, garbage-collector traversals)."""
    seen.append(_loop_name())
    it = iter(urls)
    kept: list[tuple[int, Any, bytes]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=c)) as s:

        async def worker() -> None:
            for u in it:
                async with s.get(u) as r:
                    kept.append((r.status, r.raw_headers, await r.read()))

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
    errors = sum(status != 200 for status, _, _ in kept)
    if errors or len(kept) != len(urls):
        raise BenchError(f"{errors} non-200 responses, {len(kept)} of {len(urls)} kept")
    return clk.result


async def _raw_pyreqwest(urls: list[str], c: int, seen: list[str]) -> Timing:
    from pyreqwest.client import ClientBuilder

    seen.append(_loop_name())
    it = iter(urls)
    errors = 0
    async with ClientBuilder().max_connections(c).build() as client:

        async def worker() -> None:
            nonlocal errors
            for u in it:
                response = await client.get(u).build().send()
                await response.bytes()
                errors += response.status != 200

        with Clock() as clk:
            await asyncio.gather(*[worker() for _ in range(c)])
    if errors:
        raise BenchError(f"{errors} non-200 responses")
    return clk.result


async def _raw_httpx_async(urls: list[str], c: int, seen: list[str]) -> Timing:
    seen.append(_loop_name())
    sem = asyncio.Semaphore(c)
    errors = 0
    limits = httpx.Limits(max_connections=c, max_keepalive_connections=c)
    async with httpx.AsyncClient(limits=limits) as client:

        async def one(u: str) -> None:
            nonlocal errors
            async with sem:
                r = await client.get(u)
                errors += r.status_code != 200

        with Clock() as clk:
            await asyncio.gather(*[one(u) for u in urls])
    if errors:
        raise BenchError(f"{errors} non-200 responses")
    return clk.result


def _httpx_sync(urls: list[str], c: int, seen: list[str]) -> Timing:
    seen.append("sync (no loop)")
    errors = 0
    with httpx.Client() as client, Clock() as clk:
        for u in urls:
            errors += client.get(u).status_code != 200
    if errors:
        raise BenchError(f"{errors} non-200 responses")
    return clk.result


def _check_ours(results: Any, n: int) -> None:
    results = list(results)
    if len(results) != n:
        raise BenchError(f"got {len(results)} results for {n} URLs")
    bad = [r for r in results if getattr(r, "status_code", None) != 200]
    if bad:
        first = bad[0]
        raise BenchError(f"{len(bad)} results are not 200; first: {getattr(first, 'exception', first)!r}")


def _loop_probe(seen: list[str]) -> Callable[[Any], None]:
    """A callback recording the loop our engine runs callbacks on (warm-up only; costs nothing in timed runs)."""

    def probe(_response: Any) -> None:
        if not seen:
            seen.append(_loop_name())

    return probe


async def _ours_async(urls: list[str], c: int, seen: list[str], warm: bool, proto: bool = False) -> Timing:
    """`AsyncSession.requests`; ``proto``: on issue 15's pyreqwest prototype (`_reqwest_proto.py`)."""
    if proto:
        from benchmarks._reqwest_proto import ReqwestAsyncSession as AsyncSession
    else:
        from sessions import AsyncSession

    if warm:
        seen.append(_loop_name())
    async with AsyncSession() as s:
        with Clock() as clk:
            results = await s.requests(urls, concurrency=c, progress=False)
    _check_ours(results, len(urls))
    return clk.result


def _ours_sync(urls: list[str], c: int, seen: list[str], warm: bool, proto: bool = False) -> Timing:
    """`Session.requests`; ``proto``: on issue 15's pyreqwest prototype (`_reqwest_proto.py`)."""
    if proto:
        from benchmarks._reqwest_proto import ReqwestSession as Session
    else:
        from sessions import Session

    with Session() as s:
        kw: dict[str, Any] = {"callbacks": [_loop_probe(seen)]} if warm else {}
        with Clock() as clk:
            results = s.requests(urls, concurrency=c, progress=False, **kw)
    _check_ours(results, len(urls))
    return clk.result


def ours_status() -> tuple[bool, bool, str]:
    """(async available, sync available, note)."""
    try:
        import sessions
    except Exception as exc:
        return False, False, f"`import sessions` failed: {exc!r}"
    a = hasattr(getattr(sessions, "AsyncSession", None), "requests")
    s = hasattr(getattr(sessions, "Session", None), "requests")
    missing = [name for name, ok in (("AsyncSession.requests", a), ("Session.requests", s)) if not ok]
    return a, s, ("" if not missing else f"not implemented yet: {', '.join(missing)} (skipped)")


# ---------------------------------------------------------------------------------------------- harness


@dataclass
class Contender:
    key: str
    label: str
    run: Callable[[list[str], bool], Timing]  # (urls, warm-up?) -> timing
    n: int
    rps: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)
    loops: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def median_rps(self) -> float | None:
        return statistics.median(self.rps) if self.rps and not self.error else None

    @property
    def median_cpu(self) -> float | None:
        return statistics.median(self.cpu_us) if self.cpu_us and not self.error else None

    @property
    def best_rps(self) -> float | None:
        return max(self.rps) if self.rps and not self.error else None

    @property
    def min_cpu(self) -> float | None:
        return min(self.cpu_us) if self.cpu_us and not self.error else None


def build_contenders(a: argparse.Namespace, base: str) -> tuple[list[Contender], list[str]]:
    c = a.concurrency
    arun = asyncio.run  # the policy (default or uvloop) decides the loop class
    notes: list[str] = []
    ca: list[Contender] = []

    def add(key: str, label: str, fn: Callable[[list[str], bool, list[str]], Timing], n: int) -> None:
        cont = Contender(key, label, lambda urls, warm: fn(urls, warm, cont.loops), n)
        ca.append(cont)

    add("aiohttp", "raw aiohttp (worker pool)", lambda u, w, s: arun(_raw_aiohttp(u, c, s if w else [])), a.n)
    add(
        "aiohttp-keep",
        "raw aiohttp keeping the responses",
        lambda u, w, s: arun(_raw_aiohttp_keeping(u, c, s if w else [])),
        a.n,
    )
    add(
        "httpx-async",
        "raw httpx.AsyncClient (gather+sem)",
        lambda u, w, s: arun(_raw_httpx_async(u, c, s if w else [])),
        a.slow_n or a.n,
    )
    add(
        "httpx-sync",
        "httpx.Client sequential",
        lambda u, w, s: _httpx_sync(u, 1, s if w else []),
        a.slow_n or a.n,
    )
    if importlib.util.find_spec("pyreqwest") is not None:
        add(
            "pyreqwest",
            "raw pyreqwest (worker pool)",
            lambda u, w, s: arun(_raw_pyreqwest(u, c, s if w else [])),
            a.n,
        )
        add(
            "proto-async",
            "prototype AsyncSession on pyreqwest",
            lambda u, w, s: arun(_ours_async(u, c, s, w, proto=True)),
            a.n,
        )
        add(
            "proto-sync",
            "prototype Session on pyreqwest",
            lambda u, w, s: _ours_sync(u, c, s, w, proto=True),
            a.n,
        )
    else:
        notes.append("pyreqwest: not installed (pip install -e '.[bench]'): skipped")
    has_async, has_sync, note = ours_status()
    if note:
        notes.append(f"ours: {note}")
    if has_async:
        add("ours-async", "ours AsyncSession.requests", lambda u, w, s: arun(_ours_async(u, c, s, w)), a.n)
    if has_sync:
        add("ours-sync", "ours Session.requests", lambda u, w, s: _ours_sync(u, c, s, w), a.n)
    if a.only:
        keep = set(a.only.split(","))
        ca = [x for x in ca if x.key in keep]
    return ca, notes


def run_all(conts: list[Contender], base: str, a: argparse.Namespace) -> None:
    urls_for = {n: [f"{base}/get?i={i}" for i in range(n)] for n in {x.n for x in conts}}
    warm_n = min(a.n, 1000)
    warm_urls = [f"{base}/get?warm={i}" for i in range(warm_n)]
    print(f"warm-up: each contender once on {warm_n} URLs", file=sys.stderr)
    for x in conts:
        try:
            x.run(warm_urls, True)
        except Exception as exc:
            x.error = f"{type(exc).__name__}: {exc}"
            print(f"  {x.key}: FAILED in warm-up: {x.error}", file=sys.stderr)
    live = [x for x in conts if not x.error]
    for r in range(a.repeat):
        order = live[r % len(live) :] + live[: r % len(live)] if live else []
        print(f"round {r + 1}/{a.repeat}: " + " ".join(x.key for x in order), file=sys.stderr)
        for x in order:
            if x.error:
                continue
            try:
                wall, cpu = x.run(urls_for[x.n], False)
            except Exception as exc:
                x.error = f"{type(exc).__name__}: {exc}"
                print(f"  {x.key}: FAILED: {x.error}", file=sys.stderr)
                continue
            x.rps.append(x.n / wall)
            x.cpu_us.append(cpu / x.n * 1e6)
            print(
                f"  {x.key:12s} {x.n / wall:9.0f} req/s  {cpu / x.n * 1e6:7.1f} CPU µs/req", file=sys.stderr
            )


def ratios(conts: list[Contender]) -> dict[str, dict[str, float | None]]:
    """ours / reference, by median req/s (the headline), best req/s, and CPU per request (ref CPU / ours CPU)."""
    by = {x.key: x for x in conts}
    out: dict[str, dict[str, float | None]] = {}

    def div(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    for ours in ("ours-async", "ours-sync"):
        if ours not in by:
            continue
        o = by[ours]
        for ref in ("aiohttp", "aiohttp-keep", "pyreqwest", "httpx-async"):
            if ref not in by:
                continue
            rf = by[ref]
            out[f"{ours} / {ref}"] = {
                "req_s": div(o.median_rps, rf.median_rps),
                "best_req_s": div(o.best_rps, rf.best_rps),
                "cpu": div(rf.median_cpu, o.median_cpu),
                "min_cpu": div(rf.min_cpu, o.min_cpu),
            }
    return out


def machine_info(server: BenchServer, a: argparse.Namespace) -> dict[str, Any]:
    commit = command_output("git", "-C", _ROOT, "rev-parse", "--short", "HEAD")
    status = command_output("git", "-C", _ROOT, "status", "--porcelain", "--", "sessions")
    dirty = None if commit is None else bool(status)
    sessions_version = versions("sessions")["sessions"]

    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "versions": versions(
            "httpx",
            "httpcore",
            "aiohttp",
            "uvloop",
            "anyio",
            "h11",
            "yarl",
            "multidict",
            "sniffio",
        ),
        "sniffio_importable": importlib.util.find_spec("sniffio") is not None,
        "sessions": {
            "version": sessions_version,
            "git_commit": commit,
            "uncommitted_changes_in_sessions": dirty,
        },
        "server": {"name": server.name, "detail": server.detail, "url": server.base_url},
        "loop_policy": "uvloop.EventLoopPolicy (all contenders)"
        if a.uvloop
        else "asyncio default (all contenders)",
        "loadavg_start": list(os.getloadavg()),
    }


def report(
    conts: list[Contender], notes: list[str], info: dict[str, Any], a: argparse.Namespace
) -> dict[str, Any]:
    print()
    print(f"server: {info['server']['name']} ({info['server']['detail']}) at {info['server']['url']}")
    print(
        f"machine: {info['cpu_count']} CPUs ({info['cpu_model']}), {info['python']}, "
        f"httpx {info['versions']['httpx']}, httpcore {info['versions']['httpcore']}, "
        f"aiohttp {info['versions']['aiohttp']}, uvloop {info['versions']['uvloop']}, "
        f"sniffio importable: {info['sniffio_importable']}"
    )
    ses = info["sessions"]
    print(
        f"sessions {ses['version']} at {ses['git_commit']}"
        + (" + uncommitted changes in sessions/" if ses["uncommitted_changes_in_sessions"] else "")
    )
    print(
        f"loop: {info['loop_policy']}; n={a.n} (slow contenders: {a.slow_n or a.n}), concurrency={a.concurrency}, "
        f"median of {a.repeat} (after warm-up), interleaved; loadavg at start {info['loadavg_start'][0]:.2f}, "
        f"end {info['loadavg_end'][0]:.2f}"
    )
    print()
    print(
        f"{'contender':36s} {'req/s':>7s} {'best':>7s}  {'CPU µs/req':>10s} {'min':>6s}  {'loop':30s} samples req/s"
    )
    for x in conts:
        loops = ",".join(sorted(set(x.loops))) or "-"
        if x.error:
            print(f"{x.label:36s} {'FAILED':>7s} {'':>7s}  {'':>10s} {'':>6s}  {loops:30s} {x.error}")
        else:
            print(
                f"{x.label:36s} {x.median_rps or 0:7.0f} {x.best_rps or 0:7.0f}  {x.median_cpu or 0:10.1f} "
                f"{x.min_cpu or 0:6.1f}  {loops:30s} " + " ".join(f"{v:.0f}" for v in x.rps)
            )
    for nt in notes:
        print(f"note: {nt}")
    rat = ratios(conts)
    if rat:
        print()
        print(
            f"{'ratio (ours / reference)':28s} {'req/s':>6s}  {'best':>6s}  {'CPU':>6s}  {'minCPU':>6s}   target "
            "(judged on median req/s)"
        )
        for k, v in rat.items():
            cells = "  ".join(f"{(v[c] or 0):5.2f}x" for c in ("req_s", "best_req_s", "cpu", "min_cpu"))
            if k.endswith("/ aiohttp-keep"):
                print(f"{k:28s} {cells}   (no target: the like-for-like reference, see its row)")
                continue
            target = (
                TARGET_VS_AIOHTTP
                if k.endswith(("/ aiohttp", "/ aiohttp-keep"))
                else TARGET_VS_PYREQWEST
                if k.endswith("/ pyreqwest")
                else TARGET_VS_HTTPX
            )
            r = v["req_s"]
            verdict = "-" if r is None else ("PASS" if r >= target else "BELOW")
            print(f"{k:28s} {cells}   >= {target}x {verdict}")
        print(
            "(req/s = median wall-clock rate; best = fastest repetition; CPU = median process CPU per request, "
            "ratio = reference CPU / ours; minCPU = same with minima, the figure least disturbed by other load)"
        )
    result = {
        "benchmark": "throughput",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join([os.path.relpath(sys.argv[0], _ROOT)] + sys.argv[1:]),
        "params": {
            "n": a.n,
            "slow_n": a.slow_n or a.n,
            "concurrency": a.concurrency,
            "repeat": a.repeat,
            "uvloop": a.uvloop,
        },
        "machine": info,
        "contenders": {
            x.key: {
                "label": x.label,
                "n": x.n,
                "median_req_s": x.median_rps,
                "best_req_s": x.best_rps,
                "median_cpu_us_per_req": x.median_cpu,
                "min_cpu_us_per_req": x.min_cpu,
                "samples_req_s": x.rps,
                "samples_cpu_us_per_req": x.cpu_us,
                "loops": sorted(set(x.loops)),
                "error": x.error,
            }
            for x in conts
        },
        "ratios": rat,
        "targets": {
            "ours / aiohttp": TARGET_VS_AIOHTTP,
            "ours / pyreqwest": TARGET_VS_PYREQWEST,
            "ours / httpx-async": TARGET_VS_HTTPX,
        },
        "notes": notes,
    }
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=5000, help="GETs per contender per repetition (default 5000)")
    p.add_argument("--concurrency", "-c", type=int, default=32, help="requests in flight (default 32)")
    p.add_argument(
        "--repeat", type=int, default=3, help="timed repetitions; the median is reported (default 3)"
    )
    p.add_argument("--uvloop", action="store_true", help="run every async contender on uvloop")
    p.add_argument(
        "--slow-n",
        type=int,
        default=None,
        help="GETs for the slow httpx contenders (default: --n); req/s stay comparable",
    )
    p.add_argument(
        "--only",
        default=None,
        help="comma-separated subset of aiohttp,httpx-async,httpx-sync,ours-async,ours-sync",
    )
    p.add_argument("--server", choices=["nginx", "httpbin"], default="nginx")
    p.add_argument(
        "--json",
        default=os.path.join(_ROOT, "benchmarks", "results", "throughput.json"),
        help="where to write the JSON results ('-' to skip)",
    )
    a = p.parse_args()
    exit_on_sigterm()
    if a.uvloop:
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    with bench_server(a.server) as server:
        info = machine_info(server, a)
        if info["loadavg_start"][0] > 0.7:
            print(
                f"warning: load average {info['loadavg_start'][0]:.2f} before start: other processes are busy; "
                "req/s will be noisy (CPU µs/req less so).",
                file=sys.stderr,
            )
        conts, notes = build_contenders(a, server.base_url)
        run_all(conts, server.base_url, a)
        info["loadavg_end"] = list(os.getloadavg())
        if server.name != "nginx":
            notes.append("server is the embedded httpbin (in-process, shares the GIL): compare ratios only")
        result = report(conts, notes, info, a)
    if a.json != "-":
        os.makedirs(os.path.dirname(os.path.abspath(a.json)), exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
        print(f"\nwrote {os.path.relpath(a.json)}")


if __name__ == "__main__":
    main()
