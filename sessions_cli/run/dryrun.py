"""`--dry-run`: render every planned request without sending anything.

Values captured at run time are shown as `<name>`; a loop over a captured list cannot be expanded,
so it is shown once with its item as `<item>`. Each planned request is one JSON line on stdout
(secrets masked); the count and a duration estimate from the rate limit go to stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sessions_cli.run.model import Recipe, Step
from sessions_cli.run.plan import LoopUnknown, iterations, join_url, render_request
from sessions_cli.run.redact import Redactor
from sessions_cli.run.templates import Placeholder

__all__ = ["DryRunResult", "dry_run", "estimate_seconds"]


@dataclass(frozen=True)
class DryRunResult:
    """How many requests the recipe would send (`unknown_loops`: loops over captured values)."""

    requests: int
    unknown_loops: int


def _shown(step: Step, request: dict[str, Any], base: str | None, iteration: int | None) -> dict[str, Any]:
    shown: dict[str, Any] = {"step": step.index, "step_name": step.name, "iteration": iteration}
    shown.update(request, url=join_url(base, request["url"]))
    if isinstance(shown.get("content"), bytes):
        shown["content"] = f"<{len(shown['content'])} bytes>"
    return shown


Emit = Callable[[dict[str, Any]], None]


def _plan_step(step: Step, recipe: Recipe, context: dict[str, Any], emit: Emit) -> tuple[int, int]:
    base = recipe.session.get("base_url")
    base = str(context.get("__base__", base)) if base else None
    count = 0
    try:
        for iteration in iterations(step, context, recipe.source.directory):
            local = dict(context)
            if step.loop:
                local.update({step.loop.var: iteration.value, "index": iteration.number})
            if iteration.error:
                emit({"step": step.index, "iteration": iteration.number, "error": iteration.error})
                continue
            request = render_request(step, local, recipe.source.directory)
            emit(_shown(step, request, base, iteration.number if step.loop else None))
            count += 1
    except LoopUnknown as exc:
        assert step.loop is not None
        local = {**context, step.loop.var: Placeholder(step.loop.var), "index": Placeholder("index")}
        shown = _shown(step, render_request(step, local, recipe.source.directory), base, None)
        emit({**shown, "loop": str(exc)})
        return 0, 1
    return count, 0


def dry_run(recipe: Recipe, write: Callable[[str], object]) -> DryRunResult:
    """Print every planned request as a JSON line through `write`."""
    from sessions_cli.run.runner import render_session

    redact = Redactor(recipe.secrets)
    session = render_session(recipe)
    context: dict[str, Any] = {**recipe.context(), "__base__": session.get("base_url") or ""}
    total = unknown = 0

    def emit(item: dict[str, Any]) -> None:
        write(json.dumps(redact(item), ensure_ascii=False, default=str))

    for step in recipe.steps:
        count, loops = _plan_step(step, recipe, context, emit)
        total, unknown = total + count, unknown + loops
        context.update({c.name: Placeholder(c.name) for c in step.captures})
    return DryRunResult(total, unknown)


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
