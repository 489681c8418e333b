"""The recipe model: plain frozen dataclasses built by `sessions_cli.run.validate`.

Nothing here does I/O or validation; each object keeps its `path` inside the recipe so a
problem found while running (a template needing a CSV column that a row lacks) can still
point at the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from sessions_cli.run.source import RecipeSource

__all__ = [
    "CAPTURE_KINDS",
    "CHECK_OPS",
    "Asserts",
    "Capture",
    "Check",
    "Loop",
    "OutputSpec",
    "Recipe",
    "Step",
]

CaptureKind = Literal["jsonpath", "header", "status", "regex", "python"]
CAPTURE_KINDS: tuple[CaptureKind, ...] = get_args(CaptureKind)
CHECK_OPS = (
    "equals",
    "not_equals",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "matches",
    "exists",
    "length",
    "type",
)
_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Capture:
    """`capture: {name: {jsonpath|header|status|regex|python: …}}` — one value taken from a response."""

    name: str
    kind: CaptureKind
    expr: str
    path: str
    group: int | str = 1
    all: bool = False
    default: Any = _NO_DEFAULT

    @property
    def has_default(self) -> bool:
        """True when a missing value falls back to `default` instead of failing the step."""
        return self.default is not _NO_DEFAULT


@dataclass(frozen=True)
class Check:
    """Comparisons applied to one actual value: `{gt: 1, lt: 5}`; a bare scalar means `equals`."""

    ops: Mapping[str, Any]
    path: str


@dataclass(frozen=True)
class Asserts:
    """`assert:` — status, headers, JSONPath comparisons, body and duration."""

    status: tuple[str, ...] = ()
    headers: Mapping[str, Check] = field(default_factory=dict)
    jsonpath: Mapping[str, Check] = field(default_factory=dict)
    body: Check | None = None
    duration: float | None = None
    path: str = ""

    def __bool__(self) -> bool:
        return bool(self.status or self.headers or self.jsonpath or self.body or self.duration is not None)


@dataclass(frozen=True)
class Loop:
    """How a step repeats: `foreach` (list or template), `data` (CSV rows) or `urls` (a URL list file)."""

    kind: Literal["foreach", "data", "urls"]
    source: Any
    var: str
    path: str


@dataclass(frozen=True)
class Step:
    """One request (or one request per loop iteration) with its captures and assertions."""

    index: int
    name: str
    request: Mapping[str, Any]
    path: str
    captures: tuple[Capture, ...] = ()
    asserts: Asserts = field(default_factory=Asserts)
    retry: int | None = None
    loop: Loop | None = None
    concurrency: int | None = None
    continue_on_failure: bool = False


@dataclass(frozen=True)
class OutputSpec:
    """Where records go: `-` (stdout) or a file, as JSONL or CSV (a table on a TTY by default)."""

    path: str = "-"
    format: str | None = None


@dataclass(frozen=True)
class Recipe:
    """A validated recipe, ready to run."""

    source: RecipeSource
    name: str
    session: Mapping[str, Any]
    variables: Mapping[str, Any]
    env: Mapping[str, str]
    steps: tuple[Step, ...]
    callbacks: tuple[str, ...] = ()
    output: OutputSpec = field(default_factory=OutputSpec)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Environment values: redacted from everything the run writes."""
        return tuple(sorted((v for v in self.env.values() if len(v) >= 3), key=len, reverse=True))

    def context(self) -> dict[str, Any]:
        """The base template context: variables plus the `env` namespace."""
        return {**self.variables, "env": dict(self.env)}
