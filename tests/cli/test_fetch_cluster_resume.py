"""`sessions fetch --cluster local:2` as a real process: SIGINT of the coordinator, then `--resume`.

The journal stays with the coordinator, so the contract is a local run's: after Ctrl-C and a rerun with
`--resume`, every input is in the output exactly once. Bounded: 60 requests of 50 ms, 60 s per process.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path

import pytest

from sessions.httpbin import LocalHttpbin
from sessions_cli.exit_codes import ExitCode
from tests.cli.test_subprocess import _cmd, _env, _records, _urls, _wait_for_lines, each_input_once, run

pytestmark = pytest.mark.slow


def test_sigint_of_the_coordinator_then_resume(httpbin: LocalHttpbin, tmp_path: Path) -> None:
    pytest.importorskip("distributed", reason="needs the dask extra: pip install 'sessions[dask]'")
    total = 60
    urls = [f"{httpbin.url}/delay/0.05?i={i}" for i in range(total)] + ["not a url"]
    path = _urls(tmp_path / "urls.txt", urls)
    out = tmp_path / "out.jsonl"
    args = ["fetch", path, "-o", str(out), "-c", "2", "-q", "--cluster", "local:2", "--partition-size", "5"]
    process = subprocess.Popen(_cmd(*args), cwd=tmp_path, env=_env(tmp_path), stderr=subprocess.PIPE)
    try:
        _wait_for_lines(out, 10, process, timeout=60)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    done_before = len(_records(out))  # whole lines only: the journal covers them
    assert 10 <= done_before < total + 1

    resumed = run(tmp_path, *args, "--resume", "--summary-json", "summary.json", timeout=60)
    assert resumed.returncode == ExitCode.FAILURES, resumed.stderr  # the malformed line
    records = each_input_once(out, total + 1)
    assert all(r["status"] == 200 for r in records if r["index"] < total)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["skipped_resumed"] == done_before
