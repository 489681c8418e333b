"""Redis connection factory shared by the rate-limit and cache storages.

Pieces:

* `RedisOptions` — a frozen value with every connection option from the seed: an existing
  client (``conn=``, and ``async_conn=`` for the other flavour), ``url=``, or
  ``host``/``port``/``username``/``password``/``db``/TLS; and, when none of ``conn``,
  ``async_conn``, ``url``, ``host`` is given, the temporary-server options ``dbfilename``
  (alias ``db`` when it is a path), ``maxmemory``, ``maxmemory_policy``. ``decode_responses``
  and ``protocol`` apply to the clients we create.
* `RedisBackend` — the connection handle a storage holds: ``.client`` (sync
  ``redis.Redis``), ``.aclient`` (``redis.asyncio.Redis`` for the running event loop,
  created lazily), ``.server`` (the `TemporaryRedisServer` we started, if any),
  ``clear(keys)`` / ``aclear(keys)`` (SCAN + UNLINK of our own keys only), ``close()`` /
  ``aclose()``. Use `open_redis()` to get one: equal options share one handle (and one
  temporary server) with reference counting, so a session composing the cache and the
  limiter on Redis starts one server, not two.
* `RedisKeys` — key naming: ``{prefix}:role:part…``. The ``{prefix}`` hash tag puts every
  key of one limiter/cache on one Cluster slot, so a multi-key Lua script is legal there;
  ``role`` (``"rl"``, ``"cache"``) keeps the limiter's and the cache's keys apart so that
  clearing one never touches the other.

Rules kept here for every storage: clients we did not create are never closed by us;
nothing sends SHUTDOWN, FLUSHDB, FLUSHALL or KEYS to a server we did not start; ``redis`` is
imported only when a Redis backend is actually opened.

Example for a storage::

    backend = open_redis(RedisOptions(url="redis://localhost:6379/0"))
    keys = RedisKeys("Session", "cache")
    backend.client.set(keys.key("abc"), b"…", px=60_000)
    await backend.aclient.get(keys.key("abc"))
    backend.clear(keys)      # SCAN MATCH {Session}:cache:* + UNLINK
    backend.close()          # or await backend.aclose() in async code
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import threading
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sessions._exceptions import BackendUnavailable, ConfigurationError
from sessions.backends._server import MAXMEMORY_POLICIES, TemporaryRedisServer, validate_maxmemory

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["RedisBackend", "RedisKeys", "RedisOptions", "bulk", "open_redis", "pack_command"]

_SCAN_COUNT = 1000
_UNLINK_BATCH = 500
# Connection keywords that mean the same thing to the sync and the async connection
# classes; used to build the missing flavour from a client the user passed. Anything
# flavour-specific (parsers, retry objects, callbacks) is deliberately left out.
_PORTABLE_KWARGS = frozenset(
    {
        "host", "port", "path", "db", "username", "password", "credential_provider",
        "socket_timeout", "socket_connect_timeout", "socket_keepalive", "socket_keepalive_options",
        "retry_on_timeout", "encoding", "encoding_errors", "decode_responses", "client_name",
        "protocol", "health_check_interval",
        "ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_ca_path",
        "ssl_check_hostname", "ssl_password", "ssl_min_version", "ssl_ciphers",
    }
)  # fmt: skip
_TEMP_ONLY = ("dbfilename", "maxmemory", "maxmemory_policy", "unix_socket", "server_binary")


@dataclass(frozen=True, kw_only=True)
class RedisOptions:
    """How to reach Redis (or start a temporary server). All fields keyword-only.

    Connection (any one of these means "use that server"; none means "start a temporary
    ``redis-server``"):
        conn: an existing ``redis.Redis`` or ``redis.asyncio.Redis``; never closed by us.
        async_conn: the ``redis.asyncio.Redis`` twin of a sync ``conn`` (optional: if only
            one flavour is given, the other is built from its connection settings).
        url: a redis-py URL (``redis://``, ``rediss://``, ``unix://``).
        host, port: a server address (``port`` needs ``host``; default 6379).
        username, password: ACL credentials.
        db: the database index; for a temporary server a path is also accepted, as the
            seed's alias of ``dbfilename``.
        ssl, ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs, ssl_check_hostname: TLS.
        socket_timeout, socket_connect_timeout: seconds (``None`` waits forever).

    Temporary server only:
        dbfilename: an RDB file to load on start and save to on stop; ``None`` = no
            persistence.
        maxmemory: ``0`` (no limit), bytes, or a size such as ``"256mb"``.
        maxmemory_policy: one of Redis's eight policies (`MAXMEMORY_POLICIES`).
        unix_socket: listen on a private unix socket (default) rather than a free port.
        server_binary: the ``redis-server`` executable (default: from ``PATH``).

    Clients we create:
        decode_responses: return ``str`` instead of ``bytes``.
        protocol: RESP version, 2 or 3.

    Raises:
        ConfigurationError (a ValueError): an invalid or contradictory option.
    """

    conn: Any = None
    async_conn: Any = None
    url: str | None = None
    host: str | None = None
    port: int | str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    db: int | str | os.PathLike[str] | None = None
    ssl: bool = False
    ssl_ca_certs: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_cert_reqs: str = "required"
    ssl_check_hostname: bool = True
    socket_timeout: float | None = 5.0
    socket_connect_timeout: float | None = 5.0
    dbfilename: str | os.PathLike[str] | None = None
    maxmemory: str | int = 0
    maxmemory_policy: str = "noeviction"
    unix_socket: bool = True
    server_binary: str | None = None
    decode_responses: bool = False
    protocol: int = 3

    def __post_init__(self) -> None:
        self._check_sources()
        self._check_values()
        if self.external:
            self._check_no_server_options()

    @property
    def external(self) -> bool:
        """True when an existing server is used; False when a temporary one is started."""
        return any(v is not None for v in (self.conn, self.async_conn, self.url, self.host))

    @property
    def db_index(self) -> int:
        """The database index to select (0 unless ``db`` is an index)."""
        if self.db is None or isinstance(self.db, os.PathLike):
            return 0
        if isinstance(self.db, int):
            return self.db
        return int(self.db) if self.db.isdigit() else 0

    @property
    def dump_file(self) -> Path | None:
        """The temporary server's RDB file: ``dbfilename``, or ``db`` given as a path."""
        if self.dbfilename is not None:
            return Path(os.fspath(self.dbfilename))
        if self.db is not None and not isinstance(self.db, int) and not str(self.db).isdigit():
            return Path(os.fspath(self.db))
        return None

    def _check_sources(self) -> None:
        """At most one way to name the server."""
        given = [n for n in ("conn", "url", "host") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ConfigurationError(f"give only one of conn=, url=, host= (got {', '.join(given)})")
        if self.port is not None and self.host is None:
            raise ConfigurationError("port= needs host= (without a host a temporary redis-server is started)")
        if self.async_conn is not None and self.url is not None:
            raise ConfigurationError("give only one of async_conn=, url=")

    def _check_values(self) -> None:
        """Types and ranges of the scalar options."""
        if self.maxmemory_policy not in MAXMEMORY_POLICIES:
            raise ConfigurationError(
                f"maxmemory_policy {self.maxmemory_policy!r} is not a Redis eviction policy; "
                f"valid policies: {', '.join(MAXMEMORY_POLICIES)}"
            )
        if self.protocol not in (2, 3):
            raise ConfigurationError(f"protocol must be 2 or 3 (RESP version), not {self.protocol!r}")
        if self.port is not None and not (str(self.port).isdigit() and 0 < int(self.port) < 65536):
            raise ConfigurationError(f"port must be an integer in 1..65535, not {self.port!r}")
        if isinstance(self.db, bool) or (isinstance(self.db, int) and self.db < 0):
            raise ConfigurationError(f"db must be a non-negative database index, not {self.db!r}")
        try:
            validate_maxmemory(self.maxmemory)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None

    def _check_no_server_options(self) -> None:
        """Temporary-server options make no sense for a server we did not start."""
        defaults = {"dbfilename": None, "maxmemory": 0, "maxmemory_policy": "noeviction",
                    "unix_socket": True, "server_binary": None}  # fmt: skip
        misplaced = [n for n in _TEMP_ONLY if getattr(self, n) != defaults[n]]
        if self.db is not None and self.dump_file is not None:
            misplaced.append("db (a path)")
        if misplaced:
            raise ConfigurationError(
                f"{', '.join(misplaced)} only configure a temporary redis-server, but an existing server "
                "was given (conn/url/host); configure that server itself instead"
            )

    def __repr__(self) -> str:
        # Only the fields that differ from the defaults; secrets redacted (reprs end up in logs).
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name == "password":
                value = "***"
            elif f.name == "url":
                value = _redact_url(value)
            shown.append(f"{f.name}={value!r}")
        return f"RedisOptions({', '.join(shown)})"

    def describe(self) -> str:
        """Where these options point, for messages (never includes the password)."""
        if self.conn is not None or self.async_conn is not None:
            return "the Redis client passed as conn="
        if self.url is not None:
            return f"Redis at {_redact_url(self.url)}"
        if self.host is not None:
            return f"Redis at {self.host}:{self.port or 6379}"
        return "a temporary redis-server"


class RedisKeys:
    """Key naming for one owner: ``{prefix}:role:part…``.

    Args:
        prefix: the user's key prefix (``key=`` option, default ``"Session"``). It becomes
            the Cluster hash tag, so all keys of this owner hash to one slot.
        role: the subsystem (``"rl"`` for rate limiting, ``"cache"``), so that clearing the
            cache does not clear the limiter and vice versa.
    """

    __slots__ = ("base", "pattern", "prefix", "role")

    def __init__(self, prefix: str, role: str) -> None:
        if not prefix or not role:
            raise ConfigurationError("a Redis key prefix and role must be non-empty")
        self.prefix = prefix
        self.role = role
        #: Every key starts with this.
        self.base = f"{{{prefix}}}:{role}:"
        #: SCAN MATCH pattern for exactly our keys (glob characters in the prefix escaped).
        self.pattern = _glob_escape(self.base) + "*"

    def key(self, *parts: str) -> str:
        """The Redis key for ``parts`` (joined with ``:``)."""
        return self.base + ":".join(parts)

    def __repr__(self) -> str:
        return f"RedisKeys({self.prefix!r}, {self.role!r})"


class RedisBackend:
    """A connection handle: a sync client, per-event-loop async clients, maybe a server.

    Prefer `open_redis()`, which shares handles between equal options. Constructing one
    directly always makes a private handle.

    Raises:
        BackendUnavailable: ``redis-server`` missing / failed to start, or the server
            does not answer PING.
    """

    def __init__(self, options: RedisOptions | None = None) -> None:
        self.options = options or RedisOptions()
        self.server: TemporaryRedisServer | None = None
        self._owned_async: bool = self.options.async_conn is None
        self._aclients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._refs = 1
        self._closed = False
        _require_redis()
        if not self.options.external:
            self.server = self._start_server()
        self.client, self._owned_sync = self._make_sync()
        self._fast_pool, self._get_connection_args = _fast_path(self.client)
        self._held: list[Any] = []  # idle connections checked out for execute_packed
        user_async = self.options.async_conn or (
            self.options.conn if _is_async_client(self.options.conn) else None
        )
        self._user_async = _AsyncHold(user_async) if user_async is not None else None
        _live_backends.add(self)
        self.ping()

    # ------------------------------------------------------------------ clients
    @property
    def aclient(self) -> redis.asyncio.Redis:
        """The ``redis.asyncio.Redis`` for the running event loop (created on first use).

        One per loop, because an asyncio connection pool is bound to the loop that
        opened its connections (``asyncio.run`` twice would otherwise break).
        """
        client: redis.asyncio.Redis = self._async_hold().client
        return client

    def _async_hold(self) -> _AsyncHold:
        """The async client for the running loop, with the connections held for it."""
        if self._user_async is not None:
            return self._user_async
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._aclients.get(loop)
            if entry is None:
                entry = self._aclients[loop] = _LoopClient(self._make_async())
            return entry.hold

    def ping(self) -> None:
        """PING the server with the sync client; `BackendUnavailable` with a fix if it fails."""
        import redis

        try:
            self.client.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise self.unavailable(exc) from exc

    async def aping(self) -> None:
        """PING with the async client."""
        import redis

        client: Any = self.aclient  # redis-py's annotations differ between versions
        try:
            await client.ping()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise self.unavailable(exc) from exc

    def unavailable(self, exc: BaseException) -> BackendUnavailable:
        """A `BackendUnavailable` for a connection failure, saying how to fix it."""
        where = self.options.describe()
        hint = (
            "the temporary server may have been stopped"
            if self.server is not None
            else "check that the server runs and the address/credentials are right, or omit "
            "conn/url/host to let sessions start a temporary redis-server"
        )
        return BackendUnavailable(f"cannot reach {where}: {exc}; {hint}")

    # ------------------------------------------------------------------ fast path
    def execute_packed(self, packed: bytes, *command: Any) -> Any:
        """Run ``command`` — already RESP-encoded as ``packed`` (see `pack_command`) — in one round trip.

        Hot paths (a rate-limit decision, a cache hit) spend most of their client time not in
        Redis but in redis-py's generic packing and pool bookkeeping: every pool checkout costs
        two ``getpid()`` calls, two ``ioctl``s and a non-blocking ``recv`` probe — five system
        calls around the two that matter (``send``, ``recv``), and system calls are what a round
        trip on a VM is made of. So connections used here are checked out of the pool once (with
        its health probe) and then *held*: each call pops an idle one, sends, reads and pushes it
        back — ``list.pop``/``append`` are atomic, so threads never share a connection. A held
        connection is only ever put back after complete replies, so it is always clean. An error
        reply is raised as redis-py would raise it (e.g. ``NoScriptError``). On a connection
        problem the connection is dropped and ``client.execute_command(*command)`` takes over,
        with redis-py's own reconnect-and-retry. Held connections go back to the pool on
        `close()`; a forked child forgets its parent's.
        """
        replies = self._round_trip(packed, 1, raw=False)
        if replies is None:
            return self.client.execute_command(*command)  # type: ignore[no-untyped-call]
        return replies[0]

    def pipeline_packed(self, *commands: tuple[Any, ...], raw: bool = False) -> list[Any]:
        """Run ``commands`` in one write on a held connection; their replies, in order.

        ``raw=True`` returns bulk replies as bytes whatever the client's ``decode_responses``
        (binary values). On a connection problem a redis-py pipeline replays the same commands.
        The first error reply is raised once every reply has been read.
        """
        packed = b"".join(pack_command(*command) for command in commands)
        replies = self._round_trip(packed, len(commands), raw=raw)
        if replies is not None:
            return replies
        pipe: Any = self.client.pipeline(transaction=False)  # execute_command is untyped
        for command in commands:
            pipe.execute_command(*command, **_never_decode(raw))
        return list(pipe.execute())

    def _round_trip(self, packed: bytes, count: int, *, raw: bool) -> list[Any] | None:
        """``count`` replies to ``packed`` on a held connection; None: use redis-py instead."""
        import redis

        pool = self._fast_pool
        if pool is None:
            return None
        held = self._held
        try:
            conn = held.pop()
        except IndexError:
            conn = pool.get_connection(*self._get_connection_args)
        try:
            conn.send_packed_command([packed], check_health=False)
            if count == 1:
                replies = [conn.read_response(disable_decoding=raw)]
            else:
                replies = _read_replies(conn, count, raw, redis.ResponseError)
        except redis.ResponseError:
            self._put_back(conn)  # every reply was read (see _read_replies): the connection is clean
            raise
        except (redis.ConnectionError, redis.TimeoutError, OSError):
            conn.disconnect()
            pool.release(conn)
            return None
        except BaseException:
            conn.disconnect()  # interrupted mid-reply: the connection's state is unknown
            pool.release(conn)
            raise
        self._put_back(conn)
        return replies

    def _put_back(self, conn: Any) -> None:
        """Hold ``conn`` for the next `execute_packed`, or return it to the pool once closing."""
        if self._closed:
            self._fast_pool.release(conn)
        else:
            self._held.append(conn)

    def _release_held(self) -> None:
        """Give every held connection back to its pool (a client we do not own stays usable)."""
        held, self._held = self._held, []
        for conn in held:
            self._fast_pool.release(conn)

    async def aexecute_packed(self, packed: bytes, *command: Any) -> Any:
        """Async `execute_packed` on this loop's client, with connections held the same way.

        The held connections come from a pool of our own whose connections have no socket
        timeout: redis-py enforces one by wrapping every send in ``asyncio.wait_for``, which
        creates a task per command (a third of a decision's cost). One ``asyncio.timeout``
        around send and read enforces the client's timeout instead, for the whole round trip.
        """
        hold = self._async_hold()
        replies = await self._around_trip(hold, packed, 1, raw=False)
        if replies is None:
            return await hold.client.execute_command(*command)
        return replies[0]

    async def apipeline_packed(self, *commands: tuple[Any, ...], raw: bool = False) -> list[Any]:
        """Async `pipeline_packed`."""
        hold = self._async_hold()
        packed = b"".join(pack_command(*command) for command in commands)
        replies = await self._around_trip(hold, packed, len(commands), raw=raw)
        if replies is not None:
            return replies
        pipe: Any = hold.client.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command, **_never_decode(raw))
        return list(await pipe.execute())

    async def _around_trip(
        self, hold: _AsyncHold, packed: bytes, count: int, *, raw: bool
    ) -> list[Any] | None:
        """Async `_round_trip`."""
        import redis

        pool = hold.pool
        if pool is None:
            return None
        held = hold.held
        try:
            conn = held.pop()
        except IndexError:
            conn = await pool.get_connection(*hold.args)
        try:
            async with asyncio.timeout(hold.timeout):
                await conn.send_packed_command([packed], check_health=False)
                if count == 1:
                    replies = [await conn.read_response(disable_decoding=raw)]
                else:
                    replies = await _aread_replies(conn, count, raw, redis.ResponseError)
        except redis.ResponseError:
            await self._aput_back(hold, conn)  # every reply was read: the connection is clean
            raise
        except (redis.ConnectionError, redis.TimeoutError, OSError):  # OSError covers TimeoutError
            await conn.disconnect(nowait=True)
            await pool.release(conn)
            return None
        except BaseException:
            await asyncio.shield(_drop_connection(pool, conn))
            raise
        await self._aput_back(hold, conn)
        return replies

    async def _aput_back(self, hold: _AsyncHold, conn: Any) -> None:
        if self._closed or hold.closed:
            pool: Any = hold.pool
            await pool.release(conn)
        else:
            hold.held.append(conn)

    # ------------------------------------------------------------------ clearing
    def clear(self, keys: RedisKeys) -> int:
        """Delete every key under ``keys`` (SCAN MATCH + UNLINK in batches); return the count.

        Never FLUSHDB/KEYS: the database may hold other applications' data.
        """
        client: Any = self.client  # redis-py's annotations differ between versions
        removed = 0
        batch: list[Any] = []
        for key in client.scan_iter(match=keys.pattern, count=_SCAN_COUNT):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                removed += int(client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(client.unlink(*batch))
        return removed

    async def aclear(self, keys: RedisKeys) -> int:
        """Async `clear()`."""
        client: Any = self.aclient
        removed = 0
        batch: list[Any] = []
        async for key in client.scan_iter(match=keys.pattern, count=_SCAN_COUNT):
            batch.append(key)
            if len(batch) >= _UNLINK_BATCH:
                removed += int(await client.unlink(*batch))
                batch.clear()
        if batch:
            removed += int(await client.unlink(*batch))
        return removed

    # ------------------------------------------------------------------ lifecycle
    @property
    def closed(self) -> bool:
        """Whether the handle has been closed for good."""
        return self._closed

    def _retain(self) -> bool:
        """Take one more reference unless already closed (used by `open_redis`)."""
        with self._lock:
            if self._closed:
                return False
            self._refs += 1
            return True

    def _release(self) -> bool:
        """Drop one reference; True when it was the last."""
        with self._lock:
            if self._closed:
                return False
            self._refs -= 1
            if self._refs > 0:
                return False
            self._closed = True
        _forget(self)
        return True

    def close(self) -> None:
        """Release this handle; the last release closes our clients and stops our server.

        Async clients of *other* running loops are closed on their loop; call `aclose()`
        from async code to close the current loop's client cleanly.
        """
        if not self._release():
            return
        self._close_async_clients_elsewhere()
        self._release_held()
        if self._user_async is not None:
            # A user's async client belongs to a loop this sync call cannot await on: stop holding its
            # connections (they close with our pool when it is collected); `aclose()` closes them at once.
            self._user_async.closed = True
            self._user_async.held = []
        if self._owned_sync:
            self.client.close()
        self._stop_server()

    async def aclose(self) -> None:
        """Async `close()`: awaits closing the running loop's client."""
        if not self._release():
            return
        current = self._aclients.pop(asyncio.get_running_loop(), None)
        if current is not None:
            await current.aclose()
        if self._user_async is not None:
            await self._user_async.close()
        self._close_async_clients_elsewhere()
        self._release_held()
        if self._owned_sync:
            self.client.close()
        self._stop_server()

    def __enter__(self) -> RedisBackend:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> RedisBackend:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        where = self.server.url if self.server is not None else self.options.describe()
        return f"<RedisBackend {where}{' closed' if self._closed else ''}>"

    # ------------------------------------------------------------------ internals
    def _start_server(self) -> TemporaryRedisServer:
        opts = self.options
        return TemporaryRedisServer(
            binary=opts.server_binary,
            unix_socket=opts.unix_socket,
            dbfilename=opts.dump_file,
            maxmemory=opts.maxmemory,
            maxmemory_policy=opts.maxmemory_policy,
        )

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.close()

    def _make_sync(self) -> tuple[redis.Redis, bool]:
        """The sync client and whether we own it."""
        import redis

        conn = self.options.conn
        if conn is not None and not _is_async_client(conn):
            sync: redis.Redis = conn
            return sync, False
        source = conn if conn is not None else self.options.async_conn
        if source is not None:
            return _derive(source, redis.Redis, _sync_connection_class), True
        return _new_sync_client(self._client_kwargs()), True

    def _make_async(self) -> redis.asyncio.Redis:
        import redis.asyncio

        if self.options.conn is not None:
            derived: redis.asyncio.Redis = _derive(
                self.options.conn, redis.asyncio.Redis, _async_connection_class
            )
            return derived
        return redis.asyncio.Redis(**self._client_kwargs())

    def _client_kwargs(self) -> dict[str, Any]:
        """Constructor keywords shared by ``redis.Redis`` and ``redis.asyncio.Redis``."""
        opts = self.options
        common: dict[str, Any] = {
            "decode_responses": opts.decode_responses,
            "protocol": opts.protocol,
            "socket_timeout": opts.socket_timeout,
            "socket_connect_timeout": opts.socket_connect_timeout,
        }
        if self.server is not None:
            return {**common, **self.server.connection_kwargs()}
        if opts.url is not None:
            return {**common, **_url_kwargs(opts.url, opts)}
        return {**common, **_host_kwargs(opts)}

    def _close_async_clients_elsewhere(self) -> None:
        """Close async clients bound to other loops, from outside those loops."""
        clients = list(self._aclients.items())
        self._aclients.clear()
        for loop, entry in clients:
            if loop.is_closed():
                continue  # its shutdown already closed the client (see _LoopClient)
            if loop.is_running() and _running_loop() is not loop:
                future = asyncio.run_coroutine_threadsafe(entry.aclose(), loop)
                with contextlib.suppress(Exception):
                    future.result(timeout=5)
            elif loop.is_running():
                _pending_closes.add(task := loop.create_task(entry.aclose()))
                task.add_done_callback(_pending_closes.discard)
            else:
                loop.run_until_complete(entry.aclose())


class _LoopClient:
    """An async client bound to one event loop, closed together with that loop at the latest.

    A pool's sockets belong to the loop that opened them; once the loop is closed they can no
    longer be closed cleanly (asyncio then warns "unclosed transport" / "loop is closed"). So
    next to each client we park an async generator on the loop: ``asyncio.run`` (and
    ``asyncio.Runner``, pytest-asyncio) finalise pending async generators before closing the
    loop, and the generator's ``finally`` closes the client there. An explicit `aclose()` just
    does the same earlier.
    """

    __slots__ = ("_closer", "hold")

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.hold = _AsyncHold(client)
        self._closer = _close_at_loop_shutdown(self.hold)
        # Calling __anext__ registers the generator with the running loop's asyncgen hooks;
        # one synchronous step runs it to its ``yield`` without needing an ``await`` here.
        step = self._closer.__anext__()
        with contextlib.suppress(StopIteration):
            step.send(None)

    async def aclose(self) -> None:
        """Close the client now (runs the generator's ``finally``)."""
        await self._closer.aclose()


class _AsyncHold:
    """An async client, and the connections `RedisBackend.aexecute_packed` holds for it.

    Those come from a pool of our own with the client's connection settings minus the socket
    timeout (see `aexecute_packed`); ``timeout`` is the client's, applied per round trip.
    """

    __slots__ = ("args", "client", "closed", "held", "pool", "timeout")

    def __init__(self, client: Any) -> None:
        self.client = client
        source, self.args = _fast_path(client)
        self.pool = _untimed_pool(source) if source is not None else None
        self.timeout: float | None = source.connection_kwargs.get("socket_timeout") if source else None
        self.held: list[Any] = []
        self.closed = False

    async def close(self) -> None:
        """Close the held connections and our pool (before the client closes, or for good)."""
        self.closed = True
        self.held = []
        if self.pool is not None:
            await self.pool.disconnect()


def _untimed_pool(pool: Any) -> Any:
    """A new asyncio pool making connections like ``pool``'s, but without a socket timeout."""
    import redis.asyncio

    kwargs = {**pool.connection_kwargs, "socket_timeout": None}
    return redis.asyncio.ConnectionPool(connection_class=pool.connection_class, **kwargs)


async def _close_at_loop_shutdown(hold: _AsyncHold) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            await hold.close()
            await hold.client.aclose()


# ---------------------------------------------------------------------- fork safety
# Connections a backend holds (see `RedisBackend.execute_packed`) belong to the process that
# opened them. redis-py's pools notice a fork by comparing getpid() on every checkout; held
# connections skip that system call, so a forked child drops them here instead (without
# closing the parent's sockets: redis-py only shuts a socket down in the process that made it).
_live_backends: weakref.WeakSet[RedisBackend] = weakref.WeakSet()


def _forget_held_connections_after_fork() -> None:
    for backend in list(_live_backends):
        backend._held = []


os.register_at_fork(after_in_child=_forget_held_connections_after_fork)


# ---------------------------------------------------------------------- sharing
_registry: dict[RedisOptions, RedisBackend] = {}
_registry_lock = threading.Lock()
_pending_closes: set[asyncio.Task[None]] = set()


def open_redis(options: RedisOptions | None = None, *, shared: bool = True) -> RedisBackend:
    """Return a `RedisBackend` for ``options``; close it with ``.close()``/``.aclose()``.

    With ``shared=True`` (default) equal options in this process share one handle, and so
    one set of clients and one temporary server; each `open_redis` call must be paired
    with one close, and the last close really closes. ``shared=False`` makes a private
    handle (e.g. two independent temporary servers).
    """
    options = options or RedisOptions()
    if not shared:
        return RedisBackend(options)
    with _registry_lock:
        existing = _registry.get(options)
        if existing is not None and existing._retain():
            return existing
        backend = RedisBackend(options)
        _registry[options] = backend
        return backend


def _forget(backend: RedisBackend) -> None:
    with _registry_lock:
        if _registry.get(backend.options) is backend:
            del _registry[backend.options]


# ---------------------------------------------------------------------- helpers
def bulk(value: bytes) -> bytes:
    """One RESP bulk string."""
    return b"$%d\r\n%b\r\n" % (len(value), value)


def pack_command(*parts: str | bytes) -> bytes:
    """A whole RESP command (an array of bulk strings); ``str`` parts are UTF-8 encoded."""
    encoded = [p.encode() if isinstance(p, str) else p for p in parts]
    return b"*%d\r\n" % len(encoded) + b"".join(bulk(p) for p in encoded)


def _fast_path(client: Any) -> tuple[Any, tuple[str, ...]]:
    """The pool `execute_packed` may use directly (None: always go through redis-py), and the
    arguments its ``get_connection`` needs (redis-py 5 requires a command name, later ones warn)."""
    import redis
    import redis.asyncio

    pool = getattr(client, "connection_pool", None)
    plain = type(client) is redis.Redis or type(client) is redis.asyncio.Redis
    if not plain or pool is None or getattr(client, "connection", None) is not None:
        return None, ()  # clusters, pipelines, single-connection clients: keep redis-py's routing
    pool_type: Any = type(pool)
    return pool, _get_connection_args(pool_type)


@functools.cache
def _get_connection_args(pool_type: Any) -> tuple[str, ...]:
    import inspect

    params = list(inspect.signature(pool_type.get_connection).parameters.values())[1:]  # skip self
    needs_name = (
        bool(params)
        and params[0].default is inspect.Parameter.empty
        and params[0].kind
        in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        )
    )
    return ("EVALSHA",) if needs_name else ()


def _read_replies(conn: Any, count: int, raw: bool, response_error: type[Exception]) -> list[Any]:
    """Read all ``count`` replies, so the connection stays in step, then raise the first error reply."""
    replies: list[Any] = []
    error: Exception | None = None
    for _ in range(count):
        try:
            replies.append(conn.read_response(disable_decoding=raw))
        except response_error as exc:
            error = error or exc
    if error is not None:
        raise error
    return replies


async def _aread_replies(conn: Any, count: int, raw: bool, response_error: type[Exception]) -> list[Any]:
    """Async `_read_replies`."""
    replies: list[Any] = []
    error: Exception | None = None
    for _ in range(count):
        try:
            replies.append(await conn.read_response(disable_decoding=raw))
        except response_error as exc:
            error = error or exc
    if error is not None:
        raise error
    return replies


def _never_decode(raw: bool) -> dict[str, bool]:
    """redis-py's per-command option that returns a reply as bytes whatever ``decode_responses``."""
    from redis.client import NEVER_DECODE

    return {NEVER_DECODE: True} if raw else {}


async def _drop_connection(pool: Any, conn: Any) -> None:
    await conn.disconnect(nowait=True)
    await pool.release(conn)


def _require_redis() -> None:
    """Import redis-py now, with an actionable message if it is missing."""
    try:
        import redis  # noqa: F401
    except ImportError as exc:  # pragma: no cover - redis is a declared dependency
        raise BackendUnavailable("the Redis backend needs redis-py: pip install 'redis>=5'") from exc


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _is_async_client(conn: object) -> bool:
    import redis.asyncio

    return isinstance(conn, redis.asyncio.Redis)


def _sync_connection_class(async_cls: type) -> type:
    import redis.connection

    found: type = getattr(redis.connection, async_cls.__name__, redis.connection.Connection)
    return found


def _async_connection_class(sync_cls: type) -> type:
    import redis.asyncio.connection

    found: type = getattr(redis.asyncio.connection, sync_cls.__name__, redis.asyncio.connection.Connection)
    return found


def _derive(source: Any, target: Any, map_class: Any) -> Any:
    """Build a client of class ``target`` connected like ``source`` (the other flavour)."""
    pool = getattr(source, "connection_pool", None)
    if pool is None:
        raise ConfigurationError(
            f"cannot derive the other Redis client flavour from {type(source).__name__}; "
            "pass both conn= (sync) and async_conn= (asyncio)"
        )
    kwargs = {k: v for k, v in pool.connection_kwargs.items() if k in _PORTABLE_KWARGS}
    pool_class = target.__module__.rsplit(".", 1)[0]  # "redis" or "redis.asyncio"
    import importlib

    pools = importlib.import_module(pool_class)
    extra = _maint_off() if pool_class == "redis" and "path" in kwargs else {}
    new_pool = pools.ConnectionPool(connection_class=map_class(pool.connection_class), **kwargs, **extra)
    # from_pool: the client owns the pool and disconnects it on close.
    return target.from_pool(new_pool)


def _new_sync_client(kwargs: dict[str, Any]) -> redis.Redis:
    """``redis.Redis(**kwargs)``, working around redis-py 7.x for unix sockets (see `_maint_off`)."""
    import redis

    extra = _maint_off() if "unix_socket_path" in kwargs else {}
    if not extra:
        return redis.Redis(**kwargs)
    connection = dict(kwargs)
    path = connection.pop("unix_socket_path")
    pool = redis.ConnectionPool(
        connection_class=redis.UnixDomainSocketConnection, path=path, **connection, **extra
    )
    return redis.Redis.from_pool(pool)


def _maint_off() -> dict[str, Any]:
    """Keywords disabling "maintenance notifications" where redis-py has them.

    redis-py 7.x enables that Redis Cloud/Enterprise feature on every RESP3 connection and
    raises for unix-socket connections, which have no host; ``redis.Redis(...)`` does not pass
    an opt-out through to the pool, so callers build the pool themselves with this.
    """
    import inspect

    import redis

    if "maint_notifications_config" not in inspect.signature(redis.ConnectionPool.__init__).parameters:
        return {}
    from redis.maint_notifications import MaintNotificationsConfig

    return {"maint_notifications_config": MaintNotificationsConfig(enabled=False)}


def _url_kwargs(url: str, opts: RedisOptions) -> dict[str, Any]:
    """Parse a URL into client keywords; explicit username/password/db win over the URL's."""
    from redis.connection import parse_url

    kwargs: dict[str, Any] = dict(parse_url(url))  # type: ignore[no-untyped-call]
    connection_class = kwargs.pop("connection_class", None)
    if connection_class is not None and connection_class.__name__ == "UnixDomainSocketConnection":
        kwargs["unix_socket_path"] = kwargs.pop("path")
    elif connection_class is not None and connection_class.__name__ == "SSLConnection":
        kwargs["ssl"] = True
    if opts.username is not None:
        kwargs["username"] = opts.username
    if opts.password is not None:
        kwargs["password"] = opts.password
    if opts.db is not None:
        kwargs["db"] = opts.db_index
    return kwargs


def _host_kwargs(opts: RedisOptions) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "host": opts.host,
        "port": int(opts.port or 6379),
        "db": opts.db_index,
        "username": opts.username,
        "password": opts.password,
    }
    if opts.ssl:
        kwargs.update(
            ssl=True,
            ssl_ca_certs=opts.ssl_ca_certs,
            ssl_certfile=opts.ssl_certfile,
            ssl_keyfile=opts.ssl_keyfile,
            ssl_cert_reqs=opts.ssl_cert_reqs,
            ssl_check_hostname=opts.ssl_check_hostname,
        )
    return kwargs


def _glob_escape(text: str) -> str:
    """Escape Redis glob metacharacters so SCAN MATCH treats ``text`` literally."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _redact_url(url: str) -> str:
    """Drop the password from a URL for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, hostpart = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':***@' if user else '***@'}{hostpart}"
