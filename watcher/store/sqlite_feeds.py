"""Feeds in SQLite: each feed's polling state, and the user's renames and URL changes."""

from __future__ import annotations

from collections.abc import Sequence

from watcher.core.records import FeedChange, FeedMoved, FeedRenamed, FeedState, StoredFeed
from watcher.store.sqlite_base import SQLiteBase, from_iso


class SQLiteFeeds(SQLiteBase):
    def feed_state(self, name: str) -> FeedState | None:
        row = self.db.execute(
            """SELECT name, url, etag, last_modified, body_hash, first_polled_at,
                      consecutive_failures, failing_since, next_poll, hold_until,
                      effective_url, notice_sent FROM feeds WHERE name = ?""",
            [name],
        ).fetchone()
        if row is None:
            return None
        return FeedState(
            name=row[0],
            url=row[1],
            etag=row[2],
            last_modified=row[3],
            body_hash=row[4],
            first_polled_at=from_iso(row[5]),
            consecutive_failures=row[6],
            failing_since=from_iso(row[7]),
            next_poll=from_iso(row[8]),
            hold_until=from_iso(row[9]),
            effective_url=row[10],
            notice_sent=bool(row[11]),
        )

    def stored_feeds(self) -> list[StoredFeed]:
        return [
            StoredFeed(name, url)
            for name, url in self.db.execute("SELECT name, url FROM feeds ORDER BY name")
        ]

    def apply_feed_changes(self, changes: Sequence[FeedChange]) -> None:
        with self.db.atomic():
            for change in changes:
                if isinstance(change, FeedRenamed):
                    self._rename_feed(change.old, change.new)
                elif isinstance(change, FeedMoved):
                    self._move_feed(change.name, change.new_url)

    def _rename_feed(self, old: str, new: str) -> None:
        """The feed's row, its stories, its feed-scoped keys and once-keys follow the name."""
        self.db.execute("UPDATE feeds SET name = ? WHERE name = ?", [new, old])
        self.db.execute("UPDATE stories SET feed = ? WHERE feed = ?", [new, old])
        self.db.execute("UPDATE story_keys SET feed = ? WHERE feed = ?", [new, old])
        for kind in ("guid", "title"):
            prefix = f"{kind}:{old}\x1f"
            self.db.execute(
                """UPDATE OR IGNORE story_keys SET key = ? || substr(key, ?)
                   WHERE substr(key, 1, ?) = ?""",
                [f"{kind}:{new}\x1f", len(prefix) + 1, len(prefix), prefix],
            )
        suffix = f":{old}"
        rows = self.db.execute(
            "SELECT id, once_key FROM alerts WHERE kind = 'update' AND substr(once_key, ?) = ?",
            [-len(suffix), suffix],
        ).fetchall()
        self.db.conn.executemany(
            "UPDATE OR IGNORE alerts SET once_key = ? WHERE id = ?",
            [(key.removesuffix(suffix) + f":{new}", alert_id) for alert_id, key in rows],
        )

    def _move_feed(self, name: str, url: str) -> None:
        """What the old URL taught (validators, redirect, backoff, health) is forgotten;
        its first poll is a first poll again, so the new URL's old items never flood."""
        self.db.execute(
            """UPDATE feeds SET url = ?, etag = NULL, last_modified = NULL, body_hash = NULL,
               effective_url = NULL, first_polled_at = NULL, last_fetch = NULL,
               last_success = NULL, last_status = NULL, last_error = NULL, problem = NULL,
               failing_since = NULL, consecutive_failures = 0, next_poll = NULL,
               hold_until = NULL, notice_sent = 0, last_duration = NULL, items = 0
               WHERE name = ?""",
            [url, name],
        )
