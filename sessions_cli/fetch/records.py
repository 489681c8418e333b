"""The record: one JSON object per input, the CLI's output contract.

Every record has, in this order: `index` (input position, 0-based), `url`, `method`,
`status` (null on transport error), `ok` (a response with status < 400), `elapsed_ms`,
`bytes` (body length), `from_cache`, `attempts`, `error` (null or `{"kind", "message"}`);
then optional keys: `coalesced` (true when the request joined an identical one in flight and got
its response: the leader's latency and attempts, no request of its own), `meta` (from the input
row), what callbacks returned, `callback_errors`,
`file` (with `--save-dir`).

Records are plain dicts so they serialise fast; this module only builds them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "RECORD_FIELDS",
    "Record",
    "error_kind",
    "error_record",
    "exception_record",
    "input_error_record",
    "response_record",
]

Record = dict[str, Any]

RECORD_FIELDS = (
    "index",
    "url",
    "method",
    "status",
    "ok",
    "elapsed_ms",
    "bytes",
    "from_cache",
    "attempts",
    "error",
)

# Exception class names (anywhere in the MRO, most specific first) → error kind.
_KINDS = {
    "ConnectTimeout": "timeout",
    "ReadTimeout": "timeout",
    "WriteTimeout": "timeout",
    "PoolTimeout": "timeout",
    "TimeoutException": "timeout",
    "ServerTimeoutError": "timeout",
    "TimeoutError": "timeout",
    "SSLError": "tls",
    "ClientSSLError": "tls",
    "ClientConnectorCertificateError": "tls",
    "ProxyError": "proxy",
    "ClientProxyConnectionError": "proxy",
    "TooManyRedirects": "redirects",
    "InvalidURL": "invalid_url",
    "UnsupportedProtocol": "invalid_url",
    "RemoteProtocolError": "protocol",
    "LocalProtocolError": "protocol",
    "ProtocolError": "protocol",
    "ServerDisconnectedError": "protocol",
    "ClientPayloadError": "protocol",
    "DecodingError": "decode",
    "ConnectError": "connect",
    "ClientConnectorError": "connect",
    "ClientOSError": "connect",
    "ConnectionError": "connect",
    "RateLimitExceeded": "ratelimit",
    "ImpossibleRequest": "ratelimit",
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def error_kind(exc: BaseException) -> str:
    """A short, stable kind for an exception: timeout, connect, tls, protocol, … or its snake_case name."""
    for cls in type(exc).__mro__:
        kind = _KINDS.get(cls.__name__)
        if kind is not None:
            return kind
    return _snake(type(exc).__name__)


def error_record(index: int, url: str, method: str, kind: str, message: str, meta: Any = None) -> Record:
    """A record for an input that got no HTTP response."""
    record: Record = {
        "index": index,
        "url": url,
        "method": method,
        "status": None,
        "ok": False,
        "elapsed_ms": None,
        "bytes": 0,
        "from_cache": False,
        "attempts": 0,
        "error": {"kind": kind, "message": message},
    }
    if meta is not None:
        record["meta"] = meta
    return record


def input_error_record(index: int, raw: str, message: str) -> Record:
    """A record for a malformed input line (`error.kind == "input"`); `url` holds the raw line."""
    return error_record(index, raw, "", "input", message)


def exception_record(
    index: int, url: str, method: str, exc: BaseException, attempts: int = 1, meta: Any = None
) -> Record:
    """A record for a request that failed with a transport (or other) exception."""
    record = error_record(index, url, method, error_kind(exc), str(exc) or type(exc).__name__, meta)
    record["attempts"] = attempts
    return record


def _elapsed_ms(response: Any) -> float | None:
    try:
        return round(float(response.elapsed.total_seconds()) * 1000.0, 3)
    except (AttributeError, RuntimeError):  # httpx raises RuntimeError before the body is closed
        return None


def response_record(index: int, url: str, method: str, response: Any, meta: Any = None) -> Record:
    """A record for a request that got an HTTP response (any status)."""
    status = int(response.status_code)
    record: Record = {
        "index": index,
        "url": url,
        "method": method,
        "status": status,
        "ok": status < 400,
        "elapsed_ms": _elapsed_ms(response),
        "bytes": len(response.content),
        "from_cache": bool(getattr(response, "from_cache", False)),
        "attempts": int(getattr(response, "attempts", 1) or 1),
        "error": None,
    }
    if getattr(response, "coalesced", False):
        record["coalesced"] = True  # joined an identical request in flight: its latency, no request
    if meta is not None:
        record["meta"] = meta
    return record


def merge_callback_results(record: Record, results: Mapping[str, Any]) -> Record:
    """Merge a callback's returned dict into `record`, never overwriting the core fields."""
    for key, value in results.items():
        record[f"callback_{key}" if key in RECORD_FIELDS else key] = value
    return record
