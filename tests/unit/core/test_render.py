"""Rendering: what a user reads in each format, and what hostile feed text cannot do to it."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from html import unescape
from html.parser import HTMLParser

import pytest
from apprise.conversion import markdown_to_html
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.support.fakes.telegram import parse_html, utf16_len
from watcher.core.errors import WatcherError
from watcher.core.models import Alert, Snippet
from watcher.core.render import (  # _names: the outlet lists' rule, tested alone
    MAX_ALERT,
    MAX_SNIPPET,
    MAX_SUBJECT,
    MAX_TELEGRAM_MESSAGES,
    MAX_TITLE,
    Format,
    Message,
    Renderer,
    _names,
    cut,
    format_for_url,
    safe_link,
    telegram_split,
)

HOSTILE = 'Kyiv <script>alert(1)</script> <img src=x onerror="alert(2)"> & more'
LINK = "https://example.com/story?id=1&lang=en"


def make_alert(**changes: object) -> Alert:
    alert = Alert(
        rule="ukraine",
        feed="Reuters",
        title="Talks resume in Kyiv",
        link=LINK,
        published=datetime(2024, 5, 1, 12, 34, tzinfo=UTC),
        snippet=Snippet("Delegations met in Kyiv on Monday", ((19, 23),)),
    )
    return replace(alert, **changes)  # type: ignore[arg-type]


class Elements(HTMLParser):
    """Every element and attribute in an HTML document, and its text."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.bold: list[str] = []
        self._in_bold = 0
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag in ("b", "strong"):
            self._in_bold += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("b", "strong"):
            self._in_bold -= 1

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_bold:
            self.bold.append(data)

    def names(self) -> set[str]:
        return {tag for tag, _ in self.tags}

    def hrefs(self) -> list[str | None]:
        return [attrs.get("href") for tag, attrs in self.tags if tag == "a"]

    def visible(self) -> str:
        return re.sub(r"\s+", " ", "".join(self.text)).strip()


def one(messages: list[Message]) -> Message:
    assert len(messages) == 1
    return messages[0]


# -- escaping: feed text arrives as text, never as markup --------------------------


def test_html_shows_a_hostile_title_as_text_and_adds_no_elements() -> None:
    renderer = Renderer()
    clean = Elements(one(renderer.alert(make_alert(), "html")).body)
    hostile = Elements(one(renderer.alert(make_alert(title=HOSTILE), "html")).body)

    assert hostile.names() == clean.names()
    assert not any("onerror" in attrs for _, attrs in hostile.tags)
    assert HOSTILE in hostile.visible()


def test_telegram_shows_a_hostile_title_as_text_telegram_would_accept() -> None:
    message = one(Renderer().alert(make_alert(title=HOSTILE, feed="<b>Outlet</b>"), "telegram"))

    visible, links = parse_html(message.body)  # raises where Telegram would answer 400

    assert HOSTILE in visible
    assert "<b>Outlet</b>" in visible
    assert links == (LINK,)
    assert "<script" not in message.body and "<img" not in message.body


def test_markdown_keeps_hostile_text_literal_even_when_rendered_to_html() -> None:
    message = one(
        Renderer().alert(make_alert(title=HOSTILE + " *not bold* [x](https://e.vil)"), "markdown")
    )

    page = Elements(markdown_to_html(message.body))

    assert {"script", "img", "em"}.isdisjoint(page.names())
    assert "https://e.vil" not in page.hrefs()
    assert HOSTILE + " *not bold* [x](https://e.vil)" in page.visible()


def test_markdown_shows_entities_and_angle_brackets_as_written() -> None:
    """No raw ``<`` or ``>`` reaches a Markdown renderer (inline HTML, quotes), and a
    literal entity stays literal rather than becoming the character it names."""
    title = "AT&amp;T <b> 5 > 3"
    message = one(Renderer().alert(make_alert(title=title), "markdown"))

    assert "<" not in message.body and ">" not in message.body
    assert title in Elements(markdown_to_html(message.body)).visible()


def test_text_keeps_the_title_verbatim_but_on_one_line() -> None:
    body = one(
        Renderer().alert(make_alert(title="A\nfake line\x00 <b>", feed="Out\u202elet"), "text")
    ).body

    assert body.splitlines()[0] == "A fake line <b>"
    assert "Outlet" in body


# -- links ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["html", "telegram"])
def test_story_link_is_clickable_with_its_query_intact(fmt: Format) -> None:
    body = one(Renderer().alert(make_alert(), fmt)).body

    assert LINK in Elements(body).hrefs()


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " \tjavascript:alert(1)",
        "java\x00script:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "javascript://example.com/%0Aalert(1)",
        "/relative/path",
        "https://",
    ],
)
@pytest.mark.parametrize("fmt", ["text", "html", "telegram", "markdown"])
def test_only_http_links_are_offered(fmt: Format, link: str) -> None:
    body = one(Renderer().alert(make_alert(link=link), fmt)).body

    assert "script:" not in body.lower() and "data:" not in body
    shown = (body, unescape(body))
    for text in (link, link.strip(), link.strip().replace("\x00", "")):
        assert all(text not in version for version in shown), text
    assert "Talks resume in Kyiv" in body
    if fmt in ("html", "telegram"):
        assert Elements(body).hrefs() == []


@pytest.mark.parametrize("fmt", ["html", "telegram"])
def test_a_quote_in_a_link_cannot_break_out_of_the_attribute(fmt: Format) -> None:
    link = 'https://example.com/a?q="><script>x</script>'
    body = one(Renderer().alert(make_alert(link=link), fmt)).body

    page = Elements(body)
    assert "script" not in page.names()
    assert page.hrefs()[0] == "https://example.com/a?q=%22%3E%3Cscript%3Ex%3C/script%3E"


def test_markdown_link_survives_parentheses_in_the_url() -> None:
    link = "https://en.wikipedia.org/wiki/Kyiv_(city)"
    body = one(Renderer().alert(make_alert(link=link), "markdown")).body

    assert Elements(markdown_to_html(body)).hrefs() == [
        "https://en.wikipedia.org/wiki/Kyiv_%28city%29"
    ]


# -- content -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "highlighted"),
    [
        ("text", "met in [Kyiv] on"),
        ("markdown", "met in **Kyiv** on"),
        ("telegram", "met in <b>Kyiv</b> on"),
        ("html", "met in <b>Kyiv</b> on"),
    ],
)
def test_matched_words_are_highlighted_in_the_snippet(fmt: Format, highlighted: str) -> None:
    body = one(Renderer().alert(make_alert(), fmt)).body

    assert highlighted in body


def test_marks_out_of_order_overlapping_or_out_of_range_still_highlight_the_words() -> None:
    text = "alpha beta gamma delta"
    snippet = Snippet(text, ((11, 16), (0, 3), (2, 5), (17, 99), (8, 8), (-5, -1)))

    body = one(Renderer().alert(make_alert(snippet=snippet), "telegram")).body

    assert Elements(body).bold[-3:] == ["alpha", "gamma", "delta"]


def test_snippet_whitespace_is_folded_to_single_spaces() -> None:
    text = "\n  Delegations met \t in Kyiv \n"
    snippet = Snippet(text, ((text.index("Kyiv"), text.index("Kyiv") + 4),))

    body = one(Renderer().alert(make_alert(snippet=snippet), "text")).body

    assert "Delegations met in [Kyiv]" in body.splitlines()


def test_whitespace_inside_a_mark_stays_outside_the_bold() -> None:
    snippet = Snippet("say  hello\n world", ((3, 10),))

    body = one(Renderer().alert(make_alert(snippet=snippet), "markdown")).body

    assert "say **hello** world" in body
    trailing = Snippet("say hello  world", ((4, 11),))
    body = one(Renderer().alert(make_alert(snippet=trailing), "markdown")).body
    assert "say **hello** world" in body


def test_alert_names_outlet_time_rule_and_others_that_reported_it() -> None:
    alert = make_alert(also_reported_by=("AP", "BBC News"))

    for fmt in ("text", "html", "telegram", "markdown"):
        body = Elements(one(Renderer().alert(alert, fmt)).body).visible()
        assert "Reuters" in body
        assert "2024-05-01 12:34 UTC" in body
        assert "ukraine" in body
        assert "Also reported by: AP, BBC News" in body


def test_also_reported_by_is_absent_when_no_one_else_reported_it() -> None:
    for fmt in ("text", "html", "telegram", "markdown"):
        body = one(Renderer().alert(make_alert(), fmt)).body
        assert "also reported" not in body.lower()


@pytest.mark.parametrize(
    ("published", "shown"),
    [
        (datetime(2024, 5, 1, 14, 34, tzinfo=timezone(timedelta(hours=2))), "2024-05-01 12:34 UTC"),
        (datetime(2024, 5, 1, 12, 34), "2024-05-01 12:34 UTC"),
    ],
)
def test_time_is_shown_in_utc(published: datetime, shown: str) -> None:
    body = one(Renderer().alert(make_alert(published=published), "text")).body

    assert shown in body


def test_undated_alert_renders_without_a_time() -> None:
    body = one(Renderer().alert(make_alert(published=None), "text")).body

    assert "UTC" not in body and "·" not in body and "\nReuters\n" in body


def test_titles_per_format() -> None:
    alert = make_alert(title=HOSTILE)
    renderer = Renderer()

    html = one(renderer.alert(alert, "html"))
    telegram = one(renderer.alert(alert, "telegram"))

    assert html.title == f"ukraine: {HOSTILE}"  # the e-mail subject: plain text
    assert html.text_body is not None and HOSTILE in html.text_body
    assert "[Kyiv]" in html.text_body
    assert telegram.title == ""  # Apprise would splice a title into Telegram HTML unescaped
    assert HOSTILE in parse_html(telegram.body)[0]


# -- digests -------------------------------------------------------------------------


def digest_alerts() -> list[Alert]:
    t = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    return [
        make_alert(rule="energy", title="Oil up", published=t - timedelta(hours=5)),
        make_alert(rule="ukraine", title="Undated report", published=None),
        make_alert(rule="ukraine", title="Ceasefire holds", published=t - timedelta(hours=3)),
        make_alert(rule="energy", title="Grid fails", published=t),
        make_alert(rule="ukraine", title="Talks resume", published=t - timedelta(hours=1)),
    ]


@pytest.mark.parametrize("fmt", ["text", "html", "telegram", "markdown"])
def test_digest_is_newest_first_grouped_by_rule_with_undated_last(fmt: Format) -> None:
    messages = Renderer().digest(digest_alerts(), fmt, "Daily digest")
    body = Elements(one(messages).body).visible()

    # Groups come in the order of their newest story; each group is newest first.
    order = [
        "energy",
        "Grid fails",
        "Oil up",
        "ukraine",
        "Talks resume",
        "Ceasefire holds",
        "Undated report",
    ]
    positions = [body.index(text) for text in order]
    assert positions == sorted(positions)
    assert "Daily digest" in body and "5 alerts" in body


def test_digest_of_one_alert_and_of_none() -> None:
    renderer = Renderer()

    assert "1 alert" in one(renderer.digest([make_alert()], "text", "Hourly")).body
    assert renderer.digest([], "telegram", "Hourly") == []


def test_html_digest_has_a_text_part_with_the_same_stories() -> None:
    message = one(Renderer().digest(digest_alerts(), "html", "Daily <digest>"))

    assert message.title == "Daily <digest>"
    assert message.text_body is not None
    for alert in digest_alerts():
        assert alert.title in message.text_body


# -- Telegram's limit ----------------------------------------------------------------


def weight(part: str) -> int:
    visible, _ = parse_html(part)
    return utf16_len(visible)


def test_long_telegram_digest_splits_into_parts_telegram_accepts_keeping_every_story() -> None:
    alerts = [
        make_alert(
            title=f"Story number {n} about <things> & stuff",
            snippet=Snippet("word " * 60 + "Kyiv", ((300, 304),)),
            published=datetime(2024, 5, 1, tzinfo=UTC) - timedelta(minutes=n),
            also_reported_by=("AP",),
        )
        for n in range(60)
    ]

    parts = Renderer().digest(alerts, "telegram", "Daily digest")

    assert len(parts) > 1
    visible = ""
    for part in parts:
        assert part.format == "telegram" and part.title == ""
        assert weight(part.body) <= 4096
        # Apprise's HTML mode turns line breaks into \r\n: the part must still fit.
        assert utf16_len(parse_html(part.body)[0].replace("\n", "\r\n")) <= 4096
        visible += parse_html(part.body)[0] + "\n"
    for n in range(60):
        assert f"Story number {n} about <things> & stuff" in visible


def test_a_single_over_long_alert_is_split_too() -> None:
    # Within the caps, but emoji are two UTF-16 units each: over one message's worth.
    alert = make_alert(
        title="😀 " * 1000,
        snippet=Snippet("😀 " * 1000, ((0, 1),)),
        also_reported_by=tuple("😀" * 40 for _ in range(200)),
    )

    parts = Renderer().alert(alert, "telegram")

    assert len(parts) == 2
    assert all(weight(p.body) <= 4096 for p in parts)


def test_split_counts_utf16_units_not_python_characters() -> None:
    emoji = "😀" * 3000  # 3,000 characters but 6,000 UTF-16 units

    parts = telegram_split(emoji)

    assert [utf16_len(parse_html(p)[0]) for p in parts] == [4096, 6000 - 4096]


def test_split_counts_an_entity_as_one_character() -> None:
    assert telegram_split("&lt;" * 4096) == ["&lt;" * 4096]
    assert len(telegram_split("&lt;" * 4097)) == 2


def test_split_breaks_between_words_and_reopens_tags() -> None:
    words = [f"w{n}" for n in range(3000)]
    markup = '<b>bold <a href="https://example.com/">' + " ".join(words) + "</a></b> tail"

    parts = telegram_split(markup, limit=1000)

    assert len(parts) > 1
    seen: list[str] = []
    for part in parts:
        visible, _ = parse_html(part)
        assert utf16_len(visible) <= 1000
        seen += visible.split()
    assert seen == ["bold", *words, "tail"]
    assert parts[1].startswith('<b><a href="https://example.com/">')
    assert parts[0].endswith("</a></b>")


def test_split_fills_parts_rather_than_breaking_at_an_early_blank_line() -> None:
    words = " ".join(["w"] * 600)  # 1,199 units

    parts = telegram_split(f"intro\n\n{words}", limit=1000)

    assert len(parts) == 2
    assert parts[0].startswith("intro") and weight(parts[0]) > 900


def test_split_prefers_a_blank_line_to_a_space() -> None:
    first = " ".join(["alpha"] * 150)  # 899 units
    second = " ".join(["beta"] * 20)

    parts = telegram_split(f"{first}\n\n{second}", limit=1000)

    assert parts == [first, second]


def test_a_word_longer_than_a_part_is_cut_but_never_inside_an_entity() -> None:
    parts = telegram_split("x" * 9 + "&amp;" + "y" * 5, limit=10)

    assert parts == ["x" * 9 + "&amp;", "y" * 5]
    assert telegram_split("x" * 10 + "<b>y</b>", limit=10) == ["x" * 10, "<b>y</b>"]


def test_split_makes_a_user_template_acceptable_to_telegram() -> None:
    parts = telegram_split(
        "<div>one<br>two</div> <b>bold <i>both</b> stray < & ampersand "
        '<a href="javascript:x">js</a>'
        '<code><b>no tags in code</b></code><span class="tg-spoiler">s</span> '
        '<a href="https://a.test/">outer <a href="https://b.test/">inner</a></a>'
    )

    visible, links = parse_html(parts[0])
    assert visible == "one\ntwo bold both stray < & ampersand jsno tags in codes outer inner"
    assert links == ("https://a.test/",)


@pytest.mark.parametrize(
    ("markup", "sent"),
    [
        # Synonyms become the names Telegram documents.
        (
            "<strong>a</strong> <em>b</em> <ins>c</ins> <strike>d</strike> <del>e</del>",
            "<b>a</b> <i>b</i> <u>c</u> <s>d</s> <s>e</s>",
        ),
        ("<u>a</u><s>b</s><i>c</i><b>d</b>", "<u>a</u><s>b</s><i>c</i><b>d</b>"),
        (
            "<blockquote>q</blockquote><tg-spoiler>t</tg-spoiler>",
            "<blockquote>q</blockquote><tg-spoiler>t</tg-spoiler>",
        ),
        # A spoiler written as a span, with the class among others, in any letter case.
        ('<span class="tg-spoiler">s</span>', "<tg-spoiler>s</tg-spoiler>"),
        ('<span class="big tg-spoiler">s</span>', "<tg-spoiler>s</tg-spoiler>"),
        ('<SPAN CLASS="tg-spoiler">s</SPAN>', "<tg-spoiler>s</tg-spoiler>"),
        ('<span class="tg-spoilerx">s</span>', "s"),
        ('<span class="tg-spoiler">s</span> after', "<tg-spoiler>s</tg-spoiler> after"),
        ("<span>s</span>", "s"),
        # Links: any quoting or case, other attributes dropped, & escaped, unsafe ones text.
        (
            "<a href='https://a.test/?x=1&amp;y=2'>q</a>",
            '<a href="https://a.test/?x=1&amp;y=2">q</a>',
        ),
        ("<a href=https://a.test/p>u</a>", '<a href="https://a.test/p">u</a>'),
        ('<A HREF="https://a.test/">U</A>', '<a href="https://a.test/">U</a>'),
        ('<a title="t" data-x href="https://a.test/">t</a>', '<a href="https://a.test/">t</a>'),
        ('<a href="javascript:alert(1)">j</a>', "j"),
        ('<a href="https://a.test/" href="javascript:x">last wins</a>', "last wins"),
        ("<a>none</a><a href>empty</a>", "noneempty"),
        (
            '<a href="https://a.test/"><a href="https://b.test/">in</a>out</a>',
            '<a href="https://a.test/">in</a>out',
        ),
        # Code: a language only on code inside pre, and made safe; nothing inside code;
        # only code inside pre; pre without attributes.
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            '<pre><code class="language-python">x = 1</code></pre>',
        ),
        (
            '<pre><code class="language-py&quot;&gt;&lt;b">x</code></pre>',
            '<pre><code class="language-pyb">x</code></pre>',
        ),
        ('<pre><code class="python">x</code></pre>', "<pre><code>x</code></pre>"),
        ('<code class="language-python">x</code>', "<code>x</code>"),
        ('<code><b>x</b><a href="https://a.test/">l</a></code>', "<code>xl</code>"),
        ("<pre><b>x</b><code>c</code></pre>", "<pre>x<code>c</code></pre>"),
        (
            '<pre><code class="language-c&amp;d">x</code></pre>',
            '<pre><code class="language-cd">x</code></pre>',
        ),
        ('<pre class="x">p</pre>', "<pre>p</pre>"),
        # Overlapping tags are closed in order.
        ("<b>x<i>y</b>z</i>", "<b>x<i>y</i></b>z"),
    ],
)
def test_tags_are_normalised_to_what_telegram_accepts(markup: str, sent: str) -> None:
    assert telegram_split(markup) == [sent]


telegram_html = st.lists(
    st.sampled_from([*"ab <>&\n😀é", "&lt;", "&amp;", "<b>", "</b>", "<i>", "</i>", "word "]),
    max_size=400,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(telegram_html, st.integers(min_value=2, max_value=120))
def test_split_parts_always_parse_fit_and_lose_no_text(markup: str, limit: int) -> None:
    parts = telegram_split(markup, limit)

    whole = "".join(parse_html(p)[0] for p in telegram_split(markup, 10**6))
    got = ""
    for part in parts:
        visible, _ = parse_html(part)
        assert utf16_len(visible) <= limit
        assert visible.strip()
        got += visible
    assert re.sub(r"\s", "", got) == re.sub(r"\s", "", whole)


@pytest.fixture(scope="module")
def default_renderer() -> Renderer:
    """One Renderer for a property test's examples: compiling its templates is the slow part."""
    return Renderer()


@settings(max_examples=200, deadline=None)
@given(
    title=st.text(max_size=200),
    feed=st.text(max_size=50),
    snippet=st.text(max_size=300),
    marks=st.lists(st.tuples(st.integers(-5, 320), st.integers(-5, 320)), max_size=5),
    link=st.one_of(st.none(), st.text(max_size=50), st.just("https://x.test/?a=<'\"&>")),
)
def test_any_feed_text_renders_to_markup_that_adds_no_elements(
    default_renderer: Renderer,
    title: str,
    feed: str,
    snippet: str,
    marks: list[tuple[int, int]],
    link: str | None,
) -> None:
    alert = make_alert(title=title, feed=feed, link=link, snippet=Snippet(snippet, tuple(marks)))
    renderer = default_renderer

    for part in renderer.alert(alert, "telegram"):
        visible, links = parse_html(part.body)
        assert utf16_len(visible) <= 4096
        assert all(href.startswith(("https://", "http://")) for href in links)
    page = Elements(one(renderer.alert(alert, "html")).body)
    assert page.names() <= {"html", "body", "h2", "p", "a", "b"}
    assert all(set(attrs) <= {"href", "style"} for _, attrs in page.tags)


# -- size caps -----------------------------------------------------------------------

MB = 1_000_000


def repeat(unit: str, size: int) -> str:
    return (unit * (size // len(unit) + 1))[:size]


HUGE_TITLE = repeat("Kyiv <script>alert(1)</script> & more news ", MB)
SNIPPET_UNIT = "Delegations met in Kyiv on Monday & <i>talked</i> "  # "Kyiv" at 19..23
HUGE_SNIPPET = Snippet(
    repeat(SNIPPET_UNIT, MB),
    tuple((n * len(SNIPPET_UNIT) + 19, n * len(SNIPPET_UNIT) + 23) for n in range(MB // 50)),
)


def huge_alert(**changes: object) -> Alert:
    """A 1 MB headline and a 1 MB summary, hostile characters throughout."""
    values: dict[str, object] = {
        "title": HUGE_TITLE,
        "snippet": HUGE_SNIPPET,
        "also_reported_by": ("AP", "BBC"),
    }
    return make_alert(**{**values, **changes})


def visible(fmt: Format, body: str) -> str:
    """The text a reader sees: markup parsed (strictly, for Telegram), entities decoded."""
    if fmt == "telegram":
        return parse_html(body)[0]  # raises on a broken tag or entity, as Telegram would
    if fmt == "html":
        return Elements(body).visible()
    if fmt == "markdown":
        return Elements(markdown_to_html(body)).visible()
    return body


def test_the_caps_are_the_documented_ones() -> None:
    assert (MAX_TITLE, MAX_SNIPPET, MAX_ALERT, MAX_SUBJECT, MAX_TELEGRAM_MESSAGES) == (
        300,
        600,
        4000,
        200,
        2,
    )


# The bounds are the measured sizes of the 1 MB alert, rounded up to the next 50:
# 300 (title) + 600 (snippet) + what the format adds (markup, entities, the fixed lines).
@pytest.mark.parametrize(
    ("fmt", "max_body", "max_visible"),
    [
        ("text", 1050, 1050),  # measured 1,033 and 1,033
        ("html", 1750, 1050),  # measured 1,737 and 1,007
        ("telegram", 1450, 1000),  # measured 1,429 and 970 (UTF-16 units)
        ("markdown", 1400, 1000),  # measured 1,384 and 968
    ],
)
def test_a_1mb_headline_and_summary_render_within_the_caps(
    fmt: Format, max_body: int, max_visible: int
) -> None:
    messages = Renderer().alert(huge_alert(), fmt)

    assert len(messages) == 1
    [message] = messages
    seen = visible(fmt, message.body)
    assert len(message.body) <= max_body
    assert utf16_len(seen) <= max_visible
    # The title, cut at a word and nothing decoded wrongly at the cut.
    title = seen[: seen.index("…")]
    assert len(title) + 1 <= MAX_TITLE
    assert HUGE_TITLE.startswith(title) and HUGE_TITLE[len(title)] == " "
    # The snippet likewise (its marks are brackets in text).
    start = seen.index("Delegations")
    snippet = seen[start : seen.index("…", start)].replace("[", "").replace("]", "")
    assert len(snippet) + 1 <= MAX_SNIPPET
    assert HUGE_SNIPPET.text.startswith(snippet) and HUGE_SNIPPET.text[len(snippet)] == " "
    assert "Also reported by: AP, BBC" in seen and "ukraine" in seen


@pytest.mark.parametrize("fmt", ["text", "html", "telegram", "markdown"])
def test_a_cut_alert_keeps_its_link(fmt: Format) -> None:
    [message] = Renderer().alert(huge_alert(), fmt)

    if fmt == "text":
        assert LINK in message.body.splitlines()
    elif fmt == "telegram":
        assert parse_html(message.body)[1] == (LINK,)
    else:
        html = message.body if fmt == "html" else markdown_to_html(message.body)
        assert LINK in Elements(html).hrefs()


@pytest.mark.parametrize("fmt", ["html", "telegram"])
def test_a_cut_never_breaks_an_entity_or_a_tag(fmt: Format) -> None:
    renderer = Renderer()
    short = Elements(one(renderer.alert(make_alert(also_reported_by=("AP",)), fmt)).body)
    body = one(renderer.alert(huge_alert(), fmt)).body

    if fmt == "telegram":
        parse_html(body)  # raises on an unbalanced tag or a bare "&", as Telegram would
    assert Elements(body).names() == short.names()  # no tag added, none left open
    assert "<script" not in body
    # Every "&" begins a whole entity: a cut one would read "&am…" or "&l…".
    assert re.search(r"&(?!amp;|lt;|gt;|quot;|#x27;|#39;)", body) is None
    assert body.count("&lt;script&gt;") == body.count("&lt;/script&gt;")


@pytest.mark.parametrize("fmt", ["text", "html", "markdown"])
def test_subject_of_a_1mb_headline_is_at_most_200_characters(fmt: Format) -> None:
    [message] = Renderer().alert(huge_alert(), fmt)

    assert len(message.title) <= MAX_SUBJECT
    assert message.title.endswith("…")
    head = message.title[:-1]
    assert ("ukraine: " + HUGE_TITLE).startswith(head)
    assert ("ukraine: " + HUGE_TITLE)[len(head)] == " "
    if fmt == "html":
        assert message.text_body is not None and len(message.text_body) <= 1050


def test_the_text_part_of_an_email_is_capped_like_the_text_format() -> None:
    renderer = Renderer()
    [html] = renderer.alert(huge_alert(), "html")
    [text] = renderer.alert(huge_alert(), "text")

    assert html.text_body == text.body


def test_telegram_alert_within_two_messages_each_within_4096_units() -> None:
    [message] = Renderer().alert(huge_alert(), "telegram")

    assert message.title == ""
    assert utf16_len(parse_html(message.body)[0]) <= 4096


# Every field at its worst at once: the whole alert stays within MAX_ALERT plus the
# default template's own text. Measured, counting the link once: text 4,026, html
# 4,022, telegram 4,023 and markdown 4,021 (those two show the link only as an href).
WORST_LINK = "https://example.com/" + "a" * 2020


def worst_alert() -> Alert:
    return make_alert(
        title="t " * MB,
        rule="r" * 1000,
        feed="f " * 1000,
        link=WORST_LINK,
        snippet=Snippet("s " * MB, ((0, 1),)),
        also_reported_by=tuple(f"Outlet number {n}" for n in range(1000)),
    )


@pytest.mark.parametrize(
    ("fmt", "overhead"), [("text", 40), ("html", 40), ("telegram", 40), ("markdown", 40)]
)
def test_a_whole_alert_is_at_most_4000_characters_plus_the_template(
    fmt: Format, overhead: int
) -> None:
    messages = Renderer().alert(worst_alert(), fmt)

    assert len(messages) == 1
    seen = visible(fmt, messages[0].body)
    assert seen.count(WORST_LINK) == (1 if fmt in ("text", "html") else 0)
    hidden = 0 if fmt in ("text", "html") else len(WORST_LINK)
    assert len(seen) + hidden <= MAX_ALERT + overhead
    assert "Also reported by: Outlet number 0, Outlet number 1," in seen
    assert re.search(r"Outlet number \d+, \d+ more", seen)


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("alpha beta gamma", 16, "alpha beta gamma"),  # fits: untouched
        ("alpha beta gamma", 15, "alpha beta…"),  # never mid-word
        ("alpha beta gamma", 11, "alpha beta…"),  # the ellipsis counts
        ("alpha beta gamma", 10, "alpha…"),
        ("alpha, beta gamma", 12, "alpha, beta…"),
        ("alpha, beta gamma", 11, "alpha…"),  # no dangling comma
        ("abcdefghij", 5, "abcd…"),  # a single word longer than the cap
        ("e\u0301" * 5, 4, "e\u0301…"),  # not between a letter and its accent
        ("👍\u200d👍\u200d👍", 3, "👍…"),  # nor inside a joined emoji
        ("ab\u200dcdef", 4, "a…"),  # nor just after a joiner
        ("a bcdefgh", 5, "a…"),  # a one-letter first word is still a word
        ("abc", 2, "a…"),  # room for one character and the ellipsis
        ("alpha beta", 1, "…"),
        ("alpha beta", 0, ""),
    ],
)
def test_cut_at_a_word_with_an_ellipsis(text: str, limit: int, expected: str) -> None:
    assert cut(text, limit) == expected
    assert len(cut(text, limit)) <= limit


# The snippet, 634 characters: "New York Times" crosses the cut at 600, "Kyiv" is
# well before it and "Lviv" after it.
CUT_SNIPPET = "Kyiv " + "word " * 117 + "New York Times " + "word " * 5 + "Lviv"
CUT_MARKS = ((0, 4), (590, 604), (630, 634))


@pytest.mark.parametrize(
    ("fmt", "first", "crossing", "mark", "marks"),
    [
        ("text", "[Kyiv] word", "word [New York]…", r"\[", 2),
        ("markdown", "**Kyiv** word", "word **New York**…", r"\*\*\w", 2),
        ("telegram", "<b>Kyiv</b> word", "word <b>New York</b>…", "<b>", 3),  # + the title
        ("html", "<b>Kyiv</b> word", "word <b>New York</b>…", "<b>", 2),
    ],
)
def test_marks_are_cut_with_the_snippet(
    fmt: Format, first: str, crossing: str, mark: str, marks: int
) -> None:
    assert CUT_SNIPPET[590:604] == "New York Times" and CUT_SNIPPET[630:634] == "Lviv"
    snippet = Snippet(CUT_SNIPPET, CUT_MARKS)

    body = one(Renderer().alert(make_alert(snippet=snippet), fmt)).body

    assert first in body and crossing in body
    assert "Times" not in body and "Lviv" not in body
    assert len(re.findall(mark, body)) == marks


# Rendered before the caps existed: a story within them must come out byte for byte.
SHORT_BODIES = {
    "text": (
        "Talks resume in Kyiv\nReuters · 2024-05-01 12:34 UTC\n\n"
        "Delegations met in [Kyiv] on Monday\n\nhttps://example.com/story?id=1&lang=en\n"
        "Also reported by: AP, BBC News\nRule: ukraine"
    ),
    "markdown": (
        "**[Talks resume in Kyiv](https://example.com/story?id=1&lang=en)**\n\n"
        "Reuters · 2024-05-01 12:34 UTC\n\nDelegations met in **Kyiv** on Monday\n\n"
        "Also reported by: AP, BBC News\n\nRule: ukraine"
    ),
    "telegram": (
        '<b><a href="https://example.com/story?id=1&amp;lang=en">Talks resume in Kyiv</a></b>\n'
        "<i>Reuters · 2024-05-01 12:34 UTC</i>\n\nDelegations met in <b>Kyiv</b> on Monday\n\n"
        "Also reported by: AP, BBC News\nRule: ukraine"
    ),
    "html": (
        "<!DOCTYPE html>\n<html>\n"
        '<body style="font-family: sans-serif; line-height: 1.4">\n'
        '<h2 style="margin-bottom: 0.2em">'
        '<a href="https://example.com/story?id=1&amp;lang=en">Talks resume in Kyiv</a></h2>\n'
        '<p style="color: #555; margin-top: 0">Reuters · 2024-05-01 12:34 UTC</p>\n'
        "<p>Delegations met in <b>Kyiv</b> on Monday</p>\n"
        '<p><a href="https://example.com/story?id=1&amp;lang=en">'
        "https://example.com/story?id=1&amp;lang=en</a></p>\n"
        "<p>Also reported by: AP, BBC News</p>\n"
        '<p style="color: #555">Rule: ukraine</p>\n</body>\n</html>'
    ),
}


@pytest.mark.parametrize("fmt", ["text", "html", "telegram", "markdown"])
def test_a_short_story_is_untouched_by_the_caps(fmt: Format) -> None:
    [message] = Renderer().alert(make_alert(also_reported_by=("AP", "BBC News")), fmt)

    assert message.body == SHORT_BODIES[fmt]
    assert message.title == ("" if fmt == "telegram" else "ukraine: Talks resume in Kyiv")
    assert message.text_body == (SHORT_BODIES["text"] if fmt == "html" else None)


@pytest.mark.parametrize(
    ("extra", "title_line", "snippet_line"),
    [
        ("", "word " * 59 + "words", "text " * 119 + "texts"),  # exactly at the caps
        ("s", "word " * 59 + "…", "text " * 119 + "…"),  # one over: the last word goes
    ],
)
def test_a_story_at_the_caps_is_untouched_and_one_character_more_is_cut(
    extra: str, title_line: str, snippet_line: str
) -> None:
    title = "word " * 59 + "words" + extra
    snippet = "text " * 119 + "texts" + extra
    assert len(title) - len(extra) == MAX_TITLE and len(snippet) - len(extra) == MAX_SNIPPET

    body = one(Renderer().alert(make_alert(title=title, snippet=Snippet(snippet)), "text")).body

    assert body.splitlines()[0] == title_line.replace(" …", "…")
    assert body.splitlines()[3] == snippet_line.replace(" …", "…")


REPEATING = "{% for _ in range(400) %}{{ alert.title }}\n{% endfor %}"  # 8,800 units


@pytest.mark.parametrize(
    ("template_end", "links"),
    [
        ("", ((), (LINK,))),  # no link anywhere: added to the last message
        ('<a href="{{ alert.link }}">read</a>', ((), (LINK,))),  # past the cut: added
        ("{{ alert.link }}", ((), (LINK,))),  # shown past the cut, as text: added
    ],
)
def test_a_telegram_alert_is_at_most_two_messages_ending_with_the_link(
    template_end: str, links: tuple[tuple[str, ...], ...]
) -> None:
    renderer = Renderer({"alert.telegram": REPEATING + template_end})

    parts = renderer.alert(make_alert(), "telegram")

    assert len(parts) == MAX_TELEGRAM_MESSAGES
    assert tuple(parse_html(p.body)[1] for p in parts) == links
    assert all(weight(p.body) <= 4096 for p in parts)
    last = parse_html(parts[-1].body)[0]
    assert last.endswith(f"Talks resume in Kyiv…\n{LINK}")


def test_a_telegram_alert_cut_to_two_messages_does_not_repeat_a_link_already_sent() -> None:
    renderer = Renderer(
        {"alert.telegram": '<a href="{{ alert.link }}">{{ alert.title }}</a>\n' + REPEATING}
    )

    parts = renderer.alert(make_alert(), "telegram")

    assert len(parts) == 2
    assert [parse_html(p.body)[1] for p in parts] == [(LINK,), ()]
    assert parse_html(parts[-1].body)[0].endswith("Talks resume in Kyiv…")


def sent_weight(part: str) -> int:
    """A part's size as the split counts it: ``weight``, with a line break as two."""
    return weight(part) + parse_html(part)[0].count("\n")


WORDS = "{% for _ in range(5000) %}w {% endfor %}"  # 10,000 units: more than two messages


@pytest.mark.parametrize("link", [LINK, LINK + "&ref=" + "y" * 200])
def test_a_cut_telegram_alert_fills_its_last_message_and_ends_with_the_link(link: str) -> None:
    parts = Renderer({"alert.telegram": WORDS}).alert(make_alert(link=link), "telegram")

    assert len(parts) == 2
    # The ellipsis, the line break and the link are counted exactly: the last message is
    # full to within one word's space, and never over.
    assert [4094 <= sent_weight(p.body) <= 4096 for p in parts] == [True, True]
    shown, links = parse_html(parts[-1].body)
    assert shown.endswith(f"w w…\n{link}") and links == (link,)


@pytest.mark.parametrize(
    ("template", "ending", "links"),
    [
        # The link already shown as text: not added again, only the ellipsis.
        ("{{ alert.link }}\n" + REPEATING, "Talks resume in Kyiv…", ((), ())),
        # Other tags before the cut are no link: the link is added.
        ("<b>{{ alert.title }}</b>\n" + REPEATING, f"Talks resume in Kyiv…\n{LINK}", ((), (LINK,))),
        # Text that already ends in an ellipsis (then spaces) gets no second one.
        ("{% for _ in range(3000) %}w…   {% endfor %}", f"w…   w…\n{LINK}", ((), (LINK,))),
    ],
)
def test_the_end_of_a_cut_telegram_alert(
    template: str, ending: str, links: tuple[tuple[str, ...], ...]
) -> None:
    parts = Renderer({"alert.telegram": template}).alert(make_alert(), "telegram")

    assert len(parts) == 2
    assert tuple(parse_html(p.body)[1] for p in parts) == links
    assert parse_html(parts[-1].body)[0].endswith(ending)


def test_an_alert_that_fills_two_messages_but_for_trailing_blank_lines_is_not_cut() -> None:
    """Only whitespace and closing tags left over: nothing is lost, so no "…" and no link."""
    template = "<b>{{ 'x' * 4000 }} {{ 'y' * 4094 }}\n\n</b>"

    parts = Renderer({"alert.telegram": template}).alert(make_alert(), "telegram")

    assert [p.body for p in parts] == ["<b>" + "x" * 4000 + "</b>", "<b>" + "y" * 4094 + "</b>"]


@pytest.mark.parametrize("limit", [-1, 0, 1])
def test_a_part_must_hold_at_least_two_units(limit: int) -> None:
    """Two: room for one character and the "…" that ends a cut part."""
    with pytest.raises(ValueError, match=r"^limit must be at least 2$"):
        telegram_split("text", limit)


@pytest.mark.parametrize("fmt", ["text", "html", "markdown", "telegram"])
def test_every_message_says_its_format_for_apprise(fmt: Format) -> None:
    """Delivery picks Apprise's body format from it (HTML, Markdown or text)."""
    alerts = Renderer({"alert.telegram": REPEATING}).alert(make_alert(), fmt)
    digest = Renderer().digest([make_alert(), make_alert()], fmt, "Digest")

    assert {m.format for m in alerts + digest} == {fmt}


def test_a_cut_telegram_alert_without_a_link_ends_with_the_ellipsis() -> None:
    parts = Renderer({"alert.telegram": REPEATING}).alert(make_alert(link=None), "telegram")

    assert len(parts) == 2
    assert parse_html(parts[-1].body)[0].endswith("Talks resume in Kyiv\nTalks resume in Kyiv…")


@pytest.mark.parametrize(
    ("markup", "limit", "parts"),
    [
        # Past half the budget, a blank line beats a later line break ...
        ("aaaaaaaaaaaa\n\nbb\nccccccccccc", 20, ["aaaaaaaaaaaa", "bb\nccccccccccc"]),
        # ... also exactly at half (10 of 20; 10 of 21, rounded down), before a later space;
        ("aaaaaaaa\n\nbbb cccccccccccccc", 20, ["aaaaaaaa", "bbb cccccccccccccc"]),
        ("aaaaaaaa\n\nbbb ccccccccccccccc", 21, ["aaaaaaaa", "bbb ccccccccccccccc"]),
        # short of half (12 of 30), a later space wins;
        (
            "aaaaaaaaaa\n\nbbbbbbbbbb ccccccccccccccccccccc",
            30,
            ["aaaaaaaaaa\n\nbbbbbbbbbb", "ccccccccccccccccccccc"],
        ),
        # with every break short of half, the last one of any kind.
        ("a\nb c" + "d" * 30, 20, ["a\nb", "c" + "d" * 19, "d" * 11]),
        # Whitespace at either edge of a part is dropped, also next to a tag.
        ("  a", 10, ["a"]),
        ("aaaa   bbbb", 6, ["aaaa", "bbbb"]),
        ("<b>aaaa</b>  bbbb", 6, ["<b>aaaa</b>", "bbbb"]),
        # Tags closed right after the break end the first part, not open the next.
        ("<b>a<i>aaaaaaaaa </b>" + "c" * 15, 12, ["<b>a<i>aaaaaaaaa</i></b>", "c" * 12, "ccc"]),
    ],
)
def test_where_a_telegram_part_ends(markup: str, limit: int, parts: list[str]) -> None:
    assert telegram_split(markup, limit) == parts


# Measured per 1 MB entry: text 1,029, html 955, markdown 957 visible characters, and
# about 320 for the digest's head (its title cut to MAX_TITLE, the count).
@pytest.mark.parametrize(("fmt", "per_entry"), [("text", 1050), ("html", 1000), ("markdown", 1000)])
@pytest.mark.parametrize("entries", [1, 3, 10])
def test_a_digest_is_bounded_by_its_entries(fmt: Format, per_entry: int, entries: int) -> None:
    alerts = [huge_alert(published=datetime(2024, 5, 1, tzinfo=UTC)) for _ in range(entries)]

    [message] = Renderer().digest(alerts, fmt, repeat("Daily digest ", MB))

    seen = visible(fmt, message.body)
    assert len(seen) <= entries * per_entry + MAX_TITLE + 50
    assert seen.count("…") == 2 * entries + 1  # each title and snippet, and the digest title
    assert len(message.title) <= MAX_SUBJECT
    if fmt != "text":
        html = message.body if fmt == "html" else markdown_to_html(message.body)
        assert Elements(html).hrefs().count(LINK) == entries


def test_a_digest_template_sees_every_alert_newest_first_and_undated_last() -> None:
    """1970-01-01, a date broken feeds send, is still a date: before the undated."""
    renderer = Renderer({"digest.text": "{% for a in alerts %}{{ a.title }};{% endfor %}"})
    alerts = [
        make_alert(title="undated", published=None),
        make_alert(title="epoch", published=datetime(1970, 1, 1, tzinfo=UTC)),
        make_alert(title="new", published=datetime(2024, 5, 1, tzinfo=UTC)),
    ]

    assert one(renderer.digest(alerts, "text", "Digest")).body == "new;epoch;undated;"


def test_a_markdown_digest_shows_its_title_and_entries_as_written() -> None:
    message = one(
        Renderer().digest([make_alert(title="*x* AT&amp;T")], "markdown", "Daily *digest*")
    )

    page = Elements(markdown_to_html(message.body))
    assert "em" not in page.names()
    assert page.visible().startswith("Daily *digest* — 1 alert ukraine *x* AT&amp;T — Reuters")


@pytest.mark.parametrize(
    ("kind", "tail"), [("alert", "{{ alert.rule }}"), ("digest", "{{ count }}")]
)
def test_an_html_template_keeps_its_blank_lines(kind: str, tail: str) -> None:
    """They matter inside <pre>; other formats fold runs of blank lines."""
    renderer = Renderer({f"{kind}.html": "<pre>a\n\n\nb</pre>" + tail})

    if kind == "alert":
        body = one(renderer.alert(make_alert(), "html")).body
        assert body == "<pre>a\n\n\nb</pre>ukraine"
    else:
        body = one(renderer.digest([make_alert()], "html", "Digest")).body
        assert body == "<pre>a\n\n\nb</pre>1"


def test_templates_output_is_tidied_trailing_spaces_crlf_and_blank_line_runs() -> None:
    renderer = Renderer({"alert.text": "a  \r\nb\n\n\n\nc {{ alert.rule }}"})

    assert one(renderer.alert(make_alert(), "text")).body == "a\nb\n\nc ukraine"


def test_a_story_without_a_title_is_shown_as_untitled() -> None:
    body = one(Renderer().alert(make_alert(title=" "), "text")).body

    assert body.splitlines()[0] == "(untitled)"


def test_a_link_of_up_to_2048_characters_is_kept_and_a_longer_one_dropped() -> None:
    at_cap = "https://example.com/" + "a" * (2048 - 20)
    over = at_cap + "a"

    assert at_cap in one(Renderer().alert(make_alert(link=at_cap), "text")).body
    assert "example.com" not in one(Renderer().alert(make_alert(link=over), "text")).body


def test_invisible_controls_are_dropped_from_the_snippet_marked_or_not() -> None:
    snippet = Snippet("De\u202elegations met in Ky\u202eiv today", ((20, 25),))

    body = one(Renderer().alert(make_alert(snippet=snippet), "markdown")).body

    assert "Delegations met in **Kyiv** today" in body


def test_a_snippet_starting_with_x_keeps_it() -> None:
    body = one(Renderer().alert(make_alert(snippet=Snippet("Xinhua says", ())), "text")).body

    assert "Xinhua says" in body


def test_a_corroborated_alert_gives_templates_no_also_reported_by() -> None:
    at = datetime(2024, 5, 1, 10, 2, tzinfo=UTC)
    alert = make_alert(reported_by=(("bbc.co.uk", at),), also_reported_by=("AP",))
    renderer = Renderer({"alert.text": "[{{ alert.also_reported_by|join(',') }}]"})

    assert one(renderer.alert(alert, "text")).body == "[]"


@pytest.mark.parametrize(
    ("names", "room", "shown"),
    [
        (["AP", "BBC"], 7, ("AP", "BBC")),  # "AP, BBC" fits exactly
        (["AP", "BBC"], 6, ("2 more",)),
        (["AP", "BBC", "CNN"], 9, ("3 more",)),
        (["AP", "BBC", "CNN"], 10, ("AP", "2 more")),  # "AP, 2 more"
        (["AP", "BBC", "CNN", "DW"], 15, ("AP", "BBC", "2 more")),  # "AP, BBC, 2 more"
        (["AP", "BBC", "CNN", "DW"], 14, ("AP", "3 more")),
    ],
)
def test_outlet_names_fill_their_room_then_say_how_many_more(
    names: list[str], room: int, shown: tuple[str, ...]
) -> None:
    assert _names(names, room) == shown


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"alert.bogus": "x", "digest.nope": "y"},
            "unknown template name(s) 'alert.bogus', 'digest.nope'; known names are alert.html,"
            " alert.markdown, alert.telegram, alert.text, digest.html, digest.markdown,"
            " digest.telegram, digest.text",
        ),
        (
            {"alert.text": "{% if %}"},
            "template 'alert.text', line 1: Expected an expression, got 'end of statement block'",
        ),
        (
            {"digest.text": "{{ 1 // 0 }}"},
            "template 'digest.text' failed: ZeroDivisionError: integer division or modulo by zero"
            " (on a sample alert)",
        ),
        (
            {"alert.text": "{{ 1 // 0 }}"},
            "template 'alert.text' failed: ZeroDivisionError: integer division or modulo by zero"
            " (on a sample alert)",
        ),
    ],
)
def test_template_errors_say_which_template_and_what(
    overrides: dict[str, str], message: str
) -> None:
    with pytest.raises(WatcherError) as caught:
        Renderer(overrides)
    assert str(caught.value) == message


def test_an_unknown_format_is_named_with_the_known_ones() -> None:
    with pytest.raises(WatcherError) as caught:
        Renderer().alert(make_alert(), "pdf")  # type: ignore[arg-type]
    assert (
        str(caught.value) == "unknown format 'pdf'; expected one of text, html, telegram, markdown"
    )


def test_a_template_may_indent_its_blocks_and_format_the_date_itself() -> None:
    """Blocks lose their indentation (lstrip_blocks); ``published_at`` is the datetime."""
    template = (
        "a\n    {% if true %}b{% endif %}\n"
        '{{ alert.published_at.strftime("%d.%m.%Y") if alert.published_at else "" }}'
    )

    body = one(Renderer({"alert.text": template}).alert(make_alert(), "text")).body

    assert body == "a\nb01.05.2024"  # and the line break after a block (trim_blocks)


@pytest.mark.parametrize(
    ("url", "offered"),
    [
        ("http://example.com/a", "http://example.com/a"),
        ("HTTP://example.com/", "http://example.com/"),
        ("https://exa\u202emple.com/", "https://example.com/"),  # no bidi controls
        ("https://example.com/a:b", "https://example.com/a:b"),  # the first colon ends the scheme
        ("https://a/path", "https://a/path"),  # a one-letter host
        ("https:///a/b", None),  # no host: before a path,
        ("https://?a?b", None),  # a query,
        ("https://#a#b", None),  # a fragment,
        ("https://user@/x", None),  # or after a user
        ("https://u@v@/x", None),  # (the last @ ends the user part)
    ],
)
def test_which_links_are_offered(url: str, offered: str | None) -> None:
    assert safe_link(url) == offered


# 10 KB each: far over the caps, as a 1 MB one is, for 30 entries in a few seconds.
BIG_TITLE = HUGE_TITLE[:10_000]
BIG_SNIPPET = Snippet(
    HUGE_SNIPPET.text[:10_000], tuple((a, b) for a, b in HUGE_SNIPPET.marks if b <= 10_000)
)


def test_a_telegram_digest_takes_as_many_messages_as_its_entries_need() -> None:
    alerts = [
        huge_alert(
            title=f"Story {n} " + BIG_TITLE,
            snippet=BIG_SNIPPET,
            published=datetime(2024, 5, 1, tzinfo=UTC),
        )
        for n in range(30)
    ]

    parts = Renderer().digest(alerts, "telegram", "Daily digest")

    assert 4 <= len(parts) <= 10  # 30 entries of about 950 units each
    total = 0
    seen = ""
    links: list[str] = []
    for part in parts:
        text, hrefs = parse_html(part.body)
        assert utf16_len(text) <= 4096
        total += utf16_len(text)
        seen += text
        links += hrefs
    assert total <= 30 * 1000 + 100  # measured 28,867
    assert links == [LINK] * 30
    assert all(f"Story {n} Kyiv" in seen for n in range(30))


# -- format choice -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("tgram://123:abc/456", "telegram"),
        ("TGRAM://123:abc/456", "telegram"),
        ("mailto://user:pass@example.com", "html"),
        ("mailtos://user:pass@example.com", "html"),
        ("json://localhost:8080/hook", "text"),
        ("ntfy://topic", "text"),
        ("discord://a/b", "text"),
        ("not a url", "text"),
        ("tgram", "text"),  # a scheme's name alone is not a URL
        ("tgram://123:abc/456?image=yes&url=https://e.test/", "telegram"),  # a URL in the query
    ],
)
def test_format_for_url(url: str, fmt: Format) -> None:
    assert format_for_url(url) == fmt


# -- user templates ------------------------------------------------------------------


def test_user_template_replaces_the_default_and_is_escaped_for_its_format() -> None:
    renderer = Renderer(
        {
            "alert.text": "{{ alert.rule }} | {{ alert.title }} | {{ alert.snippet }}",
            "alert.html": "<p>{{ alert.title }}</p>",
        }
    )

    text = one(renderer.alert(make_alert(title=HOSTILE), "text"))
    html = one(renderer.alert(make_alert(title=HOSTILE), "html"))

    assert text.body == f"ukraine | {HOSTILE} | Delegations met in [Kyiv] on Monday"
    assert Elements(html.body).names() == {"p"}
    assert html.text_body == text.body


def test_user_telegram_template_is_made_acceptable_to_telegram() -> None:
    renderer = Renderer(
        {"alert.telegram": "<div>{{ alert.title }}</div><br><p>{{ alert.feed }}</p>"}
    )

    body = one(renderer.alert(make_alert(title=HOSTILE), "telegram")).body

    assert parse_html(body)[0] == f"{HOSTILE}\nReuters"


def test_user_digest_template_gets_groups_newest_first() -> None:
    renderer = Renderer(
        {
            "digest.text": "{% for g in groups %}[{{ g.rule }}]"
            "{% for a in g.alerts %} {{ a.title }};{% endfor %}{% endfor %}"
        }
    )

    body = one(renderer.digest(digest_alerts(), "text", "t")).body

    assert body == (
        "[energy] Grid fails; Oil up;[ukraine] Talks resume; Ceasefire holds; Undated report;"
    )


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"alert.text": "{{ alert.title "}, "template 'alert.text', line 1"),
        ({"digest.html": "ok\n{% for x in %}"}, "template 'digest.html', line 2"),
        ({"alert.text": "{{ alert.titel }}"}, "'alert.text' failed"),
        ({"alert.xml": "x"}, "unknown template name(s) 'alert.xml'"),
    ],
)
def test_broken_user_templates_are_refused_with_a_clear_message(
    overrides: dict[str, str], expected: str
) -> None:
    with pytest.raises(WatcherError, match=re.escape(expected)):
        Renderer(overrides)


@pytest.mark.parametrize("fmt", ["text", "html", "telegram", "markdown"])
def test_a_corroborated_alert_names_each_outlet_with_its_first_time(fmt: Format) -> None:
    at = datetime(2024, 5, 1, 10, 2, tzinfo=UTC)
    alert = make_alert(
        reported_by=(
            ("bbc.co.uk", at),
            ("reuters.com", at + timedelta(minutes=13)),
            (HOSTILE, at + timedelta(minutes=40)),
        ),
        also_reported_by=("ignored",),
    )
    (message,) = Renderer().alert(alert, fmt)
    shown = unescape(re.sub(r"<[^>]+>", "", message.body)).replace("\\", "")
    assert "Reported by 3 outlets: bbc.co.uk 2024-05-01 10:02 UTC, reuters.com" in shown
    assert "Also reported by" not in shown
    if fmt in ("html", "telegram"):
        assert "<script>" not in message.body and "&lt;script&gt;" in message.body
