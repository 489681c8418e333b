"""SQL server connections (PostgreSQL, MySQL/MariaDB) shared by the rate-limit and cache storages.

What a storage gets from `open_sql(db, conn=...)`: an `SQLBackend` that runs one statement per call on a
connection taken from a small per-process pool, so threads never share a connection mid-statement:

* **Targets.** ``db=`` a URL — ``postgresql://`` / ``postgres://`` (psycopg 3) or ``mysql://`` /
  ``mariadb://`` (PyMySQL) — or ``conn=`` an open psycopg 3 / PyMySQL connection, whose kind is read from
  the object. A connection handed in is used under a lock (one statement at a time) and never closed by us.
* **Drivers** are optional extras imported on first use; a missing one raises `ConfigurationError` naming
  the extra: ``pip install 'sessions[postgres]'`` or ``'sessions[mysql]'``.
* **Failures.** A server that cannot be reached raises `BackendUnavailable` naming the URL with its password
  masked and what to check. A connection lost between calls (server restart, idle timeout, failover) is
  replaced and the statement retried once; a second failure is the same `BackendUnavailable`. A deadlock
  or lock-wait timeout (MariaDB rolls the statement back) is retried up to three times.
* **Processes.** The pool belongs to the process that filled it: after ``fork`` the child opens its own
  connections and leaves the parent's sockets alone.
* **Async.** Native async connections, pooled per event loop: psycopg's ``AsyncConnection`` for PostgreSQL,
  asyncmy's for MySQL/MariaDB (in the ``mysql`` extra: 2–7× the statements per second of PyMySQL on worker
  threads, at a quarter of the CPU, see ``benchmarks/mysql_async.py``). Without asyncmy, and on a connection
  handed in, async statements run the sync driver on worker threads.

Our own connections run in autocommit mode (each storage statement is its own transaction); MySQL ones use
``READ COMMITTED`` so that looking up a missing row takes no gap lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import ssl
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any, Final, Literal
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from sessions._exceptions import BackendError, BackendUnavailable, ConfigurationError

__all__ = [
    "SQL_SCHEMES",
    "SQLBackend",
    "SQLDialect",
    "drop_namespace",
    "mask_url",
    "open_sql",
    "sql_dialect",
    "sql_name",
]

SQLDialect = Literal["postgresql", "mysql"]

SQL_SCHEMES: Final[dict[str, SQLDialect]] = {
    "postgresql": "postgresql",
    "postgres": "postgresql",
    "mysql": "mysql",
    "mariadb": "mysql",
}
"""URL scheme → dialect (``postgresql+psycopg://`` style suffixes are accepted too)."""

_EXTRAS: Final = {"postgresql": ("postgres", "psycopg"), "mysql": ("mysql", "pymysql")}
_NAMES: Final = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
_IDLE_MAX = 8  # connections kept open per process when idle
_MYSQL_RETRY_CODES: Final = frozenset({1205, 1213})  # lock wait timeout, deadlock: statement rolled back
_MYSQL_LOST_CODES: Final = frozenset({0, 2006, 2013, 2055})  # closed, gone away, lost, lost (SSL)


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower().partition("+")[0] if "://" in url else ""


def sql_dialect(db: object = None, conn: object = None) -> SQLDialect | None:
    """``"postgresql"`` / ``"mysql"`` when ``conn`` is such a connection or ``db`` such a URL, else None."""
    if conn is not None:
        module = type(conn).__module__.partition(".")[0]
        if module == "psycopg":
            return "postgresql"
        if module == "pymysql":
            return "mysql"
        return None
    if isinstance(db, str):
        return SQL_SCHEMES.get(_scheme(db))
    return None


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}\Z")


def sql_name(value: str, what: str) -> str:
    """``value``, checked to be a name our storages may write into SQL unquoted (a schema, a table prefix)."""
    if not _NAME.match(value):
        raise ConfigurationError(
            f"{what} {value!r} is not a plain SQL name: use letters, digits and _ "
            "(at most 40, not starting with a digit)"
        )
    return value


def mask_url(url: str) -> str:
    """``url`` with its password replaced by ``***`` (for messages and reprs)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def _import_driver(dialect: SQLDialect) -> Any:
    extra, module = _EXTRAS[dialect]
    try:
        return __import__(module)
    except ImportError:
        raise ConfigurationError(
            f"the {_NAMES[dialect]} backend needs the {module} driver: pip install 'sessions[{extra}]'"
        ) from None


def _mysql_kwargs(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    kwargs: dict[str, Any] = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username) if parts.username else "root",
        "password": unquote(parts.password) if parts.password else "",
        "charset": "utf8mb4",
    }
    database = parts.path.lstrip("/")
    if database:
        kwargs["database"] = unquote(database)
    for name, value in parse_qsl(parts.query):
        if name in ("unix_socket", "charset", "ssl_ca", "ssl_cert", "ssl_key"):
            kwargs[name] = value
        elif name in ("connect_timeout", "read_timeout", "write_timeout"):
            kwargs[name] = int(value)
        else:
            raise ConfigurationError(f"unknown MySQL URL parameter {name!r} in {mask_url(url)}")
    return kwargs


def _asyncmy_kwargs(url: str) -> dict[str, Any]:
    """`_mysql_kwargs` in asyncmy's terms: one `ssl` context for the ``ssl_*`` files; asyncmy has no write
    timeout (the sync driver's ``write_timeout`` does not apply to async statements)."""
    kwargs = _mysql_kwargs(url)
    kwargs.pop("write_timeout", None)
    files = {name: kwargs.pop(name) for name in ("ssl_ca", "ssl_cert", "ssl_key") if name in kwargs}
    if files:
        context = ssl.create_default_context(cafile=files.get("ssl_ca"))
        if "ssl_cert" in files:
            context.load_cert_chain(files["ssl_cert"], files.get("ssl_key"))
        kwargs["ssl"] = context
    return kwargs


def _postgres_url(url: str) -> str:
    """libpq accepts ``postgresql://`` and ``postgres://``; drop a SQLAlchemy-style ``+driver``."""
    scheme, sep, rest = url.partition("://")
    return "postgresql" + sep + rest if "+" in scheme else url


class SQLBackend:
    """Statements on a PostgreSQL or MySQL/MariaDB server, from any thread, process or event loop.

    Use `open_sql` to build one. ``execute(sql, params)`` returns the rows (``[]`` for a statement without
    a result); ``aexecute`` is its async twin. ``placeholder`` is the driver's parameter marker (``%s``
    for both drivers).
    """

    placeholder = "%s"

    def __init__(self, dialect: SQLDialect, *, url: str | None = None, conn: Any = None) -> None:
        self.dialect: SQLDialect = dialect
        self.url = url
        self._driver = _import_driver(dialect)
        self._foreign = conn
        self._foreign_lock = _lock_for(conn) if conn is not None else threading.RLock()
        self._lock = threading.Lock()
        self._idle: list[Any] = []
        self._pid = os.getpid()
        self._aidle: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._all_async: list[Any] = []
        self._executor: ThreadPoolExecutor | None = None
        self._closed = False
        # The async driver: psycopg itself; for MySQL asyncmy, looked up on first async use (None: absent).
        self._adriver: Any = self._driver if dialect == "postgresql" else _UNSET

    # ------------------------------------------------------------------ naming
    @property
    def where(self) -> str:
        """The masked URL, or a description of the connection handed in."""
        if self.url is not None:
            return mask_url(self.url)
        return f"the {_NAMES[self.dialect]} connection passed as conn="

    @property
    def owns_connections(self) -> bool:
        """False when the backend runs on a connection the user handed in."""
        return self._foreign is None

    def __repr__(self) -> str:
        return f"<SQLBackend {self.dialect} {self.where}>"

    # ------------------------------------------------------------------ sync
    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (its own transaction) and return its rows."""
        rows: list[tuple[Any, ...]] = self.run(partial(_execute, sql, params))
        return rows

    def run(self, work: Callable[[Any], Any]) -> Any:
        """``work(connection)`` on a pooled connection, retried once on a fresh one if the old one was lost.

        ``work`` may run several statements; on our own connections it is in autocommit mode, so it must
        open a transaction itself if it needs one (see `transaction`)."""
        if self._foreign is not None:
            with self._foreign_lock:
                try:
                    result = self._retrying(work, self._foreign)
                    self._commit_foreign()
                except Exception as exc:
                    raise self._wrap(exc) from exc
                return result
        conn = self._acquire()
        try:
            result = self._retrying(work, conn)
        except Exception as exc:
            if self._lost(exc, conn):
                self._discard(conn)
                conn = self._acquire()
                try:
                    result = self._retrying(work, conn)
                except Exception as again:
                    self._discard(conn)
                    raise self._wrap(again) from again
            else:
                self._release(conn)
                raise self._wrap(exc) from exc
        self._release(conn)
        return result

    def _commit_foreign(self) -> None:
        """A connection handed in that is not in autocommit mode: commit our statement (it should be a
        connection dedicated to us; the alternative is holding our row locks until the user commits)."""
        conn = self._foreign
        autocommit = conn.autocommit if self.dialect == "postgresql" else conn.get_autocommit()
        if not autocommit:
            conn.commit()

    def _retrying(self, work: Callable[[Any], Any], conn: Any) -> Any:
        for attempt in range(3):
            try:
                return work(conn)
            except Exception as exc:
                if attempt == 2 or not self._transient(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _acquire(self) -> Any:
        if self._closed:
            raise BackendError(f"the SQL backend for {self.where} is closed")
        with self._lock:
            if self._pid != os.getpid():  # forked: the parent's sockets are not ours to use or close
                _ORPHANS.extend(self._idle)
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._connect()

    def _release(self, conn: Any) -> None:
        with self._lock:
            keep = not self._closed and self._pid == os.getpid() and len(self._idle) < _IDLE_MAX
            if keep and not self._broken(conn):
                self._idle.append(conn)
                return
        _close_quietly(conn)

    def _discard(self, conn: Any) -> None:
        _close_quietly(conn)

    def _connect(self) -> Any:
        assert self.url is not None
        try:
            if self.dialect == "postgresql":
                return self._driver.connect(_postgres_url(self.url), autocommit=True)
            conn = self._driver.connect(autocommit=True, **_mysql_kwargs(self.url))
            with conn.cursor() as cursor:
                cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
            return conn
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self.unavailable(exc) from exc

    # ------------------------------------------------------------------ async
    async def aexecute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Async twin of `execute`: on a native async connection (psycopg, asyncmy), else a worker thread."""
        if self._foreign is not None or self._async_driver() is None:
            result: list[tuple[Any, ...]] = await self.in_thread(partial(self.execute, sql, params))
            return result
        loop = asyncio.get_running_loop()
        conn = await self._aacquire(loop)
        try:
            rows = await self._aretrying(conn, sql, params)
        except Exception as exc:
            if not self._lost(exc, conn):
                self._arelease(loop, conn)
                raise self._wrap(exc) from exc
            await _aclose_quietly(conn)
            conn = await self._aacquire(loop)
            try:
                rows = await self._aretrying(conn, sql, params)
            except Exception as again:
                await _aclose_quietly(conn)
                raise self._wrap(again) from again
        self._arelease(loop, conn)
        return rows

    def _async_driver(self) -> Any:
        if self._adriver is _UNSET:
            try:
                self._adriver = __import__("asyncmy")
            except ImportError:
                self._adriver = None
        return self._adriver

    async def _aretrying(self, conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        for attempt in range(3):  # a deadlock or lock-wait timeout, as `_retrying` on the sync side
            try:
                return await _aexecute(conn, sql, params)
            except Exception as exc:
                if attempt == 2 or not self._transient(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def in_thread(self, call: Callable[[], Any]) -> Any:
        """Run a blocking ``call`` on this backend's worker threads."""
        if self._executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sessions-sql")
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def _aacquire(self, loop: asyncio.AbstractEventLoop) -> Any:
        if self._closed:
            raise BackendError(f"the SQL backend for {self.where} is closed")
        idle = self._aidle.get(loop)
        if idle:
            return idle.pop()
        assert self.url is not None
        try:
            if self.dialect == "postgresql":
                conn = await self._driver.AsyncConnection.connect(_postgres_url(self.url), autocommit=True)
            else:
                conn = await self._adriver.connect(autocommit=True, **_asyncmy_kwargs(self.url))
                await _aexecute(conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", ())
        except ConfigurationError:
            raise
        except Exception as exc:
            raise self.unavailable(exc) from exc
        with self._lock:
            self._all_async.append(conn)
        return conn

    def _arelease(self, loop: asyncio.AbstractEventLoop, conn: Any) -> None:
        idle = self._aidle.setdefault(loop, [])
        if len(idle) < _IDLE_MAX and not _aclosed(conn) and not self._closed:
            idle.append(conn)
        else:
            _finish(conn)

    # ------------------------------------------------------------------ errors
    def _broken(self, conn: Any) -> bool:
        if self.dialect == "postgresql":
            return bool(conn.closed or conn.broken)
        return not conn.open

    def _lost(self, exc: Exception, conn: Any) -> bool:
        """Whether ``exc`` means the connection itself is gone (worth one retry on a fresh one)."""
        if self.dialect == "postgresql":
            return isinstance(exc, self._driver.OperationalError | self._driver.InterfaceError) and bool(
                conn.closed or conn.broken
            )
        if isinstance(exc, self._mysql_error("InterfaceError")):
            return True
        return (
            isinstance(exc, self._mysql_error("OperationalError"))
            and exc.args[:1] != ()
            and exc.args[0] in _MYSQL_LOST_CODES
        )

    def _mysql_error(self, name: str) -> tuple[type[Exception], ...]:
        """The class `name` of PyMySQL and, once loaded, of asyncmy (both raise PEP 249's tree)."""
        classes = [getattr(self._driver.err, name)]
        if self._adriver not in (None, _UNSET):
            classes.append(getattr(self._adriver.errors, name))
        return tuple(classes)

    def _transient(self, exc: Exception) -> bool:
        if self.dialect == "postgresql":
            errors = self._driver.errors
            return isinstance(exc, errors.DeadlockDetected | errors.SerializationFailure)
        return isinstance(exc, self._mysql_error("OperationalError")) and _code(exc) in _MYSQL_RETRY_CODES

    def unavailable(self, exc: BaseException) -> BackendUnavailable:
        """The error for a server that cannot be reached: the masked URL and what to check."""
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return BackendUnavailable(
            f"cannot reach {_NAMES[self.dialect]} at {self.where}: {reason}. Check that the server is "
            "running and that the URL's host, port, user, password and database are right."
        )

    def _wrap(self, exc: Exception) -> Exception:
        """Driver errors → ours, at this one boundary; our own errors and programming errors pass."""
        if isinstance(exc, BackendError | ConfigurationError):
            return exc
        base = (self._driver.Error,) if self.dialect == "postgresql" else self._mysql_error("MySQLError")
        if not isinstance(exc, base):
            return exc
        if self._lost_kind(exc):
            return self.unavailable(exc)
        reason = " ".join(str(exc).split())
        return BackendError(f"{_NAMES[self.dialect]} operation on {self.where} failed: {reason}")

    def _lost_kind(self, exc: Exception) -> bool:
        if self.dialect == "postgresql":
            return isinstance(exc, self._driver.OperationalError) and not isinstance(
                exc, self._driver.errors.QueryCanceled | self._driver.errors.LockNotAvailable
            )
        return isinstance(exc, self._mysql_error("InterfaceError")) or (
            isinstance(exc, self._mysql_error("OperationalError"))
            and bool(exc.args)
            and exc.args[0] in (*_MYSQL_LOST_CODES, 2003)
        )

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        """Close the connections this backend opened (never one handed in); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            idle, self._idle = self._idle, []
            aconns, self._all_async = self._all_async, []
        if self._pid == os.getpid():
            for conn in idle:
                _close_quietly(conn)
            for aconn in aconns:
                _finish(aconn)
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    async def aclose(self) -> None:
        """Async twin of `close`."""
        self.close()


def _code(exc: Exception) -> object:
    """A PyMySQL error's server/client error number (its first argument)."""
    return exc.args[0] if exc.args else None


def _execute(sql: str, params: Sequence[Any], conn: Any) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, params or None)
        return list(cursor.fetchall()) if cursor.description else []


async def _aexecute(conn: Any, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    async with conn.cursor() as cursor:
        await cursor.execute(sql, params or None)
        return list(await cursor.fetchall()) if cursor.description else []


@contextlib.contextmanager
def transaction(backend: SQLBackend, conn: Any) -> Iterator[Any]:
    """An explicit transaction on ``conn`` (a connection `SQLBackend.run` handed to its work)."""
    if backend.dialect == "postgresql":
        with conn.transaction():
            yield conn
        return
    conn.begin()
    try:
        yield conn
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


# Locks for connections handed in, shared by every backend on the same connection (a session's limiter and
# cache may both be given it; PyMySQL connections are not thread-safe). Keyed by id() with the connection
# kept alive in the value, so an id is never reused while listed.
_FOREIGN_LOCKS: dict[int, tuple[Any, threading.RLock]] = {}
_FOREIGN_LOCKS_GUARD = threading.Lock()


def _lock_for(conn: Any) -> threading.RLock:
    with _FOREIGN_LOCKS_GUARD:
        entry = _FOREIGN_LOCKS.get(id(conn))
        if entry is None or entry[0] is not conn:
            entry = _FOREIGN_LOCKS[id(conn)] = (conn, threading.RLock())
        return entry[1]


# Connections inherited from a parent process: kept referenced so that they are never finalised (which
# would send a terminate message on the parent's socket or warn).
_ORPHANS: list[Any] = []


def _close_quietly(conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.close()


_UNSET: Final[Any] = object()


def _aclosed(aconn: Any) -> bool:
    if hasattr(aconn, "pgconn"):
        return bool(aconn.closed)
    return not aconn.connected


def _finish(aconn: Any) -> None:
    """Close an async connection from any thread: psycopg's socket is closed without the loop; asyncmy's
    transport on its own loop, or — that loop closed, so the transport can no longer close itself — its
    socket directly (else the transport would warn "unclosed" when collected)."""
    with contextlib.suppress(Exception):
        if hasattr(aconn, "pgconn"):
            aconn.pgconn.finish()
            return
        loop = aconn.loop
        if loop.is_closed():
            transport = aconn._transport
            sock, transport._sock = transport._sock, None
            if sock is not None:
                sock.close()
        elif loop.is_running() and not _running_in(loop):
            loop.call_soon_threadsafe(aconn.close)
        else:
            aconn.close()


def _running_in(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def _aclose_quietly(aconn: Any) -> None:
    with contextlib.suppress(Exception):
        if hasattr(aconn, "pgconn"):
            await aconn.close()
        else:
            aconn.close()  # asyncmy: closes the transport (no round trip to a server that may be gone)


def open_sql(db: str | None = None, *, conn: Any = None) -> SQLBackend:
    """A backend for the server at URL ``db``, or on the connection ``conn`` (psycopg 3 or PyMySQL).

    Raises:
        ConfigurationError: neither is a PostgreSQL/MySQL URL or connection, or the driver is missing.
    """
    dialect = sql_dialect(db, conn)
    if dialect is None:
        what = f"conn={type(conn).__name__}" if conn is not None else f"db={db!r}"
        raise ConfigurationError(
            f"{what} is not a PostgreSQL or MySQL target: give db='postgresql://…' or 'mysql://…', "
            "or conn= a psycopg 3 or PyMySQL connection"
        )
    if conn is not None:
        return SQLBackend(dialect, conn=conn)
    assert isinstance(db, str)
    return SQLBackend(dialect, url=db)


def drop_namespace(backend: SQLBackend, name: str) -> None:
    """Drop a namespace the caller made for its own use, with everything our storages created in it: on
    PostgreSQL the schema ``name`` (CASCADE), on MySQL the tables and functions whose names start with the
    table prefix ``name``. For test runs and benchmarks that isolate themselves so; never call it on a
    namespace shared with anything else."""
    if backend.dialect == "postgresql":
        backend.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        return
    like = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    for kind, listing in (
        (
            "FUNCTION",
            "SELECT routine_name FROM information_schema.routines"
            " WHERE routine_schema = DATABASE() AND routine_name LIKE %s",
        ),
        (
            "TABLE",
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = DATABASE() AND table_name LIKE %s",
        ),
    ):
        for (object_name,) in backend.execute(listing, (like,)):
            backend.execute(f"DROP {kind} IF EXISTS `{object_name}`")
