"""Whatever a site serves (RSS, Atom, JSON Feed, news sitemap), the same kind of story results."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from watcher.core.errors import FeedError
from watcher.core.parse import parse_feed

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
