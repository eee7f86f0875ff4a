"""The one clock: the shell reads the time here and passes it into the pure core."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware in UTC; the default ``Clock`` the shell hands the core."""
    return datetime.now(UTC)
