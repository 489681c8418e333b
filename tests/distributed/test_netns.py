"""Scale-out across real (namespaced) hosts: the scheduler and the coordinator on one host, two workers on
two others, Redis and a recording HTTP server on their own — one private /24 (see `netns.py`).

Proven from the outputs and the *server's* live log (`_netns_server.py`): the global limit of every
algorithm with 0 overshoot; a worker SIGKILLed, or its link set down, while the server holds one of its
requests; the coordinator interrupted then resumed — every input exactly once. A fault is injected only
while the faulted worker has a request of at most 0.15 s on a `/delay/0.4` route, so it always lands
mid-partition with a request on the wire (a kill after the partition finished would prove nothing).
Bounded: at most 100 requests per run and 90 s per test (`deadline`). Skipped only where namespaces
cannot be created, never under `SESSIONS_REQUIRE_REDIS=1` (CI).
"""

from __future__ import annotations

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

from .bounds import LIMITS, Limit
from .netns import NamespaceUnavailable, Topology, wait_for
from .server_log import ServerLog

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.usefixtures("deadline")]

HOSTS = ("sched", "w1", "w2", "redis", "http")
HTTP_PORT = 8080
SHARED_SCHEDULER_PORT = 8786  # the module's cluster (the limit tests)
OWN_SCHEDULER_PORT = 8796  # a fault test's own cluster, beside it


@dataclass
class Hosts:
    """The module's namespaces, Redis and recording server."""

    net: Topology
    log: ServerLog

    @property
    def redis(self) -> str:
        return f"redis://{self.net.address('redis')}:6379"

    def url(self, path: str) -> str:
        return f"http://{self.net.address('http')}:{HTTP_PORT}{path}"


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hosts]:
    pytest.importorskip("distributed", reason="needs the dask extra: pip install 'sessions[dask]'")
    try:
        net = Topology(HOSTS)
    except NamespaceUnavailable as exc:
        if os.environ.get("SESSIONS_REQUIRE_REDIS") == "1":
            pytest.fail(f"SESSIONS_REQUIRE_REDIS=1 but network namespaces are unavailable: {exc}")
        pytest.skip(f"network namespaces unavailable: {exc}")
    try:
        work = tmp_path_factory.mktemp("hosts")
        redis = net.address("redis")
        net.start("redis", ["redis-server", "--bind", redis, "--port", "6379", "--save", "",
                            "--protected-mode", "no"], cwd=work)  # fmt: skip
        log = ServerLog(work / "server.log")
        net.start("http", [sys.executable, "-m", "tests.distributed._netns_server", net.address("http"),
                           str(HTTP_PORT), str(log.path)], cwd=work)  # fmt: skip
        ready = (
            f"import redis, httpx; redis.Redis(host='{redis}').ping(); "
            f"httpx.get('http://{net.address('http')}:{HTTP_PORT}/get', timeout=5).raise_for_status()"
        )
        check = [sys.executable, "-c", ready]
        wait_for(lambda: net.run("sched", check, cwd=work, timeout=10).returncode == 0, 30, "redis, http")
        yield Hosts(net, log)
    finally:
        net.close()


@dataclass
class Cluster:
    """A scheduler on `sched` and one worker on each of `w1`, `w2`."""

    hosts: Hosts
    port: int
    work: Path
    workers: dict[str, subprocess.Popen[Any]]
    processes: list[subprocess.Popen[Any]]

    @property
    def net(self) -> Topology:
        return self.hosts.net

    @property
    def scheduler(self) -> str:
        return f"tcp://{self.net.address('sched')}:{self.port}"

    def fetch(self, *args: str) -> list[str]:
        """The coordinator's command line (run on the scheduler's host)."""
        return [sys.executable, "-m", "sessions_cli", "fetch", "--cluster", self.scheduler, *args]

    def urls(self, path: str, count: int) -> str:
        file = self.work / f"urls-{count}.txt"
        file.write_text("".join(f"{self.hosts.url(path)}?i={i}\n" for i in range(count)), encoding="utf-8")
        return str(file)

    def summary(self) -> dict[str, Any]:
        return json.loads((self.work / "summary.json").read_text())  # type: ignore[no-any-return]


def _start_cluster(hosts: Hosts, port: int, work: Path) -> Cluster:
    net, sched = hosts.net, hosts.net.address("sched")
    cluster = Cluster(hosts, port, work, {}, [])
    try:
        env = net.env(DASK_DISTRIBUTED__SCHEDULER__WORKER_TTL="4s")  # a silent worker is lost after 4 s
        scheduler = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", sched,
                     "--port", str(port), "--no-dashboard"]  # fmt: skip
        cluster.processes.append(net.start("sched", scheduler, cwd=work, env=env))
        for host in ("w1", "w2"):
            argv = [sys.executable, "-m", "distributed.cli.dask_worker", cluster.scheduler,
                    "--nthreads", "1", "--no-nanny", "--host", net.address(host),
                    "--no-dashboard"]  # fmt: skip
            cluster.workers[host] = net.start(host, argv, cwd=work)
            cluster.processes.append(cluster.workers[host])
        ready = (
            "from distributed import Client\n"
            f"with Client('{cluster.scheduler}', timeout=30) as c:\n"
            "    c.wait_for_workers(2, timeout=30)\n"
        )
        check = [sys.executable, "-c", ready]
        wait_for(lambda: net.run("sched", check, cwd=work).returncode == 0, 40, "the cluster")
    except BaseException:
        _stop_cluster(cluster)
        raise
    return cluster


def _stop_cluster(cluster: Cluster) -> None:
    cluster.net.stop(cluster.processes)
    for host in ("w1", "w2"):
        cluster.net.link(host, "up")  # a test may have cut a worker off


@pytest.fixture(scope="module")
def shared(hosts: Hosts, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = _start_cluster(hosts, SHARED_SCHEDULER_PORT, tmp_path_factory.mktemp("shared"))
    yield cluster
    _stop_cluster(cluster)


@pytest.fixture
def cluster(hosts: Hosts, tmp_path: Path) -> Iterator[Cluster]:
    own = _start_cluster(hosts, OWN_SCHEDULER_PORT, tmp_path)
    yield own
    _stop_cluster(own)


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


@pytest.mark.parametrize("limit", LIMITS, ids=[limit.algorithm for limit in LIMITS])
def test_workers_on_two_hosts_share_one_limit_through_redis(shared: Cluster, limit: Limit) -> None:
    count, out, path = 60, shared.work / f"{limit.algorithm}.jsonl", f"/anything/limit-{limit.algorithm}"
    database = LIMITS.index(limit)  # each algorithm its own keys
    args = [shared.urls(path, count), "-o", str(out), "-q", "-c", "8", "--partition-size", "6",
            "--backend", "redis", "--redis-url", f"{shared.hosts.redis}/{database}", *limit.flags,
            "--limit-by", "global", "--summary-json", str(shared.work / "summary.json")]  # fmt: skip
    done = shared.net.run("sched", shared.fetch(*args), cwd=shared.work, timeout=60)
    assert done.returncode == ExitCode.OK, done.stderr
    _exactly_once(out, count)
    arrivals = shared.hosts.log.under(path)
    assert len(arrivals) == count
    assert {a.peer for a in arrivals} == {shared.net.address("w1"), shared.net.address("w2")}
    assert limit.violations([a.monotonic for a in arrivals], [a.wall for a in arrivals]) == []
    assert shared.summary()["workers"] == 2


def _background(cluster: Cluster, count: int, *extra: str) -> tuple[subprocess.Popen[Any], list[str], Path]:
    out, path = cluster.work / "out.jsonl", f"/delay/0.4/{cluster.work.name}"
    args = [cluster.urls(path, count), "-o", str(out), "-q", "-c", "2", "--partition-size", "5",
            "--summary-json", str(cluster.work / "summary.json"), *extra]  # fmt: skip
    coordinator = cluster.net.start("sched", cluster.fetch(*args), cwd=cluster.work, stderr=subprocess.PIPE)
    return coordinator, args, out


def _when_on_the_wire(cluster: Cluster, coordinator: subprocess.Popen[Any], host: str) -> None:
    """Return once the server holds a fresh request from `host` (after a first partition came back)."""
    out, path = cluster.work / "out.jsonl", f"/delay/0.4/{cluster.work.name}"
    peer = cluster.net.address(host)

    def ready() -> bool:
        if coordinator.poll() is not None:
            return True
        written = out.exists() and out.stat().st_size > 0
        return written and cluster.hosts.log.fresh_request(peer, path)

    wait_for(ready, 40, f"a fresh request from {host}")
    assert coordinator.poll() is None, "finished before the fault"


def _finish(coordinator: subprocess.Popen[Any]) -> None:
    _, stderr = coordinator.communicate(timeout=60)
    assert coordinator.returncode == ExitCode.OK, stderr


def test_a_worker_killed_mid_partition_loses_nothing(cluster: Cluster) -> None:
    count = 60
    coordinator, _, out = _background(cluster, count)
    _when_on_the_wire(cluster, coordinator, "w1")
    cluster.workers["w1"].send_signal(signal.SIGKILL)
    _finish(coordinator)
    _exactly_once(out, count)
    summary = cluster.summary()
    assert summary["resent"] >= 1  # its partition ran again on w2
    arrivals = cluster.hosts.log.under(f"/delay/0.4/{cluster.work.name}")
    assert len(arrivals) >= count + 1  # the request on the wire when w1 died was sent again


def test_a_worker_cut_off_mid_partition_loses_nothing(cluster: Cluster) -> None:
    count = 60
    coordinator, _, out = _background(cluster, count, "--timeout", "3s", "--retries", "0")
    _when_on_the_wire(cluster, coordinator, "w1")
    cluster.net.link("w1", "down")
    _finish(coordinator)
    _exactly_once(out, count)
    assert cluster.summary()["resent"] >= 1


def test_coordinator_sigint_then_resume_loses_nothing(cluster: Cluster) -> None:
    count = 60
    coordinator, args, out = _background(cluster, count)
    _when_on_the_wire(cluster, coordinator, "w2")
    coordinator.send_signal(signal.SIGINT)
    _, stderr = coordinator.communicate(timeout=60)
    assert coordinator.returncode == ExitCode.INTERRUPTED, stderr
    before = len(_records(out))
    assert 0 < before < count
    resumed = cluster.net.run("sched", [*cluster.fetch(*args), "--resume"], cwd=cluster.work, timeout=60)
    assert resumed.returncode == ExitCode.OK, resumed.stderr
    _exactly_once(out, count)
    assert cluster.summary()["skipped_resumed"] == before
