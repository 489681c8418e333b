"""Planning a step: its iterations (one, or one per list item / CSV row / URL line) and each request.

Iterations are produced lazily (a 1M-row CSV is streamed, never listed), and each one is rendered
into the mapping the batch engine accepts (`method, url, params, headers, json, data, content`).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sessions_cli.run.model import Loop, Step
from sessions_cli.run.templates import Placeholder, TemplateProblem, render

__all__ = [
    "Iteration",
    "LoopUnknown",
    "csv_header",
    "iterations",
    "join_url",
    "render_request",
]


class LoopUnknown(Exception):
    """In `--dry-run`, a loop over a captured value cannot be expanded (its value comes later)."""


@dataclass(frozen=True)
class Iteration:
    """One pass of a step: its number within the step, the loop value, or why it could not be made."""

    number: int
    value: Any = None
    error: str | None = None

    def names(self, step: Step, context: Mapping[str, Any]) -> dict[str, Any]:
        """What this pass's templates see: ``context``, ``index`` (the 0-based pass; a user variable of that
        name wins outside loops) and, in a loop, the loop variable."""
        if step.loop is None:
            return {"index": self.number, **context}
        return {**context, step.loop.var: self.value, "index": self.number}


def csv_header(path: Path) -> list[str]:
    """The column names of a CSV data file (ValueError when it has none)."""
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle), None)
    if not header or not any(cell.strip() for cell in header):
        raise ValueError(f"{path.name}: the CSV file has no header row")
    return [cell.strip() for cell in header]


def _csv_rows(path: Path) -> Iterator[Iteration]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, skipinitialspace=True)
        reader.fieldnames = [name.strip() for name in reader.fieldnames or ()]
        for number, row in enumerate(reader):
            if None in row or any(value is None for value in row.values()):
                yield Iteration(number, error=f"CSV line {reader.line_num}: wrong number of fields")
            else:
                yield Iteration(number, dict(row))


def _url_lines(path: Path) -> Iterator[Iteration]:
    """One URL per line: absolute, or a path (`/page/1`) relative to the session's base_url.

    Blank lines and `#` comments are skipped, as in fetch's plain input format.
    """
    from sessions_cli.fetch.inputs import validate_url

    number = 0
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            url = line.strip()
            if not url or url.startswith("#"):
                continue
            problem = None if url.startswith("/") else validate_url(url)
            if problem:
                yield Iteration(number, error=f"{path.name} line {line_number}: {problem}")
            else:
                yield Iteration(number, url)
            number += 1


def _foreach(loop: Loop, context: Mapping[str, Any]) -> Iterator[Iteration]:
    values = render(loop.source, context)
    if isinstance(values, Placeholder):
        raise LoopUnknown(f"for each item of {values} (known when the recipe runs)")
    if isinstance(values, Mapping):
        values = [{"key": k, "value": v} for k, v in values.items()]
    if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
        raise TemplateProblem(f"foreach needs a list, got {type(values).__name__}: {values!r}")
    for number, value in enumerate(values):
        yield Iteration(number, value)


def iterations(step: Step, context: Mapping[str, Any], directory: Path) -> Iterator[Iteration]:
    """The step's iterations; a step without a loop has exactly one."""
    loop = step.loop
    if loop is None:
        yield Iteration(0)
        return
    if loop.kind == "foreach":
        yield from _foreach(loop, context)
        return
    path = directory / str(render(loop.source, context))
    yield from (_csv_rows(path) if loop.kind == "data" else _url_lines(path))


def join_url(base: str | None, url: str) -> str:
    """`url` made absolute against the session's `base_url` (as httpx merges them)."""
    if not base or "://" in url:
        return url
    return base.rstrip("/") + "/" + url.lstrip("/")


def _files_content(request: dict[str, Any], files: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """Encode `files:` (field: path) and form `data:` as one multipart body, as httpx would."""
    import httpx

    opened = {field: (Path(name).name, (directory / str(name)).read_bytes()) for field, name in files.items()}
    built = httpx.Request("POST", "http://placeholder/", files=opened, data=request.pop("data", None))
    headers = dict(request.get("headers") or {})
    headers["Content-Type"] = built.headers["Content-Type"]
    return {**request, "content": built.read(), "headers": headers}


def render_request(step: Step, context: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """The step's request rendered for one iteration, in the batch engine's mapping shape."""
    rendered = render(dict(step.request), context)
    method = str(rendered.get("method", "GET")).upper()
    request: dict[str, Any] = {"method": method, "url": str(rendered["url"])}
    if rendered.get("headers"):
        request["headers"] = {str(k): str(v) for k, v in rendered["headers"].items()}
    for name in ("params", "json", "data"):
        if name in rendered and rendered[name] is not None:
            request[name] = rendered[name]
    if rendered.get("files"):
        request = _files_content(request, rendered["files"], directory)
    return request
