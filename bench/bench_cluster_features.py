"""Issue 14's suggested features for the clusterer, measured held-out on the labelled pairs.

    python bench/bench_cluster_features.py            # about 10 s; needs ../shared/corpus

What the issue suggests beyond the current rule (``similarity``): weights
learned from the stream (IDF: terms many stories share weigh little), named
entities (capitalised names, acronyms, numbers), which survive translation,
and a learned combination.  Each is scored here on
tests/data/cluster_pairs.jsonl, alone and combined by a small logistic
regression, and judged as the clusterer would be: precision first.

Document frequencies: the labelled pairs have no window around them, so the
DF of a term is the number of corpus stories (every entry of
../shared/corpus/feeds, about 3,000, fingerprinted with ``fingerprint``)
whose headline or lead terms hold it; the pairs' own stories are among them,
as a story is in its own window.  IDF is ln((N + 1) / (DF + 1)).

Held-out: 100 random halvings of the pairs; on one half the logistic
regression is fitted (where there is one) and the threshold chosen, the
lowest at which precision reaches 0.97 on that half; the other half is
scored at that threshold.  Medians are reported, with the 10-90% range, for
same-language and cross-language pairs separately.  "In-sample" is the best
recall at precision >= 0.97 with the threshold chosen on all pairs, an upper
bound that flatters every feature.

Time apart (the issue's "time in the score"): the corpus pairs whose two
entries both carry a date, the hours between them by category, and each
feature's in-sample recall when pairs further apart than 24, 12, 6 or 3 hours
may not merge.
"""

from __future__ import annotations

import math
import random
import re
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from statistics import median
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from watcher.core import cluster  # noqa: E402
from watcher.core.cluster import Fingerprint, fingerprint, similarity  # noqa: E402
from watcher.core.text import html_to_text  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
FLOOR = 0.97
GATES = (None, 24, 12, 6, 3)  # hours: a pair further apart than this may not merge
_WORD = re.compile(r"\w[\w'’.-]*\w|\w")


def entities(title: str, lead: str) -> frozenset[str]:
    """Stemmed terms of the capitalised words (not opening a sentence), acronyms and numbers."""
    raw: set[str] = set()
    lead_words = _WORD.findall(cluster.normalise_lead(lead))[: cluster.LEAD_WORDS]
    title_words = _WORD.findall(html_to_text(title))
    for words, sentence_start in ((title_words, {0}), (lead_words, {0})):
        for i, w in enumerate(words):
            opens = i in sentence_start or (i > 0 and words[i - 1].endswith("."))
            if (
                any(c.isdigit() for c in w)
                or (len(w) > 1 and w.isupper())
                or (w[0].isupper() and not opens)
            ):
                raw.add(w)
    out: set[str] = set()
    for w in raw:
        out.update(cluster._content_terms(cluster._tokens(w, abbreviations=True)))
    return frozenset(out)


class Side:
    def __init__(self, title: str, lead: str) -> None:
        self.fp: Fingerprint = fingerprint(title, lead)
        self.title = frozenset(self.fp.title)
        self.lead = frozenset(self.fp.lead)
        self.terms = self.title | self.lead
        self.entities = entities(title, lead)


def weighted(terms: frozenset[str], idf: Callable[[str], float]) -> float:
    # fsum: exact, so a set's order (string hashes vary by process) cannot move a tie.
    return math.fsum(idf(t) for t in terms)


def features(
    a: Side, b: Side, idf: Callable[[str], float], eidf: Callable[[str], float]
) -> dict[str, float]:
    shared = a.title & b.title
    explained = ((a.title - b.title) & b.lead) | ((b.title - a.title) & a.lead)
    union = weighted(a.title | b.title, idf)
    headline = weighted(shared | explained, idf) / union if union else 0.0
    dot = math.fsum(idf(t) ** 2 for t in a.terms & b.terms)
    norm = math.sqrt(
        math.fsum(idf(t) ** 2 for t in a.terms) * math.fsum(idf(t) ** 2 for t in b.terms)
    )
    eunion = weighted(a.entities | b.entities, eidf)
    na, nb = cluster._numbers(a.title), cluster._numbers(b.title)
    return {
        "rule": similarity(a.fp, b.fp),
        "idf_headline": headline,
        "idf_cosine": dot / norm if norm else 0.0,
        "entities": weighted(a.entities & b.entities, eidf) / eunion if eunion else 0.0,
        "numbers_differ": float(bool(na - nb and nb - na)),
    }


def fit_logistic(rows: Sequence[Sequence[float]], labels: Sequence[bool]) -> list[float]:
    """Weights (bias last) of an L2-regularised logistic regression, by Newton's method."""
    k = len(rows[0]) + 1
    xs = [[*x, 1.0] for x in rows]
    w = [0.0] * k
    for _ in range(25):
        grad = [0.01 * wi for wi in w]
        hess = [[0.01 * (i == j) for j in range(k)] for i in range(k)]
        for x, y in zip(xs, labels, strict=True):
            z = max(-30.0, min(30.0, sum(wi * xi for wi, xi in zip(w, x, strict=True))))
            p = 1 / (1 + math.exp(-z))
            for i in range(k):
                grad[i] += (p - y) * x[i]
                for j in range(k):
                    hess[i][j] += p * (1 - p) * x[i] * x[j]
        step = solve(hess, grad)
        w = [wi - si for wi, si in zip(w, step, strict=True)]
        if max(abs(si) for si in step) < 1e-6:
            break
    return w


def solve(a: list[list[float]], b: list[float]) -> list[float]:
    """a x = b by Gauss-Jordan elimination with partial pivoting (a is small, positive definite)."""
    n = len(b)
    m = [[*row, v] for row, v in zip(a, b, strict=True)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(n):
            if r != c:
                f = m[r][c] / m[c][c]
                m[r] = [vr - f * vc for vr, vc in zip(m[r], m[c], strict=True)]
    return [m[i][n] / m[i][i] for i in range(n)]


def apply(w: Sequence[float], x: Sequence[float]) -> float:
    return sum(wi * xi for wi, xi in zip(w, x, strict=False)) + w[-1]


def pick(labels: Sequence[bool], scores: Sequence[float]) -> float:
    """Lowest threshold at which precision reaches FLOOR (infinity: none does)."""
    ranked = sorted(zip(scores, labels, strict=True), reverse=True)
    tp = fp = 0
    best = math.inf
    for i, (score, label) in enumerate(ranked):
        tp += label
        fp += not label
        if i + 1 < len(ranked) and ranked[i + 1][0] == score:
            continue
        if tp / (tp + fp) >= FLOOR:
            best = score
    return best


def rates(labels: Sequence[bool], scores: Sequence[float], th: float) -> tuple[float, float]:
    tp = sum(1 for y, s in zip(labels, scores, strict=True) if y and s >= th)
    fp = sum(1 for y, s in zip(labels, scores, strict=True) if not y and s >= th)
    return (tp / (tp + fp) if tp + fp else 1.0), tp / max(1, sum(labels))


def pct(values: Sequence[float], q: int) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, len(ordered) * q // 100)]


def table(
    combos: Sequence[tuple[str, list[str]]],
    rows: Sequence[dict[str, float]],
    labels: Sequence[bool],
    cross: Sequence[bool],
    chosen: Sequence[int],
) -> None:
    print(
        f"  {'score':34} {'in-sample R':>11}  {'held-out P':>18}  {'same-lang R':>18}  "
        f"{'cross-lang R':>18}"
    )
    ys = [labels[i] for i in chosen]
    cs = [cross[i] for i in chosen]
    for label, cols in combos:
        x = [[rows[i][c] for c in cols] for i in chosen]
        learned = len(cols) > 1

        def scorer(
            fit: Sequence[int], x: list[list[float]] = x, learned: bool = learned
        ) -> list[float]:
            if not learned:
                return [v[0] for v in x]
            w = fit_logistic([x[i] for i in fit], [ys[i] for i in fit])
            return [apply(w, v) for v in x]

        everything = list(range(len(chosen)))
        scores = scorer(everything)
        _, in_sample = rates(ys, scores, pick(ys, scores))
        rng = random.Random(0)
        held: tuple[list[float], list[float], list[float]] = ([], [], [])
        for _ in range(100):
            order = everything[:]
            rng.shuffle(order)
            fit, test = order[::2], order[1::2]
            s = scorer(fit) if learned else scores
            th = pick([ys[i] for i in fit], [s[i] for i in fit])
            held[0].append(rates([ys[i] for i in test], [s[i] for i in test], th)[0])
            for part, kept in ((held[1], False), (held[2], True)):
                sub = [i for i in test if cs[i] == kept]
                if any(ys[i] for i in sub):
                    part.append(rates([ys[i] for i in sub], [s[i] for i in sub], th)[1])

        def cell(v: list[float]) -> str:
            if not v:
                return "-"
            return f"{median(v):.3f} ({pct(v, 10):.2f}-{pct(v, 90):.2f})"

        print(
            f"  {label:34} {in_sample:11.3f}  {cell(held[0]):>18}  {cell(held[1]):>18}  "
            f"{cell(held[2]):>18}"
        )


def main() -> int:
    if not CORPUS.is_dir():
        print(f"{CORPUS} absent: document frequencies cannot be estimated")
        return 0
    from bench_cluster import load_pairs
    from bench_cluster_scale import load_corpus

    corpus = load_corpus(CORPUS)
    df: Counter[str] = Counter()
    edf: Counter[str] = Counter()
    for _, title, lead in corpus:
        fp = fingerprint(title, lead)
        df.update(set(fp.title) | set(fp.lead))
        edf.update(entities(title, lead))
    n = len(corpus)

    def idf(t: str) -> float:
        return math.log((n + 1) / (df[t] + 1))

    def eidf(t: str) -> float:
        return math.log((n + 1) / (edf[t] + 1))

    pairs = load_pairs()
    labels = [bool(p["same"]) for p in pairs]
    cross = [bool(p.get("cross_language")) for p in pairs]
    rows = [
        features(
            Side(p["a"]["title"], p["a"]["lead"]), Side(p["b"]["title"], p["b"]["lead"]), idf, eidf
        )
        for p in pairs
    ]
    names = list(rows[0])
    print(f"{len(pairs)} labelled pairs; DF from {n:,} corpus stories; precision floor {FLOOR}")
    combos: list[tuple[str, list[str]]] = [(name, [name]) for name in names[:-1]]
    combos += [
        ("LR rule + idf_headline + numbers", ["rule", "idf_headline", "numbers_differ"]),
        ("LR idf_cosine + entities + numbers", ["idf_cosine", "entities", "numbers_differ"]),
        ("LR all five", names),
    ]
    every = list(range(len(pairs)))
    print("all pairs, one threshold (as the clusterer has), held-out over 100 halvings:")
    table(combos, rows, labels, cross, every)
    print("cross-language pairs alone (their own threshold, as a rule for them alone would be):")
    table(combos, rows, labels, cross, [i for i in every if cross[i]])
    shared_figures(pairs, [fingerprint(t, lead) for _, t, lead in corpus])
    time_apart(pairs, rows, labels)
    return 0


def time_apart(
    pairs: Sequence[dict[str, Any]], rows: Sequence[dict[str, float]], labels: Sequence[bool]
) -> None:
    """Would time in the score separate rewrites from follow-ups?  On the corpus pairs
    whose two entries are dated: hours apart by category, and each feature's recall at
    precision FLOOR when only pairs within a gate may merge (in sample: an upper bound)."""
    from mine_cluster_pairs import load_ref

    cache: dict[str, Any] = {}
    dated: list[tuple[int, float]] = []
    for i, p in enumerate(pairs):
        if p["source"] == "hand":
            continue
        a, b = (load_ref(ref, cache).published for ref in p["source"])
        if a is not None and b is not None:
            dated.append((i, abs((a - b).total_seconds()) / 3600))
    same = sum(labels[i] for i, _ in dated)
    print(
        f"time apart: {len(dated)} corpus pairs with both entries dated ({same} same event);"
        " hours between the two:"
    )
    by: dict[tuple[bool, str], list[float]] = {}
    for i, hours in dated:
        by.setdefault((labels[i], str(pairs[i]["category"])), []).append(hours)
    for (label, category), hours in sorted(by.items(), key=lambda kv: (not kv[0][0], kv[0][1])):
        within = sum(h <= 12 for h in hours)
        print(
            f"  {'same' if label else 'not':4} {category:13} {len(hours):3} pairs  median"
            f" {median(hours):5.1f} h (10-90%: {pct(hours, 10):.1f}-{pct(hours, 90):.1f})"
            f"  within 12 h: {within}"
        )
    ys = [labels[i] for i, _ in dated]
    print(f"  recall at precision >= {FLOOR} when only pairs within a gate may merge:")
    print(
        "  "
        + f"{'score':13}"
        + "".join(f"{'no gate' if g is None else f'{g} h':>9}" for g in GATES)
    )
    for name in ("rule", "idf_headline", "idf_cosine", "entities"):
        cells = []
        for gate in GATES:
            s = [rows[i][name] if gate is None or h <= gate else 0.0 for i, h in dated]
            cells.append(rates(ys, s, pick(ys, s))[1])
        print("  " + f"{name:13}" + "".join(f"{c:9.3f}" for c in cells))


def distinctive(term: str) -> bool:
    """A figure that could single out an event: not a day of the month, not a year."""
    return term.isdigit() and int(term) > 31 and not 1900 <= int(term) <= 2099


def figure_score(a: Fingerprint, b: Fingerprint, others: int) -> float:
    """0.85 when both headlines carry the same distinctive figure ("40 of 47", "11.25%"),
    no other figure differs, and ``others`` more headline terms are shared or explained."""
    ta, tb, la, lb = set(a.title), set(b.title), set(a.lead), set(b.lead)
    if not {t for t in ta & tb if distinctive(t)}:
        return 0.0
    na, nb = cluster._numbers(frozenset(ta)), cluster._numbers(frozenset(tb))
    if na - nb and nb - na:
        return 0.0
    agree = (ta & tb) | ((ta - tb) & lb) | ((tb - ta) & la)
    return 0.85 if sum(not t.isdigit() for t in agree) >= others else 0.0


def shared_figures(pairs: Sequence[dict[str, Any]], corpus: Sequence[Fingerprint]) -> None:
    """The rule or a shared headline figure: on the pairs, and how many corpus pairs it joins."""
    print(
        "the rule, or a distinctive figure both headlines carry (0.85), at the default threshold:"
    )
    sides = [(fingerprint(**_side(p["a"])), fingerprint(**_side(p["b"]))) for p in pairs]
    holders: dict[str, list[int]] = {}
    for i, fp in enumerate(corpus):
        for t in set(fp.title):
            if distinctive(t):
                holders.setdefault(t, []).append(i)
    candidates = {
        (x, y) for held in holders.values() for k, x in enumerate(held) for y in held[k + 1 :]
    }
    for others in (None, 0, 1, 2):
        tp = fp = same_lang = cross_lang = 0
        for p, (a, b) in zip(pairs, sides, strict=True):
            score = similarity(a, b)
            if others is not None:
                score = max(score, figure_score(a, b, others))
            if score >= cluster.DEFAULT_THRESHOLD:
                tp += p["same"]
                fp += not p["same"]
                same_lang += p["same"] and not p.get("cross_language")
                cross_lang += p["same"] and bool(p.get("cross_language"))
        joined = sum(
            1
            for x, y in candidates
            if similarity(corpus[x], corpus[y]) >= cluster.DEFAULT_THRESHOLD
            or (others is not None and figure_score(corpus[x], corpus[y], others) > 0)
        )
        n_same = sum(1 for p in pairs if p["same"] and not p.get("cross_language"))
        n_cross = sum(1 for p in pairs if p["same"] and p.get("cross_language"))
        label = "the rule alone" if others is None else f"+ figure, {others} other terms"
        print(
            f"  {label:26} precision {tp / (tp + fp):.3f}  same-language recall "
            f"{same_lang / n_same:.3f}  cross-language recall {cross_lang / n_cross:.3f}  "
            f"corpus pairs sharing a headline figure joined: {joined} of {len(candidates)}"
        )


def _side(side: dict[str, Any]) -> dict[str, str]:
    return {"title": side["title"], "lead": side["lead"]}


if __name__ == "__main__":
    sys.exit(main())
