"""Prometheus metrics and a health endpoint (``metrics: 127.0.0.1:9108`` in config.yaml).

The metrics live in a private registry, not prometheus_client's global one,
so a reload (or a test) can build a fresh :class:`Metrics` without colliding
with the old names.  The HTTP server is a few lines on ``asyncio.start_server``
inside the daemon's own event loop: no thread to stop, and ``close()`` ends
it at once, open scrapes included.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

FetchOutcome = Literal["ok", "not_modified", "error"]
FETCH_OUTCOMES: tuple[FetchOutcome, ...] = ("ok", "not_modified", "error")

# Fetches are network round trips: tens of milliseconds to the fetch timeout.
FETCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HealthReport = Mapping[str, Any]
HealthHook = Callable[[], HealthReport | Awaitable[HealthReport]]

# A scrape is one short request; anything slower or bigger is not Prometheus.
REQUEST_TIMEOUT = 5.0
MAX_REQUEST_HEAD = 8192

_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` from config.yaml; a bare ``:port`` means loopback, never every interface.

    The endpoint has no authentication, so exposing it must be spelled out
    (``0.0.0.0:9108`` or ``[::]:9108``).
    """
    example = "e.g. 127.0.0.1:9108, [::1]:9108 or :9108"
    text = value.strip()
    if text.startswith("["):
        host, sep, port_text = text[1:].partition("]:")
        if not sep:
            raise ValueError(f"metrics: {value!r} is not [IPv6]:port ({example})")
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(f"metrics: {host!r} in {value!r} is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep and text.isdigit():
            raise ValueError(f"metrics: write {value!r} as :{text} (loopback) or 0.0.0.0:{text}")
        if not sep:
            raise ValueError(f"metrics: {value!r} has no port ({example})")
        if ":" in host:
            raise ValueError("metrics: put an IPv6 address in brackets, as in [::1]:9108")
        host = host or "127.0.0.1"
        if not _HOSTNAME.fullmatch(host):
            raise ValueError(f"metrics: {host!r} in {value!r} is not a host name or address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"metrics: port {port_text!r} in {value!r} is not in 1-65535 ({example})")
    return host, int(port_text)


class Metrics:
    """What the daemon counts, and the HTTP endpoint that shows it."""

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
        #: Called for ``GET /health``; may be async.  ``{"status": "ok"}`` answers 200,
        #: any other status 503.  The default reports ok with the outbox and feed gauges.
        self.health: HealthHook = health or self._default_health
        self._outbox = (0, 0)
        self._failing = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[Any]] = set()

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

    # -- serving ---------------------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the server listens (the real port when asked for port 0)."""
        if self._server is None or not self._server.sockets:
            return None
        name = self._server.sockets[0].getsockname()
        return str(name[0]), int(name[1])

    async def serve(self, host: str, port: int) -> None:
        """Start answering ``/metrics`` and ``/health``; returns once listening.

        Raises OSError when the address cannot be bound (in use, not local),
        so a config mistake surfaces at start-up, not at the first scrape.
        """
        if self._server is not None:
            raise RuntimeError("metrics server already running")
        self._server = await asyncio.start_server(self._accept, host, port, limit=MAX_REQUEST_HEAD)
        log.info("metrics on http://%s/metrics", _netloc(*(self.address or (host, port))))

    async def close(self) -> None:
        """Stop listening and drop open connections; safe to call twice or never started."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # the client went away, or close() is ending the connection
        except Exception:
            log.exception("metrics: request failed")
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), REQUEST_TIMEOUT)
        except TimeoutError:
            return
        except asyncio.LimitOverrunError:
            too_large = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
            await _respond(writer, too_large, b"request head too large\n", "text/plain")
            return
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        parts = request_line.split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _respond(writer, HTTPStatus.BAD_REQUEST, b"bad request\n", "text/plain")
            return
        method, target, _ = parts
        path = target.split("?", 1)[0]
        if path not in ("/metrics", "/health"):
            await _respond(writer, HTTPStatus.NOT_FOUND, b"try /metrics or /health\n", "text/plain")
            return
        if method not in ("GET", "HEAD"):
            await _respond(
                writer,
                HTTPStatus.METHOD_NOT_ALLOWED,
                b"GET only\n",
                "text/plain",
                extra={"Allow": "GET, HEAD"},
            )
            return
        if path == "/metrics":
            status, body, ctype = HTTPStatus.OK, self.exposition(), CONTENT_TYPE_PLAIN_0_0_4
        else:
            status, report = await self._health_report()
            body, ctype = json.dumps(report, default=str).encode() + b"\n", "application/json"
        await _respond(writer, status, body, ctype, head_only=method == "HEAD")

    async def _health_report(self) -> tuple[HTTPStatus, dict[str, Any]]:
        try:
            result = self.health()
            if inspect.isawaitable(result):
                result = await result
            report = dict(result)
        except Exception as exc:
            log.warning("metrics: health check failed: %s", exc)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "degraded", "error": str(exc)}
        report.setdefault("status", "ok")
        ok = report["status"] == "ok"
        return (HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE), report


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _respond(
    writer: asyncio.StreamWriter,
    status: HTTPStatus,
    body: bytes,
    content_type: str,
    *,
    head_only: bool = False,
    extra: Mapping[str, str] | None = None,
) -> None:
    headers = {
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Cache-Control": "no-store",
        "Connection": "close",
        **(extra or {}),
    }
    lines = [f"HTTP/1.1 {status.value} {status.phrase}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if not head_only:
        writer.write(body)
    await writer.drain()
