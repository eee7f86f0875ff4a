"""Whatever a site serves (RSS, Atom, JSON Feed, news sitemap), the same kind of story results."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from watcher.core.errors import FeedError
from watcher.core.models import ParsedFeed, Story
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


def rss(items: str, channel: str = "<title>Wire</title>") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"<channel>{channel}{items}</channel></rss>"
    ).encode()


def atom(entries: str) -> bytes:
    return (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"'
        f' xml:base="https://x.org/blog/"><title>Atom wire</title>{entries}</feed>'
    ).encode()


@pytest.mark.parametrize(
    ("body", "story"),
    [
        (
            rss(
                "<item><title>Hama</title><link>http://x.org/1</link>"
                "<description>Lead</description>"
                "<content:encoded>&lt;p&gt;Body&lt;/p&gt;</content:encoded>"
                "<content:encoded>&lt;p&gt;More&lt;/p&gt;</content:encoded>"
                "<content:encoded></content:encoded>"
                "<dc:creator>Jane Roe</dc:creator></item>"
            ),
            Story(
                feed="wire",
                guid=None,
                link="http://x.org/1",
                title="Hama",
                summary="Lead",
                content="<p>Body</p> <p>More</p>",
                author="Jane Roe",
            ),
        ),
        (
            rss(
                "<item><title>Same</title><description>The whole text</description>"
                "<content:encoded>The whole text</content:encoded></item>"
            ),
            Story(feed="wire", guid=None, link=None, title="Same", content="The whole text"),
        ),
        (rss("<item><description>No title</description></item>"), None),
        (
            atom(
                "<entry><id> tag:x.org,2024:1 </id><title>One</title>"
                '<link href="https://other.org/a/../3"/><summary>Short</summary>'
                '<content type="html">&lt;p style="color:red" onclick="go()"&gt;Hi'
                ' &lt;a href="/rel"&gt;there&lt;/a&gt;&lt;/p&gt;&lt;script&gt;x()&lt;/script&gt;'
                '</content><category term="t1" label="Label 1"/><category label="Only label"/>'
                '<category term=""/><published>2024-12-03T10:00:00Z</published>'
                "<updated>2024-12-04T10:00:00Z</updated><author><name>Ann</name></author></entry>"
            ),
            Story(
                feed="wire",
                guid="tag:x.org,2024:1",
                link="https://other.org/a/../3",
                title="One",
                summary="Short",
                content=(
                    '<p style="color:red" onclick="go()">Hi <a href="/rel">there</a></p>'
                    "<script>x()</script>"
                ),
                author="Ann",
                categories=("t1", "Only label"),
                published=datetime(2024, 12, 3, 10, 0, tzinfo=UTC),
            ),
        ),
        (
            atom("<entry><updated>2024-12-04T10:00:00Z</updated></entry>"),
            Story(
                feed="wire",
                guid=None,
                link=None,
                title="",
                published=datetime(2024, 12, 4, 10, 0, tzinfo=UTC),
            ),
        ),
    ],
    ids=["rss-full", "content-repeats-summary", "rss-untitled", "atom-full", "atom-bare"],
)
def test_each_field_of_an_rss_or_atom_entry_is_kept_as_the_feed_wrote_it(
    body: bytes, story: Story | None
) -> None:
    # Markup is kept unsanitised and links in it unresolved: watcher strips it itself.
    (got,) = parse_feed("wire", body, content_type=None, url="https://x.org/feed").stories
    expected = story or Story(feed="wire", guid=None, link=None, title="", summary="No title")
    assert got == expected


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (rss("<item><title>A</title></item>"), "Wire"),
        (rss("<item><title>A</title></item>", channel=""), ""),
        (atom("<entry><title>A</title></entry>"), "Atom wire"),
    ],
)
def test_the_feed_title_is_the_channel_s_or_empty(body: bytes, title: str) -> None:
    assert parse_feed("wire", body, content_type=None, url="https://x.org/f").title == title


@pytest.mark.parametrize(
    "body",
    [rss(""), rss("", channel="<title>Quiet</title>"), atom("")],
)
def test_a_feed_with_no_items_yet_is_a_feed_with_no_stories(body: bytes) -> None:
    parsed = parse_feed("wire", body, content_type=None, url="https://x.org/f")
    assert parsed.stories == ()
    assert parsed.problem is None


CP1251 = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Новости</title>'
    "<item><title>Москва</title></item></channel></rss>"
).encode("cp1251")


@pytest.mark.parametrize(
    ("content_type", "title"),
    [
        ("application/rss+xml; charset=windows-1251", "Москва"),
        ("text/xml; charset=cp1251", "Москва"),
    ],
)
def test_the_charset_the_server_names_decodes_the_feed(content_type: str, title: str) -> None:
    parsed = parse_feed("ru", CP1251, content_type=content_type, url="https://x.org/rss")
    assert parsed.title == "Новости"
    assert [s.title for s in parsed.stories] == [title]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            b"<html><body><p>Oops</p></body></html>",
            r"^not a feed: no RSS, Atom or RDF document found$",
        ),
        (b"{not json", r"^not a feed: invalid JSON \(.+\)$"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "title": "J"}', "JSON Feed 'items'"),
        (b'{"items": {"id": "1"}}', r"^not a feed: JSON without a JSON Feed 'items' list$"),
        (b"\xef\xbb\xbf {\xff}", r"^not a feed: invalid JSON \("),
        (b"junk <urlset", r"^not a feed: empty sitemap$"),
        (b"\x00<urlset>", r"^not a feed: unreadable sitemap \(.+\)$"),
    ],
)
def test_a_body_with_no_feed_in_it_is_an_error_saying_why(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        parse_feed("wire", body, content_type=None, url="http://x.org/f")


def test_a_malformed_feed_s_problem_names_the_parser_s_complaint() -> None:
    body = rss("<item><title>A</title></item><item><title>B</title>").removesuffix(
        b"</channel></rss>"
    )
    parsed = parse_feed("wire", body, content_type="application/rss+xml", url="http://x.org/f")
    assert [s.title for s in parsed.stories] == ["A", "B"]
    assert parsed.problem is not None
    assert re.fullmatch(r"malformed feed \(SAXParseException: .*no element found\)", parsed.problem)


JSON_FULL = {
    "id": " 1 ",
    "url": "http://x.org/1",
    "external_url": "http://elsewhere.org/1",
    "title": "Hama",
    "summary": "Lead",
    "content_html": "<p>rebels</p>",
    "content_text": "rebels",
    "date_published": "2024-12-03T10:00:00+02:00",
    "date_modified": "2024-12-04T10:00:00Z",
    "authors": [{"name": "A"}, "not an author", {"name": "B"}],
    "tags": ["syria", "hama"],
}


@pytest.mark.parametrize(
    ("item", "story"),
    [
        (
            JSON_FULL,
            Story(
                feed="j",
                guid="1",
                link="http://x.org/1",
                title="Hama",
                summary="Lead",
                content="<p>rebels</p>",
                author="A, B",
                categories=("syria", "hama"),
                published=datetime(2024, 12, 3, 8, 0, tzinfo=UTC),
            ),
        ),
        (
            {
                "id": 7,
                "external_url": "http://elsewhere.org/1",
                "content_text": "plain rebels",
                "date_modified": "2024-12-04T10:00:00Z",
                "author": {"name": "Desk"},
            },
            Story(
                feed="j",
                guid="7",
                link="http://elsewhere.org/1",
                title="",
                content="plain rebels",
                author="Desk",
                published=datetime(2024, 12, 4, 10, 0, tzinfo=UTC),
            ),
        ),
        (
            {"authors": [{"url": "https://x.org/me"}]},
            Story(feed="j", guid=None, link=None, title=""),
        ),
        ({}, Story(feed="j", guid=None, link=None, title="")),
    ],
    ids=["full", "fallbacks", "nameless-author", "empty"],
)
def test_each_field_of_a_json_feed_item_is_read(item: dict[str, object], story: Story) -> None:
    body = json.dumps({"title": "J", "items": ["not an item", item]}).encode()
    parsed = parse_feed("j", body, content_type="application/feed+json", url="http://x/")
    assert parsed == ParsedFeed(title="J", stories=(story,))


@pytest.mark.parametrize(
    "prefix",
    [b"", b"\xef\xbb\xbf", b"\n  \t", b"\xef\xbb\xbf\r\n"],
    ids=["bare", "bom", "whitespace", "bom-and-newline"],
)
def test_a_json_feed_is_recognised_after_a_byte_order_mark_or_blank_lines(prefix: bytes) -> None:
    body = prefix + json.dumps({"items": [{"id": "1", "title": "Hama"}]}).encode()
    parsed = parse_feed("j", body, content_type="text/plain", url="http://x/")
    assert parsed == ParsedFeed(
        title="", stories=(Story(feed="j", guid="1", link=None, title="Hama"),)
    )


NEWS_SITEMAP = b"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
 <url><lastmod>2024-12-01</lastmod></url>
 <url><loc> http://x.org/a </loc><lastmod>2024-12-01</lastmod>
  <news:news><news:title> Rebels near Hama </news:title>
  <news:publication_date>2024-12-03T10:00:00+01:00</news:publication_date>
  <news:keywords>Syria, Hama , ,rebels</news:keywords></news:news></url>
 <url><loc>http://x.org/b</loc><lastmod>2024-12-02</lastmod></url>
 <url><loc>http://x.org/c</loc><news:news><news:title>Untimed</news:title></news:news></url>
 <url><loc>http://x.org/d"""


def test_each_url_of_a_news_sitemap_is_a_story_read_as_far_as_it_goes() -> None:
    parsed = parse_feed("s", NEWS_SITEMAP, content_type="application/xml", url="http://x/")
    assert parsed == ParsedFeed(
        title="",
        stories=(
            Story(
                feed="s",
                guid=None,
                link="http://x.org/a",
                title="Rebels near Hama",
                categories=("Syria", "Hama", "rebels"),
                published=datetime(2024, 12, 3, 9, 0, tzinfo=UTC),
            ),
            Story(
                feed="s",
                guid=None,
                link="http://x.org/b",
                title="",
                published=datetime(2024, 12, 2, tzinfo=UTC),
            ),
            Story(feed="s", guid=None, link="http://x.org/c", title="Untimed"),
            Story(feed="s", guid=None, link="http://x.org/d", title=""),
        ),
    )
