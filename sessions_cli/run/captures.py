"""Captures: values taken from a response by JSONPath, header, status, regex or a Python function."""

from __future__ import annotations

import contextlib
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from sessions_cli.run.model import Capture

__all__ = ["CaptureMissing", "compile_jsonpath", "jsonpath_values", "response_json", "take"]

_NOTHING: Any = object()


class CaptureMissing(LookupError):
    """A capture found nothing and has no `default`."""


@lru_cache(maxsize=256)
def compile_jsonpath(expr: str) -> Any:
    """Parse a JSONPath (jsonpath-ng's extended syntax: filters, `len`, arithmetic)."""
    from jsonpath_ng.ext.parser import parse

    return parse(expr)


def response_json(response: Any) -> Any:
    """The response body as JSON, or `_NOTHING` when it is not JSON (cached on the response)."""
    cached = getattr(response, "_recipe_json", None)
    if cached is not None:
        return cached[0]
    try:
        value = response.json()
    except ValueError:
        value = _NOTHING
    with contextlib.suppress(AttributeError):  # slotted test doubles
        response._recipe_json = (value,)
    return value


def jsonpath_values(expr: str, document: Any) -> list[Any]:
    """Every value `expr` matches in `document` (empty when the body is not JSON)."""
    if document is _NOTHING:
        return []
    return [match.value for match in compile_jsonpath(expr).find(document)]


def _regex(capture: Capture, text: str) -> Any:
    pattern = re.compile(capture.expr)
    matches = list(pattern.finditer(text))
    if not matches:
        return _NOTHING
    group = capture.group if pattern.groups else 0
    values = [match.group(group) for match in matches]
    return values if capture.all else values[0]


def _jsonpath(capture: Capture, response: Any) -> Any:
    values = jsonpath_values(capture.expr, response_json(response))
    if not values:
        return _NOTHING
    return values if capture.all else values[0]


def _raw(capture: Capture, response: Any, directory: Path) -> Any:
    if capture.kind == "status":
        return response.status_code
    if capture.kind == "header":
        values = response.headers.get_list(capture.expr)
        return (values if capture.all else values[0]) if values else _NOTHING
    if capture.kind == "regex":
        return _regex(capture, response.text)
    if capture.kind == "python":
        from sessions_cli.run.pycall import load_callable

        return load_callable(capture.expr, directory)(response)
    return _jsonpath(capture, response)


def take(capture: Capture, response: Any, directory: Path) -> Any:
    """The captured value; `default` when nothing matched; else `CaptureMissing`."""
    value = _raw(capture, response, directory)
    if value is not _NOTHING:
        return value
    if capture.has_default:
        return capture.default
    where = f"{capture.kind} {capture.expr!r}" if capture.expr else capture.kind
    raise CaptureMissing(f"capture {capture.name!r}: {where} matched nothing")
