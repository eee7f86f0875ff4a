"""Mine same-event story pairs from the shared feed corpus for the clustering labelled set.

The corpus is not ours to copy, so this script is how the corpus part of
``tests/data/cluster_pairs.jsonl`` is made and checked without pasting feeds
into the repo: the pairs are chosen and labelled by hand (``CORPUS_PAIRS``
below, entries named ``file#index`` in feedparser order), and only a short title
and lead excerpt of each side is written out.

    python bench/mine_cluster_pairs.py candidates [--min-shared 2] [--limit 300]
        list cross-outlet and same-feed pairs worth a human look
    python bench/mine_cluster_pairs.py candidates --cross-language [--min-shared 2]
        list pairs across languages sharing capitalised names and numbers
    python bench/mine_cluster_pairs.py show FILE#INDEX ...
        print entries as the set would excerpt them, to label them
    python bench/mine_cluster_pairs.py build
        rewrite the corpus lines of the labelled set (hand-written lines are kept)
    python bench/mine_cluster_pairs.py verify
        check every corpus line still matches the corpus, and every line's form

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
SOURCES = CORPUS.parent / "SOURCES.md"
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

# Capitalised words that are not names (sentence starts, weekdays, months...), for
# the cross-language candidates; names and numbers are what survive translation.
_NOT_NAMES_TEXT = (
    "the a an in on at for and but after as by with from to of this that it its he she "
    "they we his her their new more us one two three four five six seven eight nine ten "
    "monday tuesday wednesday thursday friday saturday sunday january february march "
    "april may june july august september october november december "
    "der die das ein eine im am und mit nach bei für auf vor ist sind wie was wer "
    "le la les un une des du au aux et en pour avec dans sur après selon "
    "el los las lo del al y con por para tras según il lo gli di da nel nella "
    "o os as em no na do dos com para "
    "montag dienstag mittwoch donnerstag freitag samstag sonntag januar februar märz "
    "mai juni juli oktober dezember lundi mardi mercredi jeudi vendredi samedi dimanche "
    "janvier février mars avril juin juillet août septembre octobre novembre décembre"
)
_NOT_NAMES = frozenset(_NOT_NAMES_TEXT.split())
_NAME = re.compile(r"\b(?:[A-ZÀ-ÖØ-ÞА-ЯЁ][\w'-]{2,}|\d[\d.,]*)")
_LATIN_OF_CYRILLIC = "a b v g d e e zh z i i k l m n o p r s t u f kh ts ch sh shch - y - e yu ya"
_CYRILLIC = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
        _LATIN_OF_CYRILLIC.split(),
        strict=True,
    )
)

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
    # Added for issue: pairs across languages (lang per side, cross_language) and more
    # same-language rewrites and not-same pairs.  Mined with `candidates --cross-language`.
    ("c173", True, "rewrite", "spiegel-1.xml#4", "indianexpress-1.xml#16", "Azaz bomb, de/en"),
    ("c174", True, "update", "lemonde-1.xml#11", "indianexpress-1.xml#16", "Azaz, toll 19 then 43"),
    ("c175", True, "update", "spiegel-1.xml#4", "lemonde-1.xml#11", "Azaz, toll 43 vs 19"),
    ("c176", True, "rewrite", "leparisien-1.xml#23", "indianexpress-1.xml#16", "Azaz, 43"),
    ("c177", True, "rewrite", "spiegel-1.xml#4", "leparisien-1.xml#23", "Azaz, 43"),
    ("c178", True, "rewrite", "lemonde-1.xml#17", "indianexpress-1.xml#24", "Turkish purge"),
    ("c179", True, "rewrite", "lemonde-1.xml#6", "reuters-1.xml#5", "Akufo-Addo sworn in"),
    ("c180", True, "rewrite", "lemonde-1.xml#0", "japantimes-1.xml#6", "intel report"),
    ("c181", True, "rewrite", "lemonde-1.xml#0", "nytimes-1.xml#0", "intel report"),
    ("c182", True, "rewrite", "20minutos-1.xml#1", "indianexpress-1.xml#65", "intel report"),
    ("c183", True, "rewrite", "20minutos-1.xml#1", "japantimes-1.xml#6", "intel report"),
    ("c184", True, "rewrite", "20minutos-1.xml#1", "lemonde-1.xml#0", "intel report"),
    ("c185", True, "rewrite", "faz-1.xml#3", "breakingnews-ie-1.xml#4", "Jamie Oliver closures"),
    ("c186", True, "rewrite", "faz-1.xml#10", "japantimes-1.xml#82", "Fisher and Reynolds buried"),
    (
        "c187",
        True,
        "rewrite",
        "leparisien-1.xml#11",
        "japantimes-1.xml#82",
        "Fisher and Reynolds buried",
    ),
    ("c188", True, "rewrite", "faz-1.xml#10", "leparisien-1.xml#11", "Fisher's urn"),
    ("c189", True, "rewrite", "20minutos-1.xml#7", "lemonde-1.xml#8", "Real Madrid 5-0, record"),
    (
        "c190",
        True,
        "rewrite",
        "20minutos-1.xml#7",
        "leparisien-1.xml#13",
        "Real Madrid 5-0, record",
    ),
    ("c191", True, "rewrite", "leparisien-1.xml#9", "ctvnews-1.xml#2", "airport reopens"),
    ("c192", True, "rewrite", "leparisien-1.xml#4", "faz-1.xml#0", "European cold-wave toll"),
    (
        "c193",
        True,
        "rewrite",
        "leparisien-1.xml#5",
        "indianexpress-1.xml#12",
        "Istanbul snow, photos",
    ),
    (
        "c194",
        False,
        "follow-up",
        "spiegel-1.xml#1",
        "themirror-1.xml#24",
        "shooting, then the gunman",
    ),
    (
        "c195",
        False,
        "follow-up",
        "leparisien-1.xml#9",
        "japantoday-1.xml#12",
        "shooting, then reopening",
    ),
    ("c196", False, "roundup", "lemonde-1.xml#5", "japantoday-1.xml#12", "what we know"),
    (
        "c197",
        False,
        "same-place",
        "20minutos-1.xml#0",
        "japantimes-1.xml#6",
        "Obama interview vs report",
    ),
    ("c198", False, "same-place", "faz-1.xml#2", "japantimes-1.xml#6", "OSCE hack vs US report"),
    ("c199", False, "same-place", "lemonde-1.xml#0", "faz-1.xml#2", "US report vs OSCE hack"),
    (
        "c200",
        False,
        "analysis",
        "20minutos-1.xml#2",
        "indianexpress-1.xml#137",
        "profile a day later",
    ),
    (
        "c201",
        False,
        "same-place",
        "lemonde-1.xml#3",
        "reuters-1.xml#4",
        "Ivory Coast mutiny, two developments",
    ),
    (
        "c202",
        False,
        "same-place",
        "lemonde-1.xml#17",
        "indianexpress-1.xml#6",
        "Turkey: purge vs powers bill",
    ),
    ("c203", False, "same-place", "reuters-1.xml#3", "faz-1.xml#9", "Gabriel, two statements"),
    (
        "c204",
        False,
        "roundup",
        "faz-1.xml#0",
        "indianexpress-1.xml#18",
        "Europe round-up vs Poland",
    ),
    (
        "c205",
        False,
        "roundup",
        "leparisien-1.xml#4",
        "indianexpress-1.xml#18",
        "Europe round-up vs Poland",
    ),
    (
        "c206",
        False,
        "roundup",
        "romatoday-1.xml#20",
        "faz-1.xml#0",
        "Rome frost vs Europe round-up",
    ),
    ("c207", False, "same-place", "spiegel-1.xml#4", "reuters-1.xml#9", "Syria, two events"),
    ("c208", False, "same-place", "lemonde-1.xml#4", "breakingnews-ie-1.xml#8", "CES"),
    ("c209", False, "same-place", "spiegel-1.xml#13", "breakingnews-ie-1.xml#1", "CES"),
    ("c210", False, "same-place", "leparisien-1.xml#15", "breakingnews-ie-1.xml#8", "CES"),
    ("c211", False, "same-place", "orf-1.xml#33", "reuters-1.xml#2", "Mosul, 16 days apart"),
    ("c212", True, "rewrite", "n24-1.xml#2", "bbc-news-1.xml#1", "Istanbul airport fire"),
    ("c213", True, "rewrite", "n24-1.xml#2", "yahoo-news-1.xml#1", "Istanbul airport fire"),
    ("c214", True, "rewrite", "n24-1.xml#2", "theguardian-3.xml#6", "Istanbul airport fire"),
    ("c215", True, "rewrite", "zeit-1.xml#13", "bbc-news-1.xml#1", "Istanbul airport fire"),
    ("c216", False, "same-place", "n24-1.xml#0", "bbc-news-1.xml#5", "Iran: IISS study vs talks"),
    ("c217", True, "rewrite", "publico-1.xml#1", "cnn-2.xml#10", "Kudrin out"),
    ("c218", True, "rewrite", "repubblica-1.xml#4", "cnn-2.xml#10", "Kudrin out"),
    ("c219", True, "rewrite", "publico-1.xml#1", "repubblica-1.xml#4", "Kudrin out"),
    ("c220", True, "rewrite", "publico-1.xml#6", "cnn-2.xml#11", "Gairsoppa silver"),
    (
        "c221",
        False,
        "same-place",
        "laut-de-1.xml#17",
        "khaleejtimes-1.xml#3",
        "Jackson, two years apart",
    ),
    ("c222", False, "same-place", "jn-1.xml#30", "bbc-urdu-1.xml#4", "Trump, two tweets"),
    ("c223", False, "same-place", "jn-1.xml#38", "bbc-urdu-1.xml#10", "two aid cuts"),
    ("c224", False, "same-place", "leparisien-1.xml#10", "jn-1.xml#8", "Kardashian, a year apart"),
    ("c225", True, "rewrite", "prothomalo-1.xml#47", "aljazeera-1.xml#0", "quake toll 265"),
    ("c226", True, "rewrite", "prothomalo-1.xml#15", "indiatoday-1.xml#8", "Messi returns"),
    ("c227", True, "rewrite", "prothomalo-1.xml#4", "indiatoday-1.xml#72", "Xavi to Netherlands"),
    ("c228", True, "rewrite", "prothomalo-1.xml#6", "aljazeera-1.xml#22", "eclipse"),
    (
        "c229",
        False,
        "same-place",
        "prothomalo-1.xml#47",
        "mehrnews-1.xml#4",
        "quake: toll vs condolence",
    ),
    ("c230", False, "same-place", "prothomalo-1.xml#6", "aljazeera-1.xml#4", "eclipse vs stunt"),
    (
        "c231",
        False,
        "follow-up",
        "prothomalo-1.xml#40",
        "aljazeera-1.xml#22",
        "preparations, then eclipse",
    ),
    ("c232", False, "same-place", "prothomalo-1.xml#37", "aljazeera-1.xml#21", "Lebanon"),
    ("c233", False, "follow-up", "prothomalo-1.xml#47", "aljazeera-1.xml#14", "missing, then toll"),
    ("c234", True, "rewrite", "japantimes-1.xml#14", "themirror-1.xml#24", "airport shooting"),
    ("c235", True, "rewrite", "indianexpress-1.xml#76", "japantimes-1.xml#14", "airport shooting"),
    ("c236", True, "rewrite", "indianexpress-1.xml#39", "japantimes-1.xml#14", "airport shooting"),
    ("c237", True, "rewrite", "indianexpress-1.xml#39", "themirror-1.xml#24", "airport shooting"),
    (
        "c238",
        True,
        "rewrite",
        "indianexpress-1.xml#161",
        "indianexpress-1.xml#164",
        "Hamza bin Laden",
    ),
    ("c239", True, "rewrite", "themirror-1.xml#17", "themirror-1.xml#18", "suspect named, photo"),
    ("c240", True, "rewrite", "indiatoday-1.xml#36", "indiatoday-1.xml#97", "UN report"),
    ("c241", True, "rewrite", "retriever-1.xml#2", "retriever-1.xml#20", ""),
    ("c242", True, "rewrite", "prothomalo-1.xml#1", "prothomalo-1.xml#34", "teaser and story"),
    ("c243", True, "rewrite", "ctvnews-1.xml#8", "indianexpress-1.xml#50", "Tsai trip"),
    ("c244", True, "rewrite", "japantimes-1.xml#3", "indianexpress-1.xml#50", "Tsai trip"),
    ("c245", True, "rewrite", "indianexpress-1.xml#106", "japantoday-1.xml#19", "Syria drawdown"),
    ("c246", True, "rewrite", "orf-1.xml#20", "orf-1.xml#26", "TPP exit"),
    ("c247", True, "rewrite", "zeit-1.xml#13", "n24-1.xml#2", "Istanbul airport fire"),
    ("c248", True, "rewrite", "n24-1.xml#4", "zeit-1.xml#3", "BND report"),
    ("c249", False, "roundup", "indianexpress-1.xml#54", "indianexpress-1.xml#39", "past attacks"),
    (
        "c250",
        False,
        "follow-up",
        "indianexpress-1.xml#78",
        "japantoday-1.xml#7",
        "tweet, then reply",
    ),
    ("c251", False, "roundup", "japantimes-1.xml#0", "japantimes-1.xml#46", "quote list"),
    ("c252", False, "analysis", "indiatoday-1.xml#102", "indiatoday-1.xml#4", "bypoll"),
    ("c253", False, "series", "indiatoday-1.xml#58", "indiatoday-1.xml#61", "price drops"),
    ("c254", False, "series", "indiatoday-1.xml#60", "indiatoday-1.xml#62", "deals"),
    ("c255", False, "follow-up", "reuters-1.xml#4", "reuters-1.xml#7", "revolt spreads"),
    ("c256", False, "roundup", "jn-1.xml#33", "jn-1.xml#37", "front-page digest"),
    ("c257", False, "follow-up", "fcutrecht-1.xml#7", "fcutrecht-1.xml#5", "preview, result"),
    ("c258", False, "series", "washingtonpost-1.xml#7", "washingtonpost-1.xml#8", "two counties"),
    ("c259", False, "series", "washingtonpost-1.xml#11", "washingtonpost-1.xml#14", "two counties"),
    ("c260", False, "series", "londonist-1.xml#10", "londonist-1.xml#19", ""),
    (
        "c261",
        False,
        "same-place",
        "varthabharathi-1.xml#12",
        "varthabharathi-1.xml#13",
        "two banks, one award",
    ),
    ("c262", False, "follow-up", "orf-1.xml#49", "orf-1.xml#20", "plan, then order"),
    ("c263", False, "analysis", "zeit-1.xml#7", "n24-1.xml#4", "comment"),
]


@dataclass(frozen=True)
class Entry:
    ref: str
    title: str
    lead: str
    published: datetime | None
    lang: str = ""


def languages() -> dict[str, str]:
    """File name -> ISO 639-1 language, from the corpus's SOURCES.md table."""
    out: dict[str, str] = {}
    if not SOURCES.exists():
        return out
    for row in SOURCES.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) > 3 and re.fullmatch(r"[\w.-]+\.(xml|json)", cells[0]):
            out[cells[0]] = cells[3]
    return out


_LANGS: dict[str, str] | None = None


def lang_of(name: str) -> str:
    global _LANGS
    if _LANGS is None:
        _LANGS = languages()
    return _LANGS.get(name, "")


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
                lang=lang_of(name),
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


def _translit(word: str) -> str:
    return "".join(_CYRILLIC.get(ch, ch) for ch in word).replace("-", "")


def names(text: str) -> set[str]:
    """Capitalised words and numbers, folded (Cyrillic transliterated): what translation keeps."""
    out = set()
    for m in _NAME.finditer(text):
        w = m.group().strip(".,'-").lower()
        if w in _NOT_NAMES or not w:
            continue
        w = fold(_translit(w))
        if w.isdigit() and len(w) == 4 and w.startswith(("19", "20")):
            continue  # a year is a date, not a detail of the event
        out.add(w)
    return out


def cross_candidates(min_shared: int, limit: int) -> None:
    """Pairs in two languages sharing names/numbers, within the window (or undated)."""
    entries = [e for f in sorted(p.name for p in CORPUS.iterdir()) for e in load_feed(f)]
    entries = [e for e in entries if e.lang]
    keys = [names(e.title + " " + e.lead) for e in entries]
    found = []
    for i, a in enumerate(entries):
        for j in range(i + 1, len(entries)):
            b = entries[j]
            if a.lang == b.lang:
                continue
            if a.published and b.published and abs(a.published - b.published) > WINDOW:
                continue
            shared = keys[i] & keys[j]
            if len(shared) >= min_shared:
                found.append((len(shared), sorted(shared), a, b))
    found.sort(key=lambda t: (-t[0], t[2].ref, t[3].ref))
    for n, shared, a, b in found[:limit]:
        print(f"{n}  {' '.join(shared)[:80]}")
        print(f"   {a.lang} {a.ref:28} {a.title[:90]}")
        print(f"   {b.lang} {b.ref:28} {b.title[:90]}")


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
        print(f"{e.ref}  [{e.published}] {e.lang}\n  T: {e.title}\n  L: {e.lead}\n")


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
    if a.lang != b.lang:  # lang only where it matters, so old lines keep their form
        record["a"]["lang"], record["b"]["lang"] = a.lang, b.lang
        record["cross_language"] = True
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


REQUIRED = ("id", "same", "category", "source", "a", "b")
CATEGORIES = {
    True: {"wire-copy", "suffix", "rewrite", "update", "trimmed-lead"},
    False: {"follow-up", "same-place", "roundup", "analysis", "series"},
}


def form_errors(record: dict[str, Any]) -> list[str]:
    """What is wrong with a line's form (any source): keys, category, excerpt sizes, langs."""
    errors = [f"missing {k}" for k in REQUIRED if k not in record]
    if errors:
        return errors
    if not isinstance(record["same"], bool) or record["category"] not in CATEGORIES.get(
        record["same"], set()
    ):
        errors.append("label and category disagree")
    sides = (record["a"], record["b"])
    for side in sides:
        if (
            not (0 < len(side.get("title", "")) <= TITLE_MAX)
            or len(side.get("lead", "")) > LEAD_MAX
        ):
            errors.append("excerpt too long or title empty")
        if set(side) - {"title", "lead", "lang"}:
            errors.append("unknown side key")
    langs = [side.get("lang") for side in sides]
    crossed = record.get("cross_language", False)
    if crossed is not (langs[0] is not None and langs[1] is not None and langs[0] != langs[1]):
        errors.append("cross_language needs a lang per side, and two different ones")
    if any(langs) and not crossed:
        errors.append("lang given on a pair that is not cross-language")
    return errors


def verify() -> int:
    cache: dict[str, list[Entry]] = {}
    expected = {pair[0]: _line(pair, cache) for pair in CORPUS_PAIRS}
    bad = 0
    seen: set[str] = set()
    for line in PAIRS.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for error in form_errors(record):
            print(f"{record.get('id')}: {error}")
            bad += 1
        if record.get("id") in seen:
            print(f"{record['id']}: duplicate id")
            bad += 1
        seen.add(record.get("id"))
        if record.get("source") == "hand":
            continue
        if expected.get(record["id"]) != line:
            print(f"{record['id']}: differs from the corpus or from CORPUS_PAIRS")
            bad += 1
    missing = sorted(set(expected) - seen)
    for pid in missing:
        print(f"{pid}: in CORPUS_PAIRS but not in {PAIRS.name} (run build)")
    bad += len(missing)
    print(f"{len(expected)} corpus pairs checked, {len(seen)} lines, {bad} bad")
    return 1 if bad else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = parser.add_subparsers(dest="cmd", required=True)
    cand = sub.add_parser("candidates")
    cand.add_argument("--min-shared", type=int, default=2)
    cand.add_argument("--limit", type=int, default=300)
    cand.add_argument("--cross-language", action="store_true")
    sh = sub.add_parser("show")
    sh.add_argument("refs", nargs="+")
    sub.add_parser("build")
    sub.add_parser("verify")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS}", file=sys.stderr)
        return 2
    if args.cmd == "candidates" and args.cross_language:
        cross_candidates(args.min_shared, args.limit)
    elif args.cmd == "candidates":
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
