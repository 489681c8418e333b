"""Test hosts out of Linux network namespaces: one private /24 on a bridge, one namespace per host.

    switch namespace: bridge br0 ── v<host> ══ veth ══ eth0 in namespace <host> (10.213.N.x/24)

Nothing is configured in the caller's namespace: the /24 exists only inside the namespaces, and
`Topology.close()` kills every process started in them and deletes every namespace (their veths go with
them), also after a failure. Needs root (CAP_NET_ADMIN) and `ip`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]


class NamespaceUnavailable(RuntimeError):
    """Namespaces cannot be created here (not root, no `ip`, no CAP_NET_ADMIN)."""


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise NamespaceUnavailable(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Topology:
    """Namespaces named `<prefix>-<host>` on one bridge; `address(host)` is the host's IPv4 address."""

    def __init__(self, hosts: Sequence[str], subnet: int | None = None) -> None:
        if shutil.which("ip") is None:
            raise NamespaceUnavailable("no `ip` command")
        if os.geteuid() != 0:
            raise NamespaceUnavailable("network namespaces need root")
        self.prefix = f"s13-{os.getpid()}"
        self.subnet = subnet if subnet is not None else 100 + os.getpid() % 150
        self.hosts = {host: f"10.213.{self.subnet}.{number}" for number, host in enumerate(hosts, 1)}
        self.processes: list[subprocess.Popen[Any]] = []
        self._made: list[str] = []
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    def ns(self, host: str) -> str:
        """The namespace of `host`."""
        return f"{self.prefix}-{host}"

    def address(self, host: str) -> str:
        """The IPv4 address of `host`."""
        return self.hosts[host]

    def _add(self, name: str) -> None:
        _ip("netns", "add", name)
        self._made.append(name)
        _ip("-n", name, "link", "set", "lo", "up")

    def _build(self) -> None:
        switch = self.ns("switch")
        self._add(switch)
        _ip("-n", switch, "link", "add", "br0", "type", "bridge")
        _ip("-n", switch, "link", "set", "br0", "up")
        for host, address in self.hosts.items():
            self._add(self.ns(host))
            port = f"v{host}"[:15]
            _ip(
                "-n",
                switch,
                "link",
                "add",
                port,
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                self.ns(host),
            )
            _ip("-n", switch, "link", "set", port, "master", "br0", "up")
            _ip("-n", self.ns(host), "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", self.ns(host), "link", "set", "eth0", "up")

    def link(self, host: str, state: str) -> None:
        """Set `host`'s link `up` or `down` (its namespace's eth0)."""
        _ip("-n", self.ns(host), "link", "set", "eth0", state)

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a process in a namespace: this checkout importable, no SESSIONS_* settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SESSIONS_", "DASK_"))}
        env.update(PYTHONPATH=str(ROOT), NO_COLOR="1", **extra)
        return env

    def start(
        self,
        host: str,
        argv: Sequence[str],
        *,
        cwd: Path,
        env: dict[str, str] | None = None,
        stdout: IO[Any] | int | None = subprocess.DEVNULL,
        stderr: IO[Any] | int | None = subprocess.DEVNULL,
    ) -> subprocess.Popen[Any]:
        """Start `argv` inside `host`'s namespace (`ip netns exec` execs it: the pid is the program's)."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(host), *argv], cwd=cwd, env=env or self.env(),
            stdout=stdout, stderr=stderr,
        )  # fmt: skip
        self.processes.append(process)
        return process

    def run(self, host: str, argv: Sequence[str], *, cwd: Path, timeout: float = 60, **env: str) -> Any:
        """Run `argv` in `host`'s namespace to completion (bounded by `timeout`)."""
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(host), *argv], cwd=cwd, env=self.env(**env),
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip

    def stop(self, processes: Sequence[subprocess.Popen[Any]] | None = None) -> None:
        """Kill `processes` (default: every process started here) and reap them."""
        for process in processes if processes is not None else self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)

    def close(self) -> None:
        """Kill every process, delete every namespace."""
        self.stop()
        self.processes.clear()
        for name in reversed(self._made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
        self._made.clear()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll `predicate()` every 20 ms until true; fail after `timeout` seconds naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
