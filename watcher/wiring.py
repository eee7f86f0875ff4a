"""Wiring: a config made into a running pipeline, the same way for both faces.

``watcher once`` and ``watcher run`` call :func:`open_pipeline`; a reload calls
:func:`rewire`.  This is the one place that opens the store, starts the
worker pool, builds the deliverer and turns config into stage settings.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TextIO

import httpx

from watcher.clock import Clock, utc_now
from watcher.config import Config
from watcher.core.decide import feed_changes
from watcher.core.models import STDOUT_CHANNEL
from watcher.core.records import FeedMoved, FeedRenamed, HealthCounts
from watcher.core.render import Renderer
from watcher.deliver import Deliverer
from watcher.fetch import Fetcher
from watcher.lock import WriterLock
from watcher.log import redact
from watcher.metrics import Metrics
from watcher.outbox import Outbox
from watcher.pipeline import Pipeline, PollSettings
from watcher.settings import feed_fetch_settings, fetch_settings, poll_policy, workers_for, zone
from watcher.store import Store, open_store
from watcher.workers import Analyser

log = logging.getLogger(__name__)


def build_deliverer(config: Config, stdout: TextIO | None = None) -> Deliverer:
    """The channels of ``config``; their secrets are masked in the log from now on,
    also those a reload brings in."""
    deliverer = Deliverer(config.channels, config.env, Renderer(config.templates), stdout=stdout)
    redact(deliverer.secrets)
    for channel, problem in deliverer.problems().items():
        log.error("channel '%s': %s", channel, problem)
    return deliverer


def poll_settings(config: Config) -> PollSettings:
    return PollSettings(
        feeds=config.feeds,
        policy=poll_policy(config),
        fetch=fetch_settings(config),
        feed_fetch=feed_fetch_settings(config),
        cluster_window=config.cluster_window,
        cluster_threshold=config.cluster_threshold,
        concurrency=config.fetch.concurrency,
    )


def build_outbox(
    config: Config,
    store: Store,
    deliverer: Deliverer,
    clock: Clock,
    metrics: Metrics | None,
) -> Outbox:
    return Outbox(
        store,
        deliverer,
        config.channels,
        zone=zone(config),
        give_up_after=config.give_up_after,
        clock=clock,
        metrics=metrics,
    )


def follow_feed_edits(config: Config, store: Store) -> None:
    """Renamed feeds keep their history; a feed pointed at a new URL starts afresh there."""
    changes = feed_changes(config.feeds, store.stored_feeds())
    for change in changes:
        if isinstance(change, FeedRenamed):
            log.info("feed '%s' was renamed '%s': its history follows it", change.old, change.new)
        elif isinstance(change, FeedMoved):
            log.info("feed '%s' moved from %s to %s: polled there from now on",
                     change.name, change.old_url, change.new_url)  # fmt: skip
    if changes:
        store.apply_feed_changes(changes)


def _declare(metrics: Metrics | None, config: Config) -> None:
    if metrics is not None:
        metrics.declare(
            feeds=[f.name for f in config.feeds],
            rules=[r.name for r in config.rules],
            channels=[STDOUT_CHANNEL, *config.channels],
        )


def rewire(
    pipeline: Pipeline,
    config: Config,
    *,
    stdout: TextIO | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Apply a new config to a running pipeline (a reload)."""
    follow_feed_edits(config, pipeline.store)
    deliverer = build_deliverer(config, stdout)
    analyser = pipeline.analyser.with_rules(config.rules, workers_for(config))
    outbox = build_outbox(config, pipeline.store, deliverer, pipeline.clock, metrics)
    pipeline.reconfigure(poll_settings(config), analyser, outbox)
    outbox.hold_orphans()
    _declare(metrics, config)


@asynccontextmanager
async def open_pipeline(
    config: Config,
    *,
    clock: Clock = utc_now,
    stdout: TextIO | None = None,
    metrics: Metrics | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    role: str = "once",
) -> AsyncIterator[Pipeline]:
    """Everything a pass needs, opened in order and closed in reverse, even on error.

    The database's writer lock comes first: a second watcher polling the same
    database is refused (``DatabaseBusy``) before it fetches anything.
    ``transport`` replaces the network (a test about the poll, not about HTTP).
    """
    # One writer per SQLite file; PostgreSQL instances share their database by design.
    lock = WriterLock(config.database, role) if isinstance(config.database, Path) else None
    if lock is not None:
        lock.acquire()
    try:
        store = store_for(config)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    analyser: Analyser | None = None
    try:
        follow_feed_edits(config, store)
        analyser = Analyser(config.rules, workers_for(config))
        outbox = build_outbox(config, store, build_deliverer(config, stdout), clock, metrics)
        outbox.hold_orphans()
        _declare(metrics, config)
        async with Fetcher(fetch_settings(config), transport=transport) as fetcher:
            pipeline = Pipeline(
                poll_settings(config), store, fetcher, analyser, outbox,
                clock=clock, metrics=metrics,
            )  # fmt: skip
            try:
                yield pipeline
            finally:
                analyser = pipeline.analyser  # a reload may have replaced it
    finally:
        if analyser is not None:
            analyser.close()
        store.close()
        if lock is not None:
            lock.release()


def store_for(config: Config) -> Store:
    """The store the config names, opened as this instance."""
    return open_store(config.database, instance=config.instance, lease=config.lease)


def prune(pipeline: Pipeline, config: Config) -> None:
    """Apply ``retention``: old stories go, identities still listed by a feed stay."""
    stories, keys = pipeline.store.prune(pipeline.clock() - config.retention)
    if stories or keys:
        log.info("pruned %d old stories and %d identities no feed lists any more", stories, keys)


def health(pipeline: Pipeline, config: Config, metrics: Metrics | None = None) -> HealthCounts:
    """Counts for status lines, metrics and /health: configured feeds only."""
    counts = pipeline.store.health_counts(feed.name for feed in config.feeds)
    if metrics is not None:
        metrics.set_outbox(counts.pending, counts.failed)
        metrics.set_failing(counts.failing)
    return counts
