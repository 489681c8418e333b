"""`--dry-run`: render every planned request without sending anything.

Values captured at run time are shown as `<name>`. A loop whose items depend on a capture
(`foreach: "{{ ids }}"`, `"{{ range(1, total_pages + 1) | list }}"`, a data file named by a
capture) cannot be expanded, so it is shown once with its item as `<item>` and counted as an
unknown loop. A request that cannot be rendered from placeholders (arithmetic on `<n>`) is shown
as `unknown`; one that fails for another reason (a missing key, a bad CSV row) is an `error` line
and the dry run exits 3, as the run would. Each planned request is one JSON line on stdout
(secrets and credential headers masked); the count and a duration estimate go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sessions_cli.run.model import Recipe, Step
from sessions_cli.run.plan import LoopUnknown, iterations, join_url, render_request
from sessions_cli.run.redact import Redactor, mask_headers
from sessions_cli.run.templates import Placeholder, TemplateProblem, template_strings, undeclared

__all__ = ["DryRunResult", "dry_run", "estimate_seconds"]


@dataclass
class DryRunResult:
    """How many requests the recipe would send (`unknown_loops`: loops over captured values; counted as
    the steps are planned).

    `errors`: requests or iterations that would fail to render at run time (exit code 3).
    """

    requests: int = 0
    unknown_loops: int = 0
    errors: int = 0


def _shown(step: Step, request: dict[str, Any], base: str | None, iteration: int | None) -> dict[str, Any]:
    shown: dict[str, Any] = {"step": step.index, "step_name": step.name, "iteration": iteration}
    shown.update(request, url=join_url(base, request["url"]))
    if isinstance(shown.get("content"), bytes):
        shown["content"] = f"<{len(shown['content'])} bytes>"
    if isinstance(shown.get("headers"), Mapping):
        shown["headers"] = mask_headers(shown["headers"])
    return shown


Emit = Callable[[dict[str, Any]], None]


def _placeholders(value: Any, context: Mapping[str, Any]) -> list[str]:
    """The names in `value`'s templates that stand for values known only at run time."""
    found: set[str] = set()
    for _, text in template_strings(value):
        try:
            names, _ = undeclared(text)
        except TemplateProblem:
            continue  # reported by validation
        found |= {name for name in names if isinstance(context.get(name), Placeholder)}
    return sorted(found)


def _loop_unknown(step: Step, context: Mapping[str, Any]) -> LoopUnknown | None:
    """A loop whose source reads a captured value: its items are known only when the recipe runs."""
    if step.loop is None:
        return None
    names = _placeholders(step.loop.source, context)
    if not names:
        return None
    source = str(step.loop.source).strip()
    uses = ", ".join(f"<{name}>" for name in names)
    return LoopUnknown(f"for each {step.loop.var} of {source} (uses {uses}, known when the recipe runs)")


def _emit_request(
    step: Step,
    recipe: Recipe,
    local: dict[str, Any],
    base: str | None,
    iteration: int | None,
    emit: Emit,
    extra: Mapping[str, Any] | None = None,
) -> bool:
    """Render and emit one request; False when it cannot be rendered (an `unknown` or `error` line)."""
    head: dict[str, Any] = {"step": step.index, "step_name": step.name, "iteration": iteration}
    try:
        request = render_request(step, local, recipe.source.directory)
    except (TemplateProblem, OSError) as exc:  # e.g. arithmetic on a `<placeholder>` string
        names = _placeholders(dict(step.request), local)
        message = f"{step.path}.request: {exc}"
        if names:
            uses = ", ".join(f"<{name}>" for name in names)
            emit({**head, **(extra or {}), "unknown": f"{message} (uses {uses}, known when the recipe runs)"})
            return True
        emit({**head, **(extra or {}), "error": str(recipe.source.error(f"{step.path}.request", str(exc)))})
        return False
    emit({**_shown(step, request, base, iteration), **(extra or {})})
    return True


def _plan_step(step: Step, recipe: Recipe, context: dict[str, Any], emit: Emit, tally: DryRunResult) -> None:
    base = recipe.session.get("base_url")
    base = str(context.get("__base__", base)) if base else None
    try:
        unknown = _loop_unknown(step, context)
        if unknown is not None:
            raise unknown
        for iteration in iterations(step, context, recipe.source.directory):
            local = iteration.names(step, context)
            if iteration.error:
                emit({"step": step.index, "iteration": iteration.number, "error": iteration.error})
                tally.errors += 1
                continue
            number = iteration.number if step.loop else None
            if _emit_request(step, recipe, local, base, number, emit):
                tally.requests += 1
            else:
                tally.errors += 1
    except LoopUnknown as exc:
        assert step.loop is not None
        local = {**context, step.loop.var: Placeholder(step.loop.var), "index": Placeholder("index")}
        _emit_request(step, recipe, local, base, None, emit, {"loop": str(exc)})
        tally.unknown_loops += 1
    except (TemplateProblem, OSError, UnicodeError) as exc:  # the loop's source itself failed
        where = step.loop.path if step.loop else step.path
        emit({"step": step.index, "step_name": step.name, "error": str(recipe.source.error(where, str(exc)))})
        tally.errors += 1


def dry_run(recipe: Recipe, write: Callable[[str], object]) -> DryRunResult:
    """Print every planned request as a JSON line through `write`."""
    from sessions_cli.run.runner import render_session

    redact = Redactor(recipe.secrets)
    session = render_session(recipe)
    context: dict[str, Any] = {**recipe.context(), "__base__": session.get("base_url") or ""}
    tally = DryRunResult()

    def emit(item: dict[str, Any]) -> None:
        write(json.dumps(redact(item), ensure_ascii=False, default=str))

    for step in recipe.steps:
        _plan_step(step, recipe, context, emit, tally)
        context.update({c.name: Placeholder(c.name) for c in step.captures})
    return tally


def estimate_seconds(recipe: Recipe, requests: int) -> float | None:
    """Least time `requests` need under the recipe's rate limit (None without one)."""
    from sessions_cli.fetch.options import sustained_rate
    from sessions_cli.run.session import ratelimit_from_recipe

    block = recipe.session.get("ratelimit")
    options = ratelimit_from_recipe(block) if block else None
    if not options:
        return None
    rate, burst = sustained_rate(options)
    if options["type"] == "gcra":
        burst = options.get("burst", 1)  # the library's GCRA default: no burst beyond one
    return max(0.0, (requests - burst) / rate)
