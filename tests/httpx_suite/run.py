"""Run httpx's own test suite on `sessions.Session` / `sessions.AsyncSession`; fail on any new failure.

    python tests/httpx_suite/run.py            # the installed httpx's version, sdist from PyPI
    python tests/httpx_suite/run.py --sdist httpx-0.29.0.tar.gz

The sdist of the *installed* httpx is fetched (``pip download --no-binary``, kept in the user cache
directory), unpacked, and its ``httpx/`` source dropped so the tests import the installed httpx. The
chosen files run twice in one go: as they are, and with `swap_plugin` pointing each test module's
``httpx.Client``/``httpx.AsyncClient`` at ours. A test that fails with ours but passes with plain
httpx fails this script; so does a test on `EXPECTED_DIFFERENCES` that no longer differs (the list
must stay true). Failures plain httpx has too (no network here, a chardet version) are reported, not
counted. Exit status: 0 all matched, 1 a difference, 2 the suite could not be fetched or run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import httpx
import platformdirs

HERE = Path(__file__).resolve().parent

#: httpx's test files a drop-in client must pass (the issue's list: the client, auth, multipart,
#: timeouts and exception mapping; the model, ASGI/WSGI and CLI tests do not involve a client class).
SUITE_FILES = (
    "tests/client",
    "tests/test_timeouts.py",
    "tests/test_auth.py",
    "tests/test_multipart.py",
    "tests/test_exceptions.py",
)

#: Tests where we differ from httpx on purpose, with the reason. Nothing else belongs here.
#: (``params`` merging, documented in the README, is not exercised by these files: none today.)
EXPECTED_DIFFERENCES: dict[str, str] = {}

#: Tests plain httpx fails on this kind of machine, and why. Any other failure of plain httpx means the
#: environment lacks something httpx's suite needs, which would hide that test from the comparison: it fails.
_CHARDET = "chardet 7 guesses otherwise"
PLAIN_HTTPX_FAILURES: dict[str, str] = {
    "tests/client/test_client.py::test_client_decode_text_using_autodetect": _CHARDET,
    "tests/client/test_client.py::test_client_decode_text_using_explicit_encoding": _CHARDET,
    "tests/client/test_proxies.py::test_socks_proxy": "needs socksio and the network",
    "tests/client/test_proxies.py::test_async_proxy_close[asyncio]": "needs the network",
    "tests/client/test_proxies.py::test_async_proxy_close[trio]": "needs the network",
    "tests/client/test_proxies.py::test_sync_proxy_close": "needs the network",
}

PYTEST_ARGS = ("-q", "-p", "no:randomly", "-p", "no:asyncio", "-p", "no:cacheprovider", "-o", "addopts=")


def fetch_sdist(version: str) -> Path:
    """The sdist of httpx `version`, from the cache or PyPI."""
    cache = Path(platformdirs.user_cache_dir("sessions")) / "httpx-sdist"
    cache.mkdir(parents=True, exist_ok=True)
    wanted = cache / f"httpx-{version}.tar.gz"
    if not wanted.exists():
        command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*command, f"httpx=={version}", "-d", str(cache)], check=True)
    return wanted


def unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(into, filter="data")
    root = next(p for p in into.iterdir() if p.is_dir() and (p / "tests").is_dir())
    shutil.rmtree(root / "httpx")  # the installed httpx is the one under test
    return root


def run_suite(root: Path, report: Path, *, swapped: bool) -> int:
    env = dict(os.environ)
    plugin: tuple[str, ...] = ()
    if swapped:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
        plugin = ("-p", "swap_plugin")
    command = [sys.executable, "-m", "pytest", *PYTEST_ARGS, *plugin, f"--junitxml={report}", *SUITE_FILES]
    return subprocess.run(command, cwd=root, env=env, stdout=subprocess.DEVNULL, check=False).returncode


def outcomes(report: Path) -> dict[str, bool]:
    """test id → passed, from a junit XML report (skips left out)."""
    result: dict[str, bool] = {}
    for case in ET.parse(report).iter("testcase"):
        if case.find("skipped") is not None:
            continue
        module = case.get("classname", "").replace(".", "/")
        test_id = f"{module}.py::{case.get('name')}"
        result[test_id] = case.find("failure") is None and case.find("error") is None
    return result


def compare(plain: dict[str, bool], ours: dict[str, bool]) -> list[str]:
    """The problems: new failures, tests that vanished, and stale entries of `EXPECTED_DIFFERENCES`."""
    problems = []
    for test_id, passed in sorted(ours.items()):
        if passed or not plain.get(test_id, False):
            continue
        if test_id not in EXPECTED_DIFFERENCES:
            problems.append(f"fails with sessions, passes with httpx: {test_id}")
    for test_id in sorted(set(plain) - set(ours)):
        problems.append(f"not run with sessions: {test_id}")
    for test_id in sorted(t for t, passed in plain.items() if not passed and t not in PLAIN_HTTPX_FAILURES):
        problems.append(f"fails with plain httpx too (is a test dependency missing?): {test_id}")
    for test_id, reason in EXPECTED_DIFFERENCES.items():
        if ours.get(test_id, False) or not plain.get(test_id, False):
            problems.append(f"listed as an expected difference ({reason}) but does not differ: {test_id}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="an httpx sdist to use instead of fetching one")
    args = parser.parse_args(argv)
    try:
        sdist = args.sdist or fetch_sdist(httpx.__version__)
    except subprocess.CalledProcessError as exc:
        print(
            f"error: could not download httpx {httpx.__version__}'s sdist ({exc}); pass --sdist FILE",
            file=sys.stderr,
        )
        return 2
    with tempfile.TemporaryDirectory(prefix="httpx-suite-") as tmp:
        root = unpack(sdist, Path(tmp))
        reports = {name: Path(tmp) / f"{name}.xml" for name in ("plain", "ours")}
        run_suite(root, reports["plain"], swapped=False)
        run_suite(root, reports["ours"], swapped=True)
        if not all(report.exists() for report in reports.values()):
            print("error: pytest did not run httpx's suite (see its output above)", file=sys.stderr)
            return 2
        plain, ours = outcomes(reports["plain"]), outcomes(reports["ours"])
    if not plain:
        print("error: httpx's suite collected no tests", file=sys.stderr)
        return 2
    both_fail = sorted(t for t, ok in plain.items() if not ok)
    print(
        f"httpx {httpx.__version__} suite: plain httpx {sum(plain.values())}/{len(plain)} passed, "
        f"sessions {sum(ours.values())}/{len(ours)} passed"
    )
    for test_id in both_fail:
        if test_id in PLAIN_HTTPX_FAILURES:
            print(f"  fails with plain httpx too, not counted ({PLAIN_HTTPX_FAILURES[test_id]}): {test_id}")
    problems = compare(plain, ours)
    for problem in problems:
        print(f"  {problem}")
    print(
        "FAILED: sessions differs from httpx" if problems else "OK: no failure that plain httpx does not have"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
