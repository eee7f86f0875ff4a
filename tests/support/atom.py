"""A strict check of an Atom 1.0 document: RFC 4287's RELAX NG schema, its Schematron
rules, RFC 3339 dates, and what a feed reader needs (feedparser reads it cleanly)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import feedparser
from lxml import etree

ATOM = "http://www.w3.org/2005/Atom"
NS = {"a": ATOM}
SCHEMA = Path(__file__).resolve().parents[1] / "data" / "atom.rng"
# RFC 3339's date-time (section 5.6), which Atom's dates must follow (RFC 4287, 3.3).
RFC3339 = re.compile(
    r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)"
    r"(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)"
)


@cache
def schema() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(SCHEMA)))


def check_atom(body: bytes) -> etree._Element:
    """The parsed feed, or an AssertionError naming what is wrong."""
    # No DTD, no entities from elsewhere: a feed must stand alone.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    root = etree.fromstring(body, parser)
    assert root.tag == f"{{{ATOM}}}feed", root.tag
    assert schema().validate(root), schema().error_log
    # The RFC's Schematron rules.
    entries = root.findall("a:entry", NS)
    if not root.findall("a:author", NS):
        assert all(e.findall("a:author", NS) for e in entries), "an entry without an author"
    for entry in entries:
        if entry.find("a:content", NS) is None:
            assert entry.xpath("a:link[@rel='alternate' or not(@rel)]", namespaces=NS)
        alternates = [
            (link.get("type"), link.get("hreflang"))
            for link in entry.xpath("a:link[@rel='alternate' or not(@rel)]", namespaces=NS)
        ]
        assert len(alternates) == len(set(alternates)), "two alternate links of one type"
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert len(ids) == len(set(ids)), "two entries with one id"
    for node in root.iter(f"{{{ATOM}}}updated", f"{{{ATOM}}}published"):
        assert RFC3339.fullmatch(node.text or ""), f"not RFC 3339: {node.text!r}"
    parsed = feedparser.parse(body)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert len(parsed.entries) == len(entries)
    return root
