"""Which new stories report an event already seen: fingerprints, one pairwise rule, a window index.

A wire story re-published by a dozen outlets must give one alert, but the
next day's development in the same place must give another.  The rule is
therefore about *which* headline words two stories share, not about the
topic: two headlines about Hama share "Hama" and "rebels" whether or not they
report the same thing, so what decides is the share of content words in
common (a word only one headline has counts as shared when the other story's
lead says it), or a lead that is largely the same text.  Headlines that carry
different numbers (a new toll, part 2, week 43) are held to be different news.

``same_event`` is the whole rule; ``ClusterIndex.find`` gives exactly the
answer of scanning the window with it, but looks candidates up by shared
headline words and shared lead shingles, walking only the few stories seen
last that hold each, so its cost grows little with the window.  See
docs/clustering.md for the measurements.
"""

from __future__ import annotations

import functools
import heapq
import json
import sys
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count, islice
from typing import TypeGuard, TypeVar

import regex

from watcher.core.text import fold, html_to_text, words

DEFAULT_THRESHOLD: float = 0.8
"""Chosen for precision on tests/data/cluster_pairs.jsonl: a wrong merge hides a story."""

DEFAULT_WINDOW = timedelta(hours=48)
"""How far back a story looks for its event (``cluster_window``): wire copies come within hours."""

FINGERPRINT_VERSION = 2  # 2: a headline opening with a «quote» keeps its words (#14)
"""Bumped whenever normalisation changes, so stored fingerprints are recomputed, not compared."""

LEAD_WORDS = 50
SHINGLE_WORDS = 3
SHINGLE_SAMPLE = 4  # keep the shingles whose hash is 0 mod 4 (Broder's mod-m sample)
MIN_LEAD_SAMPLES = 3  # a shorter lead says too little to decide on
MIN_SHARED_SAMPLES = 2
MIN_SHARED_TERMS = 3  # "Donald Trump" in common is a topic, not an event
NUMBER_PENALTY = 0.5
# Terms and shingles held by more groups of the window than this are too common to say
# which event a story reports; they are never walked.
MAX_POSTING = 300
# Of the groups holding a term or shingle, a lookup walks only the few seen last (as
# Petrovic et al. 2010 bound their LSH buckets): reports of one event come close
# together, and what a lookup walks is then bounded however many stories the window holds.
# A headline term is shared by other events' stories too, so more of its holders are
# walked than of a lead shingle's, whose holders are mostly copies of one text.
RECENT_TERM_HOLDERS = 16
RECENT_SHINGLE_HOLDERS = 4
# Within this many hours two reports are as likely one event as at once; later, the
# score is lowered by up to TIME_PENALTY (at 48 hours).
SAME_DAY_HOURS = 12
TIME_PENALTY = 0.1
TERM_CHARS = 7

# Outlets and agencies that appear as a headline suffix ("- Reuters", "| Al Jazeera",
# "(AP)"); compared after folding.  A suffix that looks like a domain also counts.
_OUTLETS_RAW = (
    "reuters;ap;associated press;the associated press;afp;agence france-presse;bloomberg;"
    "ana-mpa;amna;απε-μπε;απε;αμνα;ερτ;ertnews;ertnews.gr;kathimerini;ekathimerini;"
    "naftemporiki;in.gr;to vima;tovima;protothema;iefimerida;news247;skai;cnn greece;"
    "keep talking greece;greek reporter;greek city times;al jazeera;al jazeera english;"
    "aljazeera;bbc;bbc news;bbc sport;bbc world service;cnn;cnbc;abc;abc news;nbc news;"
    "cbs news;fox news;npr;pbs;voa;voice of america;rfe/rl;radio free europe;the guardian;"
    "guardian;the observer;the independent;independent;the telegraph;telegraph;daily mail;"
    "mail online;the times;financial times;ft;the economist;sky news;itv news;"
    "the new york times;new york times;nyt;the washington post;washington post;wsj;"
    "the wall street journal;wall street journal;usa today;los angeles times;politico;"
    "politico europe;axios;the hill;newsweek;the atlantic;vox;the verge;techcrunch;wired;"
    "ars technica;engadget;euronews;dw;deutsche welle;france 24;france24;rfi;le monde;"
    "le figaro;der spiegel;spiegel;spiegel online;zeit online;faz;tagesschau;el pais;ansa;"
    "efe;dpa;xinhua;kyodo;kyodo news;yonhap;tass;ria novosti;interfax;anadolu;"
    "anadolu agency;the japan times;japan times;japan today;nhk;nhk world;the hindu;"
    "indian express;the indian express;times of india;hindustan times;india today;ndtv;"
    "dawn;mehr;mehr news;mehr news agency;tasnim;irna;cbc;cbc news;ctv news;global news;"
    "rte;the irish times;breakingnews.ie;nl times;dutchnews;the local;yahoo;yahoo news;msn;"
    "upi;pa;pa media;sputnik;rt;trt world;haaretz;the times of israel;times of israel;"
    "jerusalem post;the jerusalem post;arab news;the national;gulf news;khaleej times;"
    "middle east eye;news24;the moscow times;meduza;kyiv independent;the kyiv independent;"
    "ukrinform;balkan insight;euractiv;the straits times;straits times;"
    "south china morning post;scmp;sbs news;the age;sydney morning herald;nz herald;rnz"
)
_OUTLETS = frozenset(fold(name) for name in _OUTLETS_RAW.split(";"))
# Attribution tags newsrooms append: "... tariffs on steel - sources".
_ATTRIBUTIONS = frozenset(
    {"sources", "source", "report", "reports", "media", "statement", "filing", "document", "paper"}
)

# Wire and format markers in front of a headline; matched on folded text, repeatedly.
_PREFIX = regex.compile(
    r"^\s*(?:update|updated|corrected|correction|refile|rpt|repeat|wrapup|exclusive|breaking|"
    r"breaking news|urgent|flash|alert|live|live updates|watch|video|photos|pictures|"
    r"in pictures|gallery|listen|audio|εκτακτο|εκτακτη ειδηση|βιντεο|eilmeldung|en direct|"
    r"direct|ultima hora|ultim'ora)\s*\d*\s*[-:–—|]+\s*"
)
_FORMAT_TAIL = regex.compile(
    r"(?:\s+[-–—|]\s*|\s*[(\[])(?:video|watch|live|photos|pictures|updated|update|"
    r"as it happened)\s*[)\]]?\s*$"
)
# "World › ..." and "Sport » ...": a section label; but text that opens a guillemet
# ("«Nous gagnerons» ...") is a quote, and its words are the headline's.
_SECTION = regex.compile(r"^\s*([^›»«‹]{1,40}?)\s*[›»]\s*")
_TAIL_SEPARATOR = regex.compile(r"\s+[-–—|]\s+|\s*\|\s*")
_PAREN_TAIL = regex.compile(r"\s*\(([^()]{1,40})\)\s*$")
_DOMAIN = regex.compile(r"^[\w-]+(?:\.[\w-]+)*\.[a-z]{2,6}$")
# Abbreviations that fold into stopwords ("US" -> "us") or into single letters;
# one alternation, so a text is scanned once rather than once per abbreviation.
_ABBREVIATION = regex.compile(
    r"(?P<USA>\bU\.\s?S\.(?:\s?A\.)?|\bUSA?\b|\bUnited States\b)"
    r"|(?P<UK>\bU\.\s?K\.|\bUK\b)|(?P<UN>\bU\.\s?N\.|\bUN\b)|(?P<EU>\bE\.\s?U\.|\bEU\b)"
)


def _expand_abbreviations(text: str) -> str:
    return str(_ABBREVIATION.sub(lambda m: m.lastgroup or "", text))


_SPACE = regex.compile(r"\s+")
_DIGIT_GROUPING = regex.compile(r"(?<=\d)[.,'’\u00a0\u202f](?=\d)")
# "WASHINGTON (Reuters) - ", "TEHRAN, Aug. 12 (MNA) – ", "VATICAN CITY (AP) — ".
_DATELINE = regex.compile(r"^\s*[^()\n]{0,60}?\(\s*[^()\n]{1,30}\)\s*[-–—:]{1,2}\s*")
_CREDIT = regex.compile(r"^\s*(?:reuters|ap|afp|ana-mpa|dpa|efe|ansa)\s*[-–—:]\s+", regex.I)
# "KARLSTAD: Projektledaren ..." and "ENGELSBERG. Valrörelsen ...".
_CAPS_PLACE = regex.compile(r"^\s*\p{Lu}[\p{Lu}\p{M}'’ -]{2,30}[:.]\s+(?=\p{Lu})")

_CJK = regex.compile(r"[\p{Han}\p{Hiragana}\p{Katakana}]")
_LATIN = regex.compile(r"^[a-z]+$")
_GREEK = regex.compile(r"^\p{Greek}+$")
_CYRILLIC = regex.compile(r"^\p{Cyrillic}+$")


def _folded_endings(endings: str) -> tuple[str, ...]:
    return tuple(sorted({fold(e) for e in endings.split()}, key=len, reverse=True))


_GREEK_ENDINGS = _folded_endings("ους ων ες ος ου ης ας εις ια α ε η ι ο υ ω ς")
_CYRILLIC_ENDINGS = _folded_endings(
    "ами ями ого его ому ему ыми ими ых их ой ей ий ый ая яя ое ее ов ев ах ях ам ям ом ем "
    "а я о е ы и у ю ь"
)

# Function words of the languages in the corpus, plus reporting verbs ("says"),
# which tell nothing about the event.  Folded like the text they are matched on.
_STOPWORDS_RAW = (
    # en
    "a an the of to in on at for and or but nor is are was were be been being has have had "
    "do does did with from by as that this these those it its into onto over under after "
    "before amid about against between than then so if not no yes can could will would "
    "shall should may might must up down out off again more most very just also only new "
    "says said say tells told he she they we you i his her their our your them him us who "
    "whom whose which what when where why how all any each few other some such own same "
    "here there while during through per via vs v "
    # fr
    "le la les l un une des du de d et en au aux à pour par sur dans avec sans sous ce cet "
    "cette ces qui que qu quoi dont ou où est sont été être ont il elle ils elles on ne pas "
    "plus se sa son ses leur leurs y mais comme après avant selon entre lors "
    # de
    "der die das den dem des ein eine einer eines einem einen und oder aber im ins am an "
    "auf aus bei mit nach von vom zu zum zur für über unter vor ist sind war wird werden "
    "wurde hat haben nicht kein keine sich es er sie wir ihr auch als wie bis durch gegen um "
    # es, it, pt
    "el los las unos unas del al por para con sin sobre es son fue ha han su sus lo le como "
    "tras ante il lo gli di della dei degli delle da dal dalla nel nella e per su sul sulla "
    "tra fra è sono che non si alla ai alle o os um uma do da dos das no na nos nas ou sem "
    "é são não ao aos às pelo pela após "
    # nl, sv
    "het een van op voor bij aan zijn niet dat die er te naar om ett och i på av för med "
    "till som är att det den de har inte om från "
    # el
    "ο η το οι τα του της των τον την τους τις ένα ενός μια μία και σε στο στη στην στον "
    "στα στις στους με για από ως προς κατά μετά χωρίς θα να δεν μην που πως ότι αλλά ή "
    "είναι ήταν "
    # ru
    "в во на и с со по за из к ко у о об от до для не что как а но это при же ли "
    # ur
    "کے کی کا اور میں سے کو نے ہے ہیں پر کہ یہ وہ بھی"
)
_STOPWORDS = frozenset(fold(w) for w in _STOPWORDS_RAW.split())


# One encoder for every fingerprint: json.dumps builds a new one whenever it is
# given options.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What is kept of a story to compare it later; small, and stable across processes.

    ``title`` and ``lead`` are sorted content terms (stemmed, folded) of the
    cleaned headline and of the lead's first words; ``shingles`` is a sample
    of the lead's three-word shingle hashes (CRC-32, so the same in any process).
    """

    title: tuple[str, ...]
    lead: tuple[str, ...] = ()
    shingles: tuple[int, ...] = ()

    def __reduce__(self) -> tuple[Callable[..., Fingerprint], tuple[object, ...]]:
        # Pickle (a worker handing fingerprints to the event loop) makes new
        # strings; intern them again, as from_json does, or a window of 50,000
        # stories holds every word once per story (about 60 MB more).
        return _interned, (self.title, self.lead, self.shingles)

    def to_json(self) -> str:
        """Compact JSON for one SQLite column; carries the version it was made with."""
        return _COMPACT_JSON.encode(
            {"v": FINGERPRINT_VERSION, "t": self.title, "l": self.lead, "s": self.shingles}
        )

    @classmethod
    def from_json(cls, s: str) -> Fingerprint:
        """Raise ``ValueError`` for text this version did not write: recompute, don't compare."""
        try:
            data = json.loads(s)
        except json.JSONDecodeError as e:
            raise ValueError(f"fingerprint is not JSON: {e}") from None
        version = data.get("v") if isinstance(data, dict) else None
        if type(version) is not int or version != FINGERPRINT_VERSION:
            raise ValueError(
                f"fingerprint version {version!r}, expected {FINGERPRINT_VERSION}: "
                "recompute it from the story's title and lead"
            )
        title, lead, shingles = data.get("t"), data.get("l"), data.get("s")
        if not (_all_str(title) and _all_str(lead) and _all_hash(shingles)):
            raise ValueError("fingerprint fields have the wrong types")
        return _interned(title, lead, tuple(shingles))


def _interned(title: Iterable[str], lead: Iterable[str], shingles: tuple[int, ...]) -> Fingerprint:
    return Fingerprint(tuple(map(sys.intern, title)), tuple(map(sys.intern, lead)), shingles)


def _all_str(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _all_hash(value: object) -> TypeGuard[list[int]]:
    return isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**32 for v in value
    )


def normalise_title(title: str) -> str:
    """Folded headline without wire markers ("UPDATE 1-"), sections ("World ›") or outlets."""
    return _normalise_title_text(html_to_text(title))


def _normalise_title_text(text: str) -> str:
    text = fold(_expand_abbreviations(text)).strip()
    previous = None
    while text != previous:
        previous = text
        text = _PREFIX.sub("", text)
        section = _SECTION.match(text)
        if section and len(section.group(1).split()) <= 4:
            text = text[section.end() :]
        text = _FORMAT_TAIL.sub("", text)
        paren = _PAREN_TAIL.search(text)
        if paren and paren.group(1).strip() in _OUTLETS:
            text = text[: paren.start()]
        parts = _TAIL_SEPARATOR.split(text)
        if len(parts) > 1:
            last = parts[-1].strip(" .")
            if last in _OUTLETS or last in _ATTRIBUTIONS or _DOMAIN.match(last):
                text = text[: text.rfind(parts[-1])].rstrip(" -–—|")
        text = text.strip()
    return str(_SPACE.sub(" ", text))


def normalise_lead(lead: str) -> str:
    """Lead text without markup, dateline or agency credit ("ATHENS (ANA-MPA) - ")."""
    return _normalise_lead_text(html_to_text(lead))


def _normalise_lead_text(text: str) -> str:
    # Each pattern is anchored at the start (^, no MULTILINE): it matches once at most.
    text = _DATELINE.sub("", text)
    text = _CREDIT.sub("", text)
    return str(_CAPS_PLACE.sub("", text))


_LEAD_PREFIX_CHARS = 1000  # enough for LEAD_WORDS words in any script


def _lead_tokens(lead: str) -> list[str]:
    """The first ``LEAD_WORDS`` tokens of a lead; a long lead is only read as far as needed."""
    if len(lead) > _LEAD_PREFIX_CHARS:
        cut = lead.find(" ", _LEAD_PREFIX_CHARS)
        if cut > 0:
            # Tokens near the cut could differ ("United | States"), so the prefix
            # must hold a margin beyond the words kept.
            tokens = _tokens(lead[:cut], abbreviations=True)
            if len(tokens) > LEAD_WORDS + 5:
                return tokens[:LEAD_WORDS]
    return _tokens(lead, abbreviations=True)[:LEAD_WORDS]


def _tokens(text: str, abbreviations: bool) -> list[str]:
    if abbreviations:
        text = _expand_abbreviations(text)
    folded = _DIGIT_GROUPING.sub("", fold(text))
    if not _CJK.search(folded):
        return words(folded)
    out: list[str] = []
    for word in words(folded):
        if _CJK.search(word):  # no spaces between words: use character pairs
            out.extend(word[i : i + 2] for i in range(max(1, len(word) - 1)))
        else:
            out.append(word)
    return out


# Memoised: headline and lead words repeat across stories, and every story
# stems about fifty of them.  Bounded, as the daemon runs for months.
@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """Crude, but the same on both sides: inflections and demonyms meet ("Syrian", "Syria")."""
    if _LATIN.match(word):
        if len(word) >= 5 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) >= 6 and word.endswith("ing"):
            word = word[:-3]
        elif len(word) >= 5 and word.endswith(("ed", "es")):
            word = word[:-2]
        elif len(word) >= 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        if len(word) >= 6 and (
            word.endswith("ian") or (word[-1] == "i" and word[-2] not in "aeiou")
        ):
            # demonyms: "syrian" -> "syria", "israeli" -> "israel"
            word = word[:-1]
        if len(word) >= 5 and word.endswith("e"):
            word = word[:-1]
    elif _GREEK.match(word):
        word = _strip_ending(word, _GREEK_ENDINGS)
    elif _CYRILLIC.match(word):
        word = _strip_ending(word, _CYRILLIC_ENDINGS)
    return word[:TERM_CHARS]


def _strip_ending(word: str, endings: Sequence[str]) -> str:
    for ending in endings:
        if word.endswith(ending) and len(word) - len(ending) >= 3:
            return word[: -len(ending)]
    return word


def _content_terms(tokens: Iterable[str]) -> tuple[str, ...]:
    # Interned: a window of fingerprints then holds each word once, not once per story.
    terms = {_stem(w) for w in tokens if w not in _STOPWORDS and (len(w) > 1 or w.isdigit())}
    return tuple(sorted(map(sys.intern, terms)))


def fingerprint(title: str, lead: str) -> Fingerprint:
    """Fingerprint a story from its raw headline and lead (either may hold HTML)."""
    return fingerprint_text(html_to_text(title), html_to_text(lead))


def story_fingerprint(title: str, summary: str, content: str = "") -> Fingerprint:
    """A story's fingerprint from its fields as stored: the lead is the summary, or the
    content when there is no summary at all (as ``analyse`` reads it)."""
    return fingerprint(title, summary if summary else content)


def stored_fingerprint(
    stored: str | None, title: str, summary: str, content: str = ""
) -> Fingerprint:
    """A stored story's fingerprint: as stored, or recomputed when it is missing or was
    made by another version."""
    if stored:
        try:
            return Fingerprint.from_json(stored)
        except ValueError:
            pass
    return story_fingerprint(title, summary, content)


def fingerprint_text(title: str, lead: str) -> Fingerprint:
    """``fingerprint`` of a headline and lead already passed through ``html_to_text``.

    For callers that strip the markup once for several purposes (``analyse``).
    """
    title_terms = _content_terms(_tokens(_normalise_title_text(title), abbreviations=False))
    lead_tokens = _lead_tokens(_normalise_lead_text(lead))
    stems = [_stem(w) for w in lead_tokens]
    hashes = {
        zlib.crc32("\x1f".join(stems[i : i + SHINGLE_WORDS]).encode())
        for i in range(len(stems) - SHINGLE_WORDS + 1)
    }
    sample = tuple(sorted(h for h in hashes if h % SHINGLE_SAMPLE == 0))
    return Fingerprint(title_terms, _content_terms(lead_tokens), sample)


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """0..1: the better of headline agreement and lead overlap, halved if numbers differ.

    Headline agreement is the share of the two headlines' content terms that
    both have, where a term only one headline has still counts if the other
    story's lead contains it; it needs three terms in common.  Lead overlap is
    the share of the shorter lead's sampled shingles found in the other; it
    needs two in common and a headline term that shows up in the other story
    (so a feed's boilerplate lead matches nothing).
    """
    return _Probe(a).similarity(b)


class _Probe:
    """One story's term sets, built once for every story it is compared with: a lookup
    scores many groups, and building the sets was most of a comparison's cost."""

    __slots__ = ("lead", "numbers", "shingle_count", "shingles", "title")

    def __init__(self, fp: Fingerprint) -> None:
        self.title = frozenset(fp.title)
        self.lead = frozenset(fp.lead)
        self.shingles = frozenset(fp.shingles)
        self.shingle_count = len(fp.shingles)
        self.numbers = _numbers(self.title)

    def similarity(self, other: Fingerprint, floor: float = 0.0) -> float:
        """``similarity(probed story, other)``; the other's lead is only read, never copied.

        A score below ``floor`` is returned without the number penalty, which could
        only lower it: a lookup discards it anyway, and most of a window scores low.
        """
        ta, la = self.title, self.lead
        tb = frozenset(other.title)
        shared = ta & tb
        headline = 0.0
        if len(shared) >= MIN_SHARED_TERMS:
            explained = len((ta - tb).intersection(other.lead)) + len((tb - ta) & la)
            # At most 1: shared and explained terms are disjoint parts of the union.
            headline = (len(shared) + explained) / len(ta | tb)
        lead = 0.0
        shorter = min(self.shingle_count, len(other.shingles))
        if shorter >= MIN_LEAD_SAMPLES and (
            shared or not ta.isdisjoint(other.lead) or not tb.isdisjoint(la)
        ):
            common = len(self.shingles.intersection(other.shingles))
            if common >= MIN_SHARED_SAMPLES:
                lead = common / shorter
        score = max(headline, lead)
        if score < floor:
            return score
        na, nb = self.numbers, _numbers(tb)
        if na - nb and nb - na:
            score *= NUMBER_PENALTY
        return score


def _numbers(terms: frozenset[str]) -> set[str]:
    return {t for t in terms if t.isdigit()}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The parts of one pair's score, for ``watcher clusters --explain``."""

    shared_terms: tuple[str, ...]  # headline terms both have
    explained_terms: tuple[str, ...]  # one headline's terms the other story's lead says
    headline_terms: int  # the two headlines' terms in all
    headline: float
    shared_shingles: int
    shorter_lead: int  # sampled shingles of the shorter lead
    lead: float
    numbers: tuple[tuple[str, ...], tuple[str, ...]]  # each headline's numbers
    number_penalty: bool
    time_factor: float
    score: float
    threshold: float

    @property
    def same_event(self) -> bool:
        return self.score >= self.threshold


def explain(
    a: Fingerprint,
    b: Fingerprint,
    apart: timedelta | None = None,
    threshold: float = DEFAULT_THRESHOLD,
) -> Explanation:
    """Why ``similarity`` (and the time between the two) says what it says."""
    ta, tb = frozenset(a.title), frozenset(b.title)
    la, lb = frozenset(a.lead), frozenset(b.lead)
    shared = ta & tb
    explained = ((ta - tb) & lb) | ((tb - ta) & la)
    headline = 0.0
    if len(shared) >= MIN_SHARED_TERMS:
        headline = (len(shared) + len(explained)) / len(ta | tb)
    common = len(set(a.shingles).intersection(b.shingles))
    shorter = min(len(a.shingles), len(b.shingles))
    na, nb = _numbers(ta), _numbers(tb)
    factor = 1.0 if apart is None else time_factor(apart)
    score = similarity(a, b) * factor
    lead = 0.0
    if shorter >= MIN_LEAD_SAMPLES and (ta & (tb | lb) or tb & (ta | la)):
        lead = common / shorter if common >= MIN_SHARED_SAMPLES else 0.0
    return Explanation(
        shared_terms=tuple(sorted(shared)),
        explained_terms=tuple(sorted(explained)),
        headline_terms=len(ta | tb),
        headline=headline,
        shared_shingles=common,
        shorter_lead=shorter,
        lead=lead,
        numbers=(tuple(sorted(na)), tuple(sorted(nb))),
        number_penalty=bool(na - nb and nb - na),
        time_factor=factor,
        score=score,
        threshold=threshold,
    )


def _check_threshold(threshold: float) -> None:
    # At 0 every pair would match, including pairs no index key connects.
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"cluster threshold must be above 0 and at most 1, not {threshold}")


def same_event(a: Fingerprint, b: Fingerprint, threshold: float = DEFAULT_THRESHOLD) -> bool:
    """The clustering rule: do these two stories report the same event?"""
    _check_threshold(threshold)
    return similarity(a, b) >= threshold


@dataclass(slots=True)
class _Group:
    """The copies of one cluster that share one fingerprint (a wire story's outlets):
    scored once, however many there are."""

    key: int
    fp: Fingerprint
    members: list[tuple[datetime, int]]  # (seen at, order added) of each copy

    def latest(self) -> tuple[datetime, int]:
        return max(self.members)


# Most terms and shingles are held by one story, many by a handful: a bare id,
# then a tuple, and only for common ones a dict (insertion-ordered, so its last
# entries are the groups seen most recently; deleting or moving one costs O(1)).
_Posting = int | tuple[int, ...] | dict[int, None]
_Token = TypeVar("_Token", str, int)
_TUPLE_MAX = 8


def _post(index: dict[_Token, _Posting], token: _Token, eid: int) -> None:
    held: _Posting | None = index.get(token)
    if held is None:
        index[token] = eid
    elif isinstance(held, dict):
        held[eid] = None
    elif isinstance(held, tuple):
        holders: tuple[int, ...] = held
        more = (*holders, eid)
        index[token] = more if len(more) <= _TUPLE_MAX else dict.fromkeys(more)
    else:
        index[token] = (held, eid)


def _unpost(index: dict[_Token, _Posting], token: _Token, eid: int) -> None:
    held: _Posting | None = index.get(token)
    if isinstance(held, dict):
        del held[eid]  # every holder is kept: nothing is dropped but by this
        if len(held) <= _TUPLE_MAX:
            _shrink(index, token, tuple(held))
    elif isinstance(held, tuple):
        _shrink(index, token, tuple(e for e in held if e != eid))
    elif held == eid:
        del index[token]


def _shrink(index: dict[_Token, _Posting], token: _Token, rest: tuple[int, ...]) -> None:
    if len(rest) > 1:
        index[token] = rest
    elif rest:
        index[token] = rest[0]
    else:
        del index[token]


def _move_last(index: dict[_Token, _Posting], token: _Token, eid: int) -> None:
    """Make ``eid`` the holder of ``token`` seen last (it was seen again)."""
    held: _Posting = index[token]
    if isinstance(held, dict):
        del held[eid]
        held[eid] = None
    elif isinstance(held, tuple) and held[-1] != eid:
        holders: tuple[int, ...] = held
        index[token] = (*(e for e in holders if e != eid), eid)


def _walked(held: _Posting, recent: int) -> Iterable[int]:
    """The holders a lookup walks: the ``recent`` seen last, or none of a token held
    by more than ``MAX_POSTING`` groups."""
    if isinstance(held, int):
        return (held,)
    if len(held) > MAX_POSTING:
        return ()
    if isinstance(held, tuple):
        return held[-recent:]
    return islice(reversed(held), recent)


def time_factor(apart: timedelta) -> float:
    """Reports of one event come within hours; a similar story days later is more likely
    a follow-up, so its score is lowered a little (down to ``1 - TIME_PENALTY`` at two days)."""
    hours = abs(apart.total_seconds()) / 3600
    if hours <= SAME_DAY_HOURS:
        return 1.0
    return 1.0 - TIME_PENALTY * min(1.0, (hours - SAME_DAY_HOURS) / (48 - SAME_DAY_HOURS))


class ClusterIndex:
    """The stories of the window, looked up by shared rare headline terms and lead shingles.

    A pair can only be the same event if it shares three headline terms, or
    two sampled lead shingles, that count: a term or shingle counts for a
    group when at most ``MAX_POSTING`` groups of the window hold it (terms
    many stories share, "says", a feed's recurring words, any language's
    function words, say little about the event) and the group is one of the
    ``RECENT_TERM_HOLDERS`` (of a term; ``RECENT_SHINGLE_HOLDERS`` of a
    shingle) that were seen holding it last.  So a lookup walks a
    bounded number of holders per term, in a window of a thousand stories or
    of a hundred thousand.  ``find`` answers exactly as ``scan`` (every group
    judged by that rule and ``similarity``, lowered by ``time_factor``; best
    score wins, ties go to the most recent copy, then the one added last).
    Copies of a cluster with the same fingerprint are one group, scored once;
    a copy seen again makes its group the latest holder of its terms.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        _check_threshold(threshold)
        self._threshold = threshold
        self._groups: dict[int, _Group] = {}
        self._group_of: dict[tuple[int, Fingerprint], int] = {}
        self._by_term: dict[str, _Posting] = {}
        self._by_shingle: dict[int, _Posting] = {}
        self._by_age: list[tuple[datetime, int, int]] = []  # (at, order, group)
        self._ids = count()
        self._order = count()
        self._size = 0

    @property
    def threshold(self) -> float:
        return self._threshold

    def __len__(self) -> int:
        return self._size

    def add(self, key: int, fp: Fingerprint, at: datetime) -> None:
        """Index a story under ``key`` (its cluster id); several stories may share a key."""
        order = next(self._order)
        gid = self._group_of.get((key, fp))
        if gid is None:
            gid = next(self._ids)
            self._groups[gid] = _Group(key, fp, [])
            self._group_of[(key, fp)] = gid
            hold = _post
        else:  # a copy seen again: its group becomes the latest holder of its tokens
            hold = _move_last
        for term in set(fp.title):  # set(): a hand-made fingerprint may repeat a term
            hold(self._by_term, term, gid)
        for shingle in set(fp.shingles):
            hold(self._by_shingle, shingle, gid)
        self._groups[gid].members.append((at, order))
        heapq.heappush(self._by_age, (at, order, gid))
        self._size += 1

    def find(self, fp: Fingerprint, at: datetime | None = None) -> int | None:
        """Key of the best story reporting the same event as ``fp``, or ``None``.

        ``at`` is when ``fp``'s story was seen (None: time is left out of the score).
        """
        candidates = self._candidates(fp)
        if not candidates:  # most stories: nothing to score
            return None
        groups = self._groups
        # Most recent first, so a tie keeps the first one scored, and a perfect
        # score (a wire copy the same day) ends the search: nothing can beat it.
        ranked = sorted(((groups[gid].latest(), gid) for gid in candidates), reverse=True)
        best: tuple[float, int] | None = None
        probe = _Probe(fp)
        for (seen, _), gid in ranked:
            score = self._score(probe, at, groups[gid].fp, seen)
            if score >= self._threshold and (best is None or score > best[0]):
                best = (score, gid)
                if score >= 1.0:
                    break
        return None if best is None else groups[best[1]].key

    def scan(self, fp: Fingerprint, at: datetime | None = None) -> int | None:
        """What ``find`` answers, by judging every group of the window: the reference."""
        best: tuple[tuple[float, datetime, int], int] | None = None
        probe = _Probe(fp)
        for gid, group in self._groups.items():
            if not self._eligible(fp, gid):
                continue
            seen, order = group.latest()
            score = self._score(probe, at, group.fp, seen)
            if score >= self._threshold and (best is None or (score, seen, order) > best[0]):
                best = ((score, seen, order), group.key)
        return None if best is None else best[1]

    def evict(self, before: datetime) -> None:
        """Drop stories stamped before ``before`` (the start of the window)."""
        while self._by_age and self._by_age[0][0] < before:
            at, order, gid = heapq.heappop(self._by_age)
            group = self._groups[gid]
            group.members.remove((at, order))
            self._size -= 1
            if group.members:
                continue
            del self._groups[gid]
            del self._group_of[(group.key, group.fp)]
            for term in set(group.fp.title):
                _unpost(self._by_term, term, gid)
            for shingle in set(group.fp.shingles):
                _unpost(self._by_shingle, shingle, gid)

    def _score(
        self, probe: _Probe, at: datetime | None, other: Fingerprint, seen: datetime
    ) -> float:
        # The time factor is at most 1: a score under the threshold stays under it.
        score = probe.similarity(other, self._threshold)
        return score if at is None or score < self._threshold else score * time_factor(at - seen)

    def _eligible(self, fp: Fingerprint, gid: int) -> bool:
        """The rule's gate: enough rare headline terms or lead shingles in common.

        ``gid`` is a group of the window, so every term and shingle it has is posted.
        """
        other = self._groups[gid].fp
        return (
            _counted(self._by_term, fp.title, other.title, gid, RECENT_TERM_HOLDERS)
            >= MIN_SHARED_TERMS
            or _counted(self._by_shingle, fp.shingles, other.shingles, gid, RECENT_SHINGLE_HOLDERS)
            >= MIN_SHARED_SAMPLES
        )

    def _candidates(self, fp: Fingerprint) -> set[int]:
        """Groups sharing three rare headline terms or two rare sampled lead shingles.

        Only the groups of a posting seen last are walked (``RECENT_TERM_HOLDERS``,
        ``RECENT_SHINGLE_HOLDERS``), and postings longer than ``MAX_POSTING`` not at
        all; each walked group's shared tokens are counted.
        """
        found = _holding(self._by_term, fp.title, MIN_SHARED_TERMS, RECENT_TERM_HOLDERS)
        found.update(
            _holding(self._by_shingle, fp.shingles, MIN_SHARED_SAMPLES, RECENT_SHINGLE_HOLDERS)
        )
        return found


def _counted(
    index: dict[_Token, _Posting],
    tokens: Iterable[_Token],
    others: Iterable[_Token],
    gid: int,
    recent: int,
) -> int:
    """How many tokens the two stories share that count for group ``gid``: those of
    whose postings a lookup walks ``gid``."""
    return sum(1 for t in set(tokens) & set(others) if gid in _walked(index[t], recent))


def _holding(
    index: dict[_Token, _Posting], tokens: Iterable[_Token], need: int, recent: int
) -> set[int]:
    """The groups among the ``recent`` walked holders of at least ``need`` of ``tokens``."""
    walked: list[int] = []
    for token in set(tokens):  # set(): a hand-made fingerprint may repeat a token
        held = index.get(token)
        if held is not None:
            walked.extend(_walked(held, recent))
    if len(walked) < need:
        return set()
    return {gid for gid, n in Counter(walked).items() if n >= need}
