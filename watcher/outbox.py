"""Deliver stage: the outbox's due rows, sent through the deliverer, then settled.

Rows come from the store, are grouped by ``watcher.core.outbox`` (digests, notes),
go out through ``Deliverer`` (the only caller of Apprise), and are marked sent or
scheduled for retry.  Rate limits fold the excess into a digest; rows for a
channel the config no longer has are held as orphaned, not retried in vain.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo

from watcher.clock import Clock
from watcher.core.models import ChannelSpec
from watcher.core.outbox import (
    DeliveryReport,
    RetryPolicy,
    as_digest_entry,
    batch,
    digest_title,
    gives_up,
    is_note,
    orphan_reason,
    orphaned_channels,
    update_note,
)
from watcher.core.records import PendingDelivery
from watcher.core.schedule import next_digest
from watcher.deliver import Deliverer
from watcher.metrics import Metrics
from watcher.store import OutboxStore

log = logging.getLogger(__name__)


def hold_orphans(store: OutboxStore, channels: Iterable[str], now: datetime) -> int:
    """Rows waiting for a channel the config no longer has are held (logged once, when
    they are held); rows of a channel configured again wait for it as before."""
    waiting = store.waiting_channels()
    orphans = orphaned_channels(waiting, channels)
    store.adopt(waiting - set(orphans), now)
    held = 0
    for channel in orphans:
        count = store.orphan(channel, orphan_reason(channel))
        if count:
            log.error("%d deliveries held: %s", count, orphan_reason(channel))
        held += count
    return held


class Outbox:
    """Sends what the outbox holds that is due; one delivery run at a time."""

    def __init__(
        self,
        store: OutboxStore,
        deliverer: Deliverer,
        channels: Mapping[str, ChannelSpec],
        *,
        zone: tzinfo,
        give_up_after: timedelta,
        clock: Clock,
        retry: RetryPolicy | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.store = store
        self.deliverer = deliverer
        self.channels = channels
        self.zone = zone
        self.give_up_after = give_up_after
        self.clock = clock
        self.retry = retry or RetryPolicy()
        self.metrics = metrics
        # Two runs at once could both send the same row.
        self._running = asyncio.Lock()

    def hold_orphans(self) -> int:
        return hold_orphans(self.store, self.channels, self.clock())

    async def deliver_due(self, *, retry_now: bool = False) -> DeliveryReport:
        """Send what is due; ``retry_now`` skips retry backoff."""
        async with self._running:
            report = DeliveryReport(orphaned=self.hold_orphans())
            due = batch(self.store.due_deliveries(self.clock(), retry_now=retry_now))
            for pending in due.single:
                # Over a rate limit, alerts fold into a digest; a notice about watcher
                # itself is rare and would be lost in one.
                if pending.alert is not None and self._over_rate_limit(pending.channel):
                    self.store.fold_into_digest([pending.id], self._fold_time(pending.channel))
                    report.folded += 1
                    continue
                self._settle([pending], await self._send(pending), report)
            for channel, group in due.digests.items():
                alerts = [as_digest_entry(p.alert) for p in group if p.alert is not None]
                error = await self.deliverer.send_digest(channel, alerts, digest_title(len(alerts)))
                self._settle(group, error, report)
            return report

    async def _send(self, pending: PendingDelivery) -> str | None:
        if pending.notice is not None:
            return await self.deliverer.send_notice(pending.channel, pending.notice)
        assert pending.alert is not None
        if is_note(pending.alert):
            return await self.deliverer.send_notice(pending.channel, update_note(pending.alert))
        return await self.deliverer.send(pending.channel, pending.alert)

    def _over_rate_limit(self, channel: str) -> bool:
        spec = self.channels.get(channel)
        if spec is None or spec.rate_limit is None:
            return False
        since = self.clock() - timedelta(minutes=1)
        return self.store.messages_sent(channel, since) >= spec.rate_limit

    def _fold_time(self, channel: str) -> datetime:
        """Alerts over a rate limit wait for the channel's digest, else for the next minute."""
        now = self.clock()
        spec = self.channels.get(channel)
        if spec is not None and spec.digest:
            return next_digest(spec.digest, now, self.zone)
        return now + timedelta(minutes=1)

    def _settle(
        self, group: Sequence[PendingDelivery], error: str | None, report: DeliveryReport
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
        give_up = gives_up(group, now, self.give_up_after)
        attempts = max(pending.attempts for pending in group)
        self.store.mark_failed(ids, error, self.retry.next_attempt(now, attempts), give_up=give_up)
        report.errors.append(f"channel '{channel}': {error}")
        if give_up:
            report.given_up += len(ids)
            log.error("gave up delivering %d alert(s) to '%s': %s", len(ids), channel, error)
        else:
            report.failed += len(ids)
            log.warning("delivery to '%s' failed, will retry: %s", channel, error)
