"""The fetch stage against real loopback servers that misbehave on purpose.

The centrepiece runs every fault at once, as the daemon would meet them: one
bad feed must not delay, crash or starve the others, and nothing may cost the
memory of a 200 MB body or a gzip bomb.
"""

from __future__ import annotations

import asyncio
import codecs
import gzip
import hashlib
import logging
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from typing import TypeVar

import feedparser
import httpcore
import httpx
import pytest

from tests.support.faults import (
    CP1252_TITLE,
    GOOD_ETAG,
    GOOD_FEED,
    GOOD_LAST_MODIFIED,
    TRUNCATED_FEED,
    ConcurrencyProbe,
    FaultServer,
    billion_laughs,
    gzip_bomb,
)
from tests.support.httpserver import HTTPServer
from watcher.core.sniff import (
    advertised_feeds,
    classify,
    has_dangerous_dtd,
    not_a_feed_error,
    parser_headers,
)
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings, user_agent

T = TypeVar("T")
MB = 1024 * 1024


def run(coro_fn: Callable[[Fetcher], Awaitable[T]], settings: FetchSettings | None = None) -> T:
    async def main() -> T:
        async with Fetcher(settings or FetchSettings(user_agent="watcher-test")) as fetcher:
            return await coro_fn(fetcher)

    return asyncio.run(main())


def fetch_one(url: str, settings: FetchSettings | None = None, **kw: object) -> FetchedFeed:
    return run(lambda f: f.fetch(FetchRequest("feed", url, **kw)), settings)  # type: ignore[arg-type]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- the fault suite

FAST = FetchSettings(connect_timeout=1, read_timeout=2, deadline=3, user_agent="watcher-test")


def test_every_fault_at_once_fails_alone_in_words_within_the_deadline() -> None:
    gzip_bomb()  # built once, before measuring memory
    port = closed_port()
    refused = f"http://127.0.0.1:{port}/feed.xml"
    with FaultServer() as srv:
        requests = [FetchRequest(path, srv.url(path)) for path in FaultServer.ROUTES]
        requests.append(FetchRequest("/etag+", srv.url("/etag"), etag=GOOD_ETAG))
        requests.append(FetchRequest("refused", refused))
        requests.append(FetchRequest("ftp", "ftp://example.org/feed.xml"))

        async def batch(fetcher: Fetcher) -> list[FetchedFeed]:
            return await asyncio.gather(*(fetcher.fetch(r) for r in requests))

        tracemalloc.start()
        started = time.monotonic()
        try:
            results = run(batch, FAST)
            took = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        by = {r.feed: r for r in results}
        url = srv.url

        def error(name: str) -> str:
            assert by[name].error is not None, f"{name} should have failed"
            return str(by[name].error)

        # The batch is bounded by the deadline, not by the slowest server.
        assert took < FAST.deadline + 2.0, f"the batch took {took:.1f} s"
        # A 200 MB body and a 2 GB gzip bomb cost no more than the 10 MB caps.
        assert peak < 40 * MB, f"peak memory {peak / MB:.0f} MB"

        good = by["/good"]
        assert good.error is None and good.status == 200 and good.body == GOOD_FEED
        assert good.body_hash == hashlib.sha256(GOOD_FEED).hexdigest()
        assert good.etag == GOOD_ETAG and good.content_type == "application/rss+xml; charset=utf-8"
        assert good.elapsed < 1.0

        assert by["/etag"].error is None and by["/etag"].body == GOOD_FEED
        assert by["/etag+"].not_modified and by["/etag+"].body is None
        assert by["/etag+"].etag == GOOD_ETAG
        assert by["/etag+"].max_age == timedelta(hours=2)

        assert error("/timeout") == "timed out after 2 s waiting for a response"
        assert error("/drip") == "timed out after 3 s"
        assert 2.5 < by["/drip"].elapsed < 4.0
        assert error("/500") == "server error (HTTP 500 Internal Server Error)"
        assert by["/500"].status == 500

        assert error("/429") == "rate limited (HTTP 429); the server asks to wait 2 min"
        retry = by["/429"].retry_after
        assert retry is not None and retry.tzinfo is not None
        assert abs((retry - datetime.now(UTC)) - timedelta(seconds=120)) < timedelta(seconds=30)
        assert error("/503").startswith("service unavailable (HTTP 503); the server asks to wait")
        retry = by["/503"].retry_after
        assert retry is not None
        assert abs((retry - datetime.now(UTC)) - timedelta(hours=1)) < timedelta(minutes=1)

        assert error("/huge") == "body larger than 10 MB"
        assert error("/huge-unannounced") == "body larger than 10 MB"
        assert error("/gzip-bomb") == "body larger than 10 MB when decompressed"
        assert by["/gzip-bomb"].error.kind == "too_large"  # type: ignore[union-attr]

        assert error("/loop-a") == (
            f"redirect loop: {url('/loop-a')} -> {url('/loop-b')} -> {url('/loop-a')}"
        )
        moved = by["/moved"]
        assert moved.error is None and moved.body == GOOD_FEED
        assert moved.final_url == moved.permanent_url == url("/good")
        temporary = by["/temporary"]
        assert temporary.error is None and temporary.final_url == url("/good")
        assert temporary.permanent_url is None

        assert (
            error("/cut")
            == "the connection closed before the whole body arrived (100 of 5000 bytes)"
        )
        assert error("/hang-up") == "the server closed the connection without answering"
        assert error("refused") == f"connection refused by 127.0.0.1:{port}"
        assert error("ftp") == "unsupported URL scheme 'ftp' (use http or https)"

        # Fetched fine, but the pipeline's sniff check must refuse these before parsing.
        page = by["/html-advertising"]
        assert page.error is None
        assert str(not_a_feed_error(page.body or b"", page.final_url, page.content_type)) == (
            f"not a feed: an HTML page (it advertises {url('/feeds/news.xml')})"
        )
        plain = by["/html-plain"]
        assert str(not_a_feed_error(plain.body or b"", plain.final_url)) == (
            "not a feed: an HTML page"
        )
        bomb = by["/billion-laughs"]
        refusal = not_a_feed_error(bomb.body or b"", bomb.final_url)
        assert refusal is not None and refusal.kind == "unsafe"
        assert not_a_feed_error(good.body or b"", good.final_url) is None

        # Mislabelled and broken bodies still reach the parser and yield what they can.
        mislabelled = by["/cp1252"]
        assert mislabelled.error is None and mislabelled.content_type is not None
        parsed = feedparser.parse(
            mislabelled.body, response_headers=parser_headers(mislabelled.content_type)
        )
        assert parsed.entries[0].title == CP1252_TITLE
        truncated = by["/truncated-xml"]
        assert truncated.error is None and truncated.body == TRUNCATED_FEED
        parsed = feedparser.parse(truncated.body, response_headers=parser_headers("text/xml"))
        assert parsed.bozo and parsed.entries[0].title == "First story"

        # Results come back in order, each naming its feed.
        assert all(r.feed == q.feed for r, q in zip(results, requests, strict=True))


def test_gzip_bomb_is_stopped_without_inflating_it() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 3 * MB  # small on the wire...
    inflater = zlib.decompressobj(31)
    assert len(inflater.decompress(bomb, 64 * MB)) == 64 * MB  # ...and really huge
    assert not inflater.eof
    settings = FetchSettings(max_decoded_bytes=1 * MB, user_agent="t")
    with HTTPServer() as srv:
        url = srv.add("/bomb", bomb, headers={"Content-Encoding": "gzip"})
        tracemalloc.start()
        started = time.monotonic()
        try:
            result = fetch_one(url, settings)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(result.error) == "body larger than 1 MB when decompressed"
    assert time.monotonic() - started < 2.0
    # Not even one network chunk may inflate past the cap (one 64 KB chunk is 64 MB here).
    assert peak < 8 * MB


# ---------------------------------------------------------------- concurrency


def test_per_host_and_global_limits_hold_under_load() -> None:
    hosts = ("127.0.0.2", "127.0.0.3")
    settings = FetchSettings(global_concurrency=3, per_host_concurrency=2, user_agent="t")
    with ConcurrencyProbe(hosts, hold=0.15) as probe:
        requests = [FetchRequest(f"{h}-{n}", probe.url(h, n)) for h in hosts for n in range(6)]

        async def batch(fetcher: Fetcher) -> list[FetchedFeed]:
            return await asyncio.gather(*(fetcher.fetch(r) for r in requests))

        results = run(batch, settings)
    assert [r.error for r in results] == [None] * len(requests)
    assert dict(probe.peak) == {"127.0.0.2": 2, "127.0.0.3": 2}
    assert probe.peak_total <= 3


def test_a_hanging_host_does_not_starve_feeds_of_other_hosts() -> None:
    settings = FetchSettings(
        global_concurrency=2, per_host_concurrency=1, read_timeout=5, deadline=5, user_agent="t"
    )
    with FaultServer("127.0.0.2") as bad, FaultServer("127.0.0.3") as good:

        async def batch(fetcher: Fetcher) -> tuple[float, list[FetchedFeed]]:
            loop = asyncio.get_running_loop()
            start = loop.time()
            hanging = [
                asyncio.create_task(fetcher.fetch(FetchRequest(f"bad{n}", bad.url("/timeout"))))
                for n in range(4)
            ]
            await asyncio.sleep(0.1)  # the bad feeds are queued first
            fine = await asyncio.gather(
                *(fetcher.fetch(FetchRequest(f"ok{n}", good.url("/good"))) for n in range(3))
            )
            took = loop.time() - start
            for task in hanging:
                task.cancel()
            await asyncio.gather(*hanging, return_exceptions=True)
            return took, fine

        took, fine = run(batch, settings)
    assert [r.error for r in fine] == [None, None, None]
    assert took < 2.0  # not behind the hanging host's 5 s timeouts


# ---------------------------------------------------------------- politeness on the wire


def test_conditional_get_sends_validators_and_reports_not_modified() -> None:
    with FaultServer() as srv:
        fresh = fetch_one(srv.url("/etag"))
        again = fetch_one(srv.url("/etag"), etag=fresh.etag, last_modified=fresh.last_modified)
        sent = [headers for path, headers in srv.requests if path == "/etag"]
    assert fresh.status == 200 and fresh.etag == GOOD_ETAG
    assert fresh.last_modified == GOOD_LAST_MODIFIED
    assert "if-none-match" not in sent[0] and "if-modified-since" not in sent[0]
    assert sent[1]["if-none-match"] == GOOD_ETAG
    assert sent[1]["if-modified-since"] == GOOD_LAST_MODIFIED
    assert sent[1]["user-agent"] == "watcher-test"
    assert "gzip" in sent[1]["accept-encoding"]
    assert again.not_modified and again.error is None and again.body is None
    assert again.etag == GOOD_ETAG and again.last_modified == GOOD_LAST_MODIFIED


def test_a_stored_validator_that_cannot_be_sent_is_dropped_not_fatal() -> None:
    with FaultServer() as srv:
        result = fetch_one(srv.url("/etag"), etag='"v1"\r\nX-Injected: yes', last_modified="")
        sent = srv.requests[-1][1]
    assert result.error is None and result.body == GOOD_FEED
    assert "if-none-match" not in sent and "x-injected" not in sent


def test_errors_carry_the_request_validators_over() -> None:
    with FaultServer() as srv:
        result = fetch_one(srv.url("/500"), etag='"old"', last_modified=GOOD_LAST_MODIFIED)
    assert result.error is not None and not result.not_modified
    assert result.etag == '"old"' and result.last_modified == GOOD_LAST_MODIFIED


def test_retry_after_only_from_429_and_503() -> None:
    with HTTPServer() as srv:
        url = srv.add("/", b"x", status=500, headers={"Retry-After": "60"})
        result = fetch_one(url)
    assert result.retry_after is None
    assert str(result.error) == "server error (HTTP 500 Internal Server Error)"


# ---------------------------------------------------------------- redirects


def test_permanent_url_stops_at_the_first_temporary_hop(caplog: pytest.LogCaptureFixture) -> None:
    with HTTPServer() as srv:
        srv.add("/old", status=301, headers={"Location": "/new"})
        srv.add("/new", status=302, headers={"Location": "/today"})
        srv.add("/today", GOOD_FEED)
        with caplog.at_level(logging.INFO, logger="watcher.fetch"):
            result = fetch_one(srv.url("/old"))
        assert result.error is None and result.final_url == srv.url("/today")
        assert result.permanent_url == srv.url("/new")
    assert "moved permanently" in caplog.text and srv.url("/new") in caplog.text


def test_permanent_redirect_to_a_failure_is_not_reported_as_a_move() -> None:
    with HTTPServer() as srv:
        srv.add("/old", status=301, headers={"Location": "/gone"})
        result = fetch_one(srv.url("/old"))
    assert str(result.error) == "not found (HTTP 404)" and result.permanent_url is None
    assert result.final_url.endswith("/gone")


def test_redirect_limits_and_missing_location() -> None:
    with HTTPServer() as srv:
        for n in range(4):
            srv.add(f"/{n}", status=307, headers={"Location": f"/{n + 1}"})
        srv.add("/4", GOOD_FEED)
        srv.add("/nowhere", status=302)
        limited = FetchSettings(max_redirects=3, user_agent="t")
        too_many = fetch_one(srv.url("/0"), limited)
        enough = fetch_one(srv.url("/1"), limited)
        nowhere = fetch_one(srv.url("/nowhere"))
    assert str(too_many.error) == "too many redirects (more than 3)"
    assert enough.error is None and enough.body == GOOD_FEED
    assert str(nowhere.error) == "redirect (HTTP 302) without a Location header"


# ---------------------------------------------------------------- bodies


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),  # zlib-wrapped, as the RFC says
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw, as some servers send
        ("gzip", lambda b: gzip.compress(b[:50]) + gzip.compress(b[50:])),  # two members
        ("gzip", lambda b: gzip.compress(b) + b"\x00\x00junk"),  # trailing padding
    ],
)
def test_compressed_bodies_are_inflated(encoding: str, encode: Callable[[bytes], bytes]) -> None:
    with HTTPServer() as srv:
        url = srv.add("/", encode(GOOD_FEED), headers={"Content-Encoding": encoding})
        result = fetch_one(url)
    assert result.error is None and result.body == GOOD_FEED


def test_corrupt_or_unknown_compression_is_an_error() -> None:
    with HTTPServer() as srv:
        corrupt = srv.add("/c", b"\x1f\x8b" + b"\xff" * 40, headers={"Content-Encoding": "gzip"})
        plain = srv.add("/p", GOOD_FEED, headers={"Content-Encoding": "gzip"})
        brotli = srv.add("/b", b"\x0b\x02\x80", headers={"Content-Encoding": "br"})
        results = [fetch_one(u) for u in (corrupt, plain, brotli)]
    assert str(results[0].error).startswith("the gzip body is corrupt")
    assert str(results[1].error) == "the body is not valid gzip data"
    assert str(results[2].error) == "the server used a compression watcher cannot read: br"


def test_caps_count_whole_bodies_exactly() -> None:
    with HTTPServer() as srv:
        url = srv.add("/", GOOD_FEED)
        zipped = srv.add("/z", gzip.compress(GOOD_FEED), headers={"Content-Encoding": "gzip"})
        size = len(GOOD_FEED)
        exact = fetch_one(url, FetchSettings(max_body_bytes=size, user_agent="t"))
        over = fetch_one(url, FetchSettings(max_body_bytes=size - 1, user_agent="t"))
        inflated = FetchSettings(max_decoded_bytes=size - 1, user_agent="t")
        over_inflated = fetch_one(zipped, inflated)
    assert exact.error is None and exact.body == GOOD_FEED
    assert over.error is not None and over.error.kind == "too_large"
    assert str(over_inflated.error).endswith("when decompressed")


def test_per_feed_settings_override_the_fetcher_defaults() -> None:
    tight = FetchSettings(deadline=0.5, read_timeout=5, user_agent="t")
    with FaultServer() as srv:

        async def both(fetcher: Fetcher) -> tuple[FetchedFeed, FetchedFeed]:
            return await asyncio.gather(
                fetcher.fetch(FetchRequest("tight", srv.url("/drip"), settings=tight)),
                fetcher.fetch(FetchRequest("default", srv.url("/good"))),
            )

        tight_result, default_result = run(both)
    assert str(tight_result.error) == "timed out after 0.5 s"
    assert tight_result.elapsed < 1.5
    assert default_result.error is None


# ---------------------------------------------------------------- sniffing bodies

RSS = b'<?xml version="1.0"?>\n<rss version="2.0"><channel/></rss>'
ATOM = b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"/>'
RDF = b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="x"><channel/></rdf:RDF>'
JSON_FEED = b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1.1", "items": []}'


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (RSS, "application/rss+xml", "feed"),
        (RSS, "text/html", "feed"),  # the content wins over the label
        (b"\xef\xbb\xbf" + RSS, None, "feed"),
        (codecs.BOM_UTF16_LE + RSS.decode().encode("utf-16-le"), None, "feed"),
        (b"<!-- generated <by> a tool -->" + ATOM, None, "feed"),
        (RDF, "application/rdf+xml", "feed"),
        (JSON_FEED, "application/json", "feed"),
        (b'{"error": "no"}', "application/json", "unknown"),
        (b"<!DOCTYPE html><html><body>x</body></html>", "application/rss+xml", "html"),
        (b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"/>', None, "html"),
        (b"\n\n  <HTML><HEAD></HEAD></HTML>", None, "html"),
        (b"Service Unavailable <b>sorry</b>", "text/html", "html"),
        (b"plain words", "text/plain", "unknown"),
        (b"", None, "unknown"),
        (b'<?xml version="1.0"?><error>quota</error>', "text/xml", "unknown"),
    ],
)
def test_classify(body: bytes, content_type: str | None, kind: str) -> None:
    assert classify(body, content_type) == kind


def test_advertised_feeds_are_resolved_filtered_and_deduplicated() -> None:
    page = b"""<html><head><base href="/blog/">
      <link rel="alternate" type="application/rss+xml" href="rss.xml?a=1&amp;b=2">
      <LINK REL="Alternate Feed" TYPE="application/atom+xml; charset=utf-8" HREF="atom.xml"/>
      <link rel="alternate" type="application/feed+json" href="https://cdn.example/f.json">
      <link rel="alternate" type="application/rss+xml" href="rss.xml?a=1&amp;b=2">
      <link rel="alternate" type="text/html" hreflang="de" href="/de/">
      <link rel="stylesheet" type="application/rss+xml" href="nope.xml">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head><body></body></html>"""
    assert advertised_feeds(page, "https://example.org/index.html") == [
        "https://example.org/blog/rss.xml?a=1&b=2",
        "https://example.org/blog/atom.xml",
        "https://cdn.example/f.json",
    ]


def test_not_a_feed_error_words() -> None:
    many = (
        b"<html><head>"
        + b"".join(
            b'<link rel="alternate" type="application/rss+xml" href="/%d.xml">' % n
            for n in range(5)
        )
        + b"</head></html>"
    )
    assert str(not_a_feed_error(many, "http://h/")) == (
        "not a feed: an HTML page (it advertises http://h/0.xml, http://h/1.xml, "
        "http://h/2.xml and 2 more)"
    )
    assert str(not_a_feed_error(b"  \n", "http://h/")) == "not a feed: the response was empty"
    assert not_a_feed_error(RSS, "http://h/") is None
    assert not_a_feed_error(JSON_FEED, "http://h/") is None


# ---------------------------------------------------------------- entity expansion

QUADRATIC = (
    b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "' + b"x" * 50_000 + b'">]>'
    b"<rss><channel><title>" + b"&a;" * 20_000 + b"</title></channel></rss>"
)


@pytest.mark.parametrize(
    "body",
    [
        billion_laughs(),
        billion_laughs(padding=1_000_000),
        QUADRATIC,
        b"<!DOCTYPE rss [<!ENTITY % p \"<!ENTITY x 'y'>\"> %p;]><rss/>",
        b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///dev/zero">]><rss>&x;</rss>',
        b'<!-- <rss> -->\n<!DOCTYPE rss [\n<!ENTITY a "&#38;b;&#38;b;">\n]><rss/>',
        codecs.BOM_UTF16_LE + billion_laughs().decode().encode("utf-16-le"),
        b"junk before <!DOCTYPE rss [<!entity a 'aaaa'>]><rss>&a;</rss>",
    ],
    ids=[
        "laughs",
        "padded",
        "quadratic",
        "parameter",
        "external",
        "after-comment",
        "utf16",
        "junk",
    ],
)
def test_entity_bombs_are_refused_quickly(body: bytes) -> None:
    started = time.monotonic()
    assert has_dangerous_dtd(body)
    error = not_a_feed_error(body, "http://h/feed")
    assert error is not None and error.kind == "unsafe"
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "body",
    [
        RSS,
        b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN"'
        b' "http://my.netscape.com/publish/formats/rss-0.91.dtd"><rss version="0.91"/>',
        b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;"> <!ENTITY copy "&#xA9;"><!-- ok -->]><rss/>',
        b"<rss><item><description><![CDATA[<!DOCTYPE x [<!ENTITY a 'b'>]>]]>"
        b"</description></item></rss>",
    ],
    ids=["plain", "netscape", "char-entities", "cdata"],
)
def test_ordinary_feeds_are_not_refused(body: bytes) -> None:
    assert not has_dangerous_dtd(body)


def test_feeds_that_pass_the_guard_parse_fast_and_small() -> None:
    body = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY nbsp "&#160;">]><rss version="2.0">'
        b"<channel><title>t</title><item><title>" + b"a&nbsp;" * 100_000 + b"z</title></item>"
        b"</channel></rss>"
    )
    assert not has_dangerous_dtd(body)
    tracemalloc.start()
    started = time.monotonic()
    try:
        parsed = feedparser.parse(body, response_headers=parser_headers("application/rss+xml"))
        took = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert parsed.entries[0].title == "a\xa0" * 100_000 + "z"
    assert took < 5.0 and peak < 50 * MB


def test_a_connection_closed_unanswered_is_tried_once_more() -> None:
    """A kept-alive connection the server just closed must not fail the feed."""
    answered: list[int] = []

    def flaky(handler: BaseHTTPRequestHandler) -> None:
        if not answered:
            answered.append(0)
            handler.close_connection = True
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)
            return
        body = GOOD_FEED
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    async def run(url: str) -> FetchedFeed:
        async with Fetcher(FetchSettings(deadline=5)) as fetcher:
            return await fetcher.fetch(FetchRequest("flaky", url))

    with HTTPServer() as server:
        server.add("/flaky", handler=flaky)
        result = asyncio.run(run(server.url("/flaky")))
        assert result.error is None and result.body == GOOD_FEED
        assert len(server.hits("/flaky")) == 2


class KeepAliveServer:
    """HTTP/1.1 with keep-alive, counting the connections it holds open."""

    def __init__(self) -> None:
        self.opened = 0
        self.open = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.opened += 1
        self.open += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")  # one GET, no body
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(GOOD_FEED), GOOD_FEED)
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client closed the connection
        finally:
            self.open -= 1
            writer.close()


def test_connections_are_kept_alive_per_host_and_closed_once_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Hosts polled now and then must not each hold sockets open in between."""
    monkeypatch.setattr("watcher.fetch.KEEPALIVE_EXPIRY", 0.3)

    async def main() -> None:
        a, b = KeepAliveServer(), KeepAliveServer()
        server_a = await asyncio.start_server(a.handle, "127.0.0.1", 0)
        server_b = await asyncio.start_server(b.handle, "127.0.0.2", 0)
        url_a = f"http://127.0.0.1:{server_a.sockets[0].getsockname()[1]}/feed"
        url_b = f"http://127.0.0.2:{server_b.sockets[0].getsockname()[1]}/feed"
        async with server_a, server_b, Fetcher(FetchSettings(deadline=5)) as fetcher:
            for _ in range(3):
                assert (await fetcher.fetch(FetchRequest("a", url_a))).body == GOOD_FEED
            assert (a.opened, a.open) == (1, 1)  # one connection, reused
            await asyncio.sleep(0.5)
            assert (await fetcher.fetch(FetchRequest("b", url_b))).body == GOOD_FEED
            for _ in range(50):  # the idle host's connection is closed
                if a.open == 0:
                    break
                await asyncio.sleep(0.02)
            assert a.open == 0 and b.open == 1
            assert (await fetcher.fetch(FetchRequest("a", url_a))).body == GOOD_FEED
            assert a.opened == 2  # a fresh connection when the host is polled again

    asyncio.run(main())


# ---------------------------------------------------------------- through a transport, no sockets

# Hosts under .invalid never resolve: a request that escaped the transport would fail.
MOCK_URL = "http://feeds.invalid/feed.xml"


def run_mocked(
    handler: Callable[[httpx.Request], httpx.Response],
    coro_fn: Callable[[Fetcher], Awaitable[T]],
    settings: FetchSettings | None = None,
) -> T:
    async def main() -> T:
        transport = httpx.MockTransport(handler)
        async with Fetcher(settings or FetchSettings(), transport=transport) as fetcher:
            return await coro_fn(fetcher)

    return asyncio.run(main())


def test_conditional_get_through_a_transport() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.headers.get("if-none-match") == GOOD_ETAG:
            return httpx.Response(304, headers={"Cache-Control": "max-age=600"})
        return httpx.Response(
            200,
            content=GOOD_FEED,
            headers={
                "Content-Type": "application/rss+xml",
                "ETag": GOOD_ETAG,
                "Last-Modified": GOOD_LAST_MODIFIED,
            },
        )

    async def twice(fetcher: Fetcher) -> tuple[FetchedFeed, FetchedFeed]:
        fresh = await fetcher.fetch(FetchRequest("feed", MOCK_URL))
        again = await fetcher.fetch(
            FetchRequest("feed", MOCK_URL, etag=fresh.etag, last_modified=fresh.last_modified)
        )
        return fresh, again

    fresh, again = run_mocked(handler, twice)
    assert fresh.error is None and fresh.status == 200 and fresh.body == GOOD_FEED
    assert fresh.etag == GOOD_ETAG and fresh.last_modified == GOOD_LAST_MODIFIED
    assert fresh.body_hash == hashlib.sha256(GOOD_FEED).hexdigest()
    assert again.not_modified and again.body is None and again.error is None
    assert again.etag == GOOD_ETAG and again.last_modified == GOOD_LAST_MODIFIED
    assert again.max_age == timedelta(minutes=10)
    first, second = (r.headers for r in seen)
    assert "if-none-match" not in first and "if-modified-since" not in first
    assert second["if-none-match"] == GOOD_ETAG
    assert second["if-modified-since"] == GOOD_LAST_MODIFIED
    assert first["user-agent"] == user_agent()  # the FetchSettings default
    assert user_agent().startswith("watcher/") and "news monitor" in user_agent()
    assert first["accept-encoding"] == "gzip, deflate"


def test_a_body_over_the_cap_is_refused_while_streaming_through_a_transport() -> None:
    sent: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:  # no Content-Length: only counting while streaming can stop it
            sent.append(1)
            yield b"x" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    settings = FetchSettings(max_body_bytes=64 * 1024)
    result = run_mocked(handler, lambda f: f.fetch(FetchRequest("feed", MOCK_URL)), settings)
    assert str(result.error) == "body larger than 64 KB"
    assert result.error is not None and result.error.kind == "too_large"
    assert result.status == 200 and result.body is None
    assert len(sent) == 65  # stopped at the first chunk past the cap


def test_redirects_are_followed_across_hosts_through_a_transport() -> None:
    hops = {
        "http://old.invalid/feed": (301, "http://new.invalid/feed"),
        "http://new.invalid/feed": (302, "/today.xml"),
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        if str(request.url) in hops:
            status, location = hops[str(request.url)]
            return httpx.Response(status, headers={"Location": location})
        return httpx.Response(200, content=GOOD_FEED)

    result = run_mocked(handler, lambda f: f.fetch(FetchRequest("feed", "http://old.invalid/feed")))
    assert result.error is None and result.body == GOOD_FEED
    assert result.final_url == "http://new.invalid/today.xml"
    assert result.permanent_url == "http://new.invalid/feed"  # up to the first temporary hop
    assert seen == ["http://old.invalid/feed", "http://new.invalid/feed", result.final_url]


def test_the_fetcher_never_closes_the_callers_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("watcher.fetch.KEEPALIVE_EXPIRY", 0.0)  # every idle client is closed
    closed: list[bool] = []

    class Recording(httpx.MockTransport):
        async def aclose(self) -> None:
            closed.append(True)

    transport = Recording(lambda request: httpx.Response(200, content=GOOD_FEED))

    async def main() -> list[FetchedFeed]:
        async with Fetcher(FetchSettings(), transport=transport) as fetcher:
            return [
                await fetcher.fetch(FetchRequest(host, f"http://{host}.invalid/feed"))
                for host in ("a", "b", "a")
            ]

    results = asyncio.run(main())
    assert [r.body for r in results] == [GOOD_FEED] * 3
    assert closed == []


def test_compressed_bodies_are_inflated_under_the_cap_through_a_transport() -> None:
    zipped = gzip.compress(GOOD_FEED)

    def handler(request: httpx.Request) -> httpx.Response:
        # Built with content=, httpx reads (and inflates) it at once; the fetcher
        # must still get the raw bytes and inflate them itself, under its cap.
        return httpx.Response(200, content=zipped, headers={"Content-Encoding": "gzip"})

    def fetch(settings: FetchSettings) -> FetchedFeed:
        return run_mocked(handler, lambda f: f.fetch(FetchRequest("feed", MOCK_URL)), settings)

    fits = fetch(FetchSettings(max_body_bytes=len(zipped), max_decoded_bytes=len(GOOD_FEED)))
    assert fits.error is None and fits.body == GOOD_FEED
    assert fits.body_hash == hashlib.sha256(GOOD_FEED).hexdigest()
    over = fetch(FetchSettings(max_decoded_bytes=len(GOOD_FEED) - 1))
    assert str(over.error).endswith("when decompressed")


# ---------------------------------------------------------------- the network guard

# Names resolve through this table only: no test asks a real resolver, and a refused
# address is never connected to (the refusals below happen before any request).
GUARD_NAMES = {
    "public.test": ["93.184.216.34"],
    "intranet.test": ["10.0.0.5"],
    "wiki.intranet.test": ["10.9.9.9"],
    "home.test": ["192.168.1.10"],
    "evil.test": ["127.0.0.2"],
    "metadata.test": ["169.254.169.254"],
}
PUBLIC_FEED = "http://public.test/feed"
INTRANET_FEED = "http://intranet.test/feed"


class FakeResolver:
    def __init__(self, names: dict[str, list[str]]) -> None:
        self.names = names
        self.asked: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.asked.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.names[host])


def run_guarded(
    handler: Callable[[httpx.Request], httpx.Response],
    requests: list[FetchRequest],
    settings: FetchSettings | None = None,
) -> list[FetchedFeed]:
    async def main() -> list[FetchedFeed]:
        transport = httpx.MockTransport(handler)
        resolver = FakeResolver(GUARD_NAMES)
        async with Fetcher(
            settings or FetchSettings(), transport=transport, resolver=resolver
        ) as fetcher:
            return [await fetcher.fetch(request) for request in requests]

    return asyncio.run(main())


def serve_all(seen: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=GOOD_FEED)

    return handler


def link(url: str, origin: str = PUBLIC_FEED) -> FetchRequest:
    """A URL that the feed configured at ``origin`` supplied (an article, a child sitemap...)."""
    return FetchRequest("feed", url, origin=origin)


@pytest.mark.parametrize(
    ("url", "where"),
    [
        ("http://intranet.test/wiki", "intranet.test is 10.0.0.5, a private address"),
        ("http://evil.test/admin", "evil.test is 127.0.0.2, a loopback address"),
        ("http://metadata.test/", "metadata.test is 169.254.169.254, a cloud metadata address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
        ("http://[::1]:8080/", "::1, a loopback address"),
        ("http://[fd00::1]/", "fd00::1, a unique-local address"),
        ("http://[::ffff:192.168.0.1]/", "::ffff:192.168.0.1, a private address"),
        ("http://100.64.0.1/", "100.64.0.1, a shared (carrier-grade NAT) address"),
        ("http://0.0.0.0:8080/", "0.0.0.0, an unspecified address"),
    ],
)
def test_a_link_into_the_local_network_is_refused_before_any_request(url: str, where: str) -> None:
    seen: list[str] = []
    (result,) = run_guarded(serve_all(seen), [link(url)])
    assert seen == []  # the transport was never asked
    assert result.error is not None and result.error.kind == "blocked"
    assert str(result.error) == (
        f"refused: {where}, which a link from a feed may not reach"
        " (fetch.allow_private: true allows it)"
    )
    assert result.status is None and result.body is None


def test_a_redirect_from_the_configured_url_into_the_local_network_is_refused() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "http://intranet.test/secret"})

    (result,) = run_guarded(handler, [FetchRequest("feed", PUBLIC_FEED)])
    assert seen == [PUBLIC_FEED]  # the configured URL itself, then nothing
    assert result.error is not None and result.error.kind == "blocked"
    assert str(result.error).startswith(
        "refused the redirect to http://intranet.test/secret: intranet.test is 10.0.0.5,"
        " a private address"
    )
    assert result.status == 302 and result.final_url == "http://intranet.test/secret"


def test_a_redirect_hop_is_not_trusted_even_when_it_leaves_the_configured_url() -> None:
    hops = {
        PUBLIC_FEED: "http://public.test/moved",
        "http://public.test/moved": "http://169.254.169.254/latest/meta-data/",
    }
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(301, headers={"Location": hops[str(request.url)]})

    (result,) = run_guarded(handler, [FetchRequest("feed", PUBLIC_FEED)])
    assert seen == list(hops)
    assert result.error is not None and "cloud metadata" in str(result.error)


def test_a_stored_redirect_or_discovered_url_is_checked_like_a_link() -> None:
    """The pipeline polls a remembered target with the configured URL as its origin."""
    seen: list[str] = []
    (result,) = run_guarded(
        serve_all(seen), [FetchRequest("feed", INTRANET_FEED, origin=PUBLIC_FEED)]
    )
    assert seen == [] and result.error is not None and result.error.kind == "blocked"


def test_a_configured_url_may_be_private_and_its_links_may_stay_in_its_network() -> None:
    seen: list[str] = []
    results = run_guarded(
        serve_all(seen),
        [
            FetchRequest("intra", INTRANET_FEED),  # what the user wrote: always allowed
            link("http://wiki.intranet.test/page", origin=INTRANET_FEED),  # 10.0.0.0/8 too
            link("http://10.200.0.1/page", origin=INTRANET_FEED),
            link("http://home.test/router", origin=INTRANET_FEED),  # 192.168.0.0/16: not
            link("http://evil.test/", origin=INTRANET_FEED),  # loopback: not
        ],
    )
    assert [r.error is None for r in results] == [True, True, True, False, False]
    assert seen == [INTRANET_FEED, "http://wiki.intranet.test/page", "http://10.200.0.1/page"]
    assert "192.168.1.10, a private address" in str(results[3].error)


def test_allow_private_lets_links_and_redirects_reach_private_addresses() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "public.test":
            return httpx.Response(302, headers={"Location": "http://intranet.test/feed"})
        return httpx.Response(200, content=GOOD_FEED)

    settings = FetchSettings(allow_private=True)
    redirected, linked = run_guarded(
        handler, [FetchRequest("feed", PUBLIC_FEED), link("http://metadata.test/")], settings
    )
    assert redirected.error is None and redirected.final_url == "http://intranet.test/feed"
    assert linked.error is None and linked.body == GOOD_FEED


def test_a_host_that_does_not_resolve_is_a_connect_error() -> None:
    seen: list[str] = []
    (result,) = run_guarded(serve_all(seen), [link("http://nowhere.test/a")])
    assert seen == [] and result.error is not None
    assert (str(result.error), result.error.kind) == (
        "could not resolve host nowhere.test",
        "connect",
    )


class ConnectSpy:
    """Records every address the real network backend is asked to connect to; connects
    (for real) only to loopback addresses, so no test ever leaves 127.0.0.0/8."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.asked: list[tuple[str, int]] = []
        original = httpcore.AnyIOBackend.connect_tcp
        spy = self

        async def connect_tcp(
            self: httpcore.AnyIOBackend, host: str, port: int, **kwargs: object
        ) -> httpcore.AsyncNetworkStream:
            spy.asked.append((host, port))
            if not host.startswith("127."):
                raise httpcore.ConnectError(f"the test refuses to leave loopback ({host})")
            return await original(self, host, port, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)


def run_network(
    requests: list[FetchRequest], names: dict[str, list[str]] | FakeResolver
) -> list[FetchedFeed]:
    resolver = names if isinstance(names, FakeResolver) else FakeResolver(names)

    async def main() -> list[FetchedFeed]:
        async with Fetcher(FetchSettings(deadline=5), resolver=resolver) as fetcher:
            return [await fetcher.fetch(request) for request in requests]

    return asyncio.run(main())


def test_the_connection_goes_to_the_checked_address_under_the_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = ConnectSpy(monkeypatch)
    with HTTPServer() as server:
        server.add("/feed.xml", GOOD_FEED)
        url = f"http://news.test:{server.port}/feed.xml"
        (result,) = run_network([FetchRequest("feed", url)], {"news.test": ["127.0.0.1"]})
        assert result.error is None and result.body == GOOD_FEED
        assert spy.asked == [("127.0.0.1", server.port)]  # the address checked, not the name
        (seen,) = server.hits("/feed.xml")
        assert seen.headers["host"] == f"news.test:{server.port}"


def test_a_name_is_resolved_once_so_a_rebinding_answer_is_never_connected_to(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Rebinding(FakeResolver):
        async def resolve(self, host: str) -> list[str]:
            self.asked.append(host)
            # Public when checked; loopback for whoever would ask again to connect.
            return ["93.184.216.34"] if len(self.asked) == 1 else ["127.0.0.1"]

    spy = ConnectSpy(monkeypatch)
    resolver = Rebinding({})
    (result,) = run_network([link("http://rebind.test:8080/admin")], resolver)
    assert resolver.asked == ["rebind.test"]
    assert spy.asked == [("93.184.216.34", 8080)]  # refused by the spy: no socket opened
    assert result.error is not None and result.error.kind == "connect"


def test_a_connection_kept_alive_for_the_configured_url_is_not_lent_to_a_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Clients are per host: a link to the host of another feed's (trusted) configured URL
    must be checked, not sent down the connection that URL left open."""
    spy = ConnectSpy(monkeypatch)
    with HTTPServer() as server:
        server.add("/feed.xml", GOOD_FEED)
        server.add("/secret", b"internal")
        base = f"http://intra.test:{server.port}"
        configured, linked, near = run_network(
            [
                FetchRequest("intra", f"{base}/feed.xml"),
                link(f"{base}/secret"),  # from the public feed
                link(f"{base}/secret", origin="http://127.0.0.1/feed"),  # from a loopback feed
            ],
            {"intra.test": ["127.0.0.1"], **GUARD_NAMES},
        )
        assert configured.error is None
        assert linked.error is not None and linked.error.kind == "blocked"
        assert "intra.test is 127.0.0.1, a loopback address" in str(linked.error)
        assert near.error is None and near.body == b"internal"  # the same range: allowed
        assert len(server.hits("/secret")) == 1
        assert spy.asked == [("127.0.0.1", server.port)]  # one connection, kept alive


def test_the_proxy_the_user_configured_is_a_trusted_hop(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ConnectSpy(monkeypatch)
    for name in ("ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    with HTTPServer() as proxy:
        proxy.add(PUBLIC_FEED, GOOD_FEED)  # a forward proxy is asked for the absolute URL
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("http_proxy", raising=False)
        feed, internal = run_network(
            [FetchRequest("feed", PUBLIC_FEED), link("http://intranet.test/secret")],
            GUARD_NAMES,
        )
        assert feed.error is None and feed.body == GOOD_FEED
        assert len(proxy.hits(PUBLIC_FEED)) == 1
        assert internal.error is not None and internal.error.kind == "blocked"
        assert len(proxy.requests) == 1  # the refused link never reached the proxy
        assert spy.asked == [("127.0.0.1", proxy.port)]  # loopback, yet allowed: the proxy
