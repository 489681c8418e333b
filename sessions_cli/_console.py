"""The CLI's stderr console, built on first use.

Importing rich's `Console` costs ~35 ms of every start; a quiet run with no bar prints nothing to stderr and
so never needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["DeferredConsole", "real_console"]


class DeferredConsole:
    """Stands in for ``rich.console.Console(stderr=True, highlight=False)``: every attribute (``print``,
    ``is_terminal``, …) is the real console's, which is made on the first one asked for."""

    def __init__(self) -> None:
        self._real: Console | None = None

    @property
    def real(self) -> Console:
        """The console itself, for code that hands it to rich (a `Progress`, a `Live`)."""
        if self._real is None:
            from rich.console import Console

            self._real = Console(stderr=True, highlight=False)
        return self._real

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def real_console(console: Console | DeferredConsole) -> Console:
    """`console` itself, or the console a `DeferredConsole` stands for."""
    return console.real if isinstance(console, DeferredConsole) else console
