"""Text normalisation shared by matching, dedupe and clustering.

Every field of a story is treated as HTML and folded once, so that rules,
dedupe and clustering all see the same words.
"""

from __future__ import annotations

import functools
import html
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import regex
from icu4py.breakers import WordBreaker

if TYPE_CHECKING:
    from watcher.core.models import Story

_TAG_NAME = re.compile(r"/?([a-zA-Z][a-zA-Z0-9]*)")
# Elements whose content is never prose: dropped with their content when closed.
_RAW_BLOCKS = frozenset({"script", "style", "template"})
# Tags that separate words when rendered, so removing them must leave a space.
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
        "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
        "th", "tr", "ul",
    }
)  # fmt: skip
# Accents on Latin, Greek and Cyrillic letters are optional: drop the combining
# marks that follow a letter of those scripts (after NFKD decomposition).  Marks
# after letters of other scripts (Indic vowel signs, viramas) spell the word.
# (A capture, not a lookbehind: a lookbehind rescans a long run of marks at
# every mark, which a hostile story could use to stall folding.)
_OPTIONAL_MARKS = regex.compile(r"([\p{Latin}\p{Greek}\p{Cyrillic}])\p{Mn}+")
# Arabic short vowels (harakat), superscript alef, Quranic marks and tatweel.
_ARABIC_OPTIONAL = regex.compile(r"[\u064B-\u065F\u0670\u06D6-\u06ED\u0640]")
# A word: letters, marks and digits.  ``regex`` keeps Indic vowel signs and
# viramas inside the word, where ``re``'s ``\w`` would cut it.
WORD = regex.compile(r"[\p{L}\p{M}\p{N}]+")
# WORD on ASCII text, where it means exactly this; the stdlib engine tests a byte
# class several times faster than ``regex`` looks up Unicode properties.
_ASCII_WORD = re.compile(r"[A-Za-z0-9]+")
# Scripts written without spaces between words: Chinese, Japanese, Thai, Lao,
# Khmer, Burmese.  Inside a WORD, a run of them (with the marks that follow) is
# split by a dictionary segmenter (see ``segment``).  The Katakana-Hiragana
# prolonged sound marks and the half-width voiced marks belong to no script
# ("Common") but only ever stand inside Japanese words.  Only the Basic
# Multilingual Plane: _MAY_BE_UNSPACED below must find every character of a run.
_UNSPACED_RUN = regex.compile(
    r"(?V1)(?:[[\p{Han}\p{Hiragana}\p{Katakana}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}"
    r"\u30FC\uFF70\uFF9E\uFF9F]&&[\x00-\uFFFF]]\p{M}*)+"
)
# The blocks of those scripts, as one stdlib class: finds in a few microseconds
# that a story in a spaced script (curly quotes and dashes included) has none.
_MAY_BE_UNSPACED = re.compile(
    "[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3005-\u9fff"
    "\ua9e0-\ua9ff\uaa60-\uaa7f\uf900-\ufaff\uff66-\uff9f]"
)


def html_to_text(markup: str) -> str:
    """Strip tags and decode entities; block elements become spaces so words never fuse.

    A single linear scan (no backtracking regex) so that hostile markup, such
    as thousands of unclosed ``<a`` or ``<!--``, cannot stall the daemon.
    """
    if "<" not in markup and "&" not in markup:
        return " ".join(markup.split())
    out: list[str] = []
    lowered: str | None = None  # built on demand to find closing tags case-insensitively
    unclosed: set[str] = set()  # raw blocks known to have no closing tag further on
    comments_may_close = True
    i, n = 0, len(markup)
    while i < n:
        j = markup.find("<", i)
        if j < 0:
            out.append(markup[i:])
            break
        out.append(markup[i:j])
        if comments_may_close and markup.startswith("<!--", j):
            k = markup.find("-->", j + 4)
            if k >= 0:
                i = k + 3
                continue
            comments_may_close = False  # searching again later would rescan the rest
        nxt = markup[j + 1 : j + 2]
        if not (nxt.isascii() and (nxt.isalpha() or nxt in "/!?")):
            out.append("<")
            i = j + 1
            continue
        k = markup.find(">", j + 1)
        if k < 0:  # no tag can close after here: the rest is text
            out.append(markup[j:])
            break
        i = k + 1
        named = _TAG_NAME.match(markup, j + 1, k)
        name = named.group(1).lower() if named else ""
        if name in _RAW_BLOCKS and markup[j + 1] != "/" and name not in unclosed:
            if lowered is None:
                lowered = markup.lower() if markup.isascii() else _ascii_lower(markup)
            end = lowered.find("</" + name, i)
            if end >= 0:
                close = markup.find(">", end)
                i = n if close < 0 else close + 1
                out.append(" ")
                continue
            unclosed.add(name)
        out.append(" " if name in _BLOCK_TAGS else "")
    return squeeze(html.unescape("".join(out)))


def squeeze(text: str) -> str:
    """Collapse every run of Unicode whitespace (NBSP from ``&nbsp;`` too) to one space."""
    return " ".join(text.split())


def _ascii_lower(text: str) -> str:
    """Lower-case ASCII letters only, so offsets stay those of ``text``."""
    return text.translate(_ASCII_LOWER)


_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def fold_keep_case(text: str) -> str:
    """NFKC with optional marks removed but case kept: what exact-case matching compares."""
    if text.isascii():
        return text
    if (
        unicodedata.is_normalized("NFKD", text)
        and unicodedata.is_normalized("NFKC", text)
        and _THAI_AM_SPLIT not in text
        and _LAO_AM_SPLIT not in text
        and not _OPTIONAL_MARKS.search(text)
        and not _ARABIC_OPTIONAL.search(text)
    ):
        return text  # nothing to decompose, strip or compose: the common case, checked in C
    decomposed = unicodedata.normalize("NFKD", text)
    stripped: str = _OPTIONAL_MARKS.sub(r"\1", decomposed)
    stripped = _ARABIC_OPTIONAL.sub("", stripped)
    composed = unicodedata.normalize("NFKC", stripped)
    if _THAI_AM_SPLIT in composed:
        composed = composed.replace(_THAI_AM_SPLIT, "\u0e33")
    if _LAO_AM_SPLIT in composed:
        composed = composed.replace(_LAO_AM_SPLIT, "\u0eb3")
    return composed


# NFKC spells the Thai and Lao vowel AM (ำ, ຳ) as NIKHAHIT + AA, which the
# segmenter's dictionaries do not know (กำลัง, "force", became กํา ลัง): both
# spellings fold to the single character instead.
_THAI_AM_SPLIT = "\u0e4d\u0e32"
_LAO_AM_SPLIT = "\u0ecd\u0eb2"


def fold(text: str) -> str:
    """NFKC, casefold, optional marks removed: the form every comparison uses."""
    if text.isascii():
        return text.lower()
    return fold_keep_case(text).casefold()


def words(text: str) -> list[str]:
    """Split already-folded text into words: runs of letters, marks and digits.

    Inside such a run, text in a script written without spaces (Chinese,
    Japanese, Thai, Lao, Khmer, Burmese) is cut into dictionary words by
    ``segment``; a word of another script next to it becomes a word of its own.
    """
    if text.isascii():
        found: list[str] = _ASCII_WORD.findall(text)
        return found
    found = WORD.findall(text)
    if _MAY_BE_UNSPACED.search(text) is None:
        return found
    # The runs are cut all at once (one ICU call for the text, not one per run),
    # then put back in place of the Nones.
    layout: list[str | None] = []
    runs: list[str] = []
    for word in found:
        if _MAY_BE_UNSPACED.search(word) is None:
            layout.append(word)
            continue
        at = 0
        for run in _UNSPACED_RUN.finditer(word):
            if run.start() > at:
                layout.append(word[at : run.start()])
            layout.append(None)
            runs.append(run.group())
            at = run.end()
        if at < len(word):
            layout.append(word[at:])
    if not runs:  # letters of other scripts in those blocks (Bopomofo, Hangul jamo)
        return found
    cut = iter(_segment_runs(runs))
    out: list[str] = []
    for item in layout:
        if item is None:
            out.extend(next(cut))
        else:
            out.append(item)
    return out


def segment(run: str) -> list[str]:
    """Cut a run of Chinese, Japanese, Thai, Lao, Khmer or Burmese text into words.

    ICU's dictionary word breaker does it for every one of these scripts.  Its
    Chinese dictionary has few names, and cuts a name it does not know into
    single characters: 哈马 (Hama) into 哈 马 and 哈马斯 (Hamas) into 哈 马 斯,
    so a search for Hama would find Hamas.  A stretch of two or more ideographs
    that ICU left single is therefore cut again by jieba's dictionary, which
    knows both names (and keeps single the characters it does not know either).

    The result depends on the run alone, never on the text around it, so that a
    query and a story are cut the same way.  The pieces, joined, are ``run``.
    """
    return _segment_runs([run])[0] if run else []


def _segment_runs(runs: list[str]) -> list[list[str]]:
    """``segment`` of each run, with one ICU break iterator for them all.

    A line break is a word boundary in every script and ends the stretch that
    ICU's dictionaries look at, so runs joined by one are cut as they are alone.
    """
    pieces: list[str] = list(WordBreaker("\n".join(runs), _ROOT_LOCALE))
    result: list[list[str]] = []
    current: list[str] = []
    i, n = 0, len(pieces)
    while i < n:
        piece = pieces[i]
        j = i + 1
        if piece == "\n":
            result.append(current)
            current = []
        elif len(piece) == 1 and "\u3400" <= piece <= "\u9fff":
            while j < n and len(pieces[j]) == 1 and "\u3400" <= pieces[j] <= "\u9fff":
                j += 1
            if j - i > 1:
                current.extend(_han_words("".join(pieces[i:j])))
            else:
                current.append(piece)
        else:
            current.append(piece)
        i = j
    result.append(current)
    return result


# The root locale: ICU picks the dictionary by script, whatever the language.
_ROOT_LOCALE = ""
# jieba's tokenizer holds 80 MB of dictionary: loaded on first use, once per
# process (worker processes load their own; nothing that is pickled holds it).
_jieba: Any = None
_jieba_lock = threading.Lock()


# Memoised: the stretches are names and short words, which repeat across
# stories.  Bounded, as the daemon runs for months.
@functools.lru_cache(maxsize=1 << 15)
def _han_words(stretch: str) -> tuple[str, ...]:
    """Chinese words of a stretch of ideographs, by jieba's dictionary alone.

    No HMM guessing of unknown words: it would cut a name differently alone (in
    a query) and in a sentence.
    """
    global _jieba
    if _jieba is None:
        with _jieba_lock:
            if _jieba is None:
                import jieba  # 80 MB once loaded: only for Chinese text

                jieba.setLogLevel(logging.WARNING)  # it logs its loading to stderr
                tokenizer = jieba.Tokenizer()
                tokenizer.initialize()
                _jieba = tokenizer
    found = tuple(_jieba.lcut(stretch, HMM=False))
    return found if "".join(found) == stretch else tuple(stretch)


@dataclass(frozen=True, slots=True)
class StoryText:
    """A story's title, summary and content with the markup stripped: done once, read by all.

    Matching, clustering and the edit hash each need these; stripping a long
    ``content:encoded`` three times was a tenth of the per-story cost.
    """

    title: str
    summary: str
    content: str

    @classmethod
    def of(cls, story: Story) -> StoryText:
        return cls(
            html_to_text(story.title), html_to_text(story.summary), html_to_text(story.content)
        )
