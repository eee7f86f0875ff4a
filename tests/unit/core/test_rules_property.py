"""Property tests: the term index never changes what matches, whatever the rules and stories."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watcher.core.errors import QueryError
from watcher.core.models import RuleSpec, Story
from watcher.core.rules import RuleBook, _analyse, _folded_words, compile_rule, prepare, snippet
from watcher.core.text import fold, html_to_text, words

# A small vocabulary with the traps: case, accents, scripts, prefixes of each other.
VOCAB = [
    "Hama", "Hamas", "rebel", "rebels", "Türkiye", "turkiye", "TURKEY", "HTS", "hts",
    "al", "Sham", "Συρία", "ΣΥΡΙΑ", "Сирия", "سوريا", "سُورِيَا", "हिन्दी", "army", "12",
]  # fmt: skip
PREFIXES = ["ha", "reb", "tu", "σ", "हि", "a", "1"]
FIELDS = ["title", "summary", "content", "author", "url", "category", "feed"]
FEEDS = ["bbc", "ap"]
SEPARATORS = [" ", " ", " ", "'", "’", "-", ", ", "<b>", "</b>", "<p>", " &amp; ", "&nbsp;"]

word = st.sampled_from(VOCAB)


def _term() -> st.SearchStrategy[str]:
    plain = word
    prefix = st.sampled_from(PREFIXES).map(lambda p: p + "*")
    phrase = st.lists(word, min_size=2, max_size=3).map(lambda ws: '"' + " ".join(ws) + '"')
    hyphenated = st.lists(word, min_size=2, max_size=2).map("-".join)
    exact = st.one_of(word, phrase).map(lambda t: "=" + t)
    regex = st.sampled_from(["/hama/", "/reb.l/", r"/\d+/", "/turk(ey|iye)/", "/σ.ρ/"])
    base = st.one_of(plain, plain, prefix, phrase, hyphenated, exact, regex)
    scoped = st.tuples(st.sampled_from(FIELDS), base).map(lambda ft: f"{ft[0]}:{ft[1]}")
    return st.one_of(base, base, base, scoped)


def _near(term: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    side = st.one_of(word, st.lists(word, min_size=2, max_size=2).map('"{0[0]} {0[1]}"'.format))
    group = st.lists(side, min_size=1, max_size=3).map(lambda xs: "(" + " OR ".join(xs) + ")")
    operand = st.one_of(side, side, group)
    return st.builds(lambda a, n, b: f"{a} NEAR/{n} {b}", operand, st.integers(1, 4), operand)


def _query() -> st.SearchStrategy[str]:
    atom = st.one_of(_term(), _term(), _near(_term()))

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        group = inner.map(lambda q: f"({q})")
        negated = st.one_of(group, atom).map(lambda q: st_not(q))
        operand = st.one_of(group, atom, negated)
        conj = st.lists(operand, min_size=2, max_size=3).map(" AND ".join)
        side = st.lists(operand, min_size=2, max_size=3).map(" ".join)
        disj = st.lists(operand, min_size=2, max_size=3).map(" OR ".join)
        return st.one_of(conj, side, disj, negated)

    return st.recursive(atom, extend, max_leaves=6)


def st_not(query: str) -> str:
    return ("NOT " if len(query) % 2 else "-") + query


queries = _query()


@st.composite
def rule_specs(draw: st.DrawFn, name: str) -> RuleSpec:
    query = draw(st.one_of(st.none(), queries))
    lists = st.lists(queries, max_size=2).map(tuple)
    all_, any_, none_ = draw(lists), draw(lists), draw(lists)
    if query is None and not (all_ or any_ or none_):
        query = draw(queries)
    feeds = draw(st.one_of(st.none(), st.lists(st.sampled_from(FEEDS), max_size=2).map(tuple)))
    return RuleSpec(name=name, query=query, all=all_, any=any_, none=none_, feeds=feeds)


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(word, st.sampled_from(SEPARATORS)), max_size=8))
    return "".join(w + sep for w, sep in parts)


@st.composite
def stories(draw: st.DrawFn) -> Story:
    return Story(
        feed=draw(st.sampled_from(FEEDS)),
        guid=None,
        link=draw(st.one_of(st.none(), texts().map(lambda t: "https://x.example/" + t))),
        title=draw(texts()),
        summary=draw(texts()),
        content=draw(texts()),
        author=draw(texts()),
        categories=tuple(draw(st.lists(texts(), max_size=2))),
    )


@st.composite
def rule_lists(draw: st.DrawFn) -> list[RuleSpec]:
    count = draw(st.integers(1, 8))
    return [draw(rule_specs(f"rule{i}")) for i in range(count)]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rule_lists(), st.lists(stories(), min_size=1, max_size=4))
def test_the_index_matches_exactly_what_checking_every_rule_matches(
    specs: list[RuleSpec], story_list: list[Story]
) -> None:
    book = RuleBook(compile_rule(spec) for spec in specs)
    for story in story_list:
        doc = prepare(story)
        assert book.match(doc) == book.match_naive(doc)


@settings(max_examples=200, deadline=None)
@given(queries, stories())
def test_a_rule_matches_the_same_alone_or_among_others(query: str, story: Story) -> None:
    alone = RuleBook([compile_rule(RuleSpec(name="q", query=query))])
    crowd = RuleBook(
        [compile_rule(RuleSpec(name=f"o{i}", query=w)) for i, w in enumerate(VOCAB)]
        + [compile_rule(RuleSpec(name="q", query=query))]
    )
    doc = prepare(story)
    in_crowd = [h for h in crowd.match(doc) if h.rule == "q"]
    assert alone.match(doc) == in_crowd


@settings(max_examples=200, deadline=None)
@given(word, stories())
def test_a_word_matches_when_the_folded_text_holds_it(query: str, story: Story) -> None:
    # An oracle built only from the text module: fold the stripped fields, split into words.
    found = any(
        fold(query) in words(fold(html_to_text(text)))
        for text in (story.title, story.summary, story.content)
    )
    book = RuleBook([compile_rule(RuleSpec(name="q", query=query))])
    assert bool(book.match(prepare(story))) == found


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60))
def test_any_word_of_any_text_can_be_searched_and_highlighted(text: str) -> None:
    story = Story(feed="", guid=None, link=None, title="", summary=text)
    doc = prepare(story)
    for w in sorted(doc.vocabulary):
        hit_list = RuleBook([compile_rule(RuleSpec(name="q", query=f'"{w}"'))]).match(doc)
        assert hit_list, w
        shown = snippet(doc, hit_list[0])
        assert shown.marks, w
        for start, end in shown.marks:
            assert w in words(fold(shown.text[start:end])), (w, shown)


@settings(max_examples=500, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=80))
def test_the_fast_word_split_equals_the_one_that_keeps_offsets(text: str) -> None:
    # prepare() uses the fast split; snippets and exact case use the slow one.
    # If they ever disagreed, highlights would land on the wrong words.
    assert _folded_words(text) == _analyse(text)[1]


@settings(max_examples=300, deadline=None)
@given(word, word, st.integers(1, 4), texts(), texts())
def test_near_matches_when_two_positions_in_one_field_are_close(
    a: str, b: str, distance: int, title: str, summary: str
) -> None:
    # Oracle: every pair of positions, from the text module's words, field by field.
    def close(text: str) -> bool:
        ws = words(fold(html_to_text(text)))
        first = [i for i, w in enumerate(ws) if w == fold(a)]
        second = [j for j, w in enumerate(ws) if w == fold(b)]
        return any(0 < abs(i - j) <= distance for i in first for j in second)

    story = Story(feed="", guid=None, link=None, title=title, summary=summary)
    book = RuleBook([compile_rule(RuleSpec(name="q", query=f"{a} NEAR/{distance} {b}"))])
    assert bool(book.match(prepare(story))) == (close(title) or close(summary))


SYNTAX = st.sampled_from(
    ["Hama", "rebel*", "AND", "OR", "NOT", "NEAR/2", "NEAR", "-", "=", "(", ")", '"', "“",
     "/", "\\", "title:", "url:", "titel:", ":", "*", " ", "'", "al-Sham", "a+", "[", "é", "Σ"]
)  # fmt: skip


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.lists(SYNTAX, max_size=12).map("".join), st.text(max_size=30)))
def test_any_query_compiles_or_fails_with_a_located_query_error(query: str) -> None:
    try:
        compiled = compile_rule(RuleSpec(name="q", query=query))
    except QueryError as problem:
        assert problem.column is not None and 1 <= problem.column <= len(query) + 1
        assert problem.expected is None or problem.expected
        return
    doc = prepare(Story(feed="f", guid=None, link=None, title=query, summary="Hama rebels"))
    for hit in RuleBook([compiled]).match(doc):
        snippet(doc, hit)
