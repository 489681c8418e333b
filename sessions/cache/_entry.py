"""`CachedEntry`: one stored response (or a Vary index), independent of any storage."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from itertools import chain
from typing import Final

__all__ = ["RESPONSE", "VARY_INDEX", "CachedEntry", "EntryInfo"]

RESPONSE: Final = 0
VARY_INDEX: Final = 1
"""Kind of an entry stored at a primary key whose response had `Vary`: it lists the header names, and
the responses themselves live at variant keys (`KeyBuilder.variant`)."""


@dataclass(slots=True, eq=False)
class CachedEntry:
    """A stored response. Bodies are stored decoded (no Content-Encoding) and secrets redacted."""

    key: str
    method: str
    url: str  # normalised, credential values replaced by REDACTED
    status: int
    headers: list[tuple[bytes, bytes]]  # raw, as httpx keeps them (no re-encoding on a hit)
    content: bytes
    created_at: float  # when it was received or last revalidated (epoch seconds)
    expires: float | None  # epoch seconds; None = never
    request_headers: list[tuple[str, str]] = field(default_factory=list)  # redacted
    vary: tuple[str, ...] = ()  # lower-case names from the response's Vary header
    kind: int = RESPONSE
    _lower: dict[str, str] | None = field(default=None, repr=False)

    @property
    def header_map(self) -> dict[str, str]:
        """Lower-case name → value (repeated headers joined by ", "); computed once per object."""
        if self._lower is None:
            lower: dict[str, str] = {}
            for name_b, value_b in self.headers:
                low, value = name_b.decode("latin-1").lower(), value_b.decode("latin-1")
                lower[low] = f"{lower[low]}, {value}" if low in lower else value
            self._lower = lower
        return self._lower

    @property
    def size(self) -> int:
        """Approximate stored size in bytes (body + headers), used for size caps."""
        names_and_values = sum(map(len, chain.from_iterable(self.headers)))
        return 64 + len(self.content) + len(self.url) + names_and_values + 4 * len(self.headers)

    @property
    def cache_control(self) -> str:
        """The stored response's Cache-Control header ("" when absent)."""
        return self.header_map.get("cache-control", "")

    def is_expired(self, now: float | None = None) -> bool:
        """True when the entry is past its freshness deadline."""
        return self.expires is not None and (time.time() if now is None else now) >= self.expires

    def info(self) -> EntryInfo:
        """Metadata view (no body) as the inspection API returns it."""
        return EntryInfo(
            self.key, self.method, self.url, self.status, self.created_at, self.expires, self.size
        )


@dataclass(frozen=True, slots=True)
class EntryInfo:
    """What storages can list without decoding bodies: used by `session.cache` inspection."""

    key: str
    method: str
    url: str
    status: int
    created_at: float
    expires: float | None
    size: int

    def is_expired(self, now: float | None = None) -> bool:
        """True when the entry is past its freshness deadline."""
        return self.expires is not None and (time.time() if now is None else now) >= self.expires
