"""The SQLite file itself: opening, pragmas and migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlite_utils

from watcher.core.errors import StoreError
from watcher.store.migrations import MIGRATIONS
from watcher.store.sql_base import SQLBase


class SQLiteBase(SQLBase):
    """An open SQLite file at the latest schema version."""

    driver_errors = (sqlite3.Error,)

    def __init__(self, path: Path, *, instance: str = "") -> None:
        self.path = path
        self.instance = instance
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite_utils.Database(path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot use database {path}: {exc}") from None

    def describe(self) -> str:
        return str(self.path)

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        for number in self._pending_migrations(self.version, len(MIGRATIONS)):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")
