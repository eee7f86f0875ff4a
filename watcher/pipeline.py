"""The pipeline: fetch -> parse -> dedupe -> match -> store, and the outbox -> deliver.

Both faces (``watcher once`` and the daemon) drive this one class.  It owns no
policy of its own beyond sequencing: each decision is made by a pure function
of ``watcher.core``, each side effect by the fetch, store or deliver module.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, TextIO, TypeVar
from zoneinfo import ZoneInfo

from tzlocal import get_localzone

from watcher.config import STDOUT_CHANNEL, Config
from watcher.core import politeness
from watcher.core.analyse import Analysed, AnalysedFeed, analyse, parse_and_analyse
from watcher.core.cluster import ClusterIndex, Fingerprint, fingerprint
from watcher.core.dedupe import NewStory, fresh_items, identity_keys, is_recent, select_new
from watcher.core.errors import FeedError
from watcher.core.health import health_notice
from watcher.core.models import Alert, FeedSpec, Notice, ParsedFeed, RuleSpec, Snippet, Story
from watcher.core.render import Renderer
from watcher.core.rules import RuleBook, compile_rule
from watcher.core.schedule import next_digest
from watcher.deliver import Deliverer
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings
from watcher.log import redact
from watcher.metrics import FetchOutcome, Metrics
from watcher.sources import SourceReader
from watcher.store import (
    EditedStory,
    FeedState,
    KnownStory,
    PendingDelivery,
    PollRecord,
    QueuedAlert,
    QueuedNotice,
    Route,
    Store,
    StoryRecord,
)
from watcher.workers import analyse_here, parse_and_analyse_here, start_pool, worker_count

log = logging.getLogger(__name__)
T = TypeVar("T")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one poll of one feed did, for logs, reports and tests."""

    feed: str
    error: str | None = None
    status: int | None = None
    new_stories: int = 0
    alerts: int = 0
    not_modified: bool = False
    problem: str | None = None
    skipped: bool = False  # held back by a server-requested delay or an error backoff

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True, slots=True)
class _Poll:
    """What a poll knows once the fetch is done: the feed, its stored state, the response."""

    feed: FeedSpec
    state: FeedState | None
    fetched: FetchedFeed
    now: datetime
    discovered: str | None = None  # a feed found on the page the URL answered


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0  # kept for retry
    given_up: int = 0
    folded: int = 0  # over a channel's rate limit: held for a digest
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries a channel that is down."""

    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)

    def next_attempt(self, now: datetime, attempts: int) -> datetime:
        delay: timedelta = self.first_delay * (2 ** min(attempts, 16))
        return now + min(delay, self.max_delay)


class Pipeline:
    def __init__(
        self,
        config: Config,
        store: Store,
        fetcher: Fetcher,
        deliverer: Deliverer,
        *,
        clock: Clock = utc_now,
        pool: ProcessPoolExecutor | None = None,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        # Worker processes for parsing and analysis (None: threads of this process).
        self.pool = pool
        self.retry = retry or RetryPolicy()
        self.metrics = metrics
        self.reader = SourceReader(fetcher, self._offload, self._parse_stage)
        self.clusters = ClusterIndex()
        # One delivery run at a time: two runs could otherwise both send the same row.
        self._delivering = asyncio.Lock()
        # Feeds between "fetch started" and "recorded": the fetch limit, plus a few waiting
        # for a parse worker.  Without it, when parsing is the bottleneck, every feed of a
        # pass would sit in memory with its body fetched, waiting for a worker.
        self._polling = asyncio.Semaphore(config.fetch.concurrency + 4)
        self._apply(config, deliverer)

    def reconfigure(self, config: Config, deliverer: Deliverer) -> None:
        """Switch to a new config between two steps: no poll or delivery sees half of each."""
        if self.pool is not None and config.rules != self.config.rules:
            old, self.pool = self.pool, start_pool(workers_for(config) or 1, config.rules)
            old.shutdown(wait=False)  # work already handed to it still finishes
        self._apply(config, deliverer)

    def _apply(self, config: Config, deliverer: Deliverer) -> None:
        rulebook = RuleBook(compile_rule(rule) for rule in config.rules)
        old = getattr(self, "config", None)
        if old is None or (old.cluster_threshold, old.cluster_window) != (
            config.cluster_threshold,
            config.cluster_window,
        ):
            self.clusters = self._load_clusters(config)
        self.config = config
        self.deliverer = deliverer
        self.fetch_settings = global_fetch_settings(config)
        self.zone: tzinfo = ZoneInfo(config.timezone) if config.timezone else get_localzone()
        self.rules = {rule.name: rule for rule in config.rules}
        self.rulebook = rulebook
        if self.metrics is not None:
            self.metrics.declare(
                feeds=[f.name for f in config.feeds],
                rules=list(self.rules),
                channels=[STDOUT_CHANNEL, *config.channels],
            )

    def _load_clusters(self, config: Config) -> ClusterIndex:
        """The clusters of the window, from the stories stored (they survive restarts)."""
        index = ClusterIndex(config.cluster_threshold)
        for cluster_id, stored, seen_at, title, summary in self.store.recent_fingerprints(
            self.clock() - config.cluster_window
        ):
            try:
                print_ = Fingerprint.from_json(stored) if stored else fingerprint(title, summary)
            except ValueError:  # made by another version: recompute
                print_ = fingerprint(title, summary)
            index.add(cluster_id, print_, datetime.fromisoformat(seen_at))
        return index

    def prune(self) -> None:
        """Apply ``retention``: old stories go, identities still listed by a feed stay."""
        stories, keys = self.store.prune(self.clock() - self.config.retention)
        if stories or keys:
            log.info(
                "pruned %d old stories and %d identities no feed lists any more", stories, keys
            )

    def health(self) -> dict[str, int]:
        """Counts for status lines, metrics and /health."""
        counts = {
            "feeds": len(self.config.feeds),
            "failing": self.store.count("feeds", "consecutive_failures > 0"),
            "pending": self.store.count("deliveries", "status = 'pending'"),
            "failed": self.store.count("deliveries", "status = 'failed'"),
        }
        if self.metrics is not None:
            self.metrics.set_outbox(counts["pending"], counts["failed"])
            self.metrics.set_failing(counts["failing"])
        return counts

    async def poll_all(
        self, feeds: Iterable[FeedSpec] | None = None, *, force: bool = False
    ) -> list[FeedOutcome]:
        """Poll feeds concurrently (the fetcher bounds it); one failure affects no other."""
        chosen = list(self.config.feeds if feeds is None else feeds)
        return list(await asyncio.gather(*(self.poll(feed, force=force) for feed in chosen)))

    async def poll(self, feed: FeedSpec, *, force: bool = False) -> FeedOutcome:
        """Poll one feed, unless a server-requested delay or an error backoff holds it."""
        try:
            async with self._polling:
                return await self._poll(feed, force)
        except Exception as exc:  # a bug must not take the other feeds down with it
            log.exception("feed '%s': unexpected error", feed.name)
            return FeedOutcome(feed.name, error=f"internal error: {exc}")

    async def _poll(self, feed: FeedSpec, force: bool) -> FeedOutcome:
        state = self.store.feed_state(feed.name)
        if state is not None and state.url != feed.url:
            self.store.forget_feed_url(feed.name)  # the user pointed the feed elsewhere
            state = self.store.feed_state(feed.name)
        assert state is None or state.url == feed.url
        if not force and state and state.hold_until and state.hold_until > self.clock():
            return FeedOutcome(feed.name, skipped=True)
        request = FetchRequest(
            feed=feed.name,
            url=(state.effective_url if state else None) or feed.url,
            etag=state.etag if state else None,
            last_modified=state.last_modified if state else None,
            settings=replace(self.fetch_settings, **fetch_limits(feed.fetch))
            if feed.fetch
            else None,
        )
        fetched = await self.fetcher.fetch(request)
        poll = _Poll(feed, state, fetched, self.clock())
        if fetched.error is not None:
            return self._record(poll, error=str(fetched.error))
        if (
            fetched.not_modified
            or fetched.body is None
            or fetched.body_hash == (state.body_hash if state else None)
        ):
            return self._record(poll, not_modified=True)
        settings = request.settings or self.fetch_settings
        try:
            reading = await self.reader.read(feed, fetched, settings)
        except FeedError as exc:
            return self._record(poll, error=str(exc))
        parsed = reading.parsed
        if parsed.problem:
            log.warning(
                "feed '%s': %s (kept the %d stories read)",
                feed.name,
                parsed.problem,
                len(parsed.stories),
            )
        if feed.full_text:  # the parse stage left these for after the article pages
            parsed = await self._full_text(feed, parsed, settings)
        analysed = (
            list(reading.analysed)
            if reading.analysed is not None
            else await self._analyse(parsed.stories)
        )
        poll = replace(poll, fetched=reading.fetched, discovered=reading.discovered)
        return self._record(poll, parsed=parsed, analysed=analysed)

    async def _full_text(
        self, feed: FeedSpec, parsed: ParsedFeed, settings: FetchSettings
    ) -> ParsedFeed:
        """Add each new story's page text; only stories not seen before cost a fetch."""
        keys = [key for story in parsed.stories for key in identity_keys(story)]
        fresh = select_new(parsed.stories, self.store.known_keys(keys))
        if not fresh:
            return parsed
        enriched, failures = await self.reader.full_text(
            feed.name, [new.story for new in fresh], settings
        )
        by_story = {id(fresh[index].story): story for index, story in enriched.items()}
        problem = parsed.problem
        if failures:
            summary = f"full text: {len(failures)} of {len(fresh)} pages failed ({failures[0]})"
            log.warning("feed '%s': %s", feed.name, summary)
            problem = "; ".join(p for p in (problem, summary) if p)
        return replace(
            parsed,
            stories=tuple(by_story.get(id(story), story) for story in parsed.stories),
            problem=problem,
        )

    async def _offload(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """CPU-heavy work (parsing, extraction) off the event loop: worker processes if any."""
        loop = asyncio.get_running_loop()
        call = functools.partial(function, *args, **kwargs)
        return await loop.run_in_executor(self.pool, call)

    async def _parse_stage(
        self, feed: FeedSpec, body: bytes, content_type: str | None, url: str
    ) -> AnalysedFeed:
        """Parse off the event loop, analysing in the same trip unless full text comes first."""
        if feed.full_text:  # analysed once the article pages are in
            return await self.reader.parse_only(feed, body, content_type, url)
        if self.pool is not None:
            return await self._offload(
                parse_and_analyse_here, feed.name, body, content_type=content_type, url=url
            )
        return await self._offload(
            parse_and_analyse,
            feed.name,
            body,
            content_type=content_type,
            url=url,
            book=self.rulebook,
        )

    async def _analyse(self, stories: Sequence[Story]) -> list[Analysed]:
        """Keys, fingerprints and rule hits of every story, computed off the event loop."""
        loop = asyncio.get_running_loop()
        if self.pool is not None:
            return await loop.run_in_executor(self.pool, analyse_here, stories)
        return await loop.run_in_executor(None, analyse, stories, self.rulebook)

    def _record(
        self,
        poll: _Poll,
        *,
        error: str | None = None,
        parsed: ParsedFeed | None = None,
        analysed: Sequence[Analysed] = (),
        not_modified: bool = False,
    ) -> FeedOutcome:
        """Decide what this poll means (new stories, alerts, next poll, notices) and store it.

        No await from here to the commit, so feeds polled concurrently in one event
        loop cannot both take the same story as new.
        """
        feed, state, fetched, now = poll.feed, poll.state, poll.fetched, poll.now
        failures = (state.consecutive_failures + 1 if state else 1) if error else 0
        next_poll = politeness.next_poll(
            now=now,
            interval=feed.interval,
            failures=failures,
            retry_after=fetched.retry_after,
            max_age=fetched.max_age,
            max_age_cap=self.config.fetch.cache_max_age_cap,
            backoff_cap=self.config.fetch.backoff_cap,
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
            alert_after=self.config.feed_alert_after,
        )
        notices = (
            [QueuedNotice(ch, notice.title, notice.body) for ch in self.config.health_notify]
            if notice
            else []
        )
        records: list[StoryRecord] = []
        edited: list[EditedStory] = []
        queued: list[QueuedAlert] = []
        candidates: list[str] = []
        if parsed is not None:
            candidates = [key for item in analysed for key in item.keys]
            known = self.store.known_stories(candidates)
            fresh = fresh_items(analysed, known.keys(), lambda item: item.keys)
            first_poll = state is None or state.first_polled_at is None
            records, queued = self._decide_new(
                fresh, first_poll=first_poll, max_age=feed.max_age, now=now
            )
            edited, edit_alerts = self._decide_edits(analysed, known, now)
            queued += edit_alerts
        if error:
            log.warning("feed '%s' (%s): %s", feed.name, feed.url, error)
        alerts = self.store.record_poll(
            PollRecord(
                name=feed.name,
                url=feed.url,
                now=now,
                status=fetched.status,
                next_poll=next_poll,
                hold_until=next_poll if held else None,
                duration=fetched.elapsed,
                error=error,
                effective_url=poll.discovered or fetched.permanent_url,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=fetched.body_hash if parsed is not None else None,
                items=len(parsed.stories) if parsed is not None else None,
                problem=parsed.problem if parsed is not None else None,
                notice_sent=None if notice is None else notice.kind == "failing",
            ),
            new_stories=records,
            edited=edited,
            alerts=queued,
            notices=notices,
            listed_keys=candidates,
        )
        if self.metrics is not None:
            outcome: FetchOutcome = "error" if error else "not_modified" if not_modified else "ok"
            self.metrics.fetched(feed.name, outcome, fetched.elapsed)
            self.metrics.new_stories(feed.name, len(records))
            for queued_alert in queued:
                self.metrics.matched(queued_alert.rule)
        if records:
            log.info("feed '%s': %d new stories, %d alerts", feed.name, len(records), alerts)
        return FeedOutcome(
            feed.name,
            error=error,
            status=fetched.status,
            new_stories=len(records),
            alerts=alerts,
            not_modified=not_modified,
            problem=parsed.problem if parsed is not None else None,
        )

    def _decide_new(
        self, fresh: list[Analysed], *, first_poll: bool, max_age: timedelta, now: datetime
    ) -> tuple[list[StoryRecord], list[QueuedAlert]]:
        """Place each new story in a cluster and decide which rules alert on it.

        A rule alerts once per cluster: the first matching story of an event
        alerts, later outlets' copies only join the cluster (or, for rules with
        ``updates: true``, send one short note per outlet).
        """
        self.clusters.evict(now - self.config.cluster_window)
        records: list[StoryRecord] = []
        joined: set[int] = set()  # clusters of earlier stories: they may have alerted already
        for item in fresh:
            found = self.clusters.find(item.fingerprint) if self.config.cluster else None
            cluster_id = found if found is not None else new_cluster_id()
            if found is not None:
                joined.add(found)
            records.append(
                StoryRecord(NewStory(item.story, item.keys), cluster_id, item.fingerprint_json,
                            item.text_hash)
            )  # fmt: skip
            if self.config.cluster:
                self.clusters.add(cluster_id, item.fingerprint, now)
        # One query for the whole poll: which (cluster, rule) pairs have alerted before.
        taken = self.store.existing_once_keys(
            f"alert:{record.cluster_id}:{rule}"
            for record, item in zip(records, fresh, strict=True)
            if record.cluster_id in joined
            for rule, _ in item.hits
        )  # then also the once-keys decided in this batch, not yet stored
        queued: list[QueuedAlert] = []
        for index, (item, record) in enumerate(zip(fresh, records, strict=True)):
            story, cluster_id = item.story, record.cluster_id
            if first_poll and not is_recent(story, now, max_age):
                continue  # remembered, so it never alerts later, but too old to alert now
            for rule_name, shown in item.hits:
                rule = self.rules.get(rule_name)
                if rule is None:  # analysed by workers still holding rules since removed
                    continue
                once_key, kind = f"alert:{cluster_id}:{rule.name}", "alert"
                if once_key in taken:
                    if not rule.updates:
                        continue
                    once_key, kind = f"update:{cluster_id}:{rule.name}:{story.feed}", "update"
                    told = self.store.alerted_feeds(cluster_id, rule.name)
                    if once_key in taken or story.feed in told:
                        continue
                taken.add(once_key)
                queued.append(
                    QueuedAlert(
                        story_index=index,
                        rule=rule.name,
                        routes=self._routes(rule, now),
                        snippet=shown,
                        once_key=once_key,
                        kind=kind,
                    )
                )
        return records, queued

    def _decide_edits(
        self, analysed: Sequence[Analysed], known: Mapping[str, KnownStory], now: datetime
    ) -> tuple[list[EditedStory], list[QueuedAlert]]:
        """Stories edited in place keep their identity; rules with ``updates`` hear of it."""
        edited: list[EditedStory] = []
        queued: list[QueuedAlert] = []
        watching = [rule for rule in self.rules.values() if rule.updates]
        for item in analysed:
            story = item.story
            stored = next((known[k] for k in item.keys if k in known), None)
            if stored is None or stored.text_hash is None:
                continue
            digest = item.text_hash
            if digest == stored.text_hash or any(e.story_id == stored.story_id for e in edited):
                continue
            edited.append(EditedStory(stored.story_id, story, digest))
            for rule in watching:
                if not self.store.existing_once_keys([f"alert:{stored.cluster_id}:{rule.name}"]):
                    continue
                queued.append(
                    QueuedAlert(
                        story_index=None,
                        story_id=stored.story_id,
                        rule=rule.name,
                        routes=self._routes(rule, now),
                        snippet=Snippet(""),
                        once_key=f"edit:{stored.story_id}:{rule.name}:{digest}",
                        kind="edit",
                    )
                )
        return edited, queued

    def _routes(self, rule: RuleSpec, now: datetime) -> tuple[Route, ...]:
        """Each channel of a rule, and the digest it waits for (the rule's, else the channel's)."""
        routes = []
        for name in rule.notify:
            channel = self.config.channels.get(name)
            spec = rule.digest or (channel.digest if channel else None)
            routes.append(Route(name, next_digest(spec, now, self.zone) if spec else None))
        return tuple(routes)

    async def deliver_due(self, *, retry_now: bool = False) -> DeliveryReport:
        """Send what the outbox holds that is due; ``retry_now`` skips retry backoff."""
        async with self._delivering:
            return await self._deliver_due(retry_now)

    async def _deliver_due(self, retry_now: bool) -> DeliveryReport:
        report = DeliveryReport()
        due = self.store.due_deliveries(self.clock(), retry_now=retry_now)
        digests: dict[str, list[PendingDelivery]] = {}
        for pending in due:
            if pending.digest:
                digests.setdefault(pending.channel, []).append(pending)
                continue
            if self._over_rate_limit(pending.channel):
                self.store.fold_into_digest([pending.id], self._fold_time(pending.channel))
                report.folded += 1
                continue
            if pending.notice is not None:
                error = await self.deliverer.send_notice(pending.channel, pending.notice)
            elif pending.alert is not None and pending.alert.kind in ("update", "edit"):
                error = await self.deliverer.send_notice(
                    pending.channel, update_note(pending.alert)
                )
            else:
                assert pending.alert is not None
                error = await self.deliverer.send(pending.channel, pending.alert)
            self._settle([pending], error, report)
        for channel, group in digests.items():
            alerts = [as_digest_entry(p.alert) for p in group if p.alert is not None]
            title = f"watcher digest: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}"
            error = await self.deliverer.send_digest(channel, alerts, title)
            self._settle(group, error, report)
        return report

    def _over_rate_limit(self, channel: str) -> bool:
        spec = self.config.channels.get(channel)
        if spec is None or spec.rate_limit is None:
            return False
        since = self.clock() - timedelta(minutes=1)
        return self.store.messages_sent(channel, since) >= spec.rate_limit

    def _fold_time(self, channel: str) -> datetime:
        """Alerts over a rate limit wait for the channel's digest, else for the next minute."""
        now = self.clock()
        spec = self.config.channels.get(channel)
        if spec is not None and spec.digest:
            return next_digest(spec.digest, now, self.zone)
        return now + timedelta(minutes=1)

    def _settle(
        self, group: list[PendingDelivery], error: str | None, report: DeliveryReport
    ) -> None:
        """Mark what one message carried as sent, or schedule its retry (or give it up)."""
        now = self.clock()
        ids = [pending.id for pending in group]
        channel = group[0].channel
        if self.metrics is not None:
            self.metrics.delivered(channel, error is None)
        if error is None:
            self.store.mark_sent(ids, channel, now)
            report.sent += len(ids)
            return
        oldest = min(pending.created_at for pending in group)
        give_up = now - oldest >= self.config.give_up_after
        attempts = max(pending.attempts for pending in group)
        self.store.mark_failed(ids, error, self.retry.next_attempt(now, attempts), give_up=give_up)
        report.errors.append(f"channel '{channel}': {error}")
        if give_up:
            report.given_up += len(ids)
            log.error("gave up delivering %d alert(s) to '%s': %s", len(ids), channel, error)
        else:
            report.failed += len(ids)
            log.warning("delivery to '%s' failed, will retry: %s", channel, error)


def new_cluster_id() -> int:
    """Cluster ids are drawn, not counted, so a batch can place stories before storing them."""
    return secrets.randbits(52)


def _update_label(alert: Alert) -> str:
    if alert.kind == "edit":
        return f"updated by {alert.feed}"
    return f"also reported by {alert.feed}"


def update_note(alert: Alert) -> Notice:
    """The short follow-up a rule with ``updates: true`` sends (another outlet, or an edit)."""
    return Notice(
        title=f"{alert.rule}: {_update_label(alert)}",
        body="\n".join(part for part in (alert.title, alert.link) if part),
    )


def as_digest_entry(alert: Alert) -> Alert:
    if alert.kind == "alert":
        return alert
    return replace(alert, title=f"{_update_label(alert)}: {alert.title}")


# config name -> FetchSettings field
_FETCH_FIELDS = {
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "deadline": "deadline",
    "max_body": "max_body_bytes",
    "max_decoded": "max_decoded_bytes",
    "max_redirects": "max_redirects",
}


def fetch_limits(values: Iterable[tuple[str, object]]) -> dict[str, Any]:
    """Config fetch limits as ``FetchSettings`` fields (durations in seconds)."""
    limits: dict[str, Any] = {}
    for key, value in values:
        if value is None or key not in _FETCH_FIELDS:
            continue
        limits[_FETCH_FIELDS[key]] = (
            value.total_seconds() if isinstance(value, timedelta) else value
        )
    return limits


def global_fetch_settings(config: Config) -> FetchSettings:
    return FetchSettings(
        user_agent=user_agent(),
        global_concurrency=config.fetch.concurrency,
        per_host_concurrency=config.fetch.per_host,
        **fetch_limits(config.fetch.model_dump().items()),
    )


# Below this many feeds, starting worker processes costs more than it saves.
POOL_MIN_FEEDS = 20


def workers_for(config: Config) -> int:
    """Worker processes to start: the config's ``workers``, or by default one per spare
    core once there are enough feeds to be worth it."""
    if config.workers is not None:
        return config.workers
    return worker_count(None) if len(config.feeds) >= POOL_MIN_FEEDS else 0


def build_deliverer(config: Config, stdout: TextIO | None = None) -> Deliverer:
    """The channels of ``config``; their secrets are masked in the log from now on,
    also those a reload brings in."""
    deliverer = Deliverer(config.channels, config.env, Renderer(config.templates), stdout=stdout)
    redact(deliverer.secrets)
    for channel, problem in deliverer.problems().items():
        log.error("channel '%s': %s", channel, problem)
    return deliverer


def user_agent() -> str:
    from watcher import __version__

    return f"watcher/{__version__} (news monitor; +https://github.com/watcher-news/watcher)"


@asynccontextmanager
async def open_pipeline(
    config: Config,
    *,
    clock: Clock = utc_now,
    stdout: TextIO | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Pipeline]:
    """Everything a pass needs, opened in order and closed in reverse, even on error."""
    store = Store(config.database)
    count = workers_for(config)
    pool = start_pool(count, config.rules) if count else None
    try:
        async with Fetcher(global_fetch_settings(config)) as fetcher:
            yield Pipeline(
                config,
                store,
                fetcher,
                build_deliverer(config, stdout),
                clock=clock,
                pool=pool,
                metrics=metrics,
            )
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        store.close()
