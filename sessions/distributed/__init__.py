"""Scale a batch out over a Dask cluster (`pip install 'sessions[dask]'`).

    from functools import partial
    import sessions, sessions.distributed

    factory = partial(sessions.AsyncSession, timeout=10)
    with sessions.distributed.fetch(urls, cluster="tcp://scheduler:8786", session=factory) as batch:
        for position, response in batch:
            ...

Dask brings the scheduler, worker liveness and re-running the work of a lost worker; this package brings
bounded partitions, back-pressure and exactly-once results (see `_coordinator.py` and `_worker.py`).
`distributed` itself is imported only when a cluster is opened.
"""

from __future__ import annotations

from ._cluster import EXTRA_HINT, ClusterSpec, open_client, parse_cluster, require_distributed
from ._coordinator import DistributedFetch, Tagged, fetch
from ._worker import IDEMPOTENT_METHODS, Partition, PartitionResult, RequestNotResent, run_partition

__all__ = [
    "EXTRA_HINT",
    "IDEMPOTENT_METHODS",
    "ClusterSpec",
    "DistributedFetch",
    "Partition",
    "PartitionResult",
    "RequestNotResent",
    "Tagged",
    "fetch",
    "open_client",
    "parse_cluster",
    "require_distributed",
    "run_partition",
]
