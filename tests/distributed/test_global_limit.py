"""Two worker processes share one limit through Redis: zero over-admission, counted by the *server*.

Each worker builds its own session (its own Redis connection); only the shared key can keep them within
the limit. The server's arrival log is checked over every window of the period (less 40 ms: a worker
process on a loaded machine may send a request late, bunching it with the next one).
Bounded: 60 requests per algorithm, 90 s per test.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

import sessions
from sessions.distributed import fetch
from sessions.httpbin import ArrivalLog, LocalHttpbin

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.usefixtures("deadline")]

COUNT = 60
JITTER = 0.04


class Limited(sessions.RatelimitMixin, sessions.AsyncSession):
    """The session each worker builds (module level: pickled by reference)."""


@pytest.mark.parametrize(
    ("algorithm", "limit", "window"),
    [
        ({"type": "gcra", "limit": 20, "period": 1.0}, 20, 1.0),
        ({"type": "slidingwindow", "limit": 20, "window": 1.0}, 20, 1.0),
    ],
    ids=["gcra", "slidingwindow"],
)
def test_workers_share_one_limit(
    dask_processes: Any,
    httpbin: LocalHttpbin,
    httpbin_log: ArrivalLog,
    redis_url: str,
    redis_prefix: str,
    algorithm: dict[str, Any],
    limit: int,
    window: float,
) -> None:
    options = {**algorithm, "backend": "redis", "url": redis_url, "key": redis_prefix, "per_endpoint": False}
    factory = partial(Limited, ratelimit_options=options)
    path = f"/anything/{redis_prefix}"
    urls = [f"{httpbin.url}{path}?i={i}" for i in range(COUNT)]
    with fetch(
        urls, cluster=dask_processes, session=factory, options={"concurrency": 8}, partition_size=6
    ) as b:
        outcomes = list(b.partitions())
    got = [result for outcome in outcomes for _, result in outcome.results]
    assert len({outcome.worker for outcome in outcomes}) == 2  # both workers sent requests
    assert len(got) == COUNT
    assert all(r.status_code == 200 for r in got)
    assert httpbin_log.count(path=path) == COUNT
    assert httpbin_log.max_in_window(window - JITTER, path=path) <= limit


def test_the_server_side_check_sees_an_unshared_limit(
    dask_processes: Any, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    """The same run with a memory limiter per worker breaks the bound: the check above can fail."""
    options = {"type": "gcra", "limit": 20, "period": 1.0, "backend": "memory", "per_endpoint": False}
    factory = partial(Limited, ratelimit_options=options)
    path = "/anything/unshared-limit"
    urls = [f"{httpbin.url}{path}?i={i}" for i in range(COUNT)]
    with fetch(
        urls, cluster=dask_processes, session=factory, options={"concurrency": 8}, partition_size=6
    ) as b:
        assert len(list(b)) == COUNT
    assert httpbin_log.max_in_window(1.0 - JITTER, path=path) > 20
