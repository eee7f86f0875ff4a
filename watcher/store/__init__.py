"""Storage: feeds, stories and their keys, the outbox, and reports, behind one interface.

The rest of watcher depends on ``Store`` (a Protocol, in ``interface``); SQLite
(``sqlite``, the embedded default) is the one implementation today, and the
only code that speaks SQL.
"""

from __future__ import annotations

from pathlib import Path

from watcher.store.interface import (
    FeedStore,
    MuteStore,
    OutboxStore,
    ReportStore,
    Row,
    Store,
    StoryStore,
)
from watcher.store.migrations import MIGRATIONS
from watcher.store.sqlite import SQLiteStore

__all__ = [
    "MIGRATIONS",
    "FeedStore",
    "MuteStore",
    "OutboxStore",
    "ReportStore",
    "Row",
    "SQLiteStore",
    "Store",
    "StoryStore",
    "open_store",
]


def open_store(database: Path) -> Store:
    """The store for a ``database:`` setting (a path: SQLite)."""
    return SQLiteStore(database)
