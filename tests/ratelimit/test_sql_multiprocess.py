"""Processes × threads hammering one key on PostgreSQL and on MariaDB: zero over-admission.

Two checks per server, both on the server's own arrival log:

* **Sliding-window tries.** With the server's clock, the tick a sliding-window decision admits at is
  the last entry it appends to the row's log. A trigger on our table (this test's namespace only) copies that
  entry into an arrival table in the same transaction, so the log is exactly what the server admitted, on
  the server's clock. The test checks every window of it, and that it holds as many arrivals as the workers
  were told were admitted.
* **GCRA reservations**, the same way: the trigger records the new theoretical arrival time, which for a
  cost of 1 and the default burst is the admitted slot plus one emission interval.
"""

from __future__ import annotations

import multiprocessing
import uuid
from typing import Any

import pytest

from sessions.backends._sql import open_sql
from sessions.ratelimit._algorithms import GCRA, US, AlgorithmParams, SlidingWindow
from sessions.ratelimit._sql import SQLStorage
from tests.fixtures.sql_servers import RUN, sql_run_options

from ._workers import gather, report, timed_admissions
from .test_redis_multiprocess import _max_in_any_window

pytestmark = [pytest.mark.sql, pytest.mark.slow]

PROCESSES = 4
THREADS = 4
DURATION = 1.0  # seconds of hammering per run


def _worker(
    url: str,
    options: dict[str, Any],
    prefix: str,
    params: AlgorithmParams,
    mode: str,
    client: bool,
    queue: Any,
) -> None:
    def store(clock: Any) -> SQLStorage:
        return SQLStorage(db=url, prefix=prefix, clock=clock, **options)

    report(queue, lambda: timed_admissions(store, params, mode, THREADS, DURATION, client))


def _run(dialect: str, prefix: str, params: AlgorithmParams, mode: str, client: bool) -> list[int]:
    url, options = sql_run_options(dialect)
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, options, prefix, params, mode, client, queue))
        for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    return gather(queue, procs)


class _ArrivalLog:
    """A trigger copying each commit of one namespace into an arrival table, in the same transaction: the
    sliding-window log's last entry (the admission tick) and the GCRA's new theoretical arrival time."""

    def __init__(self, dialect: str, storage: SQLStorage, prefix: str) -> None:
        self.backend = open_sql(sql_run_options(dialect)[0])
        self.dialect, self.table, self.prefix = dialect, storage.table, prefix
        if dialect == "postgresql":
            schema = self.table.partition(".")[0]
            self.arrivals, self.trigger = f"{schema}.arrivals", f"arrivals_{RUN}"
            self.backend.execute(
                f"CREATE TABLE IF NOT EXISTS {self.arrivals} (ns text, last bigint, tat bigint)"
            )
            self.backend.execute(
                f"CREATE OR REPLACE FUNCTION {schema}.log_arrival() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF NEW.ns = TG_ARGV[0] THEN INSERT INTO {self.arrivals}"
                " VALUES (NEW.ns, NEW.log[cardinality(NEW.log)], NEW.t); END IF; RETURN NEW; END $$"
            )
            self.backend.execute(
                f"CREATE TRIGGER {self.trigger} AFTER UPDATE ON {self.table} FOR EACH ROW"
                f" EXECUTE FUNCTION {schema}.log_arrival('{prefix}')"
            )
        else:
            self.arrivals, self.trigger = f"st{RUN}_arrivals", f"st{RUN}_arrivals_trigger"
            self.backend.execute(
                f"CREATE TABLE IF NOT EXISTS {self.arrivals} (ns VARBINARY(190), last BIGINT, tat BIGINT)"
            )
            # Only a commit that changes the state is an admission: two threads creating the key's row at once
            # make the loser's INSERT … ON DUPLICATE KEY UPDATE k = k fire AFTER UPDATE on an unchanged row.
            self.backend.execute(
                f"CREATE TRIGGER {self.trigger} AFTER UPDATE ON {self.table} FOR EACH ROW"
                f" BEGIN IF NEW.ns = '{prefix}' AND NOT (NEW.t <=> OLD.t AND NEW.log <=> OLD.log)"
                f" THEN INSERT INTO {self.arrivals} VALUES (NEW.ns, IF("
                " LENGTH(NEW.log) >= 20, CAST(SUBSTRING(NEW.log, LENGTH(NEW.log) - 19, 20) AS SIGNED), NULL"
                " ), NEW.t); END IF; END"
            )

    def column(self, name: str) -> list[int]:
        rows = self.backend.execute(f"SELECT {name} FROM {self.arrivals} WHERE ns = %s", (self.prefix,))
        return sorted(int(value) for (value,) in rows)

    def close(self) -> None:
        on = f" ON {self.table}" if self.dialect == "postgresql" else ""
        self.backend.execute(f"DROP TRIGGER IF EXISTS {self.trigger}{on}")
        self.backend.close()


def _admission_ticks(log: _ArrivalLog, params: AlgorithmParams) -> list[int]:
    if isinstance(params, SlidingWindow):
        return log.column("last")  # cost 1: the one entry appended is the admission tick
    # GCRA, burst 1, cost 1: the slot is never before tat, so the new tat is slot + interval
    interval: int = params.spec(US).interval  # type: ignore[attr-defined]
    return [tat - interval for tat in log.column("tat")]


def test_the_window_check_catches_over_admission() -> None:
    assert _max_in_any_window([0, 10, 20, 99, 100, 150], 100) == 4


@pytest.mark.parametrize(
    ("params", "mode", "limit", "window"),
    [
        (SlidingWindow(limit=10, window=0.1), "try", 10, 100_000),
        (GCRA(limit=20, period=0.2), "reserve", 20, 200_000),
    ],
    ids=["slidingwindow-try", "gcra-reserve"],
)
def test_the_servers_arrival_log_shows_no_over_admission(
    sql_dialect_name: str, params: AlgorithmParams, mode: str, limit: int, window: int
) -> None:
    prefix = f"mp-{uuid.uuid4().hex[:8]}"
    url, options = sql_run_options(sql_dialect_name)
    storage = SQLStorage(db=url, prefix=prefix, **options)  # creates the schema before the trigger
    log = _ArrivalLog(sql_dialect_name, storage, prefix)
    try:
        told = _run(sql_dialect_name, prefix, params, mode, client=False)
        arrivals = _admission_ticks(log, params)
    finally:
        log.close()
        storage.clear()
        storage.close()
    assert len(arrivals) == len(told)  # every admission the workers were told of, and nothing else
    assert len(arrivals) > 2 * limit  # the run really crossed many windows
    assert _max_in_any_window(arrivals, window) <= limit
