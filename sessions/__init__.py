"""sessions — HTTP sessions on httpx with exact rate limiting, HTTP caching and a fast batch engine.

from sessions import Session, CacheMixin, RatelimitMixin

class Session(CacheMixin, RatelimitMixin, Session):
    pass

with Session(type="gcra", limit=5, period=2) as s:
    responses = s.requests(urls, callbacks=[print])
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._exceptions import (
    BackendError,
    BackendUnavailable,
    BatchError,
    CacheError,
    ConfigurationError,
    ImpossibleRequest,
    RateLimitExceeded,
    SessionsError,
)
from ._lazy import lazy_exports as _lazy_exports

if TYPE_CHECKING:
    from ._container import SessionContainer, SyncSessionContainer, attach_session
    from ._models import ErrorResult, RequestSpec, Response
    from ._retry import Retry, RetryError
    from ._session import AsyncSession, Session
    from .cache import CacheMixin, cache_disabled
    from .config import SessionConfig
    from .ratelimit import AsyncLimiter, Decision, Limiter, Rate, RatelimitMixin

# Imported on first use (see `_lazy`): `from sessions import Session` loads the HTTP stack, not the cache,
# the limiter's storages or the containers.
__getattr__, __dir__ = _lazy_exports(
    __name__,
    globals(),
    {
        "SessionContainer": "._container",
        "SyncSessionContainer": "._container",
        "attach_session": "._container",
        "ErrorResult": "._models",
        "RequestSpec": "._models",
        "Response": "._models",
        "Retry": "._retry",
        "RetryError": "._retry",
        "AsyncSession": "._session",
        "Session": "._session",
        "CacheMixin": ".cache",
        "cache_disabled": ".cache",
        "SessionConfig": ".config",
        "AsyncLimiter": ".ratelimit",
        "Decision": ".ratelimit",
        "Limiter": ".ratelimit",
        "Rate": ".ratelimit",
        "RatelimitMixin": ".ratelimit",
    },
)

__version__ = "0.2.0.dev0"

__all__ = [
    "AsyncLimiter",
    "AsyncSession",
    "BackendError",
    "BackendUnavailable",
    "BatchError",
    "CacheError",
    "CacheMixin",
    "ConfigurationError",
    "Decision",
    "ErrorResult",
    "ImpossibleRequest",
    "Limiter",
    "Rate",
    "RateLimitExceeded",
    "RatelimitMixin",
    "RequestSpec",
    "Response",
    "Retry",
    "RetryError",
    "Session",
    "SessionConfig",
    "SessionContainer",
    "SessionsError",
    "SyncSessionContainer",
    "__version__",
    "attach_session",
    "cache_disabled",
]
