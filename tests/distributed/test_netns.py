"""Scale-out across real (namespaced) hosts: the scheduler and the coordinator on one host, two workers on
two others, Redis and a recording HTTP server on their own — one private /24 (see `netns.py`).

Proven from the outputs and the *server's* arrival log: the global limit (0 overshoot), a worker SIGKILLed
mid-run, a worker's link set down mid-run, the coordinator interrupted then resumed — every input exactly
once. Bounded: at most 100 requests and 90 s per test (`deadline`). Skipped only where namespaces cannot be
created, never under `SESSIONS_REQUIRE_REDIS=1` (CI).
"""

from __future__ import annotations

import bisect
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sessions_cli.exit_codes import ExitCode

from .netns import NamespaceUnavailable, Topology, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.usefixtures("deadline")]

HOSTS = ("sched", "w1", "w2", "redis", "http")
SCHEDULER_PORT = 8786
HTTP_PORT = 8080


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """The namespaces, with a redis-server bound to its host's address."""
    pytest.importorskip("distributed", reason="needs the dask extra: pip install 'sessions[dask]'")
    try:
        topology = Topology(HOSTS)
    except NamespaceUnavailable as exc:
        if os.environ.get("SESSIONS_REQUIRE_REDIS") == "1":
            pytest.fail(f"SESSIONS_REQUIRE_REDIS=1 but network namespaces are unavailable: {exc}")
        pytest.skip(f"network namespaces unavailable: {exc}")
    try:
        work = tmp_path_factory.mktemp("redis")
        redis = topology.address("redis")
        argv = ["redis-server", "--bind", redis, "--port", "6379", "--save", "", "--protected-mode", "no"]
        topology.start("redis", argv, cwd=work)
        check = [sys.executable, "-c", f"import redis; redis.Redis(host='{redis}').ping()"]
        wait_for(lambda: topology.run("sched", check, cwd=work, timeout=10).returncode == 0, 20, "redis")
        yield topology
    finally:
        topology.close()


@dataclass
class Cluster:
    """One test's scheduler, workers and HTTP server."""

    net: Topology
    work: Path
    workers: dict[str, subprocess.Popen[Any]]
    http: subprocess.Popen[Any]

    @property
    def scheduler(self) -> str:
        return f"tcp://{self.net.address('sched')}:{SCHEDULER_PORT}"

    @property
    def redis(self) -> str:
        return f"redis://{self.net.address('redis')}:6379/0"

    def url(self, path: str) -> str:
        return f"http://{self.net.address('http')}:{HTTP_PORT}{path}"

    def fetch(self, *args: str) -> list[str]:
        """The coordinator's command line (run on the scheduler's host)."""
        return [sys.executable, "-m", "sessions_cli", "fetch", "--cluster", self.scheduler, *args]

    def arrivals(self, path: str) -> list[float]:
        """Stop the server; the arrival times of requests under `path`."""
        self.http.send_signal(signal.SIGTERM)
        self.http.wait(timeout=20)
        log = json.loads((self.work / "arrivals.json").read_text())
        return sorted(time for time, _, seen in log if seen.startswith(path))


@pytest.fixture
def cluster(net: Topology, tmp_path: Path) -> Iterator[Cluster]:
    sched = net.address("sched")
    started = []
    try:
        env = net.env(DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL="4s")  # a silent worker is lost after 4 s
        scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", sched,
                     "--port", str(SCHEDULER_PORT), "--no-dashboard"]  # fmt: skip
        started.append(net.start("sched", scheduler, cwd=tmp_path, env=env))
        workers = {}
        for host in ("w1", "w2"):
            argv = [sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://{sched}:{SCHEDULER_PORT}",
                    "--nthreads", "1", "--no-nanny", "--host", net.address(host),
                    "--no-dashboard"]  # fmt: skip
            workers[host] = net.start(host, argv, cwd=tmp_path)
            started.append(workers[host])
        server = [sys.executable, "-m", "tests.distributed._netns_server", net.address("http"),
                  str(HTTP_PORT), str(tmp_path / "arrivals.json")]  # fmt: skip
        http = net.start("http", server, cwd=tmp_path)
        started.append(http)
        ready = (
            "from distributed import Client\n"
            f"with Client('tcp://{sched}:{SCHEDULER_PORT}', timeout=30) as c:\n"
            "    c.wait_for_workers(2, timeout=30)\n"
            "import httpx\n"
            f"httpx.get('http://{net.address('http')}:{HTTP_PORT}/get', timeout=5).raise_for_status()\n"
        )
        wait_for(
            lambda: net.run("sched", [sys.executable, "-c", ready], cwd=tmp_path).returncode == 0,
            40,
            "cluster",
        )
        yield Cluster(net, tmp_path, workers, http)
    finally:
        net.stop(started)
        for host in ("w1", "w2"):
            net.link(host, "up")  # a test may have cut a worker off


def _urls(cluster: Cluster, path: str, count: int) -> str:
    file = cluster.work / "urls.txt"
    file.write_text("".join(f"{cluster.url(path)}?i={i}\n" for i in range(count)), encoding="utf-8")
    return str(file)


def _records(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert not data or data.endswith(b"\n"), "torn last line"
    return [json.loads(line) for line in data.decode().splitlines()]


def _exactly_once(out: Path, count: int) -> list[dict[str, Any]]:
    records = _records(out)
    seen = Counter(record["index"] for record in records)
    assert sorted(seen) == list(range(count)), "lost records"
    assert max(seen.values()) == 1, "duplicated records"
    assert all(record["status"] == 200 for record in records)
    return records


def _max_in_window(times: list[float], window: float) -> int:
    return max(
        (bisect.bisect_left(times, start + window, lo=i) - i for i, start in enumerate(times)), default=0
    )


def _lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def _background(cluster: Cluster, *args: str) -> subprocess.Popen[Any]:
    return cluster.net.start("sched", cluster.fetch(*args), cwd=cluster.work, stderr=subprocess.PIPE)


def test_workers_on_two_hosts_share_one_limit_through_redis(cluster: Cluster) -> None:
    count, out = 60, cluster.work / "out.jsonl"
    args = [_urls(cluster, "/anything/limit", count), "-o", str(out), "-q", "-c", "8",
            "--partition-size", "6", "--backend", "redis", "--redis-url", cluster.redis,
            "--rate", "20/1s", "--limit-by", "global",
            "--summary-json", str(cluster.work / "summary.json")]  # fmt: skip
    done = cluster.net.run("sched", cluster.fetch(*args), cwd=cluster.work, timeout=60)
    assert done.returncode == ExitCode.OK, done.stderr
    _exactly_once(out, count)
    times = cluster.arrivals("/anything/limit")
    assert len(times) == count
    assert _max_in_window(times, 1.0 - 0.04) <= 20  # less 40 ms of jitter between admission and arrival
    assert json.loads((cluster.work / "summary.json").read_text())["workers"] == 2


def _interrupted_run(
    cluster: Cluster, count: int, *extra: str
) -> tuple[subprocess.Popen[Any], list[str], Path]:
    out = cluster.work / "out.jsonl"
    args = [_urls(cluster, "/delay/0.1", count), "-o", str(out), "-q", "-c", "2", "--partition-size", "5",
            "--summary-json", str(cluster.work / "summary.json"), *extra]  # fmt: skip
    coordinator = _background(cluster, *args)
    wait_for(lambda: _lines(out) >= 15 or coordinator.poll() is not None, 40, "the first records")
    assert coordinator.poll() is None, "finished before the fault"
    return coordinator, args, out


def _finish(coordinator: subprocess.Popen[Any]) -> int:
    _, stderr = coordinator.communicate(timeout=60)
    assert coordinator.returncode == ExitCode.OK, stderr
    return int(coordinator.returncode)


def test_a_worker_killed_mid_run_loses_nothing(cluster: Cluster) -> None:
    count = 100
    coordinator, _, out = _interrupted_run(cluster, count)
    cluster.workers["w1"].send_signal(signal.SIGKILL)
    _finish(coordinator)
    _exactly_once(out, count)
    summary = json.loads((cluster.work / "summary.json").read_text())
    assert summary["resent"] >= 1  # its partition ran again on w2
    assert len(cluster.arrivals("/delay/")) >= count


def test_a_worker_cut_off_mid_run_loses_nothing(cluster: Cluster) -> None:
    count = 100
    coordinator, _, out = _interrupted_run(cluster, count, "--timeout", "3s", "--retries", "0")
    cluster.net.link("w1", "down")
    _finish(coordinator)
    _exactly_once(out, count)
    assert json.loads((cluster.work / "summary.json").read_text())["resent"] >= 1


def test_coordinator_sigint_then_resume_loses_nothing(cluster: Cluster) -> None:
    count = 100
    coordinator, args, out = _interrupted_run(cluster, count)
    coordinator.send_signal(signal.SIGINT)
    _, stderr = coordinator.communicate(timeout=60)
    assert coordinator.returncode == ExitCode.INTERRUPTED, stderr
    before = len(_records(out))
    resumed = cluster.net.run("sched", [*cluster.fetch(*args), "--resume"], cwd=cluster.work, timeout=60)
    assert resumed.returncode == ExitCode.OK, resumed.stderr
    _exactly_once(out, count)
    assert json.loads((cluster.work / "summary.json").read_text())["skipped_resumed"] == before
