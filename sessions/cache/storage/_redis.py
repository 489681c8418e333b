"""Redis storage: one hash per entry, an LRU sorted set and byte totals, caps enforced in Lua.

Keys (all under the `RedisKeys(namespace, "cache")` hash tag, so one Cluster slot)::

    {ns}:cache:e:<key>   HASH  v=msgpack entry, u=url, m=method, s=status, c=created_at,
                               x=expires ("" = never), n=size, k=kind      PEXPIRE = ttl
    {ns}:cache:lru       ZSET  member <key>, score = last access (ms)
    {ns}:cache:sizes     HASH  <key> → size
    {ns}:cache:bytes     STRING total size

A hit is one round trip (HGET + ZADD XX in a pipeline). A store is one Lua script: replace the
entry, account its size, garbage-collect index members whose entry Redis already expired, and
evict least-recently-used entries while over the caps. `clear()` SCANs and unlinks our own keys
only — never FLUSHDB (the original did).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from ...backends import RedisKeys, RedisOptions, open_redis
from .._entry import CachedEntry, EntryInfo
from .._serializer import dumps
from ._base import CacheStorage, StorageLimits, decode_or_none

__all__ = ["RedisStorage"]

_DROP: Final = """
local function drop(member)
  local size = redis.call('HGET', KEYS[3], member)
  if size then redis.call('DECRBY', KEYS[4], size) end
  redis.call('HDEL', KEYS[3], member)
  redis.call('ZREM', KEYS[2], member)
  return redis.call('DEL', ARGV[1] .. member)
end
"""
# KEYS: entry, lru, sizes, bytes. ARGV: entry-prefix, member, blob, url, method, status, created,
# expires, size, kind, ttl_ms (0 = none), now_ms, max_entries (0 = none), max_bytes (0 = none)
_SET: Final = (
    _DROP
    + """
drop(ARGV[2])
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'u', ARGV[4], 'm', ARGV[5], 's', ARGV[6], 'c', ARGV[7],
           'x', ARGV[8], 'n', ARGV[9], 'k', ARGV[10])
if tonumber(ARGV[11]) > 0 then redis.call('PEXPIRE', KEYS[1], ARGV[11]) end
redis.call('ZADD', KEYS[2], ARGV[12], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[9])
redis.call('INCRBY', KEYS[4], ARGV[9])
-- Incremental GC: entries Redis expired by TTL leave index members behind; look at the two oldest.
for _, m in ipairs(redis.call('ZRANGE', KEYS[2], 0, 1)) do
  if redis.call('EXISTS', ARGV[1] .. m) == 0 then drop(m) end
end
local max_entries, max_bytes = tonumber(ARGV[13]), tonumber(ARGV[14])
local evicted = 0
while (max_entries > 0 and redis.call('ZCARD', KEYS[2]) > max_entries)
   or (max_bytes > 0 and tonumber(redis.call('GET', KEYS[4]) or '0') > max_bytes) do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
  if not oldest then break end
  drop(oldest)
  evicted = evicted + 1
end
return evicted
"""
)
# KEYS: lru, lru, sizes, bytes (KEYS[1] unused). ARGV: entry-prefix, members...
_DELETE: Final = (
    _DROP
    + """
local n = 0
for i = 2, #ARGV do n = n + drop(ARGV[i]) end
return n
"""
)
_FIELDS: Final = ("m", "u", "s", "c", "x", "n", "k")


class RedisStorage(CacheStorage):
    """Entries in Redis, through the shared `sessions.backends` connection handle.

    Connection options are those of `RedisOptions` (`conn`, `url`, `host`, `port`, …); with none,
    the backend layer starts a temporary `redis-server`.
    """

    def __init__(
        self,
        limits: StorageLimits | None = None,
        *,
        namespace: str = "Session",
        clock: Callable[[], float] = time.time,
        **redis_options: Any,
    ) -> None:
        self.limits = limits or StorageLimits()
        self.backend = open_redis(RedisOptions(**redis_options))
        self.keys = RedisKeys(namespace, "cache")
        self.entry_prefix = self.keys.key("e", "")
        self._index = [self.keys.key("lru"), self.keys.key("sizes"), self.keys.key("bytes")]
        self._clock = clock
        self._set = self.backend.client.register_script(_SET)
        self._delete = self.backend.client.register_script(_DELETE)
        self._ascripts: dict[int, tuple[Any, Any]] = {}

    # ------------------------------------------------------------------ helpers
    def _set_args(self, entry: CachedEntry, ttl: float | None) -> tuple[list[str], list[Any]]:
        blob = dumps(entry)
        now_ms = int(self._clock() * 1000)
        expires = "" if entry.expires is None else repr(entry.expires)
        ttl_ms = 0 if ttl is None else max(1, int(ttl * 1000))
        caps = (self.limits.max_entries or 0, self.limits.max_bytes or 0)
        args: list[Any] = [
            self.entry_prefix, entry.key, blob, entry.url, entry.method, entry.status, repr(entry.created_at),
            expires, len(blob), entry.kind, ttl_ms, now_ms, *caps,
        ]  # fmt: skip
        return [self.entry_prefix + entry.key, *self._index], args

    def _info(self, key: str, values: list[Any]) -> EntryInfo | None:
        method, url, status, created, expires, size, kind = (_text(v) for v in values)
        if method is None or kind != "0":
            return None  # vanished between SCAN and HMGET, or a Vary index
        deadline = float(expires) if expires else None
        created_at = float(created or 0)
        return EntryInfo(key, method, url or "", int(status or 0), created_at, deadline, int(size or 0))

    # ------------------------------------------------------------------ sync
    def get(self, key: str) -> CachedEntry | None:
        """HGET the blob (raw: msgpack, whatever decode_responses) and bump the LRU score: one round trip."""
        blob = self.backend.pipeline_packed(*self._get_commands(key), raw=True)[0]
        if blob is None:
            return None
        return decode_or_none(blob, key, lambda k: self.delete([k]))

    def _get_commands(self, key: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
        score = str(int(self._clock() * 1000))
        return ("HGET", self.entry_prefix + key, "v"), ("ZADD", self._index[0], "XX", score, key)

    def set(self, entry: CachedEntry, ttl: float | None) -> None:
        """One Lua script: replace, account, GC and evict atomically."""
        keys, args = self._set_args(entry, ttl)
        self._set(keys=keys, args=args)

    def delete(self, keys: Iterable[str]) -> int:
        """Delete these keys and their index entries; return how many existed."""
        members = list(keys)
        if not members:
            return 0
        return int(self._delete(keys=[self._index[0], *self._index], args=[self.entry_prefix, *members]))

    def infos(self) -> Iterator[EntryInfo]:
        """SCAN our entry keys and read their metadata fields (pipelined, no bodies)."""
        client = self.backend.client
        names = list(client.scan_iter(match=_glob_escape(self.entry_prefix) + "*", count=1000))
        pipe = client.pipeline(transaction=False)
        for name in names:
            pipe.hmget(name, list(_FIELDS))
        rows = pipe.execute() if names else []
        skip = len(self.entry_prefix)
        infos = (self._info(_text(n)[skip:], row) for n, row in zip(names, rows, strict=True))
        return iter([info for info in infos if info is not None])

    def size(self) -> int:
        """Total bytes as accounted by the store script."""
        raw: Any = self.backend.client.get(self._index[2])
        return int(raw or 0)

    def clear(self) -> None:
        """SCAN + UNLINK `{namespace}:cache:*` — the limiter's and other apps' keys stay."""
        self.backend.clear(self.keys)

    def close(self) -> None:
        """Release our reference to the shared connection handle."""
        self.backend.close()

    # ------------------------------------------------------------------ async
    def _scripts(self, client: Any) -> tuple[Any, Any]:
        found = self._ascripts.get(id(client))
        if found is None:
            found = self._ascripts[id(client)] = (
                client.register_script(_SET),
                client.register_script(_DELETE),
            )
        return found

    async def aget(self, key: str) -> CachedEntry | None:
        """Async `get`: one round trip."""
        blob = (await self.backend.apipeline_packed(*self._get_commands(key), raw=True))[0]
        if blob is None:
            return None
        return decode_or_none(blob, key, lambda k: None)

    async def aset(self, entry: CachedEntry, ttl: float | None) -> None:
        """Async `set`."""
        keys, args = self._set_args(entry, ttl)
        await self._scripts(self.backend.aclient)[0](keys=keys, args=args)

    async def adelete(self, keys: Iterable[str]) -> int:
        """Async `delete`."""
        members = list(keys)
        if not members:
            return 0
        script = self._scripts(self.backend.aclient)[1]
        return int(await script(keys=[self._index[0], *self._index], args=[self.entry_prefix, *members]))

    async def aclear(self) -> None:
        """Async `clear`."""
        await self.backend.aclear(self.keys)

    async def aclose(self) -> None:
        """Async `close`."""
        await self.backend.aclose()


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)
