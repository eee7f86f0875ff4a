"""Dates as feeds, sitemaps and JSON Feeds write them (ISO 8601 / W3C), as aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_datetime(value: object) -> datetime | None:
    """``2024-12-03``, ``2024-12-03T10:00Z`` or with an offset, as aware UTC; None if not one.

    A date without a zone is taken as UTC, as the sitemap and JSON Feed specs intend.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return as_utc(moment)


def as_utc(moment: datetime) -> datetime:
    """``moment`` in UTC; a naive datetime is taken to be UTC already."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
