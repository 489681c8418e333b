"""`sessions.__all__` is the public API: complete, importable, and documented."""

from __future__ import annotations

import sessions


def test_all_names_exist_and_are_documented() -> None:
    for name in sessions.__all__:
        member = getattr(sessions, name)
        if name.startswith("__"):
            continue
        assert getattr(member, "__doc__", None), f"{name} has no docstring"


def test_public_members_are_exported() -> None:
    public = {
        name
        for name, value in vars(sessions).items()
        if not name.startswith("_") and getattr(value, "__module__", "").startswith("sessions")
    }
    assert public <= set(sessions.__all__)
