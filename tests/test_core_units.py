"""The pure pieces of the pipeline: durations, story identity, parsing of each format."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from watcher.core.dedupe import canonical_url, identity_keys, is_recent, select_new
from watcher.core.errors import FeedError
from watcher.core.models import Story
from watcher.core.parse import parse_feed
from watcher.core.units import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("2h", 7200), ("2d", 172800), ("1h30m", 5400), ("45", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "ten", "10x", "m10", "5m and"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


def test_format_duration_round_trips() -> None:
    for text in ("90s", "10m", "1d2h", "1h30m"):
        assert parse_duration(format_duration(parse_duration(text))) == parse_duration(text)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://News.Example.ORG/a/b", "https://news.example.org/a/b"),
        ("https://news.example.org:443/a#comments", "https://news.example.org/a"),
        ("http://news.example.org/a?utm_source=rss&utm_medium=feed", "http://news.example.org/a"),
        ("http://news.example.org/a?id=7&fbclid=xyz&gclid=1", "http://news.example.org/a?id=7"),
        ("http://news.example.org:8080/a", "http://news.example.org:8080/a"),
        ("http://news.example.org", "http://news.example.org/"),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_canonical_url_keeps_the_query_that_names_the_page() -> None:
    assert canonical_url("http://x.org/story.php?id=1") != canonical_url(
        "http://x.org/story.php?id=2"
    )


def story(**kw: object) -> Story:
    base: dict[str, object] = {"feed": "wire", "guid": None, "link": None, "title": "t"}
    return Story(**(base | kw))  # type: ignore[arg-type]


def test_a_url_guid_is_a_link_and_a_plain_guid_belongs_to_its_feed() -> None:
    assert identity_keys(story(guid="http://x.org/a?utm_source=z")) == ("link:http://x.org/a",)
    assert identity_keys(story(guid="123")) == ("guid:wire\x1f123",)
    assert identity_keys(story(feed="other", guid="123")) != identity_keys(story(guid="123"))


def test_select_new_skips_known_keys_and_duplicates_within_the_batch() -> None:
    a = story(link="http://x.org/a", guid="1")
    a_again = story(feed="other", link="http://X.org/a#frag", guid="99")
    b = story(link="http://x.org/b", guid="2")
    c = story(link="http://x.org/c", guid="3")
    fresh = select_new([a, a_again, b, c], known={"link:http://x.org/c"})
    assert [n.story for n in fresh] == [a, b]


def test_undated_stories_count_as_recent() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert is_recent(story(), now, timedelta(days=2))
    assert is_recent(story(published=now - timedelta(days=1)), now, timedelta(days=2))
    assert not is_recent(story(published=now - timedelta(days=3)), now, timedelta(days=2))


RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title>
<item><title>Rebels &amp; the army</title><link>http://x.org/1</link>
<guid isPermaLink="false">g1</guid>
<description>&lt;p&gt;Lead &lt;b&gt;text&lt;/b&gt;&lt;/p&gt;</description><category>Syria</category>
<author>desk@x.org (Desk)</author>
<pubDate>Tue, 03 Dec 2024 10:00:00 +0200</pubDate></item>
</channel></rss>"""


def test_rss_items_become_stories() -> None:
    parsed = parse_feed("wire", RSS, content_type="application/rss+xml", url="http://x.org/f")
    (item,) = parsed.stories
    assert item.title == "Rebels & the army"
    assert item.link == "http://x.org/1" and item.guid == "g1"
    assert "Lead" in item.summary and item.categories == ("Syria",)
    assert item.published == datetime(2024, 12, 3, 8, 0, tzinfo=UTC)
    assert parsed.problem is None


def test_truncated_feed_keeps_what_it_could_read() -> None:
    body = RSS.replace(b"</item>", b"</item><item><title>Second</title>").removesuffix(
        b"</channel></rss>"
    )
    parsed = parse_feed("wire", body, content_type=None, url="http://x.org/f")
    assert parsed.stories[0].title == "Rebels & the army"
    assert parsed.problem and "malformed" in parsed.problem


def test_utf8_feed_served_without_content_type_keeps_its_text() -> None:
    # No Content-Type header and no encoding in the XML declaration: XML's own
    # default (UTF-8) applies.  feedparser, given any other response header,
    # assumed HTTP's text/xml default (ISO-8859-1) and turned this title, from
    # citydog.by's feed, into mojibake.
    title = (
        "«Во заваливает!» Преподаватели литературы рассказывают, "
        "на чем подлавливают студентов на экзаменах"
    )
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>Новости</title>'
        f"<item><title>{title}</title><link>http://x.org/1</link></item></channel></rss>"
    ).encode()
    (item,) = parse_feed("c", body, content_type=None, url="http://x.org/rss").stories
    assert item.title == title


def test_relative_links_resolve_against_the_feed_url_and_xml_base() -> None:
    body = b"""<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><id>1</id><title>One</title><link href="/news/1"/></entry>
<entry xml:base="/blog/"><id>2</id><title>Two</title><link href="post-2"/></entry>
<entry><id>3</id><title>Three</title><link href="https://other.org/3"/></entry>
</feed>"""
    parsed = parse_feed("a", body, content_type="application/atom+xml", url="https://x.org/f/atom")
    assert [s.link for s in parsed.stories] == [
        "https://x.org/news/1",
        "https://x.org/blog/post-2",
        "https://other.org/3",
    ]


def test_html_page_is_not_a_feed() -> None:
    with pytest.raises(FeedError, match="not a feed"):
        parse_feed("wire", b"<html><body><p>Oops</p>", content_type="text/html", url="http://x/")


def test_json_feed() -> None:
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "title": "J",
            "items": [
                {
                    "id": "1",
                    "url": "http://x.org/1",
                    "title": "Hama",
                    "content_html": "<p>rebels</p>",
                    "date_published": "2024-12-03T10:00:00+02:00",
                    "authors": [{"name": "A"}],
                    "tags": ["syria"],
                }
            ],
        }
    ).encode()
    (item,) = parse_feed("j", body, content_type="application/feed+json", url="http://x/").stories
    assert (item.title, item.link, item.author, item.categories) == (
        "Hama", "http://x.org/1", "A", ("syria",)
    )  # fmt: skip
    assert item.published == datetime(2024, 12, 3, 8, 0, tzinfo=UTC)


def test_news_sitemap() -> None:
    body = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
 <url><loc>http://x.org/a</loc><news:news><news:title>Rebels near Hama</news:title>
 <news:publication_date>2024-12-03T10:00:00Z</news:publication_date></news:news></url>
</urlset>"""
    (item,) = parse_feed("s", body, content_type="application/xml", url="http://x/").stories
    assert (item.title, item.link) == ("Rebels near Hama", "http://x.org/a")
    assert item.published == datetime(2024, 12, 3, 10, 0, tzinfo=UTC)
