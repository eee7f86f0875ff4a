"""A loopback server with one route per way real feeds fail.

Built on ``HTTPServer``; the misbehaving routes write raw responses so they can
do what no well-behaved server would (drip, lie about lengths, hang, bomb).
Large bodies are generated as they are sent, never held in memory.
"""

from __future__ import annotations

import functools
import struct
import threading
import time
import zlib
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler

from tests.support.httpserver import HTTPServer, Route

MB = 1024 * 1024

GOOD_FEED = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<rss version="2.0"><channel><title>Good</title><link>http://example.org/</link>'
    b"<item><title>First story</title><link>http://example.org/1</link><guid>1</guid></item>"
    b"</channel></rss>"
)
GOOD_ETAG = '"good-v1"'
GOOD_LAST_MODIFIED = "Tue, 25 Nov 2025 10:00:00 GMT"

# Curly quotes and a non-ASCII letter, sent as windows-1252 bytes under a UTF-8 label.
CP1252_TITLE = "Türkiye “votes” — live"
CP1252_FEED = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<rss version="2.0"><channel><title>Mislabelled</title>'
    f"<item><title>{CP1252_TITLE}</title><guid>1</guid></item></channel></rss>"
).encode("cp1252")

TRUNCATED_FEED = GOOD_FEED.replace(b"</channel></rss>", b"<item><title>Sec")

HTML_ADVERTISING = (
    b"<!DOCTYPE html><html><head><title>Oops</title>"
    b'<link rel="stylesheet" href="/style.css">'
    b'<link rel="alternate" type="application/rss+xml" title="News" href="/feeds/news.xml">'
    b"</head><body><h1>We moved things around</h1></body></html>"
)
HTML_PLAIN = b"<!DOCTYPE html><html><head><title>Error</title></head><body>Oops</body></html>"


def billion_laughs(padding: int = 0) -> bytes:
    """The classic entity bomb, optionally after ``padding`` bytes of comment.

    Padding matters: expat only stops an expansion at 100x the input read so far.
    """
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol%s;" % ("" if i == 1 else i - 1)) * 10}">' for i in range(1, 10)
    )
    return (
        f'<?xml version="1.0"?><!-- {"x" * padding} --><!DOCTYPE rss [{entities}]>'
        '<rss version="2.0"><channel><title>&lol9;</title>'
        "<item><title>&lol9;</title></item></channel></rss>"
    ).encode()


@functools.cache
def gzip_bomb(gigabytes: int = 2) -> bytes:
    """A valid gzip of ``gigabytes`` GiB of zeros in about 1 MB per GiB, built in well under 1 s.

    After a full flush deflate restarts from an empty window, so the blocks for
    each 16 MiB of zeros are identical and can simply be repeated.
    """
    zeros = bytes(16 * MB)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = deflate.compress(zeros) + deflate.flush(zlib.Z_FULL_FLUSH)
    final = deflate.flush()
    count = gigabytes * 64
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(zeros, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, (count * len(zeros)) & 0xFFFFFFFF)
    return header + block * count + final + trailer


def _headers(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str]) -> None:
    h.send_response(status)
    for name, value in headers.items():
        h.send_header(name, value)
    h.end_headers()


class FaultServer:
    """``with FaultServer() as srv: srv.url("/timeout")``; see ``ROUTES`` for what each does."""

    ROUTES = (
        "/good",
        "/etag",
        "/timeout",
        "/drip",
        "/500",
        "/429",
        "/503",
        "/huge",
        "/huge-unannounced",
        "/gzip-bomb",
        "/html-advertising",
        "/html-plain",
        "/loop-a",
        "/moved",
        "/temporary",
        "/cp1252",
        "/truncated-xml",
        "/cut",
        "/hang-up",
        "/billion-laughs",
    )

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.http = HTTPServer(host)
        self.stopping = threading.Event()
        rss = {"Content-Type": "application/rss+xml; charset=utf-8"}
        html = {"Content-Type": "text/html; charset=utf-8"}
        add = self.http.add
        add("/good", GOOD_FEED, headers={**rss, "ETag": GOOD_ETAG})
        add("/etag", handler=self._conditional)
        add("/timeout", handler=self._hang)
        add("/drip", handler=self._drip)
        add("/500", b"<html><body>Internal Server Error</body></html>", status=500, headers=html)
        add("/429", b"slow down", status=429, headers={"Retry-After": "120"})
        add("/503", b"maintenance", status=503, headers={"Retry-After": self._in_an_hour()})
        add("/huge", handler=functools.partial(self._huge, announce=True))
        add("/huge-unannounced", handler=functools.partial(self._huge, announce=False))
        add("/gzip-bomb", handler=self._bomb)
        add("/html-advertising", HTML_ADVERTISING, headers=html)
        add("/html-plain", HTML_PLAIN, headers=html)
        add("/loop-a", status=302, headers={"Location": "/loop-b"})
        add("/loop-b", status=302, headers={"Location": "/loop-a"})
        add("/moved", status=301, headers={"Location": "/moved-again"})
        add("/moved-again", status=308, headers={"Location": self.http.url("/good")})
        add("/temporary", status=302, headers={"Location": "/good"})
        add("/cp1252", CP1252_FEED, headers=rss)
        add("/truncated-xml", TRUNCATED_FEED, headers=rss)
        add("/cut", handler=self._cut)
        add("/hang-up", handler=self._hang_up)
        add("/billion-laughs", billion_laughs(), headers=rss)

    @staticmethod
    def _in_an_hour() -> str:
        return format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)

    def url(self, path: str) -> str:
        return self.http.url(path)

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return [(r.path, r.headers) for r in self.http.requests]

    def __enter__(self) -> FaultServer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()  # releases handlers that hang or drip
        self.http.__exit__(*exc)

    # ------------------------------------------------------------ handlers

    def _conditional(self, h: BaseHTTPRequestHandler) -> None:
        validators = {"ETag": GOOD_ETAG, "Last-Modified": GOOD_LAST_MODIFIED}
        if h.headers.get("If-None-Match") == GOOD_ETAG:
            _headers(h, 304, {**validators, "Cache-Control": "max-age=7200"})
            return
        _headers(
            h,
            200,
            {
                **validators,
                "Content-Type": "application/rss+xml; charset=utf-8",
                "Content-Length": str(len(GOOD_FEED)),
                "Cache-Control": "public, max-age=7200",
            },
        )
        h.wfile.write(GOOD_FEED)

    def _hang(self, h: BaseHTTPRequestHandler) -> None:
        self.stopping.wait(120)
        h.close_connection = True

    def _drip(self, h: BaseHTTPRequestHandler) -> None:
        _headers(h, 200, {"Content-Type": "application/rss+xml", "Content-Length": "100000"})
        h.close_connection = True
        try:
            while not self.stopping.is_set():
                h.wfile.write(b" ")
                h.wfile.flush()
                self.stopping.wait(1.0)
        except OSError:
            return

    def _huge(self, h: BaseHTTPRequestHandler, *, announce: bool) -> None:
        """200 MB of a valid-looking feed, made up chunk by chunk as it is sent."""
        size = 200 * MB
        headers = {"Content-Type": "application/rss+xml"}
        if announce:
            headers["Content-Length"] = str(size)
        _headers(h, 200, headers)
        h.close_connection = True
        chunk = b"<item><title>padding</title></item>" * 1800  # ~64 KB
        sent = 0
        try:
            while sent < size and not self.stopping.is_set():
                h.wfile.write(chunk)
                sent += len(chunk)
        except OSError:
            return

    def _bomb(self, h: BaseHTTPRequestHandler) -> None:
        body = gzip_bomb()
        _headers(
            h,
            200,
            {
                "Content-Type": "application/rss+xml",
                "Content-Encoding": "gzip",
                "Content-Length": str(len(body)),
            },
        )
        try:
            h.wfile.write(body)
        except OSError:
            return

    def _cut(self, h: BaseHTTPRequestHandler) -> None:
        """Promise 5000 bytes, send 100, hang up."""
        _headers(h, 200, {"Content-Type": "application/rss+xml", "Content-Length": "5000"})
        h.wfile.write(GOOD_FEED[:100])
        h.wfile.flush()
        h.close_connection = True

    @staticmethod
    def _hang_up(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True  # read the request, answer nothing


class ConcurrencyProbe:
    """Routes that record how many requests each host had in flight at once."""

    def __init__(self, hosts: tuple[str, ...], hold: float = 0.2) -> None:
        self.servers = {host: HTTPServer(host) for host in hosts}
        self.hold = hold
        self._lock = threading.Lock()
        self.current: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = defaultdict(int)
        self.peak_total = 0
        for host, server in self.servers.items():
            server.routes["/feed"] = Route(handler=functools.partial(self._serve, host))

    def url(self, host: str, n: int) -> str:
        return self.servers[host].url(f"/feed?n={n}")

    def _serve(self, host: str, h: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.current[host] += 1
            self.peak[host] = max(self.peak[host], self.current[host])
            self.peak_total = max(self.peak_total, sum(self.current.values()))
        try:
            time.sleep(self.hold)
        finally:
            # Counted out before a byte is sent: once the client has the body it frees
            # its slot, and the next request must not find this one still counted.
            with self._lock:
                self.current[host] -= 1
        _headers(
            h,
            200,
            {"Content-Type": "application/rss+xml", "Content-Length": str(len(GOOD_FEED))},
        )
        h.wfile.write(GOOD_FEED)

    def __enter__(self) -> ConcurrencyProbe:
        for server in self.servers.values():
            server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.__exit__(*exc)
