"""Process-wide switches kept from the original interface.

    from sessions.config import SessionConfig
    SessionConfig.return_callbacks = True

Every switch here can also be given per call (`session.requests(..., return_callbacks=True)`),
which is what library code should prefer: a global is shared by everything in the process.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = ["SessionConfig"]


class SessionConfig:
    """Defaults read at call time by the batch engine."""

    #: Attach the tuple of callback results to each response as `response.callbacks`.
    return_callbacks: ClassVar[bool] = False
    #: Default number of requests in flight in `requests()` / `iter_requests()`.
    concurrency: ClassVar[int] = 32
    #: Show a progress bar in batches when stderr is a terminal (`progress=None`).
    progress: ClassVar[bool] = True
