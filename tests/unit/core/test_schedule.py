"""When digests go out, and when a channel's quiet hours end."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from watcher.core.schedule import next_digest, parse_quiet, quiet_until

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
