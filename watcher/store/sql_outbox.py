"""The outbox in SQLite: one row per alert (or notice) and channel, until it is sent.

A row is ``pending`` until sent (``sent``), given up after ``give_up_after``
(``failed``), held because its channel left the config (``orphaned``), or
dropped by the user (``dropped``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from watcher.core.models import Alert, Notice, Snippet
from watcher.core.records import Mute, PendingDelivery, QueuedAlert, QueuedNotice
from watcher.store.sql_base import SQLBase, from_iso, iso


class SQLOutbox(SQLBase):
    def _queue_alert(self, story_id: int, queued: QueuedAlert, now: str | None) -> int:
        shown: dict[str, object] = {"text": queued.snippet.text, "marks": queued.snippet.marks}
        if queued.reported_by:
            shown["reported_by"] = [[outlet, iso(at)] for outlet, at in queued.reported_by]
        snippet = json.dumps(shown)
        cursor = self.db.execute(
            """INSERT INTO alerts (story_id, rule, snippet, created_at, kind, once_key)
               VALUES (?,?,?,?,?,?) ON CONFLICT DO NOTHING RETURNING id""",
            [story_id, queued.rule, snippet, now, queued.kind, queued.once_key],
        )
        inserted = cursor.fetchone()
        if inserted is None:  # the once-key is taken: told already
            return 0
        alert_id = inserted[0]
        status = "muted" if queued.muted else "pending"
        self.db.conn.executemany(
            """INSERT INTO deliveries
               (alert_id, channel, next_attempt, created_at, digest, status)
               VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
            [
                (alert_id, route.channel, iso(route.digest_at) or now, now,
                 int(bool(route.digest_at)), status)
                for route in queued.routes
            ],
        )  # fmt: skip
        return 1

    def _queue_notices(self, notices: Sequence[QueuedNotice], now: str | None) -> None:
        self.db.conn.executemany(
            "INSERT INTO deliveries (notice, channel, next_attempt, created_at) VALUES (?,?,?,?)",
            [
                (json.dumps({"title": n.title, "body": n.body}), n.channel, now, now)
                for n in notices
            ],
        )

    def due_deliveries(self, now: datetime, *, retry_now: bool = False) -> list[PendingDelivery]:
        """Rows waiting for their digest time are never due early."""
        return self._deliveries(self._due_where(retry_now), [iso(now)])

    @staticmethod
    def _due_where(retry_now: bool) -> str:
        due = "d.status = 'pending' AND (d.next_attempt <= ?"
        return due + (" OR d.attempts > 0)" if retry_now else ")")

    def _deliveries(self, where: str, params: Sequence[Any]) -> list[PendingDelivery]:
        """The deliveries ``where`` picks, with what their messages show, oldest first."""
        sql = f"""SELECT d.id, d.channel, d.attempts, d.created_at, d.notice, d.digest, a.rule,
                        a.snippet, a.kind, s.feed, s.title, s.link, s.published,
                        (SELECT {self.joined("o.feed")} FROM stories o
                         WHERE o.cluster_id = s.cluster_id AND o.feed != s.feed) AS others
                 FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
                 LEFT JOIN stories s ON s.id = a.story_id
                 WHERE {where} ORDER BY d.id"""
        return [_pending(row) for row in self.db.query(sql, params)]

    def fold_into_digest(self, delivery_ids: Sequence[int], at: datetime) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                """UPDATE deliveries SET digest = 1, next_attempt = ?, claim_until = NULL
                   WHERE id = ?""",
                [(iso(at), delivery_id) for delivery_id in delivery_ids],
            )

    def messages_sent(self, channel: str, since: datetime) -> int:
        return self._count(
            "SELECT count(*) FROM sends WHERE channel = ? AND at > ?", [channel, iso(since)]
        )

    def mark_sent(self, delivery_ids: Sequence[int], channel: str, now: datetime) -> None:
        with self.db.atomic():
            self.db.conn.executemany(
                """UPDATE deliveries SET status = 'sent', sent_at = ?, attempts = attempts + 1,
                   last_error = NULL, claim_until = NULL WHERE id = ?""",
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
                   next_attempt = ?, claim_until = NULL WHERE id = ?""",
                [
                    ("failed" if give_up else "pending", error, iso(next_attempt), delivery_id)
                    for delivery_id in delivery_ids
                ],
            )

    def waiting_channels(self) -> set[str]:
        return {
            row[0]
            for row in self.db.execute(
                "SELECT DISTINCT channel FROM deliveries WHERE status IN ('pending', 'orphaned')"
            )
        }

    def orphan(self, channel: str, reason: str) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE deliveries SET status = 'orphaned', last_error = ?
                   WHERE status = 'pending' AND channel = ?""",
                [reason, channel],
            )
        return int(cursor.rowcount)

    def adopt(self, channels: Iterable[str], now: datetime) -> int:
        with self.db.atomic():
            rows = self._where_in(
                f"""UPDATE deliveries SET status = 'pending', last_error = NULL,
                   next_attempt = {self.greatest}(next_attempt, ?)
                   WHERE status = 'orphaned' AND channel IN ({{marks}}) RETURNING id""",
                channels,
                iso(now),
            )
        return len(rows)

    def reroute(self, channel: str, now: datetime, ids: Sequence[int] = ()) -> tuple[int, int]:
        chosen = self._chosen(ids, "status = 'orphaned'")
        moved = dropped = 0
        with self.db.atomic():
            for delivery_id in chosen:
                cursor = self.db.execute(
                    """UPDATE deliveries SET channel = ?, status = 'pending',
                       attempts = 0, last_error = NULL, next_attempt = ?, created_at = ?
                       WHERE id = ? AND NOT EXISTS (
                           SELECT 1 FROM deliveries o
                           WHERE o.alert_id = deliveries.alert_id AND o.channel = ?)""",
                    [channel, iso(now), iso(now), delivery_id, channel],
                )
                if cursor.rowcount:
                    moved += 1
                else:  # that alert already has a row for this channel: never send it twice
                    self._set_dropped([delivery_id], f"already routed to '{channel}'")
                    dropped += 1
        return moved, dropped

    def drop(self, ids: Sequence[int] = ()) -> int:
        chosen = self._chosen(ids, "status = 'orphaned'")
        with self.db.atomic():
            self._set_dropped(chosen, "dropped by the user")
        return len(chosen)

    def _chosen(self, ids: Sequence[int], default: str) -> list[int]:
        """The unsent rows among ``ids``, or, with none given, the rows matching ``default``."""
        if ids:
            rows = self._where_in(
                "SELECT id FROM deliveries WHERE status NOT IN ('sent', 'dropped') "
                "AND id IN ({marks})",
                ids,
            )
        else:
            rows = self.db.execute(f"SELECT id FROM deliveries WHERE {default}").fetchall()
        return sorted(row[0] for row in rows)

    def _set_dropped(self, ids: Sequence[int], reason: str) -> None:
        self.db.conn.executemany(
            "UPDATE deliveries SET status = 'dropped', last_error = ? WHERE id = ?",
            [(reason, delivery_id) for delivery_id in ids],
        )

    def hurry(self, now: datetime) -> int:
        with self.db.atomic():
            cursor = self.db.execute(
                """UPDATE deliveries SET next_attempt = ?
                   WHERE status = 'pending' AND attempts > 0 AND digest = 0
                   AND next_attempt > ?""",
                [iso(now), iso(now)],
            )
        return int(cursor.rowcount)

    def retry_failed(self, now: datetime) -> int:
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
                f"""SELECT d.id, d.channel, d.status, d.attempts, d.last_error, d.next_attempt,
                          d.created_at, d.digest, a.rule, s.feed,
                          COALESCE(s.title, {self.json_field("d.notice", "title")}) AS title, s.link
                   FROM deliveries d LEFT JOIN alerts a ON a.id = d.alert_id
                   LEFT JOIN stories s ON s.id = a.story_id
                   WHERE d.status NOT IN ('sent', 'dropped', 'muted') ORDER BY d.id"""
            )
        )


def _pending(row: dict[str, Any]) -> PendingDelivery:
    common: dict[str, Any] = {
        "id": row["id"],
        "channel": row["channel"],
        "attempts": row["attempts"],
        "created_at": datetime.fromisoformat(row["created_at"]),
        "digest": bool(row["digest"]),
    }
    if row["notice"]:
        return PendingDelivery(**common, notice=Notice(**json.loads(row["notice"])))
    snippet = json.loads(row["snippet"] or "{}")
    others = row["others"]
    return PendingDelivery(
        **common,
        alert=Alert(
            rule=row["rule"],
            feed=row["feed"],
            title=row["title"],
            link=row["link"],
            published=from_iso(row["published"]),
            snippet=Snippet(
                snippet.get("text", ""), tuple(tuple(m) for m in snippet.get("marks", ()))
            ),
            also_reported_by=tuple(sorted(others.split(","))) if others else (),
            kind=row["kind"],
            reported_by=tuple(
                (outlet, datetime.fromisoformat(at))
                for outlet, at in snippet.get("reported_by", ())
            ),
        ),
    )


class SQLMutes(SQLBase):
    def mute(self, mute: Mute, now: datetime) -> None:
        with self.db.atomic():
            self.db.execute(
                """INSERT INTO mutes (kind, target, until, created_at) VALUES (?, ?, ?, ?)
                   ON CONFLICT (kind, target) DO UPDATE SET until = excluded.until,
                   created_at = excluded.created_at""",
                [mute.kind, mute.target, iso(mute.until), iso(now)],
            )

    def unmute(self, kind: str, target: str) -> bool:
        with self.db.atomic():
            cursor = self.db.execute(
                "DELETE FROM mutes WHERE kind = ? AND target = ?", [kind, target]
            )
        return bool(cursor.rowcount)

    def mutes(self, now: datetime) -> list[Mute]:
        return [
            Mute(kind, target, from_iso(until))
            for kind, target, until in self.db.execute(
                """SELECT kind, target, until FROM mutes WHERE until IS NULL OR until > ?
                   ORDER BY kind, target""",
                [iso(now)],
            )
        ]
