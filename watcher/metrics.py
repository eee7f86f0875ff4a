"""Prometheus metrics and the health report that ``/health`` shows.

The metrics live in a private registry, not prometheus_client's global one,
so a reload (or a test) can build a fresh :class:`Metrics` without colliding
with the old names.  ``watcher.http`` serves them (``http: 127.0.0.1:9108``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Literal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

FetchOutcome = Literal["ok", "not_modified", "error"]
FETCH_OUTCOMES: tuple[FetchOutcome, ...] = ("ok", "not_modified", "error")

# Fetches are network round trips: tens of milliseconds to the fetch timeout.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HealthReport = Mapping[str, Any]
HealthHook = Callable[[], HealthReport | Awaitable[HealthReport]]

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` from config.yaml; a bare ``:port`` means loopback, never every interface.

    Metrics and health have no authentication, so exposing them must be spelled
    out (``0.0.0.0:9108`` or ``[::]:9108``).
    """
    example = "e.g. 127.0.0.1:9108, [::1]:9108 or :9108"
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"{value!r} is not [IPv6]:port ({example})")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"{host!r} in {value!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep and text.isdigit():
            raise ValueError(f"write {value!r} as :{text} (loopback) or 0.0.0.0:{text}")
        if not sep:
            raise ValueError(f"{value!r} has no port ({example})")
        if ":" in host:
            raise ValueError("put an IPv6 address in brackets, as in [::1]:9108")
        host = host or "127.0.0.1"
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"{host!r} in {value!r} is not a host name or address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} in {value!r} is not in 1-65535 ({example})")
    return host, int(port_text)


class Metrics:
    """What the daemon counts, and how it reports its health."""

    def __init__(self, health: HealthHook | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.fetches = Counter(
            "watcher_fetches", "Feed fetches by outcome.", ["feed", "outcome"], registry=r
        )
        self.stories = Counter("watcher_stories", "New stories seen.", ["feed"], registry=r)
        self.matches = Counter("watcher_matches", "Stories a rule matched.", ["rule"], registry=r)
        self.deliveries = Counter(
            "watcher_deliveries",
            "Delivery attempts by outcome.",
            ["channel", "outcome"],
            registry=r,
        )
        self.deliveries_pending = Gauge(
            "watcher_deliveries_pending", "Alerts in the outbox waiting to be sent.", registry=r
        )
        self.deliveries_failed = Gauge(
            "watcher_deliveries_failed",
            "Alerts in the outbox whose last attempt failed.",
            registry=r,
        )
        self.feeds_failing = Gauge(
            "watcher_feeds_failing", "Feeds whose last fetch failed.", registry=r
        )
        self.fetch_duration = Histogram(
            "watcher_fetch_duration_seconds",
            "Time to fetch a feed, whatever the outcome.",
            ["feed"],
            buckets=FETCH_BUCKETS,
            registry=r,
        )
        # Which instance this is (several may share one database): a constant 1.
        self.instance = Gauge(
            "watcher_instance", "This instance, by name.", ["instance"], registry=r
        )
        #: Called for ``GET /health``; may be async.  ``{"status": "ok"}`` answers 200,
        #: any other status 503.  The default reports ok with the outbox and feed gauges.
        self.health: HealthHook = health or self._default_health
        self._outbox = (0, 0)
        self._failing = 0

    # -- recording -------------------------------------------------------------------------

    def declare(
        self,
        feeds: Iterable[str] = (),
        rules: Iterable[str] = (),
        channels: Iterable[str] = (),
    ) -> None:
        """Create every series at zero, so rate() and absent() work before the first event."""
        for feed in feeds:
            for outcome in FETCH_OUTCOMES:
                self.fetches.labels(feed=feed, outcome=outcome)
            self.stories.labels(feed=feed)
            self.fetch_duration.labels(feed=feed)
        for rule in rules:
            self.matches.labels(rule=rule)
        for channel in channels:
            for result in ("sent", "failed"):
                self.deliveries.labels(channel=channel, outcome=result)

    def fetched(self, feed: str, outcome: FetchOutcome, seconds: float | None = None) -> None:
        if outcome not in FETCH_OUTCOMES:
            raise ValueError(f"fetch outcome {outcome!r} is not one of {FETCH_OUTCOMES}")
        self.fetches.labels(feed=feed, outcome=outcome).inc()
        if seconds is not None:
            self.fetch_duration.labels(feed=feed).observe(seconds)

    def new_stories(self, feed: str, n: int) -> None:
        if n > 0:
            self.stories.labels(feed=feed).inc(n)

    def matched(self, rule: str) -> None:
        self.matches.labels(rule=rule).inc()

    def delivered(self, channel: str, ok: bool) -> None:
        self.deliveries.labels(channel=channel, outcome="sent" if ok else "failed").inc()

    def set_outbox(self, pending: int, failed: int) -> None:
        self._outbox = (pending, failed)
        self.deliveries_pending.set(pending)
        self.deliveries_failed.set(failed)

    def set_failing(self, n: int) -> None:
        self._failing = n
        self.feeds_failing.set(n)

    def exposition(self) -> bytes:
        """The Prometheus text format (0.0.4, which every Prometheus version reads)."""
        return generate_latest(self.registry)

    def _default_health(self) -> HealthReport:
        return {
            "status": "ok",
            "feeds_failing": self._failing,
            "deliveries_pending": self._outbox[0],
            "deliveries_failed": self._outbox[1],
        }
