"""Dates as feeds, sitemaps and JSON Feeds write them, read as aware UTC or not at all."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from watcher.core.dates import as_utc, iso_datetime

PLUS_2 = timezone(timedelta(hours=2))


@pytest.mark.parametrize(
    ("value", "moment"),
    [
        # a date alone, or a time without a zone, is UTC (as the sitemap and JSON Feed specs say)
        ("2024-12-03", datetime(2024, 12, 3, tzinfo=UTC)),
        ("2024-12-03T10:00", datetime(2024, 12, 3, 10, 0, tzinfo=UTC)),
        ("2024-12-03T10:00:30.5", datetime(2024, 12, 3, 10, 0, 30, 500000, tzinfo=UTC)),
        # a zone is converted to UTC
        ("2024-12-03T10:00Z", datetime(2024, 12, 3, 10, 0, tzinfo=UTC)),
        ("2024-12-03T10:00:00+02:00", datetime(2024, 12, 3, 8, 0, tzinfo=UTC)),
        ("2024-12-03T01:00:00-05:00", datetime(2024, 12, 3, 6, 0, tzinfo=UTC)),
        ("2024-12-03T23:30:00-01:00", datetime(2024, 12, 4, 0, 30, tzinfo=UTC)),
        # spaces around it are no part of it
        ("  2024-12-03T10:00Z\n", datetime(2024, 12, 3, 10, 0, tzinfo=UTC)),
    ],
)
def test_an_iso_date_is_read_as_aware_utc(value: str, moment: datetime) -> None:
    found = iso_datetime(value)
    assert found == moment
    assert found is not None and found.tzinfo is UTC


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "yesterday", "2024-13-03", "2024-12-03T25:00", "Tue, 03 Dec 2024", 20241203],
)
def test_anything_but_an_iso_date_is_none(value: object) -> None:
    assert iso_datetime(value) is None


@pytest.mark.parametrize(
    ("moment", "utc"),
    [
        (datetime(2024, 12, 3, 10, 0), datetime(2024, 12, 3, 10, 0, tzinfo=UTC)),  # naive: UTC
        (datetime(2024, 12, 3, 10, 0, tzinfo=PLUS_2), datetime(2024, 12, 3, 8, 0, tzinfo=UTC)),
        (datetime(2024, 12, 3, 10, 0, tzinfo=UTC), datetime(2024, 12, 3, 10, 0, tzinfo=UTC)),
    ],
)
def test_a_moment_in_utc_keeps_its_instant_and_says_utc(moment: datetime, utc: datetime) -> None:
    found = as_utc(moment)
    assert found == utc
    assert found.tzinfo is UTC
    assert (found.hour, found.minute) == (utc.hour, utc.minute)


@pytest.fixture
def machine_clock_in_kolkata(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's own time zone, which naive datetimes must never be read in."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("machine_clock_in_kolkata")
def test_a_date_without_a_zone_is_utc_whatever_the_machine_s_zone() -> None:
    assert as_utc(datetime(2024, 12, 3, 10, 0)) == datetime(2024, 12, 3, 10, 0, tzinfo=UTC)
    assert iso_datetime("2024-12-03T10:00") == datetime(2024, 12, 3, 10, 0, tzinfo=UTC)
