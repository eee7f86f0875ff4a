"""Alerts as an Atom 1.0 feed (RFC 4287), from plain values to bytes; and HTTP's
conditional-request rules for it (RFC 9110, section 13).

Every piece of text reaches the document as element text or as an attribute
value, which lxml escapes (``<`` as ``&lt;``, ``&`` as ``&amp;``, quotes in
attributes): nothing a feed supplies is ever parsed as markup.  Characters
XML 1.0 cannot carry at all (NUL, most C0 controls, lone surrogates, U+FFFE
and U+FFFF) are dropped first, so a hostile title cannot make the document
unreadable either.  Links other than ``http(s)://`` (``javascript:``,
``data:``) are left out: a reader would make them clickable.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from lxml import etree

ATOM_NS = "http://www.w3.org/2005/Atom"
MEDIA_TYPE = "application/atom+xml"
RULE_SCHEME = "urn:watcher:rule"
# The namespace of the entries' and feeds' UUIDs (a fixed, random one: ids stay stable).
_IDS = uuid.UUID("5b1f7d0e-5a4f-4c0e-9d2e-7f3b8c1a6e42")
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_SAFE_LINK = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_ENTITY_TAG = re.compile(r'(?:W/)?"[^"]*"|\*')
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One alert, as its entry shows it."""

    alert_id: int
    once_key: str
    rule: str
    cluster_id: int
    title: str
    link: str | None
    outlets: tuple[str, ...]  # the feed that alerted first, then the others of its cluster
    snippet: str
    created: datetime  # when the alert was made
    published: datetime | None = None  # the story's own date, when its feed gave one
    updated: datetime | None = None  # the last change (an outlet joining); default: created


@dataclass(frozen=True, slots=True)
class RenderedFeed:
    """A feed document and the validators of its HTTP response."""

    body: bytes
    etag: str  # a strong entity tag, quoted: a digest of the body
    last_modified: datetime | None  # the newest entry's update (None: no entries)


def xml_text(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot represent, even escaped."""
    return _NOT_XML.sub("", text)


def rfc3339(moment: datetime) -> str:
    """An Atom date: RFC 3339 in UTC, to the second (naive values are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_link(link: str | None) -> str | None:
    """An ``http(s)`` link a reader may follow, or None."""
    if not link:
        return None
    link = xml_text(link.strip())
    return link if _SAFE_LINK.fullmatch(link) else None


def entry_id(entry: FeedEntry) -> str:
    """Stable for the alert (its row, once-key and time never change) and unique even
    across databases: a new database that hands out the same row ids and cluster
    numbers again still gives new ids, so a reader never takes a new alert for a seen one."""
    seed = f"alert\x1f{entry.alert_id}\x1f{entry.once_key}\x1f{rfc3339(entry.created)}"
    return f"urn:uuid:{uuid.uuid5(_IDS, seed)}"


def feed_id(instance: str, scope: str) -> str:
    """The id of one feed (``scope``: "" for all alerts, else the rule) of one watcher."""
    seed = f"feed\x1f{instance}\x1f{scope}"
    return f"urn:uuid:{uuid.uuid5(_IDS, seed)}"


def render_feed(
    entries: Sequence[FeedEntry],
    *,
    iri: str,
    title: str,
    self_href: str,
    empty_updated: datetime = EPOCH,
    generator: str = "watcher",
) -> RenderedFeed:
    """The Atom document of ``entries``, newest alert first; ``iri`` is the feed's id.

    ``empty_updated`` is the feed's ``updated`` while it has no entries (a fixed
    time, so an empty feed still answers 304 to a repeat).
    """
    ordered = sorted(entries, key=lambda e: (_utc(e.created), e.alert_id), reverse=True)
    newest = max((_updated(e) for e in ordered), default=None)
    feed = etree.Element(_atom("feed"), nsmap={None: ATOM_NS})
    _text(feed, "id", iri)
    _text(feed, "title", title, type="text")
    _text(feed, "updated", rfc3339(newest or empty_updated))
    author = etree.SubElement(feed, _atom("author"))
    _text(author, "name", generator)
    _text(feed, "generator", generator)
    link = safe_link(self_href)
    if link:
        etree.SubElement(feed, _atom("link"), rel="self", type=MEDIA_TYPE, href=link)
    for entry in ordered:
        _entry(feed, entry)
    body = etree.tostring(feed, xml_declaration=True, encoding="utf-8", pretty_print=True)
    return RenderedFeed(
        body=body,
        etag='"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        last_modified=newest,
    )


def not_modified(
    etag: str,
    last_modified: datetime | None,
    if_none_match: str | None,
    if_modified_since: str | None,
) -> bool:
    """Whether a GET or HEAD with these headers gets ``304 Not Modified``.

    If-None-Match wins when present (weak comparison, ``*`` matches);
    If-Modified-Since counts only without it, to the second, and an unreadable
    date is ignored, as RFC 9110 says.
    """
    if if_none_match is not None:
        wanted = _opaque(etag)
        return any(
            tag == "*" or _opaque(tag) == wanted for tag in _ENTITY_TAG.findall(if_none_match)
        )
    if not if_modified_since or last_modified is None:
        return False
    try:
        since = parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return _utc(last_modified).replace(microsecond=0) <= since


# -- building ---------------------------------------------------------------------------------


def _entry(feed: etree._Element, entry: FeedEntry) -> None:
    node = etree.SubElement(feed, _atom("entry"))
    _text(node, "id", entry_id(entry))
    _text(node, "title", xml_text(entry.title).strip() or "(untitled)", type="text")
    link = safe_link(entry.link)
    if link:
        etree.SubElement(node, _atom("link"), rel="alternate", type="text/html", href=link)
    _text(node, "published", rfc3339(entry.published or entry.created))
    _text(node, "updated", rfc3339(_updated(entry)))
    for outlet in entry.outlets:
        author = etree.SubElement(node, _atom("author"))
        _text(author, "name", xml_text(outlet))
    etree.SubElement(
        node, _atom("category"), term=xml_text(entry.rule), scheme=RULE_SCHEME,
        label=xml_text(f"rule: {entry.rule}"),
    )  # fmt: skip
    snippet = xml_text(entry.snippet).strip()
    if snippet:
        _text(node, "summary", snippet, type="text")
    lines = [
        snippet,
        "",
        f"Rule: {entry.rule}",
        f"Reported by: {', '.join(entry.outlets) or '-'}",
        f"Event (cluster): {entry.cluster_id}",
    ]
    if link:
        lines.append(f"Link: {link}")
    _text(node, "content", xml_text("\n".join(lines).strip()), type="text")


def _text(parent: etree._Element, name: str, text: str, **attributes: str) -> None:
    child = etree.SubElement(parent, _atom(name), **attributes)
    child.text = text


def _atom(name: str) -> str:
    return f"{{{ATOM_NS}}}{name}"


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _updated(entry: FeedEntry) -> datetime:
    created = _utc(entry.created)
    return max(created, _utc(entry.updated)) if entry.updated else created


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")
