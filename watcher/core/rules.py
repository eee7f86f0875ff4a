"""The rule language: parse queries once, prepare stories once, match through a term index.

A query compiles to a small tree of nodes that evaluate against a
:class:`Document` (a story whose fields were stripped of HTML, folded and split
into words once).  :class:`RuleBook` indexes rules by terms they cannot match
without, as percolators do, so a story is only checked against rules that can
possibly match it.  ``docs/rules.md`` is the user-facing description.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2

from watcher.core.errors import QueryError
from watcher.core.models import Hit, RuleSpec, Snippet, Story
from watcher.core.text import WORD, StoryText, fold, fold_keep_case, html_to_text, words

FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "url", "category", "feed")
_FIELD_INDEX = {name: i for i, name in enumerate(FIELDS)}
_TITLE, _SUMMARY, _CONTENT, _AUTHOR, _URL, _CATEGORY, _FEED = range(len(FIELDS))
# What an unscoped term searches.
DEFAULT_FIELDS: tuple[int, ...] = (_TITLE, _SUMMARY, _CONTENT)
_NOT_BODY = (_AUTHOR, _URL, _CATEGORY, _FEED)
# Where a snippet is looked for: the body first, since an alert shows the title anyway.
_SNIPPET_ORDER = (_SUMMARY, _CONTENT, _TITLE, _AUTHOR, _CATEGORY, _URL, _FEED)
_OPERATORS = frozenset({"AND", "OR", "NOT"})
_QUOTES = '"“”'
_STOP = frozenset("()") | frozenset(_QUOTES)
_TERM_EXPECTED = "a word, a quoted phrase, a /regex/ or a '(' group"
_WORD = "a word or a quoted phrase"
_FIELD_LIST = ", ".join(f"{f}:" for f in FIELDS)
_MAX_TERMS_PER_NODE = 5
_SEGMENT_SEPARATOR = "; "


# ---------------------------------------------------------------------------
# Words and documents


def _analyse(text: str) -> tuple[list[str], list[str], list[tuple[int, int]]]:
    """Split text into (case-kept words, folded words, spans in ``text``).

    Words are found in the original text first, then each is folded and split
    again (``words``: Chinese, Thai… are segmented), so that every folded word
    maps back to a span of the original: its own where folding changed nothing,
    else that of the whole WORD match it came from.
    """
    cased: list[str] = []
    folded: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in WORD.finditer(text):
        token = m.group()
        if token.isascii():
            cased.append(token)
            folded.append(token.lower())
            spans.append(m.span())
            continue
        kept = fold_keep_case(token)
        same = kept == token
        at, start = 0, m.start()
        for part in words(kept):
            cased.append(part)
            folded.append(part.casefold())
            if same:
                at = token.index(part, at)
                spans.append((start + at, start + at + len(part)))
                at += len(part)
            else:
                spans.append(m.span())
    return cased, folded, spans


def _folded_words(text: str) -> list[str]:
    """The folded words of ``_analyse``, faster: this runs for every field of every story.

    Folding the words joined by NUL (a non-word character that no normalisation
    step composes with or moves across) folds each word on its own, as
    ``_analyse`` does, in a handful of calls instead of several per word.
    """
    if text.isascii():
        return words(text.lower())
    joined = "\0".join(WORD.findall(text))
    if joined.isascii():  # the text was not, only its punctuation (curly quotes, dashes)
        return joined.lower().split("\0") if joined else []
    return words(fold_keep_case(joined).casefold())


class _Field:
    """One field of a prepared story: its text, folded words and where each word occurs."""

    __slots__ = (
        "_analysis",
        "_folded_text",
        "_pos",
        "_sorted",
        "present",
        "segments",
        "text",
        "words",
    )

    def __init__(self, segments: Sequence[str]) -> None:
        # Most fields have one segment; categories have one per category, kept
        # apart by an empty word so phrases never run from one into the next.
        self.segments = tuple(segments)
        self.text = _SEGMENT_SEPARATOR.join(self.segments)
        self._sorted: list[str] | None = None
        self._analysis: tuple[list[str], list[tuple[int, int]]] | None = None
        self._folded_text: str | None = None
        self._pos: dict[str, list[int]] | None = None
        if not self.text:
            self.words: list[str] = []
        elif len(self.segments) == 1:
            self.words = _folded_words(self.segments[0])
        else:
            self.words = []
            for k, segment in enumerate(self.segments):
                if k:
                    self.words.append("")
                self.words.extend(_folded_words(segment))
        # Most terms only ask whether a word is present; positions wait until a
        # phrase, NEAR, prefix or exact-case term needs them.
        self.present = set(self.words)
        self.present.discard("")

    @property
    def pos(self) -> dict[str, list[int]]:
        """Each word's positions, in order; built on demand."""
        if self._pos is None:
            pos: dict[str, list[int]] = {}
            for i, word in enumerate(self.words):
                at = pos.get(word)
                if at is None:
                    pos[word] = [i]
                else:
                    at.append(i)
            pos.pop("", None)
            self._pos = pos
        return self._pos

    def analysis(self) -> tuple[list[str], list[tuple[int, int]]]:
        """Case-kept words and their spans in ``text``, aligned with ``words``; built on demand."""
        if self._analysis is None:
            cased: list[str] = []
            spans: list[tuple[int, int]] = []
            offset = 0
            for k, segment in enumerate(self.segments):
                if k:
                    cased.append("")
                    spans.append((offset - 1, offset - 1))  # inside the separator
                c, _, s = _analyse(segment)
                cased.extend(c)
                spans.extend((a + offset, b + offset) for a, b in s)
                offset += len(segment) + len(_SEGMENT_SEPARATOR)
            self._analysis = (cased, spans)
        return self._analysis

    def folded_text(self) -> str:
        """The whole field folded, for regexes; built on demand."""
        if self._folded_text is None:
            self._folded_text = fold(self.text)
        return self._folded_text

    def positions(self, word: _Word) -> Sequence[int]:
        """Sorted positions of the words that ``word`` matches."""
        found: Sequence[int]
        if word.prefix:
            found = self._prefix_positions(word.folded)
        else:
            found = self.pos.get(word.folded, ())
        if word.cased is not None and found:
            cased = self.analysis()[0]
            if word.prefix:
                found = [p for p in found if cased[p].startswith(word.cased)]
            else:
                found = [p for p in found if cased[p] == word.cased]
        return found

    def _prefix_positions(self, prefix: str) -> Sequence[int]:
        if self._sorted is None:
            self._sorted = sorted(self.present)
        keys = self._sorted
        i = bisect.bisect_left(keys, prefix)
        found: list[int] = []
        hits = 0
        while i < len(keys) and keys[i].startswith(prefix):
            found.extend(self.pos[keys[i]])
            hits += 1
            i += 1
        if hits > 1:
            found.sort()
        return found

    def occurrences(self, pattern: tuple[_Word, ...]) -> Sequence[int]:
        """Start positions where the words of ``pattern`` occur consecutively."""
        result = self.positions(pattern[0])
        for k in range(1, len(pattern)):
            if not result:
                break
            following = set(self.positions(pattern[k]))
            result = [p for p in result if p + k in following]
        return result


class Document:
    """A story prepared once for every rule: HTML stripped, folded, words indexed per field."""

    __slots__ = ("body", "feed", "fields", "vocabulary")

    def __init__(self, story: Story, fields: tuple[_Field, ...]) -> None:
        self.feed = story.feed
        self.fields = fields
        # The words unscoped terms search (title, summary, content), and every word.
        self.body: set[str] = fields[_TITLE].present | fields[_SUMMARY].present
        self.body |= fields[_CONTENT].present
        self.vocabulary: set[str] = self.body.union(*(fields[f].present for f in _NOT_BODY))


def prepare(story: Story, text: StoryText | None = None) -> Document:
    """Normalise a story once, before any rule runs.

    ``text``: the story's title, summary and content already stripped of markup,
    when the caller needed them too.
    """
    if text is None:
        text = StoryText.of(story)
    fields = (
        _Field((text.title,)),
        _Field((text.summary,)),
        _Field((text.content,)),
        _Field((html_to_text(story.author),)),
        _Field((html_to_text(story.link or ""),)),
        _Field(tuple(html_to_text(c) for c in story.categories)),
        _Field((html_to_text(story.feed),)),
    )
    return Document(story, fields)


# ---------------------------------------------------------------------------
# Query tree

# An anchor is a term a rule cannot match without: ("w", word) or ("p", prefix).
_Anchor = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Word:
    """One word of a term: folded form, case-kept form if exact case is asked, prefix or not."""

    folded: str
    cased: str | None
    prefix: bool


def _anchor_cost(anchors: frozenset[_Anchor]) -> float:
    # Longer words are rarer; prefixes cost a lookup per length and match more.
    return sum((4.0 if kind == "p" else 1.0) + 8.0 / len(word) for kind, word in anchors)


class _Node:
    """A compiled query (sub)expression."""

    __slots__ = ()

    def matches(self, doc: Document) -> bool:
        raise NotImplementedError

    def collect(self, doc: Document, out: list[str]) -> None:
        """Append the terms that made a matching node match (for highlighting)."""

    def anchors(self) -> frozenset[_Anchor] | None:
        """Terms of which the story must hold at least one, or None if no such set exists."""
        return None


class _Term(_Node):
    """A word, prefix or phrase in some fields."""

    __slots__ = ("body", "display", "fields", "key", "pattern")

    def __init__(self, pattern: tuple[_Word, ...], fields: tuple[int, ...], display: str) -> None:
        self.pattern = pattern
        self.fields = fields
        self.display = display
        only = pattern[0]
        simple = len(pattern) == 1 and not only.prefix and only.cased is None
        self.key = only.folded if simple else None
        self.body = simple and fields == DEFAULT_FIELDS

    def matches(self, doc: Document) -> bool:
        # Plain loops, not any(): this is the innermost call of matching.
        if self.body:
            return self.key in doc.body
        fields = doc.fields
        key = self.key
        if key is not None:
            for f in self.fields:  # noqa: SIM110
                if key in fields[f].present:
                    return True
            return False
        for f in self.fields:  # noqa: SIM110
            if fields[f].occurrences(self.pattern):
                return True
        return False

    def spans(self, doc: Document, field: int) -> list[tuple[int, int]]:
        """(first, last) word positions of each occurrence in one field."""
        if field not in self.fields:
            return []
        extra = len(self.pattern) - 1
        return [(p, p + extra) for p in doc.fields[field].occurrences(self.pattern)]

    def collect(self, doc: Document, out: list[str]) -> None:
        if not any(w.prefix for w in self.pattern):
            if self.matches(doc):
                out.append(self.display)
            return
        # A prefix: report the words actually found, so they can be highlighted.
        size = len(self.pattern)
        found: list[str] = []
        for f in self.fields:
            fld = doc.fields[f]
            for p in fld.occurrences(self.pattern):
                text = " ".join(fld.words[p : p + size])
                if text not in found:
                    found.append(text)
                if len(found) >= _MAX_TERMS_PER_NODE:
                    break
        out.extend(found)

    def anchors(self) -> frozenset[_Anchor]:
        exact = [w.folded for w in self.pattern if not w.prefix]
        if exact:
            return frozenset({("w", max(exact, key=len))})
        return frozenset({("p", max((w.folded for w in self.pattern), key=len))})


class _Regex(_Node):
    """A /regex/ run (RE2, linear time) on the folded text of some fields."""

    __slots__ = ("fields", "regex")

    def __init__(self, regex: re2._Regexp, fields: tuple[int, ...]) -> None:
        self.regex = regex
        self.fields = fields

    def matches(self, doc: Document) -> bool:
        search = self.regex.search
        return any(search(doc.fields[f].folded_text()) is not None for f in self.fields)

    def collect(self, doc: Document, out: list[str]) -> None:
        found: list[str] = []
        for f in self.fields:
            for m in self.regex.finditer(doc.fields[f].folded_text()):
                text = m.group().strip()
                if text and text not in found:
                    found.append(text)
                if len(found) >= _MAX_TERMS_PER_NODE:
                    break
        out.extend(found)


class _And(_Node):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Node]) -> None:
        self.children = tuple(children)

    def matches(self, doc: Document) -> bool:
        return all(child.matches(doc) for child in self.children)

    def collect(self, doc: Document, out: list[str]) -> None:
        for child in self.children:
            child.collect(doc, out)

    def anchors(self) -> frozenset[_Anchor] | None:
        options = [a for a in (c.anchors() for c in self.children) if a is not None]
        return min(options, key=_anchor_cost) if options else None


class _Or(_Node):
    __slots__ = ("children",)

    def __init__(self, children: Sequence[_Node]) -> None:
        self.children = tuple(children)

    def matches(self, doc: Document) -> bool:
        return any(child.matches(doc) for child in self.children)

    def collect(self, doc: Document, out: list[str]) -> None:
        for child in self.children:
            if child.matches(doc):
                child.collect(doc, out)

    def anchors(self) -> frozenset[_Anchor] | None:
        union: set[_Anchor] = set()
        for child in self.children:
            anchors = child.anchors()
            if anchors is None:
                return None
            union |= anchors
        return frozenset(union)


class _Not(_Node):
    __slots__ = ("child",)

    def __init__(self, child: _Node) -> None:
        self.child = child

    def matches(self, doc: Document) -> bool:
        return not self.child.matches(doc)


class _Near(_Node):
    """Two terms (or groups of alternative terms) at most ``distance`` words apart in one field."""

    __slots__ = ("distance", "fields", "left", "right")

    def __init__(self, left: tuple[_Term, ...], right: tuple[_Term, ...], distance: int) -> None:
        self.left = left
        self.right = right
        self.distance = distance
        lf = {f for t in left for f in t.fields}
        rf = {f for t in right for f in t.fields}
        self.fields = tuple(sorted(lf & rf))

    def _field_matches(self, doc: Document, field: int) -> bool:
        left = [s for t in self.left for s in t.spans(doc, field)]
        if not left:
            return False
        right = [s for t in self.right for s in t.spans(doc, field)]
        if not right:
            return False
        # Binary search rather than comparing every pair: a story repeating two
        # words thousands of times must not stall matching.
        firsts = sorted(first for first, _ in right)
        lasts = sorted(last for _, last in right)
        n = self.distance
        for a_first, a_last in left:
            after = bisect.bisect_right(firsts, a_last)  # B starting after A ends
            if after < len(firsts) and firsts[after] - a_last <= n:
                return True
            before = bisect.bisect_left(lasts, a_first) - 1  # B ending before A starts
            if before >= 0 and a_first - lasts[before] <= n:
                return True
        return False

    def matches(self, doc: Document) -> bool:
        return any(self._field_matches(doc, f) for f in self.fields)

    def collect(self, doc: Document, out: list[str]) -> None:
        for term in (*self.left, *self.right):
            if any(term.spans(doc, f) for f in self.fields):
                term.collect(doc, out)

    def anchors(self) -> frozenset[_Anchor]:
        # Each side is terms only, and every term has an anchor: index the cheaper side.
        sides = [
            frozenset[_Anchor]().union(*(t.anchors() for t in s)) for s in (self.left, self.right)
        ]
        return min(sides, key=_anchor_cost)


class _Everything(_Node):
    """A rule with no query (only ``feeds``): every story of those feeds."""

    __slots__ = ()

    def matches(self, doc: Document) -> bool:
        return True


# ---------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # word, phrase, regex, (, ), AND, OR, NOT, -, =, near, field, end
    text: str
    column: int  # 1-based
    end: int  # 1-based column just after the token
    number: int = 0


def _lex(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    after_field = False
    while i < n:
        ch = query[i]
        col = i + 1
        if ch.isspace():
            i += 1
            after_field = False
            continue
        if ch in "()":
            tokens.append(_Token(ch, ch, col, col + 1))
            i += 1
        elif ch in _QUOTES:
            j = i + 1
            while j < n and query[j] not in _QUOTES:
                j += 1
            if j >= n:
                raise QueryError("unclosed quote", col, 'a closing "')
            tokens.append(_Token("phrase", query[i + 1 : j], col, j + 2))
            i = j + 1
        elif ch == "/":
            j = i + 1
            source: list[str] = []
            while j < n and query[j] != "/":
                if query[j] == "\\" and j + 1 < n:
                    if query[j + 1] == "/":
                        source.append("/")
                    else:
                        source.append(query[j : j + 2])
                    j += 2
                    continue
                source.append(query[j])
                j += 1
            if j >= n:
                raise QueryError("unclosed /regex/", col, "a closing /")
            tokens.append(_Token("regex", "".join(source), col, j + 2))
            i = j + 1
        elif ch in "-=":
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                what, expected = ("NOT", _TERM_EXPECTED) if ch == "-" else ("exact case", _WORD)
                raise QueryError(f"'{ch}' ({what}) must be followed by a term", col + 1, expected)
            tokens.append(_Token(ch, ch, col, col + 1))
            i += 1
            continue  # the term follows with no space
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _STOP:
                j += 1
            text = query[i:j]
            colon = text.find(":")
            name = text[:colon]
            if not after_field and colon > 0 and name.isascii() and name.isalpha():
                if name.lower() not in _FIELD_INDEX:
                    raise QueryError(
                        f"unknown field '{name}:'",
                        col,
                        f"one of {_FIELD_LIST} (put a word holding ':' in quotes)",
                    )
                tokens.append(_Token("field", name.lower(), col, col + colon + 1))
                i += colon + 1
                after_field = True
                continue
            if not after_field and text in _OPERATORS:
                tokens.append(_Token(text, text, col, j + 1))
            elif not after_field and (text == "NEAR" or text.startswith("NEAR/")):
                digits = text[5:]
                if text[4:5] != "/" or not digits.isdigit() or int(digits) < 1:
                    raise QueryError(
                        f"bad distance in '{text}'", col, "NEAR/n with n ≥ 1, e.g. NEAR/3"
                    )
                tokens.append(_Token("near", text, col, j + 1, int(digits)))
            else:
                tokens.append(_Token("word", text, col, j + 1))
            i = j
        after_field = False
    tokens.append(_Token("end", "", n + 1, n + 1))
    return tokens


def _regex_options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    options.log_errors = False
    options.max_mem = 8 << 20
    return options


# Deeper queries are not real rules, and Python's recursion would give out on them.
MAX_NESTING = 100


class _Parser:
    """Recursive descent over the tokens; every error carries the column it is about."""

    def __init__(self, query: str) -> None:
        self.tokens = _lex(query)
        self.i = 0
        self.depth = 0  # parentheses and NOTs open around the current token

    def deeper(self, tok: _Token) -> None:
        """One more level; past ``MAX_NESTING`` a query is refused, not a crash."""
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise QueryError(
                f"nested more than {MAX_NESTING} levels deep (parentheses and NOTs)",
                tok.column,
                None,
            )

    @property
    def tok(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def parse(self) -> _Node:
        if self.tok.kind == "end":
            raise QueryError("empty query", 1, _TERM_EXPECTED)
        node = self.parse_or(DEFAULT_FIELDS, scoped=False)
        tok = self.tok
        if tok.kind == ")":
            raise QueryError("unbalanced ')'", tok.column, "a term or the end of the query")
        if tok.kind != "end":  # defensive: parse_or stops only at ')' or the end
            raise QueryError(f"unexpected '{tok.text}'", tok.column, "the end of the query")
        return node

    def parse_or(self, fields: tuple[int, ...], scoped: bool) -> _Node:
        first, mixed = self.parse_and(fields, scoped)
        groups = [first]
        first_or: _Token | None = None
        while self.tok.kind == "OR":
            or_tok = self.take()
            first_or = first_or or or_tok
            group, several = self.parse_and(fields, scoped)
            groups.append(group)
            mixed = mixed or several
        if len(groups) == 1:
            return groups[0]
        if first_or is not None and mixed:
            raise QueryError(
                "AND and OR mixed without parentheses",
                first_or.column,
                "parentheses to say which is meant, e.g. (A AND B) OR C or A AND (B OR C)",
            )
        return _Or(groups)

    def parse_and(self, fields: tuple[int, ...], scoped: bool) -> tuple[_Node, bool]:
        """The terms joined by AND (or side by side), and whether there were several."""
        children = [self.parse_unary(fields, scoped)]
        while True:
            kind = self.tok.kind
            if kind == "AND":
                self.take()
            elif kind not in ("word", "phrase", "regex", "(", "field", "-", "=", "NOT"):
                break
            children.append(self.parse_unary(fields, scoped))
        if len(children) == 1:
            return children[0], False
        return _And(children), True

    def parse_unary(self, fields: tuple[int, ...], scoped: bool) -> _Node:
        if self.tok.kind in ("NOT", "-"):
            self.deeper(self.take())
            negated = _Not(self.parse_unary(fields, scoped))
            self.depth -= 1
            return negated
        left_column = self.tok.column
        left = self.parse_primary(fields, scoped)
        if self.tok.kind != "near":
            return left
        near = self.take()
        right_column = self.tok.column
        right = self.parse_primary(fields, scoped)
        if self.tok.kind == "near":
            raise QueryError(
                "NEAR joins exactly two terms", self.tok.column, "AND between two NEAR groups"
            )
        left_terms = self.near_operand(left, left_column)
        right_terms = self.near_operand(right, right_column)
        node = _Near(left_terms, right_terms, near.number)
        if not node.fields:
            raise QueryError("the two sides of NEAR are in different fields", near.column, None)
        return node

    def near_operand(self, node: _Node, column: int) -> tuple[_Term, ...]:
        if isinstance(node, _Term):
            return (node,)
        if isinstance(node, _Or) and all(isinstance(c, _Term) for c in node.children):
            return tuple(c for c in node.children if isinstance(c, _Term))
        raise QueryError(
            "NEAR needs a word or phrase on each side",
            column,
            "a word, a quoted phrase or a group of them joined by OR",
        )

    def parse_primary(self, fields: tuple[int, ...], scoped: bool) -> _Node:
        tok = self.take()
        if tok.kind == "field":
            if scoped:
                raise QueryError(f"'{tok.text}:' inside another field", tok.column, None)
            nxt = self.tok
            if nxt.column != tok.end or nxt.kind not in ("word", "phrase", "regex", "(", "="):
                raise QueryError(
                    f"'{tok.text}:' must be followed by a term", tok.end, _TERM_EXPECTED
                )
            return self.parse_primary((_FIELD_INDEX[tok.text],), scoped=True)
        if tok.kind == "(":
            if self.tok.kind == ")":
                raise QueryError("empty parentheses", self.tok.column, _TERM_EXPECTED)
            self.deeper(tok)
            node = self.parse_or(fields, scoped)
            close = self.take()
            if close.kind != ")":
                raise QueryError(f"'(' at column {tok.column} is never closed", close.column, "')'")
            self.depth -= 1
            return node
        if tok.kind == "=":
            term = self.take()
            if term.kind not in ("word", "phrase"):
                raise QueryError(
                    "'=' (exact case) must be followed by a word or phrase",
                    term.column,
                    _WORD,
                )
            return self.term(term, fields, exact=True)
        if tok.kind in ("word", "phrase"):
            return self.term(tok, fields, exact=False)
        if tok.kind == "regex":
            return self.regex(tok, fields)
        if tok.kind == "end":
            raise QueryError("query ends too early", tok.column, _TERM_EXPECTED)
        if tok.kind == ")":
            raise QueryError("unexpected ')'", tok.column, _TERM_EXPECTED)
        if tok.kind in ("AND", "OR", "near"):
            raise QueryError(f"'{tok.text}' needs a term before it", tok.column, _TERM_EXPECTED)
        raise QueryError(f"'{tok.text}' cannot be used here", tok.column, _TERM_EXPECTED)

    def term(self, tok: _Token, fields: tuple[int, ...], exact: bool) -> _Term:
        pieces = tok.text.split()  # a phrase's words; a word token holds no space
        pattern: list[_Word] = []
        for piece in pieces:
            prefix = piece.endswith("*")
            base = piece[:-1] if prefix else piece
            if "*" in base:
                raise QueryError(
                    f"'*' inside '{piece}'", tok.column, "'*' only at the end of a word (rebel*)"
                )
            cased, folded, _ = _analyse(base)
            if not folded:
                if tok.kind == "phrase" and not prefix:
                    continue  # stray punctuation inside a phrase
                raise QueryError(f"no letters or digits in '{piece}'", tok.column, _TERM_EXPECTED)
            last = len(folded) - 1
            pattern.extend(
                _Word(f, c if exact else None, prefix and k == last)
                for k, (c, f) in enumerate(zip(cased, folded, strict=True))
            )
        if not pattern:
            raise QueryError("empty phrase", tok.column, "words between the quotes")
        display = " ".join(pieces)  # shown only for terms without a prefix, so without '*'
        return _Term(tuple(pattern), fields, display)

    def regex(self, tok: _Token, fields: tuple[int, ...]) -> _Regex:
        source = tok.text
        if not source:
            raise QueryError("empty /regex/", tok.column, "a pattern between the slashes")
        literal = source.lower()
        if fold(literal) != literal:
            raise QueryError(
                "a /regex/ runs on folded text (lower case, accents removed),"
                f" so '{source}' can never match as written",
                tok.column,
                f"the folded form /{fold(literal)}/",
            )
        try:
            compiled = re2.compile(source, _regex_options())
        except re2.error as exc:
            detail = exc.args[0] if exc.args else exc
            if isinstance(detail, bytes):
                detail = detail.decode("utf-8", "replace")
            raise QueryError(f"invalid /regex/: {detail}", tok.column, "RE2 syntax") from None
        return _Regex(compiled, fields)


def parse_query(query: str) -> _Node:
    """Compile one query; raises QueryError with a 1-based column."""
    return _Parser(query).parse()


# ---------------------------------------------------------------------------
# Rules


class CompiledRule:
    """A rule ready to run: its query tree, feed filter and index anchors."""

    __slots__ = ("anchors", "feeds", "name", "node", "positive", "spec")

    def __init__(self, spec: RuleSpec, node: _Node, positive: tuple[_Node, ...]) -> None:
        self.spec = spec
        self.name = spec.name
        self.node = node
        # The parts whose terms are highlighted (never the NOT parts).
        self.positive = positive
        self.feeds = frozenset(spec.feeds) if spec.feeds is not None else None
        self.anchors = node.anchors()

    def __repr__(self) -> str:
        return f"CompiledRule({self.name!r})"

    def matches(self, doc: Document) -> bool:
        if self.feeds is not None and doc.feed not in self.feeds:
            return False
        return self.node.matches(doc)

    def hit(self, doc: Document) -> Hit:
        terms: list[str] = []
        for part in self.positive:
            part.collect(doc, terms)
        return Hit(self.name, tuple(dict.fromkeys(terms)))


def _compile_part(query: str, where: str | None) -> _Node:
    try:
        return parse_query(query)
    except QueryError as exc:
        if where is None:
            raise
        raise QueryError(f"{where}: {exc.message}", exc.column, exc.expected) from None


def compile_rule(spec: RuleSpec) -> CompiledRule:
    """Parse every query of a rule once; raises QueryError naming the failing item."""
    required: list[_Node] = []
    positive: list[_Node] = []
    if spec.query is not None:
        node = _compile_part(spec.query, None)
        required.append(node)
        positive.append(node)
    for k, item in enumerate(spec.all, 1):
        node = _compile_part(item, f"all item {k} ({item!r})")
        required.append(node)
        positive.append(node)
    if spec.any:
        alternatives = [
            _compile_part(item, f"any item {k} ({item!r})") for k, item in enumerate(spec.any, 1)
        ]
        node = alternatives[0] if len(alternatives) == 1 else _Or(alternatives)
        required.append(node)
        positive.append(node)
    for k, item in enumerate(spec.none, 1):
        required.append(_Not(_compile_part(item, f"none item {k} ({item!r})")))
    if not required:
        if spec.feeds is None:
            raise QueryError("rule has no query", None, "query:, all:, any:, none: or feeds:")
        return CompiledRule(spec, _Everything(), ())
    node = required[0] if len(required) == 1 else _And(required)
    return CompiledRule(spec, node, tuple(positive))


def _example_document(text: str) -> Document:
    return prepare(Story(feed="", guid=None, link=None, title=text, content=text))


def check_examples(rule: CompiledRule) -> list[str]:
    """Run the rule's own examples (ignoring its feed filter); one message per failure."""
    problems: list[str] = []
    examples = rule.spec.examples
    for text in examples.match:
        if not rule.node.matches(_example_document(text)):
            problems.append(f'example "{text}" should match but does not')
    for text in examples.no_match:
        if rule.node.matches(_example_document(text)):
            problems.append(f'example "{text}" should not match but does')
    return problems


class RuleBook:
    """Every rule, indexed by the terms each one requires (a percolator)."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self._words: dict[str, list[int]] = {}
        self._prefixes: dict[str, list[int]] = {}
        self._always: list[int] = []
        self._always_by_feed: dict[str, list[int]] = {}
        for i, rule in enumerate(self.rules):
            anchors = rule.anchors
            if anchors is None:
                if rule.feeds is None:
                    self._always.append(i)
                else:
                    for feed in rule.feeds:
                        self._always_by_feed.setdefault(feed, []).append(i)
                continue
            for kind, word in anchors:
                index = self._words if kind == "w" else self._prefixes
                index.setdefault(word, []).append(i)
        self._prefix_lengths = sorted({len(p) for p in self._prefixes})

    def candidates(self, doc: Document) -> list[int]:
        """Indices, in rule order, of the rules that could match this story."""
        found: set[int] = set(self._always)
        by_feed = self._always_by_feed.get(doc.feed)
        if by_feed:
            found.update(by_feed)
        vocabulary = doc.vocabulary
        # Whichever side is smaller is walked: a story's few hundred words, or the
        # anchors of a small rule book.
        words = self._words
        if len(words) < len(vocabulary):
            for word, holders in words.items():
                if word in vocabulary:
                    found.update(holders)
        else:
            for word in vocabulary:
                ids = words.get(word)
                if ids is not None:
                    found.update(ids)
        prefixes = self._prefixes
        if prefixes and len(prefixes) < len(vocabulary):
            # The words starting with a prefix sort right after it.
            ordered = sorted(vocabulary)
            for prefix, holders in prefixes.items():
                at = bisect.bisect_left(ordered, prefix)
                if at < len(ordered) and ordered[at].startswith(prefix):
                    found.update(holders)
        elif prefixes:
            lengths = self._prefix_lengths
            for word in vocabulary:
                for size in lengths:
                    if size > len(word):
                        break
                    ids = prefixes.get(word[:size])
                    if ids is not None:
                        found.update(ids)
        return sorted(found)

    def match(self, doc: Document) -> list[Hit]:
        """The rules that match, in their order, checking only the indexed candidates."""
        rules = self.rules
        return [rules[i].hit(doc) for i in self.candidates(doc) if rules[i].matches(doc)]

    def match_naive(self, doc: Document) -> list[Hit]:
        """Every rule evaluated on the story: slow, but the reference the index must equal."""
        return [rule.hit(doc) for rule in self.rules if rule.matches(doc)]


# ---------------------------------------------------------------------------
# Snippets


def snippet(doc: Document, hit: Hit, width: int = 200) -> Snippet:
    """A piece of the story's text around the first matched term, matched words marked.

    The body (summary, then content) is preferred to the title, which an alert
    shows anyway.
    """
    patterns = [folded for term in hit.terms if (folded := _analyse(term)[1])]
    for f in _SNIPPET_ORDER:
        field = doc.fields[f]
        if not field.present:
            continue
        found = _find_terms(field, patterns, whole_words=True) or _find_terms(
            field, patterns, whole_words=False
        )
        if found:
            return _window(field, found, width)
    for f in (_SUMMARY, _CONTENT, _TITLE):
        if doc.fields[f].text:
            return _window(doc.fields[f], [], width)
    return Snippet("")


def _find_terms(
    field: _Field, patterns: list[list[str]], whole_words: bool
) -> list[tuple[int, int]]:
    """Character spans of every occurrence of the terms in one field, in text order."""
    spans = field.analysis()[1]
    words = field.words
    found: set[tuple[int, int]] = set()
    for pattern in patterns:
        size = len(pattern)
        if whole_words:
            starts = field.pos.get(pattern[0], [])
        elif size == 1:  # a regex may have matched inside a word
            starts = [i for i, w in enumerate(words) if pattern[0] in w]
        else:
            continue
        for p in starts:
            if words[p : p + size] == pattern or not whole_words:
                found.add((spans[p][0], spans[p + size - 1][1]))
    return sorted(found)


def _window(field: _Field, found: list[tuple[int, int]], width: int) -> Snippet:
    text = field.text
    n = len(text)
    start, end = 0, n
    if n > width:
        first, last = found[0] if found else (0, 0)
        # About a third of the room before the term, the rest after it.
        start = max(0, first - max(width - (last - first), 0) // 3)
        end = max(min(n, start + width), last)
        start = max(0, min(start, end - width))
        if start > 0:  # do not start or end in the middle of a word
            space = text.find(" ", start, first)
            start = space + 1 if space >= 0 else start
        if end < n:
            space = text.rfind(" ", last, end)
            end = space if space >= 0 else end
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < n else ""
    shift = len(prefix) - start
    marks = tuple((a + shift, b + shift) for a, b in found if a >= start and b <= end)
    return Snippet(prefix + text[start:end] + suffix, marks)
