"""The poll, as one straight sequence: fetch -> read -> analyse -> look up -> decide -> store.

``Pipeline`` only sequences.  Each stage is handed what it needs (the fetcher,
the source reader, the analyser on its executor, the store) and returns plain
data; every decision is a pure function of ``watcher.core.decide``.  Both faces,
``watcher once`` and the daemon, drive this one class (``watcher.wiring`` builds it).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from watcher.clock import Clock
from watcher.core import decide as decisions
from watcher.core.analyse import Analysed
from watcher.core.cluster import ClusterIndex, stored_fingerprint
from watcher.core.decide import Fetched, PollDecision, PollFacts, PollPolicy
from watcher.core.dedupe import identity_keys, select_new
from watcher.core.errors import FeedError, StoreError
from watcher.core.models import FeedSpec, ParsedFeed
from watcher.core.outbox import DeliveryReport
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings
from watcher.metrics import FetchOutcome, Metrics
from watcher.outbox import Outbox
from watcher.sources import SourceReader
from watcher.store import Store
from watcher.workers import Analyser

log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class PollSettings:
    """What the config sets for polling (``watcher.settings`` builds it)."""

    feeds: tuple[FeedSpec, ...]
    policy: PollPolicy
    fetch: FetchSettings
    feed_fetch: Mapping[str, FetchSettings]  # feeds that override a fetch limit
    cluster_window: timedelta
    cluster_threshold: float
    concurrency: int


def new_cluster_ids() -> Iterator[int]:
    """Cluster ids are drawn, not counted, so a batch can place stories before storing them."""
    while True:
        yield secrets.randbits(52)


class Pipeline:
    def __init__(
        self,
        settings: PollSettings,
        store: Store,
        fetcher: Fetcher,
        analyser: Analyser,
        outbox: Outbox,
        *,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.fetcher = fetcher
        self.clock = clock
        self.metrics = metrics
        self.cluster_ids = new_cluster_ids()
        # Feeds between "fetch started" and "recorded": the fetch limit, plus a few waiting
        # for a parse worker.  Without it, when parsing is the bottleneck, every feed of a
        # pass would sit in memory with its body fetched, waiting for a worker.
        self._polling = asyncio.Semaphore(settings.concurrency + 4)
        self.clusters: ClusterIndex | None = None
        # The last story id the window has seen (a shared database: what others stored
        # after it is read before each decision).
        self._window_cursor = 0
        self._store_failing: str | None = None  # the last write error, until a write works
        self.reconfigure(settings, analyser, outbox)

    def reconfigure(self, settings: PollSettings, analyser: Analyser, outbox: Outbox) -> None:
        """Switch to a new config between two steps: no poll or delivery sees half of each."""
        old = getattr(self, "settings", None)
        if old is None or (old.cluster_threshold, old.cluster_window) != (
            settings.cluster_threshold,
            settings.cluster_window,
        ):
            self.clusters = self._load_clusters(settings)
        self.settings = settings
        self.analyser = analyser
        self.reader = SourceReader(self.fetcher, analyser)
        self.outbox = outbox

    def _load_clusters(self, settings: PollSettings) -> ClusterIndex:
        """The clusters of the window, from the stories stored (they survive restarts)."""
        index = ClusterIndex(settings.cluster_threshold)
        since = self.clock() - settings.cluster_window
        with self.store.deciding():  # no story stored between the cursor and the read
            self._window_cursor = self.store.last_story_id()
            stored = self.store.recent_fingerprints(since)
        for cluster_id, fingerprint, seen_at, title, summary, content in stored:
            index.add(
                cluster_id,
                stored_fingerprint(fingerprint, title, summary, content),
                datetime.fromisoformat(seen_at),
            )
        return index

    def _catch_up(self, index: ClusterIndex, now: datetime) -> None:
        """Add to the window what other instances stored since the last look, so that a
        story and its copy polled by two instances a second apart are one event."""
        since = now - self.settings.cluster_window
        for (
            _id,
            cluster_id,
            fingerprint,
            seen_at,
            title,
            summary,
            content,
        ) in self.store.fingerprints_after(self._window_cursor):
            seen = datetime.fromisoformat(seen_at)
            if seen >= since:
                index.add(
                    cluster_id, stored_fingerprint(fingerprint, title, summary, content), seen
                )

    async def deliver_due(self, *, retry_now: bool = False) -> DeliveryReport:
        return await self.outbox.deliver_due(retry_now=retry_now)

    async def poll_all(
        self, feeds: Iterable[FeedSpec] | None = None, *, force: bool = False
    ) -> list[FeedOutcome]:
        """Poll feeds concurrently (the fetcher bounds it); one failure affects no other."""
        chosen = list(self.settings.feeds if feeds is None else feeds)
        return list(await asyncio.gather(*(self.poll(feed, force=force) for feed in chosen)))

    async def poll(self, feed: FeedSpec, *, force: bool = False) -> FeedOutcome:
        """Poll one feed, unless a server-requested delay or an error backoff holds it."""
        try:
            async with self._polling:
                outcome = await self._poll(feed, force)
        except StoreError as exc:
            # Nothing of this poll was recorded: its stories are new again next time.
            if self._store_failing is None:
                log.error("%s; polls are not recorded until it works again", exc)
            self._store_failing = str(exc)
            return FeedOutcome(feed.name, error=str(exc))
        except Exception as exc:  # a bug must not take the other feeds down with it
            log.exception("feed '%s': unexpected error", feed.name)
            return FeedOutcome(feed.name, error=f"internal error: {exc}")
        if self._store_failing is not None and not outcome.skipped:
            log.warning("the database takes writes again (%s before)", self._store_failing)
            self._store_failing = None
        return outcome

    async def _poll(self, feed: FeedSpec, force: bool) -> FeedOutcome:
        state = self.store.feed_state(feed.name)
        if decisions.is_held(state, self.clock(), force=force):
            return FeedOutcome(feed.name, skipped=True)
        settings = self.settings.feed_fetch.get(feed.name, self.settings.fetch)
        # 1. fetch
        fetched = await self.fetcher.fetch(
            FetchRequest(
                feed=feed.name,
                url=(state.effective_url if state else None) or feed.url,
                etag=state.etag if state else None,
                last_modified=state.last_modified if state else None,
                settings=settings,
                # Only the configured URL itself is trusted; a stored redirect or
                # autodiscovery target is checked by the network guard.
                origin=feed.url,
            )
        )
        facts = PollFacts(feed, state, _fetched(fetched), self.clock())
        if fetched.error is not None:
            return self._conclude(replace(facts, error=str(fetched.error)))
        if fetched.body is None or decisions.is_unchanged(
            facts.fetched, fetched.not_modified, state
        ):
            return self._conclude(replace(facts, not_modified=True))
        try:
            # 2. read the source: autodiscovery, sitemap index, listing page, or a feed
            source = await self.reader.read(feed, fetched, settings)
            # 3. parse, and analyse in the same trip unless the article pages come first
            analysed: list[Analysed] | None = None
            if source.parsed is not None:
                parsed = source.parsed
            elif feed.full_text:
                assert source.document is not None
                doc = source.document
                parsed = await self.analyser.parse(feed.name, doc.body, doc.content_type, doc.url)
            else:
                assert source.document is not None
                doc = source.document
                both = await self.analyser.parse_and_analyse(
                    feed.name, doc.body, doc.content_type, doc.url
                )
                parsed, analysed = both.parsed, list(both.analysed or ())
        except FeedError as exc:
            return self._conclude(replace(facts, error=str(exc)))
        if parsed.problem:
            log.warning("feed '%s': %s (kept the %d stories read)",
                        feed.name, parsed.problem, len(parsed.stories))  # fmt: skip
        # 4. full text, for stories not yet known
        if feed.full_text:
            parsed = await self._full_text(feed, parsed, settings)
        # 5. analyse: keys, fingerprints, rule hits
        if analysed is None:
            analysed = await self.analyser.analyse(parsed.stories)
        return self._conclude(
            replace(
                facts,
                fetched=_fetched(source.fetched),
                parsed=parsed,
                discovered=source.discovered,
                analysed=tuple(analysed),
            )
        )

    async def _full_text(
        self, feed: FeedSpec, parsed: ParsedFeed, settings: FetchSettings
    ) -> ParsedFeed:
        """Add each new story's page text; only stories not seen before cost a fetch."""
        keys = [key for story in parsed.stories for key in identity_keys(story)]
        fresh = select_new(parsed.stories, self.store.known_keys(keys))
        if not fresh:
            return parsed
        enriched, failures = await self.reader.full_text(
            feed, [new.story for new in fresh], settings
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

    def _conclude(self, facts: PollFacts) -> FeedOutcome:
        """6-8. Look up, decide, store: one synchronous block.

        No await from the first look-up to the commit, so feeds polled
        concurrently in one event loop cannot both take the same story as new.
        """
        with self.store.deciding():
            decision, queued = self._decide_and_record(facts)
        new = len(decision.new_stories)
        if self.metrics is not None:
            outcome: FetchOutcome = (
                "error" if facts.error else "not_modified" if facts.not_modified else "ok"
            )
            self.metrics.fetched(facts.feed.name, outcome, facts.fetched.elapsed or 0.0)
            self.metrics.new_stories(facts.feed.name, new)
            for alert in decision.alerts:
                self.metrics.matched(alert.rule)
        if new:
            log.info("feed '%s': %d new stories, %d alerts", facts.feed.name, new, queued)
        return FeedOutcome(
            facts.feed.name,
            error=facts.error,
            status=facts.fetched.status,
            new_stories=new,
            alerts=queued,
            not_modified=facts.not_modified,
            problem=facts.parsed.problem if facts.parsed is not None else None,
        )

    def _decide_and_record(self, facts: PollFacts) -> tuple[PollDecision, int]:
        """Look up, decide, store; within ``store.deciding`` (whole to other writers)."""
        policy = self.settings.policy
        shared = self.store.shared
        if facts.parsed is not None:
            known = self.store.known_stories(decisions.candidate_keys(facts.analysed))
            fresh = decisions.new_items(facts.analysed, known)
            index = self.clusters if policy.cluster else None
            if index is not None:
                index.evict(facts.now - self.settings.cluster_window)
                if shared:
                    self._catch_up(index, facts.now)
            placement = decisions.place(fresh, index, self.cluster_ids, facts.now)
            edits = decisions.edits(facts.analysed, known)
            question = decisions.history_question(fresh, placement, edits, policy)
            facts = replace(
                facts,
                fresh=tuple(fresh),
                placement=placement,
                edits=tuple(edits),
                history=self.store.alert_history(question),
                mutes=decisions.mute_keys(self.store.mutes(facts.now))
                if fresh or edits
                else (frozenset()),
            )
        decision = decisions.decide(facts, policy)
        if facts.error:
            log.warning("feed '%s' (%s): %s", facts.feed.name, facts.feed.url, facts.error)
        queued = self.store.record_poll(decision)
        if shared:
            self._window_cursor = self.store.last_story_id()
        return decision, queued


def _fetched(fetched: FetchedFeed) -> Fetched:
    """What the decisions need of a response (everything but its body)."""
    return Fetched(
        status=fetched.status,
        elapsed=fetched.elapsed,
        etag=fetched.etag,
        last_modified=fetched.last_modified,
        body_hash=fetched.body_hash,
        permanent_url=fetched.permanent_url,
        retry_after=fetched.retry_after,
        max_age=fetched.max_age,
    )
