"""The coordinator: read the input lazily, cut it into partitions, keep a bounded number in flight, and hand
back every result exactly once.

    requests ──► partitions of `partition_size` ──► client.submit(run_partition)   ≤ in_flight × workers
                                                          │ (Dask re-runs the partition of a lost worker)
    (position, result) ◄── dedupe by partition ◄── as_completed ◄┘

Memory stays flat on any input length: at most `in_flight × workers` partitions are read ahead of the results.
A partition's results come back together (a Dask future has one result), so "exactly once" is "once per
partition": a partition whose result was already handed back is dropped if it ever completes again (a
resubmission after `KilledWorker`).
"""

from __future__ import annotations

import contextlib
import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any

from ._cluster import open_client
from ._worker import Options, Partition, PartitionResult, Transform, run_partition

__all__ = ["DistributedFetch", "Tagged", "fetch"]

#: Times a partition is submitted again after Dask gave up on it (`KilledWorker`: its workers kept dying).
RESUBMITS = 3


class Tagged:
    """A request plus a picklable `tag` handed to the `transform` on the worker (e.g. the input's index)."""

    __slots__ = ("request", "tag")

    def __init__(self, request: Any, tag: Any) -> None:
        self.request = request
        self.tag = tag


class DistributedFetch:
    """One batch on a Dask cluster; iterate for `(position, result)` as partitions complete.

    `position` is the 0-based place of the request in `requests`. Without `transform`, `result` is the
    `Response` / `ErrorResult` itself (it must pickle: the fast path's responses do); with it, the worker
    returns `transform(position, result, tag)` instead — build small records there rather than ship bodies.
    After (or during) iteration: `resent`, `not_resent`, `reruns`, `workers`.
    """

    def __init__(
        self,
        requests: Iterable[Any],
        *,
        cluster: Any,
        session: Callable[[], Any],
        options: Options | None = None,
        transform: Transform | None = None,
        partition_size: int = 256,
        in_flight: int = 2,
        resend_unsafe: bool = False,
        ordered: bool = False,
    ) -> None:
        if partition_size < 1 or in_flight < 1:
            raise ValueError("partition_size and in_flight must be at least 1")
        self._requests = requests
        self._cluster = cluster
        self._task_args = (session, options, transform, resend_unsafe)
        self.partition_size = partition_size
        self.in_flight = in_flight
        self.ordered = ordered
        self.run = uuid.uuid4().hex[:12]
        self.resent = 0
        self.not_resent = 0
        self.reruns = 0
        self.workers = 0
        self._stack = ExitStack()
        self._client: Any = None

    # -- the cluster ----------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The `distributed.Client` (opened on first use)."""
        if self._client is None:
            self._client = self._stack.enter_context(open_client(self._cluster))
            self._stack.callback(self._forget_attempts)
        return self._client

    def _forget_attempts(self) -> None:
        with contextlib.suppress(Exception):  # best effort: the scheduler may already be gone
            self._client.set_metadata(["sessions.distributed", self.run], None)

    def close(self) -> None:
        """Close what this batch opened (its client; for `local:N` the cluster too)."""
        self._stack.close()
        self._client = None

    def __enter__(self) -> DistributedFetch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _worker_count(self) -> int:
        self.workers = len(self.client.scheduler_info().get("workers", {})) or self.workers
        return max(self.workers, 1)

    # -- the input side --------------------------------------------------------------------------

    def _partitions(self) -> Iterator[Partition]:
        positions = itertools.count()
        items = ((next(positions), *_untag(request)) for request in self._requests)
        for number in itertools.count():
            chunk = tuple(itertools.islice(items, self.partition_size))
            if not chunk:
                return
            yield Partition(self.run, number, chunk)

    # -- the output side -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, Any]]:
        for outcome in self.partitions():
            yield from outcome.results

    def partitions(self) -> Iterator[PartitionResult]:
        """Each partition's `PartitionResult` once, as completed (or in input order with `ordered=True`)."""
        import distributed

        as_completed: Any = distributed.as_completed  # untyped in distributed
        client = self.client
        source = self._partitions()
        in_flight: dict[Any, tuple[Partition, int]] = {}
        done = as_completed()
        held: dict[int, PartitionResult] = {}
        seen: set[int] = set()  # partitions handed back: one result each, even if one ever completes twice
        next_number = 0
        checked = 0.0

        def submit(partition: Partition, tries: int) -> None:
            key = f"sessions-fetch-{self.run}-{partition.number}-{tries}"
            future = client.submit(run_partition, partition, *self._task_args, key=key, pure=False)
            in_flight[future] = (partition, tries)
            done.add(future)

        def top_up() -> None:
            nonlocal checked
            now = time.monotonic()
            if now - checked > 1.0:  # the worker count is a scheduler round trip: at most once a second
                self._worker_count()
                checked = now
            # Results held for ordering count too: a slow partition must not let the read-ahead grow.
            while len(in_flight) + len(held) < self.in_flight * max(self.workers, 1):
                partition = next(source, None)
                if partition is None:
                    return
                submit(partition, 0)

        try:
            top_up()
            for future in done:
                partition, tries = in_flight.pop(future)
                outcome = self._outcome(future, partition, tries, submit)
                if outcome is not None and outcome.number not in seen:
                    seen.add(outcome.number)
                    self._account(outcome)
                    if not self.ordered:
                        yield outcome
                    else:
                        outcome.results.sort(key=_position)
                        held[outcome.number] = outcome
                        while next_number in held:
                            yield held.pop(next_number)
                            next_number += 1
                top_up()
        finally:
            if in_flight:
                client.cancel(list(in_flight), force=True)

    def _outcome(
        self, future: Any, partition: Partition, tries: int, submit: Callable[[Partition, int], None]
    ) -> PartitionResult | None:
        from distributed import KilledWorker

        try:
            return future.result()  # type: ignore[no-any-return]
        except KilledWorker:
            if tries >= RESUBMITS:
                raise
            submit(partition, tries + 1)  # the attempt count on the scheduler carries over
            return None

    def _account(self, outcome: PartitionResult) -> None:
        self.resent += outcome.resent
        self.not_resent += outcome.not_resent
        self.reruns += outcome.attempt > 1


def _position(item: tuple[int, Any]) -> int:
    return item[0]


def _untag(request: Any) -> tuple[Any, Any]:
    return (request.request, request.tag) if isinstance(request, Tagged) else (request, None)


def fetch(
    requests: Iterable[Any],
    *,
    cluster: Any = "local",
    session: Callable[[], Any],
    **options: Any,
) -> DistributedFetch:
    """Fetch `requests` on a Dask cluster; iterate the result for `(position, result)` as they complete.

    `cluster`: `"local"`, `"local:N"`, `"tcp://scheduler:8786"`, a `distributed.Client` or a cluster object.
    `session`: a picklable callable that builds the session on each worker (e.g.
    `functools.partial(MySession, ratelimit_options={...})`); it must share its limiter and cache through
    Redis for a limit to hold across workers. Other keywords: see `DistributedFetch`.

    Memory: the batch reads ahead only `in_flight` partitions per worker, but Dask itself keeps the last
    `distributed.admin.low-level-log-length` messages of each connection (1000), partitions included. A
    cluster given as a spec string gets a client (and for `local:N` a cluster) that keeps only a few; with
    your own `Client`, or on a scheduler you run, set that option low there (e.g.
    `DASK_DISTRIBUTED__ADMIN__LOW_LEVEL_LOG_LENGTH=10`).

        from functools import partial
        import sessions, sessions.distributed

        factory = partial(sessions.AsyncSession, timeout=10)
        with sessions.distributed.fetch(urls, cluster="local:2", session=factory) as batch:
            for position, response in batch:
                print(position, response.status_code)
    """
    return DistributedFetch(requests, cluster=cluster, session=session, **options)
