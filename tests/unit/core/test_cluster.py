"""Clustering: one alert for a wire story carried by many outlets, a new one for new news.

The labelled pairs in tests/data/cluster_pairs.jsonl are the evidence for the
default threshold; the index is held to the answers of a plain scan.
"""

from __future__ import annotations

import importlib.util
import json
import pickle
import random
import sys
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import watcher.core.cluster as cluster
from tests.conftest import CORPUS
from watcher.core.cluster import (
    DEFAULT_THRESHOLD,
    ClusterIndex,
    Fingerprint,
    fingerprint,
    normalise_lead,
    normalise_title,
    same_event,
    similarity,
)

PAIRS = Path(__file__).parents[2] / "data" / "cluster_pairs.jsonl"
CATEGORIES = {
    True: {"wire-copy", "suffix", "rewrite", "update", "trimmed-lead"},
    False: {"follow-up", "same-place", "roundup", "analysis", "series"},
}
T0 = datetime(2026, 8, 12, 6, 0)


def pairs() -> list[dict[str, Any]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]


def fp_of(side: dict[str, str]) -> Fingerprint:
    return fingerprint(side["title"], side["lead"])


# --- normalisation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        (
            "UPDATE 1-Philippine court orders arrest of ex-mayor - Reuters",
            "philippine court orders arrest of ex-mayor",
        ),
        ("CORRECTED-UPDATE 2-Swiss National Bank holds rates", "swiss national bank holds rates"),
        (
            "Wildfire forces evacuation of villages | Al Jazeera",
            "wildfire forces evacuation of villages",
        ),
        (
            "Chile's Boric names new finance minister (AP)",
            "chile's boric names new finance minister",
        ),
        ("Heatwave grips Balkans – The Guardian", "heatwave grips balkans"),
        (
            "Σεισμός 4,9 Ρίχτερ νότια της Κρήτης | ekathimerini.com",
            "σεισμοσ 4,9 ριχτερ νοτια τησ κρητησ",
        ),
        ("ΈΚΤΑΚΤΟ: Διακοπή ρεύματος στην Αθήνα", "διακοπη ρευματοσ στην αθηνα"),
        (
            "World › 5 dead, 8 injured in Fort Lauderdale airport shooting",
            "5 dead, 8 injured in fort lauderdale airport shooting",
        ),
        ("Stormy Daniels casts doubt on denial – video", "stormy daniels casts doubt on denial"),
        (
            "EU to propose tariffs on Chinese steel wire - sources",
            "eu to propose tariffs on chinese steel wire",
        ),
        (
            "<b>Storm Boris</b>: Danube floods &amp; closes quays",
            "storm boris: danube floods & closes quays",
        ),
    ],
)
def test_wire_markers_sections_and_outlets_are_stripped(raw: str, normal: str) -> None:
    assert normalise_title(raw) == normal


@pytest.mark.parametrize(
    "headline",
    [
        "Midday meals | The battle over eggs",  # a series name, not an outlet
        "Kaartverkoop FC Twente - FC Utrecht",  # a fixture, not a suffix
        "Trump goes live on television",
        "Iran war live: Tehran and Washington exchange claims",
    ],
)
def test_headline_words_that_only_look_like_markers_are_kept(headline: str) -> None:
    assert normalise_title(headline) == headline.lower()


@pytest.mark.parametrize(
    "lead",
    [
        "WASHINGTON (Reuters) - The Senate voted on Wednesday.",
        "TEHRAN, Aug. 12 (MNA) – The Senate voted on Wednesday.",
        "VATICAN CITY (AP) — The Senate voted on Wednesday.",
        "Reuters - The Senate voted on Wednesday.",
        "<p>KARLSTAD: The Senate voted on Wednesday.</p>",
    ],
)
def test_datelines_and_agency_credits_are_not_part_of_the_lead(lead: str) -> None:
    assert normalise_lead(lead) == "The Senate voted on Wednesday."


def test_an_updated_wire_item_has_the_fingerprint_of_the_original() -> None:
    lead = "OSLO (Reuters) - Norway's sovereign wealth fund posted a record first-half profit."
    original = fingerprint("Norway's wealth fund posts record profit", lead)
    assert (
        fingerprint("UPDATE 2-Norway's wealth fund posts record profit - Reuters", lead) == original
    )


def test_us_the_country_is_not_us_the_pronoun() -> None:
    assert "usa" in fingerprint("U.S. sees progress on Iran package", "").title
    assert "usa" in fingerprint("US sees progress on Iran package", "").title
    assert "usa" not in fingerprint("Tell us what you think", "").title


# --- the pairwise rule -------------------------------------------------------------------


def test_a_wire_copy_with_an_outlet_suffix_is_the_same_event() -> None:
    a = fingerprint(
        "Senate closer to passing immigration bill",
        "WASHINGTON (Reuters) - A bill that would toughen border security while giving millions "
        "of illegal immigrants a chance to earn U.S. citizenship cleared a test vote.",
    )
    b = fingerprint(
        "Senate closer to passing immigration bill (Reuters)",
        "Reuters - A bill that would toughen border security while giving millions of illegal "
        "immigrants a chance to earn U.S. citizenship cleared a test vote in the Senate.",
    )
    assert same_event(a, b)


def test_the_next_days_development_in_the_same_place_is_news() -> None:
    # The issue's own example: most words shared, a different event.
    a = fingerprint(
        "Syrian army counterattacks rebels near Hama",
        "Syrian government forces launched a counterattack against rebels on the northern "
        "outskirts of Hama on Wednesday, a war monitor said.",
    )
    b = fingerprint(
        "Syria: Hama falls into rebel hands",
        "Rebel fighters entered the city of Hama on Thursday after government troops withdrew, "
        "a day after the army had counterattacked.",
    )
    assert not same_event(a, b)


def test_a_rewritten_headline_over_the_same_lead_is_the_same_event() -> None:
    lead = (
        "Heavy snow closed the A1 motorway between Lamia and Thessaloniki on Tuesday and left "
        "hundreds of drivers stranded overnight, the traffic police said."
    )
    assert same_event(
        fingerprint("Chaos on the roads as snow hits the north", lead),
        fingerprint("Motorway closed, hundreds stranded", lead + " More snow is forecast."),
    )


def test_a_feeds_boilerplate_lead_does_not_join_unrelated_stories() -> None:
    boilerplate = (
        "Click here to read the full article on our website. Subscribe for unlimited access "
        "to all our journalism."
    )
    assert not same_event(
        fingerprint("Parliament votes on pension reform", boilerplate),
        fingerprint("Port workers end strike in Piraeus", boilerplate),
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (
            "Road to the final, part 1: the group stage",
            "Road to the final, part 2: the group stage",
        ),
        ("Weekly market outlook: week 42", "Weekly market outlook: week 43"),
        (
            "Olympiacos beat Panathinaikos 2-1 in derby",
            "Panathinaikos beat Olympiacos 1-0 in derby",
        ),
    ],
)
def test_headlines_with_different_numbers_are_different_news(first: str, second: str) -> None:
    lead = "Our writers look at the week ahead for markets, sport and the weather in Athens."
    assert not same_event(fingerprint(first, lead), fingerprint(second, lead))


def test_a_shared_name_is_a_topic_not_an_event() -> None:
    assert not same_event(
        fingerprint("Donald Trump visits Japan", ""), fingerprint("Donald Trump fires adviser", "")
    )


def test_identical_headlines_without_leads_are_the_same_event() -> None:
    title = "Taiwan leader heads to Americas; U.S. stops set to irk China"
    assert same_event(fingerprint(title, ""), fingerprint(title, ""))


def test_thresholds_outside_zero_to_one_are_refused() -> None:
    a = fingerprint("Taiwan leader heads to Americas", "")
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            same_event(a, a, threshold=bad)
        with pytest.raises(ValueError, match="threshold"):
            ClusterIndex(threshold=bad)


WORDS = [
    "quake",
    "hits",
    "crete",
    "island",
    "toll",
    "rises",
    "ferry",
    "strike",
    "athens",
    "port",
    "fire",
    "rescue",
    "2",
    "3",
]
LEAD_WORDS = [
    "the",
    "a",
    "police",
    "said",
    "on",
    "tuesday",
    "in",
    "port",
    "fire",
    "boat",
    "two",
    "people",
    "were",
]
titles = st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join)
leads = st.lists(st.sampled_from(LEAD_WORDS), max_size=40).map(" ".join)
fingerprints = st.builds(fingerprint, titles, leads)


@given(fingerprints, fingerprints)
def test_similarity_is_a_symmetric_score_between_zero_and_one(
    a: Fingerprint, b: Fingerprint
) -> None:
    assert 0.0 <= similarity(a, b) == similarity(b, a) <= 1.0


@given(fingerprints)
def test_a_fingerprint_survives_storage_as_json(fp: Fingerprint) -> None:
    assert Fingerprint.from_json(fp.to_json()) == fp


def test_fingerprints_from_worker_processes_share_their_words() -> None:
    # Each feed's fingerprints arrive pickled from a worker process; the window
    # must hold a word once, not once per story that says it.
    fp = fingerprint("Rebels take Hama airport", "Rebels entered Hama on Tuesday.")
    first, second = (pickle.loads(pickle.dumps([fp])) for _ in range(2))
    assert first == second == [fp]
    assert all(a is b for a, b in zip(first[0].title, second[0].title, strict=True))
    assert all(a is b for a, b in zip(first[0].lead, second[0].lead, strict=True))


@pytest.mark.parametrize(
    "text",
    [
        '{"v":0,"t":[],"l":[],"s":[]}',
        '{"v":1,"t":[1],"l":[],"s":[]}',
        '{"v":1,"t":[],"l":[],"s":[-1]}',
        "[]",
        "not json",
    ],
)
def test_a_fingerprint_this_version_did_not_write_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="fingerprint"):
        Fingerprint.from_json(text)


# --- the labelled set -------------------------------------------------------------------


def test_the_labelled_set_is_large_balanced_and_well_formed() -> None:
    records = pairs()
    assert len(records) >= 200
    assert len({r["id"] for r in records}) == len(records)
    assert 0.4 < sum(r["same"] for r in records) / len(records) < 0.6
    for r in records:
        assert isinstance(r["same"], bool), r["id"]
        assert r["category"] in CATEGORIES[r["same"]], r["id"]
        assert r["source"] == "hand" or (
            len(r["source"]) == 2 and all("#" in ref for ref in r["source"])
        ), r["id"]
        for side in (r["a"], r["b"]):  # excerpts only, never whole stories
            assert 0 < len(side["title"]) <= 200 and len(side["lead"]) <= 240, r["id"]
    corpus = sum(r["source"] != "hand" for r in records)
    assert corpus >= 36, "the real cross-outlet pairs are the heart of the set"


def scored() -> list[tuple[dict[str, Any], float]]:
    return [(r, similarity(fp_of(r["a"]), fp_of(r["b"]))) for r in pairs()]


def test_the_default_threshold_puts_precision_first() -> None:
    results = scored()
    merged = [r for r, score in results if score >= DEFAULT_THRESHOLD]
    right = sum(r["same"] for r in merged)
    precision = right / len(merged)
    recall = right / sum(r["same"] for r, _ in results)
    # The figures docs/clustering.md reports (504 pairs, 84 across languages, which the
    # lexical rule never merges); a change of rule must re-earn them.
    assert precision >= 0.95
    assert recall >= 0.23
    same_language = [(r, score) for r, score in results if not r.get("cross_language")]
    kept = [r for r, score in same_language if score >= DEFAULT_THRESHOLD]
    assert sum(r["same"] for r in kept) / sum(r["same"] for r, _ in same_language) >= 0.28


def test_no_pair_across_languages_is_merged_wrongly() -> None:
    assert not [
        r["id"]
        for r, s in scored()
        if r.get("cross_language") and not r["same"] and s >= DEFAULT_THRESHOLD
    ]


def test_wire_copies_suffixes_and_trimmed_leads_merge() -> None:
    copies = [s for r, s in scored() if r["category"] in {"wire-copy", "suffix", "trimmed-lead"}]
    assert sum(s >= DEFAULT_THRESHOLD for s in copies) / len(copies) >= 0.95


def test_no_follow_up_in_the_labelled_set_is_merged() -> None:
    assert not [
        r["id"] for r, s in scored() if r["category"] == "follow-up" and s >= DEFAULT_THRESHOLD
    ]


@pytest.mark.skipif(not (CORPUS / "feeds").is_dir(), reason="../shared/corpus absent")
def test_corpus_excerpts_are_what_the_corpus_says(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("feedparser")
    path = Path(__file__).parents[3] / "bench" / "mine_cluster_pairs.py"
    spec = importlib.util.spec_from_file_location("mine_cluster_pairs", path)
    assert spec and spec.loader
    miner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, miner)
    spec.loader.exec_module(miner)
    monkeypatch.setattr(miner, "CORPUS", CORPUS / "feeds")
    assert miner.verify() == 0


# --- the index ---------------------------------------------------------------------------


def scan(
    entries: list[tuple[int, Fingerprint, datetime]], probe: Fingerprint, threshold: float
) -> int | None:
    """What ``find`` must answer: every entry judged by ``same_event``; best score, then latest."""
    best: tuple[tuple[float, datetime, int], int] | None = None
    for order, (key, fp, at) in enumerate(entries):
        if same_event(probe, fp, threshold):
            rank = (similarity(probe, fp), at, order)
            if best is None or rank > best[0]:
                best = (rank, key)
    return None if best is None else best[1]


LEAD_POOL = [f"w{i}" for i in range(40)]
stories = st.tuples(titles, st.lists(st.sampled_from(LEAD_POOL), max_size=40).map(" ".join))
# How a story comes back: as is, under a new headline, with a trimmed lead, reworded,
# or under a new headline with only part of its lead.
variants = st.tuples(st.integers(0, 4), titles, st.integers(0, 40))


def variant(story: tuple[str, str], how: tuple[int, str, int]) -> Fingerprint:
    title, lead = story
    kind, other_title, cut = how
    if kind == 2:
        lead = " ".join(lead.split()[:cut])
    elif kind == 3:
        title = " ".join([*title.split()[1:], other_title])
    elif kind == 4:
        kept = lead.split()[:cut]
        lead = " ".join(kept + [f"x{len(kept) + i}" for i in range(40 - len(kept))])
    if kind in (1, 4):
        title = other_title
    return fingerprint(title, lead)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    pool = draw(st.lists(stories, min_size=1, max_size=6))
    pick = st.integers(0, len(pool) - 1)
    ops = draw(
        st.lists(
            st.one_of(
                st.tuples(st.just("add"), pick, variants, st.integers(0, 20), st.integers(0, 5)),
                st.tuples(st.just("find"), pick, variants),
                st.tuples(st.just("evict"), st.integers(0, 20)),
            ),
            max_size=40,
        )
    )
    return pool, ops


@settings(max_examples=300, deadline=None)
@given(scenarios(), st.sampled_from([0.2, 0.3, 0.5, DEFAULT_THRESHOLD, 1.0]))
def test_find_answers_as_scanning_the_window_with_same_event(
    scenario: tuple[list[tuple[str, str]], list[tuple[Any, ...]]], threshold: float
) -> None:
    pool, ops = scenario
    index = ClusterIndex(threshold)
    entries: list[tuple[int, Fingerprint, datetime]] = []
    for op in ops:
        if op[0] == "add":
            _, story, how, minute, key = op
            fp, at = variant(pool[story], how), T0 + timedelta(minutes=minute)
            index.add(key, fp, at)
            entries.append((key, fp, at))
        elif op[0] == "find":
            probe = variant(pool[op[1]], op[2])
            assert index.find(probe) == scan(entries, probe, threshold) == index.scan(probe)
        else:
            before = T0 + timedelta(minutes=op[1])
            index.evict(before)
            entries = [e for e in entries if e[2] >= before]
        assert len(index) == len(entries)


# In windows this small the cap binds at 2 or 3, and the bounds on holders walked at 1 or 2.
@pytest.mark.parametrize(
    ("cap", "terms", "shingles"), [(2, 16, 4), (300, 1, 1), (3, 2, 1), (300, 1, 2)]
)
@settings(max_examples=150, deadline=None)
@given(scenarios(), st.sampled_from([0.3, DEFAULT_THRESHOLD]), st.integers(0, 3000))
def test_find_answers_as_the_scan_with_common_terms_capped_and_time_in_the_score(
    cap: int,
    terms: int,
    shingles: int,
    scenario: tuple[list[tuple[str, str]], list[tuple[Any, ...]]],
    threshold: float,
    minute: int,
) -> None:
    pool, ops = scenario
    index = ClusterIndex(threshold)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(cluster, "MAX_POSTING", cap)
        patch.setattr(cluster, "RECENT_TERM_HOLDERS", terms)
        patch.setattr(cluster, "RECENT_SHINGLE_HOLDERS", shingles)
        for op in ops:
            if op[0] == "add":
                _, story, how, added, key = op
                index.add(key, variant(pool[story], how), T0 + timedelta(hours=added))
            elif op[0] == "find":
                probe, at = variant(pool[op[1]], op[2]), T0 + timedelta(minutes=minute)
                assert index.find(probe, at) == index.scan(probe, at)
            else:
                index.evict(T0 + timedelta(hours=op[1]))


def test_a_story_buried_under_newer_holders_of_its_terms_is_found_by_its_lead() -> None:
    """Only the last RECENT_TERM_HOLDERS holders of a term are walked: a wire story's
    headline terms may all be held by newer stories, but its lead's shingles find it."""
    lead = "Rescue teams searched the rubble of the port district for a third night"
    original = fingerprint("Quake strikes Chilean port city of Valparaiso", lead)
    index = ClusterIndex()
    index.add(1, original, T0)
    newer = range(2, 2 + cluster.RECENT_TERM_HOLDERS + 4)  # other events' stories
    for key in newer:
        index.add(
            key,
            fingerprint(f"Quake strikes Chilean port city: report {key}", f"Other text {key}"),
            T0 + timedelta(minutes=key),
        )
    copy = fingerprint("Quake strikes Chilean port city of Valparaiso - Reuters", lead)
    later = T0 + timedelta(hours=1)
    assert index.find(copy, later) == index.scan(copy, later) == 1
    # With no lead to go by, its headline terms are walked for the newer holders only ...
    bare = fingerprint("Quake strikes Chilean port city of Valparaiso", "")
    index.add(100, bare, T0)
    for key in range(101, 100 + cluster.RECENT_TERM_HOLDERS):
        index.add(key, fingerprint(f"Quake strikes Chilean port: no {key}", ""), later)
    assert index.find(bare, later) == index.scan(bare, later) == 100  # still one of the last
    index.add(200, fingerprint("Quake strikes Chilean port: one more", ""), later)
    assert index.find(bare, later) == index.scan(bare, later) is None
    # ... until a copy of it is seen again, which makes it the latest holder.
    index.add(100, bare, later)
    assert index.find(bare, later) == index.scan(bare, later) == 100


def test_a_term_too_common_in_the_window_is_never_walked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cluster, "MAX_POSTING", 3)
    index = ClusterIndex()
    for key in range(4):  # "quake chile coast" is in four stories: too common to decide on
        index.add(key, fingerprint(f"Quake Chile coast report{key} part{key}", ""), T0)
    probe = fingerprint("Quake Chile coast report9 part9", "")
    assert index.find(probe) is None and index.scan(probe) is None
    index.evict(T0 + timedelta(minutes=1))
    index.add(7, fingerprint("Quake Chile coast report1 part1", ""), T0)
    assert index.find(fingerprint("Quake Chile coast report1 part1", "")) == 7


def count_similarity(monkeypatch: pytest.MonkeyPatch) -> list[None]:
    """From now on, every pair scored (a lookup's probe against one group, or
    ``cluster.similarity``) adds one item to the list returned."""
    calls: list[None] = []
    real = cluster._Probe.similarity

    def counting(probe: cluster._Probe, other: Fingerprint, floor: float = 0.0) -> float:
        calls.append(None)
        return real(probe, other, floor)

    monkeypatch.setattr(cluster._Probe, "similarity", counting)
    return calls


def test_copies_of_one_cluster_are_scored_once(monkeypatch: pytest.MonkeyPatch) -> None:
    index = ClusterIndex()
    wire = fingerprint("Strong earthquake strikes central Chile coast", "")
    for minute in range(20):  # twenty outlets carry the same wire story
        index.add(5, wire, T0 + timedelta(minutes=minute))
    calls = count_similarity(monkeypatch)
    assert index.find(wire) == 5 and len(calls) == 1 and len(index) == 20
    index.evict(T0 + timedelta(minutes=19))
    assert len(index) == 1 and index.find(wire) == 5
    index.evict(T0 + timedelta(minutes=20))
    assert len(index) == 0 and index.find(wire) is None


@pytest.mark.parametrize(
    ("hours", "factor"),
    [(0, 1.0), (12, 1.0), (30, 0.95), (48, 0.9), (200, 0.9), (-30, 0.95)],
)
def test_reports_days_apart_score_lower(hours: float, factor: float) -> None:
    assert cluster.time_factor(timedelta(hours=hours)) == pytest.approx(factor)


def test_a_rewrite_two_days_later_is_news_but_a_copy_is_not() -> None:
    index = ClusterIndex()
    first = fingerprint("Senate passes sweeping immigration bill after long debate", "")
    index.add(1, first, T0)
    copy = fingerprint("Senate passes sweeping immigration bill after long debate", "")
    rewrite = fingerprint("Senate passes sweeping immigration bill after debate", "")
    assert similarity(first, rewrite) >= DEFAULT_THRESHOLD
    later = T0 + timedelta(hours=48)
    assert index.find(copy, later) == 1
    assert index.find(rewrite, T0 + timedelta(hours=2)) == 1
    assert similarity(first, rewrite) * 0.9 < DEFAULT_THRESHOLD  # 0.86 the same day
    assert index.find(rewrite, later) is None


def newsy_stories(n: int, seed: int) -> list[tuple[str, str]]:
    """Headlines from a skewed vocabulary, a quarter of them rewrites of recent ones."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(400)]
    weights = [1 / (i + 3) for i in range(len(vocabulary))]
    stories: list[tuple[str, str]] = []
    for _ in range(n):
        if stories and rng.random() < 0.25:
            title, lead = rng.choice(stories[-50:])
            words = title.split()
            words[rng.randrange(len(words))] = rng.choices(vocabulary, weights)[0]
            stories.append((" ".join(words), lead[: rng.randint(40, max(40, len(lead)))]))
        else:
            title = " ".join(rng.choices(vocabulary, weights, k=rng.randint(4, 9)))
            lead = " ".join(rng.choices(vocabulary, weights, k=rng.randint(0, 40)))
            stories.append((title, lead))
    return stories


def test_find_answers_as_the_scan_over_a_window_of_two_thousand_stories() -> None:
    fps = [fingerprint(t, lead) for t, lead in newsy_stories(2500, seed=3)]
    index = ClusterIndex()
    entries: list[tuple[int, Fingerprint, datetime]] = []
    joined = Counter[bool]()
    for i, fp in enumerate(fps):
        at = T0 + timedelta(minutes=i)
        key = index.find(fp)
        # Past ~900 stories the vocabulary's head is held by more than MAX_POSTING groups:
        # the index's own scan applies that rule too.  A scan walks the whole window, so
        # every fourth story is checked (well within bench/mutmut.cfg's 60 s per test).
        if i % 4 == 0:
            assert key == index.scan(fp), i
        joined[key is not None] += 1
        index.add(i if key is None else key, fp, at)
        entries.append((i if key is None else key, fp, at))
        if len(entries) > 2000:
            index.evict(entries[1][2])
            entries.pop(0)
    assert joined[True] > 100 and joined[False] > 1000  # both answers were exercised


@pytest.mark.parametrize("threshold", [0.2, 0.34, 0.5])
def test_find_answers_as_the_scan_when_only_leads_match(threshold: float) -> None:
    # New headlines over partly kept leads: the lead shingles alone must find them.
    rng = random.Random(7)
    words = [f"w{i}" for i in range(60)]
    index = ClusterIndex(threshold)
    entries: list[tuple[int, Fingerprint, datetime]] = []
    bases = []
    for i in range(300):
        lead = rng.choices(words, k=rng.randint(10, 45))
        bases.append(lead)
        fp = fingerprint(f"story {i} about the harbour", " ".join(lead))
        index.add(i, fp, T0)
        entries.append((i, fp, T0))
    lead_matches = 0
    for base in rng.choices(bases, k=400):
        kept = base[: rng.randint(0, len(base))]
        fresh = rng.choices(words, k=rng.randint(0, 30))
        probe = fingerprint("harbour news in brief", " ".join(kept + fresh))
        expected = scan(entries, probe, threshold)
        assert index.find(probe) == expected
        lead_matches += expected is not None
    assert lead_matches > 50


def test_find_scores_only_stories_that_share_enough_words(monkeypatch: pytest.MonkeyPatch) -> None:
    index = ClusterIndex()
    rng = random.Random(5)
    for i in range(5000):  # every one about Donald Trump, as a busy window can be
        extra = " ".join(f"x{rng.randrange(50_000)}" for _ in range(4))
        index.add(i, fingerprint(f"Donald Trump {extra}", ""), T0)
    index.add(9999, fingerprint("Donald Trump visits Japan for trade talks", ""), T0)
    calls = count_similarity(monkeypatch)
    assert (
        index.find(fingerprint("Donald Trump visits Japan for trade talks - Reuters", "")) == 9999
    )
    assert len(calls) < 10  # not 5,001: the window is looked up, not scanned


def test_among_equal_matches_the_most_recent_story_wins() -> None:
    fp = fingerprint("Ferry strike halts island links for 48 hours", "")
    index = ClusterIndex()
    index.add(1, fp, T0 + timedelta(hours=2))
    index.add(2, fp, T0)  # added later, but an older story
    assert index.find(fp) == 1
    index.add(3, fp, T0 + timedelta(hours=2))  # as recent: the one added last
    assert index.find(fp) == 3


def test_entries_older_than_the_window_are_forgotten() -> None:
    index = ClusterIndex()
    fp = fingerprint("Taiwan leader heads to Americas; U.S. stops set to irk China", "")
    index.add(1, fp, T0)
    index.add(
        2, fingerprint("Ferry strike halts island links for 48 hours", ""), T0 + timedelta(hours=30)
    )
    index.evict(T0 + timedelta(hours=1))
    assert len(index) == 1
    assert index.find(fp) is None


def test_a_window_that_has_moved_on_holds_nothing_of_the_old_stories() -> None:
    # A daemon runs for months: eviction must give back everything a story took.
    index = ClusterIndex()
    for i, (title, lead) in enumerate(newsy_stories(3000, seed=2)):
        index.add(i % 7, fingerprint(title, lead), T0 + timedelta(minutes=i))
        index.evict(T0 + timedelta(minutes=i - 200))
    index.add(0, Fingerprint(("same", "same", "word", "twice")), T0 + timedelta(days=3))
    index.evict(T0 + timedelta(days=4))
    assert len(index) == 0
    assert not (
        index._by_term or index._by_shingle or index._groups or index._group_of or index._by_age
    )


def test_the_key_returned_is_the_cluster_the_best_match_joined() -> None:
    index = ClusterIndex()
    index.add(7, fingerprint("Greek parliament approves 2025 budget - Reuters", ""), T0)
    index.add(7, fingerprint("Greek parliament approves budget after debate", ""), T0)
    index.add(9, fingerprint("Greek parliament debates 2025 budget", ""), T0)
    assert index.find(fingerprint("UPDATE 1-Greek parliament approves 2025 budget", "")) == 7
    assert ClusterIndex().find(fingerprint("Greek parliament approves 2025 budget", "")) is None


def test_an_index_rebuilt_from_stored_fingerprints_answers_the_same() -> None:
    stories = newsy_stories(600, seed=11)
    live, rebuilt = ClusterIndex(), ClusterIndex()
    for i, (title, lead) in enumerate(stories[:500]):
        fp = fingerprint(title, lead)
        live.add(i, fp, T0 + timedelta(minutes=i))
        rebuilt.add(i, Fingerprint.from_json(fp.to_json()), T0 + timedelta(minutes=i))
    answers = []
    for title, lead in stories[500:]:
        fp = fingerprint(title, lead)
        assert live.find(fp) == rebuilt.find(fp)
        answers.append(rebuilt.find(fp))
    assert any(answer is not None for answer in answers)  # some joined a stored cluster
    assert any(answer is None for answer in answers)  # and some did not


@pytest.mark.parametrize(
    ("headline", "kept"),
    [
        ("«Мы победим» — заявил президент Сирии", "мы победим"),
        ("« Nous gagnerons » : le président syrien promet", "nous gagnerons"),
        ("World » Trump visits Japan", "trump visits japan"),
    ],
)
def test_a_headline_opening_with_a_quote_in_guillemets_keeps_its_words(
    headline: str, kept: str
) -> None:
    assert kept in normalise_title(headline)


def test_explain_gives_the_parts_of_the_score() -> None:
    a = fingerprint("Syrian army counterattacks rebels near Hama", "")
    b = fingerprint("Syrian army counterattacks rebels near Hama - Reuters", "")
    parts = cluster.explain(a, b, timedelta(hours=1))
    assert parts.shared_terms == ("army", "counter", "hama", "near", "rebel", "syria")
    assert parts.headline == 1.0 and parts.score == similarity(a, b) and parts.same_event
    late = cluster.explain(a, b, timedelta(hours=48))
    assert late.time_factor == pytest.approx(0.9) and late.score == pytest.approx(0.9)
    toll = cluster.explain(
        fingerprint("Quake toll rises to 43 in Chile", ""),
        fingerprint("Quake toll rises to 57 in Chile", ""),
    )
    assert toll.number_penalty and toll.numbers == (("43",), ("57",)) and not toll.same_event


def test_a_story_without_a_summary_is_fingerprinted_on_its_content() -> None:
    stored = cluster.story_fingerprint("Quake hits Chile", "", "<p>The quake struck at dawn</p>")
    assert stored == fingerprint("Quake hits Chile", "The quake struck at dawn")
    assert cluster.stored_fingerprint("not json", "Quake hits Chile", "", "dawn quake") == (
        fingerprint("Quake hits Chile", "dawn quake")
    )


# --- the parts of a score, from hand-made fingerprints ------------------------------------


def fp(title: str, lead: str = "", shingles: tuple[int, ...] = ()) -> Fingerprint:
    return Fingerprint(tuple(title.split()), tuple(lead.split()), shingles)


@pytest.mark.parametrize(
    ("a", "b", "apart", "parts"),
    [
        # 3 shared + "e" said by a's lead, of 5 terms: 0.8; 3 of the shorter lead's 4 shingles.
        (
            fp("a1 b c d", "e", (1, 2, 3, 4)),
            fp("b c d e", "", (2, 3, 4, 9, 10)),
            None,
            cluster.Explanation(("b", "c", "d"), ("e",), 5, 0.8, 3, 4, 0.75,
                                ((), ()), False, 1.0, 0.8, DEFAULT_THRESHOLD),
        ),
        # 30 hours apart: lowered by half of the time penalty.
        (
            fp("a1 b c d", "e", (1, 2, 3, 4)),
            fp("b c d e", "", (2, 3, 4, 9, 10)),
            timedelta(hours=30),
            cluster.Explanation(("b", "c", "d"), ("e",), 5, 0.8, 3, 4, 0.75,
                                ((), ()), False, 0.95, pytest.approx(0.76), DEFAULT_THRESHOLD),
        ),
        # Only one headline carries a number: no penalty.
        (
            fp("7 b c d"),
            fp("b c d"),
            None,
            cluster.Explanation(("b", "c", "d"), (), 4, 0.75, 0, 0, 0.0,
                                (("7",), ()), False, 1.0, 0.75, DEFAULT_THRESHOLD),
        ),
        # Different numbers: halved.
        (
            fp("2024 b c d"),
            fp("2025 b c d"),
            None,
            cluster.Explanation(("b", "c", "d"), (), 5, 0.6, 0, 0, 0.0,
                                (("2024",), ("2025",)), True, 1.0, 0.3, DEFAULT_THRESHOLD),
        ),
        # Two headline terms in common are too few; the leads share 2 of 3 shingles.
        (
            fp("x p", "", (1, 2, 3)),
            fp("x q", "", (1, 2, 8, 9)),
            None,
            cluster.Explanation(("x",), (), 3, 0.0, 2, 3, 2 / 3,
                                ((), ()), False, 1.0, 2 / 3, DEFAULT_THRESHOLD),
        ),
        # One shingle in common is too few.
        (
            fp("x p", "", (1, 2, 3)),
            fp("x q", "", (1, 8, 9)),
            None,
            cluster.Explanation(("x",), (), 3, 0.0, 1, 3, 0.0,
                                ((), ()), False, 1.0, 0.0, DEFAULT_THRESHOLD),
        ),
        # The same lead under unrelated headlines (a feed's boilerplate): no lead score.
        (
            fp("x", "", (1, 2, 3)),
            fp("y", "", (1, 2, 3)),
            None,
            cluster.Explanation((), (), 2, 0.0, 3, 3, 0.0,
                                ((), ()), False, 1.0, 0.0, DEFAULT_THRESHOLD),
        ),
        # ... but a headline word the other lead says opens it, from either side.
        (
            fp("x", "", (1, 2, 3)),
            fp("y", "x", (1, 2, 3)),
            None,
            cluster.Explanation((), ("x",), 2, 0.0, 3, 3, 1.0,
                                ((), ()), False, 1.0, 1.0, DEFAULT_THRESHOLD),
        ),
        (
            fp("x", "y", (1, 2, 3)),
            fp("y", "", (1, 2, 3)),
            None,
            cluster.Explanation((), ("y",), 2, 0.0, 3, 3, 1.0,
                                ((), ()), False, 1.0, 1.0, DEFAULT_THRESHOLD),
        ),
    ],
    ids=["headline-and-lead", "apart", "one-number", "two-numbers", "lead-only", "one-shingle",
         "boilerplate", "lead-says-a-title-word", "reversed"],
)  # fmt: skip
def test_explain_gives_each_part_of_the_score(
    a: Fingerprint, b: Fingerprint, apart: timedelta | None, parts: cluster.Explanation
) -> None:
    assert cluster.explain(a, b, apart) == parts
    assert cluster.explain(a, b, apart).score == pytest.approx(similarity(a, b) * parts.time_factor)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"v":1,"t":[],"l":[],"s":[]}', r"^fingerprint version 1, expected 2: recompute it "
                                         r"from the story's title and lead$"),
        ('{"v":2,"t":"abc","l":[],"s":[]}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":["a"],"l":[1],"s":[]}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":[1],"l":["a"],"s":[]}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":["a"],"l":["b"],"s":{}}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":[],"l":[],"s":[4294967296]}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":[],"l":[],"s":[true]}', r"^fingerprint fields have the wrong types$"),
        ('{"v":2,"t":[],"l":[],"s":["7"]}', r"^fingerprint fields have the wrong types$"),
    ],
)  # fmt: skip
def test_a_stored_fingerprint_of_the_wrong_shape_is_refused_in_words(
    text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Fingerprint.from_json(text)


@pytest.mark.parametrize("shingles", [[0], [4294967295], [0, 12, 4294967295]])
def test_every_crc32_value_is_a_valid_stored_shingle(shingles: list[int]) -> None:
    text = json.dumps({"v": 2, "t": ["quak"], "l": [], "s": shingles})
    assert Fingerprint.from_json(text) == Fingerprint(("quak",), (), tuple(shingles))


@pytest.mark.parametrize(
    ("stored", "summary", "content", "lead"),
    [
        (None, "", "", ""),
        (None, "A dawn quake", "<p>The long story</p>", "A dawn quake"),
        (None, "", "<p>The long story</p>", "The long story"),
        ("not json", "A dawn quake", "The long story", "A dawn quake"),
    ],
)
def test_a_stored_story_s_lead_is_its_summary_or_else_its_content(
    stored: str | None, summary: str, content: str, lead: str
) -> None:
    title = "Quake hits Chile"
    assert cluster.stored_fingerprint(stored, title, summary, content) == fingerprint(title, lead)
    assert cluster.story_fingerprint(title, summary, content) == fingerprint(title, lead)


def test_a_story_without_summary_or_content_has_no_lead() -> None:
    assert cluster.story_fingerprint("Quake hits Chile", "") == fingerprint("Quake hits Chile", "")
    assert cluster.stored_fingerprint(None, "Quake hits Chile", "") == Fingerprint(
        ("chil", "hit", "quak")
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("Οι διαδηλωτές στους δρόμους", "Διαδηλωτών στους δρόμους"),
        ("Протесты в Москве продолжаются", "Протестами в Москве продолжаются"),
    ],
)
def test_greek_and_russian_inflections_meet(first: str, second: str) -> None:
    cluster._stem.cache_clear()  # stems are the same whatever was stemmed before
    assert fingerprint(first, "").title == fingerprint(second, "").title


@pytest.mark.parametrize(
    ("headline", "terms"),
    [
        # The longest ending that leaves three letters goes: νόμ-ος, νέο-ς, διαδηλωτ-ές (to 7).
        ("Νέος νόμος", ("νεο", "νομ")),
        ("Διαδηλωτές", ("διαδηλω",)),
        ("Протестами", ("протест",)),
    ],
)
def test_greek_and_russian_endings_are_cut_to_a_stem_of_at_least_three_letters(
    headline: str, terms: tuple[str, ...]
) -> None:
    cluster._stem.cache_clear()
    assert fingerprint(headline, "").title == terms


# --- behaviours the mutation run of #18 found untested -------------------------------------


@pytest.mark.parametrize(
    ("title", "lead", "stored"),
    [
        (
            "UPDATE 2-Strong quake kills 12 in central Chile - Reuters",
            "Rescuers searched through the rubble of collapsed buildings on Tuesday after a "
            "strong earthquake struck central Chile overnight, killing at least 12 people.",
            '{"v":2,"t":["12","central","chil","kill","quak","strong"],"l":["12","buildin",'
            '"central","chil","collaps","earthqu","kill","least","overnig","peopl","rescuer",'
            '"rubbl","search","strong","struck","tuesday"],"s":[2830845364,2990909676,'
            "3403731780,3891952788,4080493028]}",
        ),
        (
            "Greek parliament approves 2025 budget | ekathimerini.com",
            "ATHENS (ANA-MPA) - Greek parliament approved the 2025 budget late on Saturday "
            "after a five-day debate.",
            '{"v":2,"t":["2025","approv","budget","greek","parliam"],"l":["2025","approv",'
            '"budget","day","debat","five","greek","late","parliam","saturda"],"s":[262031776,'
            "575616184,944671544,1583141580,1894861296,2792567640]}",
        ),
        # A lead of three words is one shingle.
        (
            "Quake hits Chile",
            "Quake hits Chile",
            '{"v":2,"t":["chil","hit","quak"],"l":["chil","hit","quak"],"s":[4019514604]}',
        ),
        ("大統領が中国を訪問", "", '{"v":2,"t":["中国","大統","統領","訪問"],"l":[],"s":[]}'),
    ],
)
def test_fingerprints_stored_by_this_version_are_what_it_computes(
    title: str, lead: str, stored: str
) -> None:
    # Stored fingerprints are compared, not recomputed, while FINGERPRINT_VERSION is 2:
    # any change to what these stories give must bump it.
    cluster._stem.cache_clear()
    assert fingerprint(title, lead).to_json() == stored


@pytest.mark.parametrize(
    ("headline", "terms"),
    [
        ("Xi and Biden meet on plan B", ("biden", "meet", "plan", "xi")),  # two letters: a term
        ("G 7 leaders meet", ("7", "leader", "meet")),  # one letter: not, one digit: a term
    ],
)
def test_a_headline_term_has_two_letters_or_more_or_is_a_number(
    headline: str, terms: tuple[str, ...]
) -> None:
    assert fingerprint(headline, "").title == terms


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("大統領", ["大統", "統領"]),  # a word of unspaced script: its character pairs
        ("中国", ["中国"]),
        ("字", ["字"]),
        ("習近平 visits", ["習", "近平", "visits"]),
        ("1,200 dead, 3.5 million", ["1200", "dead", "35", "million"]),  # digit grouping
    ],
)
def test_unspaced_words_are_cut_into_pairs_and_numbers_lose_their_grouping(
    text: str, tokens: list[str]
) -> None:
    assert cluster._tokens(text, abbreviations=False) == tokens


SHORT_WORDS = " ".join(f"w{i}" for i in range(400))  # 400 words, about 2,000 characters
LONG_WORDS = " ".join(f"{i:03d}" + "x" * 18 for i in range(100))  # 46 words in 1,011 chars


@pytest.mark.parametrize(
    ("lead", "tokens"),
    [
        ("The U.S. and the U.K. said", ["the", "usa", "and", "the", "uk", "said"]),
        ("The U.S. said " + SHORT_WORDS, ["the", "usa", "said", *SHORT_WORDS.split()[:47]]),
        (LONG_WORDS, LONG_WORDS.split()[:50]),
    ],
)
def test_a_lead_is_its_first_fifty_words_with_abbreviations_expanded(
    lead: str, tokens: list[str]
) -> None:
    assert cluster._lead_tokens(lead) == tokens


def test_a_long_lead_is_only_read_as_far_as_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[int] = []
    real = cluster._tokens

    def recording(text: str, abbreviations: bool) -> list[str]:
        read.append(len(text))
        return real(text, abbreviations)

    monkeypatch.setattr(cluster, "_tokens", recording)
    lead = " ".join(f"w{i}" for i in range(20_000))
    assert cluster._lead_tokens(lead) == lead.split()[:50]
    assert read and max(read) < 1100  # not the lead's 120,000 characters


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        # A label of up to four words before › or » is a section; a longer one is headline.
        ("Middle East and Africa › Quake hits Iran", "quake hits iran"),
        ("Why the markets fell today » Stocks slide", "why the markets fell today » stocks slide"),
        # Only the last part after a separator can be an outlet or an attribution ...
        ("Quake hits Chile | Reuters | Live blog", "quake hits chile | reuters | live blog"),
        ("Chile quake - what we know - Reuters", "chile quake - what we know"),
        # ... and it is cut where it ends the headline, not where its words first occur.
        ("Reuters reporter freed in Myanmar - Reuters", "reuters reporter freed in myanmar"),
        ("Quake hits Chile - Reuters.", "quake hits chile"),  # with a full stop
        ("Statement", "statement"),  # a headline with no separator has no tail
    ],
)
def test_sections_and_tails_are_recognised_by_their_shape(raw: str, normal: str) -> None:
    assert normalise_title(raw) == normal


def test_postings_are_an_id_then_a_tuple_then_a_dict_and_shrink_back() -> None:
    # A dict costs 200 bytes or so: most terms are held by one story, many by up to eight.
    index: dict[str, cluster._Posting] = {}
    kinds = []
    for eid in range(10):
        cluster._post(index, "quake", eid)
        kinds.append(type(index["quake"]).__name__)
        # The holders a lookup walks: the last four added, the latest first or last.
        assert sorted(cluster._walked(index["quake"], 4)) == list(range(max(0, eid - 3), eid + 1))
    assert kinds == ["int"] + ["tuple"] * 7 + ["dict"] * 2
    kinds = []
    for eid in range(9, -1, -1):
        cluster._unpost(index, "quake", eid)
        kinds.append(type(index["quake"]).__name__ if "quake" in index else "-")
    assert kinds == ["dict"] + ["tuple"] * 7 + ["int", "-"]


@pytest.mark.parametrize(
    ("holders", "seen_again", "order"),
    [
        (3, 0, [1, 2, 0]),  # a tuple: the first, the middle, the last one seen again
        (3, 1, [0, 2, 1]),
        (3, 2, [0, 1, 2]),
        (12, 0, [*range(1, 12), 0]),  # a dict
        (12, 10, [*range(10), 11, 10]),
    ],
)
def test_a_holder_seen_again_becomes_the_latest(
    holders: int, seen_again: int, order: list[int]
) -> None:
    index: dict[str, cluster._Posting] = {}
    for eid in range(holders):
        cluster._post(index, "quake", eid)
    cluster._move_last(index, "quake", seen_again)
    assert list(index["quake"]) == order  # oldest first, as walked


def test_a_copy_seen_again_is_found_by_its_lead_again() -> None:
    # Newer stories hold its three sampled shingles (with no headline term in common
    # with the probe, so they score 0): walked, they hide the original ...
    index = ClusterIndex()
    index.add(1, hand_made("alpha beta", (4, 8, 12)), T0)
    for key in range(2, 2 + cluster.RECENT_SHINGLE_HOLDERS):
        index.add(key, hand_made(f"gamma{key} delta{key}", (4, 8, 12)), T0)
    probe = hand_made("alpha zeta", (4, 8, 12))
    assert index.find(probe) == index.scan(probe) is None
    # ... until a copy of it is seen again.
    index.add(1, hand_made("alpha beta", (4, 8, 12)), T0 + timedelta(hours=1))
    assert index.find(probe) == index.scan(probe) == 1


def test_a_term_held_by_more_than_the_cap_is_walked_for_no_holder(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cluster, "MAX_POSTING", 9)
    index: dict[str, cluster._Posting] = {}
    for eid in range(10):
        cluster._post(index, "says", eid)
    assert list(cluster._walked(index["says"], 4)) == []
    cluster._unpost(index, "says", 3)  # nine holders: at the cap, walked again
    assert list(cluster._walked(index["says"], 4)) == [9, 8, 7, 6]


def hand_made(title: str, shingles: tuple[int, ...] = ()) -> Fingerprint:
    return Fingerprint(tuple(title.split()), (), shingles)


RARE = (4, 8, 16)  # the probe's sampled lead shingles, unless said


@pytest.mark.parametrize(
    ("entries", "probe", "expected"),
    [
        # Three terms in common, but each held by more groups than MAX_POSTING (2).
        ([(1, "t1 t2 t3", ()), (2, "t1 t2 t3", ()), (3, "t1 t2 t3", ())], ("t1 t2 t3", ()), None),
        # Two lead shingles in common, each rare: the lead decides (2 of 3 sampled).
        ([(1, "alpha beta", (4, 8, 12))], ("alpha gamma", RARE), 1),
        # Two shingles held by exactly MAX_POSTING groups are still rare.
        (
            [(1, "alpha beta", (4, 8, 12)), (2, "alpha delta", (4, 8, 12))],
            ("alpha gamma", RARE),
            2,
        ),
        # Held by more groups: too common, whatever the lead overlap.
        (
            [
                (1, "alpha beta", (4, 8, 12)),
                (2, "alpha delta", (4, 8, 12)),
                (3, "alpha eps", (4, 8, 12)),
            ],
            ("alpha gamma", RARE),
            None,
        ),
        # Headline terms too common and one shingle in common: not the rule's pair.
        (
            [(1, "t1 t2 t3", (4,)), (2, "t1 t2 t3", ()), (3, "t1 t2 t3", ()), (4, "zz", (8,))],
            ("t1 t2 t3", (4, 8)),
            None,
        ),
    ],
)
def test_a_pair_must_share_three_rare_terms_or_two_rare_shingles(
    monkeypatch: pytest.MonkeyPatch,
    entries: list[tuple[int, str, tuple[int, ...]]],
    probe: tuple[str, tuple[int, ...]],
    expected: int | None,
) -> None:
    monkeypatch.setattr(cluster, "MAX_POSTING", 2)
    index = ClusterIndex(0.5)
    for minute, (key, title, shingles) in enumerate(entries):
        index.add(key, hand_made(title, shingles), T0 + timedelta(minutes=minute))
    fp = hand_made(*probe)
    assert index.find(fp) == index.scan(fp) == expected


@pytest.mark.parametrize(
    ("entries", "probe", "expected"),
    [
        # Equal scores (0.8): the most recent story wins, though added first ...
        ([(1, "a b c d x", 60), (2, "a b c d y", 0)], "a b c d", 1),
        # ... and of stories seen at the same time, the copy added last.
        ([(1, "a b c d x", 0), (2, "a b c d y", 0), (1, "a b c d x", 0)], "a b c d", 1),
        ([(1, "a b c d x", 0), (2, "a b c d y", 0)], "a b c d", 2),
        # Equal scores (0.6), and the later story is found only from terms past the
        # first ones, whose groups are all found already (c d e).
        ([(1, "a b c", 0), (2, "c d e", 60), (3, "d e x", 0), (4, "d e y", 0)], "a b c d e", 2),
    ],
)
def test_ties_go_to_the_most_recent_story_then_to_the_one_added_last(
    entries: list[tuple[int, str, int]], probe: str, expected: int
) -> None:
    index = ClusterIndex(0.5)
    for key, title, minute in entries:
        index.add(key, hand_made(title), T0 + timedelta(minutes=minute))
    assert index.find(hand_made(probe)) == index.scan(hand_made(probe)) == expected


def test_a_perfect_match_ends_the_search(monkeypatch: pytest.MonkeyPatch) -> None:
    index = ClusterIndex()
    for key in range(5):
        index.add(key, hand_made(f"quake hits central chile coast v{key}"), T0)
    wire = hand_made("quake hits central chile coast")
    index.add(9, wire, T0 + timedelta(hours=1))
    calls = count_similarity(monkeypatch)
    assert index.find(wire) == 9 and len(calls) == 1  # the most recent, scored first, is perfect


@pytest.mark.parametrize(
    ("other", "hours_apart", "expected"),
    [
        # 3 shared + "2024" said by the other's lead, of 5 terms: 0.8 before the
        # penalty, exactly the threshold; the headlines' numbers differ, so 0.4.
        (fp("2025 b c d", "2024"), 0, None),
        # The same words with no number on the other side: 0.8, the same event.
        (fp("b c d e", "2024 e"), 0, 1),
        # ... but not 30 hours later (0.8 x 0.95).
        (fp("b c d e", "2024 e"), 30, None),
    ],
    ids=["numbers-differ-at-the-threshold", "no-second-number", "a-day-later"],
)
def test_a_lookup_lowers_a_score_at_the_threshold(
    other: Fingerprint, hours_apart: int, expected: int | None
) -> None:
    # A lookup skips the number penalty and the time factor only for scores
    # already under the threshold, which either could only lower.
    index = ClusterIndex()
    index.add(1, other, T0)
    probe, at = fp("2024 b c d"), T0 + timedelta(hours=hours_apart)
    assert index.find(probe, at) == index.scan(probe, at) == expected


def test_a_probe_under_its_floor_gives_the_unpenalised_score() -> None:
    a, b = fp("2024 b c d", "", (1, 2, 3)), fp("2025 b c d", "2024", (1, 2, 3))
    assert cluster.similarity(a, b) == 0.5  # the shingles agree: 1.0, halved
    assert cluster._Probe(a).similarity(b, floor=1.0) == 0.5  # 1.0 is not below it
    assert cluster._Probe(a).similarity(b, floor=1.5) == 1.0  # under it: left as is
    assert cluster._Probe(a).similarity(fp("x y"), floor=0.8) == 0.0
