"""`sessions fetch` end to end (process start included) against a plain aiohttp and a plain httpx script.

    python benchmarks/fetch_cli.py                    # 10k URLs, -c 32, median of 3 interleaved rounds
    python benchmarks/fetch_cli.py --n 20000 --repeat 5
    python benchmarks/fetch_cli.py --rss              # + peak RSS of `sessions fetch` over 100k and 1M URLs
    python benchmarks/fetch_cli.py --rss-only --rss-sizes 100000,1000000

Server: the local nginx of ``benchmarks/_servers.py`` (one worker, keep-alive, a 52-byte JSON body for every path).
The URL file holds N distinct URLs (``/item?id=<i>``), one per line.

Contenders, each a fresh subprocess timed from ``Popen`` to exit (interpreter start, imports, reading the file,
all requests, writing one JSON line per response, shutdown):

* ``sessions``     ``sessions fetch -i urls.txt -c 32 --no-progress -q`` with stdout redirected to /dev/null
                   (no limit, no cache, no retries changed: the defaults). This is the figure the target is
                   judged on: the same work as the plain scripts (one JSON line per response to /dev/null).
* ``sessions-o``   the same with ``-o FILE`` (a regular file in a temp dir): adds the ``--resume`` journal
                   (a request key hashed and one journal line written per record) and an unbuffered write per
                   record. ``-o /dev/null`` would make the CLI create ``/dev/null.journal``, so we do not use it.
* ``aiohttp``      a plain script: read the file, 32 workers on one ``aiohttp.ClientSession``
                   (``TCPConnector(limit=32)``), ``await resp.read()``, one ``json.dumps`` line per response
                   (index, url, status, ok, elapsed_ms, bytes) to stdout → /dev/null.
* ``httpx``        the same with ``httpx.AsyncClient`` (limits max_connections=32).

Environment of every child: ``PYTHONDONTWRITEBYTECODE`` removed and ``PYTHONPYCACHEPREFIX`` pointed at a temp
dir, so every contender starts from cached bytecode, as an installed package does (this VM sets
``PYTHONDONTWRITEBYTECODE=1``, which made ``sessions`` and ``sessions_cli`` — an editable install — recompile
~50 modules, ~0.12 s, on every start, while the peers' site-packages have their .pyc). The warm-up writes the cache.

Figures: wall seconds, req/s, the child's CPU seconds (user+sys, from ``wait4``) and peak RSS; the median of
``--repeat`` rounds (rotated order), after a warm-up round on 1000 URLs that also checks every contender wrote
one line per URL with status 200. Ratios are medians of the per-round ratios too (paired, so a busy moment on the
shared VM hits both sides of a ratio).

``--rss``: ``sessions fetch`` (stdout → /dev/null, and with ``-o FILE``) over 100k and 1M URLs read from a file,
the real requests; peak RSS from ``wait4`` (``ru_maxrss``). Target: ≤ 150 MB and flat between 100k and 1M.

Results: ``benchmarks/results/fetch_cli.json`` (``--out`` to change).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _servers import command_output, exit_on_sigterm, nginx_server, versions  # noqa: E402

TARGET_VS_AIOHTTP = 0.8
RSS_LIMIT_MB = 150.0

AIOHTTP_SCRIPT = textwrap.dedent(
    """\
    import asyncio, json, sys, time
    import aiohttp

    async def main(path, concurrency):
        with open(path, encoding="utf-8") as f:
            lines = enumerate(line.strip() for line in f if line.strip())
            out = sys.stdout
            dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
            connector = aiohttp.TCPConnector(limit=concurrency)
            async with aiohttp.ClientSession(connector=connector) as session:
                async def worker():
                    for index, url in lines:
                        start = time.perf_counter()
                        try:
                            async with session.get(url) as resp:
                                body = await resp.read()
                            status, error = resp.status, None
                        except Exception as exc:
                            body, status, error = b"", None, {"kind": type(exc).__name__, "message": str(exc)}
                        record = {"index": index, "url": url, "method": "GET", "status": status,
                                  "ok": status is not None and status < 400,
                                  "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
                                  "bytes": len(body), "error": error}
                        out.write(dumps(record) + "\\n")
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            out.flush()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)

HTTPX_SCRIPT = textwrap.dedent(
    """\
    import asyncio, json, sys, time
    import httpx

    async def main(path, concurrency):
        with open(path, encoding="utf-8") as f:
            lines = enumerate(line.strip() for line in f if line.strip())
            out = sys.stdout
            dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
            limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            async with httpx.AsyncClient(limits=limits) as client:
                async def worker():
                    for index, url in lines:
                        start = time.perf_counter()
                        try:
                            resp = await client.get(url)
                            body, status, error = resp.content, resp.status_code, None
                        except Exception as exc:
                            body, status, error = b"", None, {"kind": type(exc).__name__, "message": str(exc)}
                        record = {"index": index, "url": url, "method": "GET", "status": status,
                                  "ok": status is not None and status < 400,
                                  "elapsed_ms": round((time.perf_counter() - start) * 1000, 3),
                                  "bytes": len(body), "error": error}
                        out.write(dumps(record) + "\\n")
                await asyncio.gather(*(worker() for _ in range(concurrency)))
            out.flush()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


@dataclass
class Run:
    wall: float
    cpu: float
    maxrss_mb: float
    rc: int


CHILD_ENV: dict[str, str] = {}


def child_env(tmp: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k != "PYTHONDONTWRITEBYTECODE" and not k.startswith("SESSIONS_")
    }
    env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


def run_child(argv: list[str], stdout: Any = subprocess.DEVNULL) -> Run:
    """Run argv to completion; wall time from Popen to reaping, CPU and peak RSS of that child from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=CHILD_ENV or None)
    assert proc.stderr is not None
    err = proc.stderr.read()  # -q: should be empty; read so a chatty child never blocks
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.stderr.write(f"!! {argv[:3]}… exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}\n")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, proc.returncode)


def sessions_exe() -> list[str]:
    exe = shutil.which("sessions") or str(Path(sys.executable).with_name("sessions"))
    if not Path(exe).exists():
        return [sys.executable, "-m", "sessions_cli"]
    return [exe]


def write_urls(path: Path, base: str, n: int) -> None:
    with open(path, "w", encoding="utf-8") as f:
        chunk = 100_000
        for lo in range(0, n, chunk):
            f.write("".join(f"{base}/item?id={i}\n" for i in range(lo, min(n, lo + chunk))))


def contenders(tmp: Path, concurrency: int) -> dict[str, Any]:
    """name → function(urls_path) -> (argv, stdout path or None)."""
    (tmp / "plain_aiohttp.py").write_text(AIOHTTP_SCRIPT)
    (tmp / "plain_httpx.py").write_text(HTTPX_SCRIPT)
    sess = sessions_exe()
    c = str(concurrency)
    return {
        "sessions": lambda urls: (sess + ["fetch", "-i", str(urls), "-c", c, "--no-progress", "-q"], None),
        "sessions-o": lambda urls: (
            sess + ["fetch", "-i", str(urls), "-c", c, "--no-progress", "-q", "-o", str(tmp / "out.jsonl")],
            None,
        ),
        "aiohttp": lambda urls: ([sys.executable, str(tmp / "plain_aiohttp.py"), str(urls), c], None),
        "httpx": lambda urls: ([sys.executable, str(tmp / "plain_httpx.py"), str(urls), c], None),
    }


def check_output(name: str, path: Path, n: int) -> str:
    lines = path.read_bytes().splitlines()
    statuses: dict[Any, int] = {}
    indexes = set()
    for line in lines:
        rec = json.loads(line)
        statuses[rec["status"]] = statuses.get(rec["status"], 0) + 1
        indexes.add(rec["index"])
    ok = len(lines) == n and statuses == {200: n} and indexes == set(range(n))
    msg = f"{name}: {len(lines)} lines, statuses {statuses}, {'OK' if ok else 'MISMATCH'}"
    if not ok:
        raise SystemExit("output check failed: " + msg)
    return msg


def throughput(args: argparse.Namespace, base: str, tmp: Path) -> dict[str, Any]:
    names = [n for n in ("sessions", "sessions-o", "aiohttp", "httpx") if n in args.only.split(",")]
    make = contenders(tmp, args.concurrency)
    urls = tmp / "urls.txt"
    write_urls(urls, base, args.n)
    warm = tmp / "urls_warm.txt"
    write_urls(warm, base, min(args.n, 1000))

    print(f"warm-up + output check on {min(args.n, 1000)} URLs", file=sys.stderr)
    checks = []
    for name in names:
        argv, _ = make[name](warm)
        out = tmp / f"check_{name}.jsonl"
        if name == "sessions-o":
            run = run_child(argv)
            out = tmp / "out.jsonl"
        else:
            with open(out, "wb") as f:
                run = run_child(argv, stdout=f)
        if run.rc != 0:
            raise SystemExit(f"{name} failed in warm-up")
        checks.append(check_output(name, out, min(args.n, 1000)))
        print("  " + checks[-1], file=sys.stderr)

    rounds: list[dict[str, Run]] = []
    for r in range(args.repeat):
        order = names[r % len(names) :] + names[: r % len(names)]
        results = {}
        for name in order:
            argv, _ = make[name](urls)
            results[name] = run_child(argv)
            res = results[name]
            print(
                f"round {r + 1} {name:<11} {res.wall:7.3f}s {args.n / res.wall:9,.0f} req/s "
                f"cpu {res.cpu:6.3f}s rss {res.maxrss_mb:6.1f} MB rc {res.rc}",
                file=sys.stderr,
            )
        rounds.append(results)

    summary: dict[str, Any] = {}
    for name in names:
        walls = [r[name].wall for r in rounds]
        cpus = [r[name].cpu for r in rounds]
        wall = statistics.median(walls)
        summary[name] = {
            "wall_s": round(wall, 3),
            "req_per_s": round(args.n / wall, 1),
            "best_wall_s": round(min(walls), 3),
            "cpu_s": round(statistics.median(cpus), 3),
            "cpu_us_per_req": round(statistics.median(cpus) / args.n * 1e6, 1),
            "maxrss_mb": round(max(r[name].maxrss_mb for r in rounds), 1),
            "walls": [round(w, 3) for w in walls],
        }
    ratios: dict[str, Any] = {}
    for ours in ("sessions", "sessions-o"):
        for peer in ("aiohttp", "httpx"):
            if ours in summary and peer in summary:
                paired = [r[peer].wall / r[ours].wall for r in rounds]
                paired_cpu = [r[peer].cpu / r[ours].cpu for r in rounds]
                ratios[f"{ours}/{peer}"] = {
                    "speed": round(statistics.median(paired), 3),
                    "speed_of_medians": round(summary[peer]["wall_s"] / summary[ours]["wall_s"], 3),
                    "cpu": round(statistics.median(paired_cpu), 3),
                }
    return {"n": args.n, "concurrency": args.concurrency, "repeat": args.repeat, "checks": checks,
            "contenders": summary, "ratios": ratios}  # fmt: skip


def rss(args: argparse.Namespace, base: str, tmp: Path) -> dict[str, Any]:
    sess = sessions_exe()
    out: dict[str, Any] = {"sizes": {}}
    for n in [int(x) for x in args.rss_sizes.split(",")]:
        urls = tmp / f"urls_{n}.txt"
        write_urls(urls, base, n)
        entry: dict[str, Any] = {}
        modes = {
            "stdout": [],
            "-o": ["-o", str(tmp / "rss_out.jsonl")],
        }
        for mode in args.rss_modes.split(","):
            argv = sess + ["fetch", "-i", str(urls), "-c", str(args.concurrency), "--no-progress", "-q",
                           *modes[mode]]  # fmt: skip
            run = run_child(argv)
            entry[mode] = {"maxrss_mb": round(run.maxrss_mb, 1), "wall_s": round(run.wall, 2),
                           "req_per_s": round(n / run.wall, 1), "cpu_s": round(run.cpu, 2), "rc": run.rc}  # fmt: skip
            print(f"rss n={n:>8,} {mode:<6} {run.maxrss_mb:6.1f} MB  {run.wall:7.1f}s  "
                  f"{n / run.wall:8,.0f} req/s  rc {run.rc}", file=sys.stderr)  # fmt: skip
            if mode == "-o":
                lines = sum(1 for _ in open(tmp / "rss_out.jsonl", "rb"))
                entry[mode]["records"] = lines
                (tmp / "rss_out.jsonl").unlink()
                Path(str(tmp / "rss_out.jsonl") + ".journal").unlink(missing_ok=True)
        urls.unlink()
        out["sizes"][str(n)] = entry
    return out


def machine() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "loadavg_start": os.getloadavg(),
        "git_head": command_output("git", "-C", str(HERE), "rev-parse", "--short", "HEAD") or "",
        "versions": versions("aiohttp", "httpx", "typer", "rich"),
    }


def print_table(result: dict[str, Any]) -> None:
    t = result.get("throughput")
    if t:
        print(f"\n`sessions fetch` vs plain scripts: n={t['n']}, c={t['concurrency']}, median of {t['repeat']}, "
              "process start included")  # fmt: skip
        print(
            f"{'contender':<12}{'seconds':>9}{'req/s':>10}{'CPU s':>8}{'CPU µs/req':>12}{'peak RSS MB':>13}"
        )
        for name, s in t["contenders"].items():
            print(f"{name:<12}{s['wall_s']:>9.3f}{s['req_per_s']:>10,.0f}{s['cpu_s']:>8.2f}"
                  f"{s['cpu_us_per_req']:>12.1f}{s['maxrss_mb']:>13.1f}")  # fmt: skip
        print(f"\n{'ratio':<22}{'speed (paired)':>16}{'of medians':>12}{'CPU':>8}")
        for name, r in t["ratios"].items():
            flag = ""
            if name.endswith("/aiohttp"):
                flag = "  pass" if r["speed"] >= TARGET_VS_AIOHTTP else f"  below {TARGET_VS_AIOHTTP}"
            print(f"{name:<22}{r['speed']:>16.3f}{r['speed_of_medians']:>12.3f}{r['cpu']:>8.3f}{flag}")
    m = result.get("rss")
    if m:
        print("\npeak RSS of `sessions fetch` (real requests, URLs streamed from a file)")
        for n, entry in m["sizes"].items():
            for mode, e in entry.items():
                print(f"  n={int(n):>9,}  {mode:<6} {e['maxrss_mb']:7.1f} MB  {e['wall_s']:7.1f}s  "
                      f"{e['req_per_s']:8,.0f} req/s")  # fmt: skip
        print(f"  target ≤ {RSS_LIMIT_MB:.0f} MB and flat: {m.get('verdict')}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--concurrency", "-c", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="sessions,sessions-o,aiohttp,httpx")
    parser.add_argument("--rss", action="store_true", help="also measure peak RSS over --rss-sizes")
    parser.add_argument("--rss-only", action="store_true", help="only the RSS measurement")
    parser.add_argument("--rss-sizes", default="100000,1000000")
    parser.add_argument("--rss-modes", default="stdout,-o")
    parser.add_argument("--out", default=str(HERE / "results" / "fetch_cli.json"))
    args = parser.parse_args()
    exit_on_sigterm()

    result: dict[str, Any] = {"machine": machine()}
    with nginx_server() as srv, tempfile.TemporaryDirectory(prefix="fetch_cli_") as tmpdir:
        tmp = Path(tmpdir)
        CHILD_ENV.update(child_env(tmp))
        result["server"] = {"name": srv.name, "detail": srv.detail}
        if not args.rss_only:
            result["throughput"] = throughput(args, srv.base_url, tmp)
        if args.rss or args.rss_only:
            result["rss"] = rss(args, srv.base_url, tmp)
            sizes = result["rss"]["sizes"]
            peaks = [e["maxrss_mb"] for entry in sizes.values() for e in entry.values()]
            small, large = list(sizes.values())[0], list(sizes.values())[-1]
            growth = {mode: round(large[mode]["maxrss_mb"] - small[mode]["maxrss_mb"], 1) for mode in small}
            flat = all(abs(g) <= 10.0 for g in growth.values())
            result["rss"]["growth_mb"] = growth
            result["rss"]["verdict"] = (
                f"{'pass' if max(peaks) <= RSS_LIMIT_MB and flat else 'FAIL'} "
                f"(max {max(peaks):.1f} MB, growth first→last size {growth})"
            )
    result["machine"]["loadavg_end"] = os.getloadavg()
    print_table(result)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
