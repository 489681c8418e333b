"""Validation: turn a `RecipeSource` into a `Recipe`, or list every problem with file, line and path.

Checked before anything is sent: unknown keys (with a close match), wrong types, bad durations,
rate-limit parameters (through fetch's own rules), JSONPath and regex syntax, `module:function`
references, data files, environment variables, and every template's variables — each step may
use `vars`, `--var` overrides, `env.NAME`, earlier steps' captures, its loop variable and `index`
(0 in a step without a loop; not in `session:` or a loop's own source, rendered before any iteration).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sessions_cli.run.errors import RecipeError, RecipeInvalid
from sessions_cli.run.model import (
    CAPTURE_KINDS,
    CHECK_OPS,
    Asserts,
    Capture,
    Check,
    Loop,
    OutputSpec,
    Recipe,
    Step,
)
from sessions_cli.run.source import RecipeSource, child_path
from sessions_cli.run.templates import TemplateProblem, render, template_strings, undeclared

__all__ = ["build_recipe", "read_env_file"]

TOP_KEYS = ("name", "description", "session", "vars", "env", "env_file", "callbacks", "output", "steps")
SESSION_KEYS = (
    "base_url",
    "headers",
    "timeout",
    "retries",
    "concurrency",
    "follow",
    "verify",
    "ratelimit",
    "cache",
)
RATELIMIT_KEYS = (
    "algorithm",
    "rate",
    "limit",
    "window",
    "period",
    "capacity",
    "fill_rate",
    "leak_rate",
    "burst",
    "limit_by",
    "backend",
    "redis_url",
    "db",
)
CACHE_KEYS = ("backend", "expire", "cache_control", "db", "redis_url")
STEP_KEYS = (
    "name",
    "request",
    "capture",
    "assert",
    "retry",
    "foreach",
    "data",
    "urls",
    "as",
    "concurrency",
    "continue_on_failure",
)
REQUEST_KEYS = ("method", "url", "params", "headers", "json", "data", "files")
ASSERT_KEYS = ("status", "headers", "jsonpath", "body", "duration")
OUTPUT_KEYS = ("path", "format")
BUILTINS = frozenset({"range", "dict", "lipsum", "cycler", "joiner", "namespace"})  # Jinja's globals
STEP_NAMES = ("index",)  # a step's 0-based iteration: the loop position, 0 in a step without a loop
_LOOP_VARS = {"foreach": "item", "data": "row", "urls": "url"}
_TYPE_NAMES = ("string", "number", "integer", "boolean", "list", "object", "null")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STATUS = re.compile(r"^[1-5](\d\d|xx)$")


class _Checker:
    """Collects errors while walking the recipe data."""

    def __init__(self, source: RecipeSource) -> None:
        self.source = source
        self.errors: list[RecipeError] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(self.source.error(path, message))

    def mapping(self, value: Any, path: str, allowed: Iterable[str], required: Iterable[str] = ()) -> bool:
        """True when `value` is a mapping with only `allowed` keys and every `required` one."""
        if not isinstance(value, Mapping):
            self.fail(path, f"expected a mapping, got {_type(value)}")
            return False
        allowed = tuple(allowed)
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else f" (allowed: {', '.join(allowed)})"
                self.fail(child_path(path, str(key)), f"unknown key {key!r}{hint}")
        for key in required:
            if key not in value:
                self.fail(path, f"missing required key {key!r}")
        return True

    def typed(self, value: Any, path: str, types: type | tuple[type, ...], what: str) -> bool:
        """True when `value` has one of `types` (bools are not numbers)."""
        if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
            self.fail(path, f"expected {what}, got a boolean")
            return False
        if not isinstance(value, types):
            self.fail(path, f"expected {what}, got {_type(value)}")
            return False
        return True

    def positive_int(self, value: Any, path: str) -> int | None:
        if self.typed(value, path, int, "a positive integer") and value >= 0:
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            self.fail(path, "must not be negative")
        return None

    def duration(self, value: Any, path: str) -> float | None:
        from sessions_cli.fetch.options import UsageError, parse_duration

        if not self.typed(value, path, (str, int, float), "a duration such as 2s or 500ms"):
            return None
        try:
            return parse_duration(value, path)
        except UsageError as exc:
            self.fail(path, str(exc).removeprefix(f"{path}: "))
            return None


def _type(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean", type(None): "nothing"}
    return names.get(type(value), type(value).__name__)


# --- environment --------------------------------------------------------------------------


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (blank lines, `#` comments and an `export ` prefix allowed; quotes stripped)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def _env(c: _Checker, data: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    declared = data.get("env") or {}
    if isinstance(declared, list):
        declared = dict.fromkeys(declared)
    if not isinstance(declared, Mapping):
        c.fail("env", f"expected a list of names or a mapping of name: default, got {_type(declared)}")
        return {}
    from_file: dict[str, str] = {}
    if data.get("env_file") is not None and c.typed(data["env_file"], "env_file", str, "a file name"):
        try:
            from_file = read_env_file(c.source.directory / data["env_file"])
        except (OSError, UnicodeError) as exc:
            c.fail("env_file", f"cannot read env file: {exc}")
    values: dict[str, str] = {}
    for name, default in declared.items():
        path = child_path("env", str(name))
        value = environ.get(str(name), from_file.get(str(name), default))
        if value is None:
            c.fail(path, f"environment variable {name} is not set (and has no default)")
        elif isinstance(value, Mapping | list):
            c.fail(path, "a default must be a scalar")
        else:
            values[str(name)] = str(value)
    return values


# --- session and output -------------------------------------------------------------------


def _session(c: _Checker, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not c.mapping(value, "session", SESSION_KEYS):
        return {}
    checks = {
        "headers": (Mapping, "a mapping of header: value"),
        "base_url": (str, "a URL"),
        "follow": (bool, "true or false"),
        "verify": (bool, "true or false"),
    }
    for key, (kind, what) in checks.items():
        if key in value:
            c.typed(value[key], f"session.{key}", kind, what)
    for key in ("retries", "concurrency"):
        if key in value:
            c.positive_int(value[key], f"session.{key}")
    if value.get("concurrency") == 0:
        c.fail("session.concurrency", "must be at least 1")
    if "timeout" in value:
        c.duration(value["timeout"], "session.timeout")
    if value.get("ratelimit") is not None:
        _ratelimit(c, value["ratelimit"])
    if value.get("cache") is not None:
        _cache(c, value["cache"])
    return dict(value)


def _ratelimit(c: _Checker, value: Any) -> None:
    from sessions_cli.fetch.options import UsageError
    from sessions_cli.run.session import ratelimit_from_recipe

    if not c.mapping(value, "session.ratelimit", RATELIMIT_KEYS):
        return
    try:
        ratelimit_from_recipe(value)
    except UsageError as exc:
        key = exc.flag.removeprefix("--").replace("-", "_").replace("ratelimit", "algorithm")
        message = str(exc).removeprefix(f"{exc.flag}: ")
        message = re.sub(r"--([a-z-]+)", lambda m: m.group(1).replace("-", "_"), message)
        c.fail(child_path("session.ratelimit", key), message.replace("ratelimit ", "algorithm "))
    except (TypeError, ValueError) as exc:
        c.fail("session.ratelimit", str(exc))


def _cache(c: _Checker, value: Any) -> None:
    if isinstance(value, str):
        value = {"backend": value}
    if not c.mapping(value, "session.cache", CACHE_KEYS):
        return
    if value.get("backend", "memory") not in ("memory", "sqlite", "redis"):
        c.fail("session.cache.backend", f"expected memory, sqlite or redis, got {value.get('backend')!r}")
    if value.get("expire") not in (None, "never"):
        c.duration(value["expire"], "session.cache.expire")


def _output(c: _Checker, value: Any) -> OutputSpec:
    if value is None:
        return OutputSpec()
    if isinstance(value, str):
        return OutputSpec(path=value)
    if not c.mapping(value, "output", OUTPUT_KEYS):
        return OutputSpec()
    fmt = value.get("format")
    if fmt is not None and fmt not in ("jsonl", "csv"):
        c.fail("output.format", f"expected jsonl or csv, got {fmt!r}")
    path = value.get("path", "-")
    if not c.typed(path, "output.path", str, "a file name or -"):
        path = "-"
    return OutputSpec(path=path, format=fmt)


def _callbacks(c: _Checker, value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not c.typed(value, "callbacks", list, "a list of module:function"):
        return ()
    from sessions_cli.run.pycall import PyCallError, load_callable

    for position, spec in enumerate(value):
        path = child_path("callbacks", position)
        if c.typed(spec, path, str, "module:function"):
            try:
                load_callable(spec, c.source.directory)
            except PyCallError as exc:
                c.fail(path, str(exc))
    return tuple(str(spec) for spec in value)


# --- steps --------------------------------------------------------------------------------


def _request(c: _Checker, value: Any, path: str) -> dict[str, Any]:
    if value is None:
        c.fail(path, "missing required key 'request'")
        return {}
    if isinstance(value, str):
        value = {"url": value}
    if not c.mapping(value, path, REQUEST_KEYS, required=("url",)):
        return {}
    if "url" in value:
        c.typed(value["url"], f"{path}.url", str, "a URL")
    method = value.get("method", "GET")
    if c.typed(method, f"{path}.method", str, "an HTTP method") and not method.isalpha():
        c.fail(f"{path}.method", f"not an HTTP method: {method!r}")
    for key in ("headers", "files"):
        if key in value:
            c.typed(value[key], f"{path}.{key}", Mapping, "a mapping")
    if "params" in value:
        c.typed(value["params"], f"{path}.params", (Mapping, list, str), "a mapping")
    if "json" in value and "data" in value:
        c.fail(f"{path}.data", "give 'json' or 'data', not both")
    return dict(value)


def _capture(c: _Checker, name: Any, value: Any, path: str) -> Capture | None:
    if not isinstance(name, str) or not _NAME.match(name):
        c.fail(path, f"capture names must be identifiers, got {name!r}")
        return None
    if isinstance(value, str):
        value = {"jsonpath": value} if value.startswith("$") else {"header": value}
    if not c.mapping(value, path, (*CAPTURE_KINDS, "group", "all", "default")):
        return None
    kinds = [kind for kind in CAPTURE_KINDS if kind in value]
    if len(kinds) != 1:
        c.fail(path, f"give exactly one of {', '.join(CAPTURE_KINDS)}")
        return None
    kind = kinds[0]
    expr = "" if kind == "status" else value[kind]
    if kind != "status" and not c.typed(expr, f"{path}.{kind}", str, f"a {kind} expression"):
        return None
    _check_expression(c, kind, expr, f"{path}.{kind}")
    extra = {k: value[k] for k in ("group", "all", "default") if k in value}
    return Capture(name=name, kind=kind, expr=expr, path=path, **extra)


def _check_expression(c: _Checker, kind: str, expr: str, path: str) -> None:
    from sessions_cli.run.pycall import PyCallError, load_callable

    try:
        if kind == "jsonpath":
            from sessions_cli.run.captures import compile_jsonpath

            compile_jsonpath(expr)
        elif kind == "regex":
            re.compile(expr)
        elif kind == "python":
            load_callable(expr, c.source.directory)
    except PyCallError as exc:
        c.fail(path, str(exc))
    except re.error as exc:
        c.fail(path, f"invalid regex: {exc}")
    except Exception as exc:  # jsonpath-ng raises several exception types for bad syntax
        c.fail(path, f"invalid JSONPath {expr!r}: {exc}")


def _captures(c: _Checker, value: Any, path: str) -> tuple[Capture, ...]:
    if value is None:
        return ()
    if not c.typed(value, path, Mapping, "a mapping of name: capture"):
        return ()
    found = (_capture(c, name, spec, child_path(path, str(name))) for name, spec in value.items())
    return tuple(capture for capture in found if capture is not None)


def _check(c: _Checker, value: Any, path: str) -> Check:
    if not isinstance(value, Mapping):
        return Check(ops={"equals": value}, path=path)
    c.mapping(value, path, CHECK_OPS)
    if "matches" in value and c.typed(value["matches"], f"{path}.matches", str, "a regex"):
        try:
            re.compile(value["matches"])
        except re.error as exc:
            c.fail(f"{path}.matches", f"invalid regex: {exc}")
    if "type" in value and value["type"] not in _TYPE_NAMES:
        c.fail(f"{path}.type", "expected string, number, integer, boolean, list, object or null")
    return Check(ops={k: v for k, v in value.items() if k in CHECK_OPS}, path=path)


def _status_patterns(c: _Checker, value: Any, path: str) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    patterns = []
    for position, item in enumerate(items):
        text = str(item).lower()
        if isinstance(item, bool) or not _STATUS.match(text):
            where = child_path(path, position) if isinstance(value, list) else path
            c.fail(where, f"expected a status such as 200 or 2xx, got {item!r}")
        patterns.append(text)
    return tuple(patterns)


def _asserts(c: _Checker, value: Any, path: str) -> Asserts:
    if value is None or not c.mapping(value, path, ASSERT_KEYS):
        return Asserts(path=path)
    status = _status_patterns(c, value["status"], f"{path}.status") if "status" in value else ()
    groups: dict[str, dict[str, Check]] = {"headers": {}, "jsonpath": {}}
    for group, checks in groups.items():
        given = value.get(group)
        if given is not None and c.typed(given, f"{path}.{group}", Mapping, "a mapping"):
            for key, check in given.items():
                checks[str(key)] = _check(c, check, child_path(f"{path}.{group}", str(key)))
                if group == "jsonpath":
                    _check_expression(c, "jsonpath", str(key), child_path(f"{path}.{group}", str(key)))
    body = _check(c, value["body"], f"{path}.body") if "body" in value else None
    duration = None
    if "duration" in value:
        given = value["duration"]
        if isinstance(given, Mapping) and c.mapping(given, f"{path}.duration", ("max",), ("max",)):
            given = given.get("max")
        duration = c.duration(given, f"{path}.duration")
    return Asserts(status, groups["headers"], groups["jsonpath"], body, duration, path)


def _loop(c: _Checker, step: Mapping[str, Any], path: str) -> Loop | None:
    kinds = [kind for kind in _LOOP_VARS if kind in step]
    if len(kinds) > 1:
        both = " and ".join(kinds)
        c.fail(f"{path}.{kinds[1]}", f"a step loops over one of foreach, data or urls, not {both}")
    if not kinds:
        if "as" in step:
            c.fail(f"{path}.as", "'as' names the loop variable of foreach, data or urls")
        return None
    kind = kinds[0]
    source, where = step[kind], f"{path}.{kind}"
    if kind == "foreach":
        c.typed(source, where, (list, str), "a list or a template such as '{{ ids }}'")
    elif c.typed(source, where, str, "a file name"):
        _check_loop_file(c, kind, source, where)
    var = step.get("as", _LOOP_VARS[kind])
    if not isinstance(var, str) or not _NAME.match(var):
        c.fail(f"{path}.as", f"expected an identifier, got {var!r}")
    return Loop(kind=kind, source=source, var=str(var), path=where)  # type: ignore[arg-type]


def _check_loop_file(c: _Checker, kind: str, name: str, path: str) -> None:
    from sessions_cli.run.plan import csv_header

    if "{{" in name:
        return  # checked once variables are known
    target = c.source.directory / name
    if not target.is_file():
        c.fail(path, f"no such file: {target}")
    elif kind == "data":
        try:
            csv_header(target)
        except (OSError, UnicodeError, ValueError) as exc:
            c.fail(path, str(exc))


def _step(c: _Checker, value: Any, position: int) -> Step | None:
    path = child_path("steps", position)
    if not c.mapping(value, path, STEP_KEYS, required=("request",)):
        return None
    name = value.get("name", f"step {position + 1}")
    c.typed(name, f"{path}.name", str, "a string")
    retry = c.positive_int(value["retry"], f"{path}.retry") if "retry" in value else None
    concurrency = None
    if "concurrency" in value:
        concurrency = c.positive_int(value["concurrency"], f"{path}.concurrency")
    if concurrency == 0:
        c.fail(f"{path}.concurrency", "must be at least 1")
    cont = value.get("continue_on_failure", False)
    c.typed(cont, f"{path}.continue_on_failure", bool, "true or false")
    return Step(
        index=position,
        name=str(name),
        request=_request(c, value.get("request"), f"{path}.request"),
        path=path,
        captures=_captures(c, value.get("capture"), f"{path}.capture"),
        asserts=_asserts(c, value.get("assert"), f"{path}.assert"),
        retry=retry,
        loop=_loop(c, value, path),
        concurrency=concurrency or None,
        continue_on_failure=bool(cont),
    )


def _steps(c: _Checker, value: Any, present: bool) -> tuple[Step, ...]:
    if value is None:
        if present:  # a missing key is already reported by the top-level check
            c.fail("steps", "a recipe needs at least one step")
        return ()
    if not c.typed(value, "steps", list, "a list of steps"):
        return ()
    if not value:
        c.fail("steps", "a recipe needs at least one step")
    found = (_step(c, step, position) for position, step in enumerate(value))
    return tuple(step for step in found if step is not None)


# --- variables ----------------------------------------------------------------------------


class _Scope:
    """The names a template may use at one point of the recipe."""

    def __init__(self, names: Iterable[str], env: Iterable[str], columns: Mapping[str, set[str]]) -> None:
        self.names = set(names) | BUILTINS | {"env"}
        self.env = set(env)
        self.columns = dict(columns)  # loop variable of a data step → CSV columns

    def with_names(self, *names: str, columns: Mapping[str, set[str]] | None = None) -> _Scope:
        return _Scope(self.names | set(names), self.env, {**self.columns, **(columns or {})})

    def problems(self, text: str) -> list[str]:
        """What is undefined in `text` (empty when it renders)."""
        try:
            names, attributes = undeclared(text, ("env", *self.columns))
        except TemplateProblem as exc:
            return [str(exc)]
        found = [_undefined(name, self.names) for name in sorted(names - self.names)]
        for attribute in sorted(attributes):
            namespace, _, key = attribute.partition(".")
            allowed = self.env if namespace == "env" else self.columns[namespace]
            if key not in allowed:
                what = "environment variable" if namespace == "env" else f"column of {namespace!r}"
                found.append(_undefined(attribute, {f"{namespace}.{k}" for k in allowed}, what))
        return found


def _undefined(name: str, known: Iterable[str], what: str = "variable") -> str:
    close = difflib.get_close_matches(name, sorted(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"undefined {what} {name!r}{hint}"


def _check_templates(c: _Checker, value: Any, path: str, scope: _Scope) -> None:
    for where, text in template_strings(value, path):
        for problem in scope.problems(text):
            c.fail(where, problem)


def _loop_columns(c: _Checker, step: Step) -> dict[str, set[str]]:
    from sessions_cli.run.plan import csv_header

    loop = step.loop
    if loop is None or loop.kind != "data" or "{{" in loop.source:
        return {}
    try:
        return {loop.var: set(csv_header(c.source.directory / loop.source))}
    except (OSError, UnicodeError, ValueError):
        return {}  # already reported


def _check_step_templates(c: _Checker, step: Step, scope: _Scope) -> None:
    if step.loop is not None:
        _check_templates(c, step.loop.source, step.loop.path, scope)  # rendered before any iteration
        scope = scope.with_names(step.loop.var, columns=_loop_columns(c, step))
    scope = scope.with_names(*STEP_NAMES)
    _check_templates(c, dict(step.request), f"{step.path}.request", scope)
    scope = scope.with_names(*(capture.name for capture in step.captures))
    checks = [*step.asserts.headers.values(), *step.asserts.jsonpath.values()]
    checks += [step.asserts.body] if step.asserts.body else []
    for check in checks:
        _check_templates(c, dict(check.ops), check.path, scope)


def _check_variables(c: _Checker, recipe: Recipe) -> None:
    scope = _Scope(recipe.variables, recipe.env, {})
    _check_templates(c, dict(recipe.session), "session", scope)
    for step in recipe.steps:
        _check_step_templates(c, step, scope)
        scope = scope.with_names(*(capture.name for capture in step.captures))


def _variables(c: _Checker, value: Any, overrides: Mapping[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    if value is not None and c.typed(value, "vars", Mapping, "a mapping of name: value"):
        variables = dict(value)
    for name in variables:
        if not isinstance(name, str) or not _NAME.match(name):
            c.fail(child_path("vars", str(name)), f"variable names must be identifiers, got {name!r}")
    return {**variables, **overrides}


def _render_vars(c: _Checker, variables: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """Variables may use `env` and earlier variables: `api: "{{ env.BASE }}/v1"`."""
    context: dict[str, Any] = {"env": dict(env)}
    for name, value in variables.items():
        try:
            context[name] = render(value, context)
        except TemplateProblem as exc:
            c.fail(child_path("vars", str(name)), str(exc))
            context[name] = value
    del context["env"]
    return context


def build_recipe(
    source: RecipeSource, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> Recipe:
    """Validate `source` and build the `Recipe`; raise `RecipeInvalid` listing every problem."""
    import os

    c = _Checker(source)
    data = source.data
    if not c.mapping(data, "", TOP_KEYS, required=("steps",)):
        raise RecipeInvalid(c.errors)
    if "name" in data:
        c.typed(data["name"], "name", str, "a string")
    env = _env(c, data, os.environ if environ is None else environ)
    variables = _render_vars(c, _variables(c, data.get("vars"), overrides or {}), env)
    recipe = Recipe(
        source=source,
        name=str(data.get("name") or Path(source.file).stem),
        session=_session(c, data.get("session")),
        variables=variables,
        env=env,
        steps=_steps(c, data.get("steps"), "steps" in data),
        callbacks=_callbacks(c, data.get("callbacks")),
        output=_output(c, data.get("output")),
    )
    _check_variables(c, recipe)
    if c.errors:
        raise RecipeInvalid(c.errors)
    return recipe
