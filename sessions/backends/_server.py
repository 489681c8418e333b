"""A temporary ``redis-server`` owned by this process (the seed's default Redis behaviour).

`TemporaryRedisServer` starts the ``redis-server`` found on ``PATH`` in a private
temporary directory (mode 0700), listening on a unix socket there (or on a free loopback
port), with no persistence unless a ``dbfilename`` is given. It is stopped by `stop()`, when
the object is garbage-collected, or at interpreter exit — whichever comes first — through
one `weakref.finalize` (which is also an ``atexit`` hook).

Fork safety: the finalizer and `stop()` only act in the process that started the server,
so a forked child exiting (or garbage-collecting its copy) never kills the parent's server.

We are allowed to stop this server because we started it; nothing in this package sends
SHUTDOWN, FLUSHDB, FLUSHALL or KEYS to any other server.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

from sessions._exceptions import BackendUnavailable

__all__ = ["MAXMEMORY_POLICIES", "TemporaryRedisServer", "find_redis_server", "validate_maxmemory"]

#: The eight eviction policies Redis accepts for ``maxmemory-policy``.
MAXMEMORY_POLICIES: tuple[str, ...] = (
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
    "noeviction",
)

_INSTALL_HINT = (
    "install Redis (e.g. `apt-get install redis-server`, `dnf install redis`, `brew install redis`) "
    "so that `redis-server` is on PATH, or pass url=/host=/conn= to use an existing Redis server"
)
# Unix socket paths longer than this do not fit in sockaddr_un on Linux/macOS.
_MAX_SOCKET_PATH = 100
_STARTUP_TIMEOUT_S = 10.0
_STOP_TIMEOUT_S = 5.0


def find_redis_server(binary: str | os.PathLike[str] | None = None) -> str:
    """Locate the ``redis-server`` executable, or raise `BackendUnavailable` saying how to fix it."""
    name = os.fspath(binary) if binary is not None else "redis-server"
    found = shutil.which(name)
    if found is None:
        raise BackendUnavailable(
            f"cannot start a temporary Redis: {name!r} was not found on PATH; {_INSTALL_HINT}"
        )
    return found


def validate_maxmemory(value: str | int) -> str:
    """Normalise ``maxmemory`` (bytes, or Redis units like ``"100mb"``) or raise ValueError."""
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        raise ValueError(
            f"maxmemory must be a non-negative number of bytes or a size like '100mb', not {value!r}"
        )
    text = str(value).strip().lower().replace(" ", "")
    digits = text.rstrip("kmgb")
    unit = text[len(digits) :]
    if not digits.isdigit() or unit not in ("", "k", "kb", "m", "mb", "g", "gb"):
        raise ValueError(
            f"maxmemory must be a non-negative number of bytes or a size like '100mb', not {value!r}"
        )
    return text


@dataclass(frozen=True, slots=True)
class _Config:
    """What the server is started with; kept so `restart()` reuses it exactly."""

    binary: str
    workdir: Path
    unix_socket: Path | None
    port: int
    dump_dir: Path | None
    dbfilename: str | None
    maxmemory: str
    maxmemory_policy: str

    def lines(self) -> list[str]:
        """The redis.conf lines for this configuration."""
        lines = [
            "bind 127.0.0.1",
            "protected-mode yes",
            f"port {self.port}",
            "daemonize no",
            f'logfile "{self.workdir / "redis.log"}"',
            f"maxmemory {self.maxmemory}",
            f"maxmemory-policy {self.maxmemory_policy}",
            "appendonly no",
        ]
        if self.unix_socket is not None:
            lines += [f'unixsocket "{self.unix_socket}"', "unixsocketperm 700"]
        if self.dbfilename is None:
            # No RDB snapshots at all: a temporary server leaves nothing behind.
            lines += ['save ""', f'dir "{self.workdir}"']
        else:
            lines += [
                f'dir "{self.dump_dir}"',
                f'dbfilename "{self.dbfilename}"',
                "save 3600 1 300 100 60 10000",
            ]
        return lines


class TemporaryRedisServer:
    """A ``redis-server`` child process living in a private temporary directory.

    Args:
        binary: The executable (default ``redis-server`` from ``PATH``).
        unix_socket: Listen on a unix socket in the private directory (default; fastest,
            and reachable only by this user). ``False`` listens on a free loopback port.
        dbfilename: Persist to this RDB file (relative names go to the current directory's
            absolute path resolved now) and load it on start; ``None`` disables persistence.
        maxmemory: ``0`` (unlimited) or bytes / a size such as ``"256mb"``.
        maxmemory_policy: One of `MAXMEMORY_POLICIES`.

    Raises:
        BackendUnavailable: ``redis-server`` is missing or failed to start.
        ValueError: an invalid ``maxmemory`` or ``maxmemory_policy``.
    """

    def __init__(
        self,
        *,
        binary: str | os.PathLike[str] | None = None,
        unix_socket: bool = True,
        dbfilename: str | os.PathLike[str] | None = None,
        maxmemory: str | int = 0,
        maxmemory_policy: str = "noeviction",
    ) -> None:
        if maxmemory_policy not in MAXMEMORY_POLICIES:
            raise ValueError(
                f"maxmemory_policy {maxmemory_policy!r} is not a Redis eviction policy; "
                f"valid: {', '.join(MAXMEMORY_POLICIES)}"
            )
        memory = validate_maxmemory(maxmemory)
        executable = find_redis_server(binary)
        workdir = Path(tempfile.mkdtemp(prefix="sessions-redis-"))  # mkdtemp: mode 0700
        self._config = _make_config(executable, workdir, unix_socket, dbfilename, memory, maxmemory_policy)
        self._owner_pid = os.getpid()
        self._process: subprocess.Popen[bytes] | None = None
        self._finalizer = weakref.finalize(self, _finalize, id(self), workdir, self._owner_pid)
        try:
            self.start()
        except BaseException:
            self._finalizer()
            raise

    # ----------------------------------------------------------------- addresses
    @property
    def unix_socket(self) -> str | None:
        """Path of the unix socket, or ``None`` when listening on TCP."""
        return None if self._config.unix_socket is None else str(self._config.unix_socket)

    @property
    def host(self) -> str:
        """The TCP host (always loopback)."""
        return "127.0.0.1"

    @property
    def port(self) -> int:
        """The TCP port, ``0`` when listening only on the unix socket."""
        return self._config.port

    @property
    def url(self) -> str:
        """A redis-py URL for this server (``unix://…`` or ``redis://127.0.0.1:port``)."""
        if self._config.unix_socket is not None:
            return f"unix://{self._config.unix_socket}"
        return f"redis://{self.host}:{self.port}"

    def connection_kwargs(self) -> dict[str, object]:
        """Keyword arguments for ``redis.Redis(...)`` / ``redis.asyncio.Redis(...)``."""
        if self._config.unix_socket is not None:
            return {"unix_socket_path": str(self._config.unix_socket)}
        return {"host": self.host, "port": self.port}

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def workdir(self) -> Path:
        """The private temporary directory (socket, config, log)."""
        return self._config.workdir

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the server (no-op if it runs) and wait until it answers PING."""
        if self.running:
            return
        conf = self._config.workdir / "redis.conf"
        conf.write_text("\n".join(self._config.lines()) + "\n", encoding="utf-8")
        if self._config.unix_socket is not None:
            with contextlib.suppress(FileNotFoundError):
                self._config.unix_socket.unlink()
        self._process = subprocess.Popen(
            [self._config.binary, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            close_fds=True,
        )
        _processes[id(self)] = self._process
        self._wait_ready(self._process)

    def stop(self) -> None:
        """Stop the server (saving first if a ``dbfilename`` was given); idempotent.

        In a forked child this does nothing: the server belongs to the parent.
        """
        if os.getpid() != self._owner_pid or self._process is None:
            return
        _terminate(self._process)
        _processes.pop(id(self), None)
        self._process = None

    def restart(self) -> None:
        """Stop and start again on the same address (same socket path or port)."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the server and remove its temporary directory."""
        self._finalizer()

    def __enter__(self) -> TemporaryRedisServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<TemporaryRedisServer {self.url} {state}>"

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        """Poll the address until the server answers, or report why it died."""
        deadline = time.monotonic() + _STARTUP_TIMEOUT_S
        delay = 0.002
        while time.monotonic() < deadline:
            if process.poll() is not None:
                self._process = None
                _processes.pop(id(self), None)
                raise BackendUnavailable(
                    f"redis-server exited at startup: {_failure_details(process, self.workdir)}"
                )
            if _answers_ping(self._config):
                return
            time.sleep(delay)  # startup takes a few ms; back off up to 50 ms between probes
            delay = min(delay * 2, 0.05)
        self.stop()
        raise BackendUnavailable(f"redis-server did not become ready within {_STARTUP_TIMEOUT_S:.0f} s")


# Live server processes by owner id, so the finalizer (which must not reference the owner,
# or the owner would never be collected) still finds the *current* process after restart().
_processes: dict[int, subprocess.Popen[bytes]] = {}


def _make_config(
    binary: str,
    workdir: Path,
    unix_socket: bool,
    dbfilename: str | os.PathLike[str] | None,
    maxmemory: str,
    policy: str,
) -> _Config:
    """Choose the address and the dump location."""
    sock = workdir / "redis.sock"
    use_socket = unix_socket and len(str(sock)) <= _MAX_SOCKET_PATH
    dump_dir: Path | None = None
    name: str | None = None
    if dbfilename is not None:
        dump = Path(os.fspath(dbfilename)).expanduser().absolute()
        dump.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        dump_dir, name = dump.parent, dump.name
    return _Config(
        binary=binary,
        workdir=workdir,
        unix_socket=sock if use_socket else None,
        port=0 if use_socket else _free_port(),
        dump_dir=dump_dir,
        dbfilename=name,
        maxmemory=maxmemory,
        maxmemory_policy=policy,
    )


def _free_port() -> int:
    """A loopback port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers_ping(config: _Config) -> bool:
    """Send an inline PING over a raw socket (no redis-py import needed)."""
    try:
        if config.unix_socket is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = str(config.unix_socket)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = ("127.0.0.1", config.port)
        with sock:
            sock.settimeout(0.5)
            sock.connect(address)
            sock.sendall(b"PING\r\n")
            # While loading a dump the server answers -LOADING; only +PONG means ready.
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _failure_details(process: subprocess.Popen[bytes], workdir: Path) -> str:
    """Exit code plus the tail of stderr and the log, for an actionable error."""
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    if process.stderr is not None:
        process.stderr.close()
    log = workdir / "redis.log"
    tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
    return f"exit code {process.returncode}; {err.strip()} {tail.strip()}".strip()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (Redis saves if configured, then exits), SIGKILL if it hangs."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stderr is not None:
        process.stderr.close()


def _finalize(key: int, workdir: Path, owner_pid: int) -> None:
    """Stop the server and delete its directory — only in the process that started it."""
    if os.getpid() != owner_pid:
        return
    process = _processes.pop(key, None)
    if process is not None:
        _terminate(process)
    shutil.rmtree(workdir, ignore_errors=True)
