"""`--callback module:function`: load user callbacks and fold their results into records.

`module` is an importable module or a path to a `.py` file. The library calls each callback
with every response (sync or async) and captures its exceptions; a returned dict is merged
into the record, an exception is listed under `callback_errors`, other return values are ignored.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sessions_cli.fetch.options import UsageError
from sessions_cli.fetch.records import Record, error_kind, merge_callback_results

__all__ = ["apply_callback_results", "load_callback", "load_callbacks"]


def _load_module(spec: str) -> Any:
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec)
        if not path.is_file():
            raise UsageError("--callback", f"no such file: {spec}")
        module_spec = importlib.util.spec_from_file_location(f"_sessions_callback_{path.stem}", path)
        if module_spec is None or module_spec.loader is None:
            raise UsageError("--callback", f"cannot load {spec}")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        # `python -m` would find a module in the working directory; an installed console script does not
        # look there. Look there last (after everything installed), and only for a module found nowhere else.
        here = str(Path.cwd())
        if exc.name != spec.partition(".")[0] or here in sys.path:
            raise
        sys.path.append(here)
        return importlib.import_module(spec)


def load_callback(text: str) -> Callable[..., Any]:
    """Resolve `module:function` or `path/to/file.py:function` to a callable."""
    module_name, sep, attribute = text.rpartition(":")
    if not sep or not module_name or not attribute:
        raise UsageError("--callback", f"expected module:function or file.py:function, got {text!r}")
    try:
        module = _load_module(module_name)
    except UsageError:
        raise
    except Exception as exc:  # an import error in user code is a usage problem, not a crash
        raise UsageError("--callback", f"cannot import {module_name!r}: {exc}") from exc
    function = getattr(module, attribute, None)
    if not callable(function):
        raise UsageError("--callback", f"{module_name!r} has no callable {attribute!r}")
    return function  # type: ignore[no-any-return]


def load_callbacks(specs: Sequence[str]) -> list[Callable[..., Any]]:
    """Load every `--callback` in order."""
    return [load_callback(spec) for spec in specs]


def apply_callback_results(record: Record, results: Sequence[Any] | None, names: Sequence[str]) -> Record:
    """Merge dict results into `record`; note exceptions under `callback_errors`."""
    errors = []
    for name, result in zip(names, results or (), strict=False):
        if isinstance(result, BaseException):
            errors.append({"callback": name, "kind": error_kind(result), "message": str(result)})
        elif isinstance(result, dict):
            merge_callback_results(record, result)
    if errors:
        record["callback_errors"] = errors
    return record
