"""A reader's OPML subscriptions are read safely and in order, and written as valid OPML 2.0."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from watcher.core.errors import WatcherError
from watcher.core.opml import OpmlError, OpmlFeed, read_opml, unique_names, write_opml

OPML = Path(__file__).parents[2] / "data" / "opml" / "subscriptions.opml"
# What config.py accepts as a feed name.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def test_outlines_are_read_at_any_depth_in_order() -> None:
    feeds = read_opml(OPML.read_bytes())
    assert [f.url for f in feeds] == [
        "https://www.aljazeera.com/xml/rss/all.xml",
        "https://www.lemonde.fr/international/rss_full.xml",
        "http://feeds.bbci.co.uk/news/world/middle_east/rss.xml?edition=uk",
        "https://rss.sueddeutsche.de/rss/Politik",
        "https://www.aljazeera.com/xml/rss/all.xml#mirror",
        "https://feeds.arstechnica.com/arstechnica/index?format=xml&utm_source=opml",
        "https://feeds.arstechnica.com/arstechnica/index?format=xml",
        "gopher://gopher.example.org/1/news",
    ]
    assert feeds[0] == OpmlFeed("Al Jazeera – English", "https://www.aljazeera.com/xml/rss/all.xml")
    assert feeds[1].title == "Le Monde — International"  # no title attribute: text is used
    assert feeds[5].title == "Ars Technica & friends"


def test_bare_ampersands_and_html_entities_do_not_lose_the_url() -> None:
    body = (
        b'<opml version="2.0"><body>'
        b'<outline text="News &amp; Politics &eacute;t&eacute; &#8211; A & B"'
        b' xmlUrl="https://a.example/rss?x=1&y=2&amp;z=3"/>'
        b'<outline type="rss" xmlUrl="https://untitled.example/feed"/>'
        b'<outline text="Desk &bogus; &lt;3" xmlUrl="https://b.example/rss?a=1&b;=2"/>'
        b"</body></opml>"
    )
    assert read_opml(body) == [
        OpmlFeed("News & Politics été – A & B", "https://a.example/rss?x=1&y=2&z=3"),
        OpmlFeed("untitled.example", "https://untitled.example/feed"),
        # A name that is no entity at all is kept as written.
        OpmlFeed("Desk &bogus; <3", "https://b.example/rss?a=1&b;=2"),
    ]


@pytest.mark.parametrize(
    ("attributes", "title"),
    [
        (b'title="Wire" text="The Wire, world desk"', "Wire"),
        (b'text="The Wire, world desk"', "The Wire, world desk"),
        (b'TITLE="Wire" Text="The Wire"', "Wire"),
        (b'title="" text="The Wire"', "The Wire"),
        (b'title="  Wire \n desk "', "Wire desk"),
    ],
)
def test_a_feed_is_named_by_its_title_then_its_text(attributes: bytes, title: str) -> None:
    outline = b"<outline " + attributes + b' xmlUrl="https://a.example/rss"/>'
    body = b'<opml version="2.0"><body>' + outline + b"</body></opml>"
    assert read_opml(body) == [OpmlFeed(title, "https://a.example/rss")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "not an OPML file"),
        (b"name,url\nx,https://a.example/rss\n", "not an OPML file"),
        (b"<?xml version='1.0'?><rss version='2.0'><channel/></rss>", "<rss>, not <opml>"),
        (b"<html><body><p>Sign in</p></body></html>", "<html>, not <opml>"),
    ],
)
def test_a_file_that_is_not_opml_is_refused_in_words(body: bytes, message: str) -> None:
    with pytest.raises(OpmlError, match=re.escape(message)) as caught:
        read_opml(body)
    assert isinstance(caught.value, WatcherError)


@pytest.mark.parametrize(
    ("reference", "title"),
    [
        # In an attribute an external entity is not even XML: read as the bare "&" it looks like.
        ('<outline text="Wire&s;" xmlUrl="https://a.example/rss"/>', "Wire&s;"),
        # Between outlines it would pull the other file's outlines into the list.
        ('<outline text="Wire" xmlUrl="https://a.example/rss"/>&s;', "Wire"),
    ],
)
def test_an_opml_file_cannot_pull_in_local_files_through_entities(
    tmp_path: Path, reference: str, title: str
) -> None:
    other = tmp_path / "other.xml"
    other.write_text('<outline text="Secret" xmlUrl="file:///etc/passwd"/>')
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY s SYSTEM "{other.as_uri()}">]>'
        f'<opml version="2.0"><body>{reference}</body></opml>'
    ).encode()
    assert read_opml(body) == [OpmlFeed(title, "https://a.example/rss")]


def test_only_outlines_written_in_the_file_are_read_never_ones_its_entities_expand_to() -> None:
    # Entities are never expanded, so no file can grow (a billion laughs) while read.
    body = (
        b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY more '
        b'\'<outline text="Injected" xmlUrl="https://b.example/rss"/>\'>]>'
        b'<opml version="2.0"><body><outline text="Wire" xmlUrl="https://a.example/rss"/>'
        b"&more;</body></opml>"
    )
    assert read_opml(body) == [OpmlFeed("Wire", "https://a.example/rss")]


def test_an_opml_file_cannot_read_local_files_through_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'
        '<opml version="2.0"><body><outline text="x&s;" xmlUrl="https://a.example/rss"/>'
        "</body></opml>"
    ).encode()
    assert all("TOPSECRET" not in f.title for f in read_opml(body))


def test_written_opml_is_valid_2_0_and_reads_back_exactly() -> None:
    pairs = [
        ("wire", "https://a.example/rss?x=1&y=2"),
        ('quote"s & <angles>', "https://b.example/feed"),
        ("accents-été", "https://c.example/atom.xml"),
    ]
    text = write_opml(pairs, title="Desk & co")
    root = etree.fromstring(text.encode("utf-8"))  # strict parser: well-formed or raises
    assert root.get("version") == "2.0"
    assert root.findtext("head/title") == "Desk & co"
    assert [(f.title, f.url) for f in read_opml(text.encode("utf-8"))] == pairs


def test_written_opml_is_indented_for_a_person_to_read() -> None:
    assert write_opml([("wire", "https://a.example/rss?x=1&y=2")]) == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<opml version="2.0">\n'
        "  <head>\n"
        "    <title>watcher feeds</title>\n"
        "  </head>\n"
        "  <body>\n"
        '    <outline type="rss" text="wire" title="wire"'
        ' xmlUrl="https://a.example/rss?x=1&amp;y=2"/>\n'
        "  </body>\n"
        "</opml>\n"
    )


def test_written_opml_drops_characters_xml_cannot_carry() -> None:
    text = write_opml([("wi\x00re\x1f", "https://a.example/r\x0bss")], title="Desk\x08")
    root = etree.fromstring(text.encode("utf-8"))
    assert root.findtext("head/title") == "Desk"
    assert [dict(o.attrib) for o in root.findall("body/outline")] == [
        {"type": "rss", "text": "wire", "title": "wire", "xmlUrl": "https://a.example/rss"}
    ]


@pytest.mark.parametrize(
    ("titles", "taken", "names"),
    [
        (["Al Jazeera – English"], set(), ["al-jazeera-english"]),
        (["Le Monde — Société", "Straße & Co.", "Łódź Ørsted"], set(), ["le-monde-societe",
         "strasse-and-co", "lodz-orsted"]),
        (["BBC News", "BBC News", "bbc news!"], set(), ["bbc-news", "bbc-news-2", "bbc-news-3"]),
        (["BBC News"], {"BBC-News", "bbc-news-2"}, ["bbc-news-3"]),
        (["新闻", "", "!!!"], set(), ["feed", "feed-2", "feed-3"]),
        (["News 2", "News", "News"], set(), ["news-2", "news", "news-3"]),
        (["The quick brown fox jumps over the lazy dog and keeps running"], set(),
         ["the-quick-brown-fox-jumps-over-the-lazy"]),
        # Long names are cut at a word, not in one; 40 characters are kept whole.
        (["Sueddeutsche Zeitung Politik und Wirtschaft heute"], set(),
         ["sueddeutsche-zeitung-politik-und"]),
        (["The international news desks of tomorrow"], set(),
         ["the-international-news-desks-of-tomorrow"]),
        (["Donaudampfschifffahrtsgesellschaftskapitaen news"], set(),
         ["donaudampfschifffahrtsgesellschaftskapit"]),
        (["Donaudampfschifffahrtsgesellschaftskapita Wien"], set(),
         ["donaudampfschifffahrtsgesellschaftskapit"]),
    ],
)  # fmt: skip
def test_names_are_readable_slugs_that_never_clash(
    titles: list[str], taken: set[str], names: list[str]
) -> None:
    assert unique_names(titles, taken) == names


@given(st.lists(st.text(max_size=60), max_size=20), st.sets(st.text(max_size=12), max_size=10))
def test_any_titles_give_valid_distinct_names(titles: list[str], taken: set[str]) -> None:
    names = unique_names(titles, taken)
    assert len(names) == len(titles)
    assert len({n.lower() for n in names}) == len(names)
    assert not {n.lower() for n in names} & {t.lower() for t in taken}
    assert all(NAME.match(n) and n == n.lower() for n in names)
