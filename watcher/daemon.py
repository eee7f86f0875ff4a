"""Schedule stage: the long-running face of the pipeline (``watcher run``).

APScheduler runs one interval job per feed (with jitter so feeds sharing an
interval do not fire together) and one job that drains the outbox.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from watcher.config import Config
from watcher.core.models import FeedSpec
from watcher.pipeline import Clock, Pipeline, open_pipeline, utc_now

log = logging.getLogger(__name__)

DELIVERY_INTERVAL = timedelta(seconds=15)


def jitter_for(interval: timedelta) -> int:
    """Up to a tenth of the interval, at most a minute: spreads load, keeps the rhythm."""
    return int(min(interval.total_seconds() / 10, 60))


class Daemon:
    def __init__(self, config: Config, *, clock: Clock = utc_now) -> None:
        self.config = config
        self.clock = clock
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        async with open_pipeline(self.config, clock=self.clock) as pipeline:
            scheduler = AsyncIOScheduler(event_loop=loop, timezone="UTC")
            now = self.clock()
            for index, feed in enumerate(self.config.feeds):
                scheduler.add_job(
                    self._poll,
                    IntervalTrigger(
                        seconds=feed.interval.total_seconds(), jitter=jitter_for(feed.interval)
                    ),
                    args=[pipeline, feed],
                    id=f"feed:{feed.name}",
                    # First polls start at once, a little apart, so a restart is not a burst.
                    next_run_time=now + timedelta(milliseconds=100 * index),
                    max_instances=1,
                    coalesce=True,
                    misfire_grace_time=None,
                )
            scheduler.add_job(
                pipeline.deliver_due,
                IntervalTrigger(seconds=DELIVERY_INTERVAL.total_seconds()),
                id="deliver",
                max_instances=1,
                coalesce=True,
            )
            scheduler.start()
            log.info(
                "watching %d feeds with %d rules (database %s)",
                len(self.config.feeds), len(self.config.rules), self.config.database,
            )  # fmt: skip
            try:
                await self._stop.wait()
            finally:
                scheduler.shutdown(wait=False)
                await pipeline.deliver_due()
        log.info("stopped")

    def _on_signal(self, sig: signal.Signals) -> None:
        log.info("received %s, stopping", sig.name)
        self.stop()

    async def _poll(self, pipeline: Pipeline, feed: FeedSpec) -> None:
        outcome = await pipeline.poll(feed)
        if outcome.alerts:
            await pipeline.deliver_due()
