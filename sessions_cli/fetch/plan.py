"""`FetchPlan`: every decision of a `sessions fetch` run, validated, before any I/O.

The command resolves configuration (flags > env > files > defaults), then `build_plan`
turns the resolved values plus the flags that are not configurable (input, output,
resume…) into one frozen value. Every problem is a `UsageError` naming the flag (exit 2).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessions_cli.config import Resolved
from sessions_cli.fetch.inputs import FORMATS
from sessions_cli.fetch.options import (
    CACHE_BACKENDS,
    RateLimitFlags,
    StatusMatcher,
    UsageError,
    backend_url_options,
    check_redis_url,
    parse_duration,
    parse_headers,
    parse_params,
    parse_status_matcher,
    ratelimit_options,
)

__all__ = ["FetchPlan", "RunFlags", "build_plan"]

OUTPUT_FORMATS = ("jsonl", "csv")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


@dataclass(frozen=True, kw_only=True)
class RunFlags:
    """The flags of one run that are not configuration (inputs, outputs, modes)."""

    urls: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    input_format: str = "auto"
    stdin_piped: bool = False
    method: str | None = None
    params: tuple[str, ...] = ()
    data: str | None = None
    json_body: str | None = None
    output: str | None = None
    save_dir: str | None = None
    journal: str | None = None
    resume: bool = False
    callbacks: tuple[str, ...] = ()
    summary_json: str | None = None
    refresh: bool = False
    offline: bool = False
    quiet: bool = False
    verbose: bool = False
    dry_run: bool = False
    cluster: str | None = None
    limit_scope: str = "global"
    resend_unsafe: bool = False
    partition_size: int = 256


@dataclass(frozen=True, kw_only=True)
class FetchPlan:
    """A validated run: what to read, how to send, where to write."""

    urls: tuple[str, ...]
    inputs: tuple[str, ...]
    input_format: str
    method: str | None
    headers: list[tuple[str, str]]
    params: list[tuple[str, str]]
    data: str | None
    json_body: Any
    concurrency: int
    timeout: float
    retries: int
    follow: bool
    http2: bool
    insecure: bool
    proxy: str | None
    ratelimit: dict[str, Any] | None
    cache: dict[str, Any] | None
    refresh: bool
    offline: bool
    output: str | None
    format: str | None
    save_dir: str | None
    journal: Path | None
    resume: bool
    callbacks: tuple[str, ...]
    fail_on_status: StatusMatcher
    summary_json: str | None
    progress: bool
    quiet: bool
    verbose: bool
    dry_run: bool
    cluster: str | None = None
    limit_scope: str = "global"
    resend_unsafe: bool = False
    partition_size: int = 256
    settings: Resolved | None = field(default=None, repr=False)

    def session_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for the session constructor (httpx options + mixin options)."""
        import httpx

        # A pool at least as wide as --concurrency: narrower, requests would queue for a connection and
        # could end in PoolTimeout for no fault of the server.
        width = max(self.concurrency, 100)
        kwargs: dict[str, Any] = {
            "limits": httpx.Limits(max_connections=width, max_keepalive_connections=width),
            "timeout": self.timeout or None,
            "follow_redirects": self.follow,
            "retries": self.retries,
            "verify": not self.insecure,
            "http2": self.http2,
        }
        if self.headers:
            kwargs["headers"] = self.headers
        if self.params:
            kwargs["params"] = self.params
        if self.proxy:
            kwargs["proxy"] = self.proxy
        if self.ratelimit:
            kwargs["ratelimit_options"] = dict(self.ratelimit)
        if self.cache:
            kwargs["cache_options"] = dict(self.cache)
        return kwargs

    def request_kwargs(self) -> dict[str, Any]:
        """Per-request options for every request of the batch (cache switches)."""
        kwargs: dict[str, Any] = {}
        if self.refresh:
            kwargs["refresh"] = True
        if self.offline:
            kwargs["only_if_cached"] = True
        return kwargs


def _positive_int(value: int, flag: str, minimum: int = 1) -> int:
    if value < minimum:
        raise UsageError(flag, f"must be at least {minimum}, got {value}")
    return value


def _json_body(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError("--json", f"not valid JSON: {exc.msg}") from None


def _cache_options(values: Resolved, flags: RunFlags) -> dict[str, Any] | None:
    backend = values["cache"]
    if backend is None:
        for flag, given in (("--refresh", flags.refresh), ("--offline", flags.offline)):
            if given:
                raise UsageError(flag, "needs --cache")
        return None
    from_url = backend_url_options(backend, "--cache")
    if from_url is None and backend not in CACHE_BACKENDS:
        raise UsageError("--cache", f"expected one of {', '.join(CACHE_BACKENDS)} or a URL, got {backend!r}")
    options: dict[str, Any] = {**(from_url or {"backend": backend}), "cache_control": values["cache_control"]}
    if backend == "sqlite" and values["cache_db"]:
        options["db"] = values["cache_db"]  # else the library's default, in the user cache dir
    if backend == "redis" and values["redis_url"]:
        options["url"] = check_redis_url(values["redis_url"])
    expire = values["expire"]
    if expire is not None:
        options["expire_after"] = "never" if expire == "never" else parse_duration(expire, "--expire")
    return options


def _ratelimit(values: Resolved) -> dict[str, Any] | None:
    names = ("rate", "limit", "window", "period", "capacity", "fill_rate", "leak_rate", "burst")
    return ratelimit_options(
        RateLimitFlags(
            algorithm=values["ratelimit"],
            limit_by=values["limit_by"],
            backend=values["backend"],
            redis_url=values["redis_url"] if values["backend"] == "redis" else None,  # a URL --backend: none
            db=values["db"],
            **{name: values[name] for name in names},
        )
    )


def _journal(flags: RunFlags) -> Path | None:
    if flags.journal:
        return Path(flags.journal)
    if flags.output:
        return Path(flags.output + ".journal")
    if flags.resume:
        raise UsageError("--resume", "needs -o FILE or --journal FILE to know what was done")
    return None


def _output_format(values: Resolved, flags: RunFlags) -> str | None:
    fmt: str | None = values["format"]
    if fmt is None and flags.output:
        fmt = "csv" if flags.output.lower().endswith(".csv") else "jsonl"
    if fmt is not None and fmt not in OUTPUT_FORMATS:
        raise UsageError("--format", f"expected jsonl or csv, got {fmt!r}")
    return fmt


def _input_format(flags: RunFlags) -> str:
    if flags.input_format not in FORMATS:
        raise UsageError(
            "--input-format", f"expected one of {', '.join(FORMATS)}, got {flags.input_format!r}"
        )
    return flags.input_format


def _proxy(values: Resolved) -> str | None:
    proxy: str | None = values["proxy"]
    if proxy:
        scheme, sep, rest = proxy.partition("://")
        if not sep or scheme.lower() not in PROXY_SCHEMES or not rest.strip("/"):
            raise UsageError(
                "--proxy", f"expected a URL like http://host:port ({', '.join(PROXY_SCHEMES)}), got {proxy!r}"
            )
    return proxy


def _check_inputs(flags: RunFlags) -> None:
    if not flags.urls and not flags.inputs and not flags.stdin_piped:
        raise UsageError("URL", "give URLs as arguments, -i FILE, or pipe them on stdin")
    if flags.data is not None and flags.json_body is not None:
        raise UsageError("--json", "give -d/--data or --json, not both")


LIMIT_SCOPES = ("global", "worker")


def _cluster_fields(flags: RunFlags) -> dict[str, Any]:
    """--cluster and its companions (checked against the cluster in sessions_cli/fetch/cluster.py)."""
    if flags.cluster is None:
        for flag, given in (
            ("--limit-scope", flags.limit_scope != "global"),
            ("--resend-unsafe", flags.resend_unsafe),
        ):
            if given:
                raise UsageError(flag, "needs --cluster")
    if flags.limit_scope not in LIMIT_SCOPES:
        raise UsageError("--limit-scope", f"expected global or worker, got {flags.limit_scope!r}")
    return {
        "cluster": flags.cluster,
        "limit_scope": flags.limit_scope,
        "resend_unsafe": flags.resend_unsafe,
        "partition_size": _positive_int(flags.partition_size, "--partition-size"),
    }


def build_plan(values: Resolved, flags: RunFlags) -> FetchPlan:
    """Validate everything and freeze it into a `FetchPlan` (raises `UsageError`)."""
    _check_inputs(flags)
    return FetchPlan(
        urls=flags.urls,
        inputs=flags.inputs or (("-",) if flags.stdin_piped else ()),
        input_format=_input_format(flags),
        method=flags.method.upper() if flags.method else None,
        headers=parse_headers(values["headers"]),
        params=parse_params(flags.params),
        data=flags.data,
        json_body=_json_body(flags.json_body),
        concurrency=_positive_int(values["concurrency"], "--concurrency"),
        timeout=parse_duration(values["timeout"], "--timeout"),
        retries=_positive_int(values["retries"], "--retries", 0),
        follow=values["follow"],
        http2=values["http2"],
        insecure=values["insecure"],
        proxy=_proxy(values),
        ratelimit=_ratelimit(values),
        cache=_cache_options(values, flags),
        refresh=flags.refresh,
        offline=flags.offline,
        output=flags.output,
        format=_output_format(values, flags),
        save_dir=flags.save_dir,
        journal=_journal(flags),
        resume=flags.resume,
        callbacks=flags.callbacks,
        fail_on_status=parse_status_matcher(values["fail_on_status"]),
        summary_json=flags.summary_json,
        progress=values["progress"] and not flags.quiet,
        quiet=flags.quiet,
        verbose=flags.verbose,
        dry_run=flags.dry_run,
        **_cluster_fields(flags),
        settings=values,
    )
