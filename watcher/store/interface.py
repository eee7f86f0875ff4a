"""The store's surface: what the pipeline, the outbox and the CLI may ask of storage.

Each domain is a small Protocol; ``Store`` is all of them.  The pipeline
depends on these, never on SQLite, so a second backend implements them and
nothing else changes.  Every write that belongs to one decision is one
transaction: a story is never marked seen without its alerts being queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol

from watcher.core.decide import HistoryQuestion, PollDecision
from watcher.core.models import Story
from watcher.core.records import (
    AlertHistory,
    FeedChange,
    FeedState,
    HealthCounts,
    KnownStory,
    Mute,
    PendingDelivery,
    StoredFeed,
)

Row = dict[str, Any]


class FeedStore(Protocol):
    def feed_state(self, name: str) -> FeedState | None:
        """What the last polls of a feed left behind (None: never polled)."""

    def stored_feeds(self) -> list[StoredFeed]:
        """Every feed the database knows, configured or not."""

    def apply_feed_changes(self, changes: Sequence[FeedChange]) -> None:
        """Follow the user's renames and URL changes (``core.decide.feed_changes``)."""

    def record_poll(self, decision: PollDecision) -> int:
        """Write everything one poll decided, atomically; returns the alerts queued.

        It ends this instance's lease of the feed and names it as the last poller."""

    def register_feeds(self, feeds: Mapping[str, str]) -> None:
        """Configured feeds (name -> URL) have a row, so that they can be leased."""

    def claim_due_feeds(
        self, hosts: Mapping[str, str], now: datetime, *, limit: int, per_host: int
    ) -> list[str]:
        """Lease due feeds (name -> host) to this instance; see ``sql_feeds``."""

    def release_feeds(self, names: Sequence[str]) -> int:
        """End this instance's leases of these feeds."""


class StoryStore(Protocol):
    def known_stories(self, keys: Iterable[str]) -> dict[str, KnownStory]:
        """The stored story behind each key that is known."""

    def known_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of these identity keys are known."""

    def alert_history(self, question: HistoryQuestion) -> AlertHistory:
        """Which once-keys are taken, and which feeds each (cluster, rule) has told."""

    def recent_fingerprints(
        self, since: datetime
    ) -> list[tuple[int, str | None, str, str, str, str]]:
        """(cluster_id, fingerprint JSON, seen_at, title, summary, content) seen since."""

    def fingerprints_after(
        self, story_id: int
    ) -> list[tuple[int, int, str | None, str, str, str, str]]:
        """(id, cluster_id, fingerprint JSON, seen_at, title, summary, content) after an id."""

    def last_story_id(self) -> int:
        """The largest story id stored (0: none)."""

    def prune(self, before: datetime) -> tuple[int, int]:
        """Forget old stories and keys no feed lists; returns (stories, keys) removed."""


class OutboxStore(Protocol):
    def due_deliveries(self, now: datetime, *, retry_now: bool = False) -> list[PendingDelivery]:
        """Pending rows due by ``now`` (``retry_now``: also those waiting on backoff)."""

    def fold_into_digest(self, delivery_ids: Sequence[int], at: datetime) -> None:
        """Hold deliveries over a channel's rate limit for one digest at ``at``."""

    def messages_sent(self, channel: str, since: datetime) -> int:
        """Messages (an alert or a whole digest each) sent to a channel since ``since``."""

    def mark_sent(self, delivery_ids: Sequence[int], channel: str, now: datetime) -> None:
        """One message sent to ``channel`` carried these deliveries."""

    def mark_failed(
        self,
        delivery_ids: Sequence[int],
        error: str,
        next_attempt: datetime,
        *,
        give_up: bool = False,
    ) -> None:
        """A send failed: retry at ``next_attempt``, or give up."""

    def waiting_channels(self) -> set[str]:
        """Channels that pending or orphaned rows wait for."""

    def orphan(self, channel: str, reason: str) -> int:
        """Hold the pending rows of a channel the config no longer has; returns how many."""

    def adopt(self, channels: Iterable[str], now: datetime) -> int:
        """Orphaned rows whose channel is configured again wait for it as before."""

    def reroute(self, channel: str, now: datetime, ids: Sequence[int] = ()) -> tuple[int, int]:
        """Send orphaned rows (or the rows ``ids``) to ``channel`` now.

        Returns (re-routed, dropped): a row whose alert already goes to
        ``channel`` is dropped rather than sent twice.
        """

    def drop(self, ids: Sequence[int] = ()) -> int:
        """Give up orphaned rows (or the unsent rows ``ids``) for good; returns how many."""

    def hurry(self, now: datetime) -> int:
        """Rows waiting out a retry backoff are due now (not those waiting for a digest)."""

    def retry_failed(self, now: datetime) -> int:
        """Put given-up deliveries back in the queue, due now; returns how many."""

    def outbox(self) -> list[Row]:
        """Every delivery not sent, for ``watcher outbox``."""


class MuteStore(Protocol):
    def mute(self, mute: Mute, now: datetime) -> None:
        """Mute a rule or a cluster (again: the new period replaces the old)."""

    def unmute(self, kind: str, target: str) -> bool:
        """Lift a mute; False if there was none."""

    def mutes(self, now: datetime) -> list[Mute]:
        """The mutes in force at ``now``."""


class ReportStore(Protocol):
    def feeds_status(self) -> list[Row]:
        """The feeds table, for ``watcher feeds``."""

    def stories_since(self, since: datetime) -> list[tuple[int, str, int, Story]]:
        """(id, seen_at, cluster_id, story) first seen after ``since``, oldest first."""

    def cluster_members(self, since: datetime) -> list[Row]:
        """Stories of clusters with a member seen since ``since``, by cluster."""

    def story_by_link(self, link: str) -> Row | None:
        """The first stored story with this link (as written, or canonical)."""

    def health_counts(self, feeds: Iterable[str]) -> HealthCounts:
        """Failing feeds among the configured ``feeds``, and the outbox's backlog."""

    def alert_feed(self, rule: str | None, limit: int) -> list[Row]:
        """The newest ``limit`` first alerts of an event (kind ``alert``), newest first, of
        ``rule`` or of all rules, leaving out those muted on every channel: ``id``,
        ``rule``, ``once_key``, ``created_at``, ``snippet`` (text), ``cluster_id``,
        ``feed``, ``title``, ``link``, ``published``, ``outlets`` (the feed that alerted,
        then the cluster's other feeds) and ``cluster_seen`` (its newest story)."""

    def alert_log(self, since: datetime, rule: str | None = None) -> list[Row]:
        """Every alert (``alert``, ``update``, ``edit``) made since ``since``, oldest first,
        each with ``deliveries``: its channels and their outcome (``watcher alerts``)."""


class Store(FeedStore, StoryStore, OutboxStore, MuteStore, ReportStore, Protocol):
    """All of storage, as the pipeline, the daemon and the CLI see it."""

    #: Several instances write to this database (PostgreSQL): feeds are leased.
    shared: bool
    #: This process's name in the database (``polled_by``, claims).
    instance: str

    @property
    def version(self) -> int:
        """The schema version of the open database."""

    def describe(self) -> str:
        """The database, for messages (never with a password)."""

    def deciding(self) -> AbstractContextManager[None]:
        """Look-ups, decision and write of one poll, whole to every other writer."""

    def close(self) -> None: ...
