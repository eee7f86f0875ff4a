"""The decisions of outbox delivery: what one message carries, when to retry, when to give up.

``watcher.outbox`` sends; this module decides, from the rows due and the
clock passed in, so retry and digest rules are tested with literal values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from watcher.core.models import STDOUT_CHANNEL, Alert, Notice
from watcher.core.records import PendingDelivery


@dataclass(frozen=True)
class RetryPolicy:
    """How the outbox retries a channel that is down."""

    first_delay: timedelta = timedelta(seconds=30)
    max_delay: timedelta = timedelta(hours=1)

    def next_attempt(self, now: datetime, attempts: int) -> datetime:
        delay: timedelta = self.first_delay * (2 ** min(attempts, 16))
        return now + min(delay, self.max_delay)


@dataclass
class DeliveryReport:
    """What one delivery run did, for ``watcher once --json`` and the log."""

    sent: int = 0
    failed: int = 0  # kept for retry
    given_up: int = 0
    folded: int = 0  # over a channel's rate limit: held for a digest
    orphaned: int = 0  # for a channel no longer configured: held until re-routed or dropped
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Batch:
    """Rows due for one channel, split into what goes at once and what goes as one digest."""

    single: tuple[PendingDelivery, ...]
    digests: dict[str, tuple[PendingDelivery, ...]]


def batch(due: Iterable[PendingDelivery]) -> Batch:
    """Alerts waiting for a digest go out together, one message per channel; a notice
    always goes on its own (a digest lists alerts only)."""
    single: list[PendingDelivery] = []
    digests: dict[str, list[PendingDelivery]] = {}
    for pending in due:
        if pending.digest and pending.alert is not None:
            digests.setdefault(pending.channel, []).append(pending)
        else:
            single.append(pending)
    return Batch(tuple(single), {ch: tuple(group) for ch, group in digests.items()})


def orphaned_channels(channels: Iterable[str], configured: Iterable[str]) -> list[str]:
    """Channels rows wait for that the config no longer has (renamed or removed)."""
    known = {STDOUT_CHANNEL, *configured}
    return sorted({channel for channel in channels if channel not in known})


def orphan_reason(channel: str) -> str:
    return (
        f"channel '{channel}' is no longer in the config: re-route with "
        f"'watcher outbox retry --to CHANNEL' or drop with 'watcher outbox drop'"
    )


def gives_up(group: Sequence[PendingDelivery], now: datetime, give_up_after: timedelta) -> bool:
    """A message is given up once its oldest row has waited ``give_up_after``."""
    return now - min(pending.created_at for pending in group) >= give_up_after


def is_note(alert: Alert) -> bool:
    """Updates and edits are sent as a short note, not as a full alert."""
    return alert.kind in ("update", "edit")


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


def digest_title(count: int) -> str:
    return f"watcher digest: {count} alert{'s' if count != 1 else ''}"
