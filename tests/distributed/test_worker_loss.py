"""A worker SIGKILLed mid-partition: its partition runs again elsewhere and every input comes back once.

A real `LocalCluster` of worker processes (the in-process fixture cannot lose a worker). Bounded: 60
requests of 40 ms, 2 at a time per worker, and an alarm fails the test after 90 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from typing import Any

import psutil
import pytest

import sessions
from sessions.distributed import RequestNotResent, fetch
from sessions.httpbin import ArrivalLog, LocalHttpbin

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("deadline")]

COUNT = 60


def _requests(httpbin: LocalHttpbin) -> list[Any]:
    requests: list[Any] = []
    for i in range(COUNT):
        if i % 5 == 4:
            requests.append(
                {"method": "POST", "url": f"{httpbin.url}/anything/loss/post-{i}", "json": {"i": i}}
            )
        else:
            requests.append(f"{httpbin.url}/delay/0.04?i={i}")
    return requests


async def _kill_if_executing(dask_worker: Any) -> None:
    """On a worker's event loop (`wait=False` takes a coroutine): SIGKILL the worker if a partition is
    executing on it right now."""
    if dask_worker.state.executing:
        os.kill(os.getpid(), signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def _kill_a_worker_mid_partition(client: Any) -> None:
    """Kill one worker while it executes a partition (never one that sits idle or has just finished)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for address, pid in client.run(os.getpid).items():
            client.run(_kill_if_executing, workers=[address], wait=False)
            time.sleep(0.05)
            if _gone(pid):
                return
    raise AssertionError("no worker was executing a partition for 30 s")


def test_sigkill_mid_partition_loses_nothing_and_duplicates_nothing(
    dask_processes: Any, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    requests = _requests(httpbin)
    batch = fetch(
        requests,
        cluster=dask_processes,
        session=sessions.AsyncSession,
        options={"concurrency": 2},
        partition_size=10,
    )
    positions: list[int] = []
    results: dict[int, Any] = {}
    with batch:
        for number, outcome in enumerate(batch.partitions()):
            if number == 0:
                _kill_a_worker_mid_partition(dask_processes)
            for position, result in outcome.results:
                positions.append(position)
                results[position] = result
    assert sorted(positions) == list(range(COUNT))  # every input once
    assert batch.reruns >= 1
    assert batch.resent >= 1
    # The server saw requests twice: some really were re-sent ...
    assert len(httpbin_log) > COUNT - batch.not_resent
    # ... but never a POST: each reached the server at most once; those held back say why.
    posts = Counter(a.path for a in httpbin_log.select(path="/anything/loss/", method="POST"))
    assert max(posts.values()) == 1
    held_back = [r for r in results.values() if isinstance(getattr(r, "exception", None), RequestNotResent)]
    assert len(held_back) == batch.not_resent
    assert all(r.status_code == 200 for r in results.values() if r not in held_back)
