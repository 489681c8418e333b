"""Scale-out on Dask: the two targets of issue 13, measured in one run.

    python benchmarks/scaling.py                 # both targets
    python benchmarks/scaling.py --only workers  # (a) only
    python benchmarks/scaling.py --only cli      # (b) only
    python benchmarks/scaling.py --only rss --rss-n 100000,1000000   # (c) only

(a) **1 → 4 workers, I/O bound.** The embedded httpbin delays every response 100 ms (``/delay/0.1``); each
    worker runs one partition at a time with ``concurrency=4`` (the per-worker cap), so one worker can do at
    most 40 req/s. ``sessions.distributed.fetch`` on a ``LocalCluster`` of 1 and of 4 worker processes, each
    timed from the first request to the last result (the cluster is up and its workers joined before the
    clock starts), ``--seconds`` of work at the ideal rate. Target: 4 workers ≥ 3.5 × 1 worker.
(b) **``--cluster local:2`` vs a single-process ``sessions fetch``** against the local nginx of
    ``benchmarks/_servers.py`` (the embedded httpbin when nginx cannot be had: then only the ratio means
    anything): each a fresh ``sessions fetch -i urls.txt -c 32 -q -o FILE`` subprocess over ``--n`` URLs, timed
    from ``Popen`` to exit (cluster start-up included) and by the run's own summary (``rate_per_s``: from the
    first input read to the last record, start-up excluded). Target: local:2 ≥ 1.5 × single process.
    The same round also runs the machine's **ceiling**: two independent single-process fetches of half the
    URLs each, started together (no coordinator, no Dask) — the most two processes get out of these cores
    beside the server. A scale-out run cannot beat it.
(c) **Memory stays flat.** Peak RSS of the coordinator (and of the largest worker) of ``sessions fetch
    --cluster local:2`` over inputs of each ``--rss-n`` length streamed from a file, sampled every 100 ms with
    psutil: with bounded read-ahead the peak must not grow with the input.

Figures are printed with their ratios; nothing is asserted (timing claims live only in benchmarks/).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _workers_round(workers: int, base: str, seconds: float, concurrency: int) -> float:
    from distributed import Client, LocalCluster

    import sessions
    from sessions.distributed import fetch

    count = int(workers * concurrency / 0.1 * seconds)
    urls = [f"{base}/delay/0.1?i={i}" for i in range(count)]
    with (
        LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        ) as cluster,
        Client(cluster) as client,
    ):
        client.wait_for_workers(workers)
        warm = fetch(urls[: workers * 4], cluster=client, session=sessions.AsyncSession, partition_size=1)
        with warm:
            assert len(list(warm)) == workers * 4
        started = time.perf_counter()
        options = {"concurrency": concurrency}
        batch = fetch(
            urls, cluster=client, session=partial(sessions.AsyncSession), options=options, partition_size=20
        )
        with batch:
            statuses = [result.status_code for _, result in batch]
        elapsed = time.perf_counter() - started
    assert statuses.count(200) == count, "every request must succeed"
    return count / elapsed


def bench_workers(seconds: float, concurrency: int) -> dict[str, float]:
    from sessions.httpbin import LocalHttpbin

    with LocalHttpbin() as server:
        one = _workers_round(1, server.url, seconds, concurrency)
        four = _workers_round(4, server.url, seconds, concurrency)
    ideal = concurrency / 0.1
    print(f"(a) 100 ms responses, concurrency {concurrency} per worker (ideal {ideal:.0f} req/s per worker)")
    print(f"    1 worker : {one:8.1f} req/s")
    print(f"    4 workers: {four:8.1f} req/s")
    print(f"    ratio    : {four / one:8.2f}x   (target >= 3.5x)")
    return {"one_worker_rps": one, "four_workers_rps": four, "ratio": four / one}


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONS_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _checked_rate(summary: Path) -> float:
    data = json.loads(summary.read_text())
    assert data["status_codes"] == {"200": data["total"]}, data["status_codes"]
    return float(data["rate_per_s"])


def _cli(args: list[str], work: Path) -> tuple[float, float]:
    summary = work / "summary.json"
    started = time.perf_counter()
    command = [sys.executable, "-m", "sessions_cli", "fetch", *args, "--summary-json", str(summary)]
    subprocess.run(command, cwd=work, env=_env(), check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return wall, _checked_rate(summary)


def _halves_together(halves: list[Path], work: Path) -> float:
    """Wall time of two single-process fetches, one per half of the input, started together."""
    started = time.perf_counter()
    running = []
    for number, half in enumerate(halves):
        args = ["-i", str(half), "-c", "32", "-q", "-o", str(work / f"half{number}.jsonl")]
        summary = ["--summary-json", str(work / f"half{number}.json")]
        command = [sys.executable, "-m", "sessions_cli", "fetch", *args, *summary]
        running.append(subprocess.Popen(command, cwd=work, env=_env(), stdout=subprocess.DEVNULL))
    for process in running:
        assert process.wait() == 0, "a half failed"
    wall = time.perf_counter() - started
    for number in range(len(halves)):
        _checked_rate(work / f"half{number}.json")
    return wall


def bench_cli(n: int, repeat: int) -> dict[str, float]:
    from benchmarks._servers import bench_server

    with bench_server() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lines = [f"{server.base_url}/item?id={i}\n" for i in range(n)]
        urls = work / "urls.txt"
        urls.write_text("".join(lines))
        halves = [work / "half0.txt", work / "half1.txt"]
        halves[0].write_text("".join(lines[: n // 2]))
        halves[1].write_text("".join(lines[n // 2 :]))
        base = ["-i", str(urls), "-c", "32", "-q", "-o", str(work / "out.jsonl")]
        rounds = []
        for _ in range(repeat):
            single = _cli(base, work)
            cluster = _cli([*base, "--cluster", "local:2", "--partition-size", "1000"], work)
            ceiling = _halves_together(halves, work)
            rounds.append((single, cluster, ceiling))
    best = min(rounds, key=lambda r: r[0][0] + r[1][0])
    (single_wall, single_rate), (cluster_wall, cluster_rate), ceiling_wall = best
    print(f"(b) {n} URLs against {server.name}, -c 32, best of {repeat} paired rounds")
    print(f"    single process : {n / single_wall:8.0f} req/s wall ({single_rate:.0f}/s in the run)")
    print(f"    --cluster local:2: {n / cluster_wall:8.0f} req/s wall ({cluster_rate:.0f}/s in the run)")
    print(f"    ratio (wall)   : {single_wall / cluster_wall:8.2f}x   (target >= 1.5x)")
    print(f"    ratio (in run) : {cluster_rate / single_rate:8.2f}x")
    print(f"    ceiling: two halves in two processes at once: {n / ceiling_wall:8.0f} req/s wall, "
          f"{single_wall / ceiling_wall:.2f}x single (no scale-out on these cores can beat this)")  # fmt: skip
    return {
        "ceiling_rps_wall": n / ceiling_wall,
        "ratio_ceiling": single_wall / ceiling_wall,
        "single_rps_wall": n / single_wall,
        "cluster_rps_wall": n / cluster_wall,
        "single_rps_run": single_rate,
        "cluster_rps_run": cluster_rate,
        "ratio_wall": single_wall / cluster_wall,
        "ratio_run": cluster_rate / single_rate,
    }


def _peak_rss(command: list[str], work: Path) -> tuple[float, float]:
    """(coordinator, largest worker) peak RSS in MiB of `command`, sampled every 100 ms."""
    import psutil

    process = subprocess.Popen(command, cwd=work, env=_env(), stdout=subprocess.DEVNULL)
    watched = psutil.Process(process.pid)
    coordinator = worker = 0
    while process.poll() is None:
        try:
            coordinator = max(coordinator, watched.memory_info().rss)
            for child in watched.children(recursive=True):
                worker = max(worker, child.memory_info().rss)
        except psutil.Error:
            pass  # a process ended between the listing and the reading
        time.sleep(0.1)
    assert process.returncode == 0, "the run failed"
    return coordinator / 2**20, worker / 2**20


def bench_rss(lengths: list[int]) -> dict[str, list[float]]:
    from benchmarks._servers import bench_server

    peaks: dict[str, list[float]] = {}
    with bench_server() as server, tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print(f"(c) peak RSS of `sessions fetch --cluster local:2 -c 32` against {server.name}")
        for n in lengths:
            urls = work / "urls.txt"
            with urls.open("w") as file:
                for i in range(n):
                    file.write(f"{server.base_url}/item?id={i}\n")
            command = [sys.executable, "-m", "sessions_cli", "fetch", "-i", str(urls), "-c", "32", "-q",
                       "-o", str(work / "out.jsonl"), "--cluster", "local:2", "--partition-size", "1000"]  # fmt: skip
            started = time.perf_counter()
            coordinator, worker = _peak_rss(command, work)
            elapsed = time.perf_counter() - started
            peaks[str(n)] = [coordinator, worker]
            print(f"    {n:>9} URLs: coordinator {coordinator:6.1f} MiB, largest worker {worker:6.1f} MiB "
                  f"({elapsed:.0f} s)")  # fmt: skip
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", choices=("workers", "cli", "rss"))
    parser.add_argument("--seconds", type=float, default=4.0, help="(a) seconds of work at the ideal rate")
    parser.add_argument("--concurrency", type=int, default=4, help="(a) per-worker concurrency cap")
    parser.add_argument("--n", type=int, default=50_000, help="(b) URLs per run")
    parser.add_argument("--repeat", type=int, default=2, help="(b) paired rounds")
    parser.add_argument("--rss-n", default="100000,1000000", help="(c) input lengths, comma-separated")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores")
    if args.only in (None, "workers"):
        bench_workers(args.seconds, args.concurrency)
    if args.only in (None, "cli"):
        bench_cli(args.n, args.repeat)
    if args.only in (None, "rss"):
        bench_rss([int(n) for n in args.rss_n.split(",")])
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
