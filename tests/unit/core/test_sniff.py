"""A body is judged by its bytes, not its label: feeds are parsed, pages name their feeds."""

from __future__ import annotations

import codecs

import pytest

from watcher.core.sniff import (
    advertised_feeds,
    classify,
    has_dangerous_dtd,
    not_a_feed_error,
    parser_headers,
)

PAGE = "https://news.example.org/world/page.html"
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel/></rss>'
SITEMAP = (
    b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    b"<url><loc>http://x.org/a</loc></url></urlset>"
)
DANGER = (
    "refused: the feed declares XML entities that could expand without limit "
    "(an entity-expansion attack)"
)


def link(href: str, type_: str = "application/rss+xml", rel: str = "alternate") -> str:
    return f'<link rel="{rel}" type="{type_}" href="{href}">'


def page(*links: str) -> bytes:
    return f"<!DOCTYPE html><html><head>{''.join(links)}</head><body>x</body></html>".encode()


# ---------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (RSS, None),
        (RSS, "application/rss+xml"),
        (b'<RSS version="2.0"/>', None),
        (b'<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title></feed>', None),
        (b'<atom:feed xmlns:atom="http://www.w3.org/2005/Atom"/>', None),
        (
            b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
            b' xmlns="http://purl.org/rss/1.0/"><channel/></rdf:RDF>',
            None,
        ),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": []}', None),
        (b'{"version": "https:\\/\\/jsonfeed.org\\/version\\/1", "items": []}', None),
        (b'\n  <!-- generated --><?xml-stylesheet href="s.xsl"?><rss version="2.0"/>', None),
        (codecs.BOM_UTF8 + b'<rss version="2.0"/>', None),
        ('<?xml version="1.0" encoding="utf-16"?><rss version="2.0"/>'.encode("utf-16"), None),
        ('<?xml version="1.0" encoding="utf-16"?><rss version="2.0"/>'.encode("utf-16-le"), None),
        (b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]><rss version="2.0"/>', None),
    ],
)
def test_rss_atom_rdf_and_json_feeds_are_recognised_by_their_bytes(
    body: bytes, content_type: str | None
) -> None:
    assert classify(body, content_type) == "feed"


def test_a_feed_served_as_text_html_is_still_a_feed() -> None:
    assert classify(RSS, "text/html") == "feed"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<!DOCTYPE html><html><head><title>x</title></head></html>", "application/rss+xml"),
        (b"<html><body>Not found</body></html>", "application/rss+xml"),
        (
            b'<?xml version="1.0"?><!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN"'
            b' "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">'
            b'<html xmlns="http://www.w3.org/1999/xhtml"></html>',
            None,
        ),
        (b"Warning: mysql_connect() failed<br><html><body>", None),
        (b"<div>Service unavailable</div>", None),
        (b"<p>Oops", None),
    ],
)
def test_html_is_recognised_even_when_labelled_as_a_feed(
    body: bytes, content_type: str | None
) -> None:
    assert classify(body, content_type) == "html"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (SITEMAP, "application/xml"),
        (b'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"/>', None),
        (b'{"error": "not found"}', "application/feed+json"),
        (b"<?xml version='1.0'?><error><message>denied</message></error>", "application/rss+xml"),
        (b"Service Unavailable", "text/html"),
        (b"", "application/rss+xml"),
        (b" \n\t", None),
    ],
)
def test_sitemaps_and_other_bodies_are_neither_feed_nor_page(
    body: bytes, content_type: str | None
) -> None:
    assert classify(body, content_type) == "unknown"


def test_a_sitemap_is_left_to_the_parser_not_refused() -> None:
    assert not_a_feed_error(SITEMAP, PAGE, "application/xml") is None


# ---------------------------------------------------------------- advertised feeds


@pytest.mark.parametrize(
    ("head", "feeds"),
    [
        (link("/rss.xml"), ["https://news.example.org/rss.xml"]),
        (
            link("atom.xml", "application/atom+xml") + link("/rss.xml"),
            ["https://news.example.org/world/atom.xml", "https://news.example.org/rss.xml"],
        ),
        (
            link("https://cdn.example.net/feed.json", "application/feed+json"),
            ["https://cdn.example.net/feed.json"],
        ),
        (link("//other.example/rss"), ["https://other.example/rss"]),
        (link("/a?x=1&amp;y=2"), ["https://news.example.org/a?x=1&y=2"]),
        (
            '<LINK REL="Alternate" TYPE="Application/RSS+XML; charset=utf-8" HREF=" /rss.xml ">',
            ["https://news.example.org/rss.xml"],
        ),
        (link("/r", rel="alternate home"), ["https://news.example.org/r"]),
        (
            link("/rss.xml") + link("https://news.example.org/rss.xml"),
            ["https://news.example.org/rss.xml"],
        ),
        (
            '<base href="https://static.example.org/feeds/">' + link("rss.xml"),
            ["https://static.example.org/feeds/rss.xml"],
        ),
    ],
)
def test_advertised_feeds_are_absolute_deduplicated_and_in_page_order(
    head: str, feeds: list[str]
) -> None:
    assert advertised_feeds(page(head), PAGE) == feeds


@pytest.mark.parametrize(
    "head",
    [
        link("/fr/", "text/html"),
        link("/x.xml", rel="stylesheet"),
        '<link rel="alternate" href="/rss.xml">',
        '<a rel="alternate" type="application/rss+xml" href="/a.xml">RSS</a>',
        link(""),
        '<link rel="alternate" type="application/rss+xml">',
        link("javascript:alert(1)"),
        link("feed://x.org/rss"),
        "",
    ],
)
def test_links_that_are_not_http_feeds_are_not_advertised_feeds(head: str) -> None:
    assert advertised_feeds(page(head), PAGE) == []


# ---------------------------------------------------------------- "not a feed" errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not a feed: the response was empty"),
        (b" \r\n\t", "not a feed: the response was empty"),
        (page(), "not a feed: an HTML page"),
        (
            page(link("/rss.xml")),
            "not a feed: an HTML page (it advertises https://news.example.org/rss.xml)",
        ),
        (
            page(*(link(f"/f{i}.xml") for i in range(3))),
            "not a feed: an HTML page (it advertises https://news.example.org/f0.xml, "
            "https://news.example.org/f1.xml, https://news.example.org/f2.xml)",
        ),
        (
            page(*(link(f"/f{i}.xml") for i in range(5))),
            "not a feed: an HTML page (it advertises https://news.example.org/f0.xml, "
            "https://news.example.org/f1.xml, https://news.example.org/f2.xml and 2 more)",
        ),
    ],
)
def test_a_body_that_is_not_a_feed_is_reported_in_words(body: bytes, message: str) -> None:
    error = not_a_feed_error(body, PAGE, "application/rss+xml")
    assert error is not None
    assert (str(error), error.kind) == (message, "not_a_feed")


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]><rss version="2.0"/>',
        b'<!DOCTYPE r [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;"><!ENTITY c "&b;&b;&b;">]><rss/>',
        b'<!DOCTYPE rss [<!ENTITY x SYSTEM "file:///etc/passwd">]><rss version="2.0"/>',
        b'<!DOCTYPE rss [<!ENTITY % p "x">]><rss version="2.0"/>',
        b'<!DOCTYPE rss [<!ENTITY a "b">',
    ],
)
def test_a_feed_whose_dtd_could_expand_is_refused_as_unsafe(body: bytes) -> None:
    assert has_dangerous_dtd(body)
    error = not_a_feed_error(body, PAGE)
    assert error is not None
    assert (str(error), error.kind) == (DANGER, "unsafe")


@pytest.mark.parametrize(
    "body",
    [
        RSS,
        b'<!DOCTYPE rss [<!ENTITY nbsp "&#160;">]><rss version="2.0"/>',
        b'<!DOCTYPE rss [<!ENTITY a "b">]><rss/>',
        b"Service Unavailable",  # not judged here: the parser says what is wrong
    ],
)
def test_a_feed_or_unknown_body_goes_on_to_the_parser(body: bytes) -> None:
    assert not has_dangerous_dtd(body)
    assert not_a_feed_error(body, PAGE) is None


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (RSS, "html", "not a feed: an HTML page"),
        (page(link("/rss.xml")), "feed", None),
    ],
)
def test_the_caller_s_verdict_on_the_body_is_trusted(
    body: bytes, kind: str, message: str | None
) -> None:
    error = not_a_feed_error(body, PAGE, kind=kind)  # type: ignore[arg-type]
    assert (str(error) if error else None) == message


@pytest.mark.parametrize(
    ("content_type", "headers"),
    [
        (None, {}),
        ("", {}),
        ("text/xml; charset=windows-1251", {"content-type": "text/xml; charset=windows-1251"}),
    ],
)
def test_the_parser_is_given_the_server_s_label_verbatim(
    content_type: str | None, headers: dict[str, str]
) -> None:
    assert parser_headers(content_type) == headers


# ---------------------------------------------------------------- encodings and edges

RSS_TEXT = '<?xml version="1.0"?><rss version="2.0"><channel/></rss>'


@pytest.mark.parametrize(
    "body",
    [
        codecs.BOM_UTF32_LE + RSS_TEXT.encode("utf-32-le"),
        codecs.BOM_UTF32_BE + RSS_TEXT.encode("utf-32-be"),
        codecs.BOM_UTF16_BE + RSS_TEXT.encode("utf-16-be"),
        RSS_TEXT.encode("utf-32-be"),
        RSS_TEXT.encode("utf-32-le"),
        RSS_TEXT.encode("utf-16-be"),
        RSS_TEXT.encode("utf-16-be") + b"\x00",  # an odd byte at the end
        RSS_TEXT.encode("cp037"),  # EBCDIC
        codecs.BOM_UTF8 + b'<rss version="2.0"><title>\xff</title></rss>',
    ],
    ids=[
        "utf32le-bom", "utf32be-bom", "utf16be-bom", "utf32be", "utf32le", "utf16be",
        "utf16be-odd-byte", "ebcdic", "utf8-bom-bad-byte",
    ],
)  # fmt: skip
def test_a_feed_is_recognised_in_any_encoding_xml_can_detect(body: bytes) -> None:
    assert classify(body, None) == "feed"


@pytest.mark.parametrize(
    ("body", "content_type", "kind"),
    [
        (b'\n  {"version": "https://jsonfeed.org/version/1.1", "items": []}', None, "feed"),
        (b"<!DOCTYPE html><section>Oops</section>", None, "html"),
        (b"<!DOCTYPE html>\nService unavailable", None, "html"),
        (b"Error: <b>unavailable</b>", "text/html; charset=utf-8; x=y", "html"),
        (b"Error: <b>unavailable</b>", "Application/XHTML+XML", "html"),
        (b"Error: <b>unavailable</b>", None, "unknown"),
        (b"Fatal error<html>", None, "html"),
        (b"Fatal error<body>", None, "html"),
        (b"Fatal error<head>", None, "html"),
        (b"Service Unavailable", None, "unknown"),
        (b"<$header$><html><body>Oops</body></html>", None, "html"),  # a template's leftovers
        (b"<_wrapper><body>x</body></_wrapper>", None, "unknown"),
        (b"<:wrapper><body>x</body></:wrapper>", None, "unknown"),
        (
            b"<!DOCTYPE rss PUBLIC '-//Netscape Communications//DTD RSS 0.91//EN'"
            b" 'http://my.netscape.com/publish/formats/rss-0.91.dtd'><rss version='0.91'/>",
            None,
            "feed",
        ),
        (
            b'<?xml version="1.0"?><!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS'
            b' 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">'
            b'<rss version="0.91"/>',
            None,
            "feed",
        ),
        (b'<?xml version="1.0"?><?xml-stylesheet href="s.xsl"?><rss version="2.0"/>', None, "feed"),
        (
            b'<!-- generated --><rss version="2.0"><channel><!-- items --></channel></rss>',
            None,
            "feed",
        ),
    ],
)
def test_what_decides_a_body_s_kind(body: bytes, content_type: str | None, kind: str) -> None:
    assert classify(body, content_type) == kind


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE r [<!ENTITY a "ab">]><rss/>',
        b'<!DOCTYPE r [<!ENTITY a "&">]><rss/>',
        b'<!DOCTYPE r [<!ENTITY a "%">]><rss/>',
        b'<!DOCTYPE r [<!ENTITY a "<">]><rss/>',
    ],
)
def test_an_entity_of_more_than_one_plain_character_is_dangerous(body: bytes) -> None:
    assert has_dangerous_dtd(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE rss [<!ENTITY nbsp '&#160;'>]><rss/>",
        b'<!DOCTYPE rss [<!ENTITY empty ""><!ENTITY nbsp "&#160;">]><rss/>',
        b"<!DOCTYPE rss [<!ATTLIST rss note CDATA '>'><!ENTITY nbsp \"&#160;\">]><rss/>",
        b'<!DOCTYPE rss [<!ATTLIST rss note CDATA ">"><!ENTITY nbsp "&#160;">]><rss/>',
        b'<!DOCTYPE rss [<!-- entities > below --><!ENTITY nbsp "&#160;">]><rss/>',
        b'<!DOCTYPE rss [<?note a > b?><!ENTITY nbsp "&#160;">]><rss/>',
        b'<!DOCTYPE rss SYSTEM "rss.dtd" [%e;<!ENTITY nbsp "&#160;">]><rss/>',
    ],
    ids=["single-quoted", "empty", "attlist-quote", "attlist-dquote", "comment", "pi", "pe-ref"],
)
def test_safe_entities_are_found_past_comments_declarations_and_references(body: bytes) -> None:
    assert not has_dangerous_dtd(body)


@pytest.mark.parametrize(
    ("head", "feeds"),
    [
        (link("http://news.example.org/rss.xml"), ["http://news.example.org/rss.xml"]),
        (
            link("/rss.xml", "application/rss+xml; charset=utf-8; version=2"),
            ["https://news.example.org/rss.xml"],
        ),
        ('<base href="/feeds/">' + link("rss.xml"), ["https://news.example.org/feeds/rss.xml"]),
        ('<link type="application/rss+xml" href="/rss.xml">', []),
    ],
)
def test_advertised_feeds_at_the_edges(head: str, feeds: list[str]) -> None:
    assert advertised_feeds(page(head), PAGE) == feeds


@pytest.mark.parametrize(
    ("html", "feeds"),
    [
        (
            '<link rel="alternate" type="application/rss+xml" href="/actualités.xml">'.encode(),
            ["https://news.example.org/actualités.xml"],
        ),
        (
            b'<p>\xff</p><link rel="alternate" type="application/rss+xml" href="/rss.xml">',
            ["https://news.example.org/rss.xml"],
        ),
    ],
)
def test_an_advertising_page_is_read_as_utf_8(html: bytes, feeds: list[str]) -> None:
    assert advertised_feeds(html, PAGE) == feeds


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"Error: <b>denied</b>", "text/html", "not a feed: an HTML page"),
        (
            page(*(link(f"/f{i}.xml") for i in range(4))),
            None,
            "not a feed: an HTML page (it advertises https://news.example.org/f0.xml, "
            "https://news.example.org/f1.xml, https://news.example.org/f2.xml and 1 more)",
        ),
    ],
)
def test_not_a_feed_by_its_label_or_with_one_feed_too_many_to_name(
    body: bytes, content_type: str | None, message: str
) -> None:
    error = not_a_feed_error(body, PAGE, content_type)
    assert error is not None
    assert (str(error), error.kind) == (message, "not_a_feed")
