"""The Redis backend layer: options, temporary server lifecycle, external servers, clients."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sessions._exceptions import BackendUnavailable, ConfigurationError
from sessions.backends import (
    MAXMEMORY_POLICIES,
    RedisBackend,
    RedisKeys,
    RedisOptions,
    TemporaryRedisServer,
    open_redis,
    pack_command,
)

redis = pytest.importorskip("redis")
from redis.asyncio.retry import Retry  # noqa: E402
from redis.backoff import NoBackoff  # noqa: E402

needs_binary = pytest.mark.skipif(
    shutil.which("redis-server") is None and os.environ.get("SESSIONS_REQUIRE_REDIS") != "1",
    reason="redis-server binary not on PATH",
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# ---------------------------------------------------------------------------- options
def test_maxmemory_policy_is_validated() -> None:
    with pytest.raises(ValueError, match=r"'lru'.*valid policies: volatile-lru, allkeys-lru") as info:
        RedisOptions(maxmemory_policy="lru")
    assert isinstance(info.value, ConfigurationError)
    for policy in MAXMEMORY_POLICIES:
        assert RedisOptions(maxmemory_policy=policy).maxmemory_policy == policy
    assert len(MAXMEMORY_POLICIES) == 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"protocol": 4}, "protocol must be 2 or 3"),
        ({"port": 6380}, "port= needs host="),
        ({"host": "h", "port": "x"}, "port must be an integer"),
        ({"url": "redis://h", "host": "h"}, "only one of conn=, url=, host="),
        ({"maxmemory": "lots"}, "maxmemory must be"),
        ({"maxmemory": -1}, "maxmemory must be"),
        ({"db": -1}, "db must be a non-negative"),
        ({"url": "redis://h", "maxmemory": "10mb"}, "only configure a temporary redis-server"),
        ({"host": "h", "maxmemory_policy": "allkeys-lru"}, "only configure a temporary"),
        ({"host": "h", "db": "/tmp/dump.rdb"}, r"db \(a path\) only configure"),
    ],
)
def test_invalid_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        RedisOptions(**kwargs)  # type: ignore[arg-type]


def test_db_is_an_index_or_the_dump_file_alias(tmp_path: Path) -> None:
    assert RedisOptions(host="h", db=3).db_index == 3
    assert RedisOptions(host="h", db="2").db_index == 2
    temp = RedisOptions(db=tmp_path / "dump.rdb")
    assert temp.dump_file == tmp_path / "dump.rdb"
    assert temp.db_index == 0
    assert RedisOptions(dbfilename="x.rdb").dump_file == Path("x.rdb")
    assert RedisOptions(maxmemory="100mb").maxmemory == "100mb"


def test_password_is_not_in_repr_or_messages() -> None:
    opts = RedisOptions(url="redis://user:secret@localhost:1/0", password="secret")
    assert "secret" not in repr(opts)
    assert "secret" not in opts.describe()


def test_redis_keys_hash_tag_and_pattern() -> None:
    keys = RedisKeys("My*Session", "rl")
    assert keys.key("https://h/p") == "{My*Session}:rl:https://h/p"
    assert keys.pattern == "{My\\*Session}:rl:*"
    with pytest.raises(ConfigurationError):
        RedisKeys("", "rl")


def test_importing_backends_does_not_import_redis() -> None:
    code = "import sys, sessions.backends; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------------------- temporary server
def test_missing_binary_says_how_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(BackendUnavailable) as info:
        RedisBackend(RedisOptions())
    text = str(info.value)
    assert "redis-server" in text
    assert "apt-get install redis-server" in text
    assert "url=" in text


@needs_binary
def test_temporary_server_starts_and_is_gone_after_close() -> None:
    backend = RedisBackend(RedisOptions())
    server = backend.server
    assert server is not None
    pid, workdir, sock = server.pid, server.workdir, server.unix_socket
    assert pid is not None
    assert _alive(pid)
    assert sock is not None
    assert Path(sock).exists()
    assert (workdir.stat().st_mode & 0o777) == 0o700
    assert backend.client.ping()
    backend.client.set("k", "v")
    backend.close()
    assert backend.closed
    assert not server.running
    assert not _alive(pid)
    assert not workdir.exists()
    backend.close()  # idempotent


@needs_binary
def test_temporary_server_on_a_tcp_port_without_persistence() -> None:
    with TemporaryRedisServer(unix_socket=False) as server:
        assert server.port > 0
        assert server.url.startswith("redis://127.0.0.1:")
        client = redis.Redis.from_url(server.url)
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.close()
    assert not server.running


@needs_binary
def test_maxmemory_options_are_applied() -> None:
    with RedisBackend(RedisOptions(maxmemory="64mb", maxmemory_policy="allkeys-lru")) as backend:
        config = backend.client.config_get("maxmemory*")
        assert int(config["maxmemory"]) == 64 * 1024 * 1024
        assert config["maxmemory-policy"] == "allkeys-lru"


@needs_binary
def test_dbfilename_persists_between_servers(tmp_path: Path) -> None:
    dump = tmp_path / "state" / "dump.rdb"
    with RedisBackend(RedisOptions(db=dump)) as backend:  # the seed's alias of dbfilename
        backend.client.set("survives", "yes")
    assert dump.exists()
    with RedisBackend(RedisOptions(dbfilename=dump)) as backend:
        assert backend.client.get("survives") == b"yes"


@needs_binary
def test_restart_keeps_the_address(temporary_redis: TemporaryRedisServer) -> None:
    url, old = temporary_redis.url, temporary_redis.pid
    temporary_redis.restart()
    assert temporary_redis.url == url
    assert temporary_redis.pid != old
    client = redis.Redis.from_url(url)
    assert client.ping()
    client.close()


@needs_binary
def test_a_forked_child_does_not_stop_the_parents_server() -> None:
    server = TemporaryRedisServer()
    try:
        pid = os.fork()
        if pid == 0:  # child: closing (or exiting) must leave the parent's server alone
            server.close()
            os._exit(0)
        os.waitpid(pid, 0)
        assert server.running
        assert server.workdir.exists()
    finally:
        server.close()


@needs_binary
def test_server_is_stopped_at_interpreter_exit(tmp_path: Path) -> None:
    code = (
        "from sessions.backends import RedisBackend\n"
        "b = RedisBackend()\n"
        "print(b.server.pid, b.server.workdir, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    pid_text, workdir = out.stdout.split()
    assert not _alive(int(pid_text))
    assert not Path(workdir).exists()


@needs_binary
def test_open_redis_shares_one_temporary_server() -> None:
    first = open_redis(RedisOptions())
    second = open_redis(RedisOptions())
    assert first is second
    server = first.server
    assert server is not None
    first.close()
    assert server.running  # still referenced
    second.close()
    assert not server.running
    third = open_redis(RedisOptions())
    assert third is not first
    third.close()
    private = open_redis(RedisOptions(), shared=False)
    assert private.server is not None
    assert private.server is not server
    private.close()


# ---------------------------------------------------------------------------- external servers
def test_unreachable_server_says_how_to_fix() -> None:
    with socket.socket() as sock:  # a port nobody listens on (never the real 6379)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=rf"cannot reach Redis at 127.0.0.1:{port}.*omit"):
        RedisBackend(RedisOptions(host="127.0.0.1", port=port, socket_connect_timeout=1))


def test_external_server_is_untouched_on_close(redis_url: str, redis_prefix: str) -> None:
    other = redis.Redis.from_url(redis_url)
    other.set(f"{{{redis_prefix}}}:not-ours", "keep")
    other.set(f"{{{redis_prefix}}}:cache:x", "keep")
    backend = RedisBackend(RedisOptions(url=redis_url))
    assert backend.server is None
    keys = RedisKeys(redis_prefix, "rl")
    for i in range(1200):  # more than one UNLINK batch
        backend.client.set(keys.key(str(i)), i)
    assert backend.clear(keys) == 1200
    backend.close()
    assert other.ping()  # server still up
    assert other.get(f"{{{redis_prefix}}}:not-ours") == b"keep"
    assert other.get(f"{{{redis_prefix}}}:cache:x") == b"keep"
    other.close()


def test_user_connection_is_not_closed_and_async_twin_is_derived(redis_url: str, redis_prefix: str) -> None:
    user = redis.Redis.from_url(redis_url, decode_responses=True)
    backend = RedisBackend(RedisOptions(conn=user))
    assert backend.client is user
    key = RedisKeys(redis_prefix, "cache").key("a")
    user.set(key, "v")

    async def read() -> str:
        value = await backend.aclient.get(key)
        await backend.aclose()
        return str(value)

    assert asyncio.run(read()) == "v"  # decode_responses carried over to the derived client
    assert user.get(key) == "v"  # still usable: we do not close what we did not create
    user.close()


def test_sync_twin_is_derived_from_an_async_connection(redis_url: str, redis_prefix: str) -> None:
    key = RedisKeys(redis_prefix, "cache").key("b")

    async def main() -> None:
        user = redis.asyncio.Redis.from_url(redis_url)
        backend = RedisBackend(RedisOptions(conn=user))
        assert backend.aclient is user
        backend.client.set(key, "v")
        assert await user.get(key) == b"v"
        await backend.aclose()
        assert await user.ping()  # not closed by us
        await user.aclose()

    asyncio.run(main())


def test_async_clients_work_across_event_loops(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(RedisOptions(url=redis_url))
    keys = RedisKeys(redis_prefix, "rl")

    async def write(i: int) -> None:
        await backend.aclient.set(keys.key(str(i)), i)
        await backend.aclient.connection_pool.disconnect()

    asyncio.run(write(1))
    asyncio.run(write(2))  # a second loop gets its own client

    async def finish() -> int:
        removed = await backend.aclear(keys)
        await backend.aclose()
        return removed

    assert asyncio.run(finish()) == 2


# ---------------------------------------------------------------------------- held connections
_CLIENT_ID = ("CLIENT", "ID")


def _client_id(backend: RedisBackend) -> int:
    return int(backend.execute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID))


def test_execute_packed_holds_its_connection_between_calls(redis_url: str) -> None:
    backend = RedisBackend(RedisOptions(url=redis_url))
    try:
        first = _client_id(backend)
        assert _client_id(backend) == first
        assert len(backend.client.connection_pool._in_use_connections) == 1  # held, not returned
        with pytest.raises(redis.exceptions.NoScriptError):
            backend.execute_packed(pack_command("EVALSHA", "0" * 40, "0"), "EVALSHA", "0" * 40, 0)
        assert _client_id(backend) == first  # an error reply leaves it clean and held
    finally:
        backend.close()


def test_a_held_connection_the_server_closed_is_replaced(redis_url: str) -> None:
    """Servers drop idle clients (``timeout``), proxies and failovers cut connections: the next call
    must reconnect, not fail."""
    backend = RedisBackend(RedisOptions(url=redis_url))
    other = redis.Redis.from_url(redis_url)
    try:
        held = _client_id(backend)
        assert other.client_kill_filter(_id=held) == 1
        assert _client_id(backend) != held  # answered on a fresh connection
        assert _client_id(backend) == _client_id(backend)  # which is held from then on
    finally:
        other.close()
        backend.close()


def test_pipeline_packed_reads_every_reply_even_after_an_error(redis_url: str, redis_prefix: str) -> None:
    backend = RedisBackend(RedisOptions(url=redis_url, decode_responses=True))
    key = RedisKeys(redis_prefix, "cache").key("text")
    backend.client.set(key, "not a number")
    try:
        with pytest.raises(redis.ResponseError, match="not an integer"):
            backend.pipeline_packed(("INCR", key), ("ECHO", "second"))
        # the connection is still in step: the next replies are this call's, not the leftover "second"
        assert backend.pipeline_packed(("ECHO", "third")) == ["third"]
        assert backend.pipeline_packed(("GET", key), raw=True) == [
            b"not a number"
        ]  # despite decode_responses
    finally:
        backend.client.delete(key)
        backend.close()


def test_threads_never_share_a_held_connection(redis_url: str) -> None:
    backend = RedisBackend(RedisOptions(url=redis_url))
    crossed: list[tuple[bytes, object]] = []

    def echo(n: int) -> None:
        for i in range(300):
            payload = f"{n}-{i}".encode()
            reply = backend.execute_packed(pack_command("ECHO", payload), "ECHO", payload)
            if reply != payload:
                crossed.append((payload, reply))

    threads = [threading.Thread(target=echo, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    backend.close()
    assert crossed == []


def test_close_gives_held_connections_back_to_a_users_pool(redis_url: str) -> None:
    user = redis.Redis.from_url(redis_url)
    backend = RedisBackend(RedisOptions(conn=user))
    _client_id(backend)
    assert user.connection_pool._in_use_connections  # held by the backend
    backend.close()
    assert not user.connection_pool._in_use_connections
    assert user.ping()
    user.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_use_the_parents_held_connection(redis_url: str) -> None:
    backend = RedisBackend(RedisOptions(url=redis_url))
    parent = _client_id(backend)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: must open its own connection
        code = 0
        try:
            os.write(write_end, str(_client_id(backend)).encode())
        except BaseException:
            code = 1
        os._exit(code)
    os.close(write_end)
    child = int(os.read(read_end, 64) or b"0")
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert child not in (0, parent)
    assert _client_id(backend) == parent  # the parent's connection survived the child
    backend.close()


def test_aexecute_packed_holds_per_loop_and_closes_on_aclose(redis_url: str) -> None:
    async def main() -> None:
        user = redis.asyncio.Redis.from_url(redis_url)
        try:
            backend = RedisBackend(RedisOptions(conn=user))
            first = await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID)
            assert await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID) == first
            listed = await user.execute_command("CLIENT", "LIST", "ID", str(first))
            assert b"id=%d " % first in listed  # held open between calls
            await backend.aclose()
            # The server notices a closed socket on its next event-loop turn, which may come after a command
            # from another connection: give it up to 2 s (a connection left open stays listed for ever).
            for _ in range(200):
                if await user.execute_command("CLIENT", "LIST", "ID", str(first)) in (b"", ""):
                    break
                await asyncio.sleep(0.01)
            else:
                pytest.fail("the held connection is still open on the server after aclose()")
            assert await user.ping()  # the user's own client is untouched
        finally:
            await user.aclose()

    asyncio.run(main())


def test_an_async_held_connection_the_server_closed_is_replaced(redis_url: str) -> None:
    async def main() -> None:
        backend = RedisBackend(RedisOptions(url=redis_url))
        other = redis.asyncio.Redis.from_url(redis_url)
        try:
            held = await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID)
            assert await other.client_kill_filter(_id=held) == 1
            fresh = await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID)
            assert fresh != held
        finally:
            await other.aclose()
            await backend.aclose()

    asyncio.run(main())


def test_aexecute_packed_enforces_the_socket_timeout(redis_url: str) -> None:
    """Held async connections carry no socket timeout of their own; the round trip must still time out."""

    async def main() -> None:
        # no retries, so that redis-py's fallback does not simply wait the pause out
        user = redis.asyncio.Redis.from_url(redis_url, socket_timeout=0.2, retry=Retry(NoBackoff(), 0))
        backend = RedisBackend(RedisOptions(conn=user))
        other = redis.asyncio.Redis.from_url(redis_url)
        await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID)  # a held connection now
        await other.execute_command("CLIENT", "PAUSE", "5000", "ALL")
        try:
            with pytest.raises(redis.TimeoutError):  # not a reply 5 s later
                await backend.aexecute_packed(pack_command(*_CLIENT_ID), *_CLIENT_ID)
        finally:
            await other.execute_command("CLIENT", "UNPAUSE")
            await other.aclose()
            await backend.aclose()
            await user.aclose()

    asyncio.run(main())
