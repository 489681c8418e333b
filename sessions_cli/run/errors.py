"""Recipe errors: every problem names the file, the line and the path inside the recipe.

A path reads like the YAML it points at: `steps[2].capture.id`. Validation collects every
problem it can find before anything is sent, so one run of `sessions run` lists them all
(exit code 3).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["RecipeError", "RecipeInvalid"]


@dataclass(frozen=True)
class RecipeError:
    """One problem in a recipe: where it is and what is wrong."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.path or '<recipe>'}: {self.message}"


class RecipeInvalid(Exception):
    """The recipe cannot run; `errors` lists every problem found (exit code 3)."""

    def __init__(self, errors: Iterable[RecipeError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))
