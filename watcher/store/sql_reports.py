"""What the CLI lists and the daemon reports: read-only queries over every domain."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from watcher.core.dedupe import canonical_url
from watcher.core.models import Story
from watcher.core.records import HealthCounts
from watcher.store.sql_base import SQLBase, from_iso, iso


class SQLReports(SQLBase):
    def _outlets(self) -> str:
        """The feeds of an alert's cluster (its story's feed among them), for ``_alert_row``."""
        return f"""(SELECT {self.joined("o.feed")} FROM stories o
                    WHERE o.cluster_id = s.cluster_id) AS outlets"""

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

    def alert_feed(self, rule: str | None, limit: int) -> list[dict[str, Any]]:
        """An alert with deliveries all ``muted`` is left out; one routed nowhere is kept."""
        sql = f"""SELECT a.id, a.rule, a.once_key, a.created_at, a.snippet, s.cluster_id,
                         s.feed, s.title, s.link, s.published, {self._outlets()},
                         (SELECT MAX(o.seen_at) FROM stories o
                          WHERE o.cluster_id = s.cluster_id) AS cluster_seen
                  FROM alerts a JOIN stories s ON s.id = a.story_id
                  WHERE a.kind = 'alert' {"AND a.rule = ?" if rule is not None else ""}
                  AND (NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = a.id)
                       OR EXISTS (SELECT 1 FROM deliveries d
                                  WHERE d.alert_id = a.id AND d.status != 'muted'))
                  ORDER BY a.id DESC LIMIT ?"""
        params: list[Any] = [rule] if rule is not None else []
        return [_alert_row(row) for row in self.db.query(sql, [*params, limit])]

    def alert_log(self, since: datetime, rule: str | None = None) -> list[dict[str, Any]]:
        where = "a.created_at >= ?" + (" AND a.rule = ?" if rule is not None else "")
        params: list[Any] = [iso(since)] + ([rule] if rule is not None else [])
        alerts = [
            _alert_row(row) | {"deliveries": []}
            for row in self.db.query(
                f"""SELECT a.id, a.kind, a.rule, a.once_key, a.created_at, a.snippet,
                           a.story_id, s.cluster_id, s.feed, s.title, s.link, s.published,
                           {self._outlets()}
                    FROM alerts a LEFT JOIN stories s ON s.id = a.story_id
                    WHERE {where} ORDER BY a.id""",
                params,
            )
        ]
        by_id = {row["id"]: row for row in alerts}
        for delivery in self.db.query(
            f"""SELECT d.alert_id, d.channel, d.status, d.attempts, d.sent_at, d.next_attempt,
                       d.last_error, d.digest
                FROM deliveries d JOIN alerts a ON a.id = d.alert_id
                WHERE {where} ORDER BY d.id""",
            params,
        ):
            alert_id = delivery.pop("alert_id")
            delivery["digest"] = bool(delivery["digest"])
            by_id[alert_id]["deliveries"].append(delivery)
        return alerts


def _alert_row(row: dict[str, Any]) -> dict[str, Any]:
    """Storage forms made plain: the snippet's text, the outlets as a list (the feed that
    alerted first)."""
    snippet = json.loads(row["snippet"] or "{}")
    others = sorted(set((row["outlets"] or "").split(",")) - {row["feed"], ""})
    return row | {
        "snippet": snippet.get("text", "") if isinstance(snippet, dict) else "",
        "outlets": ([row["feed"]] if row["feed"] else []) + others,
    }
