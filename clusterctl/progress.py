"""How library code reports progress without printing: a callable the CLI turns into rich output."""

from collections.abc import Callable
from typing import Protocol


class Reporter(Protocol):
    """Receives progress: a message and, for countable steps, how many of how many are done."""

    def __call__(self, message: str, done: int | None = None, total: int | None = None) -> None:
        """Report one step."""


LineSink = Callable[[str], None]  # receives a job's output, one line at a time


def silent(message: str, done: int | None = None, total: int | None = None) -> None:
    """A reporter that discards everything (library callers that do not care)."""
