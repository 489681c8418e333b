"""`sessions fetch --cluster …`: the coordinator of a run on Dask (the library's `sessions.distributed`).

    inputs ──► RunState.specs() ──► Tagged(request, (index, url, method, meta)) ──► DistributedFetch
                                                                 workers: session batch + record ─┘
    records ◄── RunState._emit (writer, journal, summary, progress) ◄── --save-dir ◄── partition results

The coordinator keeps everything a local run keeps — the input reader, `Outputs` (writer, journal for
`--resume`, `--save-dir`), the summary and the progress bar — and only moves the requests: workers build
each record with the same `records.py` functions and send it back with the body only when `--save-dir`
needs it. Records of a partition are written together, then journaled (`Outputs.flush`), so a SIGINT or
a crash of the coordinator loses nothing `--resume` cannot redo.

Pre-flight, before any request or any output file: the cluster spec, `distributed` installed (the
`sessions[dask]` extra), state that the workers share (a limiter or cache on `memory` is per process, on
`sqlite` per host: a global limit on a remote cluster needs a server — `redis://…`, `postgresql://…` or
`mysql://…`), the session can be built, and every `--callback` imports on every worker (files are
uploaded to the cluster first).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sessions_cli.exit_codes import ExitCode
from sessions_cli.fetch.callbacks import apply_callback_results, load_callbacks
from sessions_cli.fetch.inputs import InputReader
from sessions_cli.fetch.options import UsageError
from sessions_cli.fetch.plan import FetchPlan
from sessions_cli.fetch.progress import make_progress
from sessions_cli.fetch.records import Record, exception_record, response_record
from sessions_cli.fetch.runner import Outputs, RunState, _close_unused, _exit_code, _total
from sessions_cli.fetch.summary import Summary, render_summary

if TYPE_CHECKING:
    from rich.console import Console

    from sessions.distributed import ClusterSpec

__all__ = ["ClusterSummary", "check_shared_state", "cluster_spec", "run_cluster_fetch"]

_SERVER_HINT = "a server every worker reaches: redis://HOST:6379, postgresql://HOST/DB or mysql://HOST/DB"


# --- pre-flight ------------------------------------------------------------------------------------


def cluster_spec(text: str) -> ClusterSpec:
    """The parsed `--cluster` (of `fetch` and `bench`); a usage error names the extra to install when
    `distributed` is missing."""
    from sessions import ConfigurationError
    from sessions.distributed import EXTRA_HINT, parse_cluster

    try:
        spec = parse_cluster(text)
    except ConfigurationError as exc:
        raise UsageError("--cluster", str(exc).removeprefix("cluster: ")) from None
    if importlib.util.find_spec("distributed") is None:
        raise UsageError("--cluster", f"needs Dask distributed: {EXTRA_HINT}")
    return spec


def _per_host_or_process(options: dict[str, Any], remote: bool) -> str | None:
    """The backend's name when its state is per process (memory) or, on a remote cluster, per host (a
    SQLite file, also as `sql` with a file path); None when the workers share it."""
    backend = str(options.get("backend", "memory"))
    if backend == "sql" and "://" not in str(options.get("db", "")):
        backend = "sqlite"
    return backend if backend == "memory" or (backend == "sqlite" and remote) else None


def check_shared_state(plan: FetchPlan, spec: ClusterSpec) -> None:
    """Refuse state the workers would not share: a memory limiter or cache (per process), SQLite on a
    remote cluster (per host), a Redis without a URL (each worker would start its own server)."""
    where = "a remote cluster" if spec.remote else "a cluster"
    if plan.ratelimit is not None and plan.limit_scope == "global":
        backend = _per_host_or_process(plan.ratelimit, spec.remote)
        if backend is not None:
            scope = "process" if backend == "memory" else "host"
            raise UsageError(
                "--backend",
                f"a {backend} limiter is per {scope}: on {where} every worker would allow the whole limit; "
                f"share it through {_SERVER_HINT} as --backend (or say --limit-scope worker for a limit "
                "per worker)",
            )
        if plan.ratelimit.get("backend") == "redis" and "url" not in plan.ratelimit:
            raise UsageError(
                "--redis-url", f"a limit shared by the workers needs the server's URL: {_SERVER_HINT}"
            )
    if plan.cache is not None:
        backend = _per_host_or_process(plan.cache, spec.remote)
        if backend is not None:
            scope = "process" if backend == "memory" else "host"
            raise UsageError("--cache", f"a {backend} cache is per {scope}: on {where} use {_SERVER_HINT}")
        if plan.cache.get("backend") == "redis" and "url" not in plan.cache:
            raise UsageError(
                "--redis-url", f"a cache shared by the workers needs the server's URL: {_SERVER_HINT}"
            )


def _callback_file(module: str) -> Path | None:
    """The file to upload for a callback module: a named .py file, or a module found in the working dir."""
    if module.endswith(".py") or "/" in module or "\\" in module:
        return Path(module)
    found = importlib.util.find_spec(module.partition(".")[0])
    origin = Path(found.origin) if found is not None and found.origin else None
    if origin is not None and origin.parent == Path.cwd() and origin.suffix == ".py":
        return origin  # found through the working directory: the workers have no such module
    return None


def _check_imports(names: Sequence[str]) -> str | None:
    """On a worker: None when every callback loads, else the error."""
    try:
        load_callbacks(names)
    except Exception as exc:
        return str(exc)
    return None


def prepare_callbacks(client: Any, specs: Sequence[str]) -> list[str]:
    """Upload callback files to the cluster and check each `--callback` imports on every worker; the names
    the workers load them by (an uploaded `dir/mod.py` is the module `mod` there)."""
    names = []
    for spec in specs:
        module, _, function = spec.rpartition(":")
        path = _callback_file(module)
        if path is not None:
            try:
                client.upload_file(str(path))
            except Exception as exc:
                raise UsageError("--callback", f"cannot upload {str(path)!r} to the workers: {exc}") from None
            module = path.stem
        names.append(f"{module}:{function}")
    if names:
        for worker, error in sorted(client.run(_check_imports, names).items()):
            if error is not None:
                raise UsageError("--callback", f"worker {worker}: {error}")
    return names


# --- what the workers run (module-level: pickled by reference) ---------------------------------------


def worker_session(plan: FetchPlan) -> Any:
    """The session of one partition, built on the worker from the plan."""
    from sessions_cli.fetch.session import open_session

    return open_session(plan)


def worker_options(plan: FetchPlan, callbacks: Sequence[str]) -> dict[str, Any]:
    """`iter_requests` keywords on the worker (callbacks loaded there by their worker names)."""
    loaded = load_callbacks(callbacks)
    return {
        "concurrency": plan.concurrency,
        "callbacks": loaded,
        "return_callbacks": bool(loaded),
        "progress": False,
        **plan.request_kwargs(),
    }


@dataclass(frozen=True)
class Built:
    """A record made on a worker, with the body when `--save-dir` keeps it."""

    record: Record
    body: bytes | None = None
    content_type: str | None = None


def worker_record(names: Sequence[str], save: bool, position: int, result: Any, tag: Any) -> Built:
    """The record of one result, built on the worker exactly as a local run builds it."""
    index, url, method, meta = tag
    if getattr(result, "status_code", None) is None:
        exc = getattr(result, "exception", None) or RuntimeError(repr(result))
        attempts = int(getattr(result, "attempts", 1) or 1)
        return Built(exception_record(index, url, method, exc, attempts, meta))
    record = response_record(index, url, method, result, meta)
    if names:
        apply_callback_results(record, getattr(result, "callbacks", None), names)
    if not save:
        return Built(record)
    return Built(record, bytes(result.content), result.headers.get("content-type"))


# --- the coordinator ---------------------------------------------------------------------------------


@dataclass
class ClusterSummary(Summary):
    """The local summary plus what only a cluster run has: the workers and the requests re-sent."""

    workers: int = 0
    resent: int = 0
    not_resent: int = 0

    def to_dict(self) -> dict[str, Any]:
        """`Summary.to_dict()` plus `workers`, `resent` and `not_resent`."""
        data = super().to_dict()
        data.update(workers=self.workers, resent=self.resent, not_resent=self.not_resent)
        return data


def _tagged(state: RunState, items: Iterator[Any]) -> Iterator[Any]:
    from sessions.distributed import Tagged

    for position, request in enumerate(state.specs(items)):
        item, spec, _ = state.pending[position]
        yield Tagged(request, (item.index, spec.url, spec.method or "GET", spec.meta))


def _emit_partition(state: RunState, results: list[tuple[int, Built]]) -> None:
    saver = state.outputs.saver
    for position, built in results:
        _, _, key = state.pending.pop(position)
        record = built.record
        if saver is not None and built.body is not None:
            record["file"] = saver.save(record, key, built.body, built.content_type)
        state._emit(record, key)
    state.drain_input_errors()
    state.outputs.flush()  # the partition's records, then their journal lines


def _drive(state: RunState, batch: Any, summary: ClusterSummary) -> None:
    state.outputs.defer()
    try:
        for outcome in batch.partitions():
            _emit_partition(state, outcome.results)
            summary.workers, summary.resent, summary.not_resent = (
                batch.workers,
                batch.resent,
                batch.not_resent,
            )
            state.progress.workers(batch.workers)
    finally:
        summary.workers = batch.workers
        state.drain_input_errors()
        state.outputs.flush()


def _preflight(plan: FetchPlan, client: Any) -> list[str]:
    from sessions_cli.fetch.session import open_session

    _close_unused(open_session(plan))  # an unreachable --redis-url fails here, before -o is opened
    return prepare_callbacks(client, plan.callbacks)


def _open_client(stack: ExitStack, spec: ClusterSpec) -> Any:
    from sessions.distributed import open_client

    try:
        return stack.enter_context(open_client(spec))
    except OSError as exc:  # distributed's connect timeouts are OSErrors
        raise UsageError("--cluster", f"cannot reach the scheduler at {spec}: {exc}") from None


def run_cluster_fetch(
    plan: FetchPlan,
    *,
    console: Console,
    stdout: IO[bytes],
    stdout_tty: bool = False,
    clock: Callable[[], float] = time.monotonic,
) -> ExitCode:
    """Run the fetch on the cluster named by `plan.cluster`; the exit codes of a local run."""
    from sessions.distributed import DistributedFetch

    spec = cluster_spec(plan.cluster or "")
    check_shared_state(plan, spec)
    interrupted = False
    failure: str | None = None
    with ExitStack() as stack:
        reader = stack.enter_context(InputReader(plan.urls, plan.inputs, plan.input_format))
        load_callbacks(plan.callbacks)  # a bad --callback fails before the cluster starts
        client = _open_client(stack, spec)
        worker_names = _preflight(plan, client)
        outputs = Outputs(plan, stdout, stdout_tty, stack)
        progress = stack.enter_context(make_progress(console, plan.progress, _total(plan)))
        summary = ClusterSummary(clock=clock)
        state = RunState(plan, outputs, summary, progress)
        batch = DistributedFetch(
            _tagged(state, iter(reader)),
            cluster=client,
            session=partial(worker_session, plan),
            options=partial(worker_options, plan, worker_names),
            transform=partial(worker_record, tuple(plan.callbacks), plan.save_dir is not None),
            partition_size=plan.partition_size,
            resend_unsafe=plan.resend_unsafe,
        )
        stack.callback(batch.close)
        try:
            _drive(state, batch, summary)
        except KeyboardInterrupt:
            interrupted = True
        except Exception as exc:  # a partition failed on the cluster (not a request: those are records)
            failure = f"a cluster task failed, the run stopped: {type(exc).__name__}: {exc}"
    _report(state, summary, console, plan)
    if interrupted:
        console.print(
            "interrupted: finished records were written; rerun with --resume to finish", highlight=False
        )
    if failure is not None:
        from rich.markup import escape

        message = f"[red]error:[/red] {escape(failure)}; finished records were written: rerun with --resume"
        console.print(message, highlight=False, soft_wrap=True)
        return ExitCode.FAILURES
    return _exit_code(state, interrupted)


def _report(state: RunState, summary: ClusterSummary, console: Console, plan: FetchPlan) -> None:
    import json

    summary.finish()
    data = summary.to_dict()
    if plan.summary_json:
        Path(plan.summary_json).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    if state.input_failure is not None:
        console.print(f"[red]error:[/red] {state.input_failure}", highlight=False)
    if not plan.quiet:
        lines = render_summary(data)
        cluster = f"{data['workers']} workers, {data['resent']} re-sent, {data['not_resent']} not re-sent"
        lines.insert(1, f"Cluster    {cluster}")
        for line in lines:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
