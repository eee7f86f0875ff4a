"""Worker processes for the CPU-heavy stages (parsing, analysis), so both cores work.

Each worker compiles the rules once, when it starts; a reload that changes the
rules starts a new pool.  With ``workers: 0`` everything runs in threads of
the daemon's own process instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

from watcher.core.analyse import Analysed, AnalysedFeed, analyse, parse_and_analyse
from watcher.core.models import ParsedFeed, RuleSpec, Story
from watcher.core.parse import parse_feed
from watcher.core.rules import RuleBook, compile_rule

T = TypeVar("T")

_book: RuleBook | None = None


# Workers yield the CPU to the event loop, which keeps fetch timing and deadlines.
WORKER_NICENESS = 10


_PR_SET_PDEATHSIG = 1


# The daemon's pid, for its forkserver: set before the pool starts one.
POOL_PARENT_ENV = "WATCHER_POOL_PARENT"


def die_with_parent(parent: int | None = None) -> None:
    """Ask Linux to kill this process when its parent dies, however the parent dies.

    A SIGKILLed daemon cannot shut its pool down; without this its forkserver
    and workers would live on (under systemd the cgroup cleans up; in a
    container or a terminal nothing does).  ``parent`` is the pid the parent
    must have: a worker that starts after its forkserver died has been
    adopted already, and must exit rather than ask to outlive its adopter.
    Elsewhere than Linux this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    if parent is None:
        parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _start(rules: Sequence[RuleSpec]) -> None:
    # A worker is forked from the forkserver, whose module (and pid) it inherits.
    die_with_parent(getattr(sys.modules.get("watcher._forkserver"), "PID", None))
    global _book
    _book = RuleBook(compile_rule(rule) for rule in rules)
    # The modules and compiled rules live as long as the worker: keep them out of
    # the collections that parsing's garbage triggers (1% of a worker's time).
    gc.freeze()
    # Where a sandbox forbids it, the workers run at the daemon's priority.
    with contextlib.suppress(OSError):
        os.nice(WORKER_NICENESS)


def analyse_here(stories: Sequence[Story]) -> list[Analysed]:
    """Run in a worker: the worker's own compiled rules."""
    assert _book is not None, "worker started without rules"
    return analyse(stories, _book)


def parse_and_analyse_here(
    feed: str, body: bytes, *, content_type: str | None, url: str
) -> AnalysedFeed:
    """Run in a worker: parse a feed and analyse its stories with the worker's rules."""
    assert _book is not None, "worker started without rules"
    return parse_and_analyse(feed, body, content_type=content_type, url=url, book=_book)


# The event loop does about a third of the work of a first pass (fetching, dedupe,
# clustering, storage; bench/bench_fetch.py): it keeps up with about three workers.
MAX_DEFAULT_WORKERS = 3


def worker_count(setting: int | None) -> int:
    """``workers`` from the config; None means one per core, at most three.

    One per core, not one per core beyond the event loop's: the workers run at
    a lower priority, so the loop still gets a core when it needs one, and the
    workers use the time it spends waiting (on a 2-core machine the first pass
    of bench/bench_fetch.py takes 21-29 s with two workers, 31-42 s with one).
    """
    if setting is not None:
        return setting
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS))


def start_pool(count: int, rules: Sequence[RuleSpec]) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a copy of one with threads.
    context = multiprocessing.get_context("forkserver")
    os.environ[POOL_PARENT_ENV] = str(os.getpid())
    context.set_forkserver_preload(
        ["watcher._forkserver", "watcher.core.analyse", "watcher.core.parse"]
    )
    return ProcessPoolExecutor(
        max_workers=count, mp_context=context, initializer=_start, initargs=(tuple(rules),)
    )


class Analyser:
    """The parse and analyse stages, run off the event loop.

    In worker processes when ``workers`` > 0 (each compiled the rules when it
    started), else in threads of this process with this object's compiled
    rules: the one place that knows which.
    """

    def __init__(self, rules: Sequence[RuleSpec], workers: int = 0) -> None:
        self.rules = tuple(rules)
        self.workers = workers
        self.book = RuleBook(compile_rule(rule) for rule in self.rules)
        self.pool = start_pool(workers, self.rules) if workers else None

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Any CPU-heavy step (parsing, extraction) on the stage's executor."""
        call = functools.partial(function, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    async def parse(self, feed: str, body: bytes, content_type: str | None, url: str) -> ParsedFeed:
        return await self.run(parse_feed, feed, body, content_type=content_type, url=url)

    async def parse_and_analyse(
        self, feed: str, body: bytes, content_type: str | None, url: str
    ) -> AnalysedFeed:
        """One trip to a worker per feed: the stories cross between processes once."""
        if self.pool is not None:
            return await self.run(
                parse_and_analyse_here, feed, body, content_type=content_type, url=url
            )
        return await self.run(
            parse_and_analyse, feed, body, content_type=content_type, url=url, book=self.book
        )

    async def analyse(self, stories: Sequence[Story]) -> list[Analysed]:
        if self.pool is not None:
            return await self.run(analyse_here, stories)
        return await self.run(analyse, stories, self.book)

    def with_rules(self, rules: Sequence[RuleSpec], workers: int) -> Analyser:
        """This stage for another config: itself if nothing it holds changed.

        A replaced pool finishes the work already handed to it.
        """
        if tuple(rules) == self.rules and workers == self.workers:
            return self
        self.close(wait=False)
        return Analyser(rules, workers)

    def close(self, *, wait: bool = True) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=wait, cancel_futures=wait)
