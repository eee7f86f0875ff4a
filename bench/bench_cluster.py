"""Benchmark story clustering: quality on the labelled pairs, speed and memory of the window index.

    python bench/bench_cluster.py               # about a minute
    python bench/bench_cluster.py --quick       # smaller samples, for a smoke run
    python bench/bench_cluster.py --datasketch  # also the MinHashLSH alternative (+1 min)

Quality: precision and recall of ``same_event`` at the default threshold on
tests/data/cluster_pairs.jsonl, by category, at neighbouring thresholds, a
two-fold estimate of how the threshold choice generalises, and the score of
rapidfuzz's token_set_ratio (the library alternative) on the same pairs.

Replay: the corpus's own dated stories (../shared/corpus/feeds, parsed by
watcher) in publication order through the index with its 48-hour window, once
walking the last ``RECENT_TERM_HOLDERS`` holders of each headline term and
``RECENT_SHINGLE_HOLDERS`` of each shingle (the default), once the last two,
once every holder: how many stories joined a
cluster, and how many answers differ from walking every holder.  Skipped when
the corpus is absent.

Speed: stories/s of find+add(+evict) with 1,000 and 100,000 stories in the
window, against a naive scan of the window, and the memory the index holds.
The stories are synthetic (headline and lead words drawn from a Zipf
distribution over 200,000 made-up words, one story in four a rewrite of a
recent one), because the corpus has only a few thousand entries; Zipf makes
common words as common as in news, which is what would slow an index.
"""

from __future__ import annotations

import argparse
import functools
import gc
import itertools
import json
import random
import resource
import sys
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from statistics import median

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.core import cluster  # noqa: E402
from watcher.core.cluster import (  # noqa: E402
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    ClusterIndex,
    Fingerprint,
    fingerprint,
    normalise_title,
    similarity,
)

PAIRS = ROOT / "tests" / "data" / "cluster_pairs.jsonl"
CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
T0 = datetime(2026, 1, 1)


# --- quality on the labelled set ------------------------------------------------------


def load_pairs() -> list[dict[str, object]]:
    return [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines()]


def precision_recall(
    labels: Sequence[bool], scores: Sequence[float], th: float
) -> tuple[float, float, int, int, int]:
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= th)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= th)
    fn = sum(1 for y, s in zip(labels, scores, strict=True) if y and s < th)
    precision = tp / (tp + fp) if tp + fp else 1.0
    return precision, tp / (tp + fn), tp, fp, fn


def wilson(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval: how far a proportion from a few hundred pairs can be trusted."""
    if not trials:
        return 0.0, 1.0
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = (
        z * ((p * (1 - p) / trials + z * z / (4 * trials * trials)) ** 0.5) / (1 + z * z / trials)
    )
    return max(0.0, centre - half), min(1.0, centre + half)


def pct(values: Sequence[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * q // 100)]


def pick_threshold(labels: Sequence[bool], scores: Sequence[float], floor: float) -> float:
    """Lowest threshold whose precision reaches ``floor``: the rule DEFAULT_THRESHOLD follows."""
    for th in (round(0.5 + 0.05 * i, 2) for i in range(11)):
        if precision_recall(labels, scores, th)[0] >= floor:
            return th
    return 1.0


def quality() -> None:
    pairs = load_pairs()
    labels = [bool(p["same"]) for p in pairs]
    scores = [
        similarity(
            fingerprint(p["a"]["title"], p["a"]["lead"]),
            fingerprint(p["b"]["title"], p["b"]["lead"]),
        )  # type: ignore[index]
        for p in pairs
    ]
    n_same = sum(labels)
    print(f"labelled pairs: {len(pairs)} ({n_same} same event, {len(pairs) - n_same} not)")
    p, r, tp, fp, fn = precision_recall(labels, scores, DEFAULT_THRESHOLD)
    print(
        f"default threshold {DEFAULT_THRESHOLD}: precision {p:.3f}  recall {r:.3f}  "
        f"(tp {tp}, fp {fp}, fn {fn})"
    )
    print("  threshold  precision  recall   fp")
    for th in (0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9):
        p, r, _, fp, _ = precision_recall(labels, scores, th)
        print(f"  {th:9.2f}  {p:9.3f}  {r:6.3f}  {fp:3d}")
    print("  by category at the default (merged / pairs):")
    by_category(pairs, scores)
    _, _, tp, fp, fn = precision_recall(labels, scores, DEFAULT_THRESHOLD)
    lo, hi = wilson(tp, tp + fp)
    rlo, rhi = wilson(tp, tp + fn)
    print(f"  95% intervals: precision {lo:.3f}-{hi:.3f}, recall {rlo:.3f}-{rhi:.3f}")
    cross = [bool(p.get("cross_language")) for p in pairs]
    for name, keep in (("same-language", False), ("cross-language", True)):
        chosen = [i for i, c in enumerate(cross) if c == keep]
        subset(name, [pairs[i] for i in chosen], [scores[i] for i in chosen])
    print("  threshold chosen on half the pairs, scored on the other half (200 random halvings):")
    held_out(labels, scores, cross)
    library_alternative(pairs, labels)


def by_category(pairs: Sequence[dict[str, object]], scores: Sequence[float]) -> None:
    """Merged / pairs per category at the default threshold, with a 95% Wilson interval."""
    groups: dict[tuple[bool, str], list[int]] = defaultdict(lambda: [0, 0])
    for pair, score in zip(pairs, scores, strict=True):
        group = groups[(bool(pair["same"]), str(pair["category"]))]
        group[0] += score >= DEFAULT_THRESHOLD
        group[1] += 1
    for (same, category), (merged, total) in sorted(
        groups.items(), key=lambda g: (-g[0][0], g[0][1])
    ):
        lo, hi = wilson(merged, total)
        print(
            f"    {'same' if same else 'not '} {category:13} {merged:3d} / {total:<3d}"
            f"  {merged / total:.3f} ({lo:.3f}-{hi:.3f})"
        )


def subset(name: str, pairs: Sequence[dict[str, object]], scores: Sequence[float]) -> None:
    """Precision and recall with 95% intervals on one part of the set (by language)."""
    labels = [bool(p["same"]) for p in pairs]
    p, r, tp, fp, fn = precision_recall(labels, scores, DEFAULT_THRESHOLD)
    lo, hi = wilson(tp, tp + fp)
    rlo, rhi = wilson(tp, tp + fn)
    shown = f"{p:.3f} ({lo:.3f}-{hi:.3f})" if tp + fp else "- (nothing merged)"
    print(
        f"  {name}: {len(pairs)} pairs ({sum(labels)} same); precision {shown}"
        f"  recall {r:.3f} ({rlo:.3f}-{rhi:.3f})  tp {tp} fp {fp} fn {fn}"
    )
    by_category(pairs, scores)


def held_out(labels: Sequence[bool], scores: Sequence[float], cross: Sequence[bool]) -> None:
    rng = random.Random(0)
    chosen: list[float] = []
    held: dict[str, tuple[list[float], list[float]]] = {
        name: ([], []) for name in ("all", "same-language", "cross-language")
    }
    for _ in range(200):
        order = list(range(len(labels)))
        rng.shuffle(order)
        fit, test = order[::2], order[1::2]
        th = pick_threshold([labels[i] for i in fit], [scores[i] for i in fit], 0.95)
        chosen.append(th)
        for name, part in (
            ("all", test),
            ("same-language", [i for i in test if not cross[i]]),
            ("cross-language", [i for i in test if cross[i]]),
        ):
            p, r, *_ = precision_recall([labels[i] for i in part], [scores[i] for i in part], th)
            held[name][0].append(p)
            held[name][1].append(r)
    print(
        f"    threshold median {median(chosen):.2f}"
        f" (10-90%: {pct(chosen, 10):.2f}-{pct(chosen, 90):.2f})"
    )
    for name, (held_p, held_r) in held.items():
        print(
            f"    {name:14} held-out precision median {median(held_p):.3f}"
            f" (10-90%: {pct(held_p, 10):.3f}-{pct(held_p, 90):.3f}),"
            f" recall median {median(held_r):.3f}"
            f" (10-90%: {pct(held_r, 10):.3f}-{pct(held_r, 90):.3f})"
        )


def library_alternative(pairs: list[dict[str, object]], labels: list[bool]) -> None:
    try:
        from rapidfuzz import fuzz
    except ImportError:
        print("  (rapidfuzz not installed: library comparison skipped)")
        return
    scores = [
        fuzz.token_set_ratio(
            normalise_title(p["a"]["title"]),  # type: ignore[index]
            normalise_title(p["b"]["title"]),  # type: ignore[index]
        )
        / 100
        for p in pairs
    ]
    print("  rapidfuzz token_set_ratio on normalised headlines, for comparison:")
    for th in (0.7, 0.8, 0.9, 0.95, 1.0):
        p, r, _, fp, _ = precision_recall(labels, scores, th)
        print(f"    {th:4.2f}: precision {p:.3f} recall {r:.3f} fp {fp}")


# --- speed and memory ---------------------------------------------------------------


class Stories:
    """Synthetic news whose word frequencies look like the corpus's.

    Content words follow a Zipf-Mandelbrot law (rank r drawn with weight
    1/(r + 12)) over 200,000 made-up words, which puts the commonest headline
    term in about 5% of headlines, as "usa" and "trump" are in the corpus;
    function words are mixed in as in real text.  One story in four rewrites a
    recent one (a headline word changed, the lead trimmed).
    """

    FUNCTION_WORDS = (
        "the", "of", "to", "in", "on", "for", "and", "a", "is", "at", "with", "by",
        "from", "as", "says", "after", "over",
    )  # fmt: skip

    def __init__(self, seed: int, vocabulary: int = 200_000) -> None:
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        self.words = [
            "".join(self.rng.choice(letters) for _ in range(self.rng.randint(4, 10)))
            for _ in range(vocabulary)
        ]
        self.cum = list(itertools.accumulate(1 / (rank + 12) for rank in range(1, vocabulary + 1)))
        self.recent: list[tuple[list[str], list[str]]] = []

    def _draw(self, n: int) -> list[str]:
        out: list[str] = []
        for word in self.rng.choices(self.words, cum_weights=self.cum, k=n):
            if self.rng.random() < 0.35:
                out.append(self.rng.choice(self.FUNCTION_WORDS))
            out.append(word)
        return out

    def next(self) -> tuple[str, str]:
        if self.recent and self.rng.random() < 0.25:
            title, lead = self.rng.choice(self.recent)
            title = list(title)
            title[self.rng.randrange(len(title))] = self._draw(1)[-1]
            lead = lead[: self.rng.randint(15, max(15, len(lead)))]
        else:
            title, lead = self._draw(self.rng.randint(5, 8)), self._draw(self.rng.randint(18, 32))
        self.recent = [*self.recent[-199:], (title, lead)]
        return " ".join(title).capitalize(), " ".join(lead)

    def fingerprints(self, n: int) -> list[Fingerprint]:
        return [fingerprint(*self.next()) for _ in range(n)]


class NaiveWindow:
    """The reference: score every entry of the window."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.entries: list[tuple[int, datetime, Fingerprint]] = []

    def add(self, key: int, fp: Fingerprint, at: datetime) -> None:
        self.entries.append((key, at, fp))

    def evict(self, before: datetime) -> None:
        while self.entries and self.entries[0][1] < before:
            self.entries.pop(0)

    def find(self, fp: Fingerprint) -> int | None:
        best = None
        for order, (key, at, other) in enumerate(self.entries):
            score = similarity(fp, other)
            if score >= self.threshold and (best is None or (score, at, order) > best[0]):
                best = ((score, at, order), key)
        return None if best is None else best[1]


def fill(index: ClusterIndex | NaiveWindow, fps: Sequence[Fingerprint]) -> None:
    for i, fp in enumerate(fps):
        index.add(i, fp, T0 + timedelta(minutes=i))


def steady_state(
    index: ClusterIndex | NaiveWindow, window: int, probes: Sequence[Fingerprint]
) -> tuple[float, list[int | None]]:
    """Stories/s of find + add + evict with ``window`` stories kept in the window."""
    answers: list[int | None] = []
    start = time.perf_counter()
    for j, fp in enumerate(probes):
        i = window + j
        now = T0 + timedelta(minutes=i)
        key = index.find(fp)
        answers.append(key)
        index.add(i if key is None else key, fp, now)
        index.evict(now - timedelta(minutes=window - 1))
    return len(probes) / (time.perf_counter() - start), answers


def measure_memory(build: Callable[[], object]) -> float:
    """MiB held by what ``build`` returns, as traced by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del kept
    return (after - before) / 2**20


def speed(quick: bool) -> None:
    stories = Stories(seed=8)
    sizes = (1_000, 100_000)
    probes_n = 2_000 if quick else 10_000
    total = sizes[-1] + probes_n
    start = time.perf_counter()
    fps = stories.fingerprints(total)
    fp_rate = total / (time.perf_counter() - start)
    print(f"\nsynthetic stories: {total:,}; fingerprint() {fp_rate:,.0f} stories/s")
    print(
        "   window  find+add/s  with fingerprint()/s  candidates/find"
        "  memory (index + its fingerprints)"
    )
    for size in sizes:
        window, probes = fps[:size], fps[size : size + probes_n]
        index = ClusterIndex()
        fill(index, window)
        candidates = sum(len(index._candidates(fp)) for fp in probes[:500]) / 500
        rate, answers = steady_state(index, size, probes)
        hits = sum(a is not None for a in answers) / len(answers)
        stored = [fp.to_json() for fp in window]
        memory = measure_memory(functools.partial(_rebuilt, stored))
        end_to_end = 1 / (1 / rate + 1 / fp_rate)
        print(
            f"  {size:7,d}  {rate:10,.0f}  {end_to_end:20,.0f}  {candidates:15.1f}"
            f"  {memory:7.1f} MiB  ({hits:.0%} of probes joined a cluster)"
        )
    print(f"  peak RSS of this process so far: {peak_rss_mib():.0f} MiB")
    naive(fps, quick)


def _rebuilt(stored: Sequence[str]) -> ClusterIndex:
    """The index as start-up builds it: fingerprints parsed from their stored JSON."""
    index = ClusterIndex()
    fill(index, [Fingerprint.from_json(text) for text in stored])
    return index


def naive(fps: Sequence[Fingerprint], quick: bool) -> None:
    print("  naive scan of the window, same probes (the baseline):")
    for size, probes_n in ((1_000, 300 if quick else 1_000), (10_000, 30 if quick else 100)):
        window, probes = fps[:size], fps[size : size + probes_n]
        scan = NaiveWindow(DEFAULT_THRESHOLD)
        fill(scan, window)
        rate, expected = steady_state(scan, size, probes)
        index = ClusterIndex()
        fill(index, window)
        _, got = steady_state(index, size, probes)
        agree = "same answers as the index" if got == expected else "DIFFERENT ANSWERS"
        print(f"  {size:7,d}  {rate:10,.0f}  ({len(probes)} probes: {agree})")


def datasketch_alternative(quick: bool) -> None:
    """The library route: datasketch MinHashLSH over the same stories' word shingles."""
    try:
        from datasketch import MinHash, MinHashLSH
    except ImportError:
        print("  (datasketch not installed: comparison skipped)")
        return
    n = 20_000 if quick else 100_000
    stories = Stories(seed=8)
    sketches = []
    for _ in range(n):
        title, lead = stories.next()
        tokens = f"{title} {lead}".lower().split()
        sketch = MinHash(num_perm=64, seed=1)
        sketch.update_batch([" ".join(tokens[i : i + 3]).encode() for i in range(len(tokens) - 2)])
        sketches.append(sketch)
    holder: dict[str, MinHashLSH] = {}

    def build() -> MinHashLSH:
        lsh = MinHashLSH(threshold=0.5, num_perm=64)
        for i, sketch in enumerate(sketches):
            lsh.insert(i, sketch)
        holder["lsh"] = lsh
        return lsh

    memory = measure_memory(build)
    lsh = holder.pop("lsh")
    start = time.perf_counter()
    for sketch in sketches[:2_000]:
        lsh.query(sketch)
    rate = 2_000 / (time.perf_counter() - start)
    print(
        f"\ndatasketch MinHashLSH (64 permutations, threshold 0.5) over {n:,} stories: "
        f"query {rate:,.0f}/s, tables {memory:.0f} MiB (sketches not counted)"
    )


def replay() -> None:
    """The bound on holders walked, on real news in the order it was published."""
    from watcher.core.cluster import story_fingerprint
    from watcher.core.parse import parse_feed

    if not CORPUS.is_dir():
        print("\nreplay: ../shared/corpus absent, skipped")
        return
    dated: list[tuple[datetime, Fingerprint]] = []
    for path in sorted(CORPUS.iterdir()):
        try:
            parsed = parse_feed(path.stem, path.read_bytes(), content_type=None, url=path.name)
        except Exception:  # a broken feed of the corpus: the others still count
            continue
        for story in parsed.stories:
            if story.published and story.title:
                fp = story_fingerprint(story.title, story.summary, story.content)
                dated.append((story.published.replace(tzinfo=None), fp))
    dated.sort(key=lambda item: item[0])

    def run(terms: int, shingles: int) -> tuple[list[int | None], int]:
        saved = cluster.RECENT_TERM_HOLDERS, cluster.RECENT_SHINGLE_HOLDERS
        cluster.RECENT_TERM_HOLDERS, cluster.RECENT_SHINGLE_HOLDERS = terms, shingles
        try:
            index, answers, largest = ClusterIndex(), [], 0
            for i, (at, fp) in enumerate(dated):
                index.evict(at - DEFAULT_WINDOW)
                key = index.find(fp, at)
                answers.append(key)
                index.add(i if key is None else key, fp, at)
                largest = max(largest, len(index))
            return answers, largest
        finally:
            cluster.RECENT_TERM_HOLDERS, cluster.RECENT_SHINGLE_HOLDERS = saved

    every, largest = run(len(dated) + 1, len(dated) + 1)
    print(
        f"\nreplay: {len(dated):,} dated corpus stories in publication order,"
        f" {DEFAULT_WINDOW.total_seconds() / 3600:.0f}-hour window (at most {largest:,} in it)"
    )
    default = cluster.RECENT_TERM_HOLDERS, cluster.RECENT_SHINGLE_HOLDERS
    for terms, shingles in (default, (2, 2)):
        answers, _ = run(terms, shingles)
        differ = sum(a != b for a, b in zip(answers, every, strict=True))
        print(
            f"  last {terms} holders of a term, {shingles} of a shingle walked:"
            f" {sum(a is not None for a in answers)} joined a"
            f" cluster; {differ} answers differ from walking every holder"
            f" ({sum(a is not None for a in every)} joined)"
        )


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smaller samples")
    parser.add_argument(
        "--datasketch", action="store_true", help="also measure the MinHashLSH alternative"
    )
    args = parser.parse_args()
    quality()
    replay()
    speed(args.quick)
    if args.datasketch:
        datasketch_alternative(args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
