"""Fetching feeds over HTTP without letting one bad server hurt the others.

Every fetch is bounded in time (connect, read and a total deadline), in size
(raw and decompressed bytes, counted while streaming) and in concurrency
(globally and per host). Every failure comes back as a ``FeedError`` in the
result, worded for the user; ``Fetcher.fetch`` never raises for anything a
network or server does.

Every URL but the one the user configured is checked by ``watcher.netguard``
before anything is sent: a host that resolves into the user's own network
(loopback, private, link-local, ...) is refused unless the configured feed is
in that same network or ``allow_private`` is set; the connection is made to
the very addresses checked.

Error ``kind`` values: ``timeout``, ``connect``, ``http``, ``too_large``,
``redirect``, ``protocol``, ``encoding``, ``url``, ``blocked`` (refused by the
network guard) and ``internal``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from http import HTTPStatus
from http.cookiejar import CookieJar, DefaultCookiePolicy
from types import TracebackType

import httpcore
import httpx
from httpx._utils import URLPattern, get_environment_proxies

from watcher import __version__, netguard
from watcher.clock import Clock, utc_now
from watcher.core.errors import FeedError
from watcher.core.politeness import parse_max_age, parse_retry_after

log = logging.getLogger("watcher.fetch")

MB = 1024 * 1024
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECT_CODES = frozenset({301, 308})
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# Only encodings we can inflate under a cap; brotli's Python API cannot bound its output.
ACCEPT_ENCODING = "gzip, deflate"


def user_agent() -> str:
    """The User-Agent watcher sends unless told otherwise, naming its version and home."""
    return f"watcher/{__version__} (news monitor; +https://github.com/watcher-news/watcher)"


@dataclass(frozen=True)
class FetchSettings:
    """Limits for fetching; per feed, only the timeouts, caps, redirects, agent and
    ``allow_private`` apply.

    ``allow_private``: links and redirects may reach loopback, private, link-local
    and other non-public addresses (``watcher.netguard``), as the configured URL may.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 60.0
    max_body_bytes: int = 10 * MB
    max_decoded_bytes: int = 10 * MB
    max_redirects: int = 5
    global_concurrency: int = 32
    per_host_concurrency: int = 2
    user_agent: str = field(default_factory=user_agent)
    allow_private: bool = False


@dataclass(frozen=True)
class FetchRequest:
    """One fetch for ``feed``.

    ``origin`` is the URL the user configured for the feed, when ``url`` is not
    that one: an article link, a listing link, an advertised feed, a child sitemap
    or a stored redirect target.  Only the exact configured URL (``origin``, or
    ``url`` when there is no ``origin``) is trusted; ``url`` otherwise, and every
    redirect, may reach only public addresses and the origin host's own network.
    """

    feed: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    settings: FetchSettings | None = None
    origin: str | None = None


@dataclass(frozen=True)
class FetchedFeed:
    """What one fetch produced.

    On 304 and on errors ``etag``/``last_modified`` carry the request's values
    over, so the caller can store them unconditionally.
    """

    feed: str
    url: str
    final_url: str
    status: int | None
    body: bytes | None
    content_type: str | None
    etag: str | None
    last_modified: str | None
    body_hash: str | None
    permanent_url: str | None
    error: FeedError | None
    retry_after: datetime | None
    max_age: timedelta | None
    elapsed: float

    @property
    def not_modified(self) -> bool:
        return self.status == 304 and self.error is None


class _Fail(Exception):
    """Internal: abort this fetch with a user-facing error."""

    def __init__(self, error: FeedError, status: int | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.status = status


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _size(n: int) -> str:
    if n >= MB:
        return f"{n / MB:.3g} MB"
    if n >= 1024:
        return f"{n / 1024:.3g} KB"
    return f"{n} bytes"


def _wait(delta: timedelta) -> str:
    seconds = max(0, round(delta.total_seconds()))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.3g} h"


# ---------------------------------------------------------------- decompression


class _Decoder:
    """Inflates a Content-Encoding incrementally, never producing more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int) -> None:
        self.encoding = encoding
        self.limit = limit
        self.produced = 0
        self._d: zlib._Decompress | None = None
        self._pending = b""  # too few bytes yet to recognise the (next) stream
        self._members = 0
        self._ignore = False

    def _start(self, data: bytes) -> bool:
        """Pick the zlib mode from the first bytes; False while more bytes are needed."""
        if len(data) < 2:
            return False
        if self.encoding == "gzip":
            if data[:2] != b"\x1f\x8b":
                if self._members:  # junk after a complete member: ignored, as browsers do
                    self._ignore = True
                    return False
                raise _Fail(FeedError("the body is not valid gzip data", kind="encoding"))
            self._d = zlib.decompressobj(zlib.MAX_WBITS | 16)
        else:
            # Servers send "deflate" both zlib-wrapped (correct) and raw; browsers accept both.
            wrapped = (data[0] & 0x0F) == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._d = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        return True

    def feed(self, data: bytes) -> bytes:
        out: list[bytes] = []
        data = self._pending + data
        self._pending = b""
        while data and not self._ignore:
            if self._d is None and not self._start(data):
                self._pending = b"" if self._ignore else data
                break
            assert self._d is not None
            try:
                # Ask for one byte more than allowed: getting it proves the cap is exceeded
                # without ever inflating a bomb further than that.
                piece = self._d.decompress(data, self.limit - self.produced + 1)
            except zlib.error as exc:
                raise _Fail(
                    FeedError(f"the {self.encoding} body is corrupt ({exc})", kind="encoding")
                ) from exc
            self.produced += len(piece)
            if self.produced > self.limit:
                raise _Fail(
                    FeedError(
                        f"body larger than {_size(self.limit)} when decompressed", kind="too_large"
                    )
                )
            out.append(piece)
            data = self._d.unconsumed_tail
            if self._d.eof:
                self._members += 1
                data = self._d.unused_data
                self._d = None
                # gzip allows several members back to back; after a deflate stream, only junk.
                self._ignore = self.encoding != "gzip"
        return b"".join(out)


class _Identity:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.produced = 0

    def feed(self, data: bytes) -> bytes:
        self.produced += len(data)
        if self.produced > self.limit:
            raise _Fail(FeedError(f"body larger than {_size(self.limit)}", kind="too_large"))
        return data


def _decoder(content_encoding: str | None, limit: int) -> _Decoder | _Identity:
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _Identity(limit)
    if len(codings) == 1 and codings[0] in ("gzip", "x-gzip", "deflate"):
        return _Decoder("gzip" if codings[0] == "x-gzip" else codings[0], limit)
    raise _Fail(
        FeedError(
            f"the server used a compression watcher cannot read: {', '.join(codings)}",
            kind="encoding",
        )
    )


# ---------------------------------------------------------------- error wording

_DNS_HINTS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "no address associated",
    "getaddrinfo failed",
    "name resolution",
)


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and what it wraps: httpx hides the useful OS error a few levels down."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _connect_error(exc: BaseException, url: httpx.URL) -> FeedError:
    chain = _causes(exc)
    text = "; ".join(str(e) for e in chain if str(e)).lower()
    where = f"{url.host}:{url.port}" if url.port else url.host
    if any(isinstance(e, socket.gaierror) for e in chain) or any(h in text for h in _DNS_HINTS):
        return FeedError(f"could not resolve host {url.host}", kind="connect")
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or "refused" in text:
        return FeedError(f"connection refused by {where}", kind="connect")
    if "unreachable" in text:
        return FeedError(f"network unreachable for {where}", kind="connect")
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            reason = e.verify_message or str(e)
            return FeedError(
                f"the TLS certificate of {url.host} is not valid: {reason}", kind="connect"
            )
        if isinstance(e, ssl.SSLError):
            reason = e.reason or str(e)
            return FeedError(f"TLS handshake with {url.host} failed: {reason}", kind="connect")
    return FeedError(f"could not connect to {where}: {exc}", kind="connect")


def _status_error(status: int, retry_after: datetime | None, now: datetime) -> FeedError:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    code = f"HTTP {status}"
    words = {
        401: "authentication required",
        403: "access denied",
        404: "not found",
        410: "gone: the feed was removed",
        429: "rate limited",
        503: "service unavailable",
    }
    if status in words:
        message = f"{words[status]} ({code})"
    elif 500 <= status < 600:
        message = f"server error ({code}{' ' + phrase if phrase else ''})"
    elif 400 <= status < 500:
        message = f"request refused ({code}{' ' + phrase if phrase else ''})"
    else:
        message = f"unexpected response ({code}{' ' + phrase if phrase else ''})"
    if retry_after is not None:
        message += f"; the server asks to wait {_wait(retry_after - now)}"
    return FeedError(message, kind="http", status=status)


def _header_value(value: str | None) -> bytes | None:
    """Encode a header as sent; a stored validator that cannot be sent is dropped, not fatal."""
    if not value:
        return None
    raw = value.encode("utf-8")
    return None if any(c in raw for c in b"\r\n\0") else raw


def _url_problem(url: str) -> FeedError | None:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return FeedError(f"invalid URL {url!r}: {exc}", kind="url")
    if parsed.scheme not in ("http", "https"):
        scheme = parsed.scheme or "none"
        return FeedError(f"unsupported URL scheme {scheme!r} (use http or https)", kind="url")
    if not parsed.host:
        return FeedError(f"invalid URL {url!r}: no host", kind="url")
    return None


# ---------------------------------------------------------------- the fetcher


@dataclass
class _Trace:
    """What has happened so far, so that a failure can still report it."""

    final_url: str
    status: int | None = None
    started: float | None = None
    received: int = 0
    expected: int | None = None
    reading_body: bool = False


@dataclass(frozen=True)
class _Redirect:
    location: str
    permanent: bool


# Seconds a kept-alive connection may sit idle before it is closed (httpx would not
# reuse it after that anyway); a host's client idle that long is closed with its
# sockets, so hosts polled every hour do not each hold connections in between.
KEEPALIVE_EXPIRY = 5.0


class _Borrowed(httpx.AsyncBaseTransport):
    """A transport the caller owns, shared by the hosts' clients: closing one of them
    (as an idle host's client is) must not close it for the others.

    Each response is handed on as an unread stream: ``httpx.Response(content=...)``,
    as a ``MockTransport`` handler builds it, comes already read (and decompressed),
    which would bypass reading the raw body under the caps.
    """

    def __init__(self, transport: httpx.AsyncBaseTransport) -> None:
        self._transport = transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._transport.handle_async_request(request)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=response.stream,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        pass


def _guarded_transport(tls: ssl.SSLContext, limits: httpx.Limits) -> httpx.AsyncHTTPTransport:
    """httpx's transport over a pool that connects through ``netguard.GuardedBackend``.

    ``httpx.AsyncHTTPTransport`` takes no network backend, but it is a thin shell
    (request and exception mapping) around one httpcore pool, built here as httpx
    builds it, with the backend added.  (httpx is pinned; a test checks the seam.)
    """
    transport = httpx.AsyncHTTPTransport(verify=tls, limits=limits)
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=tls,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=netguard.GuardedBackend(),
    )
    return transport


@dataclass
class _Client:
    client: httpx.AsyncClient
    busy: int = 0  # requests in flight
    used: float = 0.0  # loop time when the last one finished


@dataclass
class _Host:
    """What the fetcher keeps per host: its request slots, and its clients while in use.

    One client per address range its requests were admitted to (``Admission.block``;
    None: public): a connection pooled for a request that could reach, say,
    10.0.0.0/8 is only ever reused by another request admitted to 10.0.0.0/8, never
    by one that may reach only public addresses.  Almost every host has one.
    """

    slots: asyncio.Semaphore
    clients: dict[str | None, _Client] = field(default_factory=dict)


class Fetcher:
    """Fetches feeds, one HTTP client per host; use as ``async with Fetcher(...)``.

    One client per host, not one for all: httpcore checks every pooled
    connection (a poll() on each socket) whenever it hands one out, so a single
    pool kept alive to fifty hosts cost a third of the event loop's fetch time.
    The clients share one TLS context (loading the CA bundle once).

    Proxies named by the environment (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, ``NO_PROXY``) are used as httpx would; the proxy is a trusted
    hop, never checked by the network guard.

    ``transport``, when given, carries every host's requests instead of the network
    (e.g. an ``httpx.MockTransport`` in tests); limits, caps, redirects and
    conditional GET work the same through it. The caller owns it: the fetcher
    never closes it.

    ``resolver`` turns host names into the addresses the network guard checks and
    connects to (``watcher.netguard``); by default the system's.  With a
    ``transport`` and no ``resolver``, the transport stands for the whole network
    and nothing is resolved or checked.
    """

    def __init__(
        self,
        settings: FetchSettings,
        *,
        clock: Clock = utc_now,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: netguard.Resolver | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self._transport = None if transport is None else _Borrowed(transport)
        if resolver is None and transport is None:
            resolver = netguard.default_resolver()
        self._guard = None if resolver is None else netguard.Guard(resolver)
        self._tls: ssl.SSLContext | None = None
        self._proxies: dict[str, str | None] = {}
        self._proxy_patterns: list[tuple[URLPattern, str | None]] = []
        self._swept = 0.0
        self._global = asyncio.Semaphore(settings.global_concurrency)
        self._hosts: dict[str, _Host] = {}

    async def __aenter__(self) -> Fetcher:
        self._tls = httpx.create_ssl_context()
        if self._transport is None:  # as httpx.AsyncClient reads them (trust_env)
            self._proxies = get_environment_proxies()
            self._proxy_patterns = sorted(
                ((URLPattern(key), proxy) for key, proxy in self._proxies.items()),
                key=lambda item: item[0],
            )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._tls = None
        await self._close_clients(lambda entry: True)

    @asynccontextmanager
    async def _slot(self, host: str) -> AsyncIterator[_Host]:
        """A request slot of ``host`` and a global one."""
        assert self._tls is not None
        loop = asyncio.get_running_loop()
        if loop.time() - self._swept >= KEEPALIVE_EXPIRY:
            self._swept = now = loop.time()
            await self._close_clients(
                lambda entry: not entry.busy and now - entry.used >= KEEPALIVE_EXPIRY
            )
        record = self._hosts.get(host)
        if record is None:
            record = self._hosts[host] = _Host(
                asyncio.Semaphore(self.settings.per_host_concurrency)
            )
        # Host first, then global: a queue of feeds for one busy host must not hold
        # global slots that feeds of other hosts could use.
        async with record.slots, self._global:
            yield record

    @contextmanager
    def _client(self, record: _Host, block: str | None) -> Iterator[httpx.AsyncClient]:
        """The host's client for requests admitted to ``block``."""
        entry = record.clients.get(block)
        if entry is None:
            entry = record.clients[block] = _Client(self._new_client())
        entry.busy += 1
        try:
            yield entry.client
        finally:
            entry.busy -= 1
            entry.used = asyncio.get_running_loop().time()

    def _new_client(self) -> httpx.AsyncClient:
        assert self._tls is not None
        # Concurrency is bounded by our semaphores; the pool must never be the bottleneck.
        limits = httpx.Limits(
            max_connections=None,
            max_keepalive_connections=self.settings.per_host_concurrency,
            keepalive_expiry=KEEPALIVE_EXPIRY,
        )
        transport: httpx.AsyncBaseTransport
        mounts: dict[str, httpx.AsyncBaseTransport | None] | None = None
        if self._transport is not None:
            transport = self._transport
        else:
            transport = _guarded_transport(self._tls, limits)
            mounts = {
                key: None
                if proxy is None
                else httpx.AsyncHTTPTransport(verify=self._tls, limits=limits, proxy=proxy)
                for key, proxy in self._proxies.items()
            }
        return httpx.AsyncClient(
            follow_redirects=False,
            verify=self._tls,
            limits=limits,
            # Feeds need no cookies; a shared jar would leak them between feeds.
            cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
            transport=transport,
            mounts=mounts,
        )

    def _proxied(self, url: httpx.URL) -> bool:
        """Whether ``url`` goes through a proxy (the first matching pattern, as in httpx)."""
        for pattern, proxy in self._proxy_patterns:
            if pattern.matches(url):
                return proxy is not None
        return False

    async def _close_clients(self, which: Callable[[_Client], bool]) -> None:
        # All taken out before the first await, so none can be handed out meanwhile.
        closing = []
        for record in self._hosts.values():
            for block, entry in list(record.clients.items()):
                if which(entry):
                    closing.append(entry.client)
                    del record.clients[block]
        for client in closing:
            await client.aclose()

    async def fetch(self, req: FetchRequest) -> FetchedFeed:
        """Fetch one feed; every failure is reported in ``FetchedFeed.error``, never raised.

        A connection closed before any answer is tried once more: it is most often a
        kept-alive connection the server had just closed, and a new one works.
        """
        result = await self._fetch_once(req)
        if result.error is not None and result.error.kind == "closed":
            log.debug("feed %r: connection closed unanswered; trying once more", req.feed)
            result = await self._fetch_once(req)
        return result

    async def _fetch_once(self, req: FetchRequest) -> FetchedFeed:
        if self._tls is None:
            raise RuntimeError("Fetcher must be used as 'async with Fetcher(...)'")
        settings = req.settings or self.settings
        trace = _Trace(final_url=req.url)
        loop = asyncio.get_running_loop()
        called = loop.time()

        def failed(error: FeedError, status: int | None = None) -> FetchedFeed:
            return self._result(req, trace, called, status=status or trace.status, error=error)

        problem = _url_problem(req.url)
        if problem is not None:
            return failed(problem)
        try:
            return await self._fetch(req, settings, trace, called)
        except _Fail as exc:
            return failed(exc.error, exc.status)
        except TimeoutError:
            return failed(
                FeedError(f"timed out after {_seconds(settings.deadline)}", kind="timeout")
            )
        except httpx.ConnectTimeout:
            return failed(
                FeedError(
                    f"could not connect within {_seconds(settings.connect_timeout)}",
                    kind="timeout",
                )
            )
        except httpx.TimeoutException:
            waited = "without receiving data" if trace.reading_body else "waiting for a response"
            return failed(
                FeedError(
                    f"timed out after {_seconds(settings.read_timeout)} {waited}", kind="timeout"
                )
            )
        except httpx.ConnectError as exc:
            return failed(_connect_error(exc, httpx.URL(trace.final_url)))
        except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
            return failed(self._lost(exc, trace))
        except httpx.WriteError as exc:
            return failed(
                FeedError(f"the connection broke while sending the request: {exc}", kind="connect")
            )
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            return failed(FeedError(f"invalid URL {trace.final_url!r}: {exc}", kind="url"))
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            return failed(FeedError(f"request failed: {exc or type(exc).__name__}", kind="connect"))
        except Exception as exc:  # a bug of ours must not take down the other feeds
            log.exception("unexpected error fetching feed %r from %s", req.feed, trace.final_url)
            return failed(
                FeedError(f"unexpected error: {type(exc).__name__}: {exc}", kind="internal")
            )

    @staticmethod
    def _lost(exc: Exception, trace: _Trace) -> FeedError:
        if trace.reading_body:
            got = f"{trace.received} of {trace.expected}" if trace.expected else f"{trace.received}"
            return FeedError(
                f"the connection closed before the whole body arrived ({got} bytes)",
                kind="protocol",
            )
        text = str(exc)
        if "without sending a response" in text or not text:
            return FeedError("the server closed the connection without answering", kind="closed")
        if isinstance(exc, httpx.ReadError):
            return FeedError(
                f"the connection broke before the server answered: {text}", kind="protocol"
            )
        return FeedError(f"the server sent an invalid HTTP response: {text}", kind="protocol")

    async def _fetch(
        self, req: FetchRequest, settings: FetchSettings, trace: _Trace, called: float
    ) -> FetchedFeed:
        loop = asyncio.get_running_loop()
        timeout = httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        )
        wanted = {
            b"User-Agent": settings.user_agent,
            b"Accept": ACCEPT,
            b"Accept-Encoding": ACCEPT_ENCODING,
            b"If-None-Match": req.etag,
            b"If-Modified-Since": req.last_modified,
        }
        headers = {name: v for name, value in wanted.items() if (v := _header_value(value))}
        visited = [req.url]
        permanent_url: str | None = None
        all_permanent = True
        # The deadline starts once the first request may go out: time queued behind
        # other feeds' slots is not this feed's fault.
        async with asyncio.timeout(None) as deadline:
            for _hop in range(settings.max_redirects + 1):
                url = httpx.URL(trace.final_url)
                async with self._slot(url.host) as record:
                    if trace.started is None:
                        trace.started = loop.time()
                        deadline.reschedule(trace.started + settings.deadline)
                    admission = await self._admit(req, url, settings, trace)
                    block = admission.block if admission is not None else None
                    with self._client(record, block) as client, netguard.admitted(admission):
                        outcome = await self._request(
                            client, req, settings, trace, called, headers, timeout
                        )
                if isinstance(outcome, FetchedFeed):
                    if permanent_url is not None and outcome.error is None:
                        log.warning(
                            "feed %r moved permanently: %s -> %s (using the new URL from now on)",
                            req.feed,
                            req.url,
                            permanent_url,
                        )
                        return replace(outcome, permanent_url=permanent_url)
                    return outcome
                target = str(url.join(outcome.location))
                problem = _url_problem(target)
                if problem is not None:
                    raise _Fail(
                        FeedError(f"redirected to an unusable URL: {problem}", kind="redirect"),
                        trace.status,
                    )
                if target in visited:
                    chain = " -> ".join([*visited[visited.index(target) :], target])
                    raise _Fail(FeedError(f"redirect loop: {chain}", kind="redirect"), trace.status)
                visited.append(target)
                all_permanent = all_permanent and outcome.permanent
                if all_permanent:
                    permanent_url = target
                trace.final_url = target
        raise _Fail(
            FeedError(f"too many redirects (more than {settings.max_redirects})", kind="redirect"),
            trace.status,
        )

    async def _admit(
        self, req: FetchRequest, url: httpx.URL, settings: FetchSettings, trace: _Trace
    ) -> netguard.Admission | None:
        """The addresses this hop may connect to, checked by the network guard.

        Resolving counts against the connect timeout, as it did inside the connect.
        """
        if self._guard is None:
            return None
        origin = req.origin or req.url
        try:
            origin_host = httpx.URL(origin).raw_host.decode("ascii")
        except (httpx.InvalidURL, ValueError, TypeError):
            origin_host = ""  # resolves to nothing: public addresses only
        try:
            async with asyncio.timeout(settings.connect_timeout) as limit:
                return await self._guard.admit(
                    url.raw_host.decode("ascii"),
                    origin_host=origin_host,
                    trusted=trace.final_url == origin,
                    allow_private=settings.allow_private,
                    proxied=self._proxied(url),
                )
        except TimeoutError:
            if not limit.expired():
                raise  # the deadline's, not ours
            raise _Fail(
                FeedError(
                    f"could not resolve host {url.host} within "
                    f"{_seconds(settings.connect_timeout)}",
                    kind="timeout",
                ),
                trace.status,
            ) from None
        except netguard.Unresolved:
            raise _Fail(
                FeedError(f"could not resolve host {url.host}", kind="connect"), trace.status
            ) from None
        except netguard.Refused as exc:
            if trace.final_url == req.url:
                message = f"refused: {exc}, which a link from a feed may not reach"
            else:
                message = f"refused the redirect to {trace.final_url}: {exc}"
            raise _Fail(
                FeedError(f"{message} (fetch.allow_private: true allows it)", kind="blocked"),
                trace.status,
            ) from None

    async def _request(
        self,
        client: httpx.AsyncClient,
        req: FetchRequest,
        settings: FetchSettings,
        trace: _Trace,
        called: float,
        headers: dict[bytes, bytes],
        timeout: httpx.Timeout,
    ) -> FetchedFeed | _Redirect:
        trace.reading_body, trace.received, trace.expected = False, 0, None
        async with client.stream("GET", trace.final_url, headers=headers, timeout=timeout) as resp:
            status = trace.status = resp.status_code
            if status in REDIRECT_CODES:
                location = resp.headers.get("location")
                if not location:
                    raise _Fail(
                        FeedError(
                            f"redirect (HTTP {status}) without a Location header", kind="redirect"
                        ),
                        status,
                    )
                return _Redirect(location, status in PERMANENT_REDIRECT_CODES)
            max_age = parse_max_age(resp.headers.get("cache-control"))
            content_type = resp.headers.get("content-type")
            if status == 304:
                return self._result(
                    req,
                    trace,
                    called,
                    status=status,
                    content_type=content_type,
                    etag=resp.headers.get("etag") or req.etag,
                    last_modified=resp.headers.get("last-modified") or req.last_modified,
                    max_age=max_age,
                )
            if not 200 <= status < 300:
                now = self._clock()
                retry_after = None
                if status in (429, 503):
                    retry_after = parse_retry_after(resp.headers.get("retry-after"), now)
                return self._result(
                    req,
                    trace,
                    called,
                    status=status,
                    error=_status_error(status, retry_after, now),
                    retry_after=retry_after,
                )
            body = await self._read_body(resp, settings, trace)
            return self._result(
                req,
                trace,
                called,
                status=status,
                body=body,
                content_type=content_type,
                etag=resp.headers.get("etag"),
                last_modified=resp.headers.get("last-modified"),
                body_hash=hashlib.sha256(body).hexdigest(),
                max_age=max_age,
            )

    @staticmethod
    async def _read_body(resp: httpx.Response, settings: FetchSettings, trace: _Trace) -> bytes:
        cap = _size(settings.max_body_bytes)
        too_large = FeedError(f"body larger than {cap}", kind="too_large")
        length = resp.headers.get("content-length")
        if length is not None and re.fullmatch(r"\s*\d+\s*", length):
            trace.expected = int(length)
            if trace.expected > settings.max_body_bytes:
                raise _Fail(too_large, resp.status_code)
        decoder = _decoder(resp.headers.get("content-encoding"), settings.max_decoded_bytes)
        chunks: list[bytes] = []
        trace.reading_body = True
        try:
            async for raw in resp.aiter_raw():
                trace.received += len(raw)
                if trace.received > settings.max_body_bytes:
                    raise _Fail(too_large, resp.status_code)
                chunks.append(decoder.feed(raw))
        except _Fail as exc:
            exc.status = resp.status_code
            raise
        trace.reading_body = False
        return b"".join(chunks)

    def _result(
        self,
        req: FetchRequest,
        trace: _Trace,
        called: float,
        *,
        status: int | None = None,
        body: bytes | None = None,
        content_type: str | None = None,
        etag: str | None = None,
        last_modified: str | None = None,
        body_hash: str | None = None,
        error: FeedError | None = None,
        retry_after: datetime | None = None,
        max_age: timedelta | None = None,
    ) -> FetchedFeed:
        if error is not None:
            etag, last_modified = req.etag, req.last_modified
        now = asyncio.get_running_loop().time()
        return FetchedFeed(
            feed=req.feed,
            url=req.url,
            final_url=trace.final_url,
            status=status,
            body=body,
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            body_hash=body_hash,
            permanent_url=None,
            error=error,
            retry_after=retry_after,
            max_age=max_age,
            elapsed=now - (trace.started if trace.started is not None else called),
        )
