"""The database: migrations keep old files working; a newer file is refused, not damaged."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from watcher.core.errors import StoreError
from watcher.store import MIGRATIONS, SQLiteStore


def test_a_new_database_is_created_at_the_latest_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sub" / "w.db")
    assert store.version == len(MIGRATIONS)
    store.close()


def test_reopening_keeps_data_and_version(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = SQLiteStore(path)
    store.db.execute("INSERT INTO feeds (name, url) VALUES ('a', 'http://x/')")
    store.db.conn.commit()
    store.close()
    again = SQLiteStore(path)
    assert again.feeds_status()[0]["name"] == "a"
    assert again.version == len(MIGRATIONS)


def test_a_database_from_a_newer_watcher_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this watcher"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use database"):
        SQLiteStore(path)
