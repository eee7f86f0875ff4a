"""Parse stage: feed bytes in, ``ParsedFeed`` out.  Pure: feedparser is only ever given bytes."""

from __future__ import annotations

import calendar
import json
import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

import feedparser
from lxml import etree

from watcher.core.dates import iso_datetime
from watcher.core.errors import FeedError
from watcher.core.models import ParsedFeed, Story
from watcher.core.sitemap import SAFE_XML
from watcher.core.sniff import parser_headers

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
_NEWS_NS = "{http://www.google.com/schemas/sitemap-news/0.9}"
# Complaints feedparser makes that say nothing about the feed itself.
_HARMLESS = ("CharacterEncodingOverride", "NonXMLContentType")


def parse_feed(feed: str, body: bytes, *, content_type: str | None, url: str) -> ParsedFeed:
    """Read every story the body holds: RSS, Atom, RDF, JSON Feed or a sitemap.

    A malformed feed still yields what could be recovered, with ``problem`` set;
    a body with no feed in it at all is a ``FeedError``.
    """
    head = body[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"{"):
        return _parse_json_feed(feed, body)
    if b"<urlset" in body[:2048]:
        return _parse_sitemap(feed, body)
    # watcher never shows feed HTML (it is stripped to text, and every output
    # escapes it), so feedparser's sanitising and link rewriting, half of its
    # time, would be wasted.  Nor is it given the feed's URL as a base: it would
    # then check a base URI at every element (a fifth of its time); the one link
    # watcher uses is resolved against the URL below instead.
    parsed: Any = feedparser.parse(
        body,
        response_headers=parser_headers(content_type),
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    problem = _problem(parsed)
    if not parsed.get("version") and not parsed.entries:
        raise FeedError(f"not a feed: {problem or 'no RSS, Atom or RDF document found'}")
    stories = tuple(_story(feed, entry, url) for entry in parsed.entries)
    title = str(parsed.feed.get("title", "") or "")
    return ParsedFeed(title=title, stories=stories, problem=problem)


def _problem(parsed: Any) -> str | None:
    if not parsed.get("bozo"):
        return None
    exc = parsed.get("bozo_exception")
    name = type(exc).__name__ if exc is not None else "error"
    if name in _HARMLESS:
        return None
    return f"malformed feed ({name}: {exc})"


def _story(feed: str, entry: Any, base: str) -> Story:
    content = " ".join(
        str(part.get("value", "")) for part in entry.get("content", []) if part.get("value")
    )
    summary = str(entry.get("summary", "") or "")
    if content and summary and content.strip() == summary.strip():
        summary = ""
    categories = tuple(
        str(tag.get("term") or tag.get("label") or "")
        for tag in entry.get("tags", [])
        if tag.get("term") or tag.get("label")
    )
    return Story(
        feed=feed,
        guid=_text(entry.get("id")),
        link=_absolute(_text(entry.get("link")), base),
        title=str(entry.get("title", "") or ""),
        summary=summary,
        content=content,
        author=str(entry.get("author", "") or ""),
        categories=categories,
        published=_date(entry.get("published_parsed") or entry.get("updated_parsed")),
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _absolute(link: str | None, base: str) -> str | None:
    """A relative link (``/news/1``, or relative to an ``xml:base``) joined to the feed URL."""
    if link is None or not base or _SCHEME.match(link):
        return link
    try:
        return urljoin(base, link) or None
    except ValueError:  # a malformed URL (an unclosed IPv6 bracket): kept as written
        return link


def _date(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _parse_json_feed(feed: str, body: bytes) -> ParsedFeed:
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise FeedError(f"not a feed: invalid JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("items"), list):
        raise FeedError("not a feed: JSON without a JSON Feed 'items' list")
    stories = []
    for item in document["items"]:
        if not isinstance(item, dict):
            continue
        authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
        author = ", ".join(str(a.get("name", "")) for a in authors if isinstance(a, dict))
        stories.append(
            Story(
                feed=feed,
                guid=_text(item.get("id")),
                link=_text(item.get("url") or item.get("external_url")),
                title=str(item.get("title") or ""),
                summary=str(item.get("summary") or ""),
                content=str(item.get("content_html") or item.get("content_text") or ""),
                author=author,
                categories=tuple(str(t) for t in item.get("tags") or ()),
                published=iso_datetime(item.get("date_published") or item.get("date_modified")),
            )
        )
    return ParsedFeed(title=str(document.get("title") or ""), stories=tuple(stories))


def _parse_sitemap(feed: str, body: bytes) -> ParsedFeed:
    try:
        root = etree.fromstring(body, SAFE_XML)
    except etree.XMLSyntaxError as exc:
        raise FeedError(f"not a feed: unreadable sitemap ({exc})") from None
    if root is None:
        raise FeedError("not a feed: empty sitemap")
    stories = []
    for url in root.iter(f"{_SITEMAP_NS}url"):
        loc = (url.findtext(f"{_SITEMAP_NS}loc") or "").strip()
        if not loc:
            continue
        news = url.find(f"{_NEWS_NS}news")
        title = (news.findtext(f"{_NEWS_NS}title") if news is not None else None) or ""
        date = news.findtext(f"{_NEWS_NS}publication_date") if news is not None else None
        keywords = news.findtext(f"{_NEWS_NS}keywords") if news is not None else None
        stories.append(
            Story(
                feed=feed,
                guid=None,
                link=loc,
                title=title.strip(),
                categories=tuple(k.strip() for k in (keywords or "").split(",") if k.strip()),
                published=iso_datetime(date or url.findtext(f"{_SITEMAP_NS}lastmod")),
            )
        )
    return ParsedFeed(title="", stories=tuple(stories))
