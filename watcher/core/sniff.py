"""What a fetched body really is, judged from its bytes rather than its label.

Servers label error pages as feeds and feeds as HTML, so the pipeline asks
here before parsing: is this a feed, an HTML page (and which feeds does it
point to), or XML whose DTD could expand without limit?
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal
from urllib.parse import urljoin, urlsplit

from watcher.core.errors import FeedError

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/feed+json"})
# Enough to get past any sane prolog or <head>; larger prefixes only cost time.
SNIFF_BYTES = 1024 * 1024
HTML_ROOTS = frozenset({"html", "head", "body", "div", "p", "meta", "title", "script", "table"})

Kind = Literal["feed", "html", "unknown"]


def _decode(body: bytes, fallback: str = "latin-1") -> str:
    """Text good enough to read markup from, whatever the encoding.

    Follows the XML spec's autodetection (BOMs, UTF-16/32 without BOM, EBCDIC);
    everything else is ASCII-compatible, where latin-1 keeps every markup byte.
    """
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32-le"),
        (codecs.BOM_UTF32_BE, "utf-32-be"),
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if body.startswith(bom):
            return body[len(bom) :].decode(codec, "replace")
    head = body[:4]
    for pattern, codec in (
        (b"\x00\x00\x00<", "utf-32-be"),
        (b"<\x00\x00\x00", "utf-32-le"),
        (b"\x00<\x00?", "utf-16-be"),
        (b"<\x00?\x00", "utf-16-le"),
        (b"\x4c\x6f\xa7\x94", "cp037"),
    ):
        if head == pattern:
            return body.decode(codec, "replace")
    return body.decode(fallback, "replace")


# ---------------------------------------------------------------- the XML prolog


@dataclass
class _Entity:
    name: str
    parameter: bool
    value: str | None  # None for external entities
    external: bool


@dataclass
class _Prolog:
    doctype: str | None = None
    root: str | None = None
    entities: list[_Entity] = field(default_factory=list)
    malformed: bool = False  # stopped before a root element was found


_NAME = re.compile(r"[^\s<>\[\]\"'/=%;]+")
_SPACE = re.compile(r"\s*")
_ENTITY_DECL = re.compile(r"<!ENTITY", re.IGNORECASE)
_CHAR_REF = re.compile(r"&#(?:\d+|x[0-9a-fA-F]+);")


def _name_start(char: str) -> bool:
    return char.isalpha() or char in ("_", ":")


class _Malformed(Exception):
    pass


class _Scanner:
    """Reads the prolog (declarations, comments, DOCTYPE) up to the root element."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0

    def space(self) -> None:
        m = _SPACE.match(self.text, self.i)
        assert m is not None
        self.i = m.end()

    def starts(self, token: str) -> bool:
        return self.text[self.i : self.i + len(token)].upper() == token.upper()

    def skip_past(self, token: str) -> None:
        end = self.text.find(token, self.i)
        if end < 0:
            raise _Malformed
        self.i = end + len(token)

    def name(self) -> str:
        m = _NAME.match(self.text, self.i)
        if m is None:
            raise _Malformed
        self.i = m.end()
        return m.group()

    def quoted(self) -> str:
        quote = self.text[self.i : self.i + 1]
        if quote not in ("'", '"'):
            raise _Malformed
        end = self.text.find(quote, self.i + 1)
        if end < 0:
            raise _Malformed
        value = self.text[self.i + 1 : end]
        self.i = end + 1
        return value

    def scan(self) -> _Prolog:
        prolog = _Prolog()
        try:
            while True:
                self.space()
                if self.starts("<?"):
                    self.skip_past("?>")
                elif self.starts("<!--"):
                    self.skip_past("-->")
                elif self.starts("<!DOCTYPE"):
                    self.i += len("<!DOCTYPE")
                    self.space()
                    prolog.doctype = self.name().lower()
                    self.doctype_rest(prolog)
                elif self.starts("<") and _name_start(self.text[self.i + 1 : self.i + 2]):
                    self.i += 1
                    prolog.root = self.name().lower()
                    return prolog
                else:
                    raise _Malformed
        except _Malformed:
            prolog.malformed = True
            return prolog

    def doctype_rest(self, prolog: _Prolog) -> None:
        while True:
            self.space()
            char = self.text[self.i : self.i + 1]
            if char == ">":
                self.i += 1
                return
            if char in ("'", '"'):
                self.quoted()
            elif char == "[":
                self.i += 1
                self.internal_subset(prolog)
            elif char:
                self.name()  # SYSTEM / PUBLIC
            else:
                raise _Malformed

    def internal_subset(self, prolog: _Prolog) -> None:
        while True:
            self.space()
            if self.starts("]"):
                self.i += 1
                return
            if self.starts("<!--"):
                self.skip_past("-->")
            elif self.starts("<?"):
                self.skip_past("?>")
            elif self.starts("%"):
                self.i += 1
                self.name()
                if not self.starts(";"):
                    raise _Malformed
                self.i += 1
            elif self.starts("<!ENTITY"):
                self.i += len("<!ENTITY")
                prolog.entities.append(self.entity())
            elif self.starts("<!"):
                self.declaration()
            else:
                raise _Malformed

    def entity(self) -> _Entity:
        self.space()
        parameter = self.starts("%")
        if parameter:
            self.i += 1
            self.space()
        name = self.name()
        self.space()
        if self.starts("'") or self.starts('"'):
            entity = _Entity(name, parameter, self.quoted(), external=False)
        else:
            entity = _Entity(name, parameter, None, external=True)
        self.declaration()
        return entity

    def declaration(self) -> None:
        """Skip to the ``>`` closing a markup declaration, stepping over quoted literals."""
        while True:
            char = self.text[self.i : self.i + 1]
            if not char:
                raise _Malformed
            if char in ("'", '"'):
                self.quoted()
            else:
                self.i += 1
                if char == ">":
                    return


def _safe_entity(entity: _Entity) -> bool:
    """Only entities that stand for at most one character cannot amplify the input."""
    if entity.parameter or entity.external or entity.value is None:
        return False
    value = entity.value
    if _CHAR_REF.fullmatch(value):
        return True
    return len(value) <= 1 and value not in ("&", "%", "<")


def has_dangerous_dtd(body: bytes) -> bool:
    """True when the body declares XML entities that could expand out of proportion.

    feedparser hands such bodies to expat, which stops a "billion laughs" only
    once the expansion reaches 100x the input read so far: seconds and hundreds
    of MB for a padded 1 MB body. Call this before parsing and refuse the body.
    """
    text = _decode(body)
    prolog = _Scanner(text).scan()
    if prolog.malformed:
        # We cannot tell where the DTD ends, so judge by any declaration at all.
        return _ENTITY_DECL.search(text) is not None
    return not all(_safe_entity(e) for e in prolog.entities)


# ---------------------------------------------------------------- classification


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def classify(body: bytes, content_type: str | None) -> Kind:
    """Judge by content first; the label only decides when the content cannot."""
    text = _decode(body[:SNIFF_BYTES])
    stripped = text.lstrip()
    if not stripped:
        return "unknown"
    if stripped.startswith("{"):
        head = stripped[:65536].replace("\\/", "/")  # JSON may escape slashes
        return "feed" if "jsonfeed.org/version" in head else "unknown"
    prolog = _Scanner(stripped).scan()
    root = prolog.root
    if root is not None:
        local = root.rsplit(":", 1)[-1]
        if local in ("rss", "feed", "rdf"):
            return "feed"
        if local in HTML_ROOTS or prolog.doctype == "html":
            return "html"
        return "unknown"
    if prolog.doctype == "html":
        return "html"
    lowered = stripped[:65536].lower()
    if _media_type(content_type) in ("text/html", "application/xhtml+xml") or any(
        tag in lowered for tag in ("<html", "<body", "<head")
    ):
        return "html" if "<" in lowered else "unknown"
    return "unknown"


class _LinkFinder(HTMLParser):
    def __init__(self, base_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base_url = base_url
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "base" and values.get("href"):
            self.base_url = urljoin(self.base_url, values["href"].strip())
        if tag != "link" or not values.get("href"):
            return
        rels = values.get("rel", "").lower().split()
        if "alternate" in rels and _media_type(values.get("type")) in FEED_TYPES:
            self.hrefs.append(values["href"].strip())

    handle_startendtag = handle_starttag


def advertised_feeds(html: bytes, base_url: str) -> list[str]:
    """The feeds an HTML page links to with ``<link rel="alternate">``, as absolute URLs."""
    finder = _LinkFinder(base_url)
    finder.feed(_decode(html[:SNIFF_BYTES], fallback="utf-8"))
    finder.close()
    feeds: list[str] = []
    for href in finder.hrefs:
        url = urljoin(finder.base_url, href)
        if urlsplit(url).scheme in ("http", "https") and url not in feeds:
            feeds.append(url)
    return feeds


def not_a_feed_error(
    body: bytes, base_url: str, content_type: str | None = None, kind: Kind | None = None
) -> FeedError | None:
    """The error to report instead of parsing this body, or None to go ahead and parse.

    Covers an empty body, an HTML page (naming the feeds it advertises) and a DTD
    that could expand without limit (see ``has_dangerous_dtd``).  ``kind``:
    ``classify``'s verdict on the body, when the caller has it already.
    """
    if not body.strip():
        return FeedError("not a feed: the response was empty", kind="not_a_feed")
    if kind is None:
        kind = classify(body, content_type)
    if kind == "html":
        message = "not a feed: an HTML page"
        feeds = advertised_feeds(body, base_url)
        if feeds:
            shown = ", ".join(feeds[:3])
            more = f" and {len(feeds) - 3} more" if len(feeds) > 3 else ""
            message += f" (it advertises {shown}{more})"
        return FeedError(message, kind="not_a_feed")
    if has_dangerous_dtd(body):
        return FeedError(
            "refused: the feed declares XML entities that could expand without limit "
            "(an entity-expansion attack)",
            kind="unsafe",
        )
    return None


def parser_headers(content_type: str | None) -> dict[str, str]:
    """The headers to give ``feedparser.parse``: the server's label, verbatim.

    feedparser weighs that label against the XML declaration and the bytes
    (falling back to windows-1252 as browsers do), so rewriting it would only lose
    information.
    """
    return {"content-type": content_type} if content_type else {}
