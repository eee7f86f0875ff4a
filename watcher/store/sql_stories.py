"""Stories and their identity keys in SQLite, and the alert history decisions ask about."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime

from watcher.core.decide import HistoryQuestion
from watcher.core.records import AlertHistory, EditedStory, KnownStory, Report, StoryRecord
from watcher.store.sql_base import SQLBase, iso


class SQLStories(SQLBase):
    def known_stories(self, keys: Iterable[str]) -> dict[str, KnownStory]:
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

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        rows = self._where_in("SELECT key FROM story_keys WHERE key IN ({marks})", keys)
        return {row[0] for row in rows}

    def alert_history(self, question: HistoryQuestion) -> AlertHistory:
        taken = self._where_in(
            "SELECT once_key FROM alerts WHERE once_key IN ({marks})", question.once_keys
        )
        told: dict[tuple[int, str], set[str]] = {}
        clusters = {cluster_id for cluster_id, _ in question.told}
        wanted = set(question.told)
        for cluster_id, rule, feed in self._where_in(
            """SELECT DISTINCT s.cluster_id, a.rule, s.feed
               FROM alerts a JOIN stories s ON s.id = a.story_id
               WHERE s.cluster_id IN ({marks})""",
            clusters,
        ):
            if (cluster_id, rule) in wanted:
                told.setdefault((cluster_id, rule), set()).add(feed)
        reports: dict[int, list[Report]] = {}
        hits: dict[int, set[str]] = {}
        if question.reports:
            for cluster_id, story_id, feed, seen_at in self._where_in(
                """SELECT cluster_id, id, feed, seen_at FROM stories
                   WHERE cluster_id IN ({marks}) ORDER BY seen_at, id""",
                question.reports,
            ):
                reports.setdefault(cluster_id, []).append(
                    Report(story_id, feed, datetime.fromisoformat(seen_at))
                )
            for cluster_id, rule in self._where_in(
                """SELECT DISTINCT s.cluster_id, h.rule FROM hits h
                   JOIN stories s ON s.id = h.story_id WHERE s.cluster_id IN ({marks})""",
                question.reports,
            ):
                hits.setdefault(cluster_id, set()).add(rule)
        return AlertHistory(
            frozenset(row[0] for row in taken),
            {pair: frozenset(feeds) for pair, feeds in told.items()},
            {cluster: tuple(found) for cluster, found in reports.items()},
            {cluster: frozenset(rules) for cluster, rules in hits.items()},
        )

    def recent_fingerprints(
        self, since: datetime
    ) -> list[tuple[int, str | None, str, str, str, str]]:
        return [
            (row[0], row[1], row[2], row[3], row[4], row[5])
            for row in self.db.execute(
                """SELECT cluster_id, fingerprint, seen_at, title, summary, content FROM stories
                   WHERE seen_at >= ? ORDER BY id""",
                [iso(since)],
            ).fetchall()
        ]

    def fingerprints_after(
        self, story_id: int
    ) -> list[tuple[int, int, str | None, str, str, str, str]]:
        """(id, cluster_id, fingerprint JSON, seen_at, title, summary, content) of the
        stories stored after ``story_id``: what other instances stored since a look."""
        return [
            (row[0], row[1], row[2], row[3], row[4], row[5], row[6])
            for row in self.db.execute(
                """SELECT id, cluster_id, fingerprint, seen_at, title, summary, content
                   FROM stories WHERE id > ? ORDER BY id""",
                [story_id],
            ).fetchall()
        ]

    def last_story_id(self) -> int:
        """The largest story id stored (0: none)."""
        return self._count("SELECT COALESCE(MAX(id), 0) FROM stories")

    def prune(self, before: datetime) -> tuple[int, int]:
        """Stories that alerted are kept, with their keys, so the outbox and its
        history stay whole."""
        cutoff = iso(before)
        with self.db.atomic():
            stories = self.db.execute(
                """DELETE FROM stories WHERE seen_at < ?
                   AND id NOT IN (SELECT story_id FROM alerts)""",
                [cutoff],
            ).rowcount
            # A key its feed listed at that feed's last parse is still listed, however
            # long the feed has answered 304 (or failed) since.
            keys = self.db.execute(
                """DELETE FROM story_keys WHERE last_seen < ?
                   AND story_id NOT IN (SELECT story_id FROM alerts)
                   AND NOT EXISTS (SELECT 1 FROM feeds f WHERE f.name = story_keys.feed
                                   AND f.last_parsed IS NOT NULL
                                   AND story_keys.last_seen >= f.last_parsed)""",
                [cutoff],
            ).rowcount
        return int(stories), int(keys)

    def _touch_keys(self, keys: Sequence[str], now: str | None) -> None:
        """Keys the feed still lists stay remembered, whatever the story's age."""
        self._where_in("UPDATE story_keys SET last_seen = ? WHERE key IN ({marks})", keys, now)

    def _insert_stories(self, records: Sequence[StoryRecord], now: datetime) -> list[int]:
        """Insert a poll's new stories in two statements; returns their ids, in order.

        The ids are chosen here, after the largest ever used, so that one
        ``executemany`` inserts every story.  The poll's transaction already
        holds the write lock (its first statement writes), so no other writer
        can take them meanwhile.
        """
        if not records:
            return []
        # Past pruned stories too: a key a feed still lists keeps naming its story's id.
        first = self._count(
            f"""SELECT {self.greatest}(COALESCE((SELECT MAX(id) FROM stories), 0),
                          COALESCE((SELECT MAX(story_id) FROM story_keys), 0)) + 1"""
        )
        ids = range(first, first + len(records))
        seen_at = iso(now)

        def row(story_id: int, record: StoryRecord) -> tuple[object, ...]:
            story = record.story
            return (story_id, story.feed, story.guid, story.link, record.canonical_link,
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
            "INSERT INTO hits (story_id, rule) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [
                (story_id, rule)
                for story_id, record in zip(ids, records, strict=True)
                for rule in record.hits
            ],
        )
        self.db.conn.executemany(
            """INSERT INTO story_keys (key, story_id, last_seen, feed) VALUES (?,?,?,?)
               ON CONFLICT DO NOTHING""",
            [
                (key, story_id, seen_at, record.story.feed)
                for story_id, record in zip(ids, records, strict=True)
                for key in record.keys
            ],
        )
        return list(ids)

    def _update_edited(self, edited: Sequence[EditedStory]) -> None:
        self.db.conn.executemany(
            "UPDATE stories SET title = ?, summary = ?, content = ?, text_hash = ? WHERE id = ?",
            [
                (e.story.title, e.story.summary, e.story.content, e.text_hash, e.story_id)
                for e in edited
            ],
        )
