"""The decisions of a poll, as functions of what the poll knows.

The sequencer (``watcher.pipeline``) fetches, reads and analyses a feed, asks
the store the questions these functions name (which keys are known, which
once-keys are taken), and hands everything to :func:`decide`, which returns one
:class:`PollDecision`: the stories and keys to store, the alerts and notices to
queue, the edits, and the feed's new state and next poll.  Nothing here reads
a clock, a database or the network, so each rule of the poll is tested with
literal values (``tests/unit/core/test_decide.py``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo

from watcher.core import politeness
from watcher.core.analyse import Analysed
from watcher.core.cluster import ClusterIndex
from watcher.core.dedupe import fresh_items, is_recent
from watcher.core.health import health_notice
from watcher.core.models import ChannelSpec, FeedSpec, ParsedFeed, RuleSpec, Snippet
from watcher.core.records import (
    AlertHistory,
    EditedStory,
    FeedChange,
    FeedMoved,
    FeedRenamed,
    FeedState,
    KnownStory,
    Mute,
    PollRecord,
    QueuedAlert,
    QueuedNotice,
    Route,
    StoredFeed,
    StoryRecord,
)
from watcher.core.schedule import next_digest, quiet_until

# -- once-keys: what makes an alert once-only ---------------------------------------------


def alert_key(cluster_id: int, rule: str) -> str:
    """A rule alerts once per cluster (one event, however many outlets carry it)."""
    return f"alert:{cluster_id}:{rule}"


def update_key(cluster_id: int, rule: str, feed: str) -> str:
    """With ``updates: true``, one short note per later outlet of an alerted event."""
    return f"update:{cluster_id}:{rule}:{feed}"


def edit_key(story_id: int, rule: str, text_hash: str) -> str:
    """With ``updates: true``, one note per new text of an alerted story edited in place."""
    return f"edit:{story_id}:{rule}:{text_hash}"


# -- the policy a config sets ---------------------------------------------------------------


@dataclass(frozen=True)
class PollPolicy:
    """What the config says about deciding a poll (built once per config)."""

    rules: Mapping[str, RuleSpec]
    channels: Mapping[str, ChannelSpec] = field(default_factory=dict)
    zone: tzinfo = UTC
    cluster: bool = True
    cache_max_age_cap: timedelta = timedelta(hours=1)
    backoff_cap: timedelta = timedelta(hours=6)
    feed_alert_after: timedelta = timedelta(hours=24)
    health_notify: tuple[str, ...] = ("stdout",)
    # Jitter of error backoff; a test passes a constant.
    rng: Callable[[], float] = random.random
    outlets: Mapping[str, str] = field(default_factory=dict)  # feed name -> outlet
    cluster_window: timedelta = timedelta(hours=48)  # ``within`` when a rule gives none

    def outlet(self, feed: str) -> str:
        """The outlet of a feed (a feed since removed from the config stands for itself)."""
        return self.outlets.get(feed, feed)

    @property
    def corroborated(self) -> tuple[RuleSpec, ...]:
        return tuple(rule for rule in self.rules.values() if rule.min_sources)

    def routes(self, rule: RuleSpec, now: datetime) -> tuple[Route, ...]:
        """Each channel of a rule, and the digest it waits for (the rule's, else the channel's)."""
        routes = []
        for name in rule.notify:
            channel = self.channels.get(name)
            spec = rule.digest or (channel.digest if channel else None)
            at = next_digest(spec, now, self.zone) if spec else None
            quiet = channel.quiet if channel is not None and not rule.urgent else None
            if quiet is not None:
                # In quiet hours: held for one digest when they end (or later, at its own).
                until = quiet_until(quiet, now, self.zone)
                if until is not None and (at is None or at < until):
                    at = until
            routes.append(Route(name, at))
        return tuple(routes)


# -- before the fetch -----------------------------------------------------------------------


def is_held(state: FeedState | None, now: datetime, *, force: bool = False) -> bool:
    """A server-requested delay or an error backoff holds a feed, even for ``watcher once``
    (unless ``--force``)."""
    return (
        not force
        and state is not None
        and state.hold_until is not None
        and (state.hold_until > now)
    )


def feed_changes(configured: Iterable[FeedSpec], stored: Iterable[StoredFeed]) -> list[FeedChange]:
    """What the user changed in the feeds list since the database last saw it.

    A configured feed whose name the database does not know, but whose URL an
    unconfigured stored feed has, was renamed; a configured feed whose stored
    URL differs was pointed elsewhere.  A removed feed is left alone: its
    stories stay known, so re-adding it alerts nothing old.
    """
    specs = list(configured)
    by_name = {feed.name: feed for feed in stored}
    names = {spec.name for spec in specs}
    orphans_by_url = {
        feed.url: feed for name, feed in by_name.items() if name not in names
    }  # stored feeds no longer configured, by URL
    changes: list[FeedChange] = []
    for spec in specs:
        known = by_name.get(spec.name)
        if known is None:
            old = orphans_by_url.pop(spec.url, None)
            if old is not None:
                changes.append(FeedRenamed(old.name, spec.name))
        elif known.url != spec.url:
            changes.append(FeedMoved(spec.name, known.url, spec.url))
    return changes


# -- after the fetch ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fetched:
    """What the poll's decisions need of the fetch (not the body)."""

    status: int | None
    elapsed: float | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    permanent_url: str | None = None
    retry_after: datetime | None = None
    max_age: timedelta | None = None


def is_unchanged(fetched: Fetched, not_modified: bool, state: FeedState | None) -> bool:
    """Nothing to read: a 304, or the same body as last time."""
    return not_modified or (
        fetched.body_hash is not None and state is not None and fetched.body_hash == state.body_hash
    )


def candidate_keys(analysed: Iterable[Analysed]) -> list[str]:
    """Every identity key the feed lists now: which are known is the store's first question."""
    return [key for item in analysed for key in item.keys]


def new_items(analysed: Iterable[Analysed], known: Mapping[str, KnownStory]) -> list[Analysed]:
    """Stories none of whose keys are known, nor taken by an earlier story of the batch."""
    return fresh_items(analysed, known.keys(), lambda item: item.keys)


@dataclass(frozen=True, slots=True)
class Placement:
    """The cluster each new story joins; ``joined`` holds those of earlier polls."""

    cluster_ids: tuple[int, ...]
    joined: frozenset[int]


def place(
    fresh: Sequence[Analysed],
    index: ClusterIndex | None,
    new_ids: Iterator[int],
    now: datetime,
) -> Placement:
    """Find each new story's cluster in the window (adding it), or start a new one.

    ``index`` is None when clustering is off: every story is its own event.
    Stories of this batch join each other too: the index learns each as it goes.
    """
    ids: list[int] = []
    joined: set[int] = set()
    batch: set[int] = set()
    for item in fresh:
        found = index.find(item.fingerprint, now) if index is not None else None
        if found is None:
            cluster_id = next(new_ids)
            batch.add(cluster_id)
        else:
            cluster_id = found
            if found not in batch:
                joined.add(found)
        ids.append(cluster_id)
        if index is not None:
            index.add(cluster_id, item.fingerprint, now)
    return Placement(tuple(ids), frozenset(joined))


@dataclass(frozen=True, slots=True)
class Edit:
    """A stored story whose text changed, with the cluster it belongs to."""

    stored: KnownStory
    item: Analysed


def edits(analysed: Iterable[Analysed], known: Mapping[str, KnownStory]) -> list[Edit]:
    """Stories edited in place: known, with a stored text hash that differs from today's."""
    found: list[Edit] = []
    seen: set[int] = set()
    for item in analysed:
        stored = next((known[k] for k in item.keys if k in known), None)
        if stored is None or stored.text_hash is None or stored.story_id in seen:
            continue
        if item.text_hash == stored.text_hash:
            continue
        seen.add(stored.story_id)
        found.append(Edit(stored, item))
    return found


@dataclass(frozen=True, slots=True)
class HistoryQuestion:
    """What the store must say about earlier alerts before the poll can decide."""

    once_keys: tuple[str, ...]
    told: tuple[tuple[int, str], ...]  # (cluster, rule) pairs whose told feeds matter
    reports: tuple[int, ...] = ()  # clusters whose stored reports corroborated rules count


def history_question(
    fresh: Sequence[Analysed],
    placement: Placement,
    found_edits: Sequence[Edit],
    policy: PollPolicy,
) -> HistoryQuestion:
    """The once-keys and (cluster, rule) pairs whose history can change this poll's alerts.

    Only clusters of earlier polls can have alerted already; a story edited in
    place matters only to rules that want updates.
    """
    keys: dict[str, None] = {}
    told: dict[tuple[int, str], None] = {}
    for item, cluster_id in zip(fresh, placement.cluster_ids, strict=True):
        if cluster_id not in placement.joined:
            continue
        for rule_name, _ in item.hits:
            keys[alert_key(cluster_id, rule_name)] = None
            rule = policy.rules.get(rule_name)
            if rule is not None and rule.updates:
                keys[update_key(cluster_id, rule_name, item.story.feed)] = None
                told[(cluster_id, rule_name)] = None
    for edit in found_edits:
        for rule in policy.rules.values():
            if rule.updates:
                keys[alert_key(edit.stored.cluster_id, rule.name)] = None
    reports: dict[int, None] = {}
    corroborated = policy.corroborated
    if corroborated:
        # Any new story can bring an event its Nth outlet, matching or not.
        for cluster_id in placement.cluster_ids:
            if cluster_id in placement.joined:
                reports[cluster_id] = None
                for rule in corroborated:
                    keys[alert_key(cluster_id, rule.name)] = None
    return HistoryQuestion(tuple(keys), tuple(told), tuple(reports))


# -- the decision ---------------------------------------------------------------------------


def mute_keys(mutes: Iterable[Mute]) -> frozenset[tuple[str, str]]:
    return frozenset((mute.kind, mute.target) for mute in mutes)


def is_muted(mutes: frozenset[tuple[str, str]], rule: str, cluster_id: int) -> bool:
    """A muted alert is recorded (``watcher alerts`` shows it) and never delivered."""
    return ("rule", rule) in mutes or ("cluster", str(cluster_id)) in mutes


@dataclass(frozen=True, slots=True)
class PollFacts:
    """Everything one poll knows once the store's questions are answered."""

    feed: FeedSpec
    state: FeedState | None
    fetched: Fetched
    now: datetime
    error: str | None = None
    not_modified: bool = False
    parsed: ParsedFeed | None = None
    discovered: str | None = None  # the feed a page advertised, polled from now on
    analysed: tuple[Analysed, ...] = ()
    fresh: tuple[Analysed, ...] = ()
    placement: Placement = field(default_factory=lambda: Placement((), frozenset()))
    edits: tuple[Edit, ...] = ()
    history: AlertHistory = field(default_factory=AlertHistory)
    mutes: frozenset[tuple[str, str]] = frozenset()  # ("rule", name), ("cluster", id)


@dataclass(frozen=True, slots=True)
class PollDecision:
    """What one poll means: everything the store writes in one transaction."""

    record: PollRecord
    new_stories: tuple[StoryRecord, ...] = ()
    edited: tuple[EditedStory, ...] = ()
    alerts: tuple[QueuedAlert, ...] = ()
    notices: tuple[QueuedNotice, ...] = ()
    listed_keys: tuple[str, ...] = ()  # keys the feed still lists: they stay remembered


def decide(facts: PollFacts, policy: PollPolicy) -> PollDecision:
    """The outcome of one poll: next poll and health, new stories and their alerts, edits."""
    feed, state, fetched, now, error = (
        facts.feed,
        facts.state,
        facts.fetched,
        facts.now,
        facts.error,
    )
    failures = (state.consecutive_failures + 1 if state else 1) if error else 0
    next_poll = politeness.next_poll(
        now=now,
        interval=feed.interval,
        failures=failures,
        retry_after=fetched.retry_after,
        max_age=fetched.max_age,
        max_age_cap=policy.cache_max_age_cap,
        backoff_cap=policy.backoff_cap,
        rng=policy.rng,
    )
    # Held: polled again only when due, even by `watcher once` (unless --force).
    held = error is not None or next_poll > now + feed.interval
    notice = health_notice(
        feed=feed.name,
        url=feed.url,
        error=error,
        failing_since=state.failing_since if state else None,
        notice_sent=state.notice_sent if state else False,
        now=now,
        alert_after=policy.feed_alert_after,
    )
    notices = tuple(
        QueuedNotice(channel, notice.title, notice.body) for channel in policy.health_notify
    ) if notice else ()  # fmt: skip
    parsed = facts.parsed
    record = PollRecord(
        name=feed.name,
        url=feed.url,
        now=now,
        status=fetched.status,
        next_poll=next_poll,
        hold_until=next_poll if held else None,
        duration=fetched.elapsed,
        error=error,
        effective_url=facts.discovered or fetched.permanent_url,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_hash=fetched.body_hash if parsed is not None else None,
        items=len(parsed.stories) if parsed is not None else None,
        problem=parsed.problem if parsed is not None else None,
        notice_sent=None if notice is None else notice.kind == "failing",
    )
    if parsed is None:
        return PollDecision(record, notices=notices)
    first_poll = state is None or state.first_polled_at is None
    stories, alerts = _decide_new(facts, policy, first_poll=first_poll)
    edited, edit_alerts = _decide_edits(facts, policy)
    return PollDecision(
        record,
        new_stories=stories,
        edited=edited,
        alerts=alerts + edit_alerts,
        notices=notices,
        listed_keys=tuple(candidate_keys(facts.analysed)),
    )


def _decide_new(
    facts: PollFacts, policy: PollPolicy, *, first_poll: bool
) -> tuple[tuple[StoryRecord, ...], tuple[QueuedAlert, ...]]:
    """Store each new story in its cluster and decide which rules alert on it.

    A rule alerts once per cluster: the first matching story of an event
    alerts, later outlets' copies only join the cluster (or, for rules with
    ``updates: true``, send one short note per outlet).
    """
    now, history = facts.now, facts.history
    corroborated = {rule.name for rule in policy.corroborated}
    records = tuple(
        StoryRecord(
            item.story,
            item.keys,
            cluster_id,
            item.fingerprint_json,
            item.text_hash,
            tuple(name for name, _ in item.hits if name in corroborated),
        )
        for item, cluster_id in zip(facts.fresh, facts.placement.cluster_ids, strict=True)
    )
    taken = set(history.taken)  # and the once-keys this batch takes, not yet stored
    queued: list[QueuedAlert] = []
    for index, (item, cluster_id) in enumerate(
        zip(facts.fresh, facts.placement.cluster_ids, strict=True)
    ):
        story = item.story
        if first_poll and not is_recent(story, now, facts.feed.max_age):
            continue  # remembered, so it never alerts later, but too old to alert now
        for rule_name, shown in item.hits:
            rule = policy.rules.get(rule_name)
            if rule is None:  # analysed by workers still holding rules since removed
                continue
            once_key, kind = alert_key(cluster_id, rule.name), "alert"
            if rule.min_sources and once_key not in taken:
                continue  # alerts when its event is corroborated (_decide_corroborated)
            if once_key in taken:
                if not rule.updates:
                    continue
                once_key, kind = update_key(cluster_id, rule.name, story.feed), "update"
                if once_key in taken or story.feed in history.told_by(cluster_id, rule.name):
                    continue
            taken.add(once_key)
            queued.append(
                QueuedAlert(
                    story_index=index,
                    rule=rule.name,
                    routes=policy.routes(rule, now),
                    snippet=shown,
                    once_key=once_key,
                    kind=kind,
                    muted=is_muted(facts.mutes, rule.name, cluster_id),
                )
            )
    queued += _decide_corroborated(facts, policy, taken, first_poll=first_poll)
    return records, tuple(queued)


def corroboration(
    reports: Iterable[tuple[str, datetime]], sources: int, within: timedelta
) -> tuple[tuple[str, datetime], ...] | None:
    """The outlets that corroborate an event, each with when it first reported it, once
    ``sources`` of them did within ``within`` of the first report; None until then.

    An outlet that first reports it later than ``within`` never counts, so an
    event that does not reach ``sources`` outlets in time never alerts.
    """
    first: dict[str, datetime] = {}
    for outlet, at in sorted(reports, key=lambda report: report[1]):
        first.setdefault(outlet, at)
    if not first:
        return None
    start = min(first.values())
    counted = tuple((outlet, at) for outlet, at in first.items() if at - start <= within)
    return counted if len(counted) >= sources else None


def _decide_corroborated(
    facts: PollFacts, policy: PollPolicy, taken: set[str], *, first_poll: bool
) -> list[QueuedAlert]:
    """Corroborated rules alert once per event, when its Nth outlet reports it in time.

    The event matches when any of its stories matched the rule (now, or at an
    earlier poll: the store remembers those hits).  The alert points at the
    first report and names every outlet counted.
    """
    rules = policy.corroborated
    if not rules:
        return []
    now, history = facts.now, facts.history
    members: dict[int, list[int]] = {}  # cluster -> indexes of this poll's new stories
    for index, cluster_id in enumerate(facts.placement.cluster_ids):
        members.setdefault(cluster_id, []).append(index)
    queued: list[QueuedAlert] = []
    for cluster_id, indexes in members.items():
        fresh = [facts.fresh[i] for i in indexes]
        if first_poll and not any(is_recent(f.story, now, facts.feed.max_age) for f in fresh):
            continue  # a feed's first poll of old stories corroborates nothing
        stored = history.reports_of(cluster_id)
        reports = [(policy.outlet(r.feed), r.seen_at) for r in stored]
        reports += [(policy.outlet(f.story.feed), now) for f in fresh]
        for rule in rules:
            once_key = alert_key(cluster_id, rule.name)
            hits = [shown for f in fresh for name, shown in f.hits if name == rule.name]
            if once_key in taken or not (hits or history.hit(cluster_id, rule.name)):
                continue
            assert rule.min_sources is not None
            counted = corroboration(reports, rule.min_sources, rule.within or policy.cluster_window)
            if counted is None:
                continue
            taken.add(once_key)
            first_stored = stored[0] if stored else None
            queued.append(
                QueuedAlert(
                    story_index=None if first_stored else indexes[0],
                    story_id=first_stored.story_id if first_stored else None,
                    rule=rule.name,
                    routes=policy.routes(rule, now),
                    snippet=hits[0] if hits else Snippet(""),
                    once_key=once_key,
                    muted=is_muted(facts.mutes, rule.name, cluster_id),
                    reported_by=counted,
                )
            )
    return queued


def _decide_edits(
    facts: PollFacts, policy: PollPolicy
) -> tuple[tuple[EditedStory, ...], tuple[QueuedAlert, ...]]:
    """Stories edited in place keep their identity; rules with ``updates`` hear of it."""
    edited: list[EditedStory] = []
    queued: list[QueuedAlert] = []
    watching = [rule for rule in policy.rules.values() if rule.updates]
    for edit in facts.edits:
        stored, item = edit.stored, edit.item
        edited.append(EditedStory(stored.story_id, item.story, item.text_hash))
        for rule in watching:
            if alert_key(stored.cluster_id, rule.name) not in facts.history.taken:
                continue
            queued.append(
                QueuedAlert(
                    story_index=None,
                    story_id=stored.story_id,
                    rule=rule.name,
                    routes=policy.routes(rule, facts.now),
                    snippet=Snippet(""),
                    once_key=edit_key(stored.story_id, rule.name, item.text_hash),
                    kind="edit",
                    muted=is_muted(facts.mutes, rule.name, stored.cluster_id),
                )
            )
    return tuple(edited), tuple(queued)
