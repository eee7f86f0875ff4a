"""Durations as users write them in config (90s, 10m, 1h30m) read back exactly, or fail in words."""

from __future__ import annotations

from datetime import timedelta

import pytest

from watcher.core.units import format_duration, parse_duration, parse_size


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


# ---------------------------------------------------------------- durations (#18)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        # a bare number, as YAML reads it or as a string, is seconds
        (45, 45),
        (0, 0),
        (1.5, 1.5),
        ("1.5", 1.5),
        (" 45 ", 45),
        # each unit, upper or lower case, with spaces anywhere
        ("1s", 1),
        ("1m", 60),
        ("1h", 3600),
        ("1d", 86400),
        ("1w", 604800),
        ("2W", 1209600),
        ("1H30M", 5400),
        (" 1h 30m ", 5400),
        ("1 h 30 m", 5400),
        ("1.5h", 5400),
        ("1d1h1m1s", 90061),
    ],
)
def test_a_duration_is_a_bare_number_of_seconds_or_numbers_with_units(
    value: str | int | float, seconds: float
) -> None:
    assert parse_duration(value) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    "text",
    [
        "x10m",  # junk before the first unit
        "1hand30m",  # junk between two units
        "1h30",  # a number without its unit at the end
        "10m!",
        "1.2.3",  # not one number
        "  ",
        "h",
        "10y",
    ],
)
def test_anything_but_numbers_with_units_is_not_a_duration(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: use a number and a unit s, m, h"):
        parse_duration(text)


@pytest.mark.parametrize("value", [True, False])
def test_a_yes_or_no_is_not_a_duration(value: bool) -> None:
    with pytest.raises(ValueError, match=r"^expected a duration such as 90s, 10m, 2h or 2d$"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (0.4, "0s"),  # under a second
        (1, "1s"),
        (59, "59s"),
        (60, "1m"),
        (61, "1m1s"),
        (3600, "1h"),
        (5400, "1h30m"),
        (86399, "23h59m59s"),
        (86400, "1d"),
        (90061, "1d1h1m1s"),
        (604800, "7d"),  # days are the largest unit shown
    ],
)
def test_a_duration_is_written_in_its_shortest_exact_spelling(seconds: float, text: str) -> None:
    assert format_duration(timedelta(seconds=seconds)) == text


# ---------------------------------------------------------------- sizes (#18)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        # a bare number, as YAML reads it or as a string, is bytes
        (1000, 1000),
        (0, 0),
        ("1000", 1000),
        (" 1000 ", 1000),
        ("512B", 512),
        ("512 b", 512),
        # KB, MB and GB are binary: 1 MB = 1024 KB
        ("1KB", 1024),
        ("1K", 1024),
        ("1KiB", 1024),
        ("512kb", 512 * 1024),
        ("1MB", 1024**2),
        ("10MB", 10 * 1024**2),
        ("10 mb", 10 * 1024**2),
        ("10M", 10 * 1024**2),
        ("10MiB", 10 * 1024**2),
        ("1GB", 1024**3),
        ("2GiB", 2 * 1024**3),
        ("1.5MB", 1572864),
        ("0.5KB", 512),
    ],
)
def test_a_size_is_bytes_or_a_number_with_binary_units(value: str | int, size: int) -> None:
    assert parse_size(value) == size


@pytest.mark.parametrize("text", ["", "MB", "ten MB", "10 TB", "10MBs", "x10MB", "-1MB", "1.MB"])
def test_anything_but_a_number_and_a_unit_is_not_a_size(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a size: use a number and B, KB, MB or GB"):
        parse_size(text)


@pytest.mark.parametrize("value", [True, False])
def test_a_yes_or_no_is_not_a_size(value: bool) -> None:
    with pytest.raises(ValueError, match=r"^expected a size such as 10MB$"):
        parse_size(value)
