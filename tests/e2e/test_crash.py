"""`watcher run` killed with SIGKILL at random moments: no alert is lost, none repeats
beyond the documented window.

README: "A delivery is marked sent immediately after the service accepts it. If
watcher is killed in that instant (between the service's answer and the database
write), that one alert is sent a second time after restart. It is never lost."

Deliveries run one at a time, so one kill can leave at most one message whose send
was not yet recorded: across all kills, the messages sent beyond one per story may
not outnumber the kills.  The capture endpoint answers a little slowly, which
widens that window so that kills do land in it now and then.  The last start ends
with a SIGTERM while a send waits for its answer: a clean stop repeats nothing.

WATCHER_CRASH_SEED=N picks other kill moments (the seed is printed).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import Capture, Item, Project, rss
from tests.support.httpserver import HTTPServer
from tests.support.procs import living_in_group
from tests.support.waiting import wait_for

# SIGKILL of the one writer; PostgreSQL: test_instances
pytestmark = pytest.mark.sqlite_only

FEEDS = 5
ROUNDS = 8
# How long the capture endpoint takes to answer: kills inside it land in the window.
SEND_DELAY = 0.15
SEED = int(os.environ.get("WATCHER_CRASH_SEED", "1729"))


def start(project: Project, log: Path) -> subprocess.Popen[bytes]:
    """`watcher run` in its own session, so that its worker processes share its group."""
    with log.open("ab") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "watcher", "--config", str(project.config), "run"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the daemon and every process of its group (the forkserver, the workers)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    # Nothing of a killed daemon may live on to send or write after it.
    assert wait_for(lambda: not living_in_group(process.pid), timeout=5), living_in_group(
        process.pid
    )


@pytest.mark.parametrize("workers", [0, 2])
def test_sigkill_at_any_moment_loses_no_alert_and_repeats_only_in_the_window(
    project: Project, server: HTTPServer, capture: Capture, workers: int
) -> None:
    rng = random.Random(f"{SEED}-{workers}")
    print(f"seed {SEED}, workers {workers}")
    server.add(capture.path, b"{}", headers={"Content-Type": "application/json"}, delay=SEND_DELAY)
    items: list[list[Item]] = [[] for _ in range(FEEDS)]
    stories: list[Item] = []

    def publish(feed: int) -> None:
        n = len(stories)
        item = Item(f"Quake report {n:03d} from feed {feed}", f"http://quake.example/{n}", f"q{n}")
        stories.append(item)
        items[feed].insert(0, item)
        server.add(f"/f{feed}.xml", rss(*items[feed], title=f"Feed {feed}"))

    for feed in range(FEEDS):
        publish(feed)
    listed = "".join(
        f"  - {{name: f{i}, url: '{server.url(f'/f{i}.xml')}'}}\n" for i in range(FEEDS)
    )
    project.write(
        f"interval: 2s\nworkers: {workers}\ncluster: false\n"
        f"channels: {{capture: '{capture.url}'}}\n"
        f"feeds:\n{listed}"
        "rules:\n  - {name: quake, query: quake, notify: [capture]}\n"
    )
    log = project.root / "daemon.log"
    started = time.monotonic()

    kills = 0
    for round_ in range(ROUNDS):
        for _ in range(rng.randint(1, 2)):
            publish(rng.randrange(FEEDS))
        daemon = start(project, log)
        try:
            time.sleep(rng.uniform(0.5, 3.0))
            assert daemon.poll() is None, f"round {round_}: daemon died\n{log.read_text()}"
        finally:
            kill_group(daemon)
        kills += 1

    sent_by_killed_runs = len(capture.messages())

    # The last start: the backlog goes out (a new story makes the first poll deliver at
    # once, not at the next delivery run), then a clean stop.  The endpoint now holds its
    # answers longer, so the SIGTERM arrives while the last send waits for its answer:
    # a clean stop lets that send finish and records it, so it must not repeat it.
    server.add(capture.path, b"{}", headers={"Content-Type": "application/json"}, delay=1.0)
    publish(rng.randrange(FEEDS))
    final_log_from = log.stat().st_size
    daemon = start(project, log)
    try:
        everything = wait_for(
            lambda: all(capture.count(story.title) >= 1 for story in stories), timeout=25
        )
        before_stop = len(capture.messages())
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=15)
    finally:
        if daemon.poll() is None:
            kill_group(daemon)
    output = log.read_text()
    final_output = output[final_log_from:]

    def sent(messages: list[dict[str, str]]) -> Counter[str]:
        text = [m.get("title", "") + "\n" + m.get("message", "") for m in messages]
        return Counter({s.title: n for s in stories if (n := sum(s.title in t for t in text))})

    messages = capture.messages()
    counts = sent(messages)
    lost = [story.title for story in stories if counts[story.title] == 0]
    extra = sum(counts.values()) - len(counts)
    # Sent before the SIGTERM, and again after it: the clean stop repeated them.
    repeated_by_stop = sorted(sent(messages[:before_stop]).keys() & sent(messages[before_stop:]))
    print(
        f"workers {workers}: {len(stories)} stories, {kills} kills, {len(messages)} messages, "
        f"{sum(n > 1 for n in counts.values())} titles repeated ({extra} extra sends, "
        f"{len(repeated_by_stop)} by the clean stop; {sent_by_killed_runs} messages before "
        f"the last start), {time.monotonic() - started:.1f} s"
    )
    assert everything and not lost, f"lost alerts: {lost}\n{output}"
    assert len(messages) == sum(counts.values())  # nothing but these alerts
    assert extra - len(repeated_by_stop) <= kills, f"more repeats than kills: {counts}"
    assert not repeated_by_stop, f"SIGTERM during a send repeated it\n{final_output}"
    assert code == 0, final_output
    assert "Traceback" not in final_output, final_output
    outbox = project.run("outbox", "--json")
    assert outbox.exit_code == 0, outbox.output
    assert json.loads(outbox.stdout) == [], outbox.stdout  # nothing left waiting
