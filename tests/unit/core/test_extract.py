"""``full_text``: the article a reader would read, without the page around it.

Each fixture page is built like the real thing: a menu, share buttons, a
"Related" or "More like this" list of other headlines, a footer.  The word a
rule should catch is only in the fourth paragraph; the word it must not
catch is only in the other headlines.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.core.extract import Article, extract_article
from watcher.core.models import RuleSpec, Story
from watcher.core.rules import compile_rule, prepare

PAGES = Path(__file__).parents[2] / "data" / "pages"


@dataclass(frozen=True)
class Page:
    file: str
    url: str
    body_word: str  # only in the fourth paragraph of the article
    chrome_words: tuple[str, ...]  # only in menus, share bars, related lists, footers
    title: str
    published: datetime


PAGES_UNDER_TEST = [
    Page(
        "courier-article.html",
        "https://news.example.org/2024/12/03/government-lines-give-way-north-of-the-capital/",
        body_word="rebels",
        chrome_words=("avalanche", "glacier", "Weather", "Share post", "briefing", "rights"),
        title="Government lines give way north of the capital",
        published=datetime(2024, 12, 3, 6, 45, tzinfo=UTC),
    ),
    Page(
        "wordpress-post.html",
        "https://frontline-notes.example.net/2024/11/20/water-returns/",
        body_word="Kobani",
        chrome_words=("flotilla", "Share this", "Curfew", "Dispatches", "lifeline", "Related"),
        title="Water returns to the eastern districts after a month",
        published=datetime(2024, 11, 20, 13, 5, tzinfo=UTC),
    ),
    Page(
        "magazine-longread.html",
        "https://harbour-review.example.com/p/engineers-coastal-city",
        body_word="desalination",
        chrome_words=("marathon", "lighthouse", "Podcasts", "Share post", "More like this"),
        title="The engineers keeping a coastal city alive",
        published=datetime(2024, 10, 7, 13, 30, tzinfo=UTC),
    ),
]


def extract(page: Page) -> Article:
    article = extract_article((PAGES / page.file).read_bytes(), page.url)
    assert article is not None
    return article


@pytest.fixture(params=PAGES_UNDER_TEST, ids=lambda p: p.file)
def page(request: pytest.FixtureRequest) -> Page:
    page: Page = request.param
    return page


def test_the_fixture_pages_really_carry_the_words(page: Page) -> None:
    # Without this, "not in the text" below would prove nothing.
    html = (PAGES / page.file).read_text(encoding="utf-8")
    assert page.body_word in html
    for word in page.chrome_words:
        assert word in html, word


def test_the_article_body_is_extracted_to_its_fourth_paragraph(page: Page) -> None:
    text = extract(page).text
    paragraphs = [p for p in text.split("\n") if p.strip()]
    assert len(paragraphs) >= 5
    assert page.body_word in paragraphs[3]


def test_menus_share_buttons_and_related_lists_are_left_out(page: Page) -> None:
    text = extract(page).text
    for word in page.chrome_words:
        assert word.lower() not in text.lower(), word


def test_the_page_gives_title_and_publication_date_in_utc(page: Page) -> None:
    article = extract(page)
    assert article.title == page.title
    assert article.published == page.published
    assert article.published is not None and article.published.utcoffset() is not None
    assert article.published.utcoffset() == timedelta(0)  # in UTC, not just zone-aware


def test_a_word_only_in_the_related_list_never_alerts(page: Page) -> None:
    """The story as the pipeline will see it: the feed's teaser plus the page's text."""
    teaser = Story(feed="site", guid=None, link=page.url, title=page.title, summary="Read more")
    story = replace(teaser, content=extract(page).text)
    caught = compile_rule(RuleSpec(name="body", query=page.body_word))
    assert not caught.matches(prepare(teaser))  # the teaser alone misses it
    assert caught.matches(prepare(story))
    for word in page.chrome_words[:2]:
        assert not compile_rule(RuleSpec(name="chrome", query=word)).matches(prepare(story))


def test_text_and_bytes_give_the_same_article() -> None:
    page = PAGES_UNDER_TEST[0]
    html = (PAGES / page.file).read_bytes()
    assert extract_article(html.decode("utf-8"), page.url) == extract_article(html, page.url)


PARAGRAPHS = [
    f"Paragraph {n} of a story about the harbour, long enough to count as prose, "
    f"with several clauses and a full stop at the end of it."
    for n in range(1, 6)
]


def harbour_page(extra: str = "", head: str = "<title>Harbour</title>", h1: str = "") -> str:
    """A bare article page: five paragraphs of prose, then ``extra`` inside the article."""
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return f"<html><head>{head}</head><body><article>{h1}{body}{extra}</article></body></html>"


def test_the_article_text_is_its_paragraphs_one_per_line() -> None:
    article = extract_article(harbour_page(), "https://a.example/p/harbour")
    assert article == Article(text="\n".join(PARAGRAPHS), published=None, title="Harbour")


@pytest.mark.parametrize(
    ("url", "extra", "published"),
    [
        ("https://a.example/p/harbour", "", None),
        # A date in the prose is not believed: it is too often another day's.
        (
            "https://a.example/p/harbour",
            "<p>First published on 3 December 2024 by the desk.</p>",
            None,
        ),
        # With no date in the page, the day in the URL is the story's.
        ("https://a.example/2024/12/03/harbour", "", datetime(2024, 12, 3, tzinfo=UTC)),
    ],
)
def test_the_publication_date_comes_from_the_page_s_metadata_or_its_url_only(
    url: str, extra: str, published: datetime | None
) -> None:
    article = extract_article(harbour_page(extra), url)
    assert article is not None
    assert "Paragraph 4" in article.text
    assert article.published == published


@pytest.mark.parametrize(
    ("head", "h1", "title"),
    [
        ("<title>Harbour</title>", "", "Harbour"),
        ("", "<h1>Harbour reopens</h1>", "Harbour reopens"),
        ("", "", None),
    ],
)
def test_the_title_is_the_page_s_or_none(head: str, h1: str, title: str | None) -> None:
    article = extract_article(harbour_page(head=head, h1=h1), "https://a.example/p/harbour")
    assert article is not None
    assert article.title == title


@pytest.mark.parametrize(
    ("extra", "left_out"),
    [
        ("<p>Share on X</p>", "Share on X"),
        ("<p>Related stories:</p>", "Related stories"),
        ("<p>SHARE THIS</p>", "SHARE THIS"),
        ("<p>» Read more</p>", "Read more"),
        (
            "<table><tr><td>Tonnage landed</td><td>4200</td></tr>"
            "<tr><td>Boats</td><td>17</td></tr></table>",
            "Tonnage",
        ),
        (
            '<p>See the <a href="https://report.example/harbour">authority report</a> '
            "for the figures of the whole season.</p>",
            "report.example",
        ),
    ],
)
def test_share_labels_tables_and_link_targets_stay_out_of_the_text(
    extra: str, left_out: str
) -> None:
    article = extract_article(harbour_page(extra), "https://a.example/p/harbour")
    assert article is not None
    assert article.text.startswith(PARAGRAPHS[0])
    assert left_out not in article.text


def test_a_link_s_words_stay_in_the_text() -> None:
    extra = (
        '<p>See the <a href="https://report.example/harbour">authority report</a> '
        "for the figures of the whole season.</p>"
    )
    article = extract_article(harbour_page(extra), "https://a.example/p/harbour")
    assert article is not None
    assert article.text.splitlines()[-1] == (
        "See the authority report for the figures of the whole season."
    )


@pytest.mark.parametrize(
    "html",
    [b"", b"   \n", "", "  \n", b"<html><body></body></html>", b"\x00\x01\xff"],
)
def test_a_page_without_an_article_gives_none(html: bytes | str) -> None:
    assert extract_article(html, "https://a.example/") is None


def test_readers_comments_stay_out_even_on_a_page_marked_as_a_forum_post() -> None:
    # trafilatura treats the comments of a DiscussionForumPosting page as its content,
    # unless told to leave comments out: a reader's words are no part of the story.
    marked = (
        '<script type="application/ld+json">'
        '{"@context": "https://schema.org", "@type": "DiscussionForumPosting"}</script>'
    )
    comments = (
        '<div id="comments" class="comments-area"><ol class="comment-list"><li class="comment">'
        '<div class="comment-content"><p>A reader writes that the ferry timetable changed again '
        "and nobody was told about it at all.</p></div></li></ol></div>"
    )
    html = harbour_page(comments, head=f"<title>Harbour</title>{marked}")
    article = extract_article(html, "https://a.example/p/harbour")
    assert article is not None
    assert article.text == "\n".join(PARAGRAPHS)
