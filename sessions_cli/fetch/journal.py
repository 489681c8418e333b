"""`--resume`: a crash-safe journal of completed inputs, keyed by request (never by position).

Each completed input appends one line `KEY OUT_OFFSET SAVE_OFFSET` *after* its record was
written, where the offsets are the end of that record in the output file and of its entry in
`--save-dir`'s index.jsonl. After a crash (even `kill -9`) the last complete journal line says
exactly how much of the output is accounted for; `recover()` cuts anything after it (a record
written but not journaled, a torn line), so a resumed run redoes those inputs: no duplicate,
no lost record.

KEY is 64 bits of SHA-256 over method + URL (with params) + body digest, so the same request
listed twice is done twice and a reordered input list resumes correctly.
"""

from __future__ import annotations

import hashlib
import json
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

__all__ = ["DoneSet", "Journal", "Recovery", "input_key", "recover", "request_key"]


def _body_digest(json_body: Any, data: Any, content: bytes | None) -> str:
    if json_body is not None:
        raw = json.dumps(json_body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    elif isinstance(data, dict):
        raw = urlencode(sorted((str(k), str(v)) for k, v in data.items())).encode()
    elif data is not None:
        raw = data.encode() if isinstance(data, str) else bytes(data)
    else:
        raw = content or b""
    return hashlib.sha256(raw).hexdigest() if raw else ""


def _params_text(params: Any) -> str:
    if not params:
        return ""
    pairs = params.items() if isinstance(params, dict) else params
    return urlencode([(str(k), str(v)) for k, v in pairs])


def request_key(
    method: str,
    url: str,
    params: Any = None,
    json_body: Any = None,
    data: Any = None,
    content: bytes | None = None,
) -> str:
    """16 hex digits identifying a request by method + URL (+ params) + body digest."""
    text = "\n".join((method.upper(), url, _params_text(params), _body_digest(json_body, data, content)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def input_key(raw: str) -> str:
    """The key of a malformed input line (so its error record is not repeated on resume)."""
    return hashlib.sha256(b"input\n" + raw.encode()).hexdigest()[:16]


class DoneSet:
    """Keys completed in earlier runs, as a sorted array of 64-bit ints (8 bytes per entry).

    `take(key)` answers "was this done before?" and consumes one occurrence, so a URL listed
    three times and completed twice is fetched once more.
    """

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._keys = array("Q", sorted(int(key, 16) for key in keys))
        self._used = bytearray(len(self._keys))

    def __len__(self) -> int:
        return len(self._keys)

    def take(self, key: str) -> bool:
        """True (and consume it) when an unconsumed occurrence of `key` exists."""
        value = int(key, 16)
        position = bisect_left(self._keys, value)
        while position < len(self._keys) and self._keys[position] == value:
            if not self._used[position]:
                self._used[position] = 1
                return True
            position += 1
        return False


@dataclass(frozen=True)
class Recovery:
    """What an earlier run completed, and where its outputs end."""

    done: DoneSet
    output_offset: int
    save_offset: int


def _complete_lines(path: Path) -> tuple[list[str], int]:
    """The journal's complete lines and the byte length they cover (a torn tail is excluded)."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    return data[:end].decode("ascii", "replace").splitlines(), end


def _parse(line: str) -> tuple[str, int, int] | None:
    parts = line.split()
    if len(parts) != 3:
        return None
    try:
        int(parts[0], 16)
        return parts[0], int(parts[1]), int(parts[2])
    except ValueError:
        return None


def _truncate(path: Path | None, offset: int) -> None:
    if path is not None and path.exists() and path.stat().st_size > offset:
        with open(path, "r+b") as handle:
            handle.truncate(offset)


def recover(journal: Path, output: Path | None = None, save_index: Path | None = None) -> Recovery:
    """Read the journal of an earlier run and cut the outputs back to its last entry."""
    if not journal.exists():
        _truncate(output, 0)
        return Recovery(DoneSet(), 0, 0)
    lines, covered = _complete_lines(journal)
    entries = [entry for entry in map(_parse, lines) if entry is not None]
    _truncate(journal, covered)
    output_offset = entries[-1][1] if entries else 0
    save_offset = entries[-1][2] if entries else -1
    _truncate(output, output_offset)
    if save_offset >= 0:
        _truncate(save_index, save_offset)
    return Recovery(DoneSet(key for key, _, _ in entries), output_offset, save_offset)


class Journal:
    """Appends one line per completed input; each line is one unbuffered write.

    After `defer()`, lines collect until `flush()`, which the runner calls right after flushing
    the output they point into: a journal line never reaches the OS before its record.
    """

    def __init__(self, path: str | Path, append: bool) -> None:
        self.path = Path(path)
        self._fd = os.open(
            self.path, os.O_WRONLY | os.O_CREAT | (os.O_APPEND if append else os.O_TRUNC), 0o644
        )
        self._pending: list[str] | None = None

    def defer(self) -> None:
        """From now on, collect lines until `flush()`."""
        if self._pending is None:
            self._pending = []

    def add(self, key: str, output_offset: int, save_offset: int = -1) -> None:
        """Note that the input with `key` is complete and its record ends at `output_offset`."""
        line = f"{key} {output_offset} {save_offset}\n"
        if self._pending is not None:
            self._pending.append(line)
        else:
            self._write(line.encode())

    def flush(self) -> None:
        """Write the collected lines in one go."""
        pending = self._pending
        if pending:
            data = "".join(pending).encode()
            pending.clear()
            self._write(data)

    def _write(self, data: bytes) -> None:
        while data:
            data = data[os.write(self._fd, data) :]

    def close(self) -> None:
        """Close the journal file. Lines still collected are dropped, not written: only the owner of
        the output knows whether their records reached it (`Outputs.flush()` writes both, in order)."""
        self._pending = None
        os.close(self._fd)
