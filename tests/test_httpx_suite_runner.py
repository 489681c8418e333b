"""The comparison rules of `tests/httpx_suite/run.py` (the script itself runs in CI, on httpx's sdist)."""

from __future__ import annotations

import pytest

from tests.httpx_suite import run


def test_a_test_only_we_fail_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "PLAIN_HTTPX_FAILURES", {"b": "needs the network"})
    plain = {"a": True, "b": False, "c": True}
    ours = {"a": False, "b": False, "c": True}
    assert run.compare(plain, ours) == ["fails with sessions, passes with httpx: a"]


def test_known_failures_of_plain_httpx_are_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "PLAIN_HTTPX_FAILURES", {"net": "needs the network"})
    assert run.compare({"net": False}, {"net": False}) == []


def test_an_unknown_failure_of_plain_httpx_is_a_problem() -> None:
    # the environment lacks something httpx's suite needs (brotli, say): that test would compare nothing
    assert run.compare({"brotli": False}, {"brotli": False}) == [
        "fails with plain httpx too (is a test dependency missing?): brotli"
    ]


def test_a_test_we_did_not_run_is_a_problem() -> None:
    assert run.compare({"a": True}, {}) == ["not run with sessions: a"]


def test_expected_differences_must_still_differ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run, "EXPECTED_DIFFERENCES", {"a": "merged params", "b": "merged params"})
    problems = run.compare({"a": True, "b": True}, {"a": False, "b": True})
    assert problems == ["listed as an expected difference (merged params) but does not differ: b"]
