"""Digest times: when the alerts gathered for a digest are sent.

``hourly`` is at minute 0 of every hour, ``daily`` at 08:00, and anything else
is a five-field cron expression (minute hour day month weekday), all in the
config's time zone.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from apscheduler.triggers.cron import CronTrigger

NAMED = {"hourly": "0 * * * *", "daily": "0 8 * * *"}
_SECOND = timedelta(seconds=1)


def _crontab(spec: str) -> str:
    return NAMED.get(spec.strip().lower(), spec.strip())


def check_digest(spec: str) -> None:
    """Raise ValueError, in words, if ``spec`` is not a digest schedule."""
    try:
        CronTrigger.from_crontab(_crontab(spec))
    except ValueError as exc:
        raise ValueError(
            f"digest {spec!r} is not hourly, daily or a cron expression such as '0 8 * * *' ({exc})"
        ) from None


def next_digest(spec: str, after: datetime, zone: tzinfo) -> datetime:
    """The first digest time strictly after ``after``."""
    trigger = CronTrigger.from_crontab(_crontab(spec), timezone=zone)
    moment: datetime | None = trigger.get_next_fire_time(None, after)
    assert moment is not None  # a valid crontab always fires again
    if moment <= after:
        moment = trigger.get_next_fire_time(moment, after.replace(microsecond=0) + _SECOND)
        assert moment is not None
    return moment
