"""When digests go out, and when a channel's quiet hours end."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from watcher.core.schedule import check_digest, next_digest, parse_quiet, quiet_until

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("spec", "now", "until"),
    [
        # across midnight: quiet in the evening, until the next morning
        (
            "22:00-07:00",
            datetime(2026, 3, 1, 23, 30, tzinfo=UTC),
            datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        ),
        # across midnight: quiet after midnight, until this morning
        (
            "22:00-07:00",
            datetime(2026, 3, 2, 3, 0, tzinfo=UTC),
            datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        ),
        # the end itself is no longer quiet; the start is
        ("22:00-07:00", datetime(2026, 3, 2, 7, 0, tzinfo=UTC), None),
        (
            "22:00-07:00",
            datetime(2026, 3, 2, 22, 0, tzinfo=UTC),
            datetime(2026, 3, 3, 7, 0, tzinfo=UTC),
        ),
        ("22:00-07:00", datetime(2026, 3, 2, 12, 0, tzinfo=UTC), None),
        # within one day
        (
            "12:00-14:00",
            datetime(2026, 3, 2, 13, 59, tzinfo=UTC),
            datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        ),
        ("12:00-14:00", datetime(2026, 3, 2, 11, 59, tzinfo=UTC), None),
    ],
)
def test_quiet_hours_end_at_the_next_end_time(
    spec: str, now: datetime, until: datetime | None
) -> None:
    assert quiet_until(spec, now, UTC) == until


def test_quiet_hours_are_in_the_configured_time_zone() -> None:
    # 21:30 UTC is 22:30 in Paris in March: quiet until 07:00 Paris, 06:00 UTC.
    now = datetime(2026, 3, 1, 21, 30, tzinfo=UTC)
    assert quiet_until("22:00-07:00", now, PARIS) == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert quiet_until("22:00-07:00", now, UTC) is None


@pytest.mark.parametrize("spec", ["22:00-25:00", "10pm-7am", "22:00", "07:00-07:00", "7:60-8:00"])
def test_a_quiet_range_that_is_not_one_is_refused_in_words(spec: str) -> None:
    with pytest.raises(ValueError, match="quiet"):
        parse_quiet(spec)


@pytest.mark.parametrize(
    ("spec", "after", "at"),
    [
        (
            "hourly",
            datetime(2026, 3, 1, 10, 5, tzinfo=UTC),
            datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
        ),
        ("daily", datetime(2026, 3, 1, 8, 0, tzinfo=UTC), datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        (
            "*/15 * * * *",
            datetime(2026, 3, 1, 10, 15, tzinfo=UTC),
            datetime(2026, 3, 1, 10, 30, tzinfo=UTC),
        ),
    ],
)
def test_the_next_digest_is_strictly_after(spec: str, after: datetime, at: datetime) -> None:
    assert next_digest(spec, after, UTC) == at


# ---------------------------------------------------------------- digest specs at load (#18)


@pytest.mark.parametrize(
    "spec", ["hourly", "daily", " Daily ", "HOURLY", "0 8 * * *", "*/15 * * * *", "0 9 * * mon-fri"]
)
def test_a_digest_schedule_is_hourly_daily_or_a_cron_expression(spec: str) -> None:
    check_digest(spec)


@pytest.mark.parametrize(
    "spec", ["weekly", "", "0 8 * *", "61 * * * *", "0 25 * * *", "every morning", "0 8 * * * *"]
)
def test_a_digest_schedule_that_is_not_one_is_refused_in_words(spec: str) -> None:
    with pytest.raises(ValueError) as refused:
        check_digest(spec)
    message = str(refused.value)
    assert message.startswith(f"digest {spec!r} is not hourly, daily or a cron expression")
    assert "such as '0 8 * * *' (" in message
    assert refused.value.__cause__ is None and refused.value.__suppress_context__


@pytest.mark.parametrize(
    ("spec", "after", "at"),
    [
        # exactly at a digest time: that one is past, the next is due
        (
            "hourly",
            datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
            datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
        ),
        # a moment after a digest time, within its minute or its second
        (
            "hourly",
            datetime(2026, 3, 1, 10, 0, 0, 1, tzinfo=UTC),
            datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
        ),
        (
            "hourly",
            datetime(2026, 3, 1, 10, 0, 30, tzinfo=UTC),
            datetime(2026, 3, 1, 11, 0, tzinfo=UTC),
        ),
        # a moment before one: that one
        (
            "hourly",
            datetime(2026, 3, 1, 9, 59, 59, 999999, tzinfo=UTC),
            datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
        ),
        (
            "* * * * *",
            datetime(2026, 3, 1, 10, 0, tzinfo=UTC),
            datetime(2026, 3, 1, 10, 1, tzinfo=UTC),
        ),
        (
            " DAILY ",
            datetime(2026, 3, 1, 7, 0, tzinfo=UTC),
            datetime(2026, 3, 1, 8, 0, tzinfo=UTC),
        ),
    ],
)
def test_a_digest_due_exactly_now_is_not_the_next_one(
    spec: str, after: datetime, at: datetime
) -> None:
    assert next_digest(spec, after, UTC) == at


def test_digest_times_are_in_the_configured_time_zone() -> None:
    # 08:00 in Paris in March is 07:00 UTC.
    after = datetime(2026, 3, 1, 7, 0, tzinfo=UTC)
    assert next_digest("daily", after, PARIS) == datetime(2026, 3, 2, 7, 0, tzinfo=UTC)
    assert next_digest("daily", after - timedelta(seconds=1), PARIS) == after


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("22:30-07:15", time(22, 30), time(7, 15)),
        ("7:05-9:45", time(7, 5), time(9, 45)),
        (" 00:00 - 23:59 ", time(0, 0), time(23, 59)),
    ],
)
def test_a_quiet_range_is_read_to_the_minute(spec: str, start: time, end: time) -> None:
    assert parse_quiet(spec) == (start, end)


@pytest.mark.parametrize(
    ("spec", "now", "until"),
    [
        # within one day, the start minute is quiet and the end minute is not
        (
            "12:00-14:00",
            datetime(2026, 3, 2, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        ),
        ("12:00-14:00", datetime(2026, 3, 2, 14, 0, tzinfo=UTC), None),
        (
            "12:00-14:00",
            datetime(2026, 3, 2, 13, 59, 59, tzinfo=UTC),
            datetime(2026, 3, 2, 14, 0, tzinfo=UTC),
        ),
        # minutes of the range count
        ("12:30-14:15", datetime(2026, 3, 2, 12, 29, tzinfo=UTC), None),
        (
            "12:30-14:15",
            datetime(2026, 3, 2, 12, 30, tzinfo=UTC),
            datetime(2026, 3, 2, 14, 15, tzinfo=UTC),
        ),
        ("22:30-07:15", datetime(2026, 3, 2, 22, 29, tzinfo=UTC), None),
        (
            "22:30-07:15",
            datetime(2026, 3, 2, 7, 14, tzinfo=UTC),
            datetime(2026, 3, 2, 7, 15, tzinfo=UTC),
        ),
    ],
)
def test_quiet_hours_include_their_start_and_not_their_end(
    spec: str, now: datetime, until: datetime | None
) -> None:
    assert quiet_until(spec, now, UTC) == until


def test_the_end_of_quiet_hours_is_told_in_the_zone_of_the_clock_that_asked() -> None:
    plus_5 = timezone(timedelta(hours=5))
    now = datetime(2026, 3, 1, 21, 30, tzinfo=UTC).astimezone(plus_5)  # 22:30 in Paris
    until = quiet_until("22:00-07:00", now, PARIS)
    assert until == datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
    assert until is not None and until.tzinfo is plus_5
