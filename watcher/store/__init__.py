"""Storage: feeds, stories and their keys, the outbox, and reports, behind one interface.

The rest of watcher depends on ``Store`` (a Protocol, in ``interface``).  Two
implementations share their SQL (``sql_*``): SQLite (``sqlite``, the embedded
default: one process, one file) and PostgreSQL (``postgres``: any number of
instances on one database).  Only this package speaks SQL.
"""

from __future__ import annotations

from datetime import timedelta
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
from watcher.store.sql_base import DEFAULT_LEASE
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


def open_store(
    database: Path | str, *, instance: str = "", lease: timedelta = DEFAULT_LEASE
) -> Store:
    """The store for a ``database:`` setting: a path is a SQLite file, a
    ``postgresql://`` URL a PostgreSQL database (psycopg is imported only then)."""
    if isinstance(database, Path):
        return SQLiteStore(database, instance=instance)
    from watcher.store.postgres import PostgresStore

    return PostgresStore(database, instance=instance, lease=lease)
