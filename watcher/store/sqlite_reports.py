"""What the CLI lists and the daemon reports: read-only queries over every domain."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from watcher.core.dedupe import canonical_url
from watcher.core.models import Story
from watcher.core.records import HealthCounts
from watcher.store.sqlite_base import SQLiteBase, from_iso, iso


class SQLiteReports(SQLiteBase):
    def feeds_status(self) -> list[dict[str, Any]]:
        return list(self.db.query("SELECT * FROM feeds ORDER BY name"))

    def stories_since(self, since: datetime) -> list[tuple[int, str, int, Story]]:
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

    def cluster_members(self, since: datetime) -> list[dict[str, Any]]:
        return list(
            self.db.query(
                """SELECT id, cluster_id, feed, title, summary, link, seen_at, fingerprint
                   FROM stories WHERE cluster_id IN (
                       SELECT cluster_id FROM stories WHERE seen_at >= ?)
                   ORDER BY cluster_id, id""",
                [iso(since)],
            )
        )

    def story_by_link(self, link: str) -> dict[str, Any] | None:
        rows = list(
            self.db.query(
                """SELECT id, cluster_id, feed, title, summary, content, link, seen_at,
                          fingerprint FROM stories
                   WHERE link = ? OR canonical_link = ? ORDER BY id LIMIT 1""",
                [link, canonical_url(link)],
            )
        )
        return rows[0] if rows else None

    def health_counts(self, feeds: Iterable[str]) -> HealthCounts:
        names = list(feeds)
        failing = self._where_in(
            "SELECT name FROM feeds WHERE consecutive_failures > 0 AND name IN ({marks})", names
        )
        by_status = dict(
            self.db.execute(
                "SELECT status, count(*) FROM deliveries WHERE status != 'sent' GROUP BY status"
            ).fetchall()
        )
        return HealthCounts(
            feeds=len(names),
            failing=len(failing),
            pending=by_status.get("pending", 0),
            failed=by_status.get("failed", 0),
            orphaned=by_status.get("orphaned", 0),
        )
