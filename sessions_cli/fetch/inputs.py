"""Reading the URL list: plain lines, JSONL objects or CSV rows — streamed, never materialised.

Each input item becomes an `InputItem`: either a valid `RequestSpec` or an error message
(a malformed line becomes an error record and the batch goes on). The format is detected
from the first meaningful line unless forced:

* a line starting with `{` → JSONL (`{"url", "method", "headers", "params", "json", "data", "meta"}`);
* a first line that is a CSV header with a `url` column → CSV (other columns go to `meta`);
* anything else → plain lines: `URL` or `METHOD URL`; blank lines and `#` comments skipped.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import urlsplit

__all__ = [
    "FORMATS",
    "ArgumentError",
    "InputError",
    "InputItem",
    "InputReader",
    "RequestSpec",
    "count_lines",
    "detect_format",
    "open_input",
    "parse_stream",
    "split_arguments",
    "validate_url",
]

FORMATS = ("auto", "plain", "jsonl", "csv")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_JSONL_KEYS = frozenset({"url", "method", "headers", "params", "json", "data", "meta"})


class InputError(OSError):
    """The input could not be read at all (exit code 3)."""


class ArgumentError(ValueError):
    """An input argument is neither a URL nor a text file of URLs (a usage error, exit code 2)."""


def split_arguments(args: Iterable[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Positional arguments as (URLs, input files), before anything runs.

    `-` and existing files are inputs; an argument with `://` is a URL (checked per record);
    anything else is a misspelled file name or a scheme-less URL, and raises `ArgumentError`.
    """
    urls: list[str] = []
    files: list[str] = []
    for arg in args:
        if arg == "-" or ("://" not in arg and os.path.isfile(arg)):
            files.append(arg)
        elif "://" in arg:
            urls.append(arg)
        elif os.path.isdir(arg):
            raise ArgumentError(f"{arg} is a directory, not a URL list file")
        elif "/" not in arg and "." in arg and not _FILE_SUFFIX(arg):
            raise ArgumentError(f"no such file: {arg} (for a URL, write http://{arg} or https://{arg})")
        else:
            raise ArgumentError(f"no such file: {arg}")
    return tuple(urls), tuple(files)


_FILE_SUFFIX = re.compile(r"(?i).*\.(txt|jsonl|json|csv|tsv|list|lst|urls|in)").fullmatch
_SNIFF = 1 << 16


def check_text(path: str, head: bytes) -> None:
    """Refuse an input whose first bytes are not text (NUL bytes or invalid UTF-8)."""
    import codecs

    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        text = b"\0" not in head
    except UnicodeDecodeError:
        text = False
    if not text:
        raise ArgumentError(f"{path} is not a text URL list (binary data); give a file of URLs, one per line")


def _sniff(path: str) -> None:
    if path == "-":
        import sys

        peek = getattr(sys.stdin.buffer, "peek", None)
        if peek is not None:
            check_text("stdin", peek(_SNIFF)[:_SNIFF])
        return
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF)
    except OSError:
        return  # open_input reports it
    check_text(path, head)


@dataclass(frozen=True, kw_only=True)
class RequestSpec:
    """One planned request, in the shape the batch engine accepts as a mapping."""

    url: str
    method: str | None = None
    headers: Mapping[str, str] | None = None
    params: Any = None
    json: Any = None
    data: Any = None
    meta: Any = None

    def to_engine(self) -> str | dict[str, Any]:
        """The item handed to `iter_requests`: the bare URL for a plain GET (the engine's fast
        path), else a mapping of the keys that are set (never `meta`)."""
        method = self.method or "GET"
        if (
            method == "GET"
            and self.headers is None
            and self.params is None
            and self.data is None
            and self.json is None
        ):
            return self.url
        item: dict[str, Any] = {"method": method, "url": self.url}
        for name in ("headers", "params", "json", "data"):
            value = getattr(self, name)
            if value is not None:
                item[name] = value
        return item


@dataclass(frozen=True, kw_only=True)
class InputItem:
    """An input position: a request to make, or the reason the line could not become one."""

    index: int
    line: int
    spec: RequestSpec | None = None
    error: str | None = None
    raw: str = field(default="", repr=False)


# The common case, accepted without `urlsplit`: http(s)://host[:port][/?#printable ASCII]. Anything
# this does not match (userinfo, IPv6, non-ASCII, odd ports…) takes the full check below.
_SIMPLE_URL = re.compile(r"(?i:https?)://[A-Za-z0-9._~-]+(?::([0-9]{1,5}))?(?:[/?#][!-~]*)?").fullmatch
_SPACE = re.compile(r"\s").search


def validate_url(url: str) -> str | None:
    """None when `url` is an absolute http(s) URL with a host, else what is wrong with it."""
    simple = _SIMPLE_URL(url)
    if simple is not None and (simple.group(1) is None or int(simple.group(1)) <= 65535):
        return None
    if not url or _SPACE(url) is not None:
        return f"not a URL: {url!r}"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError as exc:
        return f"not a URL: {url!r} ({exc})"
    if parts.scheme.lower() not in ("http", "https"):
        return f"not an http(s) URL: {url!r}"
    if not parts.hostname:
        return f"URL has no host: {url!r}"
    return None


# --- format detection ----------------------------------------------------------------------


def _meaningful(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def detect_format(first_line: str) -> str:
    """Guess the format from the first meaningful line: `jsonl`, `csv` or `plain`."""
    stripped = first_line.strip().lstrip("\ufeff")
    if stripped.startswith("{"):
        return "jsonl"
    if "," in stripped and validate_url(stripped.split(",", 1)[0].strip()) is not None:
        header = next(csv.reader([stripped]))
        if "url" in (cell.strip().lower() for cell in header):
            return "csv"
    return "plain"


# --- per-format parsers --------------------------------------------------------------------


_new = object.__new__


def _plain_request(url: str, method: str | None) -> RequestSpec:
    """`RequestSpec(url=url, method=method)` without the frozen dataclass's per-field `__setattr__`."""
    spec = _new(RequestSpec)
    spec.__dict__.update(url=url, method=method, headers=None, params=None, json=None, data=None, meta=None)
    return spec


def _plain_spec(text: str) -> RequestSpec | str:
    parts = text.split()
    if len(parts) == 2 and parts[0].upper() in _METHODS:
        method, url = parts[0].upper(), parts[1]
    elif len(parts) == 1:
        method, url = None, parts[0]
    else:
        return f"expected 'URL' or 'METHOD URL', got {text!r}"
    problem = validate_url(url)
    return problem if problem else _plain_request(url, method)


def _check_mapping(name: str, value: Any) -> str | None:
    if value is None or isinstance(value, dict):
        return None
    return f"{name!r} must be an object, got {type(value).__name__}"


def _jsonl_spec(text: str) -> RequestSpec | str:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"bad JSON: {exc.msg} at column {exc.colno}"
    if not isinstance(obj, dict):
        return f"expected a JSON object, got {type(obj).__name__}"
    unknown = sorted(set(obj) - _JSONL_KEYS)
    if unknown:
        return f"unknown key(s) {', '.join(map(repr, unknown))} (allowed: {', '.join(sorted(_JSONL_KEYS))})"
    url, method = obj.get("url"), obj.get("method")
    if not isinstance(url, str):
        return "missing 'url'" if url is None else "'url' must be a string"
    if method is not None and (not isinstance(method, str) or not method.isalpha()):
        return f"bad 'method': {method!r}"
    problem = validate_url(url) or _check_mapping("headers", obj.get("headers"))
    if obj.get("params") is not None and not isinstance(obj["params"], dict | list):
        problem = problem or "'params' must be an object or a list of pairs"
    if "json" in obj and "data" in obj:
        problem = problem or "give 'json' or 'data', not both"
    if problem:
        return problem
    fields = {k: obj.get(k) for k in ("headers", "params", "json", "data", "meta")}
    return RequestSpec(url=url, method=method.upper() if method else None, **fields)


def _csv_spec(row: dict[str, str]) -> RequestSpec | str:
    url = (row.get("url") or "").strip()
    method = (row.get("method") or "").strip().upper() or None
    problem = validate_url(url) or (None if method is None or method.isalpha() else f"bad method {method!r}")
    if problem:
        return problem
    meta = {k: v for k, v in row.items() if k not in ("url", "method") and k}
    return RequestSpec(url=url, method=method, meta=meta or None)


# --- streaming -----------------------------------------------------------------------------


def _numbered(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(lines, start=1):
        yield number, line.rstrip("\r\n")


def _item(index: int, line: int, raw: str, result: RequestSpec | str) -> InputItem:
    if isinstance(result, str):
        return InputItem(index=index, line=line, raw=raw, error=f"line {line}: {result}")
    item = _new(InputItem)  # InputItem(index=…, spec=result) minus the frozen per-field __setattr__
    item.__dict__.update(index=index, line=line, spec=result, error=None, raw=raw)
    return item


def _parse_lines(numbered: Iterator[tuple[int, str]], fmt: str, start: int) -> Iterator[InputItem]:
    index = start
    parse = _jsonl_spec if fmt == "jsonl" else _plain_spec
    for number, line in numbered:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):  # _meaningful(line)
            yield _item(index, number, line, parse(stripped.lstrip("\ufeff")))
            index += 1


def _parse_csv(numbered: Iterator[tuple[int, str]], header_line: str, start: int) -> Iterator[InputItem]:
    header = [cell.strip().lower() for cell in next(csv.reader([header_line.lstrip("\ufeff")]))]
    if "url" not in header:
        yield InputItem(index=start, line=1, raw=header_line, error="line 1: CSV header has no 'url' column")
        return
    index = start
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            cells = next(csv.reader([line]))
        except csv.Error as exc:
            yield _item(index, number, line, f"bad CSV: {exc}")
        else:
            if len(cells) != len(header):
                yield _item(index, number, line, f"expected {len(header)} CSV fields, got {len(cells)}")
            else:
                yield _item(index, number, line, _csv_spec(dict(zip(header, cells, strict=True))))
        index += 1


def parse_stream(lines: Iterable[str], fmt: str = "auto", start: int = 0) -> Iterator[InputItem]:
    """Parse an iterable of text lines lazily into `InputItem`s numbered from `start`."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown input format {fmt!r}")
    numbered = _numbered(lines)
    for number, line in numbered:
        if not _meaningful(line):
            continue
        chosen = detect_format(line) if fmt == "auto" else fmt
        if chosen == "csv":
            yield from _parse_csv(numbered, line, start)
        else:
            yield from _parse_lines(_chain_first(number, line, numbered), chosen, start)
        return


def _chain_first(number: int, line: str, rest: Iterator[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    yield number, line
    yield from rest


def _read_lines(handle: IO[str], name: str) -> Iterator[str]:
    try:
        yield from handle
    except (OSError, UnicodeError) as exc:
        raise InputError(f"cannot read {name}: {exc}") from exc


def open_input(path: str) -> IO[str]:
    """Open an input file (`-` = stdin) as UTF-8 text; unreadable input raises `InputError`."""
    if path == "-":
        import sys

        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8", errors="replace", newline="")
    try:
        return open(path, encoding="utf-8", errors="replace", newline="")
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc


class InputReader:
    """All input items — URL arguments first, then each file (or piped stdin) — indexed in order.

    `paths` is one path, a sequence of paths, or None; `-` means stdin. Every file is opened on
    `__enter__`, so a missing or unreadable file fails before any request is made (exit code 3),
    and a binary one is refused (`ArgumentError`, exit code 2); the lines are read lazily.
    """

    def __init__(self, urls: Iterable[str], paths: str | Sequence[str] | None, fmt: str = "auto") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown input format {fmt!r}")
        self._urls = list(urls)
        self._paths = [paths] if isinstance(paths, str) else list(paths or ())
        self._fmt = fmt
        self._handles: list[tuple[str, IO[str]]] = []

    def __enter__(self) -> InputReader:
        try:
            for path in self._paths:
                _sniff(path)
                self._handles.append(("stdin" if path == "-" else path, open_input(path)))
        except (InputError, ArgumentError):
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for _, handle in self._handles:
            handle.close()
        self._handles = []

    def __iter__(self) -> Iterator[InputItem]:
        count = 0
        for item in parse_stream(self._urls, "plain" if self._fmt == "auto" else self._fmt):
            count += 1
            yield item
        for name, handle in self._handles:
            for item in parse_stream(_read_lines(handle, name), self._fmt, count):
                count += 1
                yield item


def count_lines(paths: str | Sequence[str] | None) -> int | None:
    """Cheap upper bound of the item count of regular files (for the progress total), else None."""
    total = 0
    for path in [paths] if isinstance(paths, str) else list(paths or ()):
        if path == "-":
            return None
        try:
            last = b"\n"
            with open(path, "rb") as handle:
                while chunk := handle.read(1 << 20):
                    total += chunk.count(b"\n")
                    last = chunk[-1:]
            total += last != b"\n"
        except OSError:
            return None
    return total
