"""The recording HTTP server of the namespace tests: a live log of what reaches it, read while a run goes on.

    python -m tests.distributed._netns_server HOST PORT LOG

Routes: `/get`, `/anything/...` and `/delay/<seconds>/...` (answers after that long), each a small JSON
body. Every request appends `S <id> <peer> <monotonic> <wall> <method> <path>` to LOG when it arrives
and `E <id>` when its answer is written, flushed at once, so a test can see which worker has a request
on the wire *now* (and inject a fault exactly then) and check the limit from the server's own clock.
"""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from pathlib import Path
from typing import IO

from aiohttp import web


def make_app(log: IO[str]) -> web.Application:
    ids = itertools.count()

    async def record(request: web.Request) -> web.Response:
        number = next(ids)
        peer = request.remote or "-"
        stamp = f"{time.monotonic():.6f} {time.time():.6f}"
        log.write(f"S {number} {peer} {stamp} {request.method} {request.path_qs}\n")
        log.flush()
        try:
            if request.path.startswith("/delay/"):
                await asyncio.sleep(min(float(request.path.split("/")[2]), 10.0))
            return web.json_response({"url": str(request.url), "method": request.method})
        finally:
            log.write(f"E {number}\n")
            log.flush()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", record)
    return app


def main() -> None:
    host, port, path = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    with path.open("a", encoding="utf-8") as log:
        web.run_app(make_app(log), host=host, port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
