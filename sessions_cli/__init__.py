"""`sessions` command-line interface: a batch fetcher on the `sessions` library.

The package is imported on every CLI start, so it imports nothing heavy: the HTTP
stack (httpx, aiohttp, the library itself) is imported inside the commands.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    # Looked up only when asked for: importing importlib.metadata costs ~60 ms of every start.
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sessions")
    except PackageNotFoundError:  # running from a source checkout
        return "0.2.0.dev0"
