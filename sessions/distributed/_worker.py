"""What runs on a Dask worker: one partition of requests through one session's batch engine.

A partition is a bounded list of `(position, request, tag)`. Before sending anything the task notes on the
scheduler that this partition has started (`Client.set_metadata`, one awaited round trip), so a later
attempt — Dask re-runs the tasks of a worker it lost — knows that an earlier attempt may already have put
its requests on the wire:

* idempotent requests (GET, HEAD, PUT, DELETE, OPTIONS, TRACE) are sent again and counted as `resent`
  (every one of them: which ones had reached the server before the loss is unknowable);
* the others (POST, PATCH, …) are not sent again unless `resend_unsafe=True`: their slot holds an
  `ErrorResult` whose exception is `RequestNotResent`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import SessionsError
from .._models import ErrorResult

__all__ = ["IDEMPOTENT_METHODS", "Partition", "PartitionResult", "RequestNotResent", "run_partition"]

#: RFC 9110 §9.2.2: repeating these has the effect of sending them once.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})

Transform = Callable[[int, Any, Any], Any]
Options = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


class RequestNotResent(SessionsError):
    """A non-idempotent request of a re-run partition was not sent again (it may have reached the server)."""


@dataclass(frozen=True)
class Partition:
    """A bounded slice of the input: `items` are `(position, request, tag)`."""

    run: str
    number: int
    items: tuple[tuple[int, Any, Any], ...]


@dataclass
class PartitionResult:
    """The results of one partition, `(position, result)` in completion order."""

    number: int
    attempt: int
    worker: str
    results: list[tuple[int, Any]] = field(default_factory=list)
    resent: int = 0
    not_resent: int = 0


def method_of(request: Any) -> str:
    """The HTTP method of a batch item (a URL is a GET)."""
    if isinstance(request, Mapping):
        return str(request.get("method") or "GET").upper()
    return "GET"


def url_of(request: Any) -> str:
    """The URL of a batch item."""
    return str(request.get("url") if isinstance(request, Mapping) else request)


def _attempt(partition: Partition) -> tuple[int, str]:
    """Count this attempt on the scheduler (awaited before any request) and return it with the worker."""
    from distributed import get_client, get_worker

    address = get_worker().address
    client: Any = get_client()  # its metadata calls are untyped
    key = ["sessions.distributed", partition.run, str(partition.number)]
    attempt = int(client.get_metadata(key, default=0)) + 1
    client.set_metadata(key, attempt)
    return attempt, address


def run_partition(
    partition: Partition,
    session: Callable[[], Any],
    options: Options | None = None,
    transform: Transform | None = None,
    resend_unsafe: bool = False,
) -> PartitionResult:
    """Send a partition's requests on a new session from `session()`; the Dask task body."""
    attempt, address = _attempt(partition)
    outcome = PartitionResult(number=partition.number, attempt=attempt, worker=address)
    send: list[tuple[int, Any, Any]] = []
    for position, request, tag in partition.items:
        if attempt > 1 and not resend_unsafe and method_of(request) not in IDEMPOTENT_METHODS:
            outcome.not_resent += 1
            outcome.results.append((position, _apply(transform, position, _not_resent(request), tag)))
        else:
            send.append((position, request, tag))
    if attempt > 1:
        outcome.resent = len(send)
    if send:
        batch_options = dict(options() if callable(options) else options or {})
        asyncio.run(_send(send, session, batch_options, transform, outcome.results))
    return outcome


def _not_resent(request: Any) -> ErrorResult:
    method = method_of(request)
    message = (
        f"{method} not re-sent: the worker running it was lost and it may have reached the server "
        "(opt in with resend_unsafe / --resend-unsafe)"
    )
    return ErrorResult(index=-1, method=method, url=url_of(request), exception=RequestNotResent(message))


def _apply(transform: Transform | None, position: int, result: Any, tag: Any) -> Any:
    return result if transform is None else transform(position, result, tag)


async def _send(
    items: list[tuple[int, Any, Any]],
    factory: Callable[[], Any],
    options: dict[str, Any],
    transform: Transform | None,
    out: list[tuple[int, Any]],
) -> None:
    session = factory()
    async with session:
        results = session.iter_requests([request for _, request, _ in items], **options)
        async for index, result in results:
            position, _, tag = items[index]
            out.append((position, _apply(transform, position, result, tag)))
