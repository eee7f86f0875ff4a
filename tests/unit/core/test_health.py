"""A broken feed is worth one notice once it has failed for long, one more when it works again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.core.health import HealthNotice, health_notice

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
URL = "https://x.org/rss"


def notice(
    error: str | None,
    failing_since: datetime | None,
    notice_sent: bool,
    alert_after: timedelta = HOUR,
) -> HealthNotice | None:
    return health_notice(
        feed="wire",
        url=URL,
        error=error,
        failing_since=failing_since,
        notice_sent=notice_sent,
        now=NOW,
        alert_after=alert_after,
    )


@pytest.mark.parametrize(
    ("failing_since", "notice_sent", "alert_after", "kind"),
    [
        (None, False, HOUR, None),  # the first failure
        (NOW - timedelta(minutes=59), False, HOUR, None),
        (NOW - HOUR, False, HOUR, "failing"),  # exactly alert_after
        (NOW - 3 * HOUR, False, HOUR, "failing"),
        (NOW - 3 * HOUR, True, HOUR, None),  # told already
        (None, False, timedelta(0), "failing"),  # alert_after 0: told at once
        (None, True, timedelta(0), None),
    ],
)
def test_a_failing_feed_is_reported_once_it_has_failed_for_alert_after(
    failing_since: datetime | None, notice_sent: bool, alert_after: timedelta, kind: str | None
) -> None:
    found = notice("HTTP 503", failing_since, notice_sent, alert_after)
    assert (found.kind if found else None) == kind


@pytest.mark.parametrize(
    ("failing_since", "notice_sent", "kind"),
    [
        (None, False, None),  # it was fine
        (NOW - timedelta(minutes=5), False, None),  # a short outage nobody was told of
        (NOW - 3 * HOUR, False, None),
        (NOW - 3 * HOUR, True, "recovered"),
        (None, True, "recovered"),
    ],
)
def test_a_recovery_is_reported_only_after_a_failing_notice(
    failing_since: datetime | None, notice_sent: bool, kind: str | None
) -> None:
    found = notice(None, failing_since, notice_sent)
    assert (found.kind if found else None) == kind


@pytest.mark.parametrize(
    ("error", "failing_since", "notice_sent", "expected"),
    [
        (
            "HTTP 503 Service Unavailable",
            datetime(2026, 1, 10, 9, 30, tzinfo=UTC),
            False,
            HealthNotice(
                "failing",
                "watcher: feed 'wire' has failed for 2h30m",
                "The feed 'wire' (https://x.org/rss) has failed since 2026-01-10 09:30 UTC.\n"
                "Last error: HTTP 503 Service Unavailable\n"
                "You will be told once more when it works again.",
            ),
        ),
        (
            None,
            datetime(2026, 1, 10, 9, 30, tzinfo=UTC),
            True,
            HealthNotice(
                "recovered",
                "watcher: feed 'wire' works again",
                "The feed 'wire' (https://x.org/rss) was fetched successfully again.",
            ),
        ),
    ],
)
def test_the_notices_name_the_feed_its_url_how_long_and_the_last_error(
    error: str | None, failing_since: datetime, notice_sent: bool, expected: HealthNotice
) -> None:
    assert notice(error, failing_since, notice_sent) == expected


def replay(polls: list[tuple[int, str | None]]) -> list[tuple[int, str]]:
    """The notices over a run of polls (minute, error), keeping state as the daemon does."""
    failing_since: datetime | None = None
    notice_sent = False
    told: list[tuple[int, str]] = []
    start = NOW
    for minute, error in polls:
        now = start + timedelta(minutes=minute)
        found = health_notice(
            feed="wire",
            url=URL,
            error=error,
            failing_since=failing_since,
            notice_sent=notice_sent,
            now=now,
            alert_after=HOUR,
        )
        if found:
            told.append((minute, found.kind))
            notice_sent = found.kind == "failing"
        if error is None:
            failing_since, notice_sent = None, False
        elif failing_since is None:
            failing_since = now
    return told


@pytest.mark.parametrize(
    ("polls", "told"),
    [
        ([(m, "timeout") for m in range(0, 50, 10)] + [(50, None)], []),
        ([(m, "timeout") for m in range(0, 240, 10)], [(60, "failing")]),
        (
            [(m, "timeout") for m in range(0, 120, 10)] + [(120, None), (130, None)],
            [(60, "failing"), (120, "recovered")],
        ),
        (
            [(0, "x"), (70, "x"), (80, None), (90, "x"), (100, "x"), (160, "x")],
            [(70, "failing"), (80, "recovered"), (160, "failing")],
        ),
    ],
)
def test_a_feed_broken_for_hours_gets_one_notice_not_one_per_poll(
    polls: list[tuple[int, str | None]], told: list[tuple[int, str]]
) -> None:
    assert replay(polls) == told
