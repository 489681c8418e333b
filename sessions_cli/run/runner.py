"""Running a validated recipe: steps in order, each step's iterations concurrently through one session.

The session is built once from the `session:` block, so every request — loops included — passes
the same rate limiter and cache. A step's requests go through `Session.iter_requests`, which
pulls from a lazy generator (a 1M-row CSV is never listed) and yields results as they finish;
each result becomes a record in fetch's shape, written and flushed at once, plus the step fields
`step`, `step_name`, `iteration`, `captures`, `assertions` and `passed`.

A step that has assertion failures, missing captures or transport errors stops the recipe after
all its iterations are done (later steps usually depend on it), unless `continue_on_failure`.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from sessions_cli.fetch.output import RecordWriter
from sessions_cli.fetch.records import (
    Record,
    error_kind,
    error_record,
    exception_record,
    merge_callback_results,
    response_record,
)
from sessions_cli.fetch.summary import Summary
from sessions_cli.run.asserts import evaluate
from sessions_cli.run.captures import CaptureMissing, take
from sessions_cli.run.model import Recipe, Step
from sessions_cli.run.plan import Iteration, iterations, render_request
from sessions_cli.run.redact import SENSITIVE_HEADERS, Redactor, credential
from sessions_cli.run.templates import TemplateProblem, has_template, render, undeclared

__all__ = ["RecipeRunner", "RunExit", "RunResult", "StepReport"]


class RunExit(IntEnum):
    """Exit codes of `sessions run` (0–2 as in fetch)."""

    OK = 0
    TRANSPORT = 1
    USAGE = 2
    INVALID = 3
    ASSERTIONS = 4


@dataclass
class StepReport:
    """What one step did: requests sent, failures per iteration, transport and template errors."""

    step: Step
    requests: int = 0
    failures: list[tuple[int | None, list[str]]] = field(default_factory=list)
    transport_errors: int = 0
    template_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when the step should stop the recipe (unless `continue_on_failure`)."""
        return bool(self.failures or self.transport_errors or self.template_errors)


@dataclass
class RunResult:
    """The outcome of a run: per-step reports, the fetch-style summary, captured values."""

    steps: list[StepReport]
    summary: Summary
    captures: dict[str, Any]
    stopped_after: str | None = None

    @property
    def exit_code(self) -> RunExit:
        """3 for template errors at run time, 4 for assertion failures, 1 for transport errors, else 0."""
        if any(report.template_errors for report in self.steps):
            return RunExit.INVALID
        if any(report.failures for report in self.steps):
            return RunExit.ASSERTIONS
        if any(report.transport_errors for report in self.steps):
            return RunExit.TRANSPORT
        return RunExit.OK


@dataclass
class _Pending:
    iteration: Iteration
    context: dict[str, Any]
    index: int


class RecipeRunner:
    """Runs a `Recipe` on an open session, writing records to `writer`."""

    def __init__(
        self,
        recipe: Recipe,
        writer: RecordWriter,
        *,
        callbacks: tuple[Callable[..., Any], ...] = (),
        progress: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recipe = recipe
        self.writer = writer
        self.callbacks = callbacks
        self.progress = progress
        self.redactor = Redactor(recipe.secrets)
        self.summary = Summary(clock=clock)
        self.captures: dict[str, Any] = {}
        self._next_index = 0
        self._learn_credentials(recipe.session.get("headers"), render_session(recipe).get("headers"))

    # -- the whole run ------------------------------------------------------------------------

    def run(self, session: Any) -> RunResult:
        """Run every step in order; stop after a failed step unless it says `continue_on_failure`."""
        reports: list[StepReport] = []
        stopped = None
        for step in self.recipe.steps:
            report = self.run_step(session, step)
            reports.append(report)
            if report.failed and not step.continue_on_failure and step is not self.recipe.steps[-1]:
                stopped = step.name
                break
        self.summary.finish()
        return RunResult(reports, self.summary, dict(self.captures), stopped)

    # -- one step -----------------------------------------------------------------------------

    def run_step(self, session: Any, step: Step) -> StepReport:
        """Send the step's requests concurrently and process each result as it completes."""
        report = StepReport(step)
        context = {**self.recipe.context(), **self.captures}
        pending: dict[int, _Pending] = {}
        skipped: queue.SimpleQueue[Record] = queue.SimpleQueue()
        values: dict[int, dict[str, Any]] = {}
        items = self._items(step, context, pending, skipped, report)
        options = self._batch_options(session, step)
        for position, result in session.iter_requests(items, **options):
            self._drain(skipped)
            self._result(step, pending.pop(position), result, report, values)
        self._drain(skipped)
        self._store_captures(step, values, report)
        return report

    def _batch_options(self, session: Any, step: Step) -> dict[str, Any]:
        concurrency = step.concurrency or self.recipe.session.get("concurrency") or 10
        options: dict[str, Any] = {"concurrency": int(concurrency), "progress": self.progress}
        if step.loop is None:
            options["progress"] = False
        if self.callbacks:
            options["callbacks"] = list(self.callbacks)
            options["return_callbacks"] = True
        if step.retry is not None:
            options["retries"] = step.retry
        if step.loop is not None and step.loop.kind == "foreach" and isinstance(step.loop.source, list):
            options["total"] = len(step.loop.source)
        return options

    def _items(
        self,
        step: Step,
        context: Mapping[str, Any],
        pending: dict[int, _Pending],
        skipped: queue.SimpleQueue[Record],
        report: StepReport,
    ) -> Iterator[dict[str, Any]]:
        """Rendered requests for the engine (runs on the session's loop thread, lazily)."""
        position = 0
        try:
            for iteration in iterations(step, context, self.recipe.source.directory):
                item = self._render(step, iteration, context, skipped, report)
                if item is not None:
                    pending[position] = item[0]
                    position += 1
                    yield item[1]
        except (TemplateProblem, OSError, UnicodeError) as exc:
            where = step.loop.path if step.loop else step.path
            self._template_error(step, where, str(exc), None, skipped, report)

    def _render(
        self,
        step: Step,
        iteration: Iteration,
        context: Mapping[str, Any],
        skipped: queue.SimpleQueue[Record],
        report: StepReport,
    ) -> tuple[_Pending, dict[str, Any]] | None:
        local = iteration.names(step, context)
        if iteration.error is not None:
            self._template_error(
                step,
                step.loop.path if step.loop else step.path,
                iteration.error,
                iteration.number,
                skipped,
                report,
            )
            return None
        try:
            request = render_request(step, local, self.recipe.source.directory)
        except (TemplateProblem, OSError) as exc:
            self._template_error(step, f"{step.path}.request", str(exc), iteration.number, skipped, report)
            return None
        self._learn_credentials(step.request.get("headers"), request.get("headers"))
        index = self._take_index()
        return _Pending(iteration, local, index), request

    def _learn_credentials(self, templates: Any, rendered: Any) -> None:
        """Mask from now on each credential header rendered from `env` (e.g. a b64-encoded password)."""
        if not isinstance(templates, Mapping) or not isinstance(rendered, Mapping):
            return
        for name in _env_credential_headers(templates):
            if isinstance(rendered.get(name), str):
                self.redactor.learn(credential(name, rendered[name]))

    def _take_index(self) -> int:
        index = self._next_index
        self._next_index += 1
        return index

    def _template_error(
        self,
        step: Step,
        path: str,
        message: str,
        iteration: int | None,
        skipped: queue.SimpleQueue[Record],
        report: StepReport,
    ) -> None:
        where = str(self.recipe.source.error(path, message))
        report.template_errors.append(self.redactor.text(where))  # the report is output too
        record = error_record(self._take_index(), "", "", "template", where)
        skipped.put(self._step_fields(record, step, iteration, {}, [where]))

    def _drain(self, skipped: queue.SimpleQueue[Record]) -> None:
        while not skipped.empty():
            self._emit(skipped.get())

    # -- one result ---------------------------------------------------------------------------

    def _result(
        self,
        step: Step,
        pending: _Pending,
        result: Any,
        report: StepReport,
        values: dict[int, dict[str, Any]],
    ) -> None:
        report.requests += 1
        number = pending.iteration.number if step.loop else None
        if getattr(result, "status_code", None) is None:
            report.transport_errors += 1
            record = exception_record(pending.index, str(result.url), result.method, result.exception)
            self._emit(self._step_fields(record, step, number, {}, []))
            return
        record = response_record(pending.index, str(result.url), str(result.request.method), result)
        self._merge_callbacks(record, result)
        captured, failures = self._check(step, result, pending.context)
        values[pending.iteration.number] = captured
        if failures:
            report.failures.append((number, [self.redactor.text(message) for message in failures]))
        self._emit(self._step_fields(record, step, number, captured, failures))

    def _check(
        self, step: Step, response: Any, context: Mapping[str, Any]
    ) -> tuple[dict[str, Any], list[str]]:
        captured: dict[str, Any] = {}
        failures: list[str] = []
        for capture in step.captures:
            try:
                captured[capture.name] = take(capture, response, self.recipe.source.directory)
            except CaptureMissing as exc:
                failures.append(str(exc))
            except Exception as exc:  # a python: capture raised
                failures.append(f"capture {capture.name!r}: {error_kind(exc)}: {exc}")
        try:
            failures += evaluate(step.asserts, response, {**context, **captured})
        except TemplateProblem as exc:
            failures.append(f"assert: {exc}")
        return captured, failures

    def _merge_callbacks(self, record: Record, response: Any) -> None:
        errors = []
        for function, value in zip(self.callbacks, response.callbacks or (), strict=False):
            if isinstance(value, BaseException):
                name = getattr(function, "__name__", repr(function))
                errors.append({"callback": name, "kind": error_kind(value), "message": str(value)})
            elif isinstance(value, dict):
                merge_callback_results(record, value)
        if errors:
            record["callback_errors"] = errors

    def _step_fields(
        self,
        record: Record,
        step: Step,
        iteration: int | None,
        captured: Mapping[str, Any],
        failures: list[str],
    ) -> Record:
        record.update(
            step=step.index,
            step_name=step.name,
            iteration=iteration,
            captures=dict(captured),
            assertions=failures,
            passed=not failures and record["error"] is None,
        )
        return record

    def _emit(self, record: Record) -> None:
        clean = self.redactor(record)
        self.summary.add(clean)
        self.writer.write(clean)

    # -- captures -----------------------------------------------------------------------------

    def _store_captures(self, step: Step, values: dict[int, dict[str, Any]], report: StepReport) -> None:
        """A plain step's captures are values; a loop step's are lists in iteration order."""
        for capture in step.captures:
            if step.loop is None:
                if 0 in values and capture.name in values[0]:
                    self.captures[capture.name] = values[0][capture.name]
            else:
                ordered = [values[n].get(capture.name) for n in sorted(values)]
                self.captures[capture.name] = ordered


def _env_credential_headers(headers: Mapping[Any, Any]) -> list[str]:
    """Credential headers (Authorization, Cookie, …) whose value template reads `env`."""
    found = []
    for name, value in headers.items():
        sensitive = str(name).lower() in SENSITIVE_HEADERS
        if not sensitive or not isinstance(value, str) or not has_template(value):
            continue
        try:
            names, _ = undeclared(value)
        except TemplateProblem:
            continue
        if "env" in names:
            found.append(str(name))
    return found


def render_session(recipe: Recipe) -> dict[str, Any]:
    """The `session:` block with its templates rendered (variables and `env` only)."""
    rendered: dict[str, Any] = render(dict(recipe.session), recipe.context())
    return rendered
