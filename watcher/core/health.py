"""Feed health: when a broken feed is worth one notice, and when its recovery is.

A user is told once when a feed has failed for longer than ``feed_alert_after``
and once when it works again; never once per failed poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from watcher.core.units import format_duration


@dataclass(frozen=True, slots=True)
class HealthNotice:
    kind: Literal["failing", "recovered"]
    title: str
    body: str


def health_notice(
    *,
    feed: str,
    url: str,
    error: str | None,
    failing_since: datetime | None,
    notice_sent: bool,
    now: datetime,
    alert_after: timedelta,
) -> HealthNotice | None:
    """The notice this poll calls for, if any.

    ``failing_since`` is when the current run of failures began (None if the feed
    was fine before this poll); ``error`` is this poll's error (None on success).
    """
    if error is None:
        if not notice_sent:
            return None
        return HealthNotice(
            "recovered",
            f"watcher: feed '{feed}' works again",
            f"The feed '{feed}' ({url}) was fetched successfully again.",
        )
    since = failing_since or now
    if notice_sent or now - since < alert_after:
        return None
    return HealthNotice(
        "failing",
        f"watcher: feed '{feed}' has failed for {format_duration(now - since)}",
        f"The feed '{feed}' ({url}) has failed since {since:%Y-%m-%d %H:%M} UTC.\n"
        f"Last error: {error}\n"
        "You will be told once more when it works again.",
    )
