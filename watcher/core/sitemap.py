"""Sitemaps beyond a single ``<urlset>``: indexes, gzip bodies and robots.txt pointers.

News sites split their sitemaps by day or by section and list the parts in a
``<sitemapindex>``; only the newest few parts carry news, so following all of
them would cost hundreds of requests for nothing.  Reading a ``<urlset>``
itself is ``watcher.core.parse``'s job.
"""

from __future__ import annotations

import re
import zlib
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from watcher.core.dates import iso_datetime
from watcher.core.errors import FeedError

_GZIP_MAGIC = b"\x1f\x8b"
_MB = 1024 * 1024
# Sitemaps and feeds may come from anywhere: never expand entities or reach the
# network.  One parser serves every caller (``watcher.core.parse`` too); lxml locks
# a parser while it parses, so threads may share it.
SAFE_XML = etree.XMLParser(resolve_entities=False, no_network=True, recover=True)
_SITEMAP_LINE = re.compile(r"^\s*sitemap\s*:\s*(\S+)", re.IGNORECASE)


def maybe_gunzip(body: bytes, limit: int) -> bytes:
    """Decompress a gzip body (as ``.xml.gz`` sitemaps are), never beyond ``limit`` bytes.

    A few kilobytes of gzip can expand to gigabytes, so the output is bounded
    while decompressing rather than checked afterwards.  Bodies that are not
    gzip (servers often decompress for us) are returned unchanged.
    """
    if not body.startswith(_GZIP_MAGIC):
        return body
    out = bytearray()
    data = body
    while data.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        pending = data
        while True:
            try:
                # max_length is at least 1 here: 0 would mean "no limit".
                chunk = inflater.decompress(pending, limit + 1 - len(out))
            except zlib.error as exc:
                raise FeedError(f"not a sitemap: corrupt gzip data ({exc})") from None
            out += chunk
            if len(out) > limit:
                raise FeedError(f"sitemap larger than {limit / _MB:.3g} MB when decompressed")
            if inflater.eof:
                break
            pending = inflater.unconsumed_tail
            if not chunk and not pending:
                raise FeedError("not a sitemap: the gzip data is truncated")
        # A gzip file may hold several members one after another; trailing junk is ignored.
        data = inflater.unused_data
    return bytes(out)


def sitemap_children(body: bytes, limit: int = 3) -> list[str]:
    """The child sitemaps of a ``<sitemapindex>`` worth fetching: the newest ``limit``.

    Newest first by ``<lastmod>``; children without a (readable) lastmod come
    after, in document order, since nothing says they are recent.  Any other
    document yields ``[]``; ``body`` must already be decompressed (``maybe_gunzip``).
    """
    if limit <= 0:
        return []
    try:
        root = etree.fromstring(body, SAFE_XML)
    except etree.XMLSyntaxError:
        return []
    if root is None or local_name(root.tag) != "sitemapindex":
        return []
    dated: list[tuple[datetime, str]] = []
    undated: list[str] = []
    seen: set[str] = set()
    for child in root:
        if local_name(child.tag) != "sitemap":
            continue
        loc = _child_text(child, "loc")
        if not loc or loc in seen or urlsplit(loc).scheme not in ("http", "https"):
            continue
        seen.add(loc)
        moment = iso_datetime(_child_text(child, "lastmod"))
        if moment is None:
            undated.append(loc)
        else:
            dated.append((moment, loc))
    # sorted() is stable, so children with the same lastmod keep document order.
    dated.sort(key=lambda pair: pair[0], reverse=True)
    return ([loc for _, loc in dated] + undated)[:limit]


def robots_sitemaps(robots_txt: str, base_url: str) -> list[str]:
    """The sitemaps a robots.txt names, as absolute http(s) URLs, in file order.

    ``Sitemap:`` lines stand outside user-agent groups, so every one counts.
    """
    found: list[str] = []
    for line in robots_txt.lstrip("\ufeff").splitlines():
        match = _SITEMAP_LINE.match(line.split("#", 1)[0])
        if match is None:
            continue
        url = urljoin(base_url, match.group(1))
        if urlsplit(url).scheme in ("http", "https") and url not in found:
            found.append(url)
    return found


def local_name(tag: object) -> str:
    """An element's name without its namespace (sitemaps and OPML come with and without one)."""
    if not isinstance(tag, str):
        return ""  # comments and processing instructions
    return tag.rsplit("}", 1)[-1]


def _child_text(element: etree._Element, name: str) -> str:
    for child in element:
        if local_name(child.tag) == name:
            # Text nodes only: an unresolved entity reference stays out of the URL.
            return "".join(str(text) for text in child.xpath("text()")).strip()
    return ""
