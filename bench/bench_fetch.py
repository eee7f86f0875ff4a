"""Benchmark: a full poll of 1,000 feeds served from loopback, against a naive feedparser loop.

Issue 5.  Feeds of 50 items are rebuilt from the real corpus (../shared/corpus/feeds):
real titles, links, HTML summaries, authors, categories and (for about one item in
eight) content:encoded, each link made unique per feed, dated over the last ~33
hours so that every item is recent enough to be matched.  The corpus holds ~2,900
stories, so each story text appears in about 17 of the 1,000 feeds.  An asyncio
HTTP/1.1 server in a separate process serves them gzipped from many loopback hosts
(127.0.0.2, 127.0.0.3, ...), each answer delayed (100 ms by default) as a remote
server's would be; it sends an ETag and answers 304 to a matching If-None-Match.

Each measurement runs in a fresh child process, so its peak memory (VmHWM) is its own:

- pass 1: ``await pipeline.poll_all(force=True)`` on an empty database
  (fetch, parse, dedupe, match, store), with the default thread pool and with a
  pool of N worker processes (config ``workers: N``) (``--executors``
  picks others, e.g. ``process:1``);
- pass 2: the same again, every feed answering 304;
- a profiled pass 1 (cProfile, parsing inline on the loop so that one profile
  sees every stage), reported by stage; with ``--profile-main``, the event loop's
  process alone while two workers parse and analyse (``BENCH_PROFILE_OUT=file``
  also saves the raw profile for pstats);
- during each pass a task sleeping 10 ms in a loop records how late it wakes
  (how long something held the event loop).

The naive baseline is a sequential loop of ``feedparser.parse(url)`` (urllib
fetches) over a sample of the same feeds, scaled to all of them.

With ``--items-kind long`` the items are synthetic instead (no corpus needed): a
50-word summary and 200 words of content:encoded each, words drawn from a seeded
Zipf vocabulary of 30,000 made-up words, every title unique, and rules written in
that vocabulary.  ``--scale-feeds 200 1000`` runs each configuration on the first
200 and on all 1,000 feeds and compares pass 1's cost per story.

Run with ``python bench/bench_fetch.py`` (``--help`` for sizes).  Only loopback
addresses are used; the server stops by itself when the benchmark ends or after
``--server-lifetime`` seconds.  Skips (exit 0) when the corpus is absent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import functools
import gc
import gzip
import io
import json
import logging
import multiprocessing
import os
import pstats
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit, urlunsplit
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CORPUS = ROOT.parent / "shared" / "corpus" / "feeds"
CONTENT_CAP = 20_000  # characters of content:encoded kept per item (a few corpus items are huge)

# Realistic watch rules written from the corpus vocabulary (see docs/rules.md).
RULES: tuple[tuple[str, str], ...] = (
    ("trump-russia", "Trump AND (Russia OR Putin OR Moscow)"),
    ("prime-minister", '"prime minister"'),
    ("syria-rebels", "Syria* AND rebel*"),
    ("white-house", '"White House" -Trump'),
    ("iran-israel", "Iran AND Israel*"),
    ("supreme-court", '"supreme court"'),
    ("shooting", "(shooting OR gunman) AND (airport OR police)"),
    ("north-korea", '"North Korea" OR Pyongyang'),
    ("kremlin", "Putin OR Kremlin"),
    ("india-pakistan", "India AND Pakistan"),
    ("china-trade", "China AND (trade OR tariff*)"),
    ("eu", '"European Union" OR Brussels'),
    ("climate", "climate NEAR/3 change"),
    ("big-tech", "(Microsoft OR Google OR Apple OR Facebook) AND (antitrust OR privacy)"),
    ("open-source", 'Linux OR "open source"'),
    ("outbreak", "hospital* AND (outbreak OR virus OR vaccin*)"),
    ("election", "election* AND (fraud OR recount OR ballot*)"),
    ("saudi", '"Saudi Arabia" OR Riyadh'),
    ("japan-title", "title:(Japan OR Tokyo)"),
    ("germany", "Merkel OR Bundesregierung OR Bundestag"),
    ("russia-ru", "Путин OR Кремль"),
)

P = ParamSpec("P")
T = TypeVar("T")


# ---------------------------------------------------------------- /proc helpers


def proc_status(pid: int | str = "self") -> dict[str, int]:
    """The ``Vm*`` lines of /proc/PID/status, in kB (empty if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Vm") and value.strip():
            values[key] = int(value.split()[0])
    return values


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (0 if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> float:
    """CPU seconds all CPUs of the machine have spent busy since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def mb(kilobytes: float) -> float:
    return kilobytes / 1024


# ---------------------------------------------------------------- the feeds


@dataclass(frozen=True)
class CorpusEntry:
    source: str
    title: str
    link: str
    summary: str
    content: str
    author: str
    categories: tuple[str, ...]


def load_entries(corpus: Path) -> list[CorpusEntry]:
    import feedparser  # only the server process needs the corpus

    entries: list[CorpusEntry] = []
    for path in sorted(corpus.iterdir()):
        parsed = feedparser.parse(path.read_bytes())
        for e in parsed.entries:
            title = str(e.get("title", "") or "").strip()
            link = str(e.get("link", "") or "").strip()
            if not title or not link.startswith(("http://", "https://")):
                continue
            content = " ".join(
                str(part.get("value", "")) for part in e.get("content", []) if part.get("value")
            )
            entries.append(
                CorpusEntry(
                    source=path.stem,
                    title=title,
                    link=link,
                    summary=str(e.get("summary", "") or ""),
                    content=content[:CONTENT_CAP],
                    author=str(e.get("author", "") or ""),
                    categories=tuple(
                        str(t.get("term")) for t in e.get("tags", []) if t.get("term")
                    ),
                )
            )
    return entries


def unique_link(link: str, feed: int, item: int) -> str:
    """The corpus story's link with a path segment making it a distinct story."""
    parts = urlsplit(link)
    path = parts.path.rstrip("/") + f"/w{feed}-{item}"
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def build_feed(
    index: int, picks: Sequence[CorpusEntry], now: datetime, rng: random.Random
) -> bytes:
    """One RSS 2.0 document: real stories, unique links, dated over the last ~33 hours."""
    source = picks[0].source
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
        f"<title>{escape(source)} (bench feed {index})</title>\n"
        f"<link>https://bench.invalid/{source}/{index}</link>\n"
        f"<description>Stories from {escape(source)}, rebuilt for the benchmark</description>\n"
        f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>\n"
    ]
    for j, entry in enumerate(picks):
        link = escape(unique_link(entry.link, index, j))
        published = now - timedelta(minutes=40 * j + rng.randrange(40))
        out.append(
            "<item>\n"
            f"<title>{escape(entry.title)}</title>\n"
            f"<link>{link}</link>\n"
            f'<guid isPermaLink="true">{link}</guid>\n'
            f"<pubDate>{format_datetime(published)}</pubDate>\n"
        )
        if entry.author:
            out.append(f"<dc:creator>{escape(entry.author)}</dc:creator>\n")
        out.extend(f"<category>{escape(c)}</category>\n" for c in entry.categories[:5])
        out.append(f"<description>{escape(entry.summary)}</description>\n")
        if entry.content:
            out.append(f"<content:encoded>{escape(entry.content)}</content:encoded>\n")
        out.append("</item>\n")
    out.append("</channel>\n</rss>\n")
    return "".join(out).encode("utf-8")


def build_feeds(entries: Sequence[CorpusEntry], feeds: int, items: int, seed: int) -> list[bytes]:
    """Feed i starts with the stories of one corpus outlet, topped up from the whole corpus."""
    rng = random.Random(seed)
    by_source: dict[str, list[CorpusEntry]] = {}
    for entry in entries:
        by_source.setdefault(entry.source, []).append(entry)
    sources = sorted(by_source)
    now = datetime.now(UTC)
    bodies = []
    for i in range(feeds):
        own = by_source[sources[i % len(sources)]][:items]
        picks = own + rng.sample(entries, items - len(own))
        bodies.append(build_feed(i, picks, now, rng))
    return bodies


LONG_VOCABULARY = 30_000  # made-up words, Zipf exponent 1.0 (bench/synthetic_text.py)
LONG_SUMMARY_WORDS = 50
LONG_CONTENT_WORDS = 200


def long_vocabulary(seed: int) -> Any:
    from synthetic_text import ZipfVocabulary, real_function_words

    return ZipfVocabulary(seed, LONG_VOCABULARY, 1.0, exclude=real_function_words())


def long_rules(seed: int) -> tuple[tuple[str, str], ...]:
    """21 rules of the shapes of RULES, in the long items' vocabulary (by word rank), chosen
    so that about one story in a hundred gives an alert (RULES: one in two hundred)."""
    w = long_vocabulary(seed).words
    return (
        ("rare-word", w[28_000]),
        ("word", w[22_000]),
        ("two-words", f"{w[900]} AND {w[1_400]}"),
        ("implicit-and", f"{w[700]} {w[2_000]}"),
        ("phrase", f'"{w[40]} {w[70]}"'),
        ("phrase-3", f'"{w[5]} {w[12]} {w[30]}"'),
        ("or-group", f"({w[12_000]} OR {w[17_000]}) AND {w[300]}"),
        ("and-or", f"{w[300]} AND ({w[4_000]} OR {w[5_000]})"),
        ("exclusion", f"{w[2_000]} {w[3_000]} -{w[400]}"),
        ("not", f"{w[1_200]} {w[2_600]} NOT {w[250]}"),
        ("near", f"{w[120]} NEAR/3 {w[180]}"),
        ("near-or", f"({w[150]} OR {w[160]}) NEAR/2 {w[600]}"),
        ("title-only", f"title:({w[3_000]} OR {w[4_500]})"),
        ("title-and", f"title:{w[200]} AND {w[3_000]}"),
        ("prefix", f"{w[2_500][:5]}* AND {w[600]}"),
        ("prefix-and", f"{w[1_800][:4]}* AND {w[2_200]}"),
        ("three-words", f"{w[100]} AND {w[600]} AND {w[1_200]}"),
        ("or-pairs", f"({w[900]} AND {w[1_100]}) OR ({w[1_300]} AND {w[1_700]})"),
        ("common-rare", f"{w[0]} AND {w[29_000]}"),
        ("rare-pair", f"({w[10_000]} OR {w[11_000]}) AND {w[150]}"),
        ("group-excl", f"({w[3_500]} OR {w[4_500]}) -{w[1]}"),
    )


def build_long_feeds(feeds: int, items: int, seed: int) -> list[bytes]:
    """Synthetic feeds: items of a 50-word summary and 200 words of content, titles unique."""
    from synthetic_text import sentences

    rng = random.Random(seed)
    vocabulary = long_vocabulary(seed)
    authors = [
        f"{a.capitalize()} {b.capitalize()}"
        for a, b in zip(vocabulary.words[1000:1200], vocabulary.words[3000:3200], strict=True)
    ]
    titles: set[str] = set()
    now = datetime.now(UTC)
    bodies = []
    for i in range(feeds):
        picks = []
        for j in range(items):
            title = ""
            while not title or title in titles:
                words = vocabulary.draw(rng, rng.randint(8, 12))
                title = " ".join(words).capitalize()
            titles.add(title)
            slug = "-".join(title.lower().split()[:5])
            summary = f"<p>{sentences(vocabulary.draw(rng, LONG_SUMMARY_WORDS), rng)}</p>"
            paragraphs = [LONG_CONTENT_WORDS // 4] * 4
            content = "".join(
                f"<p>{sentences(vocabulary.draw(rng, n), rng)}</p>\n" for n in paragraphs
            )
            picks.append(
                CorpusEntry(
                    source=f"long-{i % 50}",
                    title=title,
                    link=f"https://long.bench.invalid/news/{i}/{j}/{slug}",
                    summary=summary,
                    content=content,
                    author=rng.choice(authors),
                    categories=tuple(vocabulary.draw(rng, rng.randint(1, 3))),
                )
            )
        bodies.append(build_feed(i, picks, now, rng))
    return bodies


# ---------------------------------------------------------------- the server


@dataclass(frozen=True)
class ServedFeed:
    body: bytes
    gzipped: bytes
    etag: str
    last_modified: str


@dataclass
class ServerStats:
    requests: int = 0
    ok: int = 0
    not_modified: int = 0
    not_found: int = 0
    bytes_sent: int = 0
    active: int = 0
    max_active: int = 0
    connections: int = 0


def _response(status: str, headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    head = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class FeedServer:
    """A minimal keep-alive HTTP/1.1 server: GET only, one delayed answer per request."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.stats = ServerStats()

    async def handle(
        self,
        routes: dict[str, ServedFeed],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        stats = self.stats
        stats.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, version = [*lines[0].split(" ", 2), "", ""][:3]
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                stats.requests += 1
                stats.active += 1
                stats.max_active = max(stats.max_active, stats.active)
                try:
                    await asyncio.sleep(self.delay)
                finally:
                    stats.active -= 1
                data = self.answer(routes.get(target), method, headers)
                writer.write(data)
                await writer.drain()
                stats.bytes_sent += len(data)
                closing = headers.get("connection", "").lower() == "close"
                if closing or version.strip() != "HTTP/1.1":
                    break
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    def answer(self, feed: ServedFeed | None, method: str, headers: dict[str, str]) -> bytes:
        date = ("Date", format_datetime(datetime.now(UTC), usegmt=True))
        if feed is None or method not in ("GET", "HEAD"):
            self.stats.not_found += 1
            return _response("404 Not Found", [date, ("Content-Length", "9")], b"not found")
        validators = [("ETag", feed.etag), ("Last-Modified", feed.last_modified)]
        match = headers.get("if-none-match")
        fresh = (
            match == feed.etag
            if match is not None
            else headers.get("if-modified-since") == feed.last_modified
        )
        if fresh:
            self.stats.not_modified += 1
            return _response("304 Not Modified", [date, *validators])
        self.stats.ok += 1
        zipped = "gzip" in headers.get("accept-encoding", "")
        body = feed.gzipped if zipped else feed.body
        out = [
            date,
            ("Content-Type", "application/rss+xml; charset=utf-8"),
            *validators,
            ("Vary", "Accept-Encoding"),
            ("Content-Length", str(len(body))),
        ]
        if zipped:
            out.append(("Content-Encoding", "gzip"))
        return _response("200 OK", out, b"" if method == "HEAD" else body)


@dataclass(frozen=True)
class ServerSpec:
    corpus: Path
    feeds: int
    items: int
    hosts: int
    delay: float
    seed: int
    lifetime: float
    items_kind: str = "corpus"


def serve(spec: ServerSpec, conn: Connection) -> None:
    """Server process entry: build the feeds, listen, report the URLs, serve until told."""
    try:
        asyncio.run(_serve(spec, conn))
    except Exception as exc:  # tell the parent instead of leaving it waiting
        conn.send({"error": f"{type(exc).__name__}: {exc}"})


async def _serve(spec: ServerSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    if spec.items_kind == "long":
        entries: list[CorpusEntry] = []
        bodies = build_long_feeds(spec.feeds, spec.items, spec.seed)
    else:
        entries = load_entries(spec.corpus)
        bodies = build_feeds(entries, spec.feeds, spec.items, spec.seed)
    modified = format_datetime(datetime.now(UTC) - timedelta(minutes=5), usegmt=True)
    server = FeedServer(spec.delay)
    routes: list[dict[str, ServedFeed]] = [{} for _ in range(spec.hosts)]
    for i, body in enumerate(bodies):
        feed = ServedFeed(body, gzip.compress(body, 6), f'"bench-{spec.seed}-{i}"', modified)
        routes[i % spec.hosts][f"/feeds/{i}.rss"] = feed
    listeners: list[asyncio.Server] = []
    ports: list[int] = []
    for h in range(spec.hosts):
        handler = functools.partial(server.handle, routes[h])
        listener = await asyncio.start_server(handler, f"127.0.0.{2 + h}", 0, backlog=256)
        listeners.append(listener)
        ports.append(int(listener.sockets[0].getsockname()[1]))
    urls = [
        f"http://127.0.0.{2 + i % spec.hosts}:{ports[i % spec.hosts]}/feeds/{i}.rss"
        for i in range(spec.feeds)
    ]
    conn.send(
        {
            "urls": urls,
            "corpus_entries": len(entries),
            "raw_bytes": sum(len(b) for b in bodies),
            "gzip_bytes": sum(len(f.gzipped) for r in routes for f in r.values()),
        }
    )
    del bodies
    stop = asyncio.Event()

    def on_message() -> None:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the parent went away
            stop.set()
            return
        if message == "stats":
            conn.send(dict(vars(server.stats)))
        else:
            stop.set()

    loop.add_reader(conn.fileno(), on_message)
    try:
        await asyncio.wait_for(stop.wait(), spec.lifetime)
    except TimeoutError:
        pass
    finally:
        loop.remove_reader(conn.fileno())
        for listener in listeners:
            listener.close()


class ServerProcess:
    """``with ServerProcess(spec) as srv:`` starts the server process and stops it on exit."""

    def __init__(self, spec: ServerSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=serve, args=(spec, child), daemon=True)
        self._child = child
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ServerProcess:
        self._process.start()
        self._child.close()
        if not self._conn.poll(300):
            raise RuntimeError("the feed server did not start within 300 s")
        self.info = self._conn.recv()
        if "error" in self.info:
            raise RuntimeError(f"the feed server failed: {self.info['error']}")
        return self

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def stats(self) -> dict[str, int]:
        self._conn.send("stats")
        return dict(self._conn.recv()) if self._conn.poll(30) else {}

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


# ---------------------------------------------------------------- the client (child process)


class InlineExecutor(ThreadPoolExecutor):
    """Runs each call at once in the caller's thread: for profiling every stage in one thread."""

    def submit(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Future[T]:
        future: Future[T] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


class LoopMonitor:
    """Sleeps 10 ms in a loop and records how late each wake-up is."""

    def __init__(self, period: float = 0.010) -> None:
        self.period = period
        self.lateness: list[float] = []

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period)
            self.lateness.append(time.perf_counter() - started - self.period)

    def summary(self) -> dict[str, float]:
        late = sorted(self.lateness) or [0.0]
        return {
            "max_ms": late[-1] * 1000,
            "p99_ms": late[min(len(late) - 1, int(len(late) * 0.99))] * 1000,
            "mean_ms": statistics.fmean(late) * 1000,
            "over_50ms": sum(1 for x in late if x > 0.050),
            "samples": len(self.lateness),
        }


def config_text(spec: dict[str, Any]) -> str:
    lines = [
        f"database: '{spec['database']}'",
        "interval: 10m",
        "max_age: 2d",
        f"fetch: {{concurrency: {spec['concurrency']}, per_host: {spec['per_host']}}}",
        # thread / inline: everything in this process; process: that many workers.
        f"workers: {spec['workers'] if spec['executor'] == 'process' else 0}",
        "feeds:",
    ]
    lines += [f"  - {{name: bench-{i:04d}, url: '{url}'}}" for i, url in enumerate(spec["urls"])]
    lines.append("rules:")
    for name, query in spec.get("rules") or RULES:
        lines += [f"  - name: {name}", f"    query: '{query}'"]
    return "\n".join(lines) + "\n"


def worker_pids(executor: Executor | None) -> list[int]:
    processes = getattr(executor, "_processes", None) or {}
    return sorted(int(pid) for pid in processes)


def forkserver_pid() -> int | None:
    from multiprocessing import forkserver

    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    return int(pid) if pid else None


async def warm_up(executor: Executor | None, workers: int) -> float:
    """Start the pool's workers (a daemon does this once, at start) and time it."""
    from watcher.core.parse import parse_feed

    tiny = (
        b'<rss version="2.0"><channel><title>t</title><item><title>x</title></item></channel></rss>'
    )
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    await asyncio.gather(
        *(
            loop.run_in_executor(
                executor,
                functools.partial(parse_feed, "w", tiny, content_type=None, url="http://x/"),
            )
            for _ in range(max(1, workers))
        )
    )
    return time.perf_counter() - started


# What the pipeline calls, by module (and function): the stage it belongs to.  Only calls
# from the sequencer (watcher/pipeline.py and the decisions it runs, watcher/core/decide.py)
# into the rest of watcher count, so a refactoring inside the sequencer moves no time
# between stages; the first matching line wins.
STAGE_OF: tuple[tuple[str, frozenset[str] | None, str], ...] = (
    ("watcher/fetch.py", None, "fetch (httpx, gzip, slots)"),
    ("watcher/sources.py", None, "read (sniff, parse, analyse)"),
    ("watcher/workers.py", None, "read (sniff, parse, analyse)"),
    ("watcher/core/sniff.py", None, "read (sniff, parse, analyse)"),
    ("watcher/core/parse.py", None, "read (sniff, parse, analyse)"),
    ("watcher/core/dedupe.py", None, "dedupe (keys, known keys)"),
    (
        "watcher/store/",
        frozenset({"known_keys", "known_stories", "alert_history"}),
        "dedupe (keys, known keys)",
    ),
    ("watcher/store/", None, "store (feed state, record_poll)"),
    ("watcher/core/cluster.py", None, "cluster (fingerprints)"),
    ("watcher/", None, "other decisions (politeness, health...)"),
)


SEQUENCER = ("watcher/pipeline.py", "watcher/core/decide.py")


def stage_of(key: tuple[str, int, str]) -> str | None:
    filename, _, name = key
    if filename.endswith(SEQUENCER) or "/watcher/" not in filename:
        return None
    for suffix, names, stage in STAGE_OF:
        if suffix in filename and (names is None or name in names):
            return stage
    return None


def analyse_profile(profile: cProfile.Profile, wall: float) -> dict[str, Any]:
    """Time per pipeline stage, the calls it is made of, and the top functions by own time."""
    stats: dict[Any, Any] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    children: dict[Any, list[tuple[float, Any]]] = {}
    for callee, value in stats.items():
        for caller, edge in value[4].items():
            children.setdefault(caller, []).append((float(edge[3]), callee))
    # stage -> entry point -> seconds, summed over the pipeline functions calling it
    entries: dict[str, dict[Any, float]] = {stage: {} for _, _, stage in STAGE_OF}
    for callee, value in stats.items():
        stage = stage_of(callee)
        if stage is None:
            continue
        for caller, edge in value[4].items():
            if caller[0].endswith(SEQUENCER):
                entries[stage][callee] = entries[stage].get(callee, 0.0) + float(edge[3])
    rows: list[tuple[str, float]] = []
    detail: dict[str, list[tuple[str, float]]] = {}
    for stage, calls in entries.items():
        seconds = sum(calls.values())
        rows.append((stage, seconds))
        lines: list[tuple[str, float]] = []
        for entry, spent in sorted(calls.items(), key=lambda kv: -kv[1]):
            if spent < 0.03 * seconds:
                continue
            lines.append((label(entry), spent))
            below = sorted(children.get(entry, []), key=lambda kv: -kv[0])[:4]
            lines += [("  " + label(k), t) for t, k in below if t >= 0.05 * seconds]
        detail[stage] = lines
    parse = sum(float(v[3]) for k, v in stats.items() if k[2] == "parse_feed")
    # Each feed's stories are analysed in the parse stage's trip (parse_and_analyse).
    analysis = sum(
        float(v[3])
        for k, v in stats.items()
        if k[2] == "analyse" and k[0].endswith("watcher/core/analyse.py")
    )
    idle = sum(float(v[3]) for k, v in stats.items() if k[2] == "select" and "selectors" in k[0])
    busy = sum(seconds for _, seconds in rows)
    rows.insert(2, ("  of which parse_feed (feedparser)", parse))
    rows.insert(3, ("  of which analyse (keys, fingerprint, rules)", analysis))
    rows.append(("waiting for the network (select)", idle))
    rows.append(("event loop, tasks, rest", max(0.0, wall - busy - idle)))
    own = sorted(stats.items(), key=lambda kv: -kv[1][2])[:15]
    return {
        "wall": wall,
        "stages": rows,
        "detail": detail,
        "own": [(label(k), float(v[2]), float(v[3]), int(v[1])) for k, v in own],
    }


def label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}({name})"


async def one_pass(pipeline: Any, profile: bool, server_pid: int) -> dict[str, Any]:
    monitor = LoopMonitor()
    watch = None if profile else asyncio.create_task(monitor.run())
    pids = worker_pids(pipeline.analyser.pool)
    workers_cpu = sum(proc_cpu(p) for p in pids)
    server_cpu = proc_cpu(server_pid)
    busy = machine_busy()
    cpu = time.process_time()
    profiler = cProfile.Profile() if profile else None
    gc_time = [0.0, 0.0]  # seconds in the cyclic garbage collector, start of the current one

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]

    gc.callbacks.append(on_gc)
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    outcomes = await pipeline.poll_all(force=True)
    if profiler:
        profiler.disable()
    wall = time.perf_counter() - started
    gc.callbacks.remove(on_gc)
    cpu = time.process_time() - cpu
    workers_cpu = sum(proc_cpu(p) for p in pids) - workers_cpu
    server_cpu = proc_cpu(server_pid) - server_cpu
    busy = machine_busy() - busy
    if watch is not None:
        watch.cancel()
    errors = [f"{o.feed}: {o.error}" for o in outcomes if o.error]
    result = {
        "wall": wall,
        "cpu_main": cpu,
        "cpu_workers": workers_cpu,
        "gc": gc_time[0],
        "cpu_server": server_cpu,
        # Cores other processes (other users' jobs) kept busy meanwhile: they slow the run.
        "others_cores": max(0.0, busy - cpu - workers_cpu - server_cpu) / wall,
        "feeds": len(outcomes),
        "items": sum(o.new_stories for o in outcomes),
        "alerts": sum(o.alerts for o in outcomes),
        "not_modified": sum(1 for o in outcomes if o.not_modified),
        "errors": len(errors),
        "first_errors": errors[:5],
        "lateness": monitor.summary(),
    }
    if profiler:
        result["profile"] = analyse_profile(profiler, wall)
        if os.environ.get("BENCH_PROFILE_OUT"):  # the raw profile, for pstats
            profiler.dump_stats(os.environ["BENCH_PROFILE_OUT"])
    return result


async def run_client(spec: dict[str, Any]) -> dict[str, Any]:
    from watcher.config import parse_config
    from watcher.wiring import open_pipeline

    result: dict[str, Any] = {"rss_after_imports_kb": proc_status().get("VmRSS", 0)}
    workdir = Path(spec["workdir"])
    config = parse_config(config_text(spec), workdir / "config.yaml", {})
    if spec["executor"] == "inline":
        # Parsing and analysis on the loop itself, so one profile sees every stage.
        asyncio.get_running_loop().set_default_executor(InlineExecutor())
    async with open_pipeline(config, stdout=io.StringIO()) as pipe:
        # The daemon starts its workers once, at start-up: not part of a pass.
        result["warm_up"] = await warm_up(pipe.analyser.pool, spec["workers"])
        result["hwm_before_kb"] = proc_status().get("VmHWM", 0)
        result["pass1"] = await one_pass(pipe, spec["profile"], spec["server_pid"])
        result["hwm_pass1_kb"] = proc_status().get("VmHWM", 0)
        if not spec["profile"]:
            result["pass2"] = await one_pass(pipe, False, spec["server_pid"])
        with sqlite3.connect(config.database) as db:
            result["stories_stored"] = db.execute("SELECT count(*) FROM stories").fetchone()[0]
        pool = pipe.analyser.pool
        result["workers_hwm_kb"] = [proc_status(p).get("VmHWM", 0) for p in worker_pids(pool)]
        fs = forkserver_pid() if spec["executor"] == "process" else None
        result["forkserver_hwm_kb"] = proc_status(fs).get("VmHWM", 0) if fs else 0
    result["hwm_kb"] = proc_status().get("VmHWM", 0)
    return result


def client_main(spec_path: Path) -> int:
    # Failed feeds are counted and listed in the summary; their log lines would only
    # interleave with the progress output.
    logging.disable(logging.WARNING)
    spec = json.loads(spec_path.read_text())
    result = asyncio.run(run_client(spec))
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


# ---------------------------------------------------------------- the orchestrator


@dataclass
class Run:
    label: str
    executor: str
    concurrency: int
    per_host: int
    profile: bool = False
    workers: int = 2
    feeds: int | None = None  # the first this many feeds (None: all)
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


def run_child(
    run: Run,
    urls: Sequence[str],
    server_pid: int,
    tmp: Path,
    timeout: float,
    rules: Sequence[tuple[str, str]] = RULES,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix=f"{run.executor}-", dir=tmp))
    result_path = workdir / "result.json"
    spec: dict[str, Any] = {
        "urls": list(urls),
        "executor": run.executor,
        "workers": run.workers,
        "concurrency": run.concurrency,
        "per_host": run.per_host,
        "server_pid": server_pid,
        "profile": run.profile,
        "rules": [list(rule) for rule in rules],
        "workdir": str(workdir),
        "database": str(workdir / "bench.db"),
        "result": str(result_path),
    }
    spec_path = workdir / "spec.json"
    spec_path.write_text(json.dumps(spec))
    print(f"  running: {run.label} ...", flush=True)
    try:
        subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--client", str(spec_path)],
            check=True,
            timeout=timeout,
        )
        run.result = json.loads(result_path.read_text())
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        run.error = str(exc)
        print(f"  FAILED: {run.label}: {exc}", flush=True)


@dataclass(frozen=True)
class Naive:
    seconds: float  # for the sample
    feeds: int  # in the sample
    items: int
    failures: int
    cores: float  # used by the loop itself
    others_cores: float  # kept busy by other processes meanwhile

    def scaled(self, feeds: int) -> float:
        return self.seconds * feeds / self.feeds


def naive_loop(urls: Sequence[str], server_pid: int) -> Naive:
    """The baseline: ``feedparser.parse(url)`` one feed after the other (urllib fetches)."""
    import feedparser

    items = failures = 0
    busy, cpu, server_cpu = machine_busy(), time.process_time(), proc_cpu(server_pid)
    started = time.perf_counter()
    for url in urls:
        parsed = feedparser.parse(url)
        items += len(parsed.entries)
        failures += 0 if parsed.get("status") == 200 else 1
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    others = machine_busy() - busy - cpu - (proc_cpu(server_pid) - server_cpu)
    return Naive(wall, len(urls), items, failures, cpu / wall, max(0.0, others) / wall)


def sample(urls: Sequence[str], size: int) -> list[str]:
    if size <= 0 or size >= len(urls):
        return list(urls)
    step = len(urls) / size
    return [urls[int(i * step)] for i in range(size)]


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def print_profile(run: Run) -> None:
    profile = run.result["pass1"]["profile"]
    wall = profile["wall"]
    feeds, items = run.result["pass1"]["feeds"], run.result["pass1"]["items"]
    how = (
        "parsing inline on the loop so that cProfile sees every stage"
        if run.executor == "inline"
        else "the event loop's process only (parsing and analysis in 2 workers)"
    )
    print(
        f"\nProfile of pass 1 over {feeds} feeds ({items:,} items), {how};"
        f" wall {wall:.1f} s with the profiler's overhead"
    )
    print(f"{'stage':<40} {'seconds':>8} {'share':>6}")
    print("-" * 56)
    for name, seconds in profile["stages"]:
        print(f"{name:<40} {seconds:>8.2f} {seconds / wall:>6.0%}")
    print("\nInside each stage (what the pipeline calls, cumulative seconds; indented: callees):")
    for name, rows in profile["detail"].items():
        if not rows:
            continue
        print(f"  {name}")
        for where, seconds in rows:
            print(f"    {seconds:>7.2f}  {where}")
    print("\nTop functions by own time (tottime s, cumtime s, calls):")
    for where, own, cum, calls in profile["own"]:
        print(f"  {own:>7.2f} {cum:>8.2f} {calls:>10,}  {where}")
    pass1 = run.result["pass1"]
    if pass1["errors"]:
        print(
            f"\n{pass1['errors']} feed(s) failed in the profiled pass (the profiler stalls the"
            " loop for seconds; see bench/README.md):"
        )
        for error in pass1["first_errors"]:
            print(f"    error: {error}")


def print_table(runs: Sequence[Run], naive: Naive, total_items: int, feeds: int) -> None:
    naive_total = naive.scaled(feeds)
    header = (
        f"{'run':<34} {'pass 1 s':>8} {'items/s':>8} {'speed-up':>8} {'alerts':>7}"
        f" {'304 s':>6} {'cores':>5} {'others':>6} {'late max':>8} {'p99':>5} {'>50ms':>5}"
        f" {'peak MB':>7} {'workers MB':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for run in runs:
        r = run.result
        p1, p2 = r["pass1"], r["pass2"]
        cores = (p1["cpu_main"] + p1["cpu_workers"]) / p1["wall"]
        workers = " + ".join(f"{mb(k):.0f}" for k in r["workers_hwm_kb"]) or "-"
        late = p1["lateness"]
        print(
            f"{run.label:<34} {p1['wall']:>8.2f} {rate(p1['items'], p1['wall']):>8,.0f}"
            f" {naive.scaled(run.feeds or feeds) / p1['wall']:>7.1f}x {p1['alerts']:>7,}"
            f" {p2['wall']:>6.2f}"
            f" {cores:>5.2f} {p1['others_cores']:>6.2f}"
            f" {late['max_ms']:>6.0f}ms {late['p99_ms']:>5.0f} {late['over_50ms']:>5}"
            f" {mb(r['hwm_kb']):>7.0f} {workers:>10}"
        )
    print(
        f"{'naive feedparser.parse(url) loop':<34} {naive_total:>8.2f}"
        f" {rate(naive.items, naive.seconds):>8,.0f} {'1.0x':>8} {'-':>7} {'-':>6}"
        f" {naive.cores:>5.2f} {naive.others_cores:>6.2f}"
    )
    print(
        "\npass 1: fetch, parse, dedupe, match, store on an empty database; 304 s: the second"
        "\npass (every feed answers 304); cores: CPU of the benchmark process and its parse"
        "\nworkers per second of pass 1; others: cores other processes on the machine kept"
        "\nbusy meanwhile (they slow the run down); late: how late a 10 ms sleep woke up"
        "\nduring pass 1 (max, 99th percentile in ms, wake-ups over 50 ms late); peak MB:"
        "\nVmHWM of the benchmark process; workers MB: VmHWM of each pool worker."
    )
    print(
        f"naive loop: {naive.feeds} of {feeds} feeds measured in {naive.seconds:.1f} s"
        f" ({naive.items:,} items, {naive.failures} failures), scaled x{feeds / naive.feeds:g}"
        f" to {naive_total:.1f} s; it fetches and parses only (no dedupe, matching, storage)."
    )
    for run in runs:
        r = run.result
        p1, p2 = r["pass1"], r["pass2"]
        line = (
            f"{run.label}: pass 1 {p1['items']:,}/{total_items * (run.feeds or feeds) // feeds:,}"
            f" items, {p1['errors']} errors,"
            f" CPU main {p1['cpu_main']:.1f} s (garbage collection {p1.get('gc', 0):.1f} s)"
            f" + workers {p1['cpu_workers']:.1f} s"
            f" (+ server {p1['cpu_server']:.1f} s); 304 pass {p2['not_modified']}/{p2['feeds']}"
            f" not modified, {p2['errors']} errors, CPU main {p2['cpu_main']:.1f} s,"
            f" late max {p2['lateness']['max_ms']:.0f} ms;"
            f" RSS after imports {mb(r['rss_after_imports_kb']):.0f} MB"
        )
        if r["workers_hwm_kb"]:
            line += (
                f"; pool start {r['warm_up']:.2f} s, forkserver {mb(r['forkserver_hwm_kb']):.0f} MB"
            )
        print(line)
        for error in p1["first_errors"] + p2["first_errors"]:
            print(f"    error: {error}")


def check_targets(runs: Sequence[Run], naive: Naive, feeds: int) -> None:
    print("\nTargets (issue 5):")
    for run in runs:
        r = run.result
        p1, p2 = r["pass1"], r["pass2"]
        speed_up = naive.scaled(run.feeds or feeds) / p1["wall"]
        checks = [
            (f"pass 1 >= 5x naive ({speed_up:.1f}x)", speed_up >= 5),
            (f"304 pass < 5 s ({p2['wall']:.2f} s)", p2["wall"] < 5),
            (f"peak < 250 MB ({mb(r['hwm_kb']):.0f} MB)", mb(r["hwm_kb"]) < 250),
        ]
        marks = ", ".join(f"{text}: {'met' if ok else 'NOT met'}" for text, ok in checks)
        print(f"  {run.label}: {marks}")


def print_scale(runs: Sequence[Run], counts: Sequence[int]) -> None:
    """Pass 1's cost per story at each feed count, and its growth from the smallest."""
    print(
        f"\nPass 1 per story by feed count (target: {max(counts):,} feeds within 1.35x of"
        f" {min(counts):,} per story):"
    )
    by_config: dict[str, dict[int, Run]] = {}
    for run in runs:
        if run.feeds is not None and run.result.get("pass1"):
            by_config.setdefault(run.label.rsplit(", ", 1)[0], {})[run.feeds] = run
    for config, by_feeds in by_config.items():
        cost = {
            n: 1e6 * r.result["pass1"]["wall"] / max(1, r.result["pass1"]["items"])
            for n, r in sorted(by_feeds.items())
        }
        cores = {
            n: (r.result["pass1"]["cpu_main"] + r.result["pass1"]["cpu_workers"])
            / max(1, r.result["pass1"]["items"])
            * 1e6
            for n, r in sorted(by_feeds.items())
        }
        parts = [f"{n:,} feeds {c:,.0f} µs ({cores[n]:,.0f} µs of CPU)" for n, c in cost.items()]
        line = f"  {config}: " + "; ".join(parts)
        if len(cost) > 1:
            lo, hi = min(cost), max(cost)
            ratio = cost[hi] / cost[lo]
            verdict = "met" if ratio <= 1.35 else "NOT met"
            line += (
                f"; ratio {ratio:.2f} ({verdict}), CPU per story ratio {cores[hi] / cores[lo]:.2f}"
            )
        print(line)


def executor_choice(text: str) -> tuple[str, int]:
    kind, _, count = text.partition(":")
    if kind == "thread" and not count:
        return ("thread", 0)
    if kind == "process" and (not count or (count.isdigit() and int(count) >= 1)):
        return ("process", int(count or 2))
    raise argparse.ArgumentTypeError(f"expected thread or process:N, not {text!r}")


def tree_state() -> str:
    """Which watcher was measured: the commit, and whether watcher/ has uncommitted edits."""
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read only: no index refresh

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=10
        )
        return done.stdout.strip() if done.returncode == 0 else ""

    try:
        commit = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "watcher")
    except (OSError, subprocess.SubprocessError):
        return "watcher: unknown commit"
    changed = len(dirty.splitlines())
    return f"watcher at {commit or '?'}" + (
        f" + uncommitted changes to {changed} file(s) in watcher/" if changed else ""
    )


def loopback_ok(hosts: int) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((f"127.0.0.{1 + hosts}", 0))
    except OSError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=50, help="items per feed")
    parser.add_argument("--hosts", type=int, default=50, help="loopback hosts 127.0.0.2 ...")
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each answer")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--per-host", type=int, default=4)
    parser.add_argument(
        "--executors",
        nargs="+",
        type=executor_choice,
        default=[("thread", 0), ("process", 1), ("process", 2)],
        metavar="{thread,process:N}",
        help="parse executors to measure: the default thread pool, a process pool of N workers"
        " (default: thread process:2)",
    )
    parser.add_argument(
        "--naive-sample", type=int, default=100, help="feeds the naive loop runs on (0: all)"
    )
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--profile-feeds",
        type=int,
        default=250,
        help="feeds in the profiled pass (cProfile makes it slow; 0: all)",
    )
    parser.add_argument(
        "--profile-main",
        action="store_true",
        help="profile the event loop's process with 2 worker processes, instead of"
        " every stage inline: what the loop itself spends",
    )
    parser.add_argument(
        "--sweep",
        nargs="*",
        default=[],
        metavar="CONC/PER_HOST",
        help="extra fetch settings to try with the process pool, e.g. 32/2 128/8",
    )
    parser.add_argument(
        "--items-kind",
        choices=("corpus", "long"),
        default="corpus",
        help="corpus: items rebuilt from the real corpus (the default); long: synthetic items"
        " of a 50-word summary and 200 words of content, Zipf vocabulary, unique titles",
    )
    parser.add_argument(
        "--scale-feeds",
        nargs="+",
        type=int,
        default=[],
        metavar="N",
        help="run each configuration on the first N feeds for each N (e.g. 200 1000; the"
        " server serves the largest) and compare pass 1's cost per story",
    )
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--server-lifetime", type=float, default=900.0)
    parser.add_argument("--client", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.client:
        return client_main(args.client)

    if args.scale_feeds:
        if min(args.scale_feeds) < 1:
            parser.error("--scale-feeds: feed counts must be at least 1")
        args.feeds = max(args.scale_feeds)
    if args.items_kind == "corpus" and not args.corpus.is_dir():
        print(f"skipped: no corpus at {args.corpus}")
        return 0
    if not 1 <= args.hosts <= 253 or not loopback_ok(args.hosts):
        print(f"cannot listen on 127.0.0.2 ... 127.0.0.{1 + args.hosts} (Linux loopback needed)")
        return 1
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        os.environ.pop(name, None)  # loopback only, never through a proxy
    os.environ.pop("ALL_PROXY", None)

    server_spec = ServerSpec(
        args.corpus,
        args.feeds,
        args.items,
        args.hosts,
        args.delay,
        args.seed,
        args.server_lifetime,
        args.items_kind,
    )
    rules = long_rules(args.seed) if args.items_kind == "long" else RULES
    runs = [
        Run(
            "workers: 0 (threads)" if kind == "thread" else f"workers: {workers} (processes)",
            kind,
            args.concurrency,
            args.per_host,
            workers=workers,
        )
        for kind, workers in args.executors
    ]
    if args.scale_feeds:
        runs = [
            Run(
                f"{run.label}, {n} feeds",
                run.executor,
                run.concurrency,
                run.per_host,
                workers=run.workers,
                feeds=n,
            )
            for run in runs
            for n in sorted(set(args.scale_feeds))
        ]
    pools = [workers for kind, workers in args.executors if kind == "process"] or [2]
    for setting in args.sweep:
        conc, _, per_host = setting.partition("/")
        runs.append(
            Run(
                f"process pool ({pools[0]}), {conc}/{per_host or 2}",
                "process",
                int(conc),
                int(per_host or 2),
                workers=pools[0],
            )
        )
    profiled = (
        Run("profile: inline parse", "inline", args.concurrency, args.per_host, profile=True)
        if args.profile and not args.profile_main
        else Run(
            "profile: event loop process, 2 workers",
            "process",
            args.concurrency,
            args.per_host,
            profile=True,
            workers=2,
        )
        if args.profile_main
        else None
    )
    started = time.perf_counter()
    with (
        tempfile.TemporaryDirectory(prefix="bench-fetch-") as tmp,
        ServerProcess(server_spec) as server,
    ):
        info = server.info
        urls: list[str] = info["urls"]
        total_items = args.feeds * args.items
        origin = (
            f"synthetic: {LONG_SUMMARY_WORDS}-word summary, {LONG_CONTENT_WORDS} words of"
            f" content, Zipf over {LONG_VOCABULARY:,} made-up words, unique titles"
            if args.items_kind == "long"
            else f"from {info['corpus_entries']:,} corpus stories"
        )
        print(
            f"{args.feeds:,} feeds x {args.items} items = {total_items:,} items"
            f" ({origin}), on {args.hosts} loopback hosts,"
            f" {args.delay * 1000:.0f} ms per answer;"
            f" feed {info['raw_bytes'] / args.feeds / 1024:.0f} KB"
            f" ({info['gzip_bytes'] / args.feeds / 1024:.0f} KB gzipped);"
            f" {len(rules)} rules; fetch concurrency {args.concurrency}, per host {args.per_host};"
            f" {os.cpu_count()} CPUs; {tree_state()}"
        )
        for run in runs:
            run_child(run, urls[: run.feeds], server.pid, Path(tmp), 900, rules)
        if profiled:
            profile_urls = sample(urls, args.profile_feeds)
            run_child(profiled, profile_urls, server.pid, Path(tmp), 900, rules)
        chosen = sample(urls, args.naive_sample)
        print(f"  running: naive feedparser loop over {len(chosen)} feeds ...", flush=True)
        naive = naive_loop(chosen, server.pid)
        stats = server.stats()
    done = [run for run in runs if run.error is None]
    print_table(done, naive, total_items, args.feeds)
    check_targets(done, naive, args.feeds)
    if args.scale_feeds:
        print_scale(done, args.scale_feeds)
    print(
        f"server (all runs): {stats.get('requests', 0):,} requests, {stats.get('ok', 0):,} x 200,"
        f" {stats.get('not_modified', 0):,} x 304, {stats.get('not_found', 0)} x 404,"
        f" {stats.get('connections', 0):,} connections, at most"
        f" {stats.get('max_active', 0)} requests in flight at once"
    )
    if profiled and profiled.error is None:
        print_profile(profiled)
    failed = [run for run in [*runs, *([profiled] if profiled else [])] if run.error]
    for run in failed:
        print(f"\nFAILED: {run.label}: {run.error}")
    print(f"\n(benchmark took {time.perf_counter() - started:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
