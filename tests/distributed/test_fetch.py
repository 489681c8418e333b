"""`sessions.distributed.fetch`: every request once, bounded read-ahead, re-run semantics of a partition."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest

import sessions
from sessions.distributed import (
    ClusterSpec,
    Partition,
    RequestNotResent,
    Tagged,
    fetch,
    parse_cluster,
    run_partition,
)
from sessions.httpbin import ArrivalLog, LocalHttpbin


def test_every_request_comes_back_once(dask_client: Any, httpbin: LocalHttpbin) -> None:
    urls = [f"{httpbin.url}/get?i={i}" for i in range(60)]
    with fetch(urls, cluster=dask_client, session=sessions.AsyncSession, partition_size=7) as batch:
        got = list(batch)
    assert sorted(position for position, _ in got) == list(range(60))
    assert {result.status_code for _, result in got} == {200}
    assert batch.workers == 2
    assert batch.resent == 0


def test_ordered_results_follow_the_input(dask_client: Any, httpbin: LocalHttpbin) -> None:
    urls = [f"{httpbin.url}/delay/0.0{i % 3}?i={i}" for i in range(30)]
    with fetch(urls, cluster=dask_client, session=sessions.AsyncSession, partition_size=4, ordered=True) as b:
        assert [position for position, _ in b] == list(range(30))


def test_transform_runs_on_the_worker_with_the_tag(dask_client: Any, httpbin: LocalHttpbin) -> None:
    def small(position: int, result: Any, tag: Any) -> tuple[int, str, int]:
        return position, tag, result.status_code

    requests = [Tagged(f"{httpbin.url}/status/{201 + i % 2}", f"row-{i}") for i in range(10)]
    with fetch(requests, cluster=dask_client, session=sessions.AsyncSession, transform=small) as batch:
        got = sorted(result for _, result in batch)
    assert got == [(i, f"row-{i}", 201 + i % 2) for i in range(10)]


def test_the_input_is_read_only_as_far_as_the_partitions_in_flight(
    dask_client: Any, httpbin: LocalHttpbin
) -> None:
    pulled = 0

    def urls() -> Iterator[str]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield f"{httpbin.url}/get?i={i}"

    with fetch(
        urls(), cluster=dask_client, session=sessions.AsyncSession, partition_size=5, in_flight=2
    ) as b:
        first = next(iter(b.partitions()))
        # 2 workers x 2 partitions in flight x 5 requests: nothing more was read before the first result
        assert len(first.results) == 5
        assert pulled <= 2 * 2 * 5


def _partition(httpbin: LocalHttpbin, run: str) -> Partition:
    get = f"{httpbin.url}/anything/{run}/get"
    post = {"method": "POST", "url": f"{httpbin.url}/anything/{run}/post"}
    return Partition(run, 0, ((0, get, None), (1, post, None)))


def _run_twice(client: Any, httpbin: LocalHttpbin, run: str, **kwargs: Any) -> list[Any]:
    outcomes = []
    for _ in range(2):  # the same partition twice: the second attempt is a re-run
        future = client.submit(
            run_partition, _partition(httpbin, run), sessions.AsyncSession, pure=False, **kwargs
        )
        outcomes.append(future.result())
    return outcomes


def test_a_rerun_resends_idempotent_requests_only(
    dask_client: Any, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    first, second = _run_twice(dask_client, httpbin, "rerun-safe")
    assert (first.attempt, first.resent, first.not_resent) == (1, 0, 0)
    assert (second.attempt, second.resent, second.not_resent) == (2, 1, 1)
    results = dict(second.results)
    assert results[0].status_code == 200
    assert isinstance(results[1].exception, RequestNotResent)
    assert "--resend-unsafe" in str(results[1].exception)
    assert httpbin_log.count(path="/anything/rerun-safe/post") == 1
    assert httpbin_log.count(path="/anything/rerun-safe/get") == 2


def test_resend_unsafe_sends_a_post_again(
    dask_client: Any, httpbin: LocalHttpbin, httpbin_log: ArrivalLog
) -> None:
    _, second = _run_twice(dask_client, httpbin, "rerun-unsafe", resend_unsafe=True)
    assert (second.resent, second.not_resent) == (2, 0)
    assert httpbin_log.count(path="/anything/rerun-unsafe/post") == 2


def test_session_factory_options_reach_the_worker(dask_client: Any, httpbin: LocalHttpbin) -> None:
    factory = partial(sessions.AsyncSession, headers={"X-Run": "cluster"})
    with fetch([f"{httpbin.url}/headers"], cluster=dask_client, session=factory) as batch:
        ((_, response),) = list(batch)
    assert response.json()["headers"]["X-Run"] == "cluster"


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("local:3", ClusterSpec(workers=3)),
        ("tcp://10.0.0.1:8786", ClusterSpec(address="tcp://10.0.0.1:8786")),
        (" tls://sched:8786 ", ClusterSpec(address="tls://sched:8786")),
    ],
)
def test_cluster_specs(text: str, spec: ClusterSpec) -> None:
    assert parse_cluster(text) == spec
    assert parse_cluster(text).remote is (spec.address is not None)


def test_local_means_one_worker_per_core() -> None:
    import os

    assert parse_cluster("local") == ClusterSpec(workers=os.cpu_count() or 1)


@pytest.mark.parametrize("text", ["local:0", "local:x", "scheduler:8786", "http://x:8786", ""])
def test_bad_cluster_specs(text: str) -> None:
    with pytest.raises(sessions.ConfigurationError, match=r"local, local:N or a scheduler address|N ≥ 1"):
        parse_cluster(text)


@pytest.mark.slow
def test_a_batchs_own_cluster_keeps_few_sent_messages() -> None:
    """Dask logs the last 1000 messages of each connection, our partitions in them: a `local:N` batch keeps
    only a few (the peak RSS of a 1M-URL run stays that of a 100k one: benchmarks/scaling.py --only rss)."""
    pytest.importorskip("distributed", reason="needs the dask extra: pip install 'sessions[dask]'")
    import dask

    from sessions.distributed._cluster import RECENT_MESSAGES, open_client

    default = dask.config.get("distributed.admin.low-level-log-length")
    with open_client(parse_cluster("local:1")) as client:
        assert client.scheduler_comm.recent_message_log.maxlen == RECENT_MESSAGES  # client → scheduler
        scheduler = client.cluster.scheduler
        (stream,) = scheduler.stream_comms.values()  # scheduler → the worker
        assert stream.recent_message_log.maxlen == RECENT_MESSAGES
    assert dask.config.get("distributed.admin.low-level-log-length") == default  # restored afterwards
