"""Durations as users write them in config (90s, 10m, 1h30m) read back exactly, or fail in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from watcher.core.units import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("2d", 172800), ("1h30m", 5400), ("45", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "ten", "10x", "m10", "5m and"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("90s", "10m", "1d2h", "1h30m"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)
