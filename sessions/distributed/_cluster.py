"""Naming a Dask cluster: `local`, `local:N`, `tcp://host:port` (or a `Client` / cluster object).

`distributed` is an optional dependency (the `sessions[dask]` extra): it is imported only here, when a
cluster is opened, and a missing install says which extra to add.
"""

from __future__ import annotations

import os
import re
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any

from .._exceptions import ConfigurationError

__all__ = ["EXTRA_HINT", "ClusterSpec", "open_client", "parse_cluster", "require_distributed"]

EXTRA_HINT = "pip install 'sessions[dask]'"
_ADDRESS = re.compile(r"^(tcp|tls|ucx|inproc|ws|wss)://\S+$")
_LOCAL = re.compile(r"^local(?::(\d+))?$")


@dataclass(frozen=True, kw_only=True)
class ClusterSpec:
    """Where the work runs: an embedded `LocalCluster` of `workers` processes, or a scheduler address."""

    address: str | None = None
    workers: int | None = None

    @property
    def remote(self) -> bool:
        """True for a scheduler address (workers may run on other hosts)."""
        return self.address is not None

    def __str__(self) -> str:
        return self.address or f"local:{self.workers}"


def parse_cluster(text: str) -> ClusterSpec:
    """`local` (one worker per core), `local:N`, or a scheduler address such as `tcp://host:8786`."""
    text = text.strip()
    local = _LOCAL.match(text)
    if local:
        count = int(local.group(1)) if local.group(1) else (os.cpu_count() or 1)
        if count < 1:
            raise ConfigurationError(f"cluster: local:N needs N ≥ 1, got {text!r}")
        return ClusterSpec(workers=count)
    if _ADDRESS.match(text):
        return ClusterSpec(address=text)
    raise ConfigurationError(
        f"cluster: expected local, local:N or a scheduler address tcp://HOST:PORT, got {text!r}"
    )


def require_distributed() -> Any:
    """The `distributed` module, or an `ImportError` naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise ImportError(f"running on a Dask cluster needs the dask extra: {EXTRA_HINT}") from exc
    return distributed


def open_client(cluster: Any, *, timeout: float = 10.0) -> AbstractContextManager[Any]:
    """A context manager giving a `distributed.Client` for `cluster` and closing what it opened.

    `cluster` is a spec string, a `ClusterSpec`, a `distributed.Client` (used as is, left open) or a
    cluster object such as `LocalCluster` (a client is opened on it; the cluster is left running).
    """
    distributed = require_distributed()
    if isinstance(cluster, distributed.Client):
        return _Given(cluster)
    if isinstance(cluster, str):
        cluster = parse_cluster(cluster)
    return _Opened(distributed, cluster, timeout)


_LOG_LENGTH = "distributed.admin.low-level-log-length"
#: Messages per connection Dask keeps for debugging while a batch's client (and `local:N` cluster) runs.
RECENT_MESSAGES = 10


class _Given(AbstractContextManager[Any]):
    def __init__(self, client: Any) -> None:
        self.client = client

    def __enter__(self) -> Any:
        return self.client

    def __exit__(self, *exc_info: object) -> None:
        return None


class _Opened(AbstractContextManager[Any]):
    """Opens a client (and, for `local:N`, the `LocalCluster` behind it); closes both on exit."""

    def __init__(self, distributed: Any, cluster: Any, timeout: float) -> None:
        self._distributed = distributed
        self._cluster = cluster
        self._timeout = timeout
        self._stack = ExitStack()

    def __enter__(self) -> Any:
        import dask

        d = self._distributed
        target = self._cluster
        try:
            # Dask keeps the last `low-level-log-length` (1000) messages of every connection for debugging,
            # our partitions' requests included: on a long batch that is 1000 partitions held by the client
            # and by an embedded scheduler, not a bounded read-ahead. Keep a few while the batch runs.
            self._stack.enter_context(dask.config.set({_LOG_LENGTH: RECENT_MESSAGES}))
            if isinstance(target, ClusterSpec) and not target.remote:
                # One thread per worker: a worker runs one partition at a time, so its concurrency is the
                # session's (-c), and the partitions queued behind it keep it busy between partitions.
                target = self._stack.enter_context(
                    d.LocalCluster(
                        n_workers=target.workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                        silence_logs=40,
                    )
                )
            elif isinstance(target, ClusterSpec):
                target = target.address
            return self._stack.enter_context(d.Client(target, timeout=self._timeout))
        except BaseException:
            self._stack.close()
            raise

    def __exit__(self, *exc_info: object) -> None:
        self._stack.close()
