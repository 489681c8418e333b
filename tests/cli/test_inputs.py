"""Input parsing: plain / JSONL / CSV detection, malformed lines, streaming, unreadable files."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessions_cli.fetch.inputs import (
    InputError,
    InputReader,
    RequestSpec,
    count_lines,
    detect_format,
    parse_stream,
    validate_url,
)


def test_plain_lines_skip_blanks_and_comments_and_number_items() -> None:
    lines = ["# header", "", "http://a.test/1", "  ", "POST https://b.test/2", "not a url", "ftp://c.test/"]
    items = list(parse_stream(lines))
    assert [item.index for item in items] == [0, 1, 2, 3]
    assert items[0].spec == RequestSpec(url="http://a.test/1")
    assert items[1].spec == RequestSpec(url="https://b.test/2", method="POST")
    assert items[2].error == "line 6: not a URL: 'not'" or items[2].error.startswith("line 6:")
    assert items[3].error is not None
    assert "http(s)" in items[3].error
    assert items[2].line == 6


@pytest.mark.parametrize(
    ("line", "fmt"),
    [
        ('{"url": "http://x.test"}', "jsonl"),
        ("url,method,id", "csv"),
        ("id,URL", "csv"),
        ("http://x.test/?a=1,2", "plain"),
        ("http://x.test", "plain"),
        ("\ufeff{}", "jsonl"),
    ],
)
def test_detect_format(line: str, fmt: str) -> None:
    assert detect_format(line) == fmt


def test_jsonl_objects_and_errors() -> None:
    lines = [
        '{"url": "http://a.test/", "method": "post", "headers": {"X": "1"}, "json": {"k": 1}, "meta": 7}',
        '{"url": "http://a.test/p", "params": {"q": "1"}}',
        '{"url": "http://a.test/", ',
        '["http://a.test/"]',
        '{"uri": "http://a.test/"}',
        '{"method": "GET"}',
        '{"url": "http://a.test/", "json": 1, "data": "x"}',
        '{"url": "http://a.test/", "headers": [1]}',
    ]
    items = list(parse_stream(lines))
    assert items[0].spec == RequestSpec(
        url="http://a.test/", method="POST", headers={"X": "1"}, json={"k": 1}, meta=7
    )
    assert items[0].spec.to_engine() == {
        "method": "POST",
        "url": "http://a.test/",
        "headers": {"X": "1"},
        "json": {"k": 1},
    }
    assert items[1].spec is not None
    assert items[1].spec.params == {"q": "1"}
    errors = [item.error for item in items[2:]]
    assert all(errors)
    assert "bad JSON" in errors[0]
    assert "expected a JSON object" in errors[1]
    assert "unknown key" in errors[2]
    assert "'uri'" in errors[2]
    assert "missing 'url'" in errors[3]
    assert "not both" in errors[4]
    assert "'headers'" in errors[5]


def test_csv_rows_with_meta_and_bad_rows() -> None:
    lines = [
        "url,method,id",
        "http://a.test/1,,7",
        "http://a.test/2,post,8",
        "nope,GET,9",
        "http://a.test/3,GET",
    ]
    items = list(parse_stream(lines))
    assert items[0].spec == RequestSpec(url="http://a.test/1", meta={"id": "7"})
    assert items[1].spec is not None
    assert items[1].spec.method == "POST"
    assert items[2].error is not None
    assert items[2].error.startswith("line 4:")
    assert items[3].error is not None
    assert "expected 3 CSV fields" in items[3].error
    assert [item.index for item in items] == [0, 1, 2, 3]


def test_forced_format() -> None:
    items = list(parse_stream(['{"url": "http://a.test/"}'], fmt="plain"))
    assert items[0].error is not None
    items = list(parse_stream(["http://a.test/"], fmt="jsonl"))
    assert items[0].error is not None
    assert "bad JSON" in items[0].error


def test_stream_is_lazy() -> None:
    def endless() -> Iterator[str]:
        for n in itertools.count():
            yield f"http://a.test/{n}"

    items = list(itertools.islice(parse_stream(endless()), 5))
    assert [item.spec.url for item in items if item.spec] == [f"http://a.test/{n}" for n in range(5)]


def test_reader_chains_arguments_then_file(tmp_path: Path) -> None:
    path = tmp_path / "urls.txt"
    path.write_text("http://f.test/1\r\nbad\n", encoding="utf-8")
    with InputReader(["http://arg.test/"], str(path)) as reader:
        items = list(reader)
    assert [item.index for item in items] == [0, 1, 2]
    assert items[1].spec is not None
    assert items[1].spec.url == "http://f.test/1"
    assert items[2].error is not None
    assert count_lines(str(path)) == 2


def test_unreadable_input_fails_before_reading(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        InputReader([], str(tmp_path / "missing.txt")).__enter__()
    with pytest.raises(InputError):
        InputReader([], str(tmp_path)).__enter__()


def test_validate_url() -> None:
    assert validate_url("https://example.com:8443/x?y=1") is None
    assert validate_url("http://") is not None
    assert validate_url("http://h:99999/") is not None
    assert validate_url("example.com") is not None
