"""Issue 15: what pyreqwest (the candidate Rust engine) does differently from httpx, measured, in ONE run.

    python benchmarks/reqwest_fidelity.py             # the probes, then httpx's own suite both ways
    python benchmarks/reqwest_fidelity.py --no-suite  # the probes only (a few seconds)

Speed is `single_calls.py` and `throughput.py`'s business; this script asks what switching would cost in
behaviour, the other half of the decision. Nothing here is used by the library.

1. **Probes** against a stdlib HTTP server on loopback, each printing ``same`` or what differs: response header
   names and order, the reason phrase, request header order, what pyreqwest adds on its own, a streamed
   response against ``max_connections``, a read timeout shorter than the connect, and use after ``fork()``.
2. **httpx's own suite** (the files `tests/httpx_suite/run.py` runs, from httpx's sdist) twice: plain httpx, and
   httpx with pyreqwest's own httpx transports (`_reqwest_httpx_plugin.py`) — the difference is the wire engine
   alone. Tests that fail only on pyreqwest are listed by kind (trio counted apart: our engine runs on asyncio
   only and leaves trio to httpx's own transport, as today).
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
from pyreqwest.client import SyncClientBuilder

HERE = Path(__file__).resolve().parent
SUITE = HERE.parent / "tests" / "httpx_suite"  # its runner's helpers, and the swap plugin's
sys.path.insert(0, str(SUITE))

SEEN: list[list[tuple[str, str]]] = []  # request headers as the server read them, in order


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        SEEN.append(list(self.headers.items()))
        if self.path.startswith("/slow"):
            time.sleep(0.5)
        if self.path.startswith("/hold"):
            time.sleep(1.0)
        body = gzip.compress(b'{"a": 1}')
        self.send_response(200, "Fine Thanks")
        for name, value in (("X-B", "1"), ("Content-Encoding", "gzip"), ("X-A", "2"), ("x-b", "3")):
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def _differs(name: str, ours: object, theirs: object) -> None:
    verdict = "same" if ours == theirs else f"differs:\n      pyreqwest {ours!r}\n      httpx     {theirs!r}"
    print(f"  {name}: {verdict}")


def _attempt(what: Callable[[], object]) -> str:
    try:
        return f"ok ({what()!r})"
    except Exception as exc:
        return f"{type(exc).__name__}"


def probes() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    plain = SyncClientBuilder().follow_redirects(False).no_proxy()
    plain = plain.gzip(False).brotli(False).zstd(False).deflate(False).build()
    print("probes (pyreqwest SyncClient, decompression off, vs httpx.Client):")
    with httpx.Client() as client:
        theirs = client.get(base + "/h", headers=[("X-Mine", "v"), ("x-mine", "w")])
        their_request = SEEN[-1]
    ours = plain.get(base + "/h").headers([("X-Mine", "v"), ("x-mine", "w")]).build().send()
    our_request = SEEN[-1]
    _differs("response header (name, value) list", list(ours.headers.items()), theirs.headers.multi_items())
    _differs(
        "response header names as received",
        [name for name, _ in ours.headers.items()],
        [name.decode() for name, _ in theirs.headers.raw],
    )
    _differs("reason phrase", getattr(ours, "reason", None), theirs.reason_phrase)
    _differs("request header order", [n for n, _ in our_request], [n for n, _ in their_request])
    held = SyncClientBuilder().max_connections(1).pool_timeout(datetime.timedelta(seconds=0.2)).build()
    stream = held.get(base + "/hold").build_streamed()
    stream.__enter__()  # headers in, body unread: httpx counts this connection as taken
    second = _attempt(lambda: held.get(base + "/h").build().send().status)
    stream.__exit__(None, None, None)
    print(
        f"  a 2nd request while a streamed response is open, max_connections=1: {second} (httpx: PoolTimeout)"
    )
    tight = SyncClientBuilder().read_timeout(datetime.timedelta(microseconds=1)).build()
    print(
        f"  read timeout of 1 µs: {_attempt(lambda: tight.get(base + '/h').build().send())} (httpx: ReadTimeout)"
    )
    plain.get(base + "/h").build().send()
    child = os.fork()
    if child == 0:
        outcome = _attempt(lambda: SyncClientBuilder().build().get(base + "/h").build().send().status)
        print(f"  a new client in a fork() child of a process that used pyreqwest: {outcome}", flush=True)
        os._exit(0)
    os.waitpid(child, 0)
    server.shutdown()


def suite() -> None:
    import run  # tests/httpx_suite/run.py: fetch the sdist of the installed httpx, unpack, read junit reports

    with tempfile.TemporaryDirectory(prefix="httpx-suite-") as tmp:
        root = run.unpack(run.fetch_sdist(httpx.__version__), Path(tmp))
        results = {}
        for name, plugin in (("plain", ()), ("pyreqwest", ("-p", "_reqwest_httpx_plugin"))):
            env = dict(
                os.environ,
                PYTHONPATH=os.pathsep.join(
                    filter(None, [str(HERE), str(SUITE), os.environ.get("PYTHONPATH")])
                ),
            )
            report = Path(tmp) / f"{name}.xml"
            command = [sys.executable, "-m", "pytest", *run.PYTEST_ARGS, *plugin, f"--junitxml={report}"]
            subprocess.run(
                [*command, *run.SUITE_FILES], cwd=root, env=env, stdout=subprocess.DEVNULL, check=False
            )
            results[name] = run.outcomes(report)
    plain, ours = results["plain"], results["pyreqwest"]
    print(f"httpx {httpx.__version__} suite: plain {sum(plain.values())}/{len(plain)}, "
          f"on pyreqwest's transports {sum(ours.values())}/{len(ours)}")  # fmt: skip
    only = sorted(t for t, ok in ours.items() if not ok and plain.get(t, False))
    trio = [t for t in only if "[trio" in t]
    print(
        f"  failing only on pyreqwest: {len(only)} ({len(trio)} of them under trio, which it does not run on)"
    )
    kinds = Counter(t.split("::")[1].split("[")[0] for t in only if t not in trio)
    for kind, count in kinds.most_common():
        print(f"    {count} × {kind}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-suite", action="store_true", help="the probes only")
    args = parser.parse_args()
    probes()
    if not args.no_suite:
        suite()


if __name__ == "__main__":
    main()
