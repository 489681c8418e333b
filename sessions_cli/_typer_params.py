"""Typer parameter coercion without pydantic for plain values.

Typer (≥ 0.2x) coerces every parameter value, defaults and unset (None) ones included,
through a pydantic `TypeAdapter` built on first use: the first command line that is parsed
imports pydantic (~70 ms) and builds an adapter for each of the ~50 `fetch` options.

`install` gives the parameters whose annotation is `str`, `int`, `float`, `bool` or
`list[str]` (no parser, no bounds, no file) a coercer that returns what the adapter would
for the values a command line produces — a `str`, a run of ASCII digits, an `int`/`float`
default, a tuple of `str` — and hands anything else (and every error) to typer's own adapter,
built then. Values, messages and exit codes are typer's; only the import is saved.

A typer without these internals (older or newer) keeps its own coercion: `install` does nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

try:
    from typer._click import Context
    from typer._coercion import RuntimeParam, TypeDescriptor
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - a typer without the pydantic coercion layer
    _AVAILABLE = False
else:
    _AVAILABLE = True

__all__ = ["install"]

_MISSING: Any = object()


def _digits(text: str, most: int) -> bool:
    return 0 < len(text) <= most and text.isascii() and text.isdigit()


def _plain(kind: type, value: Any) -> Any:
    """`value` coerced to `kind` when the adapter's answer is certain, else `_MISSING`."""
    if type(value) is kind:
        return value
    if type(value) is str:
        if kind is str:
            return value
        # Strings that int() / float() read exactly as pydantic 2 does: ASCII digits, for a float
        # with an optional fraction. A sign, exponent, underscore or space takes the adapter.
        if kind is int and _digits(value, 18):
            return int(value)
        if kind is float:
            whole, dot, fraction = value.partition(".")
            if _digits(whole, 15) and (not dot or _digits(fraction, 15)):
                return float(value)
    return _MISSING


if _AVAILABLE:

    @dataclass(frozen=True)
    class _PlainParam(RuntimeParam):
        kind: type
        is_list: bool

        def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
            if self.is_list:
                if type(value) in (tuple, list) and all(type(item) is self.kind for item in value):
                    return list(value)
            else:
                coerced = _plain(self.kind, value)
                if coerced is not _MISSING:
                    return coerced
            param._runtime_param = None  # typer builds its own on the next line, and keeps it
            return param.get_runtime_param()._coerce_value(value, param=param, ctx=ctx)

    def _plain_param(descriptor: TypeDescriptor) -> _PlainParam | None:
        info = descriptor.parameter_info
        if descriptor.file_annotation is not None or getattr(info, "parser", _MISSING) is not None:
            return None
        annotation: Any = descriptor.annotation
        is_list = annotation == list[str]
        kind = str if is_list else annotation
        if kind in (int, float):
            if (info.min, info.max, getattr(info, "clamp", _MISSING)) != (None, None, False):
                return None
        elif kind not in (str, bool):
            return None
        return _PlainParam(parameter_info=info, annotation=annotation, kind=kind, is_list=is_list)


def install(params: Iterable[object]) -> None:
    """Give each plain typer parameter of `params` the pydantic-free coercer (see the module doc)."""
    if not _AVAILABLE:
        return
    for param in params:
        if isinstance(param, _TyperParameter) and getattr(param, "_runtime_param", _MISSING) is None:
            try:
                plain = _plain_param(param.type_descriptor)
            except Exception:  # typer's internals changed: its own coercion stays
                continue
            if plain is not None:
                param._runtime_param = plain
