"""Every error watcher reports is a complete, located, traceback-free message."""

from __future__ import annotations

from typing import Any

import pytest

from watcher.core.errors import (
    ConfigError,
    FeedError,
    Problem,
    QueryError,
    StoreError,
    WatcherError,
)


@pytest.mark.parametrize(
    ("problem", "text"),
    [
        (Problem("watcher.yaml", None, "no feeds"), "watcher.yaml: no feeds"),
        (Problem("watcher.yaml", 12, "unknown key 'feds'"), "watcher.yaml:12: unknown key 'feds'"),
        (
            Problem("watcher.yaml", 12, "bad query", column=7),
            "watcher.yaml:12:7: bad query",
        ),
        # A column means nothing without its line.
        (Problem("rules.yaml", None, "bad query", column=7), "rules.yaml: bad query"),
        (Problem("rules.yaml", 0, "empty file", column=0), "rules.yaml:0:0: empty file"),
    ],
)
def test_a_problem_reads_as_file_line_column_then_message(problem: Problem, text: str) -> None:
    assert str(problem) == text


@pytest.mark.parametrize(
    ("problems", "text"),
    [
        ([Problem("watcher.yaml", 3, "no url")], "watcher.yaml:3: no url"),
        (
            [Problem("watcher.yaml", 3, "no url"), Problem("rules.yaml", None, "no rules")],
            "watcher.yaml:3: no url\nrules.yaml: no rules",
        ),
    ],
)
def test_a_config_error_reports_every_problem_one_a_line(
    problems: list[Problem], text: str
) -> None:
    error = ConfigError(problems)
    assert str(error) == text
    assert error.problems == problems


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (("unexpected ')'",), "unexpected ')'"),
        (("unexpected ')'", 9), "column 9: unexpected ')'"),
        (("query ends early", None, "a word"), "query ends early (expected a word)"),
        (("query ends early", 14, "a word"), "column 14: query ends early (expected a word)"),
        (("query ends early", 14, ""), "column 14: query ends early"),
    ],
)
def test_a_query_error_says_where_and_what_was_expected(
    args: tuple[str, int | None, str | None], text: str
) -> None:
    assert str(QueryError(*args)) == text


def test_a_query_error_keeps_its_parts_for_the_caller() -> None:
    error = QueryError("query ends early", 14, "a word")
    assert (error.message, error.column, error.expected) == ("query ends early", 14, "a word")


@pytest.mark.parametrize(
    ("options", "text", "kind", "status"),
    [
        ({}, "connection refused", "error", None),
        ({"kind": "http", "status": 404}, "connection refused", "http", 404),
    ],
)
def test_a_feed_error_is_its_message_with_a_kind_and_status(
    options: dict[str, Any], text: str, kind: str, status: int | None
) -> None:
    error = FeedError("connection refused", **options)
    assert (str(error), error.kind, error.status) == (text, kind, status)


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        (ConfigError, ([Problem("watcher.yaml", 1, "x")],)),
        (QueryError, ("x",)),
        (FeedError, ("x",)),
        (StoreError, ("x",)),
    ],
)
def test_every_reported_error_is_a_watcher_error(
    kind: type[Exception], args: tuple[Any, ...]
) -> None:
    assert isinstance(kind(*args), WatcherError)
