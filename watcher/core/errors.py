"""One exception tree for everything watcher reports to a user.

Every error a user can cause (a bad config, a bad query, a broken feed) is a
``WatcherError`` whose ``str()`` is a complete, traceback-free message.
"""

from __future__ import annotations

from dataclasses import dataclass


class WatcherError(Exception):
    """Base of every error watcher expects and reports in words."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config file, located so the user can go and fix it."""

    file: str
    line: int | None
    message: str
    column: int | None = None

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return f"{where}: {self.message}"


class ConfigError(WatcherError):
    """A config that cannot be used; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class QueryError(WatcherError):
    """A rule query that does not parse; ``column`` is 1-based within the query text."""

    def __init__(
        self, message: str, column: int | None = None, expected: str | None = None
    ) -> None:
        self.message = message
        self.column = column
        self.expected = expected
        text = message
        if column is not None:
            text = f"column {column}: {text}"
        if expected:
            text += f" (expected {expected})"
        super().__init__(text)


class FeedError(WatcherError):
    """A feed that could not be fetched or read; the message is meant for the user."""

    def __init__(self, message: str, *, kind: str = "error", status: int | None = None) -> None:
        self.kind = kind
        self.status = status
        super().__init__(message)


class StoreError(WatcherError):
    """The database cannot be opened or migrated."""
