"""When to poll a feed next: the decisions that keep watcher a polite client.

Pure functions of what the server said and how often the feed failed, so the
schedule can be tested without a clock or a network.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from watcher.core.dates import as_utc

# Anything larger is a server bug (or an overflow attempt), not a real wish.
MAX_HEADER_DELAY = timedelta(days=365)
_MAX_HEADER_SECONDS = int(MAX_HEADER_DELAY.total_seconds())
# Jitter stretches each backoff step by up to this fraction, so feeds of one
# failing host drift apart instead of retrying in lockstep.
JITTER = 0.5

_DIGITS = re.compile(r"\d+")


def parse_retry_after(value: str | None, now: datetime) -> datetime | None:
    """Turn ``Retry-After`` (seconds or an HTTP date) into a moment; None when unusable.

    A date in the past means "now"; absurdly far futures are clamped so a
    buggy header cannot overflow a datetime or silence a feed for ever.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    # Naive datetimes are UTC: HTTP dates and our clock are both UTC.
    now = as_utc(now)
    if _DIGITS.fullmatch(text):
        seconds = min(int(text), _MAX_HEADER_SECONDS)
        return now + timedelta(seconds=seconds)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    when = as_utc(when)
    return min(max(when, now), now + MAX_HEADER_DELAY)


def parse_max_age(cache_control: str | None) -> timedelta | None:
    """The ``max-age`` a server grants a private cache; None when absent or revoked.

    ``no-cache``/``no-store`` mean "always ask again", so they cancel max-age.
    """
    if not cache_control:
        return None
    max_age: timedelta | None = None
    for directive in cache_control.split(","):
        name, _, raw = directive.partition("=")
        name = name.strip().lower()
        if name in ("no-cache", "no-store"):
            return None
        if name == "max-age" and max_age is None:
            digits = raw.strip().strip('"')
            if _DIGITS.fullmatch(digits):
                seconds = min(int(digits), _MAX_HEADER_SECONDS)
                max_age = timedelta(seconds=seconds)
    return max_age


def next_poll(
    *,
    now: datetime,
    interval: timedelta,
    failures: int,
    retry_after: datetime | None,
    max_age: timedelta | None,
    max_age_cap: timedelta = timedelta(hours=1),
    backoff_cap: timedelta = timedelta(hours=6),
    rng: Callable[[], float] = random.random,
) -> datetime:
    """When to poll next.

    Success: the interval, stretched to the server's max-age up to ``max_age_cap``
    (a zero cap ignores max-age). Failure number n: ``interval * 2**(n-1)`` stretched
    by up to 50 % jitter, never beyond ``backoff_cap`` and never sooner than the
    interval. A later ``retry_after`` always wins.
    """
    if failures < 0:
        raise ValueError(f"failures must be >= 0, got {failures}")
    if failures == 0:
        delay = interval
        if max_age is not None and max_age_cap > timedelta(0):
            delay = max(interval, min(max_age, max_age_cap))
    else:
        # Work in float seconds with a bounded exponent so a long outage cannot overflow.
        base = interval.total_seconds() * 2.0 ** min(failures - 1, 60)
        jittered = base * (1.0 + JITTER * rng())
        capped = min(jittered, backoff_cap.total_seconds())
        delay = max(interval, timedelta(seconds=capped))
    when = now + delay
    if retry_after is not None and retry_after > when:
        when = retry_after
    return when
