"""The daemon's HTTP listener (``http: 127.0.0.1:9108`` in config.yaml).

It serves ``/metrics`` (Prometheus), ``/health``, and the alerts as Atom feeds:
``/alerts.atom`` (every rule) and ``/alerts/RULE.atom`` (one rule).  The server
is aiohttp's, run in the daemon's own event loop (no thread to stop; the
store is read on the loop, between two polls' transactions).  ``close()``
ends it at once, open connections included.

With ``http_token`` set, the feeds want it as ``?token=`` or as an
``Authorization: Bearer`` header; metrics and health stay open, like the
listener itself, which binds loopback unless told otherwise.  The token is
never logged: aiohttp's access log (which would show the query) is off, and
its error lines name the client and the kind of error only.
"""

from __future__ import annotations

import hmac
import inspect
import json
import logging
import re
import sqlite3
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4

from watcher.core.atom import MEDIA_TYPE, FeedEntry, feed_id, not_modified, render_feed
from watcher.core.errors import StoreError
from watcher.metrics import Metrics
from watcher.store.interface import ReportStore, Row

log = logging.getLogger(__name__)

# A scrape or a feed reader's poll is one short request; anything bigger is not one.
REQUEST_TIMEOUT = 5.0  # a connection that completes no request this long is closed
MAX_REQUEST_LINE = 8190  # the request line and each header field, in bytes
MAX_HEADERS = 64
CLOSE_GRACE = 1.0  # how long close() lets a response being written finish
FEED_SIZE = 100  # entries in a feed: the latest alerts

_BEARER = re.compile(r"\s*bearer\s+(\S+)\s*", re.IGNORECASE)
_NOT_FOUND = b"try /metrics, /health, /alerts.atom or /alerts/RULE.atom\n"


@dataclass
class AlertFeeds:
    """Where the feeds come from: the store, the rules configured now, the token now
    (callables, so that a reload applies to the next request)."""

    store: ReportStore
    rules: Callable[[], Collection[str]]
    token: Callable[[], str | None] = lambda: None
    instance: str = "watcher"  # tells this watcher's feed ids from another's
    started: datetime = field(default_factory=lambda: datetime.now(UTC))


class Listener:
    """``/metrics`` and ``/health`` from ``metrics``; the alert feeds from ``feeds``
    (without them, those paths are 404)."""

    def __init__(self, metrics: Metrics, feeds: AlertFeeds | None = None) -> None:
        self.metrics = metrics
        self.feeds = feeds
        self._runner: web.AppRunner | None = None

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the server listens (the real port when asked for port 0)."""
        if self._runner is None or not self._runner.addresses:
            return None
        name = self._runner.addresses[0]
        return str(name[0]), int(name[1])

    async def serve(self, host: str, port: int) -> None:
        """Start answering; returns once listening.

        Raises OSError when the address cannot be bound (in use, not local),
        so a config mistake surfaces at start-up, not at the first request.
        """
        if self._runner is not None:
            raise RuntimeError("http listener already running")
        app = web.Application(middlewares=[_plain_errors], client_max_size=1024)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/health", self._health)
        app.router.add_get("/alerts.atom", self._feed)
        app.router.add_get("/alerts/{rule}.atom", self._feed)
        runner = web.AppRunner(
            app,
            handle_signals=False,
            access_log=None,  # it would log each query string, a token among them
            logger=_server_log,
            keepalive_timeout=REQUEST_TIMEOUT,
            max_line_size=MAX_REQUEST_LINE,
            max_field_size=MAX_REQUEST_LINE,
            max_headers=MAX_HEADERS,
            shutdown_timeout=CLOSE_GRACE,
        )
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port, reuse_address=False).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        where = _netloc(*(self.address or (host, port)))
        log.info("http on http://%s: /metrics, /health, /alerts.atom", where)

    async def close(self) -> None:
        """Stop listening and drop open connections; safe to call twice or never started."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    # -- handlers --------------------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(),
            headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4, "Cache-Control": "no-store"},
        )

    async def _health(self, request: web.Request) -> web.Response:
        status, report = await self._health_report()
        return web.Response(
            status=status,
            body=json.dumps(report, default=str).encode() + b"\n",
            content_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    async def _health_report(self) -> tuple[HTTPStatus, dict[str, Any]]:
        try:
            result = self.metrics.health()
            if inspect.isawaitable(result):
                result = await result
            report = dict(result)
        except Exception as exc:
            log.warning("http: health check failed: %s", exc)
            return HTTPStatus.SERVICE_UNAVAILABLE, {"status": "degraded", "error": str(exc)}
        report.setdefault("status", "ok")
        ok = report["status"] == "ok"
        return (HTTPStatus.OK if ok else HTTPStatus.SERVICE_UNAVAILABLE), report

    async def _feed(self, request: web.Request) -> web.Response:
        feeds = self.feeds
        if feeds is None:
            raise web.HTTPNotFound()
        token = feeds.token()
        if token is not None:
            refused = _refused(request, token)
            if refused is not None:
                return refused
        rule = request.match_info.get("rule")
        try:
            rows = feeds.store.alert_feed(rule, FEED_SIZE)
        except (StoreError, sqlite3.Error) as exc:
            log.warning("http: cannot read the alerts: %s", exc)
            return _text(HTTPStatus.SERVICE_UNAVAILABLE, b"the alerts cannot be read now\n")
        if rule is not None and not rows and rule not in feeds.rules():
            return _text(HTTPStatus.NOT_FOUND, b"no such rule\n")
        rendered = render_feed(
            [feed_entry(row) for row in rows],
            iri=feed_id(feeds.instance, rule or ""),
            title=f"watcher: {rule}" if rule else "watcher: all alerts",
            self_href=str(request.url.with_query(None)),  # never the token
            empty_updated=feeds.started,
        )
        headers = {
            "ETag": rendered.etag,
            "Cache-Control": "private, no-cache" if token else "no-cache",
        }
        if rendered.last_modified is not None:
            headers["Last-Modified"] = format_datetime(rendered.last_modified, usegmt=True)
        if not_modified(
            rendered.etag,
            rendered.last_modified,
            request.headers.get("If-None-Match"),
            request.headers.get("If-Modified-Since"),
        ):
            return web.Response(status=HTTPStatus.NOT_MODIFIED, headers=headers)
        return web.Response(
            body=rendered.body, content_type=MEDIA_TYPE, charset="utf-8", headers=headers
        )


def feed_entry(row: Row) -> FeedEntry:
    """A row of ``ReportStore.alert_feed`` as the entry it shows."""
    created = _when(row["created_at"]) or datetime.now(UTC)
    return FeedEntry(
        alert_id=row["id"],
        once_key=row["once_key"],
        rule=row["rule"],
        cluster_id=row["cluster_id"],
        title=row["title"] or "",
        link=row["link"],
        outlets=tuple(row["outlets"]),
        snippet=row["snippet"],
        created=created,
        published=_when(row["published"]),
        updated=_when(row.get("cluster_seen")),
    )


def _refused(request: web.Request, token: str) -> web.Response | None:
    """None when the request carries the token; else 401 (none given) or 403 (a wrong one)."""
    given: list[str] = request.query.getall("token", [])
    bearer = _BEARER.fullmatch(request.headers.get("Authorization", ""))
    if bearer:
        given.append(bearer.group(1))
    if any(hmac.compare_digest(g.encode(), token.encode()) for g in given):
        return None
    if given:
        return _text(HTTPStatus.FORBIDDEN, b"wrong token\n")
    response = _text(HTTPStatus.UNAUTHORIZED, b"this feed wants ?token= or a bearer token\n")
    response.headers["WWW-Authenticate"] = 'Bearer realm="watcher"'
    return response


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _text(status: HTTPStatus, body: bytes, allow: Iterable[str] = ()) -> web.Response:
    response = web.Response(
        status=status,
        body=body,
        content_type="text/plain",
        headers={"Cache-Control": "no-store"},
    )
    if allow:
        response.headers["Allow"] = ", ".join(allow)
    return response


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _plain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 404 and 405, in this listener's words."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return _text(HTTPStatus.NOT_FOUND, _NOT_FOUND)
    except web.HTTPMethodNotAllowed as exc:
        methods = sorted(exc.allowed_methods, key=lambda m: (m != "GET", m))
        return _text(HTTPStatus.METHOD_NOT_ALLOWED, b"GET only\n", allow=methods)


class _ClientErrors(logging.Filter):
    """A malformed or oversized request is the client's problem: one line, no traceback,
    and nothing of the request itself (its first line may carry a token)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            client = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "http: refused a request from %s (%s, %s)"
            record.args = (client, error.code, type(error).__name__)
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.INFO, "INFO"
            return _server_log.isEnabledFor(logging.INFO)
        return True


_server_log = logging.getLogger("watcher.http.server")
_server_log.addFilter(_ClientErrors())


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
