"""Once per story: the keys it is known by, the hash that reveals an edit, the rules it hits."""

from __future__ import annotations

import pytest

from watcher.core.analyse import analyse, parse_and_analyse, text_hash
from watcher.core.cluster import Fingerprint, fingerprint
from watcher.core.models import RuleSpec, Snippet, Story
from watcher.core.parse import parse_feed
from watcher.core.rules import RuleBook, compile_rule
from watcher.core.text import StoryText

BOOK = RuleBook(
    compile_rule(RuleSpec(name=name, query=query))
    for name, query in [("hama", "Hama AND rebels"), ("syria", "Syria"), ("tokyo", "Tokyo")]
)


LEAD = "Rebels reached Hama."


def story(**kw: object) -> Story:
    base: dict[str, object] = {"feed": "wire", "guid": None, "link": None, "title": "t"}
    return Story(**(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "keys"),
    [
        (
            {"link": "https://X.org/a?utm_source=rss", "guid": "g1"},
            ("link:https://x.org/a", "guid:wire\x1fg1"),
        ),
        ({"link": "https://x.org/a", "guid": "https://x.org/a"}, ("link:https://x.org/a",)),
        ({"guid": "g1"}, ("guid:wire\x1fg1",)),
        ({"title": "Hama falls"}, ("title:wire\x1fHama falls",)),
    ],
)
def test_each_story_carries_the_keys_it_is_known_by(
    kw: dict[str, str], keys: tuple[str, ...]
) -> None:
    (analysed,) = analyse([story(**kw)], BOOK)
    assert analysed.keys == keys


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (("Hama", "rebels"), ("<b>Hama</b>", "<p>rebels</p>")),
        (("Hama", "rebels"), ("Hama ", "  rebels\n")),
        (("Hama & co", ""), ("Hama &amp; co", "")),
        (("Hama", "rebels"), ("Hama", "rebels<img src='/pic.jpg'>")),
    ],
)
def test_text_hash_ignores_a_change_of_markup_only(
    before: tuple[str, str], after: tuple[str, str]
) -> None:
    old = story(title=before[0], summary=before[1])
    new = story(title=after[0], summary=after[1])
    assert text_hash(old) == text_hash(new)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (("Hama", "rebels"), ("Homs", "rebels")),
        (("Hama", "rebels"), ("Hama", "rebels!")),
        (("Hama", "rebels"), ("Hama", "")),
        (("Hama rebels", ""), ("Hama", "rebels")),
        (("<b>Hama</b>", "rebels"), ("<b>Hama</b> falls", "rebels")),
    ],
)
def test_text_hash_changes_when_the_visible_title_or_summary_changes(
    before: tuple[str, str], after: tuple[str, str]
) -> None:
    old = story(title=before[0], summary=before[1])
    new = story(title=after[0], summary=after[1])
    assert text_hash(old) != text_hash(new)


@pytest.mark.parametrize(
    "kw",
    [
        {"content": "<p>A longer body</p>"},
        {"link": "http://x.org/moved"},
        {"author": "Desk"},
        {"categories": ("Syria",)},
    ],
)
def test_text_hash_is_only_about_title_and_summary(kw: dict[str, object]) -> None:
    assert text_hash(story(title="Hama", summary="rebels", **kw)) == text_hash(
        story(title="Hama", summary="rebels")
    )


def test_analysed_text_hash_is_the_story_s_own() -> None:
    s = story(title="<b>Hama</b>", summary="<p>rebels</p>")
    (analysed,) = analyse([s], BOOK)
    assert analysed.text_hash == text_hash(s) == text_hash(story(title="Hama", summary="rebels"))


@pytest.mark.parametrize(
    ("title", "shown_as_markup"),
    [
        ("Use &lt;b&gt; for bold", "Use <b> for bold"),
        ("AT&amp;amp;T", "AT&amp;T"),
    ],
)
def test_escaped_markup_a_reader_sees_counts_as_text_in_the_analysed_hash(
    title: str, shown_as_markup: str
) -> None:
    # "&lt;b&gt;" is shown to the reader as "<b>": text, unescaped once and never stripped
    # again, so the story differs from one whose title carries that markup for real.
    (analysed,) = analyse([story(title=title, summary="rebels")], BOOK)
    assert analysed.text_hash == text_hash(story(title=title, summary="rebels"))
    assert analysed.text_hash != text_hash(story(title=shown_as_markup, summary="rebels"))


@pytest.mark.parametrize(
    ("kw", "hits"),
    [
        (
            {
                "title": "Rebels advance on Hama",
                "summary": "<p>Syrian rebels reached <b>Hama</b> on Tuesday.</p>",
            },
            (("hama", Snippet("Syrian rebels reached Hama on Tuesday.", ((7, 13), (22, 26)))),),
        ),
        (
            {"title": "Syria: rebels near Hama", "content": "<p>Long text with Hama rebels</p>"},
            (
                ("hama", Snippet("Long text with Hama rebels", ((15, 19), (20, 26)))),
                ("syria", Snippet("Syria: rebels near Hama", ((0, 5),))),
            ),
        ),
        ({"title": "Weather in Osaka", "summary": "Sunny"}, ()),
    ],
)
def test_rule_hits_come_in_rule_order_with_the_matched_words_marked(
    kw: dict[str, str], hits: tuple[tuple[str, Snippet], ...]
) -> None:
    (analysed,) = analyse([story(**kw)], BOOK)
    assert analysed.hits == hits


@pytest.mark.parametrize(
    ("kw", "lead"),
    [
        ({"title": "Rebels near Hama", "summary": "<p>Rebels reached Hama.</p>"}, LEAD),
        ({"title": "Rebels near Hama", "content": "<p>Rebels reached Hama.</p>"}, LEAD),
        (
            {"title": "Rebels near Hama", "summary": "Short.", "content": LEAD},
            "Short.",
        ),
    ],
)
def test_the_fingerprint_is_of_the_title_and_the_summary_or_else_the_content(
    kw: dict[str, str], lead: str
) -> None:
    (analysed,) = analyse([story(**kw)], BOOK)
    assert analysed.fingerprint == fingerprint("Rebels near Hama", lead)
    assert Fingerprint.from_json(analysed.fingerprint_json) == analysed.fingerprint


def test_every_story_is_analysed_in_feed_order() -> None:
    stories = [story(title=f"Story {i}", guid=str(i)) for i in range(3)]
    assert [a.story for a in analyse(stories, BOOK)] == stories
    assert analyse([], BOOK) == []


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<item><title>Rebels advance on Hama</title><link>http://x.org/1?utm_source=rss</link>
<description>&lt;p&gt;Syrian rebels reached Hama.&lt;/p&gt;</description></item>
<item><title>Syria talks</title><guid isPermaLink="false">g2</guid></item>
<item><title>Weather in Osaka</title></item>
</channel></rss>"""
BROKEN = RSS.removesuffix(b"</channel></rss>")


@pytest.mark.parametrize("body", [RSS, BROKEN])
def test_parse_and_analyse_gives_the_same_as_parse_then_analyse(body: bytes) -> None:
    together = parse_and_analyse(
        "wire", body, content_type="application/rss+xml", url="http://x.org/f", book=BOOK
    )
    parsed = parse_feed("wire", body, content_type="application/rss+xml", url="http://x.org/f")
    assert together.parsed == parsed
    assert together.analysed == tuple(analyse(parsed.stories, BOOK))
    assert [a.keys for a in together.analysed] == [
        ("link:http://x.org/1",),
        ("guid:wire\x1fg2",),
        ("title:wire\x1fWeather in Osaka",),
    ]
    assert [[rule for rule, _ in a.hits] for a in together.analysed] == [["hama"], ["syria"], []]


CP1251_RSS = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>Новости</title>'
    "<item><title>Москва</title><link>/news/1</link></item></channel></rss>"
).encode("cp1251")


def test_parse_and_analyse_reads_the_served_charset_and_resolves_links_against_the_url() -> None:
    together = parse_and_analyse(
        "ru",
        CP1251_RSS,
        content_type="application/rss+xml; charset=windows-1251",
        url="https://x.org/rss",
        book=BOOK,
    )
    assert together.parsed.title == "Новости"
    assert together.analysed is not None
    (analysed,) = together.analysed
    assert analysed.story.title == "Москва"
    assert analysed.story.link == "https://x.org/news/1"
    assert analysed.keys == ("link:https://x.org/news/1",)


def test_each_story_s_markup_is_stripped_once_for_all_its_analyses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Matching, the fingerprint and the edit hash share one stripped text: stripping a
    # long content:encoded once per use was a tenth of the cost of a story.
    stripped: list[Story] = []
    of = StoryText.of

    def counting(story: Story) -> StoryText:
        stripped.append(story)
        return of(story)

    monkeypatch.setattr(StoryText, "of", counting)
    stories = [story(title="Rebels near Hama", content="<p>Long text</p>"), story(title="Tokyo")]
    analysed = analyse(stories, BOOK)
    assert stripped == stories
    assert [[rule for rule, _ in a.hits] for a in analysed] == [["hama"], ["tokyo"]]
