"""Listing pages (``type: html``): which links on a news site's page are its stories."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from watcher.core.dedupe import identity_keys, select_new
from watcher.core.errors import FeedError
from watcher.core.listing import listing_stories, selector_problem
from watcher.core.models import ParsedFeed

PAGES = Path(__file__).parents[2] / "data" / "pages"
LISTING = (PAGES / "listing-world.html").read_bytes()
BASE = "https://news.example.org/world/"

SITE = "https://news.example.org"
ARTICLES = {
    f"{SITE}/2024/12/03/rebels-advance-on-hama/": (
        "Rebels advance on Hama as government lines give way"
    ),
    f"{SITE}/world/middle-east/aid-convoy-reaches-northern-villages-after-weeks-of-delay": (
        "Aid convoy reaches northern villages after weeks of delay"
    ),
    f"{SITE}/news/2024-12-02-ceasefire-talks-resume-in-doha.html": (
        "Ceasefire talks resume in Doha"
    ),
    f"{SITE}/20241201/12345/": "Opposition names new negotiator",
}


def links(html: bytes | str, base: str = BASE, selector: str | None = None) -> dict[str, str]:
    body = html.encode("utf-8") if isinstance(html, str) else html
    parsed = listing_stories("courier", body, base, selector)
    return {story.link or "": story.title for story in parsed.stories}


def page(*anchors: str) -> str:
    return "<html><body><main>" + "".join(anchors) + "</main></body></html>"


def test_a_listing_page_yields_its_article_links_titled_by_their_text() -> None:
    parsed = listing_stories("courier", LISTING, BASE)
    assert {s.link: s.title for s in parsed.stories} == ARTICLES
    assert [s.link for s in parsed.stories] == list(ARTICLES)  # page order
    assert all(s.feed == "courier" and s.guid is None for s in parsed.stories)
    assert parsed.title == "World news | The Valley Courier"
    assert parsed.problem is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://news.example.org/opinion/letters-to-the-editor-and-readers-views/", "menu"),
        ("https://news.example.org/tag/syria/", "tag page"),
        ("https://news.example.org/author/jane-doe/", "author page"),
        ("https://news.example.org/category/world/", "category page"),
        ("https://news.example.org/world/page/2/", "pagination"),
        ("https://news.example.org/2024/11/28/council-approves-new-bypass-route-after-long-dispute/",
         "sidebar"),
        ("https://news.example.org/terms-and-conditions-of-use-for-readers/", "footer"),
        ("https://partner.example.com/2024/12/03/sponsored-guide-to-winter-holidays-abroad/",
         "another site"),
        ("https://news.example.org/2024/12/03/rebels-advance-on-hama/?share=twitter", "share"),
        ("https://news.example.org/2024/12/", "month archive"),
        ("https://news.example.org/video/", "section"),
        ("https://news.example.org/subscribe/", "subscribe"),
    ],
)  # fmt: skip
def test_navigation_and_page_chrome_are_not_stories(url: str, why: str) -> None:
    assert url not in links(LISTING), why


def test_a_headline_beats_read_more_and_image_links_to_the_same_story() -> None:
    html = page(
        '<a href="/2024/12/03/rebels-advance-on-hama/"><img src="x.jpg" alt=""></a>',
        '<a href="/2024/12/03/rebels-advance-on-hama/">Read more</a>',
        '<a href="/2024/12/03/rebels-advance-on-hama/">  Rebels\n advance on <b>Hama</b> </a>',
    )
    assert links(html) == {
        "https://news.example.org/2024/12/03/rebels-advance-on-hama/": "Rebels advance on Hama"
    }


def test_a_relisted_page_yields_only_new_stories_once_the_first_poll_is_known() -> None:
    first = listing_stories("courier", LISTING, BASE).stories
    known = {key for story in first for key in identity_keys(story)}
    newer = LISTING.replace(
        b'<main id="content" class="site-main">',
        b'<main id="content" class="site-main"><article><h2>'
        b'<a href="/2024/12/04/truce-announced-in-the-north/?utm_source=home">Truce announced'
        b"</a></h2></article>",
    )
    second = listing_stories("courier", newer, BASE).stories
    fresh = select_new(second, known)
    assert [n.story.title for n in fresh] == ["Truce announced"]


@pytest.mark.parametrize(
    ("href", "is_story"),
    [
        ("/2024/12/03/rebels-take-hama/", True),
        ("/2024/12/03/123456", True),
        ("/news/2024-12-03-rebels-take-hama", True),
        ("/world/middle-east/rebels-seize-the-airport-outside-hama", True),
        ("/world/rebels_seize_the_airport_outside_hama.html", True),
        ("/2024/12/03/", False),  # a day's archive
        ("/world/middle-east/", False),
        ("/news/12345", False),
        ("/world/rebels-seize-hama", False),  # too short to tell from a section
        ("/uploads/2024/12/03/front-line-map-of-the-north.jpg", False),
        ("/about-us/", False),
        ("/contact", False),
        ("/login?next=/2024/12/03/rebels-take-hama/", False),
        ("/search/?s=rebels-seize-the-airport-outside-hama", False),
        ("#top", False),
        ("/2024/12/03/rebels-take-hama/#comments", False),
        ("mailto:desk@news.example.org", False),
        ("javascript:void(0)", False),
        ("https://news.example.org/world/", False),  # the page itself
    ],
)
def test_what_an_article_link_looks_like(href: str, is_story: bool) -> None:
    found = links(page(f'<a href="{href}">Some headline</a>'))
    assert bool(found) is is_story


def test_same_site_includes_subdomains_but_not_other_sites() -> None:
    found = links(
        page(
            '<a href="https://example.org/2024/12/03/rebels-take-hama/">A</a>',
            '<a href="https://m.news.example.org/2024/12/03/second-story/">B</a>',
            '<a href="https://live.news.example.org/2024/12/03/third-story/">C</a>',
            '<a href="https://example.com/2024/12/03/other-site-story/">D</a>',
            '<a href="https://news.example.org.evil.test/2024/12/03/lookalike/">E</a>',
        )
    )
    assert sorted(found.values()) == ["A", "B", "C"]


def test_story_cards_are_not_mistaken_for_menus() -> None:
    # WordPress lists a post's categories in its classes: "category-social-affairs".
    html = page(
        '<article class="post category-social-affairs tag-navigation">'
        '<header class="entry-header"><h2><a href="/2024/12/03/rebels-take-hama/">A</a></h2>'
        "</header></article>",
        '<nav><a href="/2024/12/03/menu-story/">B</a></nav>',
        '<div class="main-menu"><a href="/2024/12/03/menu-class-story/">C</a></div>',
        '<header><a href="/2024/12/03/masthead-story/">D</a></header>',
        '<ul role="navigation"><li><a href="/2024/12/03/role-story/">E</a></li></ul>',
    )
    assert list(links(html).values()) == ["A"]


def test_relative_links_follow_the_base_element() -> None:
    html = (
        '<html><head><base href="https://cdn.news.example.org/en/"></head><body>'
        '<a href="2024/12/03/rebels-take-hama/">A</a></body></html>'
    )
    assert links(html, base="https://news.example.org/") == {
        "https://cdn.news.example.org/en/2024/12/03/rebels-take-hama/": "A"
    }


def test_a_selector_names_the_story_links() -> None:
    found = links(LISTING, selector=".entry-title a")
    assert found == {url: ARTICLES[url] for url in list(ARTICLES)[:2]}


def test_a_selector_may_name_the_story_cards() -> None:
    # Inside each <article>: image link, headline, category, author, comments, share bar.
    found = links(LISTING, selector="article")
    assert found == {url: ARTICLES[url] for url in list(ARTICLES)[:2]}


def test_a_selector_is_trusted_for_links_that_do_not_look_like_articles() -> None:
    html = page('<ul class="latest"><li><a href="/p/12345">Short link story</a></li></ul>')
    assert links(html) == {}
    assert links(html, selector="ul.latest a") == {
        "https://news.example.org/p/12345": "Short link story"
    }


def test_a_bad_selector_is_reported_in_words() -> None:
    assert selector_problem("h2 > a") is None
    problem = selector_problem("h2 >> a[")
    assert problem is not None and "invalid CSS selector" in problem
    with pytest.raises(FeedError, match="invalid CSS selector"):
        listing_stories("courier", LISTING, BASE, selector="a::text")


def test_a_page_without_story_links_says_so() -> None:
    parsed = listing_stories("courier", page('<a href="/world/">World</a>').encode(), BASE)
    assert parsed.stories == ()
    assert parsed.problem is not None and "selector" in parsed.problem
    parsed = listing_stories("courier", LISTING, BASE, selector=".no-such-class a")
    assert parsed.problem is not None and ".no-such-class a" in parsed.problem


def test_an_empty_response_is_an_error() -> None:
    with pytest.raises(FeedError, match="not a listing page"):
        listing_stories("courier", b"  \n", BASE)


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (
            '<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
            '<a href="/2024/12/03/povstantsy-voshli-v-hamu/">Повстанцы вошли в Хаму</a>',
            "Повстанцы вошли в Хаму",
        ),
        ('<a href="/2024/12/03/cafe-owners-protest/">Café owners</a>', "Café owners"),
        (
            '<?xml version="1.0" encoding="utf-8"?><html><body>'
            '<a href="/2024/12/03/cafe-owners-protest/">Café owners</a></body></html>',
            "Café owners",
        ),
    ],
)
def test_titles_are_decoded_as_the_page_declares(body: str, title: str) -> None:
    encoding = "cp1251" if "windows-1251" in body else "utf-8"
    parsed = listing_stories("courier", body.encode(encoding), BASE)
    assert [s.title for s in parsed.stories] == [title]


@pytest.mark.parametrize(
    ("href", "is_story"),
    [
        ("/2024/12/03/rebels-take-hama/?page=2", False),
        ("/2024/12/03/rebels-take-hama/?Share=facebook", False),
        ("ftp://news.example.org/2024/12/03/rebels-take-hama/", False),
        ("http://news.example.org/2024/12/03/rebels-take-hama/", True),  # plain http is fine
        ("/news/2024-12-03-hama.html", True),  # a date and one word in the slug
        ("/world/rebels-take-a-city.html", False),  # 18 characters without the extension
        ("/world/rebels-seize-the-airport", True),  # four words, 24 characters
        ("/world/rebels-seize-big-hub", True),  # four words, exactly 20 characters
        ("/world/one-two-six-ten", False),  # four words, too short
        ("/world/supercalifragilisticexpialidocious", False),  # long, but one word
        ("/2024/12/03//", False),  # a day's archive, written with a double slash
    ],
)
def test_what_an_article_link_looks_like_at_the_edges(href: str, is_story: bool) -> None:
    found = links(page(f'<a href="{href}">Some headline</a>'))
    assert bool(found) is is_story


@pytest.mark.parametrize("rel", ["tag", "TAG", "nofollow Category", "author", "next"])
def test_links_marked_as_tag_author_or_pager_by_rel_are_not_stories(rel: str) -> None:
    html = page(f'<a rel="{rel}" href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a>')
    assert links(html) == {}


@pytest.mark.parametrize(
    ("base", "host", "same"),
    [
        ("https://www.example.org/", "live.example.org", True),
        ("https://m.news.example.org/", "live.news.example.org", True),
        ("https://amp.news.example.org/", "live.news.example.org", True),
        ("https://www.news.example.org/", "live.news.example.org", True),
        ("https://news.example.org./world/", "news.example.org", True),  # a trailing dot
        ("https://News.Example.org/", "live.news.example.org", True),
        ("https://m.tv/", "other.tv", False),  # "m." is the site's whole name there
        ("https://www.tv/", "other.tv", False),
    ],
)
def test_the_site_a_link_must_stay_on_ignores_www_m_and_amp(
    base: str, host: str, same: bool
) -> None:
    found = links(page(f'<a href="https://{host}/2024/12/03/rebels-take-hama/">A</a>'), base=base)
    assert bool(found) is same


@pytest.mark.parametrize(
    ("card", "kept"),
    [
        # A card's own header, however deep in the <article>, holds its headline.
        (
            '<article><div class="inner"><header><h2>'
            '<a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a></h2></header></div>'
            "</article>",
            True,
        ),
        # Article cards in a sidebar are the sidebar's.
        (
            '<aside><article><h3><a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a>'
            "</h3></article></aside>",
            False,
        ),
        (
            '<div id="main-nav"><a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a></div>',
            False,
        ),
        (
            '<div class="category-news site-menu">'
            '<a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a></div>',
            False,
        ),
    ],
)
def test_menus_are_told_by_landmarks_classes_and_ids(card: str, kept: bool) -> None:
    assert bool(links(page(card))) is kept


@pytest.mark.parametrize(
    ("texts", "title"),
    [
        (["Rebels advance on Hama as lines give way", "Rebels advance on Hama"],
         "Rebels advance on Hama as lines give way"),
        (["Rebels advance on Hama", "Rebels advance on Homs"], "Rebels advance on Hama"),
        (["Read the full story »", "Hama falls"], "Hama falls"),
        (["Hama falls", "Continue reading »"], "Hama falls"),
        (["Hama falls", "READ MORE"], "Hama falls"),
        (["Hama", "» » » »"], "Hama"),
    ],
)  # fmt: skip
def test_a_story_linked_twice_keeps_its_most_telling_title(texts: list[str], title: str) -> None:
    anchors = [f'<a href="/2024/12/03/rebels-take-hama/">{text}</a>' for text in texts]
    assert links(page(*anchors)) == {"https://news.example.org/2024/12/03/rebels-take-hama/": title}


def test_a_story_linked_twice_keeps_the_link_it_was_first_seen_with() -> None:
    html = page(
        '<a href="/2024/12/03/rebels-take-hama/?utm_source=home">Hama</a>',
        '<a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a>',
    )
    assert links(html) == {
        "https://news.example.org/2024/12/03/rebels-take-hama/?utm_source=home": "Rebels take Hama"
    }


def test_the_listing_page_is_not_its_own_story() -> None:
    base = "https://news.example.org/2024/12/03/live-updates-from-the-north/"
    html = page(
        '<a href="/2024/12/03/live-updates-from-the-north/?utm_source=self">Live updates</a>',
        '<a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a>',
    )
    assert links(html, base=base) == {
        "https://news.example.org/2024/12/03/rebels-take-hama/": "Rebels take Hama"
    }


@pytest.mark.parametrize(
    ("head", "link"),
    [
        ('<base href="/en/">', "https://news.example.org/en/2024/12/03/rebels-take-hama/"),
        ('<base target="_blank"><base href="/fr/">', "https://news.example.org/fr/2024/12/03/rebels-take-hama/"),
        ('<base href="http://[oops/">', "https://news.example.org/world/2024/12/03/rebels-take-hama/"),
    ],
)  # fmt: skip
def test_a_relative_or_malformed_base_element(head: str, link: str) -> None:
    html = (
        f'<html><head>{head}</head><body><a href="2024/12/03/rebels-take-hama/">A</a></body></html>'
    )
    assert links(html) == {link: "A"}


def test_a_malformed_link_is_skipped_and_the_others_kept() -> None:
    html = page(
        '<a href="http://[oops/2024/12/03/broken-link-to-a-story/">Broken</a>',
        '<a href="/2024/12/03/rebels-take-hama/">Rebels take Hama</a>',
    )
    assert links(html) == {
        "https://news.example.org/2024/12/03/rebels-take-hama/": "Rebels take Hama"
    }
    assert links(html, selector="a") == {
        "https://news.example.org/2024/12/03/rebels-take-hama/": "Rebels take Hama"
    }


def test_with_a_selector_an_anchor_without_href_or_host_is_no_story() -> None:
    html = page(
        '<ul class="latest"><li><a name="top">Top of the list</a></li>'
        '<li><a href="http:///p/1">Hostless</a></li>'
        '<li><a href="/p/12345">Short link story</a></li></ul>'
    )
    assert links(html, selector="ul.latest a") == {
        "https://news.example.org/p/12345": "Short link story"
    }


def test_selected_cards_are_trusted_even_inside_what_looks_like_a_menu() -> None:
    html = page(
        '<div class="latest-nav"><div class="card"><a href="/p/12345">Short link story</a>'
        '<div class="share-buttons"><a href="/p/12345?share=x">Share</a></div></div></div>'
    )
    assert links(html, selector="div.card") == {
        "https://news.example.org/p/12345": "Short link story"
    }


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        (None, "no article links found on the page (a `selector` can say where they are)"),
        (".none a", "the selector '.none a' matched no story links"),
    ],
)
def test_a_page_without_story_links_says_so_in_words(selector: str | None, problem: str) -> None:
    parsed = listing_stories(
        "courier", page('<a href="/world/">World</a>').encode(), BASE, selector
    )
    assert parsed == ParsedFeed(title="", stories=(), problem=problem)


@pytest.mark.parametrize("body", [b"", b"  \n", b'<?xml version="1.0"?>  '])
def test_an_empty_response_is_an_error_of_its_kind(body: bytes) -> None:
    with pytest.raises(
        FeedError, match=r"^not a listing page: the response holds no HTML$"
    ) as caught:
        listing_stories("courier", body, BASE)
    assert caught.value.kind == "not_a_feed"


@pytest.mark.parametrize(
    ("body", "title"),
    [
        (codecs.BOM_UTF8 + "<a href='/2024/12/03/cafe-owners-protest/'>Café owners</a>".encode(),
         "Café owners"),
        (codecs.BOM_UTF16_LE + "<a href='/2024/12/03/cafe-owners-protest/'>Café owners</a>"
         .encode("utf-16-le"), "Café owners"),
        (codecs.BOM_UTF16_BE + "<a href='/2024/12/03/cafe-owners-protest/'>Café owners</a>"
         .encode("utf-16-be"), "Café owners"),
        (codecs.BOM_UTF8 + b"<a href='/2024/12/03/cafe-owners-protest/'>Caf\xe9 owners</a>",
         "Caf\ufffd owners"),
        (b"<meta charset='windows-1251'><a href='/2024/12/03/hama/'>\xc1\x98 \xd5\xe0\xec\xe0</a>",
         "Б\ufffd Хама"),
        (b"<meta charset='x-no-such-charset'><a href='/2024/12/03/cafe-owners-protest/'>"
         + "Café owners".encode() + b"</a>", "Café owners"),
        (b"<meta charset='utf-16'><a href='/2024/12/03/cafe-owners-protest/'>"
         + "Café owners".encode() + b"</a>", "Café owners"),
        (b"<a href='/2024/12/03/cafe-owners-protest/'>Caf\xe9 \x81owners</a>", "Café \ufffdowners"),
    ],
    ids=["utf8-bom", "utf16le-bom", "utf16be-bom", "bom-then-bad-byte", "meta-bad-byte",
         "unknown-charset", "meta-utf16", "cp1252-fallback"],
)  # fmt: skip
def test_titles_are_decoded_by_bom_meta_or_utf8_with_bad_bytes_replaced(
    body: bytes, title: str
) -> None:
    parsed = listing_stories("courier", body, BASE)
    assert [s.title for s in parsed.stories] == [title]


def test_a_page_without_a_title_has_an_empty_title() -> None:
    body = page('<a href="/2024/12/03/rebels-take-hama/">A</a>').encode()
    assert listing_stories("courier", body, BASE).title == ""
