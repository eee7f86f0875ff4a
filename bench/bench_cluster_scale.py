"""Benchmark: cost of a cluster lookup as the window grows from 1,000 to 100,000 stories.

    python bench/bench_cluster_scale.py                 # about 2 min; --help for sizes
    python bench/bench_cluster_scale.py --quick         # 1,000 and 10,000 only, one repeat
    python bench/bench_cluster_scale.py --vocab zipf    # one vocabulary only

Target (the issue): the lookup cost per story within 1.5x between 1,000 and
100,000 stories in the window, on both vocabularies below; the memory at
100,000 reported.

For each window size N the index is filled with N stories (``add`` only,
stamped over 80% of the cluster window, so all of them are in the window
whatever ``find`` does with its time), then a further 2,000 stories are each
looked up and added: ``find`` (with ``at=`` when the index's ``find`` takes it)
then ``add`` under the key found or a new one.  That batch is timed, best of
``--repeat`` fresh builds, and reported in µs per story with its ratio to the
N = 1,000 figure.  Memory: tracemalloc around the first build's fill (the
fingerprints already exist, so this is the index's own structures; what the
fingerprints themselves hold is reported once, at the largest N).

Vocabularies (seeded, deterministic; in both, 10% of the stories are near
copies of an earlier story, mostly a recent one, so matches happen):

- ``corpus``: the real corpus (../shared/corpus/feeds: RSS/Atom/RDF entries with
  feedparser, JSON Feed items) recombined: a headline is the start of one of an
  outlet's headlines and the end of another's, a lead is made of 4-10-word
  pieces of that outlet's leads; capitalised words (names) and numbers are
  varied (a real name of the outlet or a made-up one), and 15% of the other
  words are swapped for words of the outlet, so most stories are distinct but
  keep the corpus's word frequencies and languages.
- ``zipf``: heavy-headed synthetic text: made-up words with Zipf frequencies
  (exponent 1.0) over 30,000 words and no stopwords, so every word is a content
  word and the commonest is in most headlines; headlines of ~10 words, leads of
  ~50.

Naive baseline, in the same run: every entry of the window scored with the
pairwise rule (``similarity`` against the threshold, or ``same_event``),
best score wins, ties to the most recent: what the index must agree with.  It
runs on the first few stories of the same batch (as many as fit in
``--naive-budget`` seconds) and is reported per story at each N, with whether
the index gave the same answers.

Runs against whichever clusterer is in watcher/core/cluster.py: it only uses
``ClusterIndex(threshold)``, ``add``, ``find``, ``len()``, ``fingerprint`` (or
``fingerprint_text``) and ``similarity`` (or ``same_event``), detected at run time.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import inspect
import itertools
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from synthetic_text import ZipfVocabulary, real_function_words  # noqa: E402

from watcher.core import cluster  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
T0 = datetime(2026, 1, 1)
COPY_SHARE = 0.10
RECENT = 300  # a near copy is of one of the last RECENT stories (80% of them), else any earlier


# ------------------------------------------------------------------ the clusterer's API


@dataclass(frozen=True)
class Api:
    """What this clusterer offers, found at run time (it is being rewritten)."""

    threshold: float
    window: timedelta
    make_fingerprint: Callable[[str, str], Any]
    fingerprint_name: str
    find_takes_at: bool
    score: Callable[[Any, Any], float] | None  # similarity, if there is one
    same: Callable[[Any, Any], bool]
    pairwise_name: str

    @classmethod
    def detect(cls) -> Api:
        threshold = float(getattr(cluster, "DEFAULT_THRESHOLD", 0.8))
        window = getattr(cluster, "DEFAULT_WINDOW", timedelta(hours=48))
        if hasattr(cluster, "fingerprint"):
            make, fp_name = cluster.fingerprint, "fingerprint"
        else:
            make, fp_name = cluster.fingerprint_text, "fingerprint_text"
        try:
            find_takes_at = "at" in inspect.signature(cluster.ClusterIndex.find).parameters
        except (TypeError, ValueError):
            find_takes_at = False
        score = getattr(cluster, "similarity", None)
        if score is not None:

            def same(a: Any, b: Any) -> bool:
                return bool(score(a, b) >= threshold)

            name = "similarity"
        else:
            same_event = cluster.same_event

            def same(a: Any, b: Any) -> bool:
                return bool(same_event(a, b, threshold))

            name = "same_event"
        return cls(threshold, window, make, fp_name, find_takes_at, score, same, name)

    def describe(self) -> str:
        return (
            f"threshold {self.threshold}, window {self.window.total_seconds() / 3600:g} h;"
            f" {self.fingerprint_name}();"
            f" find({'fp, at=' if self.find_takes_at else 'fp'}); naive baseline with"
            f" {self.pairwise_name}()"
        )


# ------------------------------------------------------------------ the stories


@dataclass
class Story:
    title: str
    lead: str
    copy_of: int | None  # index of the story this is a near copy of


WIRE_PREFIXES = ("UPDATE 1-", "UPDATE 2-", "BREAKING: ", "EXCLUSIVE-", "")
WIRE_SUFFIXES = (" - Reuters", " | AP", " (AFP)", " - BBC News", "")
DATELINES = ("WASHINGTON (Reuters) - ", "LONDON (AP) — ", "PARIS (AFP) - ", "")


def near_copy(rng: random.Random, title: str, lead: str, word: Callable[[], str]) -> Story:
    """Another outlet's version of a story: a wire marker, a word changed, the lead trimmed."""
    words = title.split()
    change = rng.random()
    if change < 0.35 and len(words) > 3:
        words[rng.randrange(1, len(words))] = word()
    elif change < 0.55 and len(words) > 4:
        del words[rng.randrange(1, len(words))]
    new_title = rng.choice(WIRE_PREFIXES) + " ".join(words) + rng.choice(WIRE_SUFFIXES)
    lead_words = lead.split()
    keep = max(12, int(len(lead_words) * rng.uniform(0.7, 1.0)))
    new_lead = rng.choice(DATELINES) + " ".join(lead_words[:keep])
    return Story(new_title.strip(), new_lead, None)


class Generator:
    """Yields stories: ``COPY_SHARE`` near copies of earlier ones, the rest distinct."""

    name = ""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.stories: list[Story] = []

    def distinct(self) -> Story:
        raise NotImplementedError

    def word(self) -> str:
        raise NotImplementedError

    def generate(self, n: int) -> list[Story]:
        rng = self.rng
        while len(self.stories) < n:
            i = len(self.stories)
            if i >= 20 and rng.random() < COPY_SHARE:
                j = rng.randrange(max(0, i - RECENT), i) if rng.random() < 0.8 else rng.randrange(i)
                base = self.stories[j]
                story = near_copy(rng, base.title, base.lead, self.word)
                story.copy_of = j
            else:
                story = self.distinct()
            self.stories.append(story)
        return self.stories[:n]


class ZipfStories(Generator):
    name = "zipf"

    def __init__(self, seed: int, size: int = 30_000, exponent: float = 1.0) -> None:
        super().__init__(seed)
        self.vocabulary = ZipfVocabulary(seed, size, exponent, exclude=real_function_words())

    def describe(self) -> str:
        v = self.vocabulary
        return (
            f"made-up words, Zipf exponent {v.exponent} over {len(v.words):,} words, no"
            f" stopwords (commonest word {v.share(1):.0%} of tokens, top 10 {v.share(10):.0%});"
            " headlines 8-12 words, leads 45-55"
        )

    def word(self) -> str:
        return self.vocabulary.draw(self.rng, 1)[0]

    def distinct(self) -> Story:
        rng = self.rng
        title = self.vocabulary.draw(rng, rng.randint(8, 12))
        title[0] = title[0].capitalize()
        lead = self.vocabulary.draw(rng, rng.randint(45, 55))
        lead[0] = lead[0].capitalize()
        return Story(" ".join(title), " ".join(lead) + ".", None)


_NUMBER = re.compile(r"\d+")
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.S)


class CorpusStories(Generator):
    name = "corpus"

    def __init__(self, seed: int, entries: Sequence[tuple[str, str, str]]) -> None:
        super().__init__(seed)
        self.entries = len(entries)
        by_source: dict[str, list[tuple[list[str], list[str]]]] = {}
        for source, title, lead in entries:
            by_source.setdefault(source, []).append((title.split(), lead.split()))
        self.sources = sorted(by_source)
        self.by_source = [by_source[s] for s in self.sources]
        self.source_cum = list(itertools.accumulate(len(e) for e in self.by_source))
        # Per outlet: every word occurrence (so a draw follows the outlet's frequencies),
        # and its capitalised words after the first of a headline (mostly names).
        self.tokens: list[list[str]] = []
        self.names: list[list[str]] = []
        for items in self.by_source:
            tokens, names = [], []
            for title, lead in items:
                for k, w in enumerate(title + lead):
                    core = _EDGE.match(w).group(2)  # type: ignore[union-attr]
                    if len(core) >= 3 and not any(c.isdigit() for c in core):
                        tokens.append(core)
                        if k and core[0].isupper() and core[1:].islower():
                            names.append(core)
            self.tokens.append(tokens or ["news"])
            self.names.append(names)
        # Made-up names, Zipf-distributed like real ones, so the vocabulary keeps growing
        # with the window as real news's does (a few thousand entries cannot).
        made_up = ZipfVocabulary(seed + 1, 50_000, 1.0, exclude=real_function_words())
        self.made_up = made_up
        self.source = 0

    def describe(self) -> str:
        return (
            f"{self.entries:,} corpus entries of {len(self.sources)} outlets recombined"
            " (headline halves, 4-10-word lead pieces of the same outlet; names, numbers and"
            " 15% of other words varied)"
        )

    def word(self) -> str:
        return self.rng.choice(self.tokens[self.source])

    def _vary(self, words: list[str], name_p: float, word_p: float) -> list[str]:
        rng, s = self.rng, self.source
        out = []
        for k, w in enumerate(words):
            pre, core, post = _EDGE.match(w).groups()  # type: ignore[union-attr]
            if not core:
                out.append(w)
                continue
            if any(c.isdigit() for c in core):
                core = _NUMBER.sub(lambda m: str(rng.randint(1, 10 ** len(m.group()) * 3)), core)
            elif k and core[0].isupper() and core[1:].islower() and rng.random() < name_p:
                if self.names[s] and rng.random() < 0.5:
                    core = rng.choice(self.names[s])
                else:
                    core = self.made_up.draw(rng, 1)[0].capitalize()
            elif len(core) >= 3 and rng.random() < word_p:
                core = rng.choice(self.tokens[s])
            out.append(pre + core + post)
        return out

    def distinct(self) -> Story:
        rng = self.rng
        s = rng.choices(range(len(self.sources)), cum_weights=self.source_cum)[0]
        self.source = s
        items = self.by_source[s]
        (ta, la), (tb, _) = rng.choice(items), rng.choice(items)
        cut_a = rng.randint((len(ta) + 1) // 3, max((len(ta) + 1) // 3, 2 * len(ta) // 3))
        cut_b = rng.randint(len(tb) // 3, max(len(tb) // 3, 2 * len(tb) // 3))
        title = (ta[: max(1, cut_a)] + tb[cut_b:]) or ta
        target = min(60, max(15, len(la) or 15))
        lead = la[: rng.randint(4, 10)]
        for _ in range(40):
            if len(lead) >= target:
                break
            _, other = rng.choice(items)
            if not other:
                continue
            start = rng.randrange(len(other))
            lead += other[start : start + rng.randint(4, 10)]
        title = self._vary(title, 0.6, 0.15)
        lead = self._vary(lead[:target], 0.6, 0.15)
        return Story(" ".join(title), " ".join(lead), None)


def load_corpus(corpus: Path) -> list[tuple[str, str, str]]:
    """(outlet, headline, lead) of every corpus entry with a headline, as plain text."""
    import feedparser

    from watcher.core.text import html_to_text

    out: list[tuple[str, str, str]] = []
    for path in sorted(corpus.iterdir()):
        source = re.sub(r"-\d+$", "", path.stem)
        if path.suffix == ".json":
            try:
                items = json.loads(path.read_text(encoding="utf-8")).get("items", [])
            except (ValueError, OSError):
                continue
            pairs = [
                (str(i.get("title") or ""), str(i.get("summary") or i.get("content_html") or ""))
                for i in items
            ]
        else:
            parsed = feedparser.parse(path.read_bytes())
            pairs = []
            for e in parsed.entries:
                lead = str(e.get("summary", "") or "")
                if not lead and e.get("content"):
                    lead = str(e["content"][0].get("value", ""))
                pairs.append((str(e.get("title", "") or ""), lead))
        for title, lead in pairs:
            title, lead = html_to_text(title), html_to_text(lead)
            if title:
                out.append((source, title, " ".join(lead.split()[:80])))
    return out


# ------------------------------------------------------------------ measuring


def machine_busy() -> float:
    """CPU seconds all CPUs have spent busy since boot (/proc/stat; 0 where there is none)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq = (int(v) for v in first)
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


@dataclass
class Naive:
    per_story_s: float
    probes: int
    answers: list[int | None]


def naive_scan(
    api: Api, fps: Sequence[Any], times: Sequence[datetime], n: int, probes: int
) -> Naive:
    """Score every entry of the window for each of the first ``probes`` stories of the batch."""
    entries = [(i, times[i], fps[i]) for i in range(n)]
    answers: list[int | None] = []
    score = api.score
    threshold = api.threshold
    started = time.perf_counter()
    for j in range(probes):
        i = n + j
        fp, at = fps[i], times[i]
        best: tuple[tuple[float, datetime, int], int] | None = None
        for order, (key, when, other) in enumerate(entries):
            if score is not None:
                s = score(fp, other)
                if s < threshold:
                    continue
            elif api.same(fp, other):
                s = 1.0
            else:
                continue
            rank = (s, when, order)
            if best is None or rank > best[0]:
                best = (rank, key)
        key = None if best is None else best[1]
        answers.append(key)
        entries.append((i if key is None else key, at, fp))
    return Naive((time.perf_counter() - started) / probes, probes, answers)


@dataclass
class Size:
    n: int
    add_us: float  # per story, filling the window (fastest build)
    find_add_us: list[float]  # per story of the batch, each build
    answers: list[int | None]
    memory_mib: float
    memory_peak_mib: float
    candidates: float | None
    naive: Naive | None = None
    load: float = 0.0  # cores other processes kept busy meanwhile
    lookup_floor_us: float | None = None  # the batch's tokens looked up in a plain dict


def lookup_floor(fps: Sequence[Any], n: int, batch: int, repeat: int = 3) -> float | None:
    """µs per story to look the batch's headline terms and shingles up in one plain dict
    of the window's: what any index keyed by them pays before it does anything else,
    and what grows once the window no longer fits the CPU's cache."""
    if not all(hasattr(fp, "title") and hasattr(fp, "shingles") for fp in fps[:1]):
        return None
    held: dict[object, int] = {}
    for i in range(n):
        for token in (*fps[i].title, *fps[i].shingles):
            held[token] = i
    probes = [(*fp.title, *fp.shingles) for fp in fps[n : n + batch]]
    get, best = held.get, float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for tokens in probes:
            for token in tokens:
                get(token)
        best = min(best, time.perf_counter() - started)
    return best / len(probes) * 1e6


def window_times(api: Api, n: int, batch: int) -> list[datetime]:
    """The window filled over 80% of the cluster window, the batch over the next 5%."""
    span, after = api.window * 0.8, api.window * 0.05
    return [T0 + span * (i / n) for i in range(n)] + [
        T0 + span + after * (j / batch) for j in range(batch)
    ]


def measure_size(
    api: Api, fps: Sequence[Any], n: int, batch: int, repeat: int, budget: float,
    naive_budget: float, pair_s: float,
) -> Size:  # fmt: skip
    times = window_times(api, n, batch)
    busy, cpu, wall = machine_busy(), time.process_time(), time.perf_counter()
    find_add: list[float] = []
    adds: list[float] = []
    answers: list[int | None] = []
    memory = peak = 0.0
    candidates: float | None = None
    for rep in range(repeat):
        index = cluster.ClusterIndex(api.threshold)
        gc.collect()
        traced = rep == 0
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        add = index.add
        for i in range(n):
            add(i, fps[i], times[i])
        if traced:
            current, peak_bytes = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            memory, peak = current / 2**20, peak_bytes / 2**20
        else:
            adds.append((time.perf_counter() - started) / n)
        if len(index) != n:
            raise SystemExit(f"len(index) is {len(index)} after {n} adds")
        if rep == 0:
            candidates = count_candidates(index, fps[n : n + batch][:200])
        gc.collect()
        find, add = index.find, index.add
        keys: list[int | None] = []
        clock = time.perf_counter
        started = clock()
        deadline = started + budget
        # Stories are timed in slices of 50, so that a slow index stops at the budget.
        for first in range(n, n + batch, 50):
            if api.find_takes_at:
                for i in range(first, min(first + 50, n + batch)):
                    fp, at = fps[i], times[i]
                    key = find(fp, at=at)
                    add(i if key is None else key, fp, at)
                    keys.append(key)
            else:
                for i in range(first, min(first + 50, n + batch)):
                    fp = fps[i]
                    key = find(fp)
                    add(i if key is None else key, fp, times[i])
                    keys.append(key)
            if clock() > deadline:
                break
        find_add.append((clock() - started) / len(keys))
        if rep == 0:
            answers = keys
        del index, find, add
        if len(keys) < batch:  # over budget: one build is all there is time for
            break
    floor = lookup_floor(fps, n, batch)
    probes = max(3, min(batch, int(naive_budget / max(1e-9, pair_s * n))))
    naive = naive_scan(api, fps, times, n, probes) if naive_budget > 0 else None
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    load = max(0.0, machine_busy() - busy - cpu) / wall
    return Size(n, min(adds or [float("nan")]) * 1e6, [t * 1e6 for t in find_add], answers,
                memory, peak, candidates, naive, load, floor)  # fmt: skip


def count_candidates(index: Any, probes: Sequence[Any]) -> float | None:
    """Entries scored per lookup, when the index has the private ``_candidates`` (optional)."""
    method = getattr(index, "_candidates", None)
    if method is None or not probes:
        return None
    try:
        return fmean(len(method(fp)) for fp in probes)
    except Exception:  # a rewritten index may give it another meaning: skip
        return None


def time_pairs(api: Api, fps: Sequence[Any], pairs: int = 3_000) -> float:
    rng = random.Random(1)
    chosen = [(rng.choice(fps), rng.choice(fps)) for _ in range(pairs)]
    same = api.same
    started = time.perf_counter()
    for a, b in chosen:
        same(a, b)
    return (time.perf_counter() - started) / pairs


def fingerprint_memory(fps: Sequence[Any]) -> float | None:
    """MiB the fingerprints themselves hold, rebuilt from their JSON as at start-up."""
    to_json = getattr(fps[0], "to_json", None)
    from_json = getattr(type(fps[0]), "from_json", None)
    if to_json is None or from_json is None:
        return None
    stored = [fp.to_json() for fp in fps]
    gc.collect()
    tracemalloc.start()
    rebuilt = [from_json(s) for s in stored]
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del rebuilt
    return current / 2**20


def run_vocabulary(
    api: Api, gen: Generator, sizes: Sequence[int], batch: int, repeat: int, budget: float,
    naive_budget: float,
) -> None:  # fmt: skip
    total = max(sizes) + batch
    started = time.perf_counter()
    stories = gen.generate(total)
    made = time.perf_counter() - started
    started = time.perf_counter()
    fps = [api.make_fingerprint(s.title, s.lead) for s in stories]
    fp_us = (time.perf_counter() - started) / total * 1e6
    copies = sum(s.copy_of is not None for s in stories)
    print(f"\nvocabulary '{gen.name}': {gen.describe()}")
    shape = ""
    if all(hasattr(fps[0], a) for a in ("title", "lead", "shingles")):
        some = fps[:5000]
        shape = (
            f"; per fingerprint {fmean(len(fp.title) for fp in some):.1f} headline terms,"
            f" {fmean(len(fp.lead) for fp in some):.1f} lead terms,"
            f" {fmean(len(fp.shingles) for fp in some):.1f} shingles"
        )
    print(
        f"  {total:,} stories ({copies / total:.1%} near copies) made in {made:.1f} s;"
        f" {api.fingerprint_name}() {fp_us:.0f} µs/story{shape}"
    )
    sample = stories[min(len(stories) - 1, 10_000)]
    print(f"  e.g. {sample.title!r}\n       {sample.lead[:150]!r}...")
    pair_s = time_pairs(api, fps)
    print(f"  {api.pairwise_name}(): {pair_s * 1e6:.1f} µs per pair")
    rows: list[Size] = []
    header = (
        f"  {'window':>8} {'find+add µs':>11} {'x 1,000':>7} {'runs µs':>24} {'add µs':>6}"
        f" {'cands':>6} {'copies':>6} {'theirs':>6} {'rest':>5} {'index MiB':>9} {'peak':>6}"
        f" {'B/story':>7}"
        f" {'naive µs':>10} {'naive/idx':>9} {'naive check':>18} {'load':>5} {'dict µs':>13}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for n in sizes:
        row = measure_size(api, fps, n, batch, repeat, budget, naive_budget, pair_s)
        rows.append(row)
        best = min(row.find_add_us)
        base = min(rows[0].find_add_us)
        timed = len(row.answers)
        is_copy = [s.copy_of is not None for s in stories[n : n + timed]]
        joined = [k is not None for k in row.answers]
        joined_copies = sum(c and j for c, j in zip(is_copy, joined, strict=True))
        # The window's stories were added under their own index; the batch's under
        # the key found, or their own.
        keys = list(range(n)) + [i if k is None else k for i, k in zip(
            range(n, n + timed), row.answers, strict=True)]  # fmt: skip
        with_original = sum(
            s.copy_of is not None and keys[n + i] == keys[s.copy_of]
            for i, s in enumerate(stories[n : n + timed])
        )
        joined_others = sum(j and not c for c, j in zip(is_copy, joined, strict=True))
        n_copies = sum(is_copy) or 1
        n_others = (timed - sum(is_copy)) or 1
        runs = "/".join(f"{t:.0f}" if t >= 100 else f"{t:.1f}" for t in row.find_add_us)
        if timed < batch:
            runs = f"({timed:,} stories) {runs}"
        cands = "-" if row.candidates is None else f"{row.candidates:.1f}"
        add_us = f"{row.add_us:.1f}" if row.add_us == row.add_us else "-"  # nan: no untraced fill
        floor = "-"
        if row.lookup_floor_us is not None and rows[0].lookup_floor_us:
            grown = row.lookup_floor_us / rows[0].lookup_floor_us
            floor = f"{row.lookup_floor_us:.1f} {grown:.2f}x"
        if row.naive:
            nv = row.naive
            compared = min(nv.probes, timed)
            agree = sum(a == b for a, b in zip(nv.answers, row.answers[:compared], strict=True))
            check = f"{agree}/{compared} same"
            naive_cols = f"{nv.per_story_s * 1e6:>10,.0f} {nv.per_story_s * 1e6 / best:>8.0f}x"
        else:
            check, naive_cols = "-", f"{'-':>10} {'-':>9}"
        print(
            f"  {n:>8,} {best:>11.1f} {best / base:>6.2f}x {runs:>24} {add_us:>6}"
            f" {cands:>6} {joined_copies / n_copies:>6.0%} {with_original / n_copies:>6.0%}"
            f" {joined_others / n_others:>5.1%}"
            f" {row.memory_mib:>9.1f} {row.memory_peak_mib:>6.1f}"
            f" {row.memory_mib * 2**20 / n:>7.0f} {naive_cols} {check:>18} {row.load:>5.2f}"
            f" {floor}",
            flush=True,
        )
    largest = rows[-1]
    fp_mib = fingerprint_memory(fps[: largest.n])
    ratio = min(largest.find_add_us) / min(rows[0].find_add_us)
    if rows[0].n == 1_000 and largest.n >= 100_000:
        verdict = "met" if ratio <= 1.5 else "NOT met"
        print(
            f"  target: find+add per story at {largest.n:,} within 1.5x of 1,000:"
            f" {ratio:.2f}x, {verdict}"
        )
    print(
        f"  memory at {largest.n:,}: index {largest.memory_mib:.1f} MiB (peak while filling"
        f" {largest.memory_peak_mib:.1f} MiB)"
        + ("" if fp_mib is None else f" + the fingerprints themselves {fp_mib:.1f} MiB")
    )


def buried(
    api: Api, gen: Generator, window: int = 50_000, gaps: Sequence[int] = (0, 2_000, 5_000, 20_000)
) -> None:  # fmt: skip
    """The labelled same-event pairs the rule merges, each with a busy window between
    its two stories: is the second still found?  What bounding a lookup costs."""
    from bench_cluster import load_pairs

    pairs = load_pairs()
    merged = []
    for pair in pairs:
        a, b = pair["a"], pair["b"]
        fa, fb = (
            api.make_fingerprint(a["title"], a["lead"]),
            api.make_fingerprint(b["title"], b["lead"]),
        )
        if pair["same"] and api.same(fa, fb):
            merged.append((pair["category"], fa, fb))
    fps = [api.make_fingerprint(s.title, s.lead) for s in gen.generate(window)]
    step = api.window * 0.8 / window
    print(
        f"\nburied: the {len(merged)} labelled same-event pairs the rule merges; a window of"
        f" {window:,} '{gen.name}' stories over 80% of the cluster window, the first story of"
        " every pair added G stories before its end, the second looked up at its end"
    )
    for gap in gaps:
        index = cluster.ClusterIndex(api.threshold)
        first = window - gap
        for i in range(first):
            index.add(i, fps[i], T0 + step * i)
        for j, (_, fa, _) in enumerate(merged):
            index.add(window + j, fa, T0 + step * first)
        for i in range(first, window):
            index.add(i, fps[i], T0 + step * i)
        end = T0 + step * window
        lost: dict[str, int] = {}
        for j, (category, _, fb) in enumerate(merged):
            key = index.find(fb, at=end) if api.find_takes_at else index.find(fb)
            if key != window + j:
                lost[category] = lost.get(category, 0) + 1
        found = len(merged) - sum(lost.values())
        missed = ", ".join(f"{c} {n}" for c, n in sorted(lost.items())) or "none"
        print(f"  G = {gap:>6,}: {found}/{len(merged)} found (missed: {missed})", flush=True)


# ------------------------------------------------------------------ main


def tree_state() -> str:
    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10,
                env={"GIT_OPTIONAL_LOCKS": "0", "PATH": "/usr/bin:/bin"},
            )  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    digest = hashlib.md5((ROOT / "watcher/core/cluster.py").read_bytes()).hexdigest()
    commit = git("rev-parse", "--short", "HEAD") or "?"
    dirty = git("status", "--porcelain", "--", "watcher/core/cluster.py")
    return f"watcher at {commit}, cluster.py md5 {digest}" + (" (uncommitted)" if dirty else "")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1_000, 10_000, 50_000, 100_000],
        help="stories in the window (the first is the reference of the ratio)",
    )  # fmt: skip
    parser.add_argument("--batch", type=int, default=2_000, help="stories looked up and added")
    parser.add_argument("--repeat", type=int, default=3, help="fresh builds per size (best kept)")
    parser.add_argument(
        "--budget", type=float, default=8.0,
        help="seconds a build's batch may take: a slower index is timed on the stories done"
        " by then, and built once",
    )  # fmt: skip
    parser.add_argument(
        "--vocab", choices=("both", "corpus", "zipf"), default="both", help="which vocabularies"
    )
    parser.add_argument(
        "--naive-budget", type=float, default=2.0,
        help="seconds of naive scanning per window size (0: no baseline)",
    )  # fmt: skip
    parser.add_argument("--quick", action="store_true", help="1,000 and 10,000, one build each")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--buried", action="store_true",
        help="only the labelled pairs with a busy window between their two stories",
    )  # fmt: skip
    parser.add_argument(
        "--recent-holders", metavar="TERMS[,SHINGLES]",
        help="walk the last TERMS holders of each headline term (and SHINGLES of each"
        " shingle; default the same) instead of the index's (a huge number: every holder)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeat = [1_000, 10_000], 1
    if args.recent_holders is not None:
        try:
            terms, _, shingles = args.recent_holders.partition(",")
            bounds = int(terms), int(shingles or terms)
        except ValueError:
            parser.error("--recent-holders takes TERMS or TERMS,SHINGLES, whole numbers")
        if not hasattr(cluster, "RECENT_TERM_HOLDERS") or min(bounds) < 1:
            parser.error("--recent-holders needs an index with RECENT_TERM_HOLDERS, and >= 1")
        cluster.RECENT_TERM_HOLDERS, cluster.RECENT_SHINGLE_HOLDERS = bounds
    api = Api.detect()
    started = time.perf_counter()
    bound = getattr(cluster, "RECENT_TERM_HOLDERS", None)
    walked = (
        ""
        if bound is None
        else f"; last {bound:,} holders of a term, {cluster.RECENT_SHINGLE_HOLDERS:,} of a"
        " shingle walked"
    )
    print(f"{tree_state()}; CPython {sys.version.split()[0]}, one core{walked}")
    print(api.describe())
    print(
        f"each window size: fill with N stories, then {args.batch:,} more each find + add;"
        f" best of {args.repeat} builds"
    )
    if args.buried:
        if not args.corpus.is_dir():
            print(f"buried skipped: no corpus at {args.corpus}")
            return 0
        buried(api, CorpusStories(args.seed, load_corpus(args.corpus)))
        return 0
    if args.vocab in ("both", "corpus"):
        if args.corpus.is_dir():
            entries = load_corpus(args.corpus)
            run_vocabulary(
                api, CorpusStories(args.seed, entries), args.sizes, args.batch, args.repeat,
                args.budget, args.naive_budget,
            )  # fmt: skip
        else:
            print(f"\nvocabulary 'corpus' skipped: no corpus at {args.corpus}")
    if args.vocab in ("both", "zipf"):
        run_vocabulary(
            api, ZipfStories(args.seed), args.sizes, args.batch, args.repeat, args.budget,
            args.naive_budget,
        )  # fmt: skip
    print(
        "\nfind+add µs: per story of the batch, best build (runs µs: each build; a build over"
        "\n--budget is timed on the stories it did and not repeated); x 1,000: that"
        "\nagainst the first window size; add µs: per story while filling; cands: entries the"
        "\nindex scores per lookup (its private _candidates, when it has one); copies / rest:"
        "\nshare of the batch's near copies / other stories that joined a cluster; theirs:"
        "\nshare of the near copies that joined their original's cluster; index MiB:"
        "\ntracemalloc of the filled index (its fingerprints not counted), peak while filling;"
        "\nnaive µs: scanning the whole window with the pairwise rule, per story, on the first"
        "\nstories of the same batch (naive check: how many got the index's answer); load:"
        "\ncores other processes kept busy meanwhile (/proc/stat): above ~0.3 on a 2-core"
        "\nmachine the figures are slowed and the ratios noisy; dict µs: the batch's headline"
        "\nterms and shingles looked up in one plain dict of the window's, per story, and its"
        "\nratio to the first size: a floor for any index keyed by them, which grows only"
        "\nbecause a bigger window no longer fits the CPU's cache."
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {rss:.0f} MiB; took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
