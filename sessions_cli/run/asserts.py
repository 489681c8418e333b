"""Assertions: status, headers, JSONPath comparisons, body and duration — each failure a readable line."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from sessions_cli.run.captures import jsonpath_values, response_json
from sessions_cli.run.model import Asserts, Check
from sessions_cli.run.templates import render

__all__ = ["check_value", "evaluate", "status_matches"]

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


def status_matches(status: int, patterns: tuple[str, ...]) -> bool:
    """True when `status` equals a pattern (`404`) or falls in a class (`2xx`)."""
    text = str(status)
    return any(text == p or (p.endswith("xx") and text[0] == p[0]) for p in patterns)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    if op == "equals":
        return bool(actual == expected or (actual is not None and str(actual) == str(expected)))
    if op == "not_equals":
        return not _compare("equals", actual, expected)
    if op in ("gt", "gte", "lt", "lte"):
        try:
            a, e = float(actual), float(expected)
        except (TypeError, ValueError):
            return False
        return {"gt": a > e, "gte": a >= e, "lt": a < e, "lte": a <= e}[op]
    if op in ("in", "not_in"):
        inside = any(_compare("equals", actual, item) for item in (expected or ()))
        return inside if op == "in" else not inside
    if op in ("contains", "not_contains"):
        try:
            inside = expected in actual
        except TypeError:
            inside = False
        return bool(inside) if op == "contains" else not inside
    if op == "matches":
        return actual is not None and re.search(str(expected), str(actual)) is not None
    if op == "length":
        try:
            return len(actual) == int(expected)
        except TypeError:
            return False
    return _TYPES[expected](actual)  # "type"


def check_value(check: Check, actual: Any, present: bool, context: Mapping[str, Any]) -> list[str]:
    """Messages for every comparison in `check` that `actual` fails."""
    failures = []
    for op, raw in check.ops.items():
        expected = render(raw, context)
        if op == "exists":
            if bool(expected) != present:
                failures.append("expected to exist" if expected else f"expected not to exist, got {actual!r}")
        elif not present:
            failures.append(f"{op} {expected!r}: missing")
        elif not _compare(op, actual, expected):
            failures.append(f"{op} {expected!r}: got {_short(actual)}")
    return failures


def _short(value: Any, limit: int = 120) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _elapsed(response: Any) -> float | None:
    try:
        return float(response.elapsed.total_seconds())
    except (AttributeError, RuntimeError):
        return None


def evaluate(asserts: Asserts, response: Any, context: Mapping[str, Any]) -> list[str]:
    """Every assertion failure for `response` (empty when all pass)."""
    failures: list[str] = []
    if asserts.status and not status_matches(response.status_code, asserts.status):
        failures.append(f"status: expected {' or '.join(asserts.status)}, got {response.status_code}")
    for name, check in asserts.headers.items():
        value = response.headers.get(name)
        failures += [f"header {name}: {m}" for m in check_value(check, value, value is not None, context)]
    if asserts.jsonpath:
        document = response_json(response)
        for expr, check in asserts.jsonpath.items():
            values = jsonpath_values(expr, document)
            actual = values[0] if len(values) == 1 else values
            failures += [f"jsonpath {expr}: {m}" for m in check_value(check, actual, bool(values), context)]
    if asserts.body is not None:
        failures += [f"body: {m}" for m in check_value(asserts.body, response.text, True, context)]
    elapsed = _elapsed(response)
    if asserts.duration is not None and elapsed is not None and elapsed > asserts.duration:
        failures.append(f"duration: expected at most {asserts.duration:g}s, took {elapsed:.3f}s")
    return failures
