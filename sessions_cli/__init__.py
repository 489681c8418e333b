"""`sessions` command-line interface: a batch fetcher on the `sessions` library.

The package is imported on every CLI start, so it imports nothing heavy: the HTTP
stack (httpx, aiohttp, the library itself) is imported inside the commands.
"""

from __future__ import annotations

__all__ = ["__version__"]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("sessions")
    except PackageNotFoundError:  # running from a source checkout
        return "0.2.0.dev0"


__version__ = _version()
