"""Soak benchmark: ``watcher run`` for N minutes against loopback feeds that keep changing.

Serves ``--feeds`` RSS feeds (default 50) from an asyncio HTTP/1.1 server process
listening on several loopback hosts (127.0.0.2, 127.0.0.3, ...), as bench_fetch.py
does.  Items are synthetic (no corpus needed): a title of 6-12 words and a summary
of 50-200 words drawn from a seeded Zipf vocabulary (bench/synthetic_text.py).
Every feed gains 1-2 items every ~20 s (10-30 s apart) and keeps its newest 50; one
new item in ten is a rewrite of a recent item of another feed (clustering works).
The server sends an ETag and Last-Modified and answers 304 when they match.  One
feed in ten is flaky: healthy for 2-6 minutes, then for 30-120 s it answers 500,
or 503 with ``Retry-After: 15``, or hangs past the fetch timeout (backoff and
recovery are exercised); any feed answers 500 to 0.5% of requests.  The same
process runs the capture endpoint that the config's ``json://`` channels post to
(2% of posts answered 500, so delivery retries happen too).

The daemon is ``python -m watcher --config CFG run`` in its own process group, with
its stdout and stderr going to files.  Every ``--sample-every`` seconds (30) the
script records the RSS of the daemon and of each descendant (the forkserver and
the workers, found through the ppid chain in /proc), the daemon's open file
descriptors, the database's size (file + -wal), its stories (all, and those kept
because they alerted), the alerts captured so far and the CPU time used, prints
one row per sample, and at the end compares the last sample with the middle one.

Retention: the daemon prunes at start and then every 6 hours (RETENTION_INTERVAL
in watcher/daemon.py, not configurable).  A one-hour run would never prune, so by
default the daemon is started through a two-line wrapper that sets that interval
to ``--prune-every`` seconds (60) and then runs ``python -m watcher`` unchanged;
``--prune-every 0`` runs the plain module with its own 6-hour schedule.

Run: ``python bench/soak.py --minutes 60 --csv /tmp/soak.csv`` (``--help``).
Ctrl-C stops the daemon's whole process group and the server.  Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import gzip
import math
import multiprocessing
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

ITEMS_PER_FEED = 50
VOCABULARY = 30_000
SEED = 20240601
FLAKY_EVERY = 10  # one feed in ten is flaky
BLIP_RATE = 0.005  # any feed: one request in 200 answered 500
CAPTURE_FAIL_RATE = 0.02  # one delivery in 50 answered 500 (retried by the outbox)
HANG_SECONDS = 15.0  # a hanging answer waits this long (the config's read_timeout is 4 s)
RSS_GOAL = 5.0  # % growth allowed over the second half
MIN_WINDOW = 5  # samples: the peaks of a window at mid and one at the end are compared
RETENTION_INTERVAL_S = 6 * 3600  # watcher/daemon.py: RETENTION_INTERVAL
DB_GOAL = 20.0  # % over the first half's largest database allowed in the second half
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- text


def vocabulary(seed: int) -> Any:
    from synthetic_text import ZipfVocabulary, real_function_words

    return ZipfVocabulary(seed, VOCABULARY, 1.0, exclude=real_function_words())


def rules(seed: int) -> list[tuple[str, str]]:
    """Rules in the vocabulary's words (by rank), together matching ~3% of new stories."""
    w = vocabulary(seed).words
    return [
        ("title-word", f"title:({w[100]} OR {w[200]})"),
        ("two-words", f"{w[100]} AND {w[300]}"),
        ("phrase", f'"{w[10]} {w[15]}"'),
        ("excluding", f"{w[800]} -{w[50]}"),
    ]


class ItemMaker:
    """Synthetic news items: unique titles, 50-200 word summaries, some rewrites."""

    def __init__(self, seed: int) -> None:
        from synthetic_text import sentences

        self._sentences = sentences
        self.rng = random.Random(seed)
        self.vocab = vocabulary(seed)
        w = self.vocab.words
        self.authors = [
            f"{a.capitalize()} {b.capitalize()}"
            for a, b in zip(w[1000:1100], w[3000:3100], strict=True)
        ]
        self.recent: deque[tuple[str, str]] = deque(maxlen=200)  # (title, summary) to rewrite
        self.serial = 0

    def item(self, feed: int, published: datetime) -> str:
        rng = self.rng
        self.serial += 1
        if self.recent and rng.random() < 0.1:  # another outlet's take on a recent story
            title, summary = rng.choice(self.recent)
            words = title.split()
            words[rng.randrange(len(words))] = self.vocab.draw(rng, 1)[0]
            title = " ".join(words)
        else:
            title = " ".join(self.vocab.draw(rng, rng.randint(6, 12))).capitalize()
            summary = f"<p>{self._sentences(self.vocab.draw(rng, rng.randint(50, 200)), rng)}</p>"
            self.recent.append((title, summary))
        slug = "-".join(title.lower().split()[:5])
        link = escape(f"https://soak.bench.invalid/{feed}/{self.serial}/{slug}")
        categories = "".join(
            f"<category>{c}</category>" for c in self.vocab.draw(rng, rng.randint(1, 3))
        )
        return (
            f"<item><title>{escape(title)}</title><link>{link}</link>"
            f'<guid isPermaLink="true">{link}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<dc:creator>{escape(rng.choice(self.authors))}</dc:creator>{categories}"
            f"<description>{escape(summary)}</description></item>\n"
        )


# ---------------------------------------------------------------- the server process


@dataclass
class Feed:
    index: int
    items: deque[str]
    flaky: bool
    version: int = 0
    body: bytes = b""
    gzipped: bytes = b""
    etag: str = ""
    modified: str = ""
    next_add: float = 0.0
    fail_mode: str = ""  # "", "500", "503", "hang"
    fail_until: float = 0.0
    healthy_until: float = 0.0

    def render(self) -> None:
        now = datetime.now(UTC)
        self.version += 1
        head = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">\n<channel>\n'
            f"<title>Soak feed {self.index}</title>\n"
            f"<link>https://soak.bench.invalid/{self.index}/</link>\n"
            f"<description>Synthetic stories for the soak benchmark</description>\n"
            f"<lastBuildDate>{format_datetime(now)}</lastBuildDate>\n"
        )
        self.body = (head + "".join(self.items) + "</channel>\n</rss>\n").encode()
        self.gzipped = gzip.compress(self.body, 6)
        self.etag = f'"soak-{self.index}-{self.version}"'
        self.modified = format_datetime(now, usegmt=True)


@dataclass
class Stats:
    requests: int = 0
    ok: int = 0
    not_modified: int = 0
    errors: int = 0
    hangs: int = 0
    items_added: int = 0
    alerts: int = 0
    notices: int = 0
    capture_failed: int = 0
    bytes_sent: int = 0


def _response(status: str, headers: Sequence[tuple[str, str]], body: bytes = b"") -> bytes:
    head = [
        f"HTTP/1.1 {status}",
        *(f"{k}: {v}" for k, v in headers),
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class ServerSpec:
    feeds: int
    hosts: int
    seed: int
    new_every: float
    lifetime: float


class SoakServer:
    def __init__(self, spec: ServerSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed + 1)
        self.maker = ItemMaker(spec.seed)
        self.stats = Stats()
        self.routes: dict[str, Feed] = {}
        now = datetime.now(UTC)
        clock = time.monotonic()
        self.feeds: list[Feed] = []
        flaky = set(self.rng.sample(range(spec.feeds), max(1, spec.feeds // FLAKY_EVERY)))
        for i in range(spec.feeds):
            # The first 50 items, dated over the last ~50 minutes (all recent enough to alert).
            items = deque(
                (
                    self.maker.item(i, now - timedelta(minutes=j, seconds=self.rng.randrange(60)))
                    for j in range(ITEMS_PER_FEED)
                ),
                maxlen=ITEMS_PER_FEED,
            )
            feed = Feed(i, items, flaky=i in flaky)
            feed.next_add = clock + self.rng.uniform(0.5, 1.5) * spec.new_every
            feed.healthy_until = clock + self.rng.uniform(60, 240)
            feed.render()
            self.feeds.append(feed)
            self.routes[f"/feeds/{i}.rss"] = feed

    async def grow(self) -> None:
        """Every feed gains 1-2 items every ~new_every seconds; the oldest drop off."""
        while True:
            await asyncio.sleep(1.0)
            clock = time.monotonic()
            now = datetime.now(UTC)
            for feed in self.feeds:
                if clock >= feed.next_add:
                    for _ in range(self.rng.choice((1, 1, 2))):
                        feed.items.appendleft(self.maker.item(feed.index, now))
                        self.stats.items_added += 1
                    feed.render()
                    feed.next_add = clock + self.rng.uniform(0.5, 1.5) * self.spec.new_every
                if feed.flaky:
                    self._flake(feed, clock)

    def _flake(self, feed: Feed, clock: float) -> None:
        if feed.fail_mode and clock >= feed.fail_until:
            feed.fail_mode = ""
            feed.healthy_until = clock + self.rng.uniform(120, 360)
        elif not feed.fail_mode and clock >= feed.healthy_until:
            feed.fail_mode = self.rng.choice(("500", "503", "hang"))
            feed.fail_until = clock + self.rng.uniform(30, 120)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                length = int(headers.get("content-length") or 0)
                body = await reader.readexactly(length) if length else b""
                if method == "POST":
                    data = self.capture(target, body)
                else:
                    data = await self.answer(target, method, headers)
                if data is None:  # hung: give up on the connection
                    break
                writer.write(data)
                await writer.drain()
                self.stats.bytes_sent += len(data)
                if (
                    headers.get("connection", "").lower() == "close"
                    or version.strip() != "HTTP/1.1"
                ):
                    break
        except (
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        except asyncio.CancelledError:  # the server stopping while an answer hangs
            pass
        finally:
            writer.close()

    def capture(self, target: str, body: bytes) -> bytes:
        if self.rng.random() < CAPTURE_FAIL_RATE:
            self.stats.capture_failed += 1
            return _response("500 Internal Server Error", [], b"try again")
        if target.startswith("/health"):
            self.stats.notices += 1
        else:
            self.stats.alerts += 1
        return _response("200 OK", [("Content-Type", "application/json")], b'{"ok": true}')

    async def answer(self, target: str, method: str, headers: dict[str, str]) -> bytes | None:
        stats = self.stats
        stats.requests += 1
        await asyncio.sleep(self.rng.uniform(0.02, 0.08))  # a remote server's latency
        date = ("Date", format_datetime(datetime.now(UTC), usegmt=True))
        feed = self.routes.get(target)
        if feed is None or method not in ("GET", "HEAD"):
            return _response("404 Not Found", [date], b"not found")
        mode = feed.fail_mode or ("500" if self.rng.random() < BLIP_RATE else "")
        if mode == "hang":
            stats.hangs += 1
            await asyncio.sleep(HANG_SECONDS)
            return None
        if mode:
            stats.errors += 1
            if mode == "503":
                return _response("503 Service Unavailable", [date, ("Retry-After", "15")], b"busy")
            return _response("500 Internal Server Error", [date], b"oops")
        validators = [("ETag", feed.etag), ("Last-Modified", feed.modified)]
        match = headers.get("if-none-match")
        fresh = (
            match == feed.etag
            if match is not None
            else headers.get("if-modified-since") == feed.modified
        )
        if fresh:
            stats.not_modified += 1
            return _response("304 Not Modified", [date, *validators])
        stats.ok += 1
        zipped = "gzip" in headers.get("accept-encoding", "")
        out = [date, ("Content-Type", "application/rss+xml; charset=utf-8"), *validators]
        if zipped:
            out.append(("Content-Encoding", "gzip"))
        return _response(
            "200 OK", out, b"" if method == "HEAD" else feed.gzipped if zipped else feed.body
        )


def serve(spec: ServerSpec, conn: Connection) -> None:
    """Server process entry: build the feeds, listen, report the URLs, serve until told."""
    try:
        asyncio.run(_serve(spec, conn))
    except Exception as exc:  # tell the parent instead of leaving it waiting
        with contextlib.suppress(OSError):
            conn.send({"error": f"{type(exc).__name__}: {exc}"})


async def _serve(spec: ServerSpec, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    server = SoakServer(spec)
    listeners = []
    ports = []
    for h in range(spec.hosts):
        listener = await asyncio.start_server(server.handle, f"127.0.0.{2 + h}", 0, backlog=256)
        listeners.append(listener)
        ports.append(int(listener.sockets[0].getsockname()[1]))
    capture = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    listeners.append(capture)
    urls = [
        f"http://127.0.0.{2 + i % spec.hosts}:{ports[i % spec.hosts]}/feeds/{i}.rss"
        for i in range(spec.feeds)
    ]
    conn.send({"urls": urls, "capture_port": int(capture.sockets[0].getsockname()[1])})
    grower = asyncio.create_task(server.grow())
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
        grower.cancel()
        for listener in listeners:
            listener.close()


class ServerProcess:
    def __init__(self, spec: ServerSpec) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=serve, args=(spec, child), daemon=True)
        self._child = child
        self.info: dict[str, Any] = {}

    def __enter__(self) -> ServerProcess:
        self._process.start()
        self._child.close()
        if not self._conn.poll(120):
            raise RuntimeError("the feed server did not start within 120 s")
        self.info = self._conn.recv()
        if "error" in self.info:
            raise RuntimeError(f"the feed server failed: {self.info['error']}")
        return self

    @property
    def pid(self) -> int:
        return int(self._process.pid or 0)

    def stats(self) -> dict[str, int]:
        try:
            self._conn.send("stats")
            return dict(self._conn.recv()) if self._conn.poll(10) else {}
        except (OSError, EOFError):
            return {}

    def __exit__(self, *exc: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(5)
        self._conn.close()


# ---------------------------------------------------------------- /proc


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS, RssAnon, ... of /proc/PID/status in kB (empty if the process is gone)."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Vm", "Rss")) and value.strip():
            values[key] = int(value.split()[0])
    return values


def proc_stat(pid: int | str) -> tuple[int, float] | None:
    """(ppid, user + system CPU seconds) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(root: int) -> list[tuple[int, int]]:
    """(pid, depth) of every descendant of ``root``, by the ppid chain."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = proc_stat(entry)
            if stat is not None:
                children.setdefault(stat[0], []).append(int(entry))
    out = []
    todo = [(root, 0)]
    while todo:
        pid, depth = todo.pop()
        for child in sorted(children.get(pid, ())):
            out.append((child, depth + 1))
            todo.append((child, depth + 1))
    return sorted(out)


def cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def fd_sockets(pid: int) -> int:
    """How many of the process's descriptors are sockets (the rest: files, pipes, epoll...)."""
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                count += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    except OSError:
        return -1
    return count


def fd_count(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def machine_busy() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    user, nice, system, _idle, _iowait, irq, softirq = values
    return (user + nice + system + irq + softirq) / CLK_TCK


def die_with_parent() -> None:
    """preexec for the daemon: SIGTERM it if this script dies without cleaning up."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


# ---------------------------------------------------------------- samples


@dataclass
class Sample:
    t: float
    rss_kb: int
    anon_kb: int
    fds: int
    sockets: int  # of the daemon's fds
    workers: dict[int, int]  # pid -> VmRSS kB
    workers_anon_kb: int
    worker_fds: int
    others: dict[int, int]  # forkserver, resource tracker...: pid -> VmRSS kB
    db_bytes: int
    wal_bytes: int
    live_bytes: int  # pages in use (the file keeps pages freed by pruning, for reuse)
    oldest_s: int  # age of the oldest story that did not alert (retention prunes those)
    stories: int
    alerted: int
    keys: int
    deliveries: int
    pending: int
    alerts: int
    notices: int
    cpu_s: float
    kids_cpu_s: float
    server_cpu_s: float
    machine_busy_s: float
    requests: int
    items_added: int
    extra: dict[str, int] = field(default_factory=dict)

    @property
    def workers_kb(self) -> int:
        return sum(self.workers.values())

    @property
    def db_total(self) -> int:
        return self.db_bytes + self.wal_bytes

    def csv_row(self) -> dict[str, object]:
        return {
            "t_s": round(self.t, 1),
            "daemon_rss_kb": self.rss_kb,
            "daemon_anon_kb": self.anon_kb,
            "daemon_fds": self.fds,
            "daemon_sockets": self.sockets,
            "workers": len(self.workers),
            "workers_rss_kb": self.workers_kb,
            "workers_anon_kb": self.workers_anon_kb,
            "workers_fds": self.worker_fds,
            "worker_rss_kb_each": " ".join(f"{p}:{kb}" for p, kb in sorted(self.workers.items())),
            "other_children_rss_kb": " ".join(f"{p}:{kb}" for p, kb in sorted(self.others.items())),
            "db_bytes": self.db_bytes,
            "wal_bytes": self.wal_bytes,
            "db_live_bytes": self.live_bytes,
            "oldest_unalerted_s": self.oldest_s,
            "stories": self.stories,
            "alerted_stories": self.alerted,
            "story_keys": self.keys,
            "deliveries": self.deliveries,
            "pending_deliveries": self.pending,
            "alerts_captured": self.alerts,
            "notices_captured": self.notices,
            "daemon_cpu_s": round(self.cpu_s, 2),
            "children_cpu_s": round(self.kids_cpu_s, 2),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "machine_busy_s": round(self.machine_busy_s, 2),
            "feed_requests": self.requests,
            "items_added": self.items_added,
            **self.extra,
        }


def db_counts(path: Path) -> dict[str, int]:
    """Row counts, read-only (the daemon holds the writer lock; readers are fine in WAL mode)."""
    if not path.exists():
        return {}
    queries = {
        "stories": "SELECT COUNT(*) FROM stories",
        "alerted": "SELECT COUNT(DISTINCT story_id) FROM alerts",
        "keys": "SELECT COUNT(*) FROM story_keys",
        "deliveries": "SELECT COUNT(*) FROM deliveries",
        "pending": "SELECT COUNT(*) FROM deliveries WHERE status = 'pending'",
        # Bytes in use: the file never shrinks (no auto_vacuum), pruned pages are reused.
        "live_bytes": "SELECT (SELECT page_count FROM pragma_page_count())"
        " - (SELECT freelist_count FROM pragma_freelist_count())",
        "page_size": "SELECT page_size FROM pragma_page_size()",
        # Age in seconds of the oldest story retention may prune (one that never alerted).
        "oldest_s": "SELECT COALESCE(CAST(ROUND((julianday('now') - julianday(MIN(seen_at)))"
        " * 86400) AS INTEGER), 0) FROM stories WHERE id NOT IN (SELECT story_id FROM alerts)",
    }
    for _attempt in range(3):
        try:
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            try:
                return {k: int(db.execute(q).fetchone()[0]) for k, q in queries.items()}
            finally:
                db.close()
        except sqlite3.Error:
            time.sleep(0.5)
    return {}


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def take_sample(t: float, daemon: int, db: Path, server: ServerProcess) -> Sample:
    status = proc_status(daemon)
    workers: dict[int, int] = {}
    others: dict[int, int] = {}
    workers_anon = worker_fds = 0
    kids_cpu = 0.0
    for pid, depth in descendants(daemon):
        st = proc_status(pid)
        stat = proc_stat(pid)
        kids_cpu += stat[1] if stat else 0.0
        # The pool's workers are forked by its forkserver (depth 2); the forkserver and
        # multiprocessing's resource tracker are the daemon's own children.
        if depth >= 2 and "resource_tracker" not in cmdline(pid):
            workers[pid] = st.get("VmRSS", 0)
            workers_anon += st.get("RssAnon", 0)
            worker_fds += max(0, fd_count(pid))
        else:
            others[pid] = st.get("VmRSS", 0)
    counts = db_counts(db)
    srv = server.stats()
    own = proc_stat(daemon)
    srv_stat = proc_stat(server.pid)
    return Sample(
        t=t,
        rss_kb=status.get("VmRSS", 0),
        anon_kb=status.get("RssAnon", 0),
        fds=fd_count(daemon),
        sockets=fd_sockets(daemon),
        workers=workers,
        workers_anon_kb=workers_anon,
        worker_fds=worker_fds,
        others=others,
        db_bytes=file_size(db),
        wal_bytes=file_size(db.with_name(db.name + "-wal")),
        live_bytes=counts.get("live_bytes", -1) * counts.get("page_size", 1),
        oldest_s=counts.get("oldest_s", -1),
        stories=counts.get("stories", -1),
        alerted=counts.get("alerted", -1),
        keys=counts.get("keys", -1),
        deliveries=counts.get("deliveries", -1),
        pending=counts.get("pending", -1),
        alerts=srv.get("alerts", 0),
        notices=srv.get("notices", 0),
        cpu_s=own[1] if own else 0.0,
        kids_cpu_s=kids_cpu,
        server_cpu_s=srv_stat[1] if srv_stat else 0.0,
        machine_busy_s=machine_busy(),
        requests=srv.get("requests", 0),
        items_added=srv.get("items_added", 0),
        extra={
            "http_200": srv.get("ok", 0),
            "http_304": srv.get("not_modified", 0),
            "http_5xx": srv.get("errors", 0),
            "hangs": srv.get("hangs", 0),
            "capture_500": srv.get("capture_failed", 0),
        },
    )


HEADER = (
    f"{'t min':>5} {'RSS MB':>6} {'anon':>5} {'fds':>3} {'sk':>2} {'wk':>2} {'wk MB':>5}"
    f" {'wk anon':>7}"
    f" {'other':>5} {'DB MB':>5} {'WAL':>4} {'live':>5} {'stories':>7} {'alerted':>7}"
    f" {'keys':>5} {'oldest':>6} {'sent':>5} {'pend':>4} {'cpu%':>4} {'wk%':>4} {'srv%':>4}"
    f" {'others%':>7} {'req/s':>5}"
)


def row(s: Sample, prev: Sample | None, t0_busy: float) -> str:
    dt = s.t - (prev.t if prev else 0.0) or 1.0

    def pct(now: float, before: float) -> float:
        return 100 * (now - before) / dt

    p = prev
    cpu = pct(s.cpu_s, p.cpu_s if p else 0.0)
    kids = pct(s.kids_cpu_s, p.kids_cpu_s if p else 0.0)
    srv = pct(s.server_cpu_s, p.server_cpu_s if p else 0.0)
    busy = pct(s.machine_busy_s, p.machine_busy_s if p else t0_busy)
    others = max(0.0, busy - cpu - kids - srv)  # includes this script's own ~1%
    rate = (s.requests - (p.requests if p else 0)) / dt
    mib = 2**20
    return (
        f"{s.t / 60:5.1f} {s.rss_kb / 1024:6.1f} {s.anon_kb / 1024:5.1f} {s.fds:3d} {s.sockets:2d}"
        f" {len(s.workers):2d} {s.workers_kb / 1024:5.1f} {s.workers_anon_kb / 1024:7.1f}"
        f" {sum(s.others.values()) / 1024:5.1f} {s.db_bytes / mib:5.2f} {s.wal_bytes / mib:4.1f}"
        f" {s.live_bytes / mib:5.2f} {s.stories:7d} {s.alerted:7d} {s.keys:5d}"
        f" {s.oldest_s / 60:5.1f}m {s.alerts:5d}"
        f" {s.pending:4d} {cpu:4.0f} {kids:4.0f} {srv:4.0f} {others:7.0f} {rate:5.1f}"
    )


# ---------------------------------------------------------------- the daemon


def parse_seconds(text: str) -> float:
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([smhdw]?)", text):
        total += float(number) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    if total <= 0:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    return total


def config_text(args: argparse.Namespace, db: Path, urls: Sequence[str], capture_port: int) -> str:
    capture = f"127.0.0.1:{capture_port}"
    lines = [
        f"database: '{db}'",
        f"interval: {args.interval}",
        "max_age: 2d",
        f"retention: {args.retention}",
        f"cluster_window: {args.cluster_window}",
        f"workers: {args.workers}",
        "feed_alert_after: 1m",
        "health_notify: [health]",
        # Short timeouts so that a hanging answer times out (and backs off) within the run.
        "fetch: {connect_timeout: 4s, read_timeout: 4s, deadline: 8s, backoff_cap: 2m}",
        "channels:",
        f"  capture: 'json://{capture}/alerts'",
        f"  health: 'json://{capture}/health'",
        "feeds:",
    ]
    lines += [f"  - {{name: soak-{i:03d}, url: '{url}'}}" for i, url in enumerate(urls)]
    lines.append("rules:")
    for name, query in rules(args.seed):
        lines += [f"  - name: {name}", f"    query: '{query}'", "    notify: capture"]
    return "\n".join(lines) + "\n"


WRAPPER = """\
import runpy, sys
from datetime import timedelta
import watcher.daemon
watcher.daemon.RETENTION_INTERVAL = timedelta(seconds={seconds})  # soak.py: prune within the run
sys.argv[0] = "watcher"
runpy.run_module("watcher", run_name="__main__", alter_sys=True)
"""


def daemon_command(args: argparse.Namespace, config: Path) -> list[str]:
    if args.prune_every:
        return [
            sys.executable,
            "-c",
            WRAPPER.format(seconds=args.prune_every),
            "--config",
            str(config),
            "run",
        ]
    return [sys.executable, "-m", "watcher", "--config", str(config), "run"]


def stop_group(proc: subprocess.Popen[bytes], grace: float) -> tuple[int | None, list[int]]:
    """SIGTERM the daemon and wait; then SIGKILL whatever is left of its process group.

    Returns the daemon's exit status (None if it had to be killed) and the processes of
    its group still alive 5 s after it exited (its workers should go with it).
    """
    rc = proc.poll()
    if rc is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(grace)
        except subprocess.TimeoutExpired:
            rc = None
    deadline = time.monotonic() + 5
    while (survivors := group_members(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    if rc is None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
    return rc, survivors


def group_members(pgid: int) -> list[int]:
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry))
    return members


def tail(path: Path, lines: int) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return []


def log_summary(path: Path) -> list[str]:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ["(no log)"]
    levels: dict[str, int] = {}
    problems: dict[str, int] = {}
    for line in text.splitlines():
        m = re.search(r"\b(DEBUG|INFO|WARNING|ERROR|CRITICAL)\b (\S+): (.*)", line)
        if m:
            levels[m[1]] = levels.get(m[1], 0) + 1
            if m[1] in ("ERROR", "CRITICAL"):
                key = f"{m[2]}: " + re.sub(r"\d+", "N", m[3])[:140]
                problems[key] = problems.get(key, 0) + 1
        elif line.startswith("Traceback"):
            levels["Traceback"] = levels.get("Traceback", 0) + 1
    out = ["log lines: " + (", ".join(f"{k} {v}" for k, v in sorted(levels.items())) or "none")]
    out += [f"  {n} x {k}" for k, n in sorted(problems.items(), key=lambda kv: -kv[1])[:8]]
    return out


# ---------------------------------------------------------------- the summary


def growth(now: float, before: float) -> float:
    return 100 * (now - before) / before if before else math.inf


def slope_per_hour(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope, in % of the mean per hour (less noisy than last vs mid)."""
    if len(points) < 3:
        return math.nan
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    if not var or not my:
        return math.nan
    slope = sum((x - mx) * (y - my) for x, y in points) / var
    return 100 * slope * 3600 / my


def summarise(samples: Sequence[Sample], args: argparse.Namespace) -> bool:
    last = samples[-1]
    mid_i = min(range(len(samples)), key=lambda i: abs(samples[i].t - last.t / 2))
    mid = samples[mid_i]
    first, second = samples[:mid_i] or [mid], samples[mid_i:]
    window = max(MIN_WINDOW, len(samples) // 8)
    around_mid = samples[max(0, mid_i - window // 2) : mid_i + window // 2 + 1]
    at_end = samples[-window:]
    print()
    print(
        f"second half: t = {mid.t / 60:.1f} to {last.t / 60:.1f} min ({len(second)} samples)."
        f" Judged on peaks: the largest of the last {len(at_end)} samples against the largest"
        f" of the {len(around_mid)} around the middle, as one sample's fds move by a few with"
        f" the connections in flight; last vs mid and the least-squares trend are shown too."
    )
    ok = True
    checks = [
        ("daemon RSS", lambda s: s.rss_kb / 1024, "MB", True),
        ("daemon RssAnon", lambda s: s.anon_kb / 1024, "MB", False),
        ("workers RSS (sum)", lambda s: s.workers_kb / 1024, "MB", True),
        ("workers RssAnon", lambda s: s.workers_anon_kb / 1024, "MB", False),
        ("forkserver etc.", lambda s: sum(s.others.values()) / 1024, "MB", False),
        ("daemon fds", lambda s: float(s.fds), "", True),
        ("  of them sockets", lambda s: float(s.sockets), "", False),
        ("  not sockets", lambda s: float(s.fds - s.sockets), "", False),
        ("workers fds (sum)", lambda s: float(s.worker_fds), "", False),
    ]
    for name, get, unit, judged in checks:
        smooth = growth(max(get(s) for s in at_end), max(get(s) for s in around_mid))
        raw = growth(get(last), get(mid))
        trend = slope_per_hour([(s.t, get(s)) for s in second])
        verdict = ("PASS" if smooth < RSS_GOAL else "FAIL") if judged else "info"
        ok &= verdict != "FAIL"
        print(
            f"  {name:18} mid {get(mid):6.1f}{unit:2} last {get(last):6.1f}{unit:2}"
            f" last/mid {raw:+5.1f}%  peaks {smooth:+5.1f}%  trend {trend:+6.1f}%/h"
            f"  {verdict}" + (f" (< {RSS_GOAL:.0f}%)" if judged else "")
        )
    pids = [set(s.workers) for s in samples]
    if any(p != pids[0] for p in pids):
        print(f"  note: the worker pids changed ({len(set().union(*pids))} distinct pids)")

    prune_every = args.prune_every or RETENTION_INTERVAL_S
    window = args.retention_s + prune_every
    steady = window + 60
    mib = 2**20
    db_first = max(s.db_total for s in first)
    db_second = max(s.db_total for s in second)
    db_growth = growth(db_second, db_first)
    live_first = max(s.live_bytes for s in first)
    live_second = max(s.live_bytes for s in second)
    print(
        f"  database: file + WAL largest {db_first / mib:.2f} MB in the first half,"
        f" {db_second / mib:.2f} MB in the second ({db_growth:+.1f}%); pages in use largest"
        f" {live_first / mib:.2f} MB and {live_second / mib:.2f} MB"
        f" ({growth(live_second, live_first):+.1f}%); at the end {last.db_total / mib:.2f} MB"
        f" ({last.live_bytes / mib:.2f} MB in use)"
    )
    span2 = (last.t - mid.t) or 1.0
    rate = (last.items_added - mid.items_added) / span2
    expected = rate * window
    kept_second = max(s.stories - s.alerted for s in second)
    oldest_second = max(s.oldest_s for s in second)
    print(
        f"  bound: retention {args.retention} and a prune every {prune_every:.0f} s keep the"
        f" stories first seen in the last {window / 60:.1f} min at most ({rate:.2f} new a"
        f" second in the second half: ~{expected:.0f} stories), from ~{steady / 60:.0f} min"
        f" on; stories that alerted are never pruned ({mid.alerted} at mid, {last.alerted} at"
        f" the end), so the file may still grow by their rows and deliveries, and SQLite"
        f" keeps freed pages and a WAL of a few MB: the second half's largest file may exceed"
        f" the first half's by {DB_GOAL:.0f}% at most, and no story that did not alert may be"
        f" older than {window / 60:.1f} min + 1 min."
    )
    print(
        f"  stories that did not alert: at most {kept_second} in the second half (~{expected:.0f}"
        f" expected); the oldest of them at most {oldest_second / 60:.1f} min old"
    )
    if mid.t < steady:
        print(
            f"  database: n/a (the first half, {mid.t / 60:.1f} min, ends before the"
            f" ~{steady / 60:.0f} min it takes to reach steady state)"
        )
    else:
        verdict = "PASS" if db_growth <= DB_GOAL else "FAIL"
        aged = "PASS" if oldest_second <= window + 60 else "FAIL"
        ok &= verdict == "PASS" and aged == "PASS"
        print(f"  database size: {verdict} ({db_growth:+.1f}% against {DB_GOAL:.0f}%)")
        print(
            f"  retention: {aged} (oldest story that did not alert {oldest_second / 60:.1f} min,"
            f" against {(window + 60) / 60:.1f} min)"
        )

    span = last.t or 1.0
    x = last.extra
    print(
        f"  load: daemon {100 * last.cpu_s / span:.0f}% of a core, its children"
        f" {100 * last.kids_cpu_s / span:.0f}%, the feed server"
        f" {100 * last.server_cpu_s / span:.0f}%;"
        f" {last.requests} feed requests ({last.requests / span:.1f}/s: 200 {x.get('http_200')},"
        f" 304 {x.get('http_304')}, 5xx {x.get('http_5xx')}, hung {x.get('hangs')});"
        f" {last.items_added} items added; {last.alerts} alerts and {last.notices} feed notices"
        f" delivered (capture posts refused with 500, then retried: {x.get('capture_500')}),"
        f" {last.pending} pending"
    )
    return ok


def write_csv(path: Path, samples: Sequence[Sample]) -> None:
    import csv

    rows = [s.csv_row() for s in samples]
    if not rows:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def tree_state() -> str:
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "log", "--oneline", "-1"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        changed = subprocess.run(
            [
                "git",
                "--no-optional-locks",
                "-C",
                str(ROOT),
                "status",
                "--porcelain",
                "--",
                "watcher",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return "unknown tree"
    return head + (
        f" + uncommitted changes to {len(changed)} file(s) in watcher/" if changed else ""
    )


def loopback_ok(hosts: int) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((f"127.0.0.{1 + hosts}", 0))
    except OSError:
        return False
    return True


# ---------------------------------------------------------------- main


class Interrupted(Exception):
    pass


def on_signal(signum: int, _frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60, help="how long the daemon runs (60)")
    parser.add_argument("--feeds", type=int, default=50, help="feeds served (50)")
    parser.add_argument("--hosts", type=int, default=10, help="loopback hosts 127.0.0.2 ... (10)")
    parser.add_argument(
        "--interval", default="2s", help="the config's poll interval (2s, the least it accepts)"
    )
    parser.add_argument("--workers", type=int, default=2, help="the config's workers (2)")
    parser.add_argument("--retention", default="10m", help="the config's retention (10m)")
    parser.add_argument("--cluster-window", default="10m", help="the config's cluster_window (10m)")
    parser.add_argument(
        "--prune-every",
        type=int,
        default=60,
        help="seconds between the daemon's retention prunes (60; 0: its own 6 h, plain -m watcher)",
    )
    parser.add_argument(
        "--new-every", type=float, default=20.0, help="mean seconds between a feed's new items (20)"
    )
    parser.add_argument(
        "--sample-every", type=float, default=30.0, help="seconds between samples (30)"
    )
    parser.add_argument("--csv", type=Path, help="write the samples here as CSV")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (config, database, logs)"
    )
    args = parser.parse_args(argv)
    args.retention_s = parse_seconds(args.retention)
    if parse_seconds(args.interval) < 2:
        parser.error("--interval: 2s is the shortest the config accepts")
    if not loopback_ok(args.hosts):
        print(
            f"cannot listen on 127.0.0.2 ... 127.0.0.{1 + args.hosts}"
            " (Linux loopback needed); skipped"
        )
        return 0

    signal.signal(signal.SIGINT, on_signal)  # even when started in the background
    signal.signal(signal.SIGTERM, on_signal)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:  # nohup's stays ignored
        signal.signal(signal.SIGHUP, on_signal)

    work = Path(tempfile.mkdtemp(prefix="watcher-soak-"))
    db = work / "watcher.db"
    samples: list[Sample] = []
    ok = False
    proc: subprocess.Popen[bytes] | None = None
    try:
        spec = ServerSpec(
            args.feeds, args.hosts, args.seed, args.new_every, args.minutes * 60 + 600
        )
        with ServerProcess(spec) as server:
            config = work / "config.yaml"
            config.write_text(
                config_text(args, db, server.info["urls"], server.info["capture_port"])
            )
            command = daemon_command(args, config)
            print(f"watcher soak: {tree_state()}; {os.cpu_count()} cores; {args.minutes:g} min")
            print(
                f"{args.feeds} feeds on {args.hosts} loopback hosts, {ITEMS_PER_FEED} items each,"
                " 1-2 new"
                f" every ~{args.new_every:g} s; interval {args.interval}, workers {args.workers},"
                f" retention {args.retention}, cluster_window {args.cluster_window},"
                f" prune every {args.prune_every or 21600} s"
                + (" (RETENTION_INTERVAL patched by a wrapper)" if args.prune_every else "")
            )
            print(f"work folder {work}; daemon: {' '.join(command[:2])}... --config {config} run")
            for line in (
                "columns: RSS/anon = daemon VmRSS/RssAnon MB; fds/sk = its descriptors/sockets;",
                "  wk = workers (forked by the forkserver), their RSS and RssAnon MB; other ="
                " forkserver + resource tracker RSS; DB = file, WAL, pages in use (MB);",
                "  oldest = oldest story that did not alert; sent = alerts captured; pend ="
                " deliveries pending; cpu% of one core since the last sample (wk: workers,",
                "  srv: feed server, others: the rest of the machine, i.e. other users)",
            ):
                print(line)
            print()
            print(HEADER, flush=True)
            out = (work / "daemon.out").open("wb")
            err = (work / "daemon.err").open("wb")
            t0 = time.monotonic()
            busy0 = machine_busy()
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                cwd=work,
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
                    ),
                },
                start_new_session=True,
                preexec_fn=die_with_parent,  # this process has no threads of its own
            )
            out.close()
            err.close()
            end = args.minutes * 60
            n = 1
            while n * args.sample_every <= end + 1e-6:
                wake = t0 + n * args.sample_every
                while (left := wake - time.monotonic()) > 0:
                    time.sleep(min(left, 1.0))
                    if proc.poll() is not None:
                        break
                if proc.poll() is not None:
                    print(f"the daemon exited early with status {proc.returncode}")
                    break
                sample = take_sample(time.monotonic() - t0, proc.pid, db, server)
                print(row(sample, samples[-1] if samples else None, busy0), flush=True)
                samples.append(sample)
                n += 1
            early = proc.poll() is not None
            rc, survivors = stop_group(proc, 30)
            print()
            print(
                f"daemon stopped by SIGTERM: exit status {rc}"
                + (" (it had exited by itself)" if early else "")
            )
            if survivors:
                print(f"  processes of its group alive 5 s after it: {survivors} (killed)")
            if samples:
                ok = summarise(samples, args)
            ok &= rc == 0 and not early
            for line in log_summary(work / "daemon.err"):
                print(line)
            if rc != 0 or early:
                print("last lines of the daemon's stderr:")
                for line in tail(work / "daemon.err", 30):
                    print(f"  {line}")
            print(f"\nRESULT: {'PASS' if ok else 'FAIL'}")
    except Interrupted as exc:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not skip the clean-up
        print(f"\ninterrupted ({exc}); stopping the daemon and the server")
        if proc is not None:
            print(f"daemon stopped by SIGTERM: exit status {stop_group(proc, 30)[0]}")
        if len(samples) >= 2:
            summarise(samples, args)
        print("\nRESULT: INTERRUPTED")
    finally:
        if proc is not None and proc.poll() is None:
            stop_group(proc, 10)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if args.csv and samples:
            write_csv(args.csv, samples)
            print(f"samples written to {args.csv}")
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
