"""The SQLite file itself: opening, pragmas, migrations, and the helpers every domain uses."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from watcher.core.errors import StoreError
from watcher.store.migrations import MIGRATIONS

# SQLite caps the number of parameters in one statement.
CHUNK = 500


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class SQLiteBase:
    """An open database at the latest schema version."""

    def __init__(self, path: Path) -> None:
        self.path = path
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

    def close(self) -> None:
        self.db.close()

    @property
    def version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"database {self.path} is version {current}, newer than this watcher "
                f"understands ({len(MIGRATIONS)}): upgrade watcher"
            )
        for number in range(current, len(MIGRATIONS)):
            with self.db.atomic():
                MIGRATIONS[number](self.db)
                self.db.execute(f"PRAGMA user_version = {number + 1}")

    def _where_in(self, sql: str, values: Iterable[Any], *before: object) -> list[Any]:
        """Rows of ``sql`` whose ``IN ({marks})`` takes ``values``, a chunk at a time."""
        wanted = list(dict.fromkeys(values))
        rows: list[Any] = []
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(sql.format(marks=marks), [*before, *chunk]).fetchall()
        return rows

    def _count(self, sql: str, params: Iterable[Any] = ()) -> int:
        return int(self.db.execute(sql, list(params)).fetchone()[0])
