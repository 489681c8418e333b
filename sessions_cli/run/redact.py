"""Keeping secrets out of the output.

* Environment values are replaced by `***` wherever they appear (`Redactor`).
* A value *derived* from a secret (`Basic {{ (user ~ ':' ~ env.PASS) | b64encode }}`) does not
  contain the secret, so substring masking misses it. Two rules cover it:
  - credential headers (`Authorization`, `Proxy-Authorization`, `Cookie`, `X-Api-Key`, …) are
    shown masked in `--dry-run` output, keeping only the auth scheme (`Basic ***`);
  - when a credential header's template reads `env.NAME`, the runner teaches its rendered
    credential to the `Redactor`, so an echo of it (a capture, an assertion message) is masked too.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from sessions.cache import CREDENTIAL_PARAMETERS

__all__ = ["MASK", "SENSITIVE_HEADERS", "Redactor", "credential", "mask_headers"]

MASK = "***"

# The names the cache treats as credentials (headers among them): one list for what is kept secret.
SENSITIVE_HEADERS = CREDENTIAL_PARAMETERS
_AUTH_HEADERS = frozenset({"authorization", "proxy-authorization"})
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)\s+(?P<credential>\S.*)$", re.DOTALL)
_PLACEHOLDER = re.compile(r"^<[^<>]+>$")  # a dry-run stand-in for a captured value: nothing to hide


class Redactor:
    """Replaces every secret (longest first) inside strings of nested dicts and lists."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def learn(self, secret: str) -> None:
        """Mask `secret` from now on as well (a value derived from a secret; 3+ characters)."""
        if len(secret) >= 3 and secret not in self.secrets:
            # one assignment: the runner renders on the session's thread while records are written
            self.secrets = tuple(sorted({*self.secrets, secret}, key=len, reverse=True))

    def text(self, value: str) -> str:
        """`value` with each secret masked."""
        for secret in self.secrets:
            if secret in value:
                value = value.replace(secret, MASK)
        return value

    def __call__(self, value: Any) -> Any:
        if not self.secrets:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self(k): self(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self(item) for item in value]
        return value


def _split(name: str, value: str) -> tuple[str, str]:
    """(auth scheme or "", the secret part) of a credential header's value."""
    value = value.strip()
    if name.lower() in _AUTH_HEADERS:
        match = _SCHEME.match(value)
        if match:
            return match.group("scheme"), match.group("credential").strip()
    return "", value


def credential(name: str, value: str) -> str:
    """The secret part of a credential header: after the scheme for Authorization, else all of it."""
    return _split(name, value)[1]


def mask_headers(headers: Mapping[str, Any]) -> dict[str, Any]:
    """`headers` with credential headers masked: `Basic ***`, `***` (dry-run placeholders kept)."""
    masked: dict[str, Any] = {}
    for name, value in headers.items():
        scheme, secret = _split(name, str(value)) if name.lower() in SENSITIVE_HEADERS else ("", "")
        if not secret or _PLACEHOLDER.match(secret):
            masked[name] = value
        else:
            masked[name] = f"{scheme} {MASK}" if scheme else MASK
    return masked
