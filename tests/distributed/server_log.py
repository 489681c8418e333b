"""The recording server (`_netns_server.py`) as a test sees it: a process of its own, and its live log.

The server runs in its own process so that what it logs is when a request reached it, not when a busy test
process (a Dask scheduler, a client, threads) got around to it; `start_recording_server` runs one on
loopback for the `LocalCluster` tests, the namespace tests start theirs inside a namespace.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]

#: A fault lands while the server holds a request of the faulted worker younger than this, on /delay/0.4.
FRESH = 0.15


@dataclass(frozen=True)
class Arrival:
    """One request as the server logged it."""

    number: int
    peer: str
    monotonic: float
    wall: float
    method: str
    path: str
    answered: bool


class ServerLog:
    """The recording server's live log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[Arrival]:
        if not self.path.exists():
            return []
        started: dict[int, list[str]] = {}
        answered: set[int] = set()
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            if not line.endswith("\n"):
                break  # being written
            kind, number, *rest = line.split()
            if kind == "S":
                started[int(number)] = rest
            else:
                answered.add(int(number))
        return [
            Arrival(number, peer, float(mono), float(wall), method, path, number in answered)
            for number, (peer, mono, wall, method, path) in started.items()
        ]

    def under(self, prefix: str) -> list[Arrival]:
        return [a for a in self.read() if a.path.startswith(prefix)]

    def fresh_request(self, peer: str, prefix: str) -> bool:
        """Whether `peer` has an unanswered request under `prefix` that arrived less than FRESH s ago."""
        now = time.monotonic()
        return any(
            a.peer == peer and not a.answered and now - a.monotonic < FRESH for a in self.under(prefix)
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def start_recording_server(work: Path) -> Iterator[tuple[str, ServerLog]]:
    """A recording server on 127.0.0.1 in its own process: `(base URL, its log)`; stopped on exit."""
    port, log = _free_port(), ServerLog(work / "server.log")
    argv = [sys.executable, "-m", "tests.distributed._netns_server", "127.0.0.1", str(port), str(log.path)]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/get", timeout=1).raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the recording server did not start") from None
                time.sleep(0.05)
        yield base, log
    finally:
        process.kill()
        process.wait(timeout=10)
