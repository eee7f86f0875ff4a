"""The SQLite store: the embedded default, one file, one writer."""

from __future__ import annotations

from watcher.store.sql import SQLStore
from watcher.store.sqlite_base import SQLiteBase


class SQLiteStore(SQLStore, SQLiteBase):
    """Implements ``watcher.store.Store`` on one SQLite file."""
