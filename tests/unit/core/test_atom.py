"""Alerts as Atom 1.0: valid against RFC 4287's schema, hostile text kept as text,
stable ids, and HTTP's conditional requests answered as RFC 9110 says."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
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
ATHENS = timezone(timedelta(hours=2))


@pytest.fixture
def far_from_utc() -> Iterator[None]:
    """The machine's own zone is UTC+05:30, so naive times cannot pass as UTC by luck."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "IST-05:30"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


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
    assert second.find("a:link[@rel='alternate']", NS).get("type") == "text/html"
    category = second.find("a:category", NS)
    assert (category.get("term"), category.get("scheme"), category.get("label")) == (
        "quake",
        "urn:watcher:rule",
        "rule: quake",
    )
    assert second.findtext("a:summary", namespaces=NS) == "a strong quake struck"
    content = second.findtext("a:content", namespaces=NS)
    assert "Reported by: wire, bbc" in content and "Event (cluster): 11" in content
    assert second.findtext("a:published", namespaces=NS) == "2026-03-01T11:00:00Z"
    assert second.findtext("a:updated", namespaces=NS) == "2026-03-01T12:01:00Z"
    # No date of its own: published when alerted.
    assert first.findtext("a:published", namespaces=NS) == "2026-03-01T12:02:00Z"
    assert root.findtext("a:updated", namespaces=NS) == "2026-03-01T12:02:00Z"
    assert root.findtext("a:id", namespaces=NS) == feed_id("/var/lib/watcher/watcher.db", "")
    assert root.findtext("a:title", namespaces=NS) == "watcher: all alerts"
    self_link = root.find("a:link[@rel='self']", NS)
    assert self_link.get("href") == "http://127.0.0.1:9108/alerts.atom"
    assert self_link.get("type") == "application/atom+xml"
    parsed = feedparser.parse(body)
    assert parsed.entries[1].link == "https://n.example/1"
    assert parsed.entries[1].tags[0].term == "quake"


@pytest.mark.parametrize(
    ("changes", "content"),
    [
        (
            {},
            "a strong quake struck\n\nRule: quake\nReported by: wire, bbc\n"
            "Event (cluster): 11\nLink: https://n.example/1",
        ),
        (
            {"outlets": (), "link": None, "snippet": ""},
            "Rule: quake\nReported by: -\nEvent (cluster): 11",
        ),
    ],
)
def test_an_entry_content_tells_the_rule_outlets_event_and_link(
    changes: dict[str, object], content: str
) -> None:
    root = check_atom(render(entry(1, **changes)))
    assert root.findtext("a:entry/a:content", namespaces=NS) == content


@pytest.mark.parametrize(
    ("options", "name"),
    [({}, "watcher"), ({"generator": "watcher 2.1 (desk)"}, "watcher 2.1 (desk)")],
)
def test_the_feed_is_authored_and_generated_by_watcher(
    options: dict[str, object], name: str
) -> None:
    root = check_atom(render(entry(1), **options))
    assert root.findtext("a:author/a:name", namespaces=NS) == name
    assert root.findtext("a:generator", namespaces=NS) == name


def test_the_document_is_utf8_xml_in_atoms_default_namespace_one_element_a_line() -> None:
    body = render(entry(1, title="Séisme à Hama"))
    assert body.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<feed xmlns=")
    assert etree.fromstring(body).nsmap == {None: "http://www.w3.org/2005/Atom"}
    assert '<title type="text">Séisme à Hama</title>'.encode() in body
    assert b"\n  <entry>\n    <id>" in body


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


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 3, 1, 14, 30, 15, 999, tzinfo=UTC), "2026-03-01T14:30:15Z"),
        (datetime(2026, 3, 1, 16, 30, 15, tzinfo=ATHENS), "2026-03-01T14:30:15Z"),
        (datetime(2026, 3, 1, 14, 30), "2026-03-01T14:30:00Z"),  # naive: UTC
    ],
)
@pytest.mark.usefixtures("far_from_utc")
def test_rfc3339_is_utc_to_the_second(moment: datetime, text: str) -> None:
    assert rfc3339(moment) == text


@pytest.mark.parametrize(
    ("created", "updated", "shown", "last_modified"),
    [
        # Naive times are UTC, whatever the machine's zone; aware ones are converted.
        (datetime(2026, 3, 1, 12, 0), None, "2026-03-01T12:00:00Z",
         "Sun, 01 Mar 2026 12:00:00 GMT"),
        (datetime(2026, 3, 1, 14, 0, tzinfo=ATHENS), None, "2026-03-01T12:00:00Z",
         "Sun, 01 Mar 2026 12:00:00 GMT"),
        (datetime(2026, 3, 1, 12, 0), datetime(2026, 3, 1, 15, 0, tzinfo=ATHENS),
         "2026-03-01T13:00:00Z", "Sun, 01 Mar 2026 13:00:00 GMT"),
        (datetime(2026, 3, 1, 14, 0, tzinfo=ATHENS), datetime(2026, 3, 1, 12, 30),
         "2026-03-01T12:30:00Z", "Sun, 01 Mar 2026 12:30:00 GMT"),
    ],
)  # fmt: skip
@pytest.mark.usefixtures("far_from_utc")
def test_entry_times_in_any_zone_give_utc_dates_and_an_http_last_modified(
    created: datetime, updated: datetime | None, shown: str, last_modified: str
) -> None:
    rendered = render_feed(
        [entry(1, created=created, updated=updated)], iri="urn:x", title="t", self_href=""
    )
    root = check_atom(rendered.body)
    assert root.findtext("a:entry/a:updated", namespaces=NS) == shown
    assert root.findtext("a:updated", namespaces=NS) == shown
    assert rendered.last_modified is not None
    assert format_datetime(rendered.last_modified, usegmt=True) == last_modified


@pytest.mark.usefixtures("far_from_utc")
def test_entries_are_newest_first_whatever_zone_their_times_are_in() -> None:
    # 12:30 UTC written in Athens' zone is later than 12:10 naive (UTC), earlier than 12:40.
    entries = [
        entry(1, created=datetime(2026, 3, 1, 14, 30, tzinfo=ATHENS)),
        entry(2, created=datetime(2026, 3, 1, 12, 10)),
        entry(3, created=datetime(2026, 3, 1, 12, 40)),
    ]
    root = check_atom(render(*entries))
    titles = [e.findtext("a:title", namespaces=NS) for e in root.findall("a:entry", NS)]
    assert titles == ["Quake number 3", "Quake number 1", "Quake number 2"]


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
        # "-0000": a time in UTC from a sender that will not say its zone.
        (None, "Sun, 01 Mar 2026 12:00:00 -0000", True),
        (None, "Sun, 01 Mar 2026 11:59:59 -0000", False),
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
