"""Digest times: when the alerts gathered for a digest are sent.

``hourly`` is at minute 0 of every hour, ``daily`` at 08:00, and anything else
is a five-field cron expression (minute hour day month weekday), all in the
config's time zone.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo

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


_QUIET = re.compile(r"^\s*([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)\s*$")


def parse_quiet(spec: str) -> tuple[time, time]:
    """``"22:00-07:00"`` as (start, end); ValueError, in words, for anything else."""
    match = _QUIET.match(spec)
    if match is None:
        raise ValueError(f"quiet {spec!r} is not a time range such as '22:00-07:00'")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if (h1, m1) == (h2, m2):
        raise ValueError(f"quiet {spec!r} starts and ends at the same time")
    return time(h1, m1), time(h2, m2)


def quiet_until(spec: str, now: datetime, zone: tzinfo) -> datetime | None:
    """When the quiet hours ``spec`` that ``now`` falls in end (None: not quiet now).

    A range may cross midnight ("22:00-07:00"); times are in ``zone``.
    """
    start, end = parse_quiet(spec)
    local = now.astimezone(zone)
    clock = local.time().replace(second=0, microsecond=0)
    if start < end:
        quiet = start <= clock < end
        ends_tomorrow = False
    else:  # across midnight
        quiet = clock >= start or clock < end
        ends_tomorrow = clock >= start
    if not quiet:
        return None
    day = local.date() + timedelta(days=1 if ends_tomorrow else 0)
    moment = datetime.combine(day, end, tzinfo=zone)
    # A wall-clock time that a DST change skips or repeats: take it as the zone says.
    return moment.astimezone(now.tzinfo or zone)
