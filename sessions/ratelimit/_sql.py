"""Rate-limit state on PostgreSQL or MySQL/MariaDB: one stored-function call per decision, one round trip.

Why it is shaped like this (the Redis storage's design, on an SQL server):

* **Atomic and exact.** Each decision is one ``SELECT <function>(…)``. The function, created with the schema
  from ``sql/postgresql.sql`` (plpgsql) or ``sql/mysql.sql`` (a MariaDB/MySQL stored function), locks the
  key's row (``SELECT … FOR UPDATE``, creating it empty the first time), runs the algorithm — a line-for-line
  twin of ``lua/<algorithm>.lua``, itself the twin of ``_algorithms.py``, in integer µs ticks — and writes the
  new state in the same statement. Threads, processes and hosts are serialised per key by the row lock; a
  denial writes nothing.
* **One clock.** By default the function reads the server's clock *after* taking the lock, and clamps it to
  the latest time a decision on that row used (the ``clock`` column), so time never runs backwards for a key
  even if the server's clock is stepped. ``use_client_clock=True`` passes this process's wall clock instead;
  ``clock=`` (integer ns) is for tests.
* **Schema v1**, created on first use under a server-side lock (``pg_advisory_xact_lock`` / ``GET_LOCK``) so
  that many processes starting together create it once: table ``<table_prefix>rl_v1`` with one row per
  (namespace, algorithm:key), and functions ``<table_prefix>rl_v1_{bucket,fixed,gcra,sliding}`` plus small
  helpers. PostgreSQL takes ``schema=`` to place them. Nothing is ever dropped or truncated; ``clear()``
  deletes this limiter's namespace (its ``prefix``) only. Rows whose state expired are deleted now and then
  by a decision (no timer thread).
* **Connections** come from ``sessions.backends.open_sql``: a URL (``postgresql://…``, ``mysql://…``) or a
  psycopg 3 / PyMySQL connection (``conn=``, never closed by us).

A lost connection is retried once on a fresh one; a decision whose reply was lost may then be applied twice,
which can only under-admit, never over-admit.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sessions._exceptions import ConfigurationError
from sessions.backends._sql import (
    SQLBackend,
    SQLDialect,
    mask_url,
    open_sql,
    sql_dialect,
    sql_name,
    transaction,
)
from sessions.backends._sqlite import wall_clock_ns

from ._algorithms import ALGORITHMS, MODES, US, AlgorithmParams, Decision, Mode, max_wait_ticks
from ._redis import EPOCH_US, _cost_argument, _decision, _spec_args

__all__ = ["SCHEMA_VERSION", "SQLStorage", "sql_storage"]

SCHEMA_VERSION: Final = 1
"""The version in the table and function names; a change of layout gets new names, never an ALTER."""

_FUNCTIONS: Final = {
    "slidingwindow": "sliding",
    "fixedwindow": "fixed",
    "tokenbucket": "bucket",
    "leakybucket": "bucket",
    "gcra": "gcra",
}
_SWEEP_EVERY = 1000  # decisions between deletions of expired rows (amortised)
_SERVER_NOW: Final = {
    "postgresql": "(extract(epoch FROM clock_timestamp()) * 1000000)::bigint - 1700000000000000",
    "mysql": "CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED) - 1700000000000000",
}
_PG_TYPES: Final = {"bucket": ("float8", "float8")}  # every other function takes two bigints
_MYSQL_VARS: Final = """DECLARE r_paused BIGINT DEFAULT 0;
  DECLARE r_lvl DOUBLE DEFAULT 0;
  DECLARE r_t BIGINT DEFAULT 0;
  DECLARE r_log LONGBLOB DEFAULT '';
  DECLARE r_clock BIGINT DEFAULT 0;
  DECLARE r_expires BIGINT DEFAULT 0;
  DECLARE v_found INT DEFAULT 1;
  DECLARE v_lock BOOLEAN DEFAULT p_op = 'p';
  DECLARE v_now BIGINT;
  DECLARE v_ttl BIGINT;"""
# Read the key's row (without a lock first: a decision that commits nothing is exact as of that read, and
# takes no lock; one that commits comes back through @SAVE@ and reads again under the lock), read the clock
# after it, and empty an expired state. Opens the loop that @SAVE@ iterates and @END@ closes.
_MYSQL_LOAD: Final = """DECLARE CONTINUE HANDLER FOR NOT FOUND SET v_found = 0;
  attempt: LOOP
  SET v_found = 1;
  IF v_lock THEN
    SELECT paused, lvl, t, IFNULL(log, ''), clock, expires
      INTO r_paused, r_lvl, r_t, r_log, r_clock, r_expires FROM @T@ WHERE ns = p_ns AND k = p_k FOR UPDATE;
    IF v_found = 0 THEN
      INSERT INTO @T@ (ns, k) VALUES (p_ns, p_k) ON DUPLICATE KEY UPDATE k = k;
      SET v_found = 1;
      SELECT paused, lvl, t, IFNULL(log, ''), clock, expires
        INTO r_paused, r_lvl, r_t, r_log, r_clock, r_expires FROM @T@ WHERE ns = p_ns AND k = p_k FOR UPDATE;
    END IF;
  ELSE
    SELECT paused, lvl, t, IFNULL(log, ''), clock, expires
      INTO r_paused, r_lvl, r_t, r_log, r_clock, r_expires FROM @T@ WHERE ns = p_ns AND k = p_k;
    IF v_found = 0 THEN
      SET r_paused = 0, r_lvl = 0, r_t = 0, r_log = '', r_clock = 0, r_expires = 0;
    END IF;
  END IF;
  SET v_now = IFNULL(p_now, CAST(UNIX_TIMESTAMP(SYSDATE(6)) * 1000000 AS SIGNED) - 1700000000000000);
  IF r_clock > v_now THEN
    SET v_now = r_clock;
  END IF;
  IF r_expires <= v_now THEN
    SET r_paused = 0, r_lvl = 0, r_t = 0, r_log = '';
  END IF;"""
_MYSQL_END: Final = "END LOOP attempt;"
# The reply for a request that was not committed (try denied, peek, or reserve beyond max_wait); v_rem and
# v_reset hold remaining / reset_after before the decision.
_MYSQL_REFUSE: Final = """IF p_max_wait < 0 AND v_wait = 0 THEN
      RETURN CONCAT('1 ', v_rem, ' 0 ', v_reset, ' 0');
    END IF;
    RETURN CONCAT('0 ', v_rem, ' ', v_wait, ' ', v_reset, ' 0');"""
_MYSQL_SAVE: Final = """IF NOT v_lock THEN
      SET v_lock = TRUE;
      ITERATE attempt;
    END IF;
    UPDATE @T@ SET paused = r_paused, lvl = r_lvl, t = r_t, log = r_log, clock = v_now,
      expires = v_now + v_ttl WHERE ns = p_ns AND k = p_k;"""

_MYSQL_MACROS: Final = {
    "@VARS@": _MYSQL_VARS,
    "@LOAD@": _MYSQL_LOAD,
    "@SAVE@": _MYSQL_SAVE,
    "@REFUSE@": _MYSQL_REFUSE,
    "@END@": _MYSQL_END,
}


@dataclass(frozen=True, slots=True)
class _Compiled:
    """Everything per ``params`` that does not change between calls."""

    call: str  # the statement (decide and pause)
    args: tuple[float | int, float | int]  # the compiled parameters (ticks)
    algorithm: str
    integral: bool


def _statements(dialect: SQLDialect, table: str, functions: str, index: str) -> list[str]:
    from importlib.resources import files  # not at import: it costs more than the rest of the module

    source = (files("sessions.ratelimit") / "sql" / f"{dialect}.sql").read_text(encoding="utf-8")
    # whole-line comments are for readers of the file (they name the macros, which must not expand there)
    text = "\n".join(line for line in source.splitlines() if not line.lstrip().startswith("--"))
    if dialect == "mysql":
        for macro, body in _MYSQL_MACROS.items():
            text = text.replace(macro, body)
    text = text.replace("@T@", table).replace("@F@", functions).replace("@I@", index)
    return [s.strip() for s in re.split(r"^;;\s*$", text, flags=re.M) if s.strip()]


class SQLStorage:
    """Rate-limit storage on a PostgreSQL or MySQL/MariaDB server; see the module docstring.

    Args:
        db: the server's URL, ``postgresql://user:pass@host:5432/db`` or ``mysql://user:pass@host:3306/db``
            (``postgres://`` and ``mariadb://`` too).
        conn: an open psycopg 3 or PyMySQL connection to use instead (never closed by us; statements run on it
            one at a time under a lock).
        prefix: the namespace of this limiter's rows (the limiter's ``key`` option, default ``"Session"``).
        table_prefix: the start of our table and function names (default ``"sessions_"``).
        schema: PostgreSQL only: the schema for our table and functions (created if missing; default: the
            first schema in the connection's search path).
        use_client_clock: decide on this process's wall clock instead of the server's.
        clock: an integer-nanosecond clock (tests); implies the client clock.
        cache_timeout: accepted for option compatibility; rows live exactly as long as their state matters.

    Raises:
        ConfigurationError: not an SQL server target, a missing driver (naming the extra), a bad name.
        BackendUnavailable: the server cannot be reached (the message names the URL, password masked).
    """

    unit = US
    """Ticks per second of this storage's arithmetic (µs, as on Redis)."""

    def __init__(
        self,
        *,
        db: str | None = None,
        conn: Any = None,
        prefix: str = "Session",
        table_prefix: str = "sessions_",
        schema: str | None = None,
        use_client_clock: bool = False,
        clock: Callable[[], int] | None = None,
        cache_timeout: Any = None,
    ) -> None:
        self._backend: SQLBackend = open_sql(db, conn=conn)
        dialect = self._backend.dialect
        self.name = "postgres" if dialect == "postgresql" else "mysql"
        self._ns = str(prefix)
        base = f"{sql_name(table_prefix, 'table_prefix')}rl_v{SCHEMA_VERSION}"
        if schema is not None and dialect != "postgresql":
            raise ConfigurationError("schema= is for PostgreSQL; on MySQL give the database in the URL")
        self._schema = None if schema is None else sql_name(schema, "schema")
        qualified = base if schema is None else f"{schema}.{base}"
        self._table, self._functions, self._index = qualified, qualified, base
        self._now = _clock_argument(clock, use_client_clock)
        self._compiled: dict[AlgorithmParams, _Compiled] = {}
        self._decisions = 0
        self._closed = False
        try:
            self._backend.run(self._create_schema)
        except BaseException:
            self._backend.close()
            raise

    @property
    def backend(self) -> SQLBackend:
        """The `sessions.backends.SQLBackend` in use."""
        return self._backend

    @property
    def table(self) -> str:
        """Our table's (qualified) name."""
        return self._table

    # ------------------------------------------------------------------ decisions
    def apply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Decide (and commit, per ``mode``) one request atomically in one round trip."""
        compiled = self._compiled.get(params) or self._compile(params)
        rows = self._backend.execute(compiled.call, self._decide_args(compiled, key, cost, mode, max_wait))
        self._count()
        return _decision(rows[0][0])

    async def aapply(
        self,
        key: str,
        params: AlgorithmParams,
        cost: float = 1,
        mode: Mode = "try",
        max_wait: float | None = None,
    ) -> Decision:
        """Async twin of `apply` (never blocks the event loop)."""
        compiled = self._compiled.get(params) or self._compile(params)
        args = self._decide_args(compiled, key, cost, mode, max_wait)
        rows = await self._backend.aexecute(compiled.call, args)
        if self._count_due():
            await self._backend.aexecute(*self._sweep_statement())
        return _decision(rows[0][0])

    def pause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Admit nothing for ``key`` before ``seconds`` from now, for every process sharing this server."""
        compiled = self._compiled.get(params) or self._compile(params)
        self._backend.execute(compiled.call, self._pause_args(compiled, key, seconds))

    async def apause(self, key: str, params: AlgorithmParams, seconds: float) -> None:
        """Async twin of `pause`."""
        compiled = self._compiled.get(params) or self._compile(params)
        await self._backend.aexecute(compiled.call, self._pause_args(compiled, key, seconds))

    # ------------------------------------------------------------------ housekeeping
    def clear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Forget ``key`` (every algorithm's state for it), every key starting with ``prefix`` (other
        sessions' rows stay), or every row of this limiter's namespace."""
        self._backend.execute(*self._clear_statement(key, prefix))

    async def aclear(self, key: str | None = None, *, prefix: str | None = None) -> None:
        """Async twin of `clear`."""
        await self._backend.aexecute(*self._clear_statement(key, prefix))

    def close(self) -> None:
        """Close the connections this storage opened (never one handed in); idempotent."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    async def aclose(self) -> None:
        """Async twin of `close`."""
        self.close()

    def __repr__(self) -> str:
        return f"<SQLStorage {self._table} prefix={self._ns!r} {self._backend!r}>"

    # ------------------------------------------------------------------ internals
    def _compile(self, params: AlgorithmParams) -> _Compiled:
        spec = params.spec(US)
        function = _FUNCTIONS[spec.algorithm]
        a, b = _spec_args(spec)
        args: tuple[float | int, float | int] = (
            (float(a), float(b)) if function == "bucket" else (int(a), int(b))
        )
        name = f"{self._functions}_{function}"
        if self._backend.dialect == "postgresql":
            ta, tb = _PG_TYPES.get(function, ("bigint", "bigint"))
            call = f"SELECT {name}(%s, %s, %s::bigint, %s, %s::float8, %s::bigint, %s::{ta}, %s::{tb})"
        else:
            call = f"SELECT {name}(%s, %s, %s, %s, %s, %s, %s, %s)"
        compiled = _Compiled(
            call=call,
            args=args,
            algorithm=spec.algorithm,
            integral=spec.algorithm in ("slidingwindow", "fixedwindow"),
        )
        self._compiled[params] = compiled
        return compiled

    def _decide_args(
        self, compiled: _Compiled, key: str, cost: float, mode: Mode, max_wait: float | None
    ) -> tuple[Any, ...]:
        wait = MODES[mode] if max_wait is None else max_wait_ticks(mode, max_wait, US)
        amount = float(_cost_argument(cost, compiled.integral))
        return (self._ns, f"{compiled.algorithm}:{key}", self._now(), "d", amount, wait, *compiled.args)

    def _pause_args(self, compiled: _Compiled, key: str, seconds: float) -> tuple[Any, ...]:
        ticks = max(0, math.ceil(seconds * US))
        return (self._ns, f"{compiled.algorithm}:{key}", self._now(), "p", float(ticks), 0, *compiled.args)

    def _clear_statement(self, key: str | None, prefix: str | None = None) -> tuple[str, tuple[Any, ...]]:
        if prefix is not None:
            # LEFT() compares exactly: no LIKE, so a prefix holding % or _ matches only itself.
            stems = tuple(f"{algorithm}:{prefix}" for algorithm in ALGORITHMS)
            tests = " OR ".join(["LEFT(k, %s) = %s"] * len(stems))
            args = tuple(value for stem in stems for value in (len(stem), stem))
            return f"DELETE FROM {self._table} WHERE ns = %s AND ({tests})", (self._ns, *args)
        if key is None:
            return f"DELETE FROM {self._table} WHERE ns = %s", (self._ns,)
        names = tuple(f"{algorithm}:{key}" for algorithm in ALGORITHMS)
        marks = ", ".join(["%s"] * len(names))
        return f"DELETE FROM {self._table} WHERE ns = %s AND k IN ({marks})", (self._ns, *names)

    def _sweep_statement(self) -> tuple[str, tuple[Any, ...]]:
        now = self._now()
        bound = _SERVER_NOW[self._backend.dialect] if now is None else "%s"
        params: tuple[Any, ...] = (self._ns,) if now is None else (self._ns, now)
        return f"DELETE FROM {self._table} WHERE ns = %s AND expires <= {bound}", params

    def _count_due(self) -> bool:
        self._decisions += 1
        if self._decisions < _SWEEP_EVERY:
            return False
        self._decisions = 0
        return True

    def _count(self) -> None:
        if self._count_due():
            self._backend.execute(*self._sweep_statement())

    def _create_schema(self, conn: Any) -> None:
        """Create the table and functions once, under a server lock (many processes may start at once)."""
        dialect = self._backend.dialect
        statements = _statements(dialect, self._table, self._functions, self._index)
        last = f"{self._functions}_sliding"
        if dialect == "postgresql":
            with transaction(self._backend, conn), conn.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext('sessions schema'))")
                if self._schema is not None:
                    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {self._schema}")
                cursor.execute("SELECT to_regproc(%s)", (last,))
                row = cursor.fetchone()
                if row is None or row[0] is None:
                    for statement in statements:
                        cursor.execute(statement)
            return
        with conn.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK('sessions schema', 60)")
            try:
                cursor.execute(
                    "SELECT COUNT(*) FROM information_schema.routines"
                    " WHERE routine_schema = DATABASE() AND routine_name = %s",
                    (last,),
                )
                row = cursor.fetchone()
                if row is None or not row[0]:
                    for statement in statements:
                        _mysql_create(cursor, statement)
            finally:
                cursor.execute("SELECT RELEASE_LOCK('sessions schema')")


def _mysql_create(cursor: Any, statement: str) -> None:
    """One schema statement; a function is dropped first (only ours: versioned name) so a half-finished
    earlier creation heals."""
    match = re.match(r"CREATE FUNCTION (\S+?)\(", statement)
    if match:
        cursor.execute(f"DROP FUNCTION IF EXISTS {match.group(1)}")
    try:
        cursor.execute(statement)
    except Exception as exc:
        if exc.args[:1] == (1418,):
            raise ConfigurationError(
                "MySQL refuses to create the rate-limit functions while binary logging is on: set "
                "log_bin_trust_function_creators=1 on the server (or create them as a user with SUPER)"
            ) from exc
        raise


def _clock_argument(clock: Callable[[], int] | None, use_client_clock: bool) -> Callable[[], int | None]:
    """What to pass as ``p_now``: None lets the function read the server's clock; else our µs ticks."""
    if clock is not None:
        source = clock
        return lambda: source() // 1000
    if use_client_clock:
        return lambda: wall_clock_ns() // 1000 - EPOCH_US
    return lambda: None


def sql_storage(*, db: Any = None, conn: Any = None, **options: Any) -> Any:
    """``backend="sql"``: a server storage for a PostgreSQL/MySQL URL or connection, else SQLite (the seed:
    "an SQLite database filepath or SQL database")."""
    if sql_dialect(db, conn) is not None:
        return SQLStorage(db=db, conn=conn, **options)
    if conn is not None and not isinstance(conn, sqlite3.Connection):
        raise ConfigurationError(
            f"conn={type(conn).__name__} is not a connection the sql backend knows: pass a sqlite3, "
            "psycopg 3 or PyMySQL connection"
        )
    from ._sqlite import SQLiteStorage

    options.pop("prefix", None)
    return SQLiteStorage(db=db, conn=conn, **options)


def server_storage(dialect: SQLDialect) -> Callable[..., SQLStorage]:
    """``backend="postgres"`` / ``"mysql"``: the storage, checking that ``db``/``conn`` are of that kind."""

    def build(*, db: Any = None, conn: Any = None, **options: Any) -> SQLStorage:
        found = sql_dialect(db, conn)
        if found != dialect:
            scheme = "postgresql" if dialect == "postgresql" else "mysql"
            raise ConfigurationError(
                f"backend={dialect!r} needs db='{scheme}://user@host/database' or conn= a "
                f"{'psycopg 3' if dialect == 'postgresql' else 'PyMySQL'} connection"
                + (f", not {mask_url(str(db))!r}" if db is not None and conn is None else "")
            )
        return SQLStorage(db=db, conn=conn, **options)

    return build


postgres_storage = server_storage("postgresql")
mysql_storage = server_storage("mysql")
