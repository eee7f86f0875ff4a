"""Mine same-event story pairs from the shared feed corpus for the clustering labelled set.

The corpus is not ours to copy, so this script is how the corpus part of
``tests/data/cluster_pairs.jsonl`` is made and checked without pasting feeds
into the repo: the pairs are chosen and labelled by hand (``CORPUS_PAIRS``
below, entries named ``file#index`` in feedparser order), and only a short title
and lead excerpt of each side is written out.

    python bench/mine_cluster_pairs.py candidates [--min-shared 2] [--limit 300]
        list cross-outlet and same-feed pairs worth a human look
    python bench/mine_cluster_pairs.py show FILE#INDEX ...
        print entries as the set would excerpt them, to label them
    python bench/mine_cluster_pairs.py build
        rewrite the corpus lines of the labelled set (hand-written lines are kept)
    python bench/mine_cluster_pairs.py verify
        check every corpus line still matches the corpus

The candidate ranking deliberately uses plain shared-word counts, not
``watcher.core.cluster``, so the pairs offered for labelling are not chosen by
the algorithm they are used to measure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.core.text import fold, html_to_text, words  # noqa: E402

CORPUS = Path(os.environ.get("WATCHER_CORPUS", ROOT.parent / "shared" / "corpus")) / "feeds"
PAIRS = ROOT / "tests" / "data" / "cluster_pairs.jsonl"
TITLE_MAX = 200
LEAD_MAX = 240
WINDOW = timedelta(hours=72)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")

# Words too common to make two headlines look alike (ranking aid only).
_NAIVE_STOP_TEXT = (
    "a an the of to in on at for and or is are was were be has have had with from by as "
    "that this it its after over new says said say will not no but de la le les des du "
    "et en un une der die das und den von zu mit im el los las y que del"
)
_NAIVE_STOP = frozenset(_NAIVE_STOP_TEXT.split())

# (id, same event?, category, entry a, entry b, note).  Labelled by reading
# both items; see tests/data/README.md for the rules applied.
CORPUS_PAIRS: list[tuple[str, bool, str, str, str, str]] = [
    # 24 May 2006: Reuters wire as carried by Yahoo News with "(Reuters)" appended.
    ("c001", True, "suffix", "reuters-3.xml#0", "yahoo-news-1.xml#10", ""),
    ("c002", True, "suffix", "reuters-3.xml#1", "yahoo-news-1.xml#11", ""),
    ("c003", True, "suffix", "reuters-3.xml#2", "yahoo-news-1.xml#12", ""),
    ("c004", True, "suffix", "reuters-3.xml#3", "yahoo-news-1.xml#13", ""),
    ("c005", True, "suffix", "reuters-3.xml#4", "yahoo-news-1.xml#4", ""),
    ("c006", True, "suffix", "reuters-3.xml#5", "yahoo-news-1.xml#14", ""),
    # 24 May 2006: the same events written up by BBC, Reuters, AP, AFP, CNN, Guardian, TIME.
    ("c007", True, "rewrite", "bbc-news-1.xml#3", "reuters-3.xml#0", "Senate immigration vote"),
    ("c008", True, "rewrite", "bbc-news-1.xml#3", "yahoo-news-1.xml#0", "Senate immigration vote"),
    ("c009", True, "rewrite", "reuters-3.xml#0", "yahoo-news-1.xml#0", "Reuters vs AP"),
    ("c010", True, "rewrite", "bbc-news-1.xml#5", "reuters-3.xml#2", "Iran incentives talks"),
    ("c011", True, "rewrite", "bbc-news-1.xml#5", "yahoo-news-1.xml#15", "Iran incentives talks"),
    (
        "c012",
        True,
        "rewrite",
        "theguardian-3.xml#8",
        "yahoo-news-1.xml#15",
        "Iran incentives talks",
    ),
    ("c013", True, "rewrite", "bbc-news-1.xml#0", "theguardian-3.xml#2", "Olmert to Congress"),
    ("c014", True, "rewrite", "bbc-news-1.xml#0", "yahoo-news-1.xml#16", "Olmert to Congress"),
    ("c015", True, "rewrite", "reuters-3.xml#3", "cnn-1.xml#1", "Olmert to Congress"),
    ("c016", True, "rewrite", "theguardian-3.xml#2", "cnn-1.xml#1", "Olmert to Congress"),
    ("c017", False, "analysis", "time-1.xml#0", "bbc-news-1.xml#0", "analysis of the visit"),
    ("c018", True, "rewrite", "bbc-news-1.xml#1", "theguardian-3.xml#6", "Istanbul airport fire"),
    ("c019", True, "rewrite", "bbc-news-1.xml#1", "yahoo-news-1.xml#1", "Istanbul airport fire"),
    ("c020", True, "rewrite", "theguardian-3.xml#6", "yahoo-news-1.xml#1", "Istanbul airport fire"),
    ("c021", True, "rewrite", "bbc-news-1.xml#15", "time-1.xml#2", "Indonesian bird flu cluster"),
    (
        "c022",
        True,
        "rewrite",
        "bbc-news-1.xml#15",
        "reuters-3.xml#6",
        "Indonesian bird flu cluster",
    ),
    ("c023", True, "rewrite", "wired-1.xml#12", "bbc-news-1.xml#15", "Indonesian bird flu cluster"),
    ("c024", True, "rewrite", "bbc-news-1.xml#7", "theguardian-3.xml#5", "Aziz testifies"),
    ("c025", True, "rewrite", "bbc-news-1.xml#23", "theguardian-3.xml#7", "Reid figures"),
    ("c026", True, "rewrite", "bbc-news-1.xml#19", "yahoo-news-1.xml#2", "Maliki on security"),
    ("c027", True, "rewrite", "bbc-news-1.xml#19", "reuters-3.xml#7", "Maliki on security"),
    ("c028", True, "rewrite", "nationalgeographic-1.xml#3", "telegraph-1.xml#4", "Montenegro"),
    ("c029", False, "follow-up", "telegraph-1.xml#27", "telegraph-1.xml#4", "vote, then result"),
    (
        "c030",
        False,
        "follow-up",
        "reuters-3.xml#9",
        "telegraph-1.xml#34",
        "Hoffa search, 4 days on",
    ),
    ("c031", False, "same-place", "bbc-news-1.xml#22", "telegraph-1.xml#29", "two Kashmir attacks"),
    ("c032", False, "same-place", "bbc-news-1.xml#21", "yahoo-news-1.xml#3", "two Afghan clashes"),
    (
        "c033",
        False,
        "same-place",
        "telegraph-1.xml#42",
        "telegraph-1.xml#46",
        "Taliban, two events",
    ),
    ("c034", False, "same-place", "bbc-news-1.xml#7", "cnn-1.xml#3", "Saddam trial vs nephew"),
    ("c035", True, "rewrite", "ap-1.xml#5", "cnn-1.xml#9", "Jeb Bush and the NFL"),
    ("c036", True, "rewrite", "bbc-news-1.xml#14", "cnn-1.xml#4", "Fox visit"),
    # 6-7 January 2017: wire stories across Japan Times, Japan Today, Reuters, CTV,
    # Indian Express, NYT, Mirror.
    ("c037", True, "wire-copy", "japantimes-1.xml#10", "japantoday-1.xml#9", "section prefix"),
    ("c038", True, "wire-copy", "japantimes-1.xml#11", "japantoday-1.xml#19", ""),
    ("c039", True, "rewrite", "indianexpress-1.xml#106", "japantimes-1.xml#11", ""),
    ("c040", True, "wire-copy", "japantimes-1.xml#28", "japantoday-1.xml#2", ""),
    ("c041", False, "follow-up", "japantimes-1.xml#39", "japantoday-1.xml#2", "semi, then final"),
    ("c042", True, "rewrite", "japantoday-1.xml#6", "japantoday-1.xml#2", "photo item"),
    ("c043", True, "rewrite", "japantimes-1.xml#5", "japantoday-1.xml#0", ""),
    ("c044", True, "wire-copy", "japantoday-1.xml#13", "reuters-1.xml#1", "section prefix"),
    ("c045", True, "rewrite", "nytimes-1.xml#11", "reuters-1.xml#1", ""),
    ("c046", True, "rewrite", "indianexpress-1.xml#90", "reuters-1.xml#1", ""),
    ("c047", False, "follow-up", "indianexpress-1.xml#87", "indianexpress-1.xml#90", ""),
    ("c048", True, "wire-copy", "ctvnews-1.xml#8", "japantimes-1.xml#3", "same headline"),
    ("c049", True, "wire-copy", "ctvnews-1.xml#5", "indianexpress-1.xml#17", ""),
    ("c050", True, "rewrite", "indianexpress-1.xml#65", "japantimes-1.xml#6", "intel report"),
    ("c051", True, "rewrite", "themirror-1.xml#14", "indianexpress-1.xml#65", "intel report"),
    ("c052", True, "rewrite", "nytimes-1.xml#0", "japantimes-1.xml#6", "intel report"),
    ("c053", True, "rewrite", "ctvnews-1.xml#5", "japantimes-1.xml#6", "intel report"),
    ("c054", False, "follow-up", "themirror-1.xml#15", "themirror-1.xml#14", "GCHQ angle"),
    ("c055", False, "same-place", "indianexpress-1.xml#63", "indianexpress-1.xml#65", ""),
    ("c056", True, "wire-copy", "indianexpress-1.xml#15", "reuters-1.xml#6", ""),
    ("c057", True, "rewrite", "indianexpress-1.xml#110", "japantimes-1.xml#9", ""),
    ("c058", True, "rewrite", "indianexpress-1.xml#134", "nytimes-1.xml#15", ""),
    ("c059", False, "follow-up", "indianexpress-1.xml#62", "indianexpress-1.xml#134", "bail"),
    ("c060", True, "rewrite", "japantoday-1.xml#12", "indianexpress-1.xml#76", "airport shooting"),
    ("c061", True, "rewrite", "japantimes-1.xml#14", "japantoday-1.xml#12", "airport shooting"),
    ("c062", True, "rewrite", "themirror-1.xml#24", "japantoday-1.xml#12", "airport shooting"),
    ("c063", True, "rewrite", "ctvnews-1.xml#0", "indianexpress-1.xml#29", "suspect's health"),
    ("c064", False, "follow-up", "ctvnews-1.xml#0", "japantoday-1.xml#12", ""),
    ("c065", False, "follow-up", "ctvnews-1.xml#2", "japantoday-1.xml#12", "airport reopens"),
    ("c066", False, "follow-up", "japantoday-1.xml#1", "japantoday-1.xml#12", "guns in baggage"),
    ("c067", False, "roundup", "indianexpress-1.xml#54", "indianexpress-1.xml#76", ""),
    ("c068", False, "follow-up", "indianexpress-1.xml#35", "indianexpress-1.xml#76", ""),
    ("c069", False, "follow-up", "indianexpress-1.xml#23", "indianexpress-1.xml#36", ""),
    ("c070", True, "rewrite", "nytimes-1.xml#27", "indianexpress-1.xml#46", "Tilikum"),
    ("c071", True, "rewrite", "indianexpress-1.xml#26", "indianexpress-1.xml#74", ""),
    ("c072", True, "rewrite", "indianexpress-1.xml#14", "indianexpress-1.xml#71", ""),
    ("c073", False, "same-place", "indianexpress-1.xml#14", "indianexpress-1.xml#160", ""),
    ("c074", True, "rewrite", "indianexpress-1.xml#20", "indianexpress-1.xml#32", ""),
    ("c075", True, "rewrite", "reuters-1.xml#4", "indianexpress-1.xml#22", "Abidjan gunfire"),
    ("c076", False, "follow-up", "indianexpress-1.xml#103", "reuters-1.xml#7", ""),
    ("c077", True, "rewrite", "indianexpress-1.xml#51", "indianexpress-1.xml#112", ""),
    ("c078", False, "follow-up", "indianexpress-1.xml#11", "indianexpress-1.xml#51", ""),
    ("c079", True, "rewrite", "indianexpress-1.xml#64", "indianexpress-1.xml#53", ""),
    ("c080", False, "follow-up", "indianexpress-1.xml#145", "indianexpress-1.xml#64", ""),
    ("c081", True, "rewrite", "indianexpress-1.xml#83", "indianexpress-1.xml#132", ""),
    ("c082", False, "same-place", "indianexpress-1.xml#83", "indianexpress-1.xml#196", ""),
    ("c083", True, "rewrite", "indianexpress-1.xml#109", "indianexpress-1.xml#150", ""),
    ("c084", True, "rewrite", "indianexpress-1.xml#125", "indianexpress-1.xml#149", ""),
    ("c085", False, "follow-up", "indianexpress-1.xml#154", "indianexpress-1.xml#149", ""),
    ("c086", False, "same-place", "indianexpress-1.xml#91", "indianexpress-1.xml#104", "two polls"),
    ("c087", False, "roundup", "indianexpress-1.xml#37", "indianexpress-1.xml#57", "quote list"),
    ("c088", False, "same-place", "indianexpress-1.xml#139", "indianexpress-1.xml#57", ""),
    ("c089", False, "analysis", "indianexpress-1.xml#69", "indianexpress-1.xml#105", ""),
    ("c090", True, "rewrite", "indianexpress-1.xml#8", "reuters-1.xml#2", "Mosul, Tigris"),
    ("c091", True, "rewrite", "lemonde-1.xml#8", "leparisien-1.xml#13", "Zidane record"),
    ("c092", True, "update", "lemonde-1.xml#11", "leparisien-1.xml#23", "toll revised"),
    ("c093", True, "update", "lemonde-1.xml#16", "leparisien-1.xml#0", "alert widened"),
    ("c094", False, "series", "lemonde-1.xml#16", "lemonde-2.xml#14", "a year apart"),
    ("c095", True, "rewrite", "lemonde-1.xml#12", "leparisien-1.xml#14", "Pinturault"),
    ("c096", False, "same-place", "lemonde-1.xml#4", "leparisien-1.xml#6", "CES"),
    ("c097", False, "follow-up", "yandex-news-1.xml#5", "yandex-news-1.xml#10", "hotel fire"),
    ("c098", False, "same-place", "yandex-news-1.xml#7", "yandex-news-1.xml#10", "two hotels"),
    ("c099", False, "same-place", "yandex-news-1.xml#0", "yandex-news-1.xml#8", "cold snap"),
    ("c100", False, "same-place", "yandex-news-1.xml#9", "yandex-news-1.xml#0", "cold snap"),
    ("c101", True, "update", "yandex-news-1.xml#10", "yandex-news-1.xml#6", "toll revised"),
    # 11-13 August 2026: Al Jazeera, BBC, India Today, Mehr.
    ("c102", True, "rewrite", "aljazeera-1.xml#24", "bbc-news-2.xml#9", "Leavitt"),
    ("c103", True, "rewrite", "aljazeera-1.xml#24", "indiatoday-1.xml#15", "Leavitt"),
    ("c104", True, "rewrite", "bbc-news-2.xml#9", "indiatoday-1.xml#15", "Leavitt"),
    ("c105", True, "rewrite", "aljazeera-1.xml#10", "bbc-news-2.xml#17", "ICE gloves"),
    ("c106", True, "rewrite", "aljazeera-1.xml#2", "bbc-news-2.xml#1", "Qusra"),
    ("c107", True, "rewrite", "bbc-news-2.xml#15", "indiatoday-1.xml#98", "decoy plane"),
    ("c108", False, "follow-up", "indiatoday-1.xml#25", "bbc-news-2.xml#15", ""),
    ("c109", False, "same-place", "bbc-news-2.xml#26", "bbc-news-2.xml#25", "two videos"),
    ("c110", False, "follow-up", "aljazeera-1.xml#0", "aljazeera-1.xml#14", "quake"),
    ("c111", False, "follow-up", "bbc-news-2.xml#11", "aljazeera-1.xml#14", "quake"),
    ("c112", False, "same-place", "mehrnews-1.xml#4", "aljazeera-1.xml#0", "quake"),
    ("c113", False, "same-place", "indiatoday-1.xml#115", "bbc-news-2.xml#24", "quake"),
    ("c114", False, "same-place", "aljazeera-1.xml#3", "aljazeera-1.xml#22", "eclipse"),
    ("c115", False, "same-place", "aljazeera-1.xml#4", "aljazeera-1.xml#22", "eclipse"),
    ("c116", False, "roundup", "aljazeera-1.xml#7", "mehrnews-1.xml#8", "live page"),
    ("c117", False, "follow-up", "mehrnews-1.xml#17", "mehrnews-1.xml#2", ""),
    ("c118", False, "follow-up", "mehrnews-1.xml#14", "mehrnews-1.xml#19", "arrives, then meets"),
    ("c119", False, "same-place", "mehrnews-1.xml#11", "mehrnews-1.xml#14", "two meetings"),
    ("c120", True, "rewrite", "indiatoday-1.xml#0", "indiatoday-1.xml#31", "UN report"),
    ("c121", False, "series", "indiatoday-1.xml#90", "indiatoday-1.xml#92", ""),
    ("c122", False, "same-place", "indiatoday-1.xml#26", "indiatoday-1.xml#10", ""),
    ("c123", False, "roundup", "indiatoday-1.xml#55", "indiatoday-1.xml#10", "bulletin"),
    ("c124", False, "follow-up", "indiatoday-1.xml#18", "indiatoday-1.xml#4", "poll, then result"),
    ("c125", False, "same-place", "indiatoday-1.xml#30", "mehrnews-1.xml#24", ""),
    ("c126", False, "same-place", "aljazeera-1.xml#18", "aljazeera-1.xml#16", ""),
    # Other days.
    ("c127", True, "update", "washingtonpost-2.xml#24", "washingtonpost-2.xml#22", "first take"),
    ("c128", False, "roundup", "washingtonpost-2.xml#21", "washingtonpost-2.xml#19", "live page"),
    ("c129", False, "analysis", "washingtonpost-2.xml#4", "washingtonpost-2.xml#21", ""),
    ("c130", False, "follow-up", "washingtonpost-2.xml#17", "washingtonpost-2.xml#13", ""),
    ("c131", False, "same-place", "washingtonpost-2.xml#14", "washingtonpost-2.xml#18", ""),
    ("c132", False, "same-place", "reuters-1.xml#2", "washingtonpost-2.xml#14", "months apart"),
    ("c133", True, "rewrite", "theguardian-2.xml#7", "theguardian-2.xml#9", "Fiona"),
    ("c134", False, "follow-up", "theguardian-2.xml#6", "theguardian-2.xml#7", "Fiona clean-up"),
    ("c135", True, "update", "theguardian-2.xml#30", "theguardian-2.xml#33", "toll revised"),
    ("c136", False, "same-place", "theguardian-2.xml#52", "theguardian-2.xml#53", "storm Ian"),
    ("c137", False, "same-place", "theguardian-2.xml#13", "washingtonpost-2.xml#3", "two launches"),
    ("c138", True, "rewrite", "theguardian-1.xml#28", "theguardian-1.xml#32", "video of it"),
    ("c139", False, "same-place", "theguardian-1.xml#0", "theguardian-1.xml#27", "SOTU"),
    ("c140", False, "same-place", "theguardian-1.xml#29", "theguardian-1.xml#14", "SOTU"),
    ("c141", True, "rewrite", "thehindu-1.xml#1", "thehindu-1.xml#58", "F-16s"),
    ("c142", True, "rewrite", "thehindu-1.xml#22", "thehindu-1.xml#368", "expired drugs"),
    ("c143", False, "same-place", "thehindu-1.xml#36", "thehindu-1.xml#506", "two trials"),
    ("c144", False, "same-place", "thehindu-1.xml#168", "thehindu-1.xml#195", ""),
    ("c145", False, "same-place", "thehindu-1.xml#147", "thehindu-1.xml#428", "two towns"),
    ("c146", False, "follow-up", "thehindu-1.xml#283", "thehindu-1.xml#366", ""),
    ("c147", False, "same-place", "thehindu-1.xml#310", "thehindu-1.xml#344", ""),
    ("c148", False, "same-place", "thehindu-1.xml#170", "thehindu-1.xml#286", ""),
    ("c149", False, "series", "londonist-1.xml#1", "londonist-1.xml#10", ""),
    ("c150", False, "series", "londonist-1.xml#13", "londonist-1.xml#24", ""),
    ("c151", False, "series", "derstandard-1.xml#28", "derstandard-1.xml#30", "part 1, part 2"),
    ("c152", False, "series", "derstandard-1.xml#17", "derstandard-1.xml#18", "part 1, part 2"),
    (
        "c153",
        False,
        "series",
        "google-alerts-1.xml#2",
        "google-alerts-1.xml#17",
        "same size, a week apart",
    ),
    ("c154", False, "series", "google-alerts-1.xml#2", "google-alerts-1.xml#6", "two sales"),
    ("c155", False, "series", "google-alerts-1.xml#10", "google-alerts-1.xml#18", "two sales"),
    ("c156", False, "series", "google-alerts-1.xml#9", "google-alerts-1.xml#8", "two sales"),
    ("c157", False, "same-place", "fcutrecht-1.xml#4", "fcutrecht-1.xml#0", "tickets, referee"),
    ("c158", False, "follow-up", "fcutrecht-1.xml#6", "fcutrecht-1.xml#5", "stream, result"),
    ("c159", False, "same-place", "fcutrecht-1.xml#7", "fcutrecht-1.xml#6", ""),
    ("c160", True, "suffix", "retriever-1.xml#1", "retriever-1.xml#4", "name prefix"),
    ("c161", True, "wire-copy", "retriever-1.xml#6", "retriever-1.xml#20", "two papers"),
    ("c162", True, "rewrite", "retriever-1.xml#2", "retriever-1.xml#6", ""),
    ("c163", True, "rewrite", "retriever-1.xml#8", "retriever-1.xml#15", ""),
    ("c164", True, "rewrite", "retriever-1.xml#23", "retriever-1.xml#27", "road deaths"),
    ("c165", True, "rewrite", "retriever-1.xml#26", "retriever-1.xml#28", "road deaths"),
    ("c166", True, "rewrite", "retriever-1.xml#11", "retriever-1.xml#18", "same lead"),
    ("c167", True, "rewrite", "retriever-1.xml#10", "retriever-1.xml#22", "same lead"),
    ("c168", False, "same-place", "aljazeera-2.xml#1", "aljazeera-2.xml#9", "two features"),
    ("c169", False, "same-place", "talkingpointsmemo-1.xml#14", "talkingpointsmemo-1.xml#17", ""),
    ("c171", False, "same-place", "massanews-1.xml#19", "massanews-1.xml#20", ""),
    ("c172", False, "follow-up", "massanews-1.xml#13", "massanews-1.xml#7", ""),
]


@dataclass(frozen=True)
class Entry:
    ref: str
    title: str
    lead: str
    published: datetime | None


def _undo(run: str) -> str:
    raw = bytearray()
    for ch in run:
        try:
            raw += ch.encode("cp1252")
        except UnicodeEncodeError:
            if ord(ch) > 0xFF:
                return run
            raw.append(ord(ch))  # the five bytes cp1252 leaves undefined
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return run


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252 (several saved feeds are double-encoded), run by run."""
    return _NON_ASCII_RUN.sub(lambda m: _undo(m.group()), text)


def excerpt(text: str, limit: int) -> str:
    """Cut on a word boundary so an excerpt never ends in half a word."""
    text = html_to_text(text)
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:-")


def _published(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    if not parsed:
        return None
    year, month, day, hour, minute, second = parsed[:6]
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def load_feed(name: str) -> list[Entry]:
    parsed = feedparser.parse(str(CORPUS / name))
    out = []
    for i, e in enumerate(parsed.entries):
        lead = e.get("summary") or ""
        if not lead and e.get("content"):
            lead = e["content"][0].get("value", "")
        out.append(
            Entry(
                ref=f"{name}#{i}",
                title=excerpt(repair_mojibake(e.get("title", "") or ""), TITLE_MAX),
                lead=excerpt(repair_mojibake(lead), LEAD_MAX),
                published=_published(e),
            )
        )
    return out


def load_ref(ref: str, cache: dict[str, list[Entry]]) -> Entry:
    name, _, index = ref.partition("#")
    if name not in cache:
        cache[name] = load_feed(name)
    return cache[name][int(index)]


def _content(title: str) -> set[str]:
    return {w for w in words(fold(title)) if w not in _NAIVE_STOP and len(w) > 1}


def candidates(min_shared: int, limit: int) -> None:
    entries = [e for f in sorted(p.name for p in CORPUS.iterdir()) for e in load_feed(f)]
    content = [_content(e.title) for e in entries]
    found = []
    for i, a in enumerate(entries):
        for j in range(i + 1, len(entries)):
            b = entries[j]
            if a.published and b.published and abs(a.published - b.published) > WINDOW:
                continue
            if a.title == b.title and a.ref.split("#")[0] == b.ref.split("#")[0]:
                continue
            shared = len(content[i] & content[j])
            if shared >= min_shared:
                found.append((shared, a, b))
    found.sort(key=lambda t: (-t[0], t[1].ref, t[2].ref))
    for shared, a, b in found[:limit]:
        print(f"{shared}  {a.ref:28} {a.title[:90]}")
        print(f"   {b.ref:28} {b.title[:90]}")


def show(refs: list[str]) -> None:
    cache: dict[str, list[Entry]] = {}
    for ref in refs:
        e = load_ref(ref, cache)
        print(f"{e.ref}  [{e.published}]\n  T: {e.title}\n  L: {e.lead}\n")


def _line(pair: tuple[str, bool, str, str, str, str], cache: dict[str, list[Entry]]) -> str:
    pid, label, category, ref_a, ref_b, note = pair
    a, b = load_ref(ref_a, cache), load_ref(ref_b, cache)
    record: dict[str, Any] = {
        "id": pid,
        "same": label,
        "category": category,
        "source": [ref_a, ref_b],
        "a": {"title": a.title, "lead": a.lead},
        "b": {"title": b.title, "lead": b.lead},
    }
    if note:
        record["note"] = note
    return json.dumps(record, ensure_ascii=False)


def _hand_lines() -> list[str]:
    if not PAIRS.exists():
        return []
    lines = PAIRS.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and json.loads(line)["source"] == "hand"]


def build() -> None:
    cache: dict[str, list[Entry]] = {}
    corpus_lines = [_line(pair, cache) for pair in CORPUS_PAIRS]
    PAIRS.parent.mkdir(parents=True, exist_ok=True)
    PAIRS.write_text("\n".join([*corpus_lines, *_hand_lines()]) + "\n", encoding="utf-8")
    print(f"{len(corpus_lines)} corpus pairs, {len(_hand_lines())} hand pairs -> {PAIRS}")


def verify() -> int:
    cache: dict[str, list[Entry]] = {}
    expected = {pair[0]: _line(pair, cache) for pair in CORPUS_PAIRS}
    bad = 0
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["source"] == "hand":
            continue
        if expected.get(record["id"]) != line:
            print(f"{record['id']}: differs from the corpus or from CORPUS_PAIRS")
            bad += 1
    print(f"{len(expected)} corpus pairs checked, {bad} bad")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    cand = sub.add_parser("candidates")
    cand.add_argument("--min-shared", type=int, default=2)
    cand.add_argument("--limit", type=int, default=300)
    sh = sub.add_parser("show")
    sh.add_argument("refs", nargs="+")
    sub.add_parser("build")
    sub.add_parser("verify")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    if args.cmd == "candidates":
        candidates(args.min_shared, args.limit)
    elif args.cmd == "show":
        show(args.refs)
    elif args.cmd == "build":
        build()
    else:
        return verify()
    return 0


if __name__ == "__main__":
    sys.exit(main())
