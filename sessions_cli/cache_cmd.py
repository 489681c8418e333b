"""`sessions cache stats | ls | rm | clear`: inspect and prune the HTTP cache that `fetch --cache` fills.

Works on the persistent backends (sqlite, redis) through the library's storage contract;
`clear` and `rm` touch only this cache's namespace (`--key`), never other data.
"""

# No `from __future__ import annotations` here: Typer would compile and eval every string
# annotation of the commands below twice, on every start of any command (~0.3 ms an option).

import fnmatch
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sessions_cli.exit_codes import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["cache_app", "entry_filter", "open_storage"]

cache_app = typer.Typer(
    help="Inspect and prune the HTTP cache (sqlite, redis, PostgreSQL or MySQL).", no_args_is_help=True
)

Backend = Annotated[
    str,
    typer.Option("--backend", help="sqlite | redis, or a server URL (postgresql://…, mysql://…, redis://…)."),
]
Db = Annotated[
    str | None, typer.Option("--db", help="SQLite file \\[the library's default in the user cache dir].")
]
RedisUrl = Annotated[str | None, typer.Option("--redis-url", help="Redis URL (with --backend redis).")]
Key = Annotated[str, typer.Option("--key", help="Cache namespace (the session's key prefix).")]
UrlGlob = Annotated[str | None, typer.Option("--url", help="Only URLs matching this glob, e.g. '*/api/*'.")]
Expired = Annotated[bool, typer.Option("--expired", help="Only expired entries.")]


def _err() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def open_storage(backend: str, db: str | None, redis_url: str | None, key: str) -> Any:
    """The library's cache storage for `backend` (raises `typer.Exit(2)` on a bad combination)."""
    from sessions.cache.storage import StorageLimits, make_storage
    from sessions_cli.fetch.options import UsageError, backend_url_options

    try:
        from_url = backend_url_options(backend, "--backend")
    except UsageError as exc:
        _err().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    if from_url is not None:
        name = from_url.pop("backend")
        return make_storage(name, limits=StorageLimits(), namespace=key, options=from_url)
    if backend not in ("sqlite", "redis"):
        _err().print(f"[red]error:[/red] --backend: expected sqlite, redis or a server URL, got {backend!r}")
        raise typer.Exit(int(ExitCode.USAGE))
    options: dict[str, Any] = {}
    if backend == "sqlite" and db:
        options["db"] = db
    if backend == "redis" and redis_url:
        options["url"] = redis_url
    return make_storage(backend, limits=StorageLimits(), namespace=key, options=options)


@contextmanager
def _storage(backend: str, db: str | None, redis_url: str | None, key: str) -> Iterator[Any]:
    from sessions import SessionsError

    try:
        storage = open_storage(backend, db, redis_url, key)
    except SessionsError as exc:
        _err().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(int(ExitCode.FAILURES)) from None
    try:
        yield storage
    finally:
        storage.close()


def entry_filter(
    url_glob: str | None, expired: bool, older_than: float | None, now: float
) -> Callable[[Any], bool]:
    """A predicate over `EntryInfo`: URL glob, expired, created more than `older_than` seconds ago."""

    def keep(info: Any) -> bool:
        if url_glob is not None and not fnmatch.fnmatchcase(info.url, url_glob):
            return False
        if expired and not info.is_expired(now):
            return False
        return older_than is None or info.created_at <= now - older_than

    return keep


def _iso(epoch: float | None) -> str:
    if epoch is None:
        return "never"
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@cache_app.command("stats")
def stats(
    backend: Backend = "sqlite", db: Db = None, redis_url: RedisUrl = None, key: Key = "Session"
) -> None:
    """Entries, bytes, expired entries, oldest and newest."""
    now = time.time()
    with _storage(backend, db, redis_url, key) as storage:
        infos = list(storage.infos())
        data = {
            "entries": len(infos),
            "bytes": storage.size(),
            "expired": sum(info.is_expired(now) for info in infos),
            "oldest": _iso(min((i.created_at for i in infos), default=None)) if infos else None,
            "newest": _iso(max((i.created_at for i in infos), default=None)) if infos else None,
        }
    for name, value in data.items():
        typer.echo(f"{name:<8} {value if value is not None else '-'}")


@cache_app.command("ls")
def ls(
    url: UrlGlob = None,
    expired: Expired = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per entry.")] = False,
    backend: Backend = "sqlite",
    db: Db = None,
    redis_url: RedisUrl = None,
    key: Key = "Session",
) -> None:
    """List cached entries (status, method, URL, size, created, expires)."""
    import json

    keep = entry_filter(url, expired, None, time.time())
    with _storage(backend, db, redis_url, key) as storage:
        for info in filter(keep, storage.infos()):
            if as_json:
                typer.echo(json.dumps({"key": info.key, "method": info.method, "url": info.url,
                                       "status": info.status, "size": info.size,
                                       "created_at": info.created_at, "expires": info.expires}))  # fmt: skip
            else:
                typer.echo(f"{info.status}  {info.method:<6} {info.size:>9}  {_iso(info.created_at)}  "
                           f"{_iso(info.expires)}  {info.url}")  # fmt: skip


@cache_app.command("rm")
def rm(
    url: UrlGlob = None,
    expired: Expired = False,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Created longer ago than, e.g. 7d.")
    ] = None,
    backend: Backend = "sqlite",
    db: Db = None,
    redis_url: RedisUrl = None,
    key: Key = "Session",
) -> None:
    """Delete entries by URL glob, expiry or age (at least one filter; use `clear` for all)."""
    from sessions_cli.fetch.options import UsageError, parse_duration

    if url is None and not expired and older_than is None:
        _err().print(
            "[red]error:[/red] rm: give --url, --expired or --older-than (or use `sessions cache clear`)"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    try:
        age = parse_duration(older_than, "--older-than") if older_than is not None else None
    except UsageError as exc:
        _err().print(f"[red]error:[/red] {exc}")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    with _storage(backend, db, redis_url, key) as storage:
        removed = storage.delete_where(entry_filter(url, expired, age, time.time()))
    typer.echo(f"removed {removed} entries")


@cache_app.command("clear")
def clear(
    backend: Backend = "sqlite", db: Db = None, redis_url: RedisUrl = None, key: Key = "Session"
) -> None:
    """Delete every entry of this cache (only its own namespace)."""
    with _storage(backend, db, redis_url, key) as storage:
        count = storage.count()
        storage.clear()
    typer.echo(f"cleared {count} entries")
