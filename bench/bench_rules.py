"""Benchmark: the indexed rule matcher against a naive one-regex-per-rule baseline.

Stories are recombined from the real feed corpus (../shared/corpus/feeds);
rules are drawn from the corpus vocabulary the way people write them (single
names, two words, phrases, OR groups, exclusions, a few prefixes).  Run with
``python bench/bench_rules.py`` (``--help`` for sizes); it prints a table of
stories per second.  Skips (exit 0) when the corpus is absent.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from watcher.core.models import RuleSpec, Story  # noqa: E402
from watcher.core.rules import Document, RuleBook, compile_rule, prepare  # noqa: E402
from watcher.core.text import fold, html_to_text, words  # noqa: E402

CORPUS = HERE.parent.parent / "shared" / "corpus" / "feeds"


@dataclass(frozen=True)
class Entry:
    feed: str
    title: str
    summary: str
    link: str | None
    categories: tuple[str, ...]


def load_entries(corpus: Path) -> list[Entry]:
    import feedparser  # only the benchmark needs it here

    entries: list[Entry] = []
    for path in sorted(corpus.iterdir()):
        parsed = feedparser.parse(path.read_bytes())
        for e in parsed.entries:
            title = str(e.get("title", "") or "")
            summary = str(e.get("summary", "") or "")
            if not title and not summary:
                continue
            tags = tuple(str(t.get("term") or "") for t in e.get("tags", []) if t.get("term"))
            entries.append(Entry(path.stem, title, summary, e.get("link"), tags))
    return entries


def build_stories(entries: Sequence[Entry], count: int, rng: random.Random) -> list[Story]:
    """Recombine titles and summaries within a feed, so each story stays in one language."""
    by_feed: dict[str, list[Entry]] = {}
    for entry in entries:
        by_feed.setdefault(entry.feed, []).append(entry)
    stories = []
    for i in range(count):
        first = rng.choice(entries)
        second = rng.choice(by_feed[first.feed])
        stories.append(
            Story(
                feed=first.feed,
                guid=f"bench-{i}",
                link=first.link,
                title=first.title,
                summary=second.summary,
                categories=first.categories,
            )
        )
    return stories


@dataclass(frozen=True)
class BenchRule:
    """One generated rule, rendered both in the rule language and as one regex."""

    query: str
    regex: str


def _w(word: str) -> str:
    return r"\b" + re.escape(word) + r"\b"


def make_rules(entries: Sequence[Entry], count: int, rng: random.Random) -> list[BenchRule]:
    texts = [words(fold(html_to_text(e.title + " . " + e.summary))) for e in entries]
    df = Counter(w for ws in texts for w in set(ws))
    n = len(texts)

    def usable(word: str, most: float) -> bool:
        return len(word) >= 4 and not word.isdigit() and 2 <= df[word] <= most * n

    names = sorted(w for w in df if usable(w, 0.01))  # what people watch: rare-ish words
    topics = sorted(w for w in df if usable(w, 0.05))  # a second word may be commoner
    bigrams = sorted(
        {
            (a, b)
            for ws in texts
            for a, b in itertools.pairwise(ws)
            if len(a) >= 3 and len(b) >= 3 and (usable(a, 0.01) or usable(b, 0.01))
        }
    )
    rules: list[BenchRule] = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.30:
            a = rng.choice(names)
            rules.append(BenchRule(a, _w(a)))
        elif kind < 0.55:
            a, b = rng.choice(names), rng.choice(topics)
            rules.append(BenchRule(f"{a} {b}", f"(?s)^(?=.*{_w(a)})(?=.*{_w(b)})"))
        elif kind < 0.73:
            a, b = rng.choice(bigrams)
            regex = r"\b" + re.escape(a) + r"\W+" + re.escape(b) + r"\b"
            rules.append(BenchRule(f'"{a} {b}"', regex))
        elif kind < 0.88:
            group = rng.sample(names, rng.randint(2, 4))
            alternatives = "|".join(re.escape(w) for w in group)
            rules.append(BenchRule(" OR ".join(group), rf"\b(?:{alternatives})\b"))
        elif kind < 0.96:
            a, b = rng.choice(names), rng.choice(topics)
            rules.append(BenchRule(f"{a} -{b}", f"(?s)^(?=.*{_w(a)})(?!.*{_w(b)})"))
        else:
            stem = rng.choice(names)[:5]
            rules.append(BenchRule(stem + "*", r"\b" + re.escape(stem) + r"\w*"))
    return rules


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def best_of(repeats: int, action: Callable[[], object]) -> float:
    """The fastest of a few runs: other processes on the machine only ever slow a run down."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times)


@dataclass(frozen=True)
class Row:
    indexed: float  # stories/s, prepare + match
    match_only: float  # stories/s, documents prepared beforehand
    naive: float  # stories/s
    checked: float  # rules evaluated per story after the index lookup
    hits: float  # per story, indexed
    naive_hits: float  # per story, naive (a sanity check that both do similar work)


def run_size(
    rules: Sequence[BenchRule],
    docs: Sequence[Document],
    plain: Sequence[str],
    prepare_s: float,
    repeats: int,
    naive_budget: float,
) -> Row:
    book = RuleBook(
        compile_rule(RuleSpec(name=f"r{i}", query=r.query)) for i, r in enumerate(rules)
    )
    match_s = best_of(repeats, lambda: [book.match(d) for d in docs])
    sample = range(max(20, min(len(plain), int(naive_budget * 15_000 / len(rules)))))
    compiled = [re.compile(r.regex, re.IGNORECASE) for r in rules]
    naive_hits: list[int] = []

    def naive() -> None:
        naive_hits[:] = [sum(1 for rx in compiled if rx.search(plain[i])) for i in sample]

    naive_s = best_of(1, naive)
    return Row(
        indexed=rate(len(docs), prepare_s + match_s),
        match_only=rate(len(docs), match_s),
        naive=rate(len(sample), naive_s),
        checked=statistics.mean(len(book.candidates(docs[i])) for i in sample),
        hits=statistics.mean(len(book.match(docs[i])) for i in sample),
        naive_hits=statistics.mean(naive_hits),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--stories", type=int, default=20_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1_000, 10_000])
    parser.add_argument(
        "--naive-budget",
        type=float,
        default=10.0,
        help="about how many seconds of naive matching per size (it runs on a sample)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per timing; the best counts")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    args = parser.parse_args(argv)

    if not args.corpus.is_dir():
        print(f"skipped: no corpus at {args.corpus}")
        return 0
    rng = random.Random(args.seed)
    entries = load_entries(args.corpus)
    stories = build_stories(entries, args.stories, rng)
    print(f"{len(entries)} corpus entries -> {len(stories):,} stories; one core, CPython")

    docs: list[Document] = []

    def prepare_all() -> None:
        docs[:] = [prepare(s) for s in stories]

    prepare_s = best_of(args.repeats, prepare_all)
    # The baseline gets its text stripped for free: only its regexes are timed.
    plain = [html_to_text(s.title) + "\n" + html_to_text(s.summary) for s in stories]
    print(f"prepare (HTML strip, fold, word sets): {rate(len(docs), prepare_s):,.0f} stories/s")
    print()
    header = (
        f"{'rules':>7} {'indexed/s':>10} {'match only/s':>13} {'naive/s':>9} {'speed-up':>9}"
        f" {'checked/story':>13} {'hits/story':>10} {'naive hits':>10}"
    )
    print(header)
    print("-" * len(header))
    for size in args.sizes:
        rules = make_rules(entries, size, random.Random(args.seed + size))
        row = run_size(rules, docs, plain, prepare_s, args.repeats, args.naive_budget)
        print(
            f"{size:>7,} {row.indexed:>10,.0f} {row.match_only:>13,.0f}"
            f" {row.naive:>9,.1f} {row.indexed / row.naive:>8,.0f}x {row.checked:>13.1f}"
            f" {row.hits:>10.2f} {row.naive_hits:>10.2f}"
        )
    print()
    print("indexed/s: prepare + match, end to end (what the daemon pays per story);")
    print("match only/s: documents already prepared; checked/story: rules evaluated after")
    print("the index lookup; naive/s: one compiled `re` word-boundary regex per rule, tried")
    print(f"on every story of a sample ({args.naive_budget:g}s budget), text stripped untimed.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
