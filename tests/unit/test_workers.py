"""Worker processes: they give the event loop's answers, and yield the CPU to it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from watcher.core.analyse import parse_and_analyse
from watcher.core.models import RuleSpec
from watcher.core.rules import RuleBook, compile_rule
from watcher.workers import (
    MAX_DEFAULT_WORKERS,
    WORKER_NICENESS,
    parse_and_analyse_here,
    start_pool,
    worker_count,
)

RULES = (
    RuleSpec(name="hama", query="Hama AND rebel*"),
    RuleSpec(name="quake", query="earthquake"),
)
FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Wire</title>
<item><title>Rebels enter Hama</title><link>https://x.org/1</link>
<description>&lt;p&gt;Rebels took the &lt;b&gt;airport&lt;/b&gt;.&lt;/p&gt;</description></item>
<item><title>Earthquake in Türkiye</title><link>/2</link><guid>quake-2</guid></item>
<item><title>Hamas talks resume</title><link>https://x.org/3</link></item>
</channel></rss>""".encode()


def test_a_worker_gives_the_answer_of_the_event_loop_process() -> None:
    book = RuleBook(compile_rule(rule) for rule in RULES)
    here = parse_and_analyse("wire", FEED, content_type=None, url="https://x.org/rss", book=book)
    pool = start_pool(1, RULES)
    try:
        there = pool.submit(
            parse_and_analyse_here, "wire", FEED, content_type=None, url="https://x.org/rss"
        ).result(timeout=60)
    finally:
        pool.shutdown()
    assert there == here
    assert there.analysed is not None
    assert [[rule for rule, _ in item.hits] for item in there.analysed] == [["hama"], ["quake"], []]
    assert there.parsed.stories[1].link == "https://x.org/2"


def test_workers_run_at_a_lower_priority_than_the_event_loop() -> None:
    pool = start_pool(1, RULES)
    try:
        worker = pool.submit(os.nice, 0).result(timeout=60)
    finally:
        pool.shutdown()
    assert worker == min(19, os.nice(0) + WORKER_NICENESS)  # 19: the lowest there is
    assert worker > os.nice(0)  # the test process is not at 19 already


def test_default_worker_count_is_one_per_core_up_to_the_loops_capacity(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert worker_count(0) == 0
    assert worker_count(5) == 5
    default = worker_count(None)
    assert default == min(os.cpu_count() or 1, MAX_DEFAULT_WORKERS)
    assert 1 <= default <= MAX_DEFAULT_WORKERS
    assert MAX_DEFAULT_WORKERS == 3
    for cores, expected in ((1, 1), (2, 2), (8, 3), (None, 1)):
        monkeypatch.setattr(os, "cpu_count", lambda cores=cores: cores)
        assert worker_count(None) == expected, cores
        assert worker_count(5) == 5  # a setting is taken as it is, whatever the cores


# The intermediate process dies at once; its child, adopted by then, asks to die
# with the parent it was forked from.  run() reads the pipe the child inherited,
# so it returns when the child has exited (or printed and exited).
ADOPTED_AFTER_ITS_PARENT_DIED = """
import os, time
parent = os.getpid()
if os.fork():
    os._exit(0)
time.sleep(0.3)
from watcher.workers import die_with_parent
die_with_parent(parent)
print("alive", flush=True)
"""

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's"
)


@linux_only
def test_a_worker_whose_parent_died_before_it_started_exits_instead_of_living_on() -> None:
    # The race CI met: a worker forked just before its forkserver was killed lived on.
    done = subprocess.run(
        [sys.executable, "-c", ADOPTED_AFTER_ITS_PARENT_DIED],
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert (done.returncode, done.stdout) == (0, "")


@linux_only
def test_a_worker_with_its_parent_alive_keeps_running() -> None:
    script = "import os\nfrom watcher.workers import die_with_parent\n"
    script += "die_with_parent(os.getppid())\nprint('alive')"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=20
    )
    assert (done.returncode, done.stdout) == (0, "alive\n")
