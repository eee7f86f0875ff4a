"""The poll's write, in SQL both backends share: one decision, one transaction."""

from __future__ import annotations

from watcher.core.decide import PollDecision
from watcher.core.errors import StoreError
from watcher.store.sql_base import iso, iso_up
from watcher.store.sql_feeds import SQLFeeds
from watcher.store.sql_outbox import SQLMutes, SQLOutbox
from watcher.store.sql_reports import SQLReports
from watcher.store.sql_stories import SQLStories


class SQLStore(SQLFeeds, SQLStories, SQLOutbox, SQLMutes, SQLReports):
    """Implements ``watcher.store.Store`` over a backend's ``db`` (the only code that speaks
    SQL, with the backends' own ``sqlite``, ``postgres`` and ``migrations``)."""

    def record_poll(self, decision: PollDecision) -> int:
        """One poll, one transaction: the feed's state, its new and edited stories,
        the keys it still lists, and every alert and notice it queued.

        A write that fails (disk full, a read-only file, locked too long) rolls
        the whole poll back and raises ``StoreError``: nothing of it is recorded,
        so the same stories are new again at the next poll.
        """
        try:
            return self._record_poll(decision)
        except self.driver_errors as exc:
            raise StoreError(f"cannot write to database {self.describe()}: {exc}") from None

    def _record_poll(self, decision: PollDecision) -> int:
        poll = decision.record
        now = iso(poll.now)
        queued = 0
        with self.db.atomic():
            self._lock_writes()
            self.db.execute("INSERT INTO feeds (name, url) VALUES (?, ?) ON CONFLICT DO NOTHING",
                            [poll.name, poll.url])  # fmt: skip
            if poll.error is not None:
                self.db.execute(
                    """UPDATE feeds SET url = ?, last_fetch = ?, last_status = ?, last_error = ?,
                       consecutive_failures = consecutive_failures + 1,
                       failing_since = COALESCE(failing_since, ?), next_poll = ?,
                       hold_until = ?, last_duration = ?, polled_by = ?, lease_until = NULL
                       WHERE name = ?""",
                    [poll.url, now, poll.status, poll.error, now, iso_up(poll.next_poll),
                     iso(poll.hold_until), poll.duration, self.instance, poll.name],
                )  # fmt: skip
            else:
                self.db.execute(
                    """UPDATE feeds SET url = ?, last_fetch = ?, last_success = ?,
                       last_status = ?, last_error = NULL, failing_since = NULL,
                       consecutive_failures = 0, next_poll = ?, hold_until = ?,
                       last_duration = ?, first_polled_at = COALESCE(first_polled_at, ?),
                       etag = ?, last_modified = ?, body_hash = COALESCE(?, body_hash),
                       items = COALESCE(?, items), problem = ?,
                       effective_url = COALESCE(?, effective_url),
                       last_parsed = CASE WHEN CAST(? AS TEXT) IS NULL THEN last_parsed ELSE ? END,
                       polled_by = ?, lease_until = NULL WHERE name = ?""",
                    [poll.url, now, now, poll.status, iso_up(poll.next_poll), iso(poll.hold_until),
                     poll.duration, now, poll.etag, poll.last_modified, poll.body_hash,
                     poll.items, poll.problem, poll.effective_url, poll.body_hash, now,
                     self.instance, poll.name],
                )  # fmt: skip
            if poll.notice_sent is not None:
                self.db.execute(
                    "UPDATE feeds SET notice_sent = ? WHERE name = ?",
                    [int(poll.notice_sent), poll.name],
                )
            self._touch_keys(decision.listed_keys, now)
            story_ids = self._insert_stories(decision.new_stories, poll.now)
            if decision.edited:
                self._update_edited(decision.edited)
            for alert in decision.alerts:
                story_id = story_ids[alert.story_index] if alert.story_index is not None else (
                    alert.story_id
                )  # fmt: skip
                assert story_id is not None
                queued += self._queue_alert(story_id, alert, now)
            if decision.notices:
                self._queue_notices(decision.notices, now)
        return queued
