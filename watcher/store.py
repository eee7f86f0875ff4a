"""Storage: the SQLite file that remembers feeds, stories, alerts and the outbox.

Every write that belongs to one decision happens in one transaction, so a
crash leaves either nothing or everything of a poll: a story is never marked
seen without its alerts being queued for delivery.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from watcher.core.dedupe import NewStory
from watcher.core.errors import StoreError
from watcher.core.models import Alert, Notice, Snippet, Story


def iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _migration_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            first_polled_at TEXT,
            last_fetch TEXT,
            last_success TEXT,
            last_status INTEGER,
            last_error TEXT,
            problem TEXT,
            failing_since TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            next_poll TEXT,
            hold_until TEXT,
            effective_url TEXT,
            notice_sent INTEGER NOT NULL DEFAULT 0,
            last_duration REAL,
            items INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            feed TEXT NOT NULL,
            guid TEXT,
            link TEXT,
            canonical_link TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            categories TEXT NOT NULL DEFAULT '[]',
            published TEXT,
            seen_at TEXT NOT NULL,
            cluster_id INTEGER NOT NULL,
            fingerprint TEXT,
            text_hash TEXT
        );
        CREATE INDEX stories_seen_at ON stories (seen_at);
        CREATE INDEX stories_cluster ON stories (cluster_id);
        -- Identity outlives the story: a pruned story's keys stay while feeds still list it.
        CREATE TABLE story_keys (
            key TEXT PRIMARY KEY,
            story_id INTEGER NOT NULL,
            last_seen TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX story_keys_last_seen ON story_keys (last_seen);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            story_id INTEGER NOT NULL REFERENCES stories (id),
            rule TEXT NOT NULL,
            snippet TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            -- alert: the first of a cluster; update: another outlet, or an edit in place
            kind TEXT NOT NULL DEFAULT 'alert',
            -- what makes it once-only: alert:<cluster>:<rule>, update:<cluster>:<rule>:<feed>, ...
            once_key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER REFERENCES alerts (id),
            notice TEXT,
            channel TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            digest INTEGER NOT NULL DEFAULT 0,
            UNIQUE (alert_id, channel)
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_attempt);
        CREATE TABLE sends (
            channel TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX sends_channel_at ON sends (channel, at);
        """
    )


# Append only: each entry moves a database from version N to N+1.
MIGRATIONS: Sequence[Callable[[sqlite_utils.Database], None]] = (_migration_1,)


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the last polls of a feed left behind."""

    name: str
    url: str
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    first_polled_at: datetime | None
    consecutive_failures: int
    failing_since: datetime | None
    next_poll: datetime | None
    hold_until: datetime | None
    effective_url: str | None
    notice_sent: bool


@dataclass(frozen=True, slots=True)
class PendingDelivery:
    """One row of the outbox: an alert, or a notice about watcher itself, for one channel."""

    id: int
    channel: str
    attempts: int
    created_at: datetime
    digest: bool = False
    alert: Alert | None = None
    notice: Notice | None = None


@dataclass(frozen=True, slots=True)
class PollRecord:
    """The outcome of one fetch of a feed, as the feeds table keeps it."""

    name: str
    url: str
    now: datetime
    status: int | None
    next_poll: datetime | None
    hold_until: datetime | None = None
    duration: float | None = None
    error: str | None = None
    effective_url: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    items: int | None = None
    problem: str | None = None
    notice_sent: bool | None = None  # None leaves the flag as it was


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """A message about watcher itself (a feed broken for long, or back), for one channel."""

    channel: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Route:
    """A channel an alert must reach, and the digest time it waits for (None: at once)."""

    channel: str
    digest_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueuedAlert:
    """A rule hit to record, and where it must go.

    The story is a new one (``story_index`` into the poll's new stories) or a
    stored one (``story_id``).  ``once_key`` is unique across all alerts ever:
    it is what makes a rule alert once per cluster.
    """

    story_index: int | None
    rule: str
    routes: tuple[Route, ...]
    snippet: Snippet
    once_key: str
    kind: str = "alert"
    story_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A new story to store, with the cluster it joins and what identifies its text."""

    new: NewStory
    cluster_id: int
    fingerprint: str | None
    text_hash: str


@dataclass(frozen=True, slots=True)
class EditedStory:
    """A stored story whose feed now gives other text (an update in place)."""

    story_id: int
    story: Story
    text_hash: str


@dataclass(frozen=True, slots=True)
class KnownStory:
    story_id: int
    cluster_id: int
    text_hash: str | None


class Store:
    """The only module that speaks SQL."""

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

    # -- feeds -------------------------------------------------------------

    def feed_state(self, name: str) -> FeedState | None:
        row = self._one("SELECT * FROM feeds WHERE name = ?", [name])
        if row is None:
            return None
        return FeedState(
            name=row["name"],
            url=row["url"],
            etag=row["etag"],
            last_modified=row["last_modified"],
            body_hash=row["body_hash"],
            first_polled_at=from_iso(row["first_polled_at"]),
            consecutive_failures=row["consecutive_failures"],
            failing_since=from_iso(row["failing_since"]),
            next_poll=from_iso(row["next_poll"]),
            hold_until=from_iso(row["hold_until"]),
            effective_url=row["effective_url"],
            notice_sent=bool(row["notice_sent"]),
        )

    def record_poll(
        self,
        poll: PollRecord,
        *,
        new_stories: Sequence[StoryRecord] = (),
        edited: Sequence[EditedStory] = (),
        alerts: Sequence[QueuedAlert] = (),
        notices: Sequence[QueuedNotice] = (),
        listed_keys: Sequence[str] = (),
    ) -> int:
        """Record one poll and everything decided from it, atomically; returns alerts queued."""
        now = iso(poll.now)
        queued = 0
        with self.db.atomic():
            self._ensure_feed(poll.name, poll.url)
            if poll.error is not None:
                self.db.execute(
                    """UPDATE feeds SET url = ?, last_fetch = ?, last_status = ?, last_error = ?,
                       consecutive_failures = consecutive_failures + 1,
                       failing_since = COALESCE(failing_since, ?), next_poll = ?,
                       hold_until = ?, last_duration = ? WHERE name = ?""",
                    [poll.url, now, poll.status, poll.error, now, iso(poll.next_poll),
                     iso(poll.hold_until), poll.duration, poll.name],
                )  # fmt: skip
            else:
                self.db.execute(
                    """UPDATE feeds SET url = ?, last_fetch = ?, last_success = ?,
                       last_status = ?, last_error = NULL, failing_since = NULL,
                       consecutive_failures = 0, next_poll = ?, hold_until = ?,
                       last_duration = ?, first_polled_at = COALESCE(first_polled_at, ?),
                       etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash),
                       items = COALESCE(?, items), problem = ?,
                       effective_url = COALESCE(?, effective_url) WHERE name = ?""",
                    [poll.url, now, now, poll.status, iso(poll.next_poll), iso(poll.hold_until),
                     poll.duration, now, poll.etag, poll.last_modified, poll.body_hash,
                     poll.items, poll.problem, poll.effective_url, poll.name],
                )  # fmt: skip
            if poll.notice_sent is not None:
                self.db.execute(
                    "UPDATE feeds SET notice_sent = ? WHERE name = ?",
                    [int(poll.notice_sent), poll.name],
                )
            # Keys the feed still lists stay remembered, whatever the story's age.
            self._where_in(
                "UPDATE story_keys SET last_seen = ? WHERE key IN ({marks})", listed_keys, now
            )
            story_ids = self._insert_stories(new_stories, poll.now)
            for edit in edited:
                self.db.execute(
                    """UPDATE stories SET title = ?, summary = ?, content = ?, text_hash = ?
                       WHERE id = ?""",
                    [edit.story.title, edit.story.summary, edit.story.content, edit.text_hash,
                     edit.story_id],
                )  # fmt: skip
            for queued_alert in alerts:
                story_id = (
                    story_ids[queued_alert.story_index]
                    if queued_alert.story_index is not None
                    else queued_alert.story_id
                )
                assert story_id is not None
                queued += self._queue_alert(story_id, queued_alert, now)
            for notice in notices:
                self.db.execute(
                    """INSERT INTO deliveries (notice, channel, next_attempt, created_at)
                       VALUES (?, ?, ?, ?)""",
                    [json.dumps({"title": notice.title, "body": notice.body}), notice.channel,
                     now, now],
                )  # fmt: skip
        return queued

    def forget_feed_url(self, name: str) -> None:
        """The configured URL changed: drop the redirect target and validators of the old one."""
        with self.db.atomic():
            self.db.execute(
                """UPDATE feeds SET effective_url = NULL, etag = NULL, last_modified = NULL,
                   body_hash = NULL WHERE name = ?""",
                [name],
            )

    def _ensure_feed(self, name: str, url: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO feeds (name, url) VALUES (?, ?)", [name, url])

    def _insert_stories(self, records: Sequence[StoryRecord], now: datetime) -> list[int]:
        """Insert a poll's new stories in two statements; returns their ids, in order.

        The ids are chosen here, after the largest in use, so that one
        ``executemany`` inserts every story.  The poll's transaction already
        holds the write lock (its first statement writes), so no other writer
        can take them meanwhile.
        """
        if not records:
            return []
        first = int(self.db.execute("SELECT COALESCE(MAX(id), 0) + 1 FROM stories").fetchone()[0])
        ids = range(first, first + len(records))
        seen_at = iso(now)

        def row(story_id: int, record: StoryRecord) -> tuple[object, ...]:
            story = record.new.story
            return (story_id, story.feed, story.guid, story.link, record.new.canonical_link,
                    story.title, story.summary, story.content, story.author,
                    json.dumps(list(story.categories)), iso(story.published), seen_at,
                    record.cluster_id, record.fingerprint, record.text_hash)  # fmt: skip

        self.db.conn.executemany(
            """INSERT INTO stories (id, feed, guid, link, canonical_link, title, summary,
               content, author, categories, published, seen_at, cluster_id, fingerprint,
               text_hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
            [row(story_id, record) for story_id, record in zip(ids, records, strict=True)],
        )
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO story_keys (key, story_id, last_seen) VALUES (?, ?, ?)",
            [
                (key, story_id, seen_at)
                for story_id, record in zip(ids, records, strict=True)
                for key in record.new.keys
            ],
        )
        return list(ids)

    def _queue_alert(self, story_id: int, queued: QueuedAlert, now: str | None) -> int:
        snippet = json.dumps({"text": queued.snippet.text, "marks": queued.snippet.marks})
        cursor = self.db.execute(
            """INSERT OR IGNORE INTO alerts (story_id, rule, snippet, created_at, kind, once_key)
               VALUES (?,?,?,?,?,?)""",
            [story_id, queued.rule, snippet, now, queued.kind, queued.once_key],
        )
        if not cursor.rowcount:
            return 0
        alert_id = cursor.lastrowid
        self.db.conn.executemany(
            """INSERT OR IGNORE INTO deliveries
               (alert_id, channel, next_attempt, created_at, digest) VALUES (?, ?, ?, ?, ?)""",
            [
                (
                    alert_id,
                    route.channel,
                    iso(route.digest_at) or now,
                    now,
                    int(bool(route.digest_at)),
                )
                for route in queued.routes
            ],
        )
        return 1

    def _where_in(self, sql: str, values: Iterable[str], *before: object) -> list[Any]:
        """Rows of ``sql`` whose ``IN ({marks})`` takes ``values``, a chunk at a time.

        SQLite caps the number of parameters in one statement.
        """
        wanted = list(dict.fromkeys(values))
        rows: list[Any] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(sql.format(marks=marks), [*before, *chunk]).fetchall()
        return rows

    def known_stories(self, keys: Iterable[str]) -> dict[str, KnownStory]:
        """The stored story behind each known key."""
        rows = self._where_in(
            """SELECT k.key, k.story_id, s.cluster_id, s.text_hash
               FROM story_keys k LEFT JOIN stories s ON s.id = k.story_id
               WHERE k.key IN ({marks})""",
            keys,
        )
        # A pruned story keeps its identity; it stands for a cluster of its own.
        return {
            row[0]: KnownStory(row[1], row[2] if row[2] is not None else -row[1], row[3])
            for row in rows
        }

    def existing_once_keys(self, keys: Iterable[str]) -> set[str]:
        rows = self._where_in("SELECT once_key FROM alerts WHERE once_key IN ({marks})", keys)
        return {row[0] for row in rows}

    def alerted_feeds(self, cluster_id: int, rule: str) -> set[str]:
        """Outlets a rule has already told the user about in this cluster."""
        return {
            row[0]
            for row in self.db.execute(
                """SELECT DISTINCT s.feed FROM alerts a JOIN stories s ON s.id = a.story_id
                   WHERE s.cluster_id = ? AND a.rule = ?""",
                [cluster_id, rule],
            ).fetchall()
        }

    def recent_fingerprints(self, since: datetime) -> list[tuple[int, str | None, str, str, str]]:
        """(cluster_id, fingerprint JSON, seen_at, title, summary) of stories seen since."""
        return [
            (row[0], row[1], row[2], row[3], row[4])
            for row in self.db.execute(
                """SELECT cluster_id, fingerprint, seen_at, title, summary FROM stories
                   WHERE seen_at >= ? ORDER BY id""",
                [iso(since)],
            ).fetchall()
        ]

    def cluster_members(self, since: datetime) -> list[dict[str, Any]]:
        """Stories seen since ``since`` with their cluster, oldest first."""
        return list(
            self.db.query(
                """SELECT id, cluster_id, feed, title, summary, link, seen_at, fingerprint
                   FROM stories WHERE cluster_id IN (
                       SELECT cluster_id FROM stories WHERE seen_at >= ?)
                   ORDER BY cluster_id, id""",
                [iso(since)],
            )
        )

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        rows = self._where_in("SELECT key FROM story_keys WHERE key IN ({marks})", keys)
        return {row[0] for row in rows}

    def prune(self, before: datetime) -> tuple[int, int]:
        """Forget stories first seen before ``before`` and keys no feed has listed since.

        Stories that alerted are kept, with their keys, so the outbox and its
        history stay whole.  Returns (stories, keys) removed.
        """
        cutoff = iso(before)
        with self.db.atomic():
            stories = self.db.execute(
                """DELETE FROM stories WHERE seen_at < ?
                   AND id NOT IN (SELECT story_id FROM alerts)""",
                [cutoff],
            ).rowcount
            keys = self.db.execute(
                """DELETE FROM story_keys WHERE last_seen < ?
                   AND story_id NOT IN (SELECT story_id FROM alerts)""",
                [cutoff],
            ).rowcount
        return int(stories), int(keys)

    def stories_since(self, since: datetime) -> list[tuple[int, str, int, Story]]:
        """(id, seen_at, cluster_id, story) first seen after ``since``, oldest first."""
        return [
            (
                row["id"],
                row["seen_at"],
                row["cluster_id"],
                Story(
                    feed=row["feed"],
                    guid=row["guid"],
                    link=row["link"],
                    title=row["title"],
                    summary=row["summary"],
                    content=row["content"],
                    author=row["author"],
                    categories=tuple(json.loads(row["categories"])),
                    published=from_iso(row["published"]),
                ),
            )
            for row in self.db.query(
                "SELECT * FROM stories WHERE seen_at >= ? ORDER BY id", [iso(since)]
            )
        ]

    def feeds_status(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM feeds ORDER BY name"))

    # -- outbox ------------------------------------------------------------

    def due_deliveries(self, now: datetime, *, retry_now: bool = False) -> list[PendingDelivery]:
        """Pending rows due by ``now``; with ``retry_now``, failed ones waiting on backoff too.

        Rows waiting for their digest time are never due early.
        """
        sql = """SELECT d.id, d.channel, d.attempts, d.created_at, d.notice, d.digest, a.rule,
                        a.snippet, a.kind, s.feed, s.title, s.link, s.published,
                        (SELECT group_concat(DISTINCT o.feed) FROM stories o
                         WHERE o.cluster_id = s.cluster_id AND o.feed != s.feed) AS others
                 FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
                 LEFT JOIN stories s ON s.id = a.story_id
                 WHERE d.status = 'pending' AND (d.next_attempt <= ?"""
        sql += " OR d.attempts > 0)" if retry_now else ")"
        sql += " ORDER BY d.id"
        pending = []
        for row in self.db.query(sql, [iso(now)]):
            common = {
                "id": row["id"],
                "channel": row["channel"],
                "attempts": row["attempts"],
                "created_at": datetime.fromisoformat(row["created_at"]),
                "digest": bool(row["digest"]),
            }
            if row["notice"]:
                notice = Notice(**json.loads(row["notice"]))
                pending.append(PendingDelivery(**common, notice=notice))
                continue
            snippet = json.loads(row["snippet"] or "{}")
            pending.append(
                PendingDelivery(
                    **common,
                    alert=Alert(
                        rule=row["rule"],
                        feed=row["feed"],
                        title=row["title"],
                        link=row["link"],
                        published=from_iso(row["published"]),
                        snippet=Snippet(
                            snippet.get("text", ""),
                            tuple(tuple(m) for m in snippet.get("marks", ())),
                        ),
                        also_reported_by=tuple(sorted((row["others"] or "").split(",")))
                        if row["others"]
                        else (),
                        kind=row["kind"],
                    ),
                )
            )
        return pending

    def fold_into_digest(self, delivery_ids: Sequence[int], at: datetime) -> None:
        """Hold deliveries over a channel's rate limit for one digest at ``at``."""
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE deliveries SET digest = 1, next_attempt = ? WHERE id = ?",
                [(iso(at), delivery_id) for delivery_id in delivery_ids],
            )

    def messages_sent(self, channel: str, since: datetime) -> int:
        """Messages (an alert or a whole digest each) sent to a channel since ``since``."""
        row = self.db.execute(
            "SELECT count(*) FROM sends WHERE channel = ? AND at > ?", [channel, iso(since)]
        ).fetchone()
        return int(row[0])

    def mark_sent(self, delivery_ids: Sequence[int], channel: str, now: datetime) -> None:
        """Record one message sent to ``channel`` that carried these deliveries."""
        with self.db.atomic():
            self.db.conn.executemany(
                """UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1,
                   last_error = NULL WHERE id = ?""",
                [(iso(now), delivery_id) for delivery_id in delivery_ids],
            )
            self.db.execute("INSERT INTO sends (channel, at) VALUES (?, ?)", [channel, iso(now)])
            # The rate-limit window needs a minute of history, no more.
            self.db.execute("DELETE FROM sends WHERE at < ?", [iso(now - timedelta(minutes=5))])

    def mark_failed(
        self,
        delivery_ids: Sequence[int],
        error: str,
        next_attempt: datetime,
        *,
        give_up: bool = False,
    ) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                """UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,
                   next_attempt = ? WHERE id = ?""",
                [
                    ("failed" if give_up else "pending", error, iso(next_attempt), delivery_id)
                    for delivery_id in delivery_ids
                ],
            )

    def retry_failed(self, now: datetime) -> int:
        """Put given-up deliveries back in the queue, due now; returns how many."""
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE deliveries SET status = 'pending', next_attempt = ?, created_at = ?
                   WHERE status = 'failed'""",
                [iso(now), iso(now)],
            )
        return int(cursor.rowcount)

    def outbox(self) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                """SELECT d.id, d.channel, d.status, d.attempts, d.last_error, d.next_attempt,
                          d.created_at, d.digest, a.rule, s.feed,
                          COALESCE(s.title, json_extract(d.notice, '$.title')) AS title, s.link
                   FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
                   LEFT JOIN stories s ON s.id = a.story_id
                   WHERE d.status != 'sent' ORDER BY d.id"""
            )
        )

    def count(self, table: str, where: str = "1", params: Sequence[Any] = ()) -> int:
        return int(
            self.db.execute(f"SELECT count(*) FROM {table} WHERE {where}", params).fetchone()[0]
        )

    def _one(self, sql: str, params: Sequence[Any]) -> dict[str, Any] | None:
        rows = list(self.db.query(sql, params))
        return rows[0] if rows else None
