"""`module:function` references in recipes (callbacks, `python:` captures).

`module` is an importable module name or a `.py` file; a relative file name resolves against
the recipe's directory, so a recipe and its helper module travel together.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["PyCallError", "load_callable"]


class PyCallError(ValueError):
    """The reference is malformed, or its module or function cannot be loaded."""


def _load_file(path: Path) -> Any:
    name = f"_sessions_recipe_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PyCallError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _load_module(name: str, directory: Path) -> Any:
    if name.endswith(".py") or "/" in name or "\\" in name:
        path = (directory / name).resolve()
        if not path.is_file():
            raise PyCallError(f"no such file: {path}")
        return _load_file(path)
    return importlib.import_module(name)


def load_callable(text: str, directory: Path) -> Callable[..., Any]:
    """Resolve `module:function` or `helpers.py:function` (relative to `directory`)."""
    module_name, sep, attribute = text.rpartition(":")
    if not sep or not module_name or not attribute:
        raise PyCallError(f"expected module:function or file.py:function, got {text!r}")
    try:
        module = _load_module(module_name, directory)
    except PyCallError:
        raise
    except Exception as exc:  # user code failing to import is a recipe problem
        raise PyCallError(f"cannot import {module_name!r}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise PyCallError(f"{module_name!r} has no callable {attribute!r}")
    return function  # type: ignore[no-any-return]
