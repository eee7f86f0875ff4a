"""Schedule stage: the long-running face of the pipeline (``watcher run``).

APScheduler runs one interval job per feed (with jitter, so feeds sharing an
interval do not fire together), one job that drains the outbox, and the
housekeeping jobs (status, watchdog, retention).  On a database several
instances share (PostgreSQL), one job instead claims due feeds from the
database twice a second (``store.claim_due_feeds``) and polls what it leased: the
instances split the feeds between them, and a dead instance's leases run out.
The config file is watched (and SIGHUP also reloads it): a config that
validates replaces the running one between two steps; one that does not is
refused with the errors `watcher validate` prints, and the daemon goes on with
the last good one.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.clock import Clock, utc_now
from watcher.config import Config, load_config
from watcher.core.errors import ConfigError, Problem
from watcher.core.models import FeedSpec
from watcher.log import log_warnings, name_instance
from watcher.metrics import Metrics
from watcher.pipeline import Pipeline
from watcher.sdnotify import Notifier
from watcher.settings import feed_named
from watcher.wiring import health, open_pipeline, prune, rewire

if TYPE_CHECKING:
    from watcher.http import Listener

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = timedelta(seconds=15)
# A shared database: how often an instance asks it for due feeds.  Every instance asks
# as often, so that each gets its share (one that asked after each of its polls would
# take ever more); a host's slot (per-host limits count leases) waits at most this.
CLAIM_INTERVAL = timedelta(seconds=0.5)
STATUS_INTERVAL = timedelta(seconds=30)
RETENTION_INTERVAL = timedelta(hours=6)
# How long a stop waits for fetches in flight before abandoning them.
STOP_GRACE = 5.0


def jitter_for(interval: timedelta) -> int:
    """Up to a tenth of the interval, at most a minute: spreads load, keeps the rhythm."""
    return int(min(interval.total_seconds() / 10, 60))


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        clock: Clock = utc_now,
        notifier: Notifier | None = None,
        watch: bool = True,
    ) -> None:
        self.config = config
        self.clock = clock
        self.notifier = notifier or Notifier()
        self.watch = watch
        self.metrics = Metrics()
        # Imported here: aiohttp costs every other command a fifth of a second to load.
        from watcher.http import Listener

        self.listener: Listener = Listener(self.metrics)
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._inflight: set[asyncio.Task[Any]] = set()
        self._config_digest = _digest(config.path)
        self.restarts: dict[str, int] = {}  # long-lived tasks that died and were restarted
        self._leased: dict[str, asyncio.Task[Any]] = {}  # a shared database: polls running

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)
        if not isinstance(self.config.database, Path):  # shared: every line names us
            name_instance(self.config.instance)
        log_warnings(self.config)
        self.metrics.instance.labels(self.config.instance).set(1)
        async with open_pipeline(
            self.config, clock=self.clock, metrics=self.metrics, role="run"
        ) as pipeline:
            self.metrics.health = lambda: self._health(pipeline)
            if self.config.http:
                from watcher.http import AlertFeeds

                # Rules and token are looked up at each request, so a reload applies to them.
                self.listener.feeds = AlertFeeds(
                    store=pipeline.store,
                    rules=lambda: {rule.name for rule in self.config.rules},
                    token=lambda: self.config.http_token,
                    instance=_database_id(self.config),
                )
                try:
                    await self.listener.serve(*self.config.http)
                except OSError as exc:  # taken, or not an address of this host
                    host, port = self.config.http
                    reason = os.strerror(exc.errno) if exc.errno else str(exc)
                    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
                    message = f"http: cannot listen on {where}: {reason.lower()}"
                    raise ConfigError([Problem(str(self.config.path), None, message)]) from None
            scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
            if pipeline.store.shared:
                pipeline.store.register_feeds({f.name: f.url for f in self.config.feeds})
                self._every(scheduler, "claim", CLAIM_INTERVAL, self._claim, pipeline)
            else:
                self._schedule_feeds(scheduler, pipeline, self.config.feeds, first=True)
            self._every(scheduler, "deliver", DELIVERY_INTERVAL, pipeline.deliver_due)
            self._every(scheduler, "status", STATUS_INTERVAL, self._status, pipeline)
            self._every(scheduler, "retention", RETENTION_INTERVAL, self._prune, pipeline)
            watchdog = self.notifier.watchdog_interval()
            if watchdog:
                self._every(scheduler, "watchdog", timedelta(seconds=watchdog), self._watchdog)
            scheduler.start()
            watcher = asyncio.create_task(self._supervised("config watcher", self._watch_config))
            reloader = asyncio.create_task(
                self._supervised("reloader", lambda: self._reloads(scheduler, pipeline))
            )
            log.info(
                "watching %d feeds with %d rules (database %s, instance %s)",
                len(self.config.feeds),
                len(self.config.rules),
                self.config.database_shown,
                self.config.instance,
            )
            await self._prune(pipeline)
            self.notifier.ready()
            await self._status(pipeline)
            try:
                await self._stop.wait()
            finally:
                self.notifier.stopping()
                # Paused, not shut down, while jobs in flight finish: shutting the
                # scheduler down would cancel them at once.
                scheduler.pause()
                watcher.cancel()
                reloader.cancel()
                await self._finish_inflight()
                if pipeline.store.shared:  # polls abandoned: others may take them at once
                    pipeline.store.release_feeds([feed.name for feed in self.config.feeds])
                scheduler.shutdown(wait=False)
                await self._final_delivery(pipeline)
                await self.listener.close()
        log.info("stopped")

    # -- jobs ------------------------------------------------------------------------------

    def _every(
        self,
        scheduler: AsyncIOScheduler,
        name: str,
        every: timedelta,
        job: Callable[..., Awaitable[Any]],
        *args: object,
    ) -> None:
        scheduler.add_job(
            self._tracked,
            IntervalTrigger(seconds=every.total_seconds()),
            args=[job, *args],
            id=name,
            max_instances=1,
            coalesce=True,
        )

    def _schedule_feeds(
        self,
        scheduler: AsyncIOScheduler,
        pipeline: Pipeline,
        feeds: tuple[FeedSpec, ...] | list[FeedSpec],
        *,
        first: bool = False,
    ) -> None:
        now = self.clock()
        for index, feed in enumerate(feeds):
            scheduler.add_job(
                self._tracked,
                IntervalTrigger(
                    seconds=feed.interval.total_seconds(), jitter=jitter_for(feed.interval)
                ),
                args=[self._poll, pipeline, feed.name],
                id=f"feed:{feed.name}",
                # First polls start at once, a little apart, so a start is not a burst.
                next_run_time=now + timedelta(milliseconds=100 * index if first else 0),
                max_instances=1,
                coalesce=True,
                misfire_grace_time=None,
                replace_existing=True,
            )

    async def _tracked(self, job: Callable[..., Awaitable[Any]], *args: object) -> None:
        """Run a job so that a stop can wait for it, and so that no error kills the daemon."""
        if self._stop.is_set():
            return
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            await job(*args)
        except asyncio.CancelledError:
            if not self._stop.is_set():
                raise
            # Abandoned by a stop after its grace period: it runs again at the next start.
        except Exception:
            log.exception("job %s failed", getattr(job, "__name__", job))
        finally:
            self._inflight.discard(task)

    async def _poll(self, pipeline: Pipeline, name: str) -> None:
        # Looked up by name at each run, so a reload's new settings apply at once.
        feed = feed_named(self.config, name)
        if feed is None:
            return
        outcome = await pipeline.poll(feed)
        if outcome.alerts:
            await pipeline.deliver_due()

    async def _claim(self, pipeline: Pipeline) -> None:
        """Lease the due feeds this instance has room for, and poll each (shared database)."""
        free = pipeline.settings.concurrency - len(self._leased)
        hosts = {
            feed.name: urlsplit(feed.url).hostname or feed.url
            for feed in self.config.feeds
            if feed.name not in self._leased
        }
        names = pipeline.store.claim_due_feeds(
            hosts, self.clock(), limit=free, per_host=self.config.fetch.per_host
        )
        for name in names:
            task = asyncio.create_task(self._tracked(self._poll, pipeline, name))
            self._leased[name] = task
            task.add_done_callback(functools.partial(self._unleased, name))

    def _unleased(self, name: str, _task: asyncio.Task[Any]) -> None:
        self._leased.pop(name, None)

    async def _status(self, pipeline: Pipeline) -> None:
        counts = health(pipeline, self.config, self.metrics)
        ok = counts.feeds - counts.failing
        text = f"{ok} feeds ok, {counts.failing} failing; {counts.pending} alerts pending"
        if counts.failed:
            text += f", {counts.failed} given up"
        if counts.orphaned:
            text += f", {counts.orphaned} held for a removed channel"
        self.notifier.status(text)

    async def _watchdog(self) -> None:
        self.notifier.watchdog()

    async def _prune(self, pipeline: Pipeline) -> None:
        prune(pipeline, self.config)

    def _health(self, pipeline: Pipeline) -> dict[str, object]:
        counts = health(pipeline, self.config, self.metrics)
        degraded = counts.feeds > 0 and counts.failing == counts.feeds
        return {
            "status": "degraded" if degraded else "ok",
            **asdict(counts),
            "restarted": dict(self.restarts),
        }

    # -- reloads ---------------------------------------------------------------------------

    async def _watch_config(self) -> None:
        """Reload when the config file changes (editors often replace it: watch the folder)."""
        if not self.watch:
            return
        from watchfiles import awatch

        target = self.config.path.resolve()
        try:
            async for _changes in awatch(
                target.parent,
                watch_filter=lambda _change, path: Path(path).resolve() == target,
                debounce=300,
                step=50,
                recursive=False,
            ):
                self._reload.set()
        except (OSError, RuntimeError) as exc:  # e.g. no inotify: SIGHUP still reloads
            log.warning("cannot watch %s for changes (%s); reload with SIGHUP", target, exc)

    async def _supervised(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        """Run a long-lived task; if it dies (a bug), log why, count it and start it again."""
        while not self._stop.is_set():
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                self.restarts[name] = self.restarts.get(name, 0) + 1
                log.exception("task '%s' died (a bug); restarting it", name)
                await asyncio.sleep(1.0)

    async def _reloads(self, scheduler: AsyncIOScheduler, pipeline: Pipeline) -> None:
        while True:
            await self._reload.wait()
            self._reload.clear()
            self.reload(scheduler, pipeline)

    def reload(self, scheduler: AsyncIOScheduler, pipeline: Pipeline) -> bool:
        """Apply the config file's current content if it validates; keep the old one if not."""
        digest = _digest(self.config.path)
        if digest == self._config_digest:
            return False
        self.notifier.reloading()
        try:
            try:
                new = load_config(self.config.path)
            except ConfigError as exc:
                for problem in exc.problems:
                    log.error("config reload refused: %s", problem)
                log.error("still running on the last good config")
                return False
            except Exception as exc:  # a bug in reading it: refused all the same
                log.exception("config reload refused: %s: %s", self.config.path, exc)
                log.error("still running on the last good config")
                return False
            finally:
                self._config_digest = digest
            if new.database != self.config.database:
                log.warning("the database moved to %s: that needs a restart", new.database_shown)
                new = _with_database(new, self.config.database)
            log_warnings(new)
            old = {feed.name: feed for feed in self.config.feeds}
            fresh = {feed.name: feed for feed in new.feeds}
            rewire(pipeline, new, metrics=self.metrics)
            self.config = new
            if pipeline.store.shared:  # the claim job reads the feeds from the config
                pipeline.store.register_feeds({f.name: f.url for f in new.feeds})
            else:
                for name in old.keys() - fresh.keys():
                    scheduler.remove_job(f"feed:{name}")
                changed = [
                    feed
                    for name, feed in fresh.items()
                    if name not in old or old[name].interval != feed.interval
                ]
                self._schedule_feeds(scheduler, pipeline, changed)
            added = len(fresh.keys() - old.keys())
            log.info(
                "config reloaded: %d feeds (%d added, %d removed), %d rules, %d channels",
                len(fresh),
                added,
                len(old.keys() - fresh.keys()),
                len(new.rules),
                len(new.channels),
            )
            return True
        finally:
            self.notifier.ready()

    # -- stopping --------------------------------------------------------------------------

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s, stopping", sig.name)
        self.stop()

    async def _finish_inflight(self) -> None:
        """Let polls and deliveries in flight finish briefly, then abandon them safely.

        A poll writes to the database without an await in between, so cancelling
        one can never leave half a poll recorded.
        """
        running = [task for task in self._inflight if task is not asyncio.current_task()]
        if not running:
            return
        _done, pending = await asyncio.wait(running, timeout=STOP_GRACE)
        for task in pending:
            task.cancel()
        if pending:
            log.info(
                "abandoned %d fetches in flight; they run again at the next start", len(pending)
            )
            await asyncio.wait(pending, timeout=1.0)

    async def _final_delivery(self, pipeline: Pipeline) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pipeline.deliver_due(), timeout=STOP_GRACE)


def _digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _with_database(config: Config, database: Path | str) -> Config:
    return replace(config, database=database)


def _database_id(config: Config) -> str:
    """What names this database in the alert feeds' ids: the same for every instance."""
    if isinstance(config.database, Path):
        return str(config.database.resolve())
    return config.database_shown
