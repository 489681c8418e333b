"""Fast local HTTP servers for the benchmarks.

``bench_server()`` is a context manager yielding a :class:`BenchServer` (``.base_url``, ``.name``):

* **nginx** (preferred): Debian's nginx, installed with ``apt-get`` if the binary is missing and we are root,
  started in the foreground from a generated ``nginx.conf`` in a temporary directory, on a free loopback port,
  one worker process, ``access_log off``, keep-alive for (practically) ever, answering every path with the same
  small static body. It is the server the peer figures in ``/work/shared/REFERENCE.md`` were measured against
  (``wrk`` reaches ~136k req/s on it, so it is never the bottleneck for a Python client).
* **embedded httpbin** (fallback): ``sessions.httpbin.LocalHttpbin`` when nginx cannot be had.  It is an
  aiohttp.web server in a thread of *this* process, so it competes with the client for the GIL: figures against it
  are much lower and only the ratios mean anything.  We say so loudly.

Run ``python -m benchmarks._servers`` (or ``python benchmarks/_servers.py``) to start nginx and print its URL.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

# A small JSON body, about the size of a tiny API answer.
BODY = '{"ok": true, "server": "nginx", "bench": "sessions"}\n'

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
{user_line}
events {{
    worker_connections 4096;
    multi_accept on;
}}

http {{
    access_log off;
    server_tokens off;
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    tcp_nodelay on;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        server_name localhost;
        default_type application/json;
        location / {{
            return 200 '{body}';
        }}
    }}
}}
"""


@dataclass(frozen=True)
class BenchServer:
    """A running benchmark server."""

    name: str  # "nginx" or "embedded-httpbin"
    base_url: str  # e.g. "http://127.0.0.1:34567"
    detail: str = ""  # version string / caveat

    def url(self, path: str = "/get") -> str:
        return self.base_url + path


def _log(msg: str) -> None:
    print(f"[bench-server] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_nginx() -> str | None:
    for cand in (
        shutil.which("nginx"),
        "/usr/sbin/nginx",
        "/usr/local/sbin/nginx",
        "/usr/local/nginx/sbin/nginx",
    ):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    return None


def install_nginx() -> str | None:
    """Install Debian's nginx with apt-get (root only). Returns the binary path or None."""
    if shutil.which("apt-get") is None:
        _log("nginx not found and apt-get is not available; cannot install it.")
        return None
    if os.geteuid() != 0:
        _log("nginx not found; install it with `sudo apt-get install -y nginx` (not root, not trying).")
        return None
    _log("nginx not found: installing Debian's nginx with `apt-get install -y nginx` (one-time, ~30 s)...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (
        ["apt-get", "install", "-y", "--no-install-recommends", "nginx"],
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", "nginx"],
    ):
        rc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        if rc == 0 and cmd[1] == "install" and find_nginx():
            _log("nginx installed.")
            return find_nginx()
    _log("apt-get could not install nginx.")
    return None


def _die_with_parent() -> None:  # runs in the child between fork and exec
    """Ask Linux to SIGTERM nginx if the benchmark process dies without cleaning up (e.g. SIGKILL)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so context managers (and nginx) are cleaned up."""

    def _raise(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _raise)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return True
        except OSError:
            time.sleep(0.05)
    return False


@contextlib.contextmanager
def nginx_server(binary: str | None = None, *, install: bool = True) -> Iterator[BenchServer]:
    """Start nginx on a free loopback port; stop it (and remove its temp dir) at exit."""
    binary = binary or find_nginx() or (install_nginx() if install else None)
    if binary is None:
        raise RuntimeError("nginx is not available")
    version = subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip()
    with tempfile.TemporaryDirectory(prefix="sessions-bench-nginx-") as tmp:
        os.chmod(tmp, 0o755)
        last_err = ""
        for _attempt in range(5):
            port = free_port()
            conf = os.path.join(tmp, "nginx.conf")
            user_line = "user nobody nogroup;" if os.geteuid() == 0 else ""
            with open(conf, "w") as f:
                f.write(NGINX_CONF.format(tmp=tmp, port=port, body=BODY.strip(), user_line=user_line))
            proc = subprocess.Popen(
                [binary, "-p", tmp, "-c", conf, "-e", os.path.join(tmp, "error.log")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
            base = f"http://127.0.0.1:{port}"
            if _wait_ready(base + "/get", proc):
                try:
                    yield BenchServer("nginx", base, version)
                finally:
                    _stop(proc)
                return
            _stop(proc)
            last_err = (proc.stderr.read().decode(errors="replace") if proc.stderr else "").strip()
            with contextlib.suppress(OSError):
                last_err += " " + open(os.path.join(tmp, "error.log")).read().strip()[-500:]
        raise RuntimeError(f"nginx did not start: {last_err}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGQUIT)  # graceful: workers finish and exit
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@contextlib.contextmanager
def httpbin_server() -> Iterator[BenchServer]:
    """The embedded httpbin (aiohttp.web in a thread of this process)."""
    from sessions.httpbin import LocalHttpbin  # written by another engineer; API probed defensively

    srv = LocalHttpbin()
    enter = getattr(srv, "__enter__", None)
    if enter is not None:
        ctx = srv
        started = enter()
        srv = started if started is not None else srv
    else:
        ctx = None
        srv.start()
    try:
        base = None
        for attr in ("base_url", "url", "root"):
            val = getattr(srv, attr, None)
            if val is not None:
                base = str(val() if callable(val) else val).rstrip("/")
                break
        if base is None:
            base = f"http://127.0.0.1:{srv.port}"
        yield BenchServer(
            "embedded-httpbin",
            base,
            "aiohttp.web in a thread of the benchmark process: shares the GIL with the clients; compare ratios only",
        )
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
        else:
            getattr(srv, "stop", getattr(srv, "close", lambda: None))()


@contextlib.contextmanager
def bench_server(prefer: str = "nginx", *, install: bool = True) -> Iterator[BenchServer]:
    """nginx if possible, else the embedded httpbin (with a clear message). ``prefer="httpbin"`` forces the latter."""
    with contextlib.ExitStack() as stack:
        server = None
        if prefer == "nginx":
            try:
                server = stack.enter_context(nginx_server(install=install))
            except Exception as exc:
                _log(
                    f"nginx unavailable ({exc}); FALLING BACK to the embedded httpbin. It runs in this process and "
                    "shares the GIL with the clients, so absolute req/s are far lower: compare ratios only."
                )
        if server is None:
            server = stack.enter_context(httpbin_server())
        yield server


if __name__ == "__main__":
    exit_on_sigterm()
    with bench_server() as s:
        print(f"{s.name} {s.detail} at {s.base_url} — Ctrl-C to stop", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


# ---------------------------------------------------------------------------------------------- machine
def cpu_model() -> str | None:
    """The CPU's model name from /proc/cpuinfo (None where there is none)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        return next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), None)
    return None


def versions(*dists: str, missing: str | None = None) -> dict[str, str | None]:
    """Installed versions of ``dists`` (``missing`` for those not installed)."""
    out: dict[str, str | None] = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = missing
    return out


def command_output(*args: str) -> str | None:
    """A short command's stripped stdout (``redis-server --version``, ``git rev-parse``), None if it fails."""
    try:
        return subprocess.run(list(args), capture_output=True, text=True, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
