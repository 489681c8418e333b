"""`sessions fetch --demo`: the quick start's first command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys

from sessions_cli.fetch.demo import DEMO_SIZE


def test_demo_fetches_the_sample_batch_with_limit_and_cache() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "sessions_cli", "fetch", "--demo", "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert sorted(r["index"] for r in records) == list(range(DEMO_SIZE))
    assert any(r["from_cache"] for r in records)
    assert {r["status"] for r in records} == {200, 404}
    assert "embedded httpbin" in proc.stderr
