"""The fetch run: stream inputs into the library's batch engine and records out as they complete.

    inputs ──► RunState.specs() ──► session.iter_requests() ──► RunState.complete()
      │  malformed lines / resumed inputs          │ (index, Response | ErrorResult)
      └──────────── error records ────────────────►├─► writer (stdout / -o), --save-dir
                                                   ├─► journal (after the record: crash safe)
                                                   └─► summary, progress (stderr)

The run is one `AsyncSession` batch on the main thread's event loop (`asyncio.run`): the engine
pulls the input generator, and each result is turned into a record and written right there,
with no thread hand-off per result. Records completed in one loop turn are handed to the OS in
one write at the end of that turn (whole lines only; the journal after the output), so a
`kill -9` can lose at most records that were not journaled either, and `--resume` redoes them.

A session factory may still return a sync `Session` (embedding, tests): the input generator is
then pulled from the engine's loop thread, so it only appends to thread-safe structures
(`pending` dict entries keyed by batch index, a deque of input errors), and every write happens
on the calling thread, one flushed write per record.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.callbacks import apply_callback_results, load_callbacks
from sessions_cli.fetch.inputs import InputError, InputItem, InputReader, RequestSpec, count_lines
from sessions_cli.fetch.journal import DoneSet, Journal, input_key, recover, request_key
from sessions_cli.fetch.options import UsageError
from sessions_cli.fetch.output import BodySaver, CsvWriter, JsonlWriter, RecordWriter, TableWriter, Target
from sessions_cli.fetch.plan import FetchPlan
from sessions_cli.fetch.progress import NullProgress, make_progress
from sessions_cli.fetch.records import Record, exception_record, input_error_record, response_record
from sessions_cli.fetch.summary import Summary, render_summary

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Outputs", "RunState", "effective_spec", "run_fetch", "spec_key"]

SessionFactory = Callable[[FetchPlan], Any]


def effective_spec(spec: RequestSpec, plan: FetchPlan) -> RequestSpec:
    """Apply -X / -d / --json to an input's request (the input's own values win).

    With a body and no method anywhere the request is a POST, as with curl -d.
    """
    has_own_body = spec.json is not None or spec.data is not None
    if plan.json_body is None and plan.data is None and (spec.method is not None or plan.method is None):
        # fast path (no replace) for the common case; a method of None means GET downstream
        return spec if spec.method is not None or not has_own_body else replace(spec, method="POST")
    json_body = spec.json if has_own_body else plan.json_body
    data = spec.data if has_own_body else plan.data
    default = "POST" if json_body is not None or data is not None else "GET"
    return replace(spec, method=spec.method or plan.method or default, json=json_body, data=data)


def spec_key(spec: RequestSpec, plan: FetchPlan) -> str:
    """The resume key: method + URL + every query param (session's and the input's) + body digest."""
    params: list[Any] = list(plan.params)
    if isinstance(spec.params, dict):
        params += sorted(spec.params.items())
    elif spec.params:
        params += list(spec.params)
    return request_key(spec.method or "GET", spec.url, params, spec.json, spec.data)


@contextmanager
def _usable(flag: str, action: str) -> Iterator[None]:
    """Turn an `OSError` while opening an output into a usage error naming its flag (exit 2)."""
    try:
        yield
    except OSError as exc:
        raise UsageError(flag, f"cannot {action}: {exc.strerror or exc}") from None


def check_writable(path: str, flag: str) -> None:
    """Fail now (a usage error naming `flag`) when `path` could not be written at the end of the run."""
    import os

    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise UsageError(flag, f"cannot write {path!r}: it is a directory")
    if not parent.is_dir():
        raise UsageError(flag, f"cannot write {path!r}: no such directory {str(parent)!r}")
    if not os.access(target if target.exists() else parent, os.W_OK):
        raise UsageError(flag, f"cannot write {path!r}: permission denied")


class Outputs:
    """Where records go: the writer, the optional journal and `--save-dir`."""

    def __init__(self, plan: FetchPlan, stdout: IO[bytes], stdout_tty: bool, stack: ExitStack) -> None:
        self.done = DoneSet()
        if plan.resume and plan.journal is not None:
            index = Path(plan.save_dir) / "index.jsonl" if plan.save_dir else None
            output = Path(plan.output) if plan.output else None
            self.done = recover(plan.journal, output, index).done
        if plan.summary_json:
            check_writable(plan.summary_json, "--summary-json")
        self.target = Target(stdout)
        if plan.output:
            with _usable("--output", f"write {plan.output!r}"):
                self.target = Target.open_file(plan.output, append=plan.resume)
        self.writer = self._writer(plan, stdout_tty)
        stack.callback(self.writer.close)
        self.journal = None
        if plan.journal:
            with _usable("--journal", f"write {str(plan.journal)!r}"):
                self.journal = Journal(plan.journal, append=plan.resume)
            stack.callback(self.journal.close)
        self.saver = None
        if plan.save_dir:
            with _usable("--save-dir", f"save bodies in {plan.save_dir!r}"):
                self.saver = BodySaver(plan.save_dir)
            stack.callback(self.saver.close)
        stack.callback(self.flush)  # runs first (LIFO): queued records, then their journal lines

    def defer(self) -> None:
        """Queue records and journal lines until `flush()` (one write per loop turn)."""
        self.target.defer()
        if self.journal is not None:
            self.journal.defer()

    def flush(self) -> None:
        """Write queued records, then (only once they are out) their journal lines."""
        self.target.flush()
        if self.journal is not None:
            self.journal.flush()

    def _writer(self, plan: FetchPlan, stdout_tty: bool) -> RecordWriter:
        fmt = plan.format or ("table" if stdout_tty and not plan.output else "jsonl")
        if fmt == "csv":
            return CsvWriter(self.target)
        if fmt == "table":
            from rich.console import Console

            console = Console(highlight=False, soft_wrap=True)
            return TableWriter(lambda line: console.print(line), color=not console.no_color)
        return JsonlWriter(self.target)

    def emit(self, record: Record, key: str) -> None:
        """Write the record, then journal it (in that order: see journal.py)."""
        self.writer.write(record)
        if self.journal is not None:
            save_offset = self.saver.offset if self.saver is not None else -1
            self.journal.add(key, self.target.offset, save_offset)


class RunState:
    """The bookkeeping of one run: inputs in flight, counts, and where records go."""

    def __init__(self, plan: FetchPlan, outputs: Outputs, summary: Summary, progress: Any) -> None:
        self.plan = plan
        self.outputs = outputs
        self.summary = summary
        self.progress = progress
        self.callback_names = list(plan.callbacks)
        self.pending: dict[int, tuple[InputItem, RequestSpec, str]] = {}
        self.input_errors: deque[InputItem] = deque()
        self.input_failure: InputError | None = None
        self.failed_status = 0
        self.session: Any = None
        self._advance = None if isinstance(progress, NullProgress) else progress.advance
        self._fail_on_status = plan.fail_on_status if plan.fail_on_status else None
        self._write = outputs.writer.write if outputs.journal is None else None
        self._add = summary.add

    # -- the input side (may run on the engine's thread) --------------------------------

    def specs(self, items: Iterator[InputItem]) -> Iterator[str | dict[str, Any]]:
        """Engine items for the inputs still to do; malformed lines are set aside as errors."""
        position = 0
        # The key costs a hash per input: only compute it when something uses it.
        keyed = (
            self.outputs.journal is not None or self.outputs.saver is not None or len(self.outputs.done) > 0
        )
        try:
            for item in items:
                if item.spec is None:
                    if not self.outputs.done.take(input_key(item.raw)):
                        self.input_errors.append(item)
                    else:
                        self.summary.skipped += 1
                    continue
                spec = effective_spec(item.spec, self.plan)
                key = spec_key(spec, self.plan) if keyed else ""
                if keyed and self.outputs.done.take(key):
                    self.summary.skipped += 1
                    continue
                self.pending[position] = (item, spec, key)
                position += 1
                yield spec.to_engine()
        except InputError as exc:  # the rest of the input is unreadable: stop feeding, report it
            self.input_failure = exc

    # -- the output side (the calling thread) --------------------------------------------

    def drain_input_errors(self) -> None:
        """Write the error records of malformed lines seen so far."""
        while self.input_errors:
            item = self.input_errors.popleft()
            record = input_error_record(item.index, item.raw, item.error or "malformed input")
            self._emit(record, input_key(item.raw))

    def complete(self, batch_index: int, result: Any) -> None:
        """Turn one engine result into a record and emit it."""
        item, spec, key = self.pending.pop(batch_index)
        meta = spec.meta
        if getattr(result, "status_code", None) is None:
            exc = getattr(result, "exception", None) or RuntimeError(repr(result))
            # the retry policy sets `attempts` on the error it gave up on (the batch slot says 1)
            attempts = int(getattr(exc, "attempts", None) or getattr(result, "attempts", 1) or 1)
            record = exception_record(item.index, spec.url, spec.method or "GET", exc, attempts, meta)
        elif self.callback_names or self.outputs.saver is not None:
            record = self._response_record(item, spec, key, result, meta)
        else:
            record = response_record(item.index, spec.url, spec.method or "GET", result, meta)
        self._emit(record, key)

    def _response_record(
        self, item: InputItem, spec: RequestSpec, key: str, response: Any, meta: Any
    ) -> Record:
        record = response_record(item.index, spec.url, spec.method or "GET", response, meta)
        if self.callback_names:
            apply_callback_results(record, getattr(response, "callbacks", None), self.callback_names)
        if self.outputs.saver is not None:
            content_type = response.headers.get("content-type")
            record["file"] = self.outputs.saver.save(record, key, response.content, content_type)
        return record

    def _emit(self, record: Record, key: str) -> None:
        failed = self._fail_on_status(record["status"]) if self._fail_on_status is not None else False
        if self._write is not None:
            self._write(record)
        else:
            self.outputs.emit(record, key)
        self._add(record, failed)
        if self._advance is not None:
            self._advance(record, _total_wait(self.session))


def _total_wait(session: Any) -> float:
    """Wall-clock seconds during which requests were held by the limiter so far (0 without a limiter):
    ten requests waiting the same second count one second, as in the summary."""
    return float(getattr(session, "limiter_busy_any", 0.0))


def _batch_options(plan: FetchPlan) -> dict[str, Any]:
    """``iter_requests`` keywords for a plan, the same for the sync and the async driver."""
    callbacks = load_callbacks(plan.callbacks)
    return {
        "concurrency": plan.concurrency,
        "callbacks": callbacks,
        "return_callbacks": bool(callbacks),
        "progress": False,
        **plan.request_kwargs(),
    }


def _drive(state: RunState, session: Any, reader: InputReader, plan: FetchPlan) -> None:
    """The sync driver (a `Session` from a custom factory): results cross from the loop thread."""
    results = session.iter_requests(state.specs(iter(reader)), **_batch_options(plan))
    try:
        for batch_index, result in results:
            state.complete(batch_index, result)
            if state.input_errors:
                state.drain_input_errors()
    finally:
        close = getattr(results, "close", None)
        if close is not None:
            close()
        state.drain_input_errors()


async def _adrive(state: RunState, session: Any, reader: InputReader, plan: FetchPlan) -> None:
    """The async driver: the batch, the records and their writes share the running loop."""
    outputs = state.outputs
    outputs.defer()
    loop = asyncio.get_running_loop()
    scheduled = False
    failures: list[BaseException] = []

    def flush() -> None:  # once per loop turn in which records completed
        nonlocal scheduled
        scheduled = False
        try:
            outputs.flush()
        except BaseException as exc:  # raised again in the consumer (a callback would only log it)
            failures.append(exc)

    complete = state.complete
    async with session:
        results = session.iter_requests(state.specs(iter(reader)), **_batch_options(plan))
        try:
            async for batch_index, result in results:
                complete(batch_index, result)
                if state.input_errors:
                    state.drain_input_errors()
                if not scheduled:
                    if failures:
                        raise failures[0]
                    scheduled = True
                    loop.call_soon(flush)
        finally:
            aclose = getattr(results, "aclose", None)
            if aclose is not None:
                await aclose()
            state.drain_input_errors()
            if not failures:
                outputs.flush()
    if failures:
        raise failures[0]


def _exit_code(state: RunState, interrupted: bool) -> ExitCode:
    if interrupted:
        return ExitCode.INTERRUPTED
    if state.input_failure is not None:
        return ExitCode.INPUT
    summary = state.summary
    if summary.transport_errors or summary.failed_status:
        return ExitCode.FAILURES
    return ExitCode.OK


def _report(state: RunState, console: Console, plan: FetchPlan) -> None:
    summary = state.summary
    summary.finish()
    session = state.session
    for scope, seconds in getattr(session, "limiter_busy", {}).items():  # wall clock, per scope
        summary.add_wait(scope, seconds)
    data = summary.to_dict()
    if plan.summary_json:
        try:
            Path(plan.summary_json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:  # checked before the run; it went away since
            problem = exc.strerror or exc
            console.print(f"[red]error:[/red] --summary-json: cannot write: {problem}", highlight=False)
    if state.input_failure is not None:
        console.print(f"[red]error:[/red] {state.input_failure}", highlight=False)
    if not plan.quiet:
        for line in render_summary(data):
            console.print(line, highlight=False, markup=False, soft_wrap=True)


def run_fetch(
    plan: FetchPlan,
    *,
    console: Console,
    stdout: IO[bytes],
    stdout_tty: bool = False,
    session_factory: SessionFactory | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExitCode:
    """Run the whole fetch; returns the exit code. Raises `InputError` / `UsageError` before sending."""
    if session_factory is None:
        from sessions_cli.fetch.session import open_session

        session_factory = open_session
    interrupted = False
    with ExitStack() as stack:
        reader = stack.enter_context(InputReader(plan.urls, plan.inputs, plan.input_format))
        load_callbacks(plan.callbacks)  # fail on a bad --callback before any request
        # The session first: a bad backend (an unreachable --redis-url) must fail before -o is opened,
        # which truncates the file (a failed run never destroys the previous output).
        session = session_factory(plan)
        try:
            outputs = Outputs(plan, stdout, stdout_tty, stack)
        except BaseException:
            _close_unused(session)
            raise
        total = _total(plan)
        progress = stack.enter_context(make_progress(console, plan.progress, total))
        state = RunState(plan, outputs, Summary(clock=clock), progress)
        state.session = session
        try:
            if hasattr(session, "__aenter__"):
                asyncio.run(_adrive(state, session, reader, plan))
            else:
                with session:
                    _drive(state, session, reader, plan)
        except KeyboardInterrupt:
            interrupted = True
    _report(state, console, plan)
    if interrupted:
        console.print(
            "interrupted: finished records were written; rerun with --resume to finish", highlight=False
        )
    return _exit_code(state, interrupted)


def _close_unused(session: Any) -> None:
    """Close a session that never ran (its pool, limiter and cache backends, a temporary redis-server)."""
    if hasattr(session, "aclose"):
        asyncio.run(session.aclose())
    else:
        session.close()


def _total(plan: FetchPlan) -> int | None:
    if not plan.progress:
        return None
    from_file = count_lines(plan.inputs)
    return None if from_file is None else from_file + len(plan.urls)
