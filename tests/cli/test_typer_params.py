"""The CLI's pydantic-free coercion of plain parameters gives what Typer's pydantic adapter gives."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from sessions_cli._typer_params import _MISSING, _plain

NUMBERISH = st.text(alphabet="0123456789.-+e_ ", max_size=20) | st.from_regex(
    r"\d{1,20}(\.\d{0,16})?", fullmatch=True
)


def _adapter(kind: type, value: Any) -> Any:
    try:
        return TypeAdapter(kind).validate_python(value)
    except ValidationError:
        return ValidationError


@pytest.mark.parametrize("kind", [int, float])
@given(value=NUMBERISH)
def test_what_the_fast_path_answers_is_what_pydantic_answers(kind: type, value: str) -> None:
    fast = _plain(kind, value)
    if fast is not _MISSING:  # anything it does not answer goes to Typer's own adapter
        assert fast == _adapter(kind, value)
        assert type(fast) is kind


@given(value=st.text(max_size=20))
def test_strings_pass_through(value: str) -> None:
    assert _plain(str, value) == value


def test_values_of_the_right_type_pass_through_and_others_are_left_to_typer() -> None:
    assert _plain(int, 3) == 3
    assert _plain(float, 2.5) == 2.5
    assert _plain(bool, True) is True
    assert _plain(bool, "yes") is _MISSING
    assert _plain(int, "-3") is _MISSING
    assert _plain(int, "٣") is _MISSING  # a non-ASCII digit: pydantic's call, not ours
