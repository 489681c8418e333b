"""pytest plugin for `benchmarks/reqwest_fidelity.py`: httpx's own tests with pyreqwest doing the I/O.

Each collected test module's ``httpx.Client`` / ``httpx.AsyncClient`` become the real httpx classes with
pyreqwest's own httpx transports (``pyreqwest.compatibility.httpx``) as their default transport, configured from
the client's ``timeout``, ``limits`` and ``verify`` as an engine of ours would configure it (no redirects, no
decompression, no proxies from the environment: httpx does those). A test passing its own ``transport=`` or
``mounts=`` keeps it. So the difference from plain httpx is the wire engine alone.
"""

from __future__ import annotations

import datetime
import types
from typing import Any

import httpx
import pytest
from pyreqwest.client import ClientBuilder, SyncClientBuilder
from pyreqwest.compatibility.httpx import HttpxTransport, SyncHttpxTransport
from swap_plugin import point_modules_at  # tests/httpx_suite, on the path reqwest_fidelity.py gives


def _seconds(value: float) -> datetime.timedelta:
    return datetime.timedelta(seconds=value)


def _configured(builder: Any, options: dict[str, Any]) -> Any:
    builder = builder.follow_redirects(False).gzip(False).brotli(False).zstd(False).deflate(False).no_proxy()
    timeout = options.get("timeout", httpx.Timeout(5.0))
    timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
    if timeout.connect is not None:
        builder = builder.connect_timeout(_seconds(timeout.connect))
    if timeout.read is not None:
        builder = builder.read_timeout(_seconds(timeout.read))
    if timeout.pool is not None:
        builder = builder.pool_timeout(_seconds(timeout.pool))
    limits = options.get("limits")
    if limits is not None and limits.max_connections:
        builder = builder.max_connections(limits.max_connections)
    if options.get("verify") is False:
        builder = builder.danger_accept_invalid_certs(True)
    return builder


class Client(httpx.Client):
    def __init__(self, **options: Any) -> None:
        if options.get("transport") is None and not options.get("mounts"):
            options["transport"] = SyncHttpxTransport(_configured(SyncClientBuilder(), options).build())
        super().__init__(**options)


class AsyncClient(httpx.AsyncClient):
    def __init__(self, **options: Any) -> None:
        if options.get("transport") is None and not options.get("mounts"):
            options["transport"] = HttpxTransport(_configured(ClientBuilder(), options).build())
        super().__init__(**options)


_SHIM = types.ModuleType("httpx")
_SHIM.__dict__.update(httpx.__dict__)
_SHIM.Client = Client  # type: ignore[attr-defined]
_SHIM.AsyncClient = AsyncClient  # type: ignore[attr-defined]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: Any, items: list[pytest.Item]) -> None:
    point_modules_at(_SHIM, items)
