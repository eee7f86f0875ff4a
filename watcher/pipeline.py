"""The pipeline: fetch -> parse -> dedupe -> match -> store, and the outbox -> deliver.

Both faces (``watcher once`` and the daemon) drive this one class.  It owns no
policy of its own beyond sequencing: each decision is made by a pure function
of ``watcher.core``, each side effect by the fetch, store or deliver module.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from concurrent.futures import Executor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TextIO

from watcher.config import Config
from watcher.core.dedupe import NewStory, identity_keys, is_recent, select_new
from watcher.core.errors import FeedError
from watcher.core.models import FeedSpec, ParsedFeed
from watcher.core.parse import parse_feed
from watcher.core.rules import RuleBook, compile_rule, prepare, snippet
from watcher.deliver import Deliverer
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings
from watcher.store import QueuedAlert, Store

log = logging.getLogger(__name__)

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

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class DeliveryReport:
    sent: int = 0
    failed: int = 0
    given_up: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries a channel that is down."""

    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)
    give_up_after: timedelta = timedelta(days=3)

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
        parse_executor: Executor | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.fetcher = fetcher
        self.deliverer = deliverer
        self.clock = clock
        self.parse_executor = parse_executor
        self.retry = retry or RetryPolicy()
        self.rules = {rule.name: rule for rule in config.rules}
        self.rulebook = RuleBook(compile_rule(rule) for rule in config.rules)
        # One delivery run at a time: two runs could otherwise both send the same row.
        self._delivering = asyncio.Lock()

    async def poll_all(self, feeds: Iterable[FeedSpec] | None = None) -> list[FeedOutcome]:
        """Poll feeds concurrently (the fetcher bounds it); one failure affects no other."""
        chosen = list(self.config.feeds if feeds is None else feeds)
        return list(await asyncio.gather(*(self.poll(feed) for feed in chosen)))

    async def poll(self, feed: FeedSpec) -> FeedOutcome:
        try:
            return await self._poll(feed)
        except Exception as exc:  # a bug must not take the other feeds down with it
            log.exception("feed '%s': unexpected error", feed.name)
            return FeedOutcome(feed.name, error=f"internal error: {exc}")

    async def _poll(self, feed: FeedSpec) -> FeedOutcome:
        state = self.store.feed_state(feed.name)
        same_url = state is not None and state.url == feed.url
        request = FetchRequest(
            feed=feed.name,
            url=feed.url,
            etag=state.etag if same_url and state else None,
            last_modified=state.last_modified if same_url and state else None,
        )
        fetched = await self.fetcher.fetch(request)
        now = self.clock()
        next_poll = now + feed.interval
        if fetched.error is not None:
            return self._failed(feed, fetched.status, str(fetched.error), now, next_poll)
        unchanged = fetched.not_modified or (
            same_url and state is not None and fetched.body_hash == state.body_hash
        )
        if unchanged or fetched.body is None:
            self.store.record_success(
                feed.name,
                feed.url,
                status=fetched.status,
                now=now,
                next_poll=next_poll,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
            )
            return FeedOutcome(feed.name, status=fetched.status, not_modified=True)
        try:
            parsed = await self._parse(feed, fetched)
        except FeedError as exc:
            return self._failed(feed, fetched.status, str(exc), now, next_poll)
        if parsed.problem:
            log.warning(
                "feed '%s': %s (kept the %d stories read)",
                feed.name,
                parsed.problem,
                len(parsed.stories),
            )
        first_poll = state is None or state.first_polled_at is None
        return self._ingest(
            feed, fetched, parsed, first_poll=first_poll, now=now, next_poll=next_poll
        )

    async def _parse(self, feed: FeedSpec, fetched: FetchedFeed) -> ParsedFeed:
        loop = asyncio.get_running_loop()
        assert fetched.body is not None
        return await loop.run_in_executor(
            self.parse_executor,
            _parse,
            feed.name,
            fetched.body,
            fetched.content_type,
            fetched.final_url,
        )

    def _ingest(
        self,
        feed: FeedSpec,
        fetched: FetchedFeed,
        parsed: ParsedFeed,
        *,
        first_poll: bool,
        now: datetime,
        next_poll: datetime,
    ) -> FeedOutcome:
        # No await from here to the commit: concurrent polls cannot both take one story as new.
        candidates = [key for story in parsed.stories for key in identity_keys(story)]
        fresh = select_new(parsed.stories, self.store.known_keys(candidates))
        queued = self._match(fresh, first_poll=first_poll, max_age=feed.max_age, now=now)
        alerts = self.store.record_success(
            feed.name,
            feed.url,
            status=fetched.status,
            now=now,
            next_poll=next_poll,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            body_hash=fetched.body_hash,
            items=len(parsed.stories),
            problem=parsed.problem,
            new_stories=fresh,
            alerts=queued,
        )
        if fresh:
            log.info("feed '%s': %d new stories, %d alerts", feed.name, len(fresh), alerts)
        return FeedOutcome(
            feed.name,
            status=fetched.status,
            new_stories=len(fresh),
            alerts=alerts,
            problem=parsed.problem,
        )

    def _match(
        self, fresh: list[NewStory], *, first_poll: bool, max_age: timedelta, now: datetime
    ) -> list[QueuedAlert]:
        queued = []
        for index, new in enumerate(fresh):
            if first_poll and not is_recent(new.story, now, max_age):
                continue  # remembered, so it never alerts later, but too old to alert now
            document = prepare(new.story)
            for hit in self.rulebook.match(document):
                queued.append(
                    QueuedAlert(
                        story_index=index,
                        rule=hit.rule,
                        channels=self.rules[hit.rule].notify,
                        snippet=snippet(document, hit),
                    )
                )
        return queued

    def _failed(
        self, feed: FeedSpec, status: int | None, error: str, now: datetime, next_poll: datetime
    ) -> FeedOutcome:
        log.warning("feed '%s' (%s): %s", feed.name, feed.url, error)
        self.store.record_failure(
            feed.name, feed.url, status=status, error=error, now=now, next_poll=next_poll
        )
        return FeedOutcome(feed.name, error=error, status=status)

    async def deliver_due(self, *, everything: bool = False) -> DeliveryReport:
        """Send what the outbox holds that is due (all pending with ``everything``)."""
        async with self._delivering:
            return await self._deliver_due(everything)

    async def _deliver_due(self, everything: bool) -> DeliveryReport:
        report = DeliveryReport()
        for pending in self.store.due_deliveries(self.clock(), include_failed_early=everything):
            error = await self.deliverer.send(pending.channel, pending.alert)
            now = self.clock()
            if error is None:
                self.store.mark_sent(pending.id, now)
                report.sent += 1
                continue
            give_up = now - pending.created_at >= self.retry.give_up_after
            self.store.mark_failed(
                pending.id, error, self.retry.next_attempt(now, pending.attempts), give_up=give_up
            )
            report.errors.append(f"channel '{pending.channel}': {error}")
            if give_up:
                report.given_up += 1
                log.error("gave up delivering alert to '%s': %s", pending.channel, error)
            else:
                report.failed += 1
                log.warning("delivery to '%s' failed, will retry: %s", pending.channel, error)
        return report


def _parse(feed: str, body: bytes, content_type: str | None, url: str) -> ParsedFeed:
    return parse_feed(feed, body, content_type=content_type, url=url)


def user_agent() -> str:
    from watcher import __version__

    return f"watcher/{__version__} (news monitor; +https://github.com/watcher-news/watcher)"


@asynccontextmanager
async def open_pipeline(
    config: Config,
    *,
    clock: Clock = utc_now,
    stdout: TextIO | None = None,
    parse_executor: Executor | None = None,
) -> AsyncIterator[Pipeline]:
    """Everything a pass needs, opened in order and closed in reverse, even on error."""
    store = Store(config.database)
    try:
        async with Fetcher(FetchSettings(user_agent=user_agent())) as fetcher:
            deliverer = Deliverer(config.channels, config.env, stdout=stdout)
            for channel, problem in deliverer.problems().items():
                log.error("channel '%s': %s", channel, problem)
            yield Pipeline(
                config, store, fetcher, deliverer, clock=clock, parse_executor=parse_executor
            )
    finally:
        store.close()
