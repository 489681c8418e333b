"""The progress bar as a terminal shows it: counts, and the workers of a cluster run."""

from __future__ import annotations

import io

from rich.console import Console

from sessions_cli.fetch.progress import NullProgress, ProgressView, make_progress


def _terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=200, color_system=None), out


def _shown(view: ProgressView) -> str:
    view._progress.refresh()
    return " ".join(view._progress.console.file.getvalue().split())  # type: ignore[attr-defined]


def test_a_cluster_run_shows_its_workers() -> None:
    console, _ = _terminal()
    with ProgressView(console, total=10) as view:
        view.advance({"index": 0, "status": 200})
        view.workers(3)
        shown = _shown(view)
    assert "1/10" in shown
    assert "workers 3" in shown


def test_a_local_run_shows_no_workers() -> None:
    console, _ = _terminal()
    with ProgressView(console, total=10) as view:
        view.advance({"index": 0, "status": None})
        shown = _shown(view)
    assert "err 1" in shown
    assert "workers" not in shown


def test_no_terminal_no_bar() -> None:
    console = Console(file=io.StringIO(), force_terminal=False)
    progress = make_progress(console, enabled=True, total=3)
    assert isinstance(progress, NullProgress)
    progress.workers(2)  # accepted, shows nothing
    assert console.file.getvalue() == ""  # type: ignore[attr-defined]
