"""Seeded made-up vocabularies with Zipf word frequencies, for the benchmarks.

Used by bench_cluster_scale.py (the heavy-headed vocabulary) and by
bench_fetch.py ``--items-kind long``.  Words are pronounceable consonant-vowel
strings ("kamori", "tevu"), all distinct, none of them a real function word
(the clusterer's stopword list, when it has one, is excluded), so every word
of the text is a content word: the commonest ones are as common as "the" and
"of" are in real text, which is what stresses an index keyed by words.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable

CONSONANTS = "bdfgklmnprstvz"
VOWELS = "aeiou"


def real_function_words() -> frozenset[str]:
    """The clusterer's stopwords if it has a list (private, so optional), else nothing."""
    try:
        from watcher.core import cluster
    except ImportError:
        return frozenset()
    return frozenset(getattr(cluster, "_STOPWORDS", ()))


class ZipfVocabulary:
    """``size`` made-up words; rank r drawn with weight 1 / r**exponent.

    The commonest words are the shortest, as in real text.  With the default
    30,000 words and exponent 1.0 the commonest word is about 9% of all tokens,
    the ten commonest about 27%.
    """

    def __init__(
        self,
        seed: int,
        size: int = 30_000,
        exponent: float = 1.0,
        exclude: Iterable[str] = (),
    ) -> None:
        rng = random.Random(seed)
        seen = set(exclude)
        words: list[str] = []
        while len(words) < size:
            rank = len(words)
            syllables = 2 if rank < 200 else rng.choice((2, 3, 3, 3, 4))
            word = "".join(rng.choice(CONSONANTS) + rng.choice(VOWELS) for _ in range(syllables))
            if rank >= 200 and rng.random() < 0.3:
                word += rng.choice("nrst")
            if word not in seen:
                seen.add(word)
                words.append(word)
        self.words = words
        self.exponent = exponent
        self.cum = list(itertools.accumulate(1 / rank**exponent for rank in range(1, size + 1)))

    def draw(self, rng: random.Random, n: int) -> list[str]:
        return rng.choices(self.words, cum_weights=self.cum, k=n)

    def share(self, top: int) -> float:
        """Share of all tokens that are one of the ``top`` commonest words."""
        return self.cum[top - 1] / self.cum[-1]


def sentences(words: list[str], rng: random.Random, lo: int = 8, hi: int = 20) -> str:
    """Words as prose: sentences of ``lo``-``hi`` words, capitalised, with full stops."""
    out: list[str] = []
    i = 0
    while i < len(words):
        n = rng.randint(lo, hi)
        chunk = words[i : i + n]
        chunk[0] = chunk[0].capitalize()
        out.append(" ".join(chunk) + ".")
        i += n
    return " ".join(out)
