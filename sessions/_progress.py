"""The batch progress bar: Rich, on stderr, only on a terminal unless asked for."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

from .config import SessionConfig

__all__ = ["BatchProgress"]


class BatchProgress:
    """Done/total, rate, ETA and error count for one batch."""

    def __init__(self, total: int | None, *, console: Console | None = None) -> None:
        # rich is imported for a bar only: a batch without one (no terminal, progress=False) never loads it
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._console = console or Console(stderr=True)
        self._progress = Progress(
            TextColumn("[bold]requests"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rate]} req/s"),
            TextColumn("[red]{task.fields[errors]} errors"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self._console,
            transient=False,
        )
        self._task = self._progress.add_task("requests", total=total, rate="-", errors=0)
        self._errors = 0
        self._done = 0
        self._progress.start()

    @classmethod
    def maybe(
        cls, progress: bool | None, total: int | None, *, console: Console | None = None
    ) -> BatchProgress | None:
        """A bar when `progress` is True, or when it is None and stderr is a terminal."""
        if progress is None:
            progress = SessionConfig.progress and sys.stderr.isatty()
        return cls(total, console=console) if progress else None

    def advance(self, result: Any) -> None:
        """Count one finished request (an error when it has no status or is 4xx/5xx)."""
        self._done += 1
        if not getattr(result, "is_success", False) and getattr(result, "status_code", None) is None:
            self._errors += 1
        task = self._progress.tasks[0]
        elapsed = task.elapsed or 0.0
        rate = f"{self._done / elapsed:,.0f}" if elapsed > 0 else "-"
        self._progress.update(self._task, advance=1, errors=self._errors, rate=rate)

    def close(self) -> None:
        """Draw the final state and stop refreshing."""
        self._progress.stop()
