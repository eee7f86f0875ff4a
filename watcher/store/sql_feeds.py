"""Feeds in SQLite: each feed's polling state, and the user's renames and URL changes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from watcher.core.records import FeedChange, FeedMoved, FeedRenamed, FeedState, StoredFeed
from watcher.store.sql_base import SQLBase, from_iso, iso

# An instance that claimed feeds this recently is alive, and gets its share.
ALIVE = timedelta(seconds=10)


class SQLFeeds(SQLBase):
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
            # A key the new name already has stays as it is (the story is known either way).
            self.db.execute(
                """UPDATE story_keys SET key = ? || substr(key, ?)
                   WHERE substr(key, 1, ?) = ? AND NOT EXISTS (
                       SELECT 1 FROM story_keys o WHERE o.key = ? || substr(story_keys.key, ?))""",
                [f"{kind}:{new}\x1f", len(prefix) + 1, len(prefix), prefix,
                 f"{kind}:{new}\x1f", len(prefix) + 1],
            )  # fmt: skip
        suffix = f":{old}"
        rows = self.db.execute(
            """SELECT id, once_key FROM alerts WHERE kind = 'update'
               AND substr(once_key, length(once_key) - ?) = ?""",
            [len(suffix) - 1, suffix],
        ).fetchall()
        renamed = [(key.removesuffix(suffix) + f":{new}", alert_id) for alert_id, key in rows]
        self.db.conn.executemany(
            """UPDATE alerts SET once_key = ? WHERE id = ?
               AND NOT EXISTS (SELECT 1 FROM alerts o WHERE o.once_key = ?)""",
            [(key, alert_id, key) for key, alert_id in renamed],
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

    # -- leases: which instance polls a feed (a shared database; #17) -------------------

    def register_feeds(self, feeds: Mapping[str, str]) -> None:
        """Configured feeds (name -> URL) have a row to lease, due at once if new."""
        self.db.conn.executemany(
            "INSERT INTO feeds (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
            list(feeds.items()),
        )

    def claim_due_feeds(
        self, hosts: Mapping[str, str], now: datetime, *, limit: int, per_host: int
    ) -> list[str]:
        """Lease up to ``limit`` due feeds among ``hosts`` (feed name -> host) until
        ``now + lease``: the longest overdue first, none held by a server-requested delay
        or a backoff, and never more of one host at once, counting every instance's
        leases, than ``per_host``.  The poll's write ends the lease.

        Each instance takes its share of what is due (the due feeds over the instances
        that claimed in the last ``ALIVE``), so that instances split the feeds rather
        than the first to look taking all; what one leaves, the next look takes."""
        if limit <= 0 or not hosts:
            return []
        at, until = iso(now), iso(now + self.lease)
        with self.db.atomic():
            self._lock_claims()
            self.db.execute(
                """INSERT INTO instances (name, seen_at) VALUES (?, ?)
                   ON CONFLICT (name) DO UPDATE SET seen_at = excluded.seen_at""",
                [self.instance, at],
            )
            alive = self._count(
                "SELECT count(*) FROM instances WHERE seen_at >= ?", [iso(now - ALIVE)]
            )
            busy: dict[str, int] = dict(
                self.db.execute(
                    """SELECT host, count(*) FROM feeds WHERE lease_until > ?
                       AND host IS NOT NULL GROUP BY host""",
                    [at],
                ).fetchall()
            )
            rows = self._where_in(
                f"""SELECT name, next_poll FROM feeds
                    WHERE (next_poll IS NULL OR next_poll <= ?)
                    AND (hold_until IS NULL OR hold_until <= ?)
                    AND (lease_until IS NULL OR lease_until <= ?)
                    AND name IN ({{marks}}) {self.skip_locked}""",
                hosts,
                at,
                iso(now - timedelta(seconds=1)),  # held: stored rounded down
                at,
            )
            limit = min(limit, -(-len(rows) // max(alive, 1)))
            chosen: list[str] = []
            for name, _next_poll in sorted(rows, key=lambda row: (row[1] or "", row[0])):
                host = hosts[name]
                if busy.get(host, 0) >= per_host:
                    continue
                busy[host] = busy.get(host, 0) + 1
                chosen.append(name)
                if len(chosen) >= limit:
                    break
            self.db.conn.executemany(
                "UPDATE feeds SET lease_owner = ?, lease_until = ?, host = ? WHERE name = ?",
                [(self.instance, until, hosts[name], name) for name in chosen],
            )
        return chosen

    def release_feeds(self, names: Sequence[str]) -> int:
        """End this instance's leases of ``names`` (a stop hands its feeds on)."""
        with self.db.atomic():
            rows = self._where_in(
                """UPDATE feeds SET lease_until = NULL WHERE lease_owner = ?
                   AND lease_until IS NOT NULL AND name IN ({marks}) RETURNING name""",
                names,
                self.instance,
            )
        return len(rows)
