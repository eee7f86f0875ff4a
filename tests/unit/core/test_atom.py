"""Alerts as Atom 1.0: valid against RFC 4287's schema, hostile text kept as text,
stable ids, and HTTP's conditional requests answered as RFC 9110 says."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from tests.support.atom import NS, check_atom
from watcher.core.atom import (
    EPOCH,
    FeedEntry,
    entry_id,
    feed_id,
    not_modified,
    render_feed,
    rfc3339,
    safe_link,
    xml_text,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOSTILE = "<script>alert(1)</script> Quake"


def entry(alert_id: int = 1, **changes: object) -> FeedEntry:
    values: dict[str, object] = {
        "alert_id": alert_id,
        "once_key": f"alert:{alert_id}:quake",
        "rule": "quake",
        "cluster_id": 10 + alert_id,
        "title": f"Quake number {alert_id}",
        "link": f"https://n.example/{alert_id}",
        "outlets": ("wire", "bbc"),
        "snippet": "a strong quake struck",
        "created": NOW + timedelta(minutes=alert_id),
        "published": NOW - timedelta(hours=1),
    }
    values.update(changes)
    return FeedEntry(**values)  # type: ignore[arg-type]


def render(*entries: FeedEntry, **options: object) -> bytes:
    rendered = render_feed(
        entries,
        iri=feed_id("/var/lib/watcher/watcher.db", ""),
        title="watcher: all alerts",
        self_href="http://127.0.0.1:9108/alerts.atom",
        **options,  # type: ignore[arg-type]
    )
    return rendered.body


def test_a_feed_of_alerts_is_valid_atom_with_every_part_of_an_alert() -> None:
    body = render(entry(1), entry(2, outlets=("wire",), published=None))
    root = check_atom(body)
    first, second = root.findall("a:entry", NS)
    # Newest alert first.
    assert first.findtext("a:title", namespaces=NS) == "Quake number 2"
    assert second.find("a:link[@rel='alternate']", NS).get("href") == "https://n.example/1"
    assert [a.findtext("a:name", namespaces=NS) for a in second.findall("a:author", NS)] == [
        "wire",
        "bbc",
    ]
    category = second.find("a:category", NS)
    assert (category.get("term"), category.get("scheme")) == ("quake", "urn:watcher:rule")
    assert second.findtext("a:summary", namespaces=NS) == "a strong quake struck"
    content = second.findtext("a:content", namespaces=NS)
    assert "Reported by: wire, bbc" in content and "Event (cluster): 11" in content
    assert second.findtext("a:published", namespaces=NS) == "2026-03-01T11:00:00Z"
    assert second.findtext("a:updated", namespaces=NS) == "2026-03-01T12:01:00Z"
    # No date of its own: published when alerted.
    assert first.findtext("a:published", namespaces=NS) == "2026-03-01T12:02:00Z"
    assert root.findtext("a:updated", namespaces=NS) == "2026-03-01T12:02:00Z"
    assert root.find("a:link[@rel='self']", NS).get("href").endswith("/alerts.atom")
    parsed = feedparser.parse(body)
    assert parsed.entries[1].link == "https://n.example/1"
    assert parsed.entries[1].tags[0].term == "quake"


def test_hostile_markup_is_text_everywhere() -> None:
    body = render(
        entry(
            1,
            title=HOSTILE,
            snippet="<img src=x onerror=alert(2)> & ]]> <![CDATA[ x ]]>",
            outlets=("<b>wire</b>",),
            rule='quake"><x',
            link="https://n.example/1?a=1&b=<2>",
        )
    )
    root = check_atom(body)
    assert b"<script" not in body and b"<img" not in body and b"<b>" not in body
    # Only Atom's own elements: nothing in the text became markup.
    assert {node.tag.split("}")[1] for node in root.iter()} <= {
        "feed", "id", "title", "updated", "author", "name", "generator", "link",
        "entry", "published", "category", "summary", "content",
    }  # fmt: skip
    item = root.find("a:entry", NS)
    assert item.findtext("a:title", namespaces=NS) == HOSTILE
    assert item.find("a:title", NS).get("type") == "text"
    assert item.find("a:category", NS).get("term") == 'quake"><x'
    parsed = feedparser.parse(body).entries[0]
    assert parsed.title == HOSTILE and parsed.title_detail.type == "text/plain"
    assert parsed.link == "https://n.example/1?a=1&b=<2>"


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", "data:text/html,<script>", "ftp://x.example/", "  ", None,
     "https://a b.example/", "vbscript:x"],
)  # fmt: skip
def test_only_http_links_are_offered(link: str | None) -> None:
    root = check_atom(render(entry(1, link=link)))
    assert root.find("a:entry/a:link", NS) is None
    assert safe_link(link) is None


def test_characters_xml_cannot_carry_are_dropped_not_fatal() -> None:
    title = "Quake\x00 \x0b\x1f\ufffe\uffff\ud800 hits \U0001f30d"
    root = check_atom(render(entry(1, title=title, snippet="\x07bell", outlets=("w\x01",))))
    item = root.find("a:entry", NS)
    assert item.findtext("a:title", namespaces=NS) == "Quake  hits \U0001f30d"
    assert item.findtext("a:summary", namespaces=NS) == "bell"
    assert xml_text("tab\tnew\nline\r") == "tab\tnew\nline\r"


def test_an_empty_title_still_makes_an_entry_a_reader_can_show() -> None:
    root = check_atom(render(entry(1, title=" \x00 ", snippet="")))
    item = root.find("a:entry", NS)
    assert item.findtext("a:title", namespaces=NS) == "(untitled)"
    assert item.find("a:summary", NS) is None  # no snippet: no summary, content says the rest


def test_ids_are_stable_and_differ_across_alerts_and_databases() -> None:
    one = entry(1)
    assert entry_id(one) == entry_id(entry(1))
    assert entry_id(one).startswith("urn:uuid:")
    assert entry_id(one) != entry_id(entry(2))
    # A new database handing out row 1 and the same once-key again, later: a new id.
    assert entry_id(one) != entry_id(entry(1, created=NOW + timedelta(days=3)))
    # What changes after the alert (the title edited, outlets joining) keeps the id.
    assert entry_id(one) == entry_id(entry(1, title="edited", outlets=("wire", "afp", "bbc")))
    assert feed_id("a.db", "") != feed_id("a.db", "quake") != feed_id("b.db", "quake")


def test_the_same_alerts_give_the_same_bytes_and_etag() -> None:
    first = render_feed([entry(1), entry(2)], iri="urn:x", title="t", self_href="http://h/a")
    again = render_feed([entry(2), entry(1)], iri="urn:x", title="t", self_href="http://h/a")
    assert first == again
    assert first.etag.startswith('"') and first.etag.endswith('"')
    assert first.last_modified == NOW + timedelta(minutes=2)
    edited = render_feed(
        [entry(1), entry(2, title="Quake: toll rises")],
        iri="urn:x",
        title="t",
        self_href="http://h/a",
    )
    assert edited.etag != first.etag  # an edit in place changes the tag


def test_an_outlet_joining_later_updates_the_entry() -> None:
    later = NOW + timedelta(hours=2)
    root = check_atom(render(entry(1, updated=later, outlets=("wire", "afp"))))
    assert root.findtext("a:entry/a:updated", namespaces=NS) == "2026-03-01T14:00:00Z"
    assert root.findtext("a:entry/a:published", namespaces=NS) == "2026-03-01T11:00:00Z"


def test_an_empty_feed_is_valid_and_stable() -> None:
    since = datetime(2026, 2, 1, tzinfo=UTC)
    rendered = render_feed([], iri="urn:x", title="t", self_href="http://h/a", empty_updated=since)
    root = check_atom(rendered.body)
    assert root.findtext("a:updated", namespaces=NS) == "2026-02-01T00:00:00Z"
    assert rendered.last_modified is None
    default = render_feed([], iri="urn:x", title="t", self_href="http://h/a")
    assert etree.fromstring(default.body).findtext("a:updated", namespaces=NS) == rfc3339(EPOCH)


def test_rfc3339_is_utc_to_the_second() -> None:
    athens = datetime(2026, 3, 1, 14, 30, 15, 999, tzinfo=UTC).astimezone()
    assert rfc3339(athens) == "2026-03-01T14:30:15Z"
    assert rfc3339(datetime(2026, 3, 1, 14, 30)) == "2026-03-01T14:30:00Z"  # naive: UTC


ETAG = '"abc123"'
MODIFIED = datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("if_none_match", "if_modified_since", "expected"),
    [
        (None, None, False),
        ('"abc123"', None, True),
        ('W/"abc123"', None, True),  # weak comparison for If-None-Match
        ('"other", "abc123"', None, True),
        ("*", None, True),
        ('"other"', None, False),
        ("garbage", None, False),
        # If-None-Match wins: a date alone would say not modified.
        ('"other"', format_datetime(MODIFIED + timedelta(hours=1), usegmt=True), False),
        (None, format_datetime(MODIFIED, usegmt=True), True),  # same second
        (None, format_datetime(MODIFIED + timedelta(days=1), usegmt=True), True),
        (None, format_datetime(MODIFIED - timedelta(seconds=1), usegmt=True), False),
        (None, "not a date", False),
        (None, "", False),
    ],
)
def test_conditional_requests(
    if_none_match: str | None, if_modified_since: str | None, expected: bool
) -> None:
    assert not_modified(ETAG, MODIFIED, if_none_match, if_modified_since) is expected


def test_a_date_is_no_validator_of_an_empty_feed() -> None:
    assert not not_modified(ETAG, None, None, format_datetime(MODIFIED, usegmt=True))


@settings(max_examples=150, deadline=None)
@given(
    title=st.text(max_size=80),
    snippet=st.text(max_size=80),
    outlets=st.lists(st.text(max_size=12), max_size=3),
    rule=st.text(min_size=1, max_size=12),
    link=st.one_of(st.none(), st.text(max_size=30), st.text(max_size=20).map("https://x/".__add__)),
)
def test_any_text_makes_a_valid_feed_that_reads_back_as_the_same_text(
    title: str, snippet: str, outlets: list[str], rule: str, link: str | None
) -> None:
    body = render(
        entry(1, title=title, snippet=snippet, outlets=tuple(outlets), rule=rule, link=link)
    )
    root = check_atom(body)
    shown = root.findtext("a:entry/a:title", namespaces=NS)
    assert shown == (xml_text(title).strip() or "(untitled)")
