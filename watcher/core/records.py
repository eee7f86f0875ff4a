"""What flows between the decisions of a poll and the store, as plain values.

The pure decisions (``watcher.core.decide``, ``watcher.core.outbox``) take
these from the store and give these back to it; the store turns them into
rows.  Living in the core, they let a decision be tested with literal values
and let a second storage backend implement the same interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from watcher.core.models import Alert, Notice, Snippet, Story


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the last polls of a feed left behind."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    first_polled_at: datetime | None = None
    consecutive_failures: int = 0
    failing_since: datetime | None = None
    next_poll: datetime | None = None
    hold_until: datetime | None = None
    effective_url: str | None = None
    notice_sent: bool = False


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """A feed the database knows, by name and configured URL (for config edits)."""

    name: str
    url: str


@dataclass(frozen=True, slots=True)
class FeedRenamed:
    """The user renamed a feed (same URL): its history follows the new name."""

    old: str
    new: str


@dataclass(frozen=True, slots=True)
class FeedMoved:
    """The user changed a feed's URL: what the old URL taught (validators, redirects,
    backoff) no longer applies; the stories it gave stay known."""

    name: str
    old_url: str
    new_url: str


FeedChange = FeedRenamed | FeedMoved


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
class KnownStory:
    """A stored story behind an identity key (a pruned story stands for its own cluster)."""

    story_id: int
    cluster_id: int
    text_hash: str | None


@dataclass(frozen=True, slots=True)
class Report:
    """A stored story of an event: who reported it, and when it was seen."""

    story_id: int
    feed: str
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class AlertHistory:
    """What the store says about earlier alerts, for the once-keys a poll asked about."""

    taken: frozenset[str] = frozenset()
    # (cluster id, rule) -> feeds that rule has already told the user about in that cluster
    told: dict[tuple[int, str], frozenset[str]] | None = None
    # For corroborated rules: each asked cluster's stored stories, oldest first, and the
    # corroborated rules any of them matched.
    reports: dict[int, tuple[Report, ...]] | None = None
    hits: dict[int, frozenset[str]] | None = None

    def told_by(self, cluster_id: int, rule: str) -> frozenset[str]:
        return (self.told or {}).get((cluster_id, rule), frozenset())

    def reports_of(self, cluster_id: int) -> tuple[Report, ...]:
        return (self.reports or {}).get(cluster_id, ())

    def hit(self, cluster_id: int, rule: str) -> bool:
        return rule in (self.hits or {}).get(cluster_id, frozenset())


@dataclass(frozen=True, slots=True)
class StoryRecord:
    """A new story to store, with the keys it is known by and the cluster it joins."""

    story: Story
    keys: tuple[str, ...]
    cluster_id: int
    fingerprint: str | None
    text_hash: str
    hits: tuple[str, ...] = ()  # corroborated rules it matched, remembered for its event

    @property
    def canonical_link(self) -> str | None:
        """The story's link in canonical form: ``identity_keys`` puts it first."""
        return self.keys[0].removeprefix("link:") if self.story.link else None


@dataclass(frozen=True, slots=True)
class EditedStory:
    """A stored story whose feed now gives other text (an update in place)."""

    story_id: int
    story: Story
    text_hash: str


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
    muted: bool = False  # recorded, never delivered (``watcher mute``)
    # Corroborated alerts: the outlets that reported the event, with when each first did.
    reported_by: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class QueuedNotice:
    """A message about watcher itself (a feed broken for long, or back), for one channel."""

    channel: str
    title: str
    body: str


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
class HealthCounts:
    """Counts for status lines, metrics and ``/health``: configured feeds only."""

    feeds: int
    failing: int
    pending: int
    failed: int
    orphaned: int = 0


@dataclass(frozen=True, slots=True)
class Mute:
    """A rule, or an event (a cluster), the user asked not to hear about (until ``until``)."""

    kind: str  # "rule" | "cluster"
    target: str  # the rule's name, or the cluster id
    until: datetime | None = None  # None: until unmuted
