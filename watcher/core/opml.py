"""OPML, the file every feed reader imports and exports, read and written.

Readers nest outlines in folders, spell attributes in any case and leave bare
``&`` in titles; all of that is accepted.  Feed names in config.yaml are
slugs, so titles from the file are turned into readable, unique ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence, Set
from dataclasses import dataclass
from html.entities import name2codepoint
from urllib.parse import urlsplit

from lxml import etree

from watcher.core.errors import WatcherError
from watcher.core.sitemap import local_name
from watcher.core.text import squeeze

# Letters NFKD does not split into a base letter and an accent.
_TRANSLITERATE = str.maketrans(
    {
        "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe", "Œ": "OE", "ø": "o", "Ø": "O",
        "ł": "l", "Ł": "L", "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
        "ı": "i", "&": " and ", "@": " at ", "+": " plus ",
    }
)  # fmt: skip
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
_MAX_NAME = 40
_FALLBACK_NAME = "feed"
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
# An "&" and, when it starts a named reference, the name; numeric references are left alone.
_AMPERSAND = re.compile(rb"&(?!#[0-9]+;|#x[0-9a-fA-F]+;)(?:([A-Za-z][A-Za-z0-9]*);)?")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})


class OpmlError(WatcherError):
    """A file that is not OPML; the message says what was found instead."""


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed outline: its title (never empty) and its ``xmlUrl``."""

    title: str
    url: str


def read_opml(body: bytes) -> list[OpmlFeed]:
    """Every outline with an ``xmlUrl``, at any depth, in document order."""
    try:
        root = _parse(body)
    except etree.XMLSyntaxError:
        # Exporters often leave "&" bare in URLs and titles; a parser that
        # "recovers" would silently drop the query parameters after it.
        try:
            root = _parse(_repair_ampersands(body))
        except etree.XMLSyntaxError as exc:
            raise OpmlError(f"not an OPML file: unreadable XML ({exc})") from None
    if root is None:
        raise OpmlError("not an OPML file: no XML document found")
    name = local_name(root.tag)
    if name != "opml":
        raise OpmlError(f"not an OPML file: the document is <{name}>, not <opml>")
    feeds: list[OpmlFeed] = []
    for outline in root.iter():
        if local_name(outline.tag) != "outline":
            continue
        attrs = {str(key).lower(): str(value) for key, value in outline.attrib.items()}
        url = attrs.get("xmlurl", "").strip()
        if not url:
            continue  # a folder, or a link to a web page
        title = squeeze(attrs.get("title") or attrs.get("text") or "")
        feeds.append(OpmlFeed(title=title or urlsplit(url).hostname or url, url=url))
    return feeds


def write_opml(feeds: Sequence[tuple[str, str]], title: str = "watcher feeds") -> str:
    """An OPML 2.0 document listing ``(name, url)`` pairs, as text ready to print or save."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = _xml_safe(title)
    body = etree.SubElement(root, "body")
    for name, url in feeds:
        etree.SubElement(
            body,
            "outline",
            type="rss",
            text=_xml_safe(name),
            title=_xml_safe(name),
            xmlUrl=_xml_safe(url),
        )
    etree.indent(root, space="  ")
    text = etree.tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{text}\n'


def unique_names(titles: Sequence[str], taken: Set[str]) -> list[str]:
    """A readable slug per title, unique among themselves and against ``taken``.

    "Al Jazeera – English" becomes ``al-jazeera-english``; a clash gets ``-2``,
    ``-3``.  Names are compared without case, as a reader of alerts would.
    """
    used = {name.lower() for name in taken}
    names: list[str] = []
    for title in titles:
        base = slug(title)
        name, counter = base, 1
        while name in used:
            counter += 1
            name = f"{base}-{counter}"
        used.add(name)
        names.append(name)
    return names


def slug(title: str) -> str:
    """Lower-case ASCII letters, digits and hyphens, accents transliterated; ``feed`` if none."""
    decomposed = unicodedata.normalize("NFKD", title.translate(_TRANSLITERATE))
    ascii_text = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    text = _NOT_SLUG.sub("-", ascii_text).strip("-")
    if len(text) > _MAX_NAME:
        cut = text[: _MAX_NAME + 1]
        text = cut[: cut.rfind("-")] if "-" in cut else text[:_MAX_NAME]
        text = text.strip("-")
    return text or _FALLBACK_NAME


def _parse(body: bytes) -> etree._Element | None:
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.fromstring(body, parser)


def _repair_ampersands(body: bytes) -> bytes:
    """Escape bare ``&`` and turn HTML's named entities (``&eacute;``) into numeric ones."""

    def fix(match: re.Match[bytes]) -> bytes:
        name = match.group(1)
        if name is None:
            return b"&amp;"
        text = name.decode("ascii")
        if text in _XML_ENTITIES:
            return match.group()
        codepoint = name2codepoint.get(text)
        return b"&#%d;" % codepoint if codepoint is not None else b"&amp;" + name + b";"

    return _AMPERSAND.sub(fix, body)


def _xml_safe(text: str) -> str:
    return _XML_INVALID.sub("", text)
