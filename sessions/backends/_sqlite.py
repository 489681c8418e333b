"""SQLite connection factory shared by the rate-limit and cache storages.

Both storages need the same things from SQLite, and both peers' top bug (`database is
locked` under threads and processes) comes from getting them wrong, so they live here once:

* `open_sqlite(path)` opens (or adopts, with ``conn=``) a connection configured for many
  threads and processes sharing one file: WAL journal, ``busy_timeout`` of 30 s,
  ``synchronous=NORMAL``, ``check_same_thread=False`` and autocommit
  (``isolation_level=None``) so that callers write explicit ``BEGIN IMMEDIATE``
  transactions. The parent directory is created ``0700`` and the file ``0600`` (SQLite
  gives the ``-wal``/``-shm`` side files the database file's mode). A file that is not an
  SQLite database raises `BackendUnavailable` with a message saying what to do.
* `transaction(conn)` is that ``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on error)
  block. It also serialises threads that share one connection object: a connection has one
  transaction at a time, so two threads interleaving ``BEGIN`` on it would fail.
* `default_cache_dir()` / `default_sqlite_path()` give the per-user cache location from
  platformdirs — never the working directory.
* `WallClock` is the wall clock clamped so it never runs backwards, for state that is
  persisted (and therefore cannot use the monotonic clock, whose origin is per boot).

Typical use by a storage::

    conn = open_sqlite(path)               # or open_sqlite(None, conn=user_conn)
    conn.execute("CREATE TABLE IF NOT EXISTS …")
    with transaction(conn):
        row = conn.execute("SELECT … WHERE key = ?", (key,)).fetchone()
        conn.execute("INSERT OR REPLACE …")

Async storages should run these calls in a worker thread (``asyncio.to_thread``) so a
``busy_timeout`` wait never blocks the event loop.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import platformdirs

from sessions._exceptions import BackendError, BackendUnavailable

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_SQLITE_NAME",
    "SQLiteConnection",
    "WallClock",
    "default_cache_dir",
    "default_sqlite_path",
    "open_sqlite",
    "transaction",
    "wall_clock_ns",
]

#: How long a writer waits for another writer before SQLite gives up.
BUSY_TIMEOUT_S = 30.0
#: File name used by `default_sqlite_path()` when no name is given.
DEFAULT_SQLITE_NAME = "sessions.sqlite3"

_APP_NAME = "sessions"
_MEMORY = ":memory:"


class SQLiteConnection(sqlite3.Connection):
    """A `sqlite3.Connection` carrying the lock that `transaction()` takes.

    `open_sqlite()` creates connections of this class; it is still a plain
    `sqlite3.Connection` for every other purpose.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lock = threading.RLock()


# Locks for connections the user passed in (plain sqlite3.Connection objects accept
# neither attributes nor weak references). Keyed by id() with the connection kept alive
# in the value, so an id can never be reused by another connection while listed here.
_FOREIGN_LOCKS: dict[int, tuple[sqlite3.Connection, threading.RLock]] = {}
_FOREIGN_LOCKS_GUARD = threading.Lock()


def default_cache_dir() -> Path:
    """The per-user cache directory of `sessions` (platformdirs), not created here."""
    return Path(platformdirs.user_cache_dir(_APP_NAME, appauthor=False))


def default_sqlite_path(name: str = DEFAULT_SQLITE_NAME) -> Path:
    """The default location of an SQLite file called `name` in `default_cache_dir()`."""
    return default_cache_dir() / name


def open_sqlite(
    path: str | os.PathLike[str] | None,
    *,
    conn: sqlite3.Connection | None = None,
    name: str = DEFAULT_SQLITE_NAME,
) -> sqlite3.Connection:
    """Open an SQLite database configured for concurrent use, or adopt ``conn``.

    Args:
        path: The database file; ``":memory:"`` for a private in-memory database;
            ``None`` for ``default_sqlite_path(name)``. Ignored when ``conn`` is given.
        conn: An existing connection to configure and return instead of opening one.
            Its ``isolation_level`` is left alone (explicit ``BEGIN`` works either way);
            it must not be inside a transaction.
        name: The file name used when ``path`` is ``None``.

    Raises:
        BackendUnavailable: the file is not an SQLite database, or cannot be opened.
    """
    if conn is not None:
        _configure(conn, where="the connection passed as conn=")
        return conn
    target = default_sqlite_path(name) if path is None else Path(os.fspath(path))
    if str(target) == _MEMORY:
        return _connect(_MEMORY)
    _prepare_file(target)
    return _connect(str(target))


def _connect(database: str) -> sqlite3.Connection:
    """Connect with our settings and apply the pragmas, closing on failure."""
    try:
        conn = sqlite3.connect(
            database,
            timeout=BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
            factory=SQLiteConnection,
        )
    except sqlite3.Error as exc:
        raise BackendUnavailable(f"cannot open SQLite database {database!r}: {exc}") from exc
    try:
        _configure(conn, where=repr(database))
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, *, where: str) -> None:
    """Apply WAL / busy_timeout / synchronous; a non-database file fails here."""
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        # Reading the schema forces SQLite to read the header, which is where a file that
        # is not a database (or is truncated/corrupt) first shows up.
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        raise BackendUnavailable(
            f"SQLite database {where} is not usable: {exc}. If it is a corrupt or unrelated "
            "file, move it away or delete it, or pass another db= path."
        ) from exc


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL unless the file already is, retrying while another opener holds it.

    Switching a fresh file to WAL needs an exclusive lock, and SQLite reports SQLITE_BUSY
    for it at once, without calling the busy handler, when another connection is opening
    the same file (several processes starting together on a new database). So busy
    replies are retried here, within the same budget as ``busy_timeout``.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.001
    while True:
        try:
            # Reading the mode takes no lock; a file another process already switched
            # needs no write at all.
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
            return
        except sqlite3.OperationalError as exc:
            # The primary code: SQLITE_BUSY_RECOVERY and _SNAPSHOT are busy replies too.
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def _prepare_file(target: Path) -> None:
    """Create the parent directory (0700) and the file (0600) if they do not exist."""
    try:
        _make_private_dirs(target.parent)
        # O_EXCL: only a file we create gets our mode; an existing file keeps the mode
        # its owner chose.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise BackendUnavailable(f"cannot create SQLite database {str(target)!r}: {exc}") from exc
    os.close(fd)


def _make_private_dirs(directory: Path) -> None:
    """`mkdir -p` where every directory we create is 0700 (umask cannot widen it)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):  # another process won the race
            path.mkdir(mode=0o700)
            path.chmod(0o700)


def _lock_for(conn: sqlite3.Connection) -> threading.RLock:
    """The lock serialising transactions on ``conn``."""
    lock = getattr(conn, "lock", None)
    if isinstance(lock, type(threading.RLock())):
        return lock
    with _FOREIGN_LOCKS_GUARD:
        entry = _FOREIGN_LOCKS.get(id(conn))
        if entry is None:
            entry = _FOREIGN_LOCKS[id(conn)] = (conn, threading.RLock())
        return entry[1]


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``; ``ROLLBACK`` if the block raises.

    ``IMMEDIATE`` takes the write lock up front, so a read-modify-write (a rate-limit
    decision, an LRU update) can never be interleaved with another writer's, and waiting
    for the lock obeys ``busy_timeout`` instead of failing mid-transaction.

    Raises:
        BackendError: the write lock was not obtained within ``busy_timeout``, or the
            connection is already inside a transaction.
    """
    with _lock_for(conn):
        if conn.in_transaction:
            raise BackendError("the SQLite connection is already inside a transaction; commit it first")
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise BackendError(
                f"SQLite write lock not obtained within {BUSY_TIMEOUT_S:.0f} s: {exc}"
            ) from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


class WallClock:
    """Wall-clock time in integer nanoseconds that never runs backwards in this process.

    Persisted state (SQLite rows read by other processes, after restarts) needs the wall
    clock, but NTP steps can move it back; a decision computed with an earlier "now" than
    the stored state could admit twice. Clamping to the largest value returned so far
    keeps time monotonic here; storages should also clamp to times stored in their rows,
    which covers other processes.
    """

    def __init__(self, source: Callable[[], int] = time.time_ns) -> None:
        self._source = source  # injectable for tests
        self._last = 0
        self._lock = threading.Lock()

    def __call__(self) -> int:
        """Return ``max(source(), last returned value)``."""
        now = self._source()
        with self._lock:
            if now < self._last:
                return self._last
            self._last = now
            return now

    def seconds(self) -> float:
        """The same clock as float seconds since the epoch."""
        return self() / 1e9


#: The process-wide clamped wall clock (integer nanoseconds).
wall_clock_ns = WallClock()
