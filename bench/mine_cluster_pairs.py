"""Mine same-event story pairs from the shared feed corpus for the clustering labelled set.

The corpus is not ours to copy, so this script is how the corpus part of
``tests/data/cluster_pairs.jsonl`` is made and checked without pasting feeds
into the repo: the pairs are chosen and labelled by hand (``CORPUS_PAIRS``
below, entries named ``file#index`` in feedparser order), and only a short title
and lead excerpt of each side is written out.

    python bench/mine_cluster_pairs.py candidates [--min-shared 2] [--limit 300]
        list cross-outlet and same-feed pairs worth a human look
    python bench/mine_cluster_pairs.py show FILE#INDEX ...
        print entries in full, to label them
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
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from watcher.core.text import fold, html_to_text, words  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
PAIRS = ROOT / "tests" / "data" / "cluster_pairs.jsonl"
TITLE_MAX = 200
LEAD_MAX = 240
WINDOW = timedelta(hours=72)

# Words too common to make two headlines look alike (ranking aid only).
_NAIVE_STOP = frozenset(
    "a an the of to in on at for and or is are was were be has have had with from by as "
    "that this it its after over new says said say will not no but de la le les des du "
    "et en un une der die das und den von zu mit im el los las y que del".split()
)

# (id, same event?, category, entry a, entry b, note).  Labelled by reading
# both items; see tests/data/README.md for the rules applied.
CORPUS_PAIRS: list[tuple[str, bool, str, str, str, str]] = []


@dataclass(frozen=True)
class Entry:
    ref: str
    title: str
    lead: str
    published: datetime | None


def repair_mojibake(text: str) -> str:
    """Undo UTF-8 read as cp1252 (several saved feeds are double-encoded); else leave as is."""
    if not any(marker in text for marker in ("Ã", "â€", "Â")):
        return text
    try:
        return text.encode("cp1252").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


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
    return datetime(*parsed[:6], tzinfo=UTC)


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
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
