"""The original README's examples and its Testing runner, run as the seed writes them (issue 12).

The seed's code lives in `tests/seed/` (one file per README block, reconstructed from the capture
`../shared/seeds/001_5efddd2bcdbc4a2f.txt`; each file's header says how). Each test reads one file,
replaces only the tokens listed next to it — the base URL (`https://httpbin.org`, or the docker httpbin
on port 8080, in the seed; the embedded httpbin here) and, where the seed sends 100 rate-limited
requests, the count, so the suite stays fast — and executes it. Whatever else the seed calls must exist
in the library: nothing is patched in here.

The Testing runner uses all three backends as it is written: memory, an SQLite file `test.db` in the
working directory (a temporary directory here) and, for `backend="redis"` without a host, the library's
temporary `redis-server`.
"""

from __future__ import annotations

import asyncio
import atexit
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sessions._exceptions import BackendUnavailable
from sessions.backends import find_redis_server
from sessions.config import SessionConfig
from sessions.httpbin import ArrivalLog, LocalHttpbin
from sessions.ratelimit import ALGORITHMS, parameter_names, required_parameters
from sessions.utils import extract_args

from .fixtures.redis_server import _unavailable

SEED = Path(__file__).parent / "seed"

# PEP 701 (Python 3.12) allows the runner's nested quotes; on 3.11 the same text, built without nesting.
NESTED_FSTRING = r'print(f"Test parameters:\n{"\n".join(f"{k}: {v}" for k, v in kwargs.items())}")'
FLAT_FSTRING = r'print("Test parameters:\n" + "\n".join(f"{k}: {v}" for k, v in kwargs.items()))'


def run_seed(name: str, substitutions: dict[str, str]) -> dict[str, Any]:
    """Execute `tests/seed/{name}` with exactly `substitutions` applied; return its namespace."""
    path = SEED / name
    source = path.read_text(encoding="utf-8")
    if sys.version_info < (3, 12) and NESTED_FSTRING in source:
        substitutions = {**substitutions, NESTED_FSTRING: FLAT_FSTRING}
    for old, new in substitutions.items():
        assert old in source, f"{name} no longer contains {old!r}"
        source = source.replace(old, new)
    namespace: dict[str, Any] = {"__name__": f"seed_{path.stem}", "__file__": str(path)}
    exec(compile(source, str(path), "exec"), namespace)
    return namespace


def close_sessions(namespace: dict[str, Any]) -> None:
    """The README's examples never close their sessions (closing at exit quietly is the library's job)."""
    for value in namespace.values():
        if isinstance(value, httpx.Client):
            value.close()


@pytest.fixture
def base(httpbin: LocalHttpbin, httpbin_log: ArrivalLog) -> str:
    return httpbin.url


# ---------------------------------------------------------------- the usage examples


def test_basic_example(base: str, httpbin_log: ArrivalLog, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_seed("example_basic.py", {"https://httpbin.org": base})
    try:
        assert ns["response"].status_code == 200
        assert ns["response"].json()["origin"] == "127.0.0.1"
        assert httpbin_log.count(path="/ip") == 1
        assert "Response.json" in capsys.readouterr().out  # the seed prints the attribute, not its call
    finally:
        close_sessions(ns)


def test_callbacks_example(base: str, httpbin_log: ArrivalLog, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_seed("example_callbacks.py", {"https://httpbin.org": base})
    try:
        assert capsys.readouterr().out.count("Response status: True\n") == 100
        assert httpbin_log.count(path="/get") == 100
    finally:
        close_sessions(ns)


def test_return_callbacks_example(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SessionConfig, "return_callbacks", SessionConfig.return_callbacks)  # restored after
    ns = run_seed("example_return_callbacks.py", {"https://httpbin.org": base})
    try:
        assert len(ns["responses"]) == 5
        for response in ns["responses"]:
            status = "success" if response.ok else "fail"
            assert response.callbacks == (
                {"callback": "callback1", "status": status},
                {"callback": "callback2", "status": status},
            )
    finally:
        close_sessions(ns)


def test_cache_example(base: str, httpbin_log: ArrivalLog, capsys: pytest.CaptureFixture[str]) -> None:
    ns = run_seed("example_cache.py", {"https://httpbin.org": base})
    try:
        cached = ns["client"].cache[ns["url"]]
        assert cached.json() == ns["response"].json()
        assert httpbin_log.count(path="/get") == 1
        assert "<Response [200 OK]>" in capsys.readouterr().out
    finally:
        close_sessions(ns)


def test_ratelimit_example(base: str, httpbin_log: ArrivalLog) -> None:
    # 12 of the seed's 100 requests: two beyond the limit of 10 per second are enough to need a wait
    ns = run_seed("example_ratelimit.py", {"https://httpbin.org": base, "* 100": "* 12"})
    try:
        arrivals = httpbin_log.times(path="/uuid")
        assert len(arrivals) == 12
        assert ns["session"].ratelimit_params.slot_spacing == pytest.approx(0.1)
    finally:
        close_sessions(ns)


def test_both_mixins_example(base: str, httpbin_log: ArrivalLog) -> None:
    # `client = Session()` of a class with both mixins: no arguments, the documented default limit
    ns = run_seed("example_both_mixins.py", {"https://api.example.com": f"{base}/anything"})
    try:
        assert ns["response"].status_code == 200
        assert ns["client"].cache[ns["url"]].json()["url"].endswith("/anything/data")
        assert httpbin_log.count(path="/anything/data") == 1
    finally:
        close_sessions(ns)


# ---------------------------------------------------------------- the Testing runner


@pytest.fixture
def runner(base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """The Testing section's module, pointed at the embedded httpbin, run in a temporary directory."""
    try:
        find_redis_server()  # the runner's test_redis starts the library's temporary redis-server
    except BackendUnavailable as exc:
        _unavailable(str(exc))
    monkeypatch.chdir(tmp_path)  # its SQLite tests use ./test.db
    ns = run_seed("readme_testing.py", {"Urls(port=8080)": f"Urls({base!r})"})
    try:
        yield ns
    finally:
        atexit.unregister(ns["_cleanup"])  # registered by the seed for its test.db; this one is removed
        ns["_cleanup"]()


# The seed's "Example usage" with its module-level parameters; n_tests 5 instead of 25 (3 per second).
def _fixed_args(ns: dict[str, Any]) -> dict[str, Any]:
    names = ("limit", "period", "window", "capacity", "fill_rate", "leak_rate")
    return {"type": "slidingwindow", "min": 0, "max": 100, **{name: ns[name] for name in names}}


def _check_randomized(results: dict[str, Any], arrivals: int, async_runner: bool) -> None:
    assert list(results) == list(ALGORITHMS)
    total = 0
    for algorithm, per_backend in results.items():
        assert len(per_backend) == 3  # memory, redis, sqlite
        first = per_backend[0]
        assert all(report == first for report in per_backend)  # one draw for the three backends
        # The async runner calls its tests without type=: timer names the algorithm the parameters
        # belong to, and both window algorithms take the same ones (the sliding window is named).
        reported_as = "slidingwindow" if async_runner and algorithm == "fixedwindow" else algorithm
        assert set(required_parameters(algorithm)) <= set(first) - {"n_tests"}
        assert set(first) - {"n_tests"} <= set(parameter_names(reported_as))
        total += 3 * first["n_tests"]
    assert arrivals == total


def test_sync_runner_with_the_seeds_parameters(runner: dict[str, Any], httpbin_log: ArrivalLog) -> None:
    results = runner["run_sync_tests"](5, **_fixed_args(runner))
    assert results == {"slidingwindow": ({"limit": 3, "window": 1, "n_tests": 5},) * 3}
    assert httpbin_log.count(path="/get") == 15


def test_sync_runner_randomized(runner: dict[str, Any], httpbin_log: ArrivalLog) -> None:
    results = runner["run_sync_tests"](randomize=True)
    _check_randomized(results, httpbin_log.count(path="/get"), async_runner=False)


def test_async_runner_with_the_seeds_parameters(runner: dict[str, Any], httpbin_log: ArrivalLog) -> None:
    results = asyncio.run(runner["run_async_tests"](5, **_fixed_args(runner)))
    assert results == {"slidingwindow": [{"limit": 3, "window": 1, "n_tests": 5}] * 3}
    assert httpbin_log.count(path="/get") == 15


def test_async_runner_randomized(runner: dict[str, Any], httpbin_log: ArrivalLog) -> None:
    results = asyncio.run(runner["run_async_tests"](randomize=True))
    _check_randomized(results, httpbin_log.count(path="/get"), async_runner=True)


def test_runners_without_parameters_use_the_default_rate(
    runner: dict[str, Any], httpbin_log: ArrivalLog
) -> None:
    # Neither type= nor randomize: the runner loops over every algorithm with no parameters at all.
    # Three requests each (within every default burst but GCRA's), to keep the run short.
    expected = {name: extract_args(name, {"n_tests": 3}) for name in ALGORITHMS}
    assert expected["gcra"] == {"limit": 5, "period": 1.0, "burst": 1, "n_tests": 3}
    sync_results = runner["run_sync_tests"](3)
    assert sync_results == {name: (report,) * 3 for name, report in expected.items()}
    # The async runner passes no type= on this path (nor the parameters): its tests run the default
    # algorithm, which timer names, under every algorithm's heading.
    async_results = asyncio.run(runner["run_async_tests"](3))
    assert async_results == {name: [expected["slidingwindow"]] * 3 for name in ALGORITHMS}
    assert httpbin_log.count(path="/get") == 2 * 5 * 3 * 3
