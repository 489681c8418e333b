"""Two worker processes share one limit through a server: zero over-admission, counted by the *HTTP server*.

Each worker builds its own session (its own connection to Redis, PostgreSQL or MariaDB); only the shared
state can keep them within the limit. Every algorithm's guarantee is checked on the arrival times the
recording server logs in a process of its own (`server_log.py`: the test process also runs the Dask
scheduler, whose stalls would bunch the times an in-process server records), loosened only by the
admission-to-arrival jitter (`bounds.py`); the checks themselves are shown to catch an over-admission,
and to catch the unshared limit of a memory backend.
Bounded: 60 requests per run, 90 s per test.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

import sessions
from sessions.distributed import fetch
from tests.fixtures.sql_servers import sql_run_database

from .bounds import JITTER, LIMITS, Limit
from .server_log import ServerLog, start_recording_server

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("deadline")]

COUNT = 60
SERVERS = ("redis", "postgres", "mysql")


class Limited(sessions.RatelimitMixin, sessions.AsyncSession):
    """The session each worker builds (module level: pickled by reference)."""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServerLog]]:
    with start_recording_server(tmp_path_factory.mktemp("recording")) as server:
        yield server


def _shared_state(server: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    if server == "redis":
        url, prefix = request.getfixturevalue("redis_url"), request.getfixturevalue("redis_prefix")
        return {"backend": "redis", "url": url, "key": prefix}
    dialect = "postgresql" if server == "postgres" else "mysql"
    return {"backend": server, "db": sql_run_database(dialect), "key": f"limit-{uuid.uuid4().hex[:12]}"}


def _run(cluster: Any, base: str, path: str, options: dict[str, Any]) -> list[Any]:
    factory = partial(Limited, ratelimit_options={**options, "per_endpoint": False})
    urls = [f"{base}{path}?i={i}" for i in range(COUNT)]
    with fetch(urls, cluster=cluster, session=factory, options={"concurrency": 8}, partition_size=6) as b:
        return list(b.partitions())


@pytest.mark.parametrize("server", SERVERS)
@pytest.mark.parametrize("limit", LIMITS, ids=[limit.algorithm for limit in LIMITS])
def test_workers_share_one_limit(
    dask_processes: Any,
    recording: tuple[str, ServerLog],
    request: pytest.FixtureRequest,
    server: str,
    limit: Limit,
) -> None:
    base, log = recording
    path = f"/anything/global-{limit.algorithm}-{server}-{uuid.uuid4().hex[:8]}"
    outcomes = _run(dask_processes, base, path, {**limit.options, **_shared_state(server, request)})
    got = [result for outcome in outcomes for _, result in outcome.results]
    assert len({outcome.worker for outcome in outcomes}) == 2  # both workers sent requests
    assert len(got) == COUNT
    assert all(r.status_code == 200 for r in got)
    arrivals = log.under(path)
    assert len(arrivals) == COUNT
    assert limit.violations([a.monotonic for a in arrivals], [a.wall for a in arrivals]) == []


@pytest.mark.parametrize("limit", LIMITS, ids=[limit.algorithm for limit in LIMITS])
def test_each_check_accepts_the_bound_and_catches_one_more(limit: Limit) -> None:
    """A schedule at the algorithm's exact bound passes; the same with requests squeezed in fails: one for
    the windows (the jitter shortens the window), for the buckets one more than the jitter's worth of rate."""
    start = 1000.0  # an aligned window boundary of the 1 s fixed window
    squeezed = 1
    if limit.algorithm in ("tokenbucket", "leakybucket"):
        capacity = limit.params["capacity"]
        rate = limit.params.get("fill_rate") or limit.params["leak_rate"]
        at_bound = [start] * capacity + [start + (n + 1) / rate for n in range(30)]
        squeezed = math.floor(rate * JITTER) + 1
    else:
        per_window = limit.params["limit"]
        at_bound = [start + second + JITTER + n * 0.001 for second in range(3) for n in range(per_window)]
    extra = sorted([*at_bound, *[at_bound[len(at_bound) // 2] + 0.0005] * squeezed])
    assert limit.violations(at_bound, at_bound) == []
    assert limit.violations(extra, extra) != []


def test_the_server_side_check_sees_an_unshared_limit(
    dask_processes: Any, recording: tuple[str, ServerLog]
) -> None:
    """The same run with a memory limiter per worker breaks the bound: the check above can fail."""
    base, log = recording
    limit = next(limit for limit in LIMITS if limit.algorithm == "gcra")
    path = "/anything/unshared-limit"
    _run(dask_processes, base, path, {**limit.options, "backend": "memory"})
    assert limit.violations([a.monotonic for a in log.under(path)]) != []
