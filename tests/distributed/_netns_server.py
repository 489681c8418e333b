"""The recording HTTP server of the namespace tests.

    python -m tests.distributed._netns_server HOST PORT LOG

Serves the embedded httpbin on HOST:PORT; on SIGTERM writes its arrival log (`[time, method, path]` per
request, `time.monotonic()`) to LOG as JSON and exits.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path

from sessions.httpbin import LocalHttpbin


def main() -> None:
    host, port, log = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with LocalHttpbin(host=host, port=port) as server:
        print("ready", flush=True)
        stop.wait()
        arrivals = [[a.time, a.method, a.path] for a in server.arrivals.snapshot()]
    partial = log.with_suffix(".part")
    partial.write_text(json.dumps(arrivals), encoding="utf-8")
    partial.replace(log)


if __name__ == "__main__":
    main()
