"""Copy a SQLite database into an empty PostgreSQL one (``watcher migrate``, #17).

Every table the two schemas share, row for row, ids kept: the story keys keep
every story known, the once-keys keep every alert told, the outbox keeps what
waits, so a user moving to PostgreSQL gets no alert storm.  One transaction: a
copy that fails leaves the target as empty as it was.
"""

from __future__ import annotations

from collections.abc import Callable

from watcher.core.errors import StoreError
from watcher.store.postgres import PostgresStore
from watcher.store.sqlite import SQLiteStore

# Parents before children (alerts name stories, deliveries name alerts).
TABLES = ("feeds", "stories", "story_keys", "hits", "alerts", "deliveries", "sends", "mutes")
# Columns whose ids PostgreSQL hands out itself after the copy.
IDENTITIES = (("alerts", "id"), ("deliveries", "id"))
# Not copied: which instance holds what is the old database's business, not the new one's.
LEASES = {"lease_owner", "lease_until", "claimed_by", "claim_until"}
BATCH = 2000

Progress = Callable[[str, int], None]


def copy_database(
    source: SQLiteStore, target: PostgresStore, progress: Progress | None = None
) -> dict[str, int]:
    """Rows copied per table; ``progress(table, rows)`` after each batch."""
    if target.last_story_id() or target.stored_feeds():
        raise StoreError(
            f"database {target.describe()} already holds feeds or stories: migrate copies"
            " into an empty database only"
        )
    copied: dict[str, int] = {}
    with target.db.atomic():
        target._lock_writes()
        for table in TABLES:
            columns = [
                row[1]
                for row in source.db.execute(f"PRAGMA table_info({table})").fetchall()
                if row[1] not in LEASES
            ]
            names = ", ".join(columns)
            marks = ", ".join("?" * len(columns))
            cursor = source.db.execute(f"SELECT {names} FROM {table}")
            copied[table] = 0
            while rows := cursor.fetchmany(BATCH):
                target.db.conn.executemany(
                    f"INSERT INTO {table} ({names}) VALUES ({marks})", [tuple(r) for r in rows]
                )
                copied[table] += len(rows)
                if progress is not None:
                    progress(table, len(rows))
        for table, column in IDENTITIES:
            target.db.execute(
                f"""SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                  COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"""
            )
    return copied


def count_rows(source: SQLiteStore) -> int:
    """Rows to copy, for a progress bar."""
    return sum(source._count(f"SELECT count(*) FROM {table}") for table in TABLES)
