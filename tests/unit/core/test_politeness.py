"""When watcher polls again: what servers ask for, and how failures back off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from watcher.core.politeness import next_poll, parse_max_age, parse_retry_after

NOW = datetime(2025, 11, 25, 12, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)


# ---------------------------------------------------------------- Retry-After


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", NOW + timedelta(seconds=120)),
        (" 0 ", NOW),
        ("Tue, 25 Nov 2025 13:30:00 GMT", NOW + timedelta(minutes=90)),
        ("Tuesday, 25-Nov-25 13:30:00 GMT", NOW + timedelta(minutes=90)),  # RFC 850
        ("Tue Nov 25 13:30:00 2025", NOW + timedelta(minutes=90)),  # asctime
        ("Tue, 25 Nov 2025 14:30:00 +0100", NOW + timedelta(minutes=90)),
        ("Mon, 24 Nov 2025 08:00:00 GMT", NOW),  # already past: retry now
        ("99999999999999999999", NOW + timedelta(days=365)),  # clamped, no overflow
    ],
)
def test_retry_after(value: str, expected: datetime) -> None:
    assert parse_retry_after(value, NOW) == expected


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Tue, 99 Foo 2025"])
def test_unusable_retry_after_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


def test_retry_after_is_always_aware_utc() -> None:
    local = NOW.astimezone(timezone(timedelta(hours=5)))
    when = parse_retry_after("60", local)
    assert when is not None and when.utcoffset() == timedelta(0)
    assert when == NOW + MIN


# ---------------------------------------------------------------- Cache-Control


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("max-age=3600", HOUR),
        ("public, MAX-AGE = 600 , must-revalidate", timedelta(minutes=10)),
        ('max-age="900"', timedelta(minutes=15)),
        ("max-age=0", timedelta(0)),
        ("s-maxage=600", None),  # for shared caches, not for us
        ("max-age=600, no-cache", None),  # "always ask" beats max-age
        ("no-store", None),
        ("max-age=soon", None),
        ('max-age="X60X"', None),  # only quotes may stand around the number
        ("max-age=-1", None),
        ("max-age=10, max-age=20", timedelta(seconds=10)),
        ("max-age=99999999999999999999", timedelta(days=365)),
        ("", None),
        (None, None),
    ],
)
def test_max_age(value: str | None, expected: timedelta | None) -> None:
    assert parse_max_age(value) == expected


# ---------------------------------------------------------------- next poll


def poll(**kw: object) -> timedelta:
    args: dict[str, object] = {
        "now": NOW,
        "interval": 15 * MIN,
        "failures": 0,
        "retry_after": None,
        "max_age": None,
        "rng": lambda: 0.0,
    }
    args.update(kw)
    return next_poll(**args) - NOW  # type: ignore[arg-type]


def test_success_polls_at_the_interval() -> None:
    assert poll() == 15 * MIN


def test_max_age_stretches_the_interval_up_to_the_cap() -> None:
    assert poll(max_age=40 * MIN) == 40 * MIN
    assert poll(max_age=5 * HOUR) == HOUR  # default cap
    assert poll(max_age=5 * HOUR, max_age_cap=2 * HOUR) == 2 * HOUR
    assert poll(max_age=5 * MIN) == 15 * MIN  # never shortens the interval


def test_zero_cap_turns_max_age_off() -> None:
    assert poll(max_age=40 * MIN, max_age_cap=timedelta(0)) == 15 * MIN


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    delays = [poll(failures=n) for n in range(1, 8)]
    assert delays[:5] == [15 * MIN, 30 * MIN, 60 * MIN, 120 * MIN, 240 * MIN]
    assert delays[5:] == [6 * HOUR, 6 * HOUR]
    assert poll(failures=3, backoff_cap=45 * MIN) == 45 * MIN


def test_jitter_stretches_by_up_to_half_and_never_past_the_cap() -> None:
    assert poll(failures=2, rng=lambda: 0.5) == 30 * MIN * 1.25
    assert poll(failures=2, rng=lambda: 0.999) < 45 * MIN
    assert poll(failures=6, rng=lambda: 0.999) == 6 * HOUR


def test_backoff_never_polls_sooner_than_the_interval() -> None:
    assert poll(interval=12 * HOUR, failures=3) == 12 * HOUR


def test_a_long_outage_cannot_overflow() -> None:
    assert poll(failures=10_000, rng=lambda: 0.999) == 6 * HOUR


def test_first_success_recovers_the_normal_interval() -> None:
    assert poll(failures=5) == 4 * HOUR
    assert poll(failures=0) == 15 * MIN


def test_max_age_is_ignored_while_failing() -> None:
    assert poll(failures=1, max_age=HOUR) == 15 * MIN


def test_retry_after_wins_only_when_later() -> None:
    assert poll(failures=1, retry_after=NOW + 2 * HOUR) == 2 * HOUR
    assert poll(failures=1, retry_after=NOW + MIN) == 15 * MIN
    assert poll(failures=0, retry_after=NOW + 2 * HOUR) == 2 * HOUR


def test_negative_failures_is_a_bug() -> None:
    with pytest.raises(ValueError, match="failures"):
        poll(failures=-1)


@given(
    interval_s=st.integers(60, 7 * 24 * 3600),
    failures=st.integers(0, 200),
    jitter=st.floats(0.0, 1.0, exclude_max=True),
    cap_s=st.integers(60, 7 * 24 * 3600),
)
def test_backoff_bounds(interval_s: int, failures: int, jitter: float, cap_s: int) -> None:
    interval, cap = timedelta(seconds=interval_s), timedelta(seconds=cap_s)
    delay = poll(interval=interval, failures=failures, backoff_cap=cap, rng=lambda: jitter)
    assert interval <= delay <= max(interval, cap)
    if failures:
        more = poll(interval=interval, failures=failures + 1, backoff_cap=cap, rng=lambda: jitter)
        assert more >= delay  # more failures never mean sooner polls


# ---------------------------------------------------------------- revoked max-age (#18)


@pytest.mark.parametrize(
    "value",
    [
        "max-age=600, no-cache",
        "max-age=600, no-store",
        "no-store, max-age=600",
        "max-age=600, NO-STORE",
        "private, max-age=600, No-Cache",
        "max-age=600 , no-store ",
    ],
)
def test_no_cache_or_no_store_anywhere_revokes_max_age(value: str) -> None:
    assert parse_max_age(value) is None
