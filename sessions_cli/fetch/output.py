"""Record writers (JSONL, CSV, a TTY table) and `--save-dir` body storage.

Each record is encoded to one complete line and handed to the OS in one write, then
flushed, so a reader (or a `kill -9`) never sees a torn line in the middle of the file;
`Target.offset` tells the journal where the last complete record ends.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Protocol

from sessions_cli.fetch.records import RECORD_FIELDS, Record

__all__ = [
    "CSV_COLUMNS",
    "BodySaver",
    "CsvWriter",
    "JsonlWriter",
    "RecordWriter",
    "TableWriter",
    "Target",
    "body_filename",
    "encode_jsonl",
]

CSV_COLUMNS = (*RECORD_FIELDS[:-1], "error_kind", "error_message", "extra")


class Target:
    """A binary destination written one whole line at a time: a file we own, or stdout.

    By default every `write()` reaches the OS at once. After `defer()`, writes collect in memory
    until `flush()` (the runner flushes once per event-loop turn, so the records completed in one
    turn go out in one system call); only whole lines are ever handed to the OS either way.
    """

    def __init__(self, stream: IO[bytes], offset: int = 0, owned: bool = False) -> None:
        self._stream = stream
        self._owned = owned
        self._pending: list[bytes] | None = None
        self.offset = offset

    @classmethod
    def open_file(cls, path: str | Path, append: bool) -> Target:
        """Open (create; truncate unless `append`) a file for unbuffered whole-line writes."""
        stream = open(path, "ab" if append else "wb", buffering=0)  # noqa: SIM115 - closed by close()
        return cls(stream, offset=stream.seek(0, os.SEEK_END), owned=True)

    def defer(self) -> None:
        """From now on, collect writes until `flush()` (offsets still count them at once)."""
        if self._pending is None:
            self._pending = []

    def write(self, data: bytes) -> None:
        """Write all of `data` and flush it to the OS (or queue it for `flush()` after `defer()`)."""
        self.offset += len(data)
        if self._pending is not None:
            self._pending.append(data)
        else:
            self._write_all(data)

    def flush(self) -> None:
        """Hand the queued lines to the OS in one write."""
        pending = self._pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self._write_all(data)

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._stream.write(view)
            view = view[written if written is not None else len(view) :]
        self._stream.flush()

    @property
    def is_empty(self) -> bool:
        """True when nothing has been written to the destination yet (CSV header decision)."""
        return self.offset == 0

    def close(self) -> None:
        """Flush what is queued; close the file if we opened it (stdout is left open)."""
        try:
            self.flush()
        finally:
            self._pending = None
            if self._owned:
                self._stream.close()


class RecordWriter(Protocol):
    """Writes records as they complete."""

    def write(self, record: Record) -> None:
        """Write and flush one record."""

    def close(self) -> None:
        """Release the destination."""


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _make_encoder() -> Callable[[Any], str]:
    """`json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_default)`, built once.

    `json.dumps` with arguments builds a new `JSONEncoder` (and its C encoder) on every call;
    calling the C encoder directly halves the cost of a record. Falls back to a prebuilt
    `JSONEncoder` where the C accelerator is missing. (No circular-reference check: records are
    trees; a circular callback result fails with RecursionError instead of ValueError.)
    """
    from json import encoder as _json

    make = getattr(_json, "c_make_encoder", None)
    if make is not None:
        c_encode = make(None, _default, _json.encode_basestring, None, ":", ",", False, False, True)
        join = "".join
        return lambda obj: join(c_encode(obj, 0))
    return json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_default).encode


_encode = _make_encoder()


def encode_jsonl(record: Record) -> bytes:
    """One record as one JSON line (UTF-8, compact, newline-terminated)."""
    return (_encode(record) + "\n").encode()


class JsonlWriter:
    """JSON Lines: one object per line."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def write(self, record: Record) -> None:
        """Write and flush one record."""
        self.target.write((_encode(record) + "\n").encode())

    def close(self) -> None:
        """Close the target."""
        self.target.close()


def _csv_row(record: Record) -> list[Any]:
    error = record.get("error") or {}
    extra = {k: v for k, v in record.items() if k not in RECORD_FIELDS}
    row: list[Any] = [record.get(name) for name in RECORD_FIELDS[:-1]]
    row += [error.get("kind"), error.get("message")]
    row.append(json.dumps(extra, ensure_ascii=False, default=_default) if extra else "")
    return ["" if cell is None else cell for cell in row]


class CsvWriter:
    """CSV with a fixed header (`CSV_COLUMNS`); keys outside the core go to a JSON `extra` column."""

    def __init__(self, target: Target) -> None:
        self.target = target
        if target.is_empty:
            self.target.write(self._line(list(CSV_COLUMNS)))

    @staticmethod
    def _line(row: list[Any]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow(row)
        return buffer.getvalue().encode()

    def write(self, record: Record) -> None:
        """Write and flush one record as one CSV row."""
        self.target.write(self._line(_csv_row(record)))

    def close(self) -> None:
        """Close the target."""
        self.target.close()


class TableWriter:
    """A readable, aligned line per record for a terminal (only when stdout is a TTY)."""

    def __init__(self, print_line: Callable[[str], None], color: bool = True) -> None:
        self._print = print_line
        self._color = color
        self._print(self._header())

    @staticmethod
    def _header() -> str:
        return f"{'#':>6}  {'STATUS':<6}  {'TIME':>9}  {'BYTES':>9}  {'':<5}  URL"

    def _status(self, record: Record) -> str:
        status = record["status"]
        text = f"{status if status is not None else 'ERR':<6}"
        if not self._color:
            return text
        colour = "green" if record["ok"] else ("yellow" if status is not None else "red")
        return f"[{colour}]{text}[/{colour}]"

    def write(self, record: Record) -> None:
        """Print one aligned row (errors get their message on the same line)."""
        from rich.markup import escape

        elapsed = record.get("elapsed_ms")
        time = f"{elapsed:.1f}ms" if elapsed is not None else "-"
        tag = "cache" if record.get("from_cache") else ""
        line = f"{record['index']:>6}  {self._status(record)}  {time:>9}  {record['bytes']:>9}  {tag:<5}  "
        line += escape(f"{record['method']} {record['url']}")
        if record.get("error"):
            line += "  " + escape(f"{record['error']['kind']}: {record['error']['message']}")
        self._print(line)

    def close(self) -> None:
        """Nothing to release."""


# --- --save-dir ----------------------------------------------------------------------------

_EXTENSIONS = {
    "application/json": ".json",
    "text/html": ".html",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "application/xml": ".xml",
    "text/xml": ".xml",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "application/pdf": ".pdf",
}


def _slug(text: str, limit: int = 60) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return slug[:limit] or "root"


def body_filename(method: str, url: str, key: str, content_type: str | None) -> str:
    """A collision-free, readable file name: scheme_METHOD_host_path-slug_hash.ext.

    `key` is the request key (method + URL + body digest), so distinct requests never share a
    name and the same request always maps to the same file.
    """
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    mime = (content_type or "").split(";")[0].strip().lower()
    ext = _EXTENSIONS.get(mime, ".json" if mime.endswith("+json") else ".bin")
    short = hashlib.sha256(key.encode()).hexdigest()[:10]
    host = _slug(parts.netloc.replace(":", "_"), 80)
    return f"{parts.scheme}_{method.upper()}_{host}_{_slug(parts.path)}_{short}{ext}"


class BodySaver:
    """Writes response bodies into a directory plus an `index.jsonl` mapping record → file."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._index = Target.open_file(self.directory / "index.jsonl", append=True)

    def save(self, record: Record, key: str, body: bytes, content_type: str | None) -> str:
        """Store `body` atomically (temp file + rename), note it in index.jsonl, return the file name."""
        name = body_filename(record["method"], record["url"], key, content_type)
        temporary = self.directory / f".{name}.part"
        temporary.write_bytes(body)
        os.replace(temporary, self.directory / name)
        entry = {k: record[k] for k in ("index", "url", "method", "status")}
        self._index.write(encode_jsonl({**entry, "file": name}))
        return name

    @property
    def offset(self) -> int:
        """Where index.jsonl ends (for the journal)."""
        return self._index.offset

    def close(self) -> None:
        """Close index.jsonl."""
        self._index.close()
