"""The progress bar (stderr, TTY only): done/total, req/s, ETA, errors, cache hits, limiter wait, and on a
cluster run the number of workers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sessions_cli.fetch.records import Record

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["NullProgress", "ProgressView", "make_progress"]


class NullProgress:
    """No progress display (not a TTY, `--no-progress`, `-q`)."""

    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    def advance(self, record: Record, waited: float = 0.0) -> None:
        """Nothing to show (`waited`: total limiter wait so far)."""

    def workers(self, count: int) -> None:
        """Nothing to show (a cluster run's worker count)."""


class ProgressView:
    """A Rich progress bar on the injected (stderr) console."""

    def __init__(self, console: Console, total: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        from sessions_cli._console import real_console

        self._progress = Progress(
            TextColumn("fetch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}/s"),
            TimeRemainingColumn(),
            TextColumn("err {task.fields[errors]}  cache {task.fields[hits]}  wait {task.fields[wait]:.1f}s"),
            TextColumn("{task.fields[workers]}"),
            console=real_console(console),
            transient=True,
        )
        self._task = self._progress.add_task(
            "fetch", total=total, errors=0, hits=0, wait=0.0, rate="-", workers=""
        )
        self._counts: dict[str, Any] = {"errors": 0, "hits": 0, "wait": 0.0}

    def __enter__(self) -> ProgressView:
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def advance(self, record: Record, waited: float = 0.0) -> None:
        """Count one finished record."""
        counts = self._counts
        counts["errors"] += record.get("status") is None
        counts["hits"] += bool(record.get("from_cache"))
        counts["wait"] = waited
        task = self._progress.tasks[0]
        speed = task.speed
        total = task.total
        if total is not None and task.completed + 1 > total:
            total = None  # the line count was an estimate
        rate = f"{speed:.0f}" if speed else "-"
        self._progress.update(self._task, advance=1, total=total, rate=rate, **counts)

    def workers(self, count: int) -> None:
        """Show a cluster run's current worker count (a local run shows none)."""
        self._progress.update(self._task, workers=f"workers {count}")


def make_progress(console: Console, enabled: bool, total: int | None) -> ProgressView | NullProgress:
    """A bar when `enabled` and the console is a terminal, else a no-op."""
    if enabled and console.is_terminal:
        return ProgressView(console, total)
    return NullProgress()
