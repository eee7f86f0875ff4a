"""Several `watcher run` instances on one PostgreSQL database are one service (#17).

Three real daemons share a real PostgreSQL server; twenty loopback feeds on four
hosts gain stories every fraction of a second; one instance is killed with
SIGKILL mid-way.  Every story alerts exactly once, no feed is fetched twice
within its interval (counted at the server), and the feeds the killed instance
held are polled again by the others once its leases run out.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from pathlib import Path

import psycopg
from click.testing import CliRunner

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import LoggedDaemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for
from watcher.cli import cli

INTERVAL = 2.0  # seconds
LEASE = 6.0
HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
FEEDS_PER_HOST = 5
WORDS = [f"w{n:03d}" for n in range(1000)]


class Newsroom:
    """Twenty feeds on four loopback hosts; ``publish`` adds a story to one of them."""

    def __init__(self, servers: list[HTTPServer]) -> None:
        self.servers = servers
        self.items: dict[tuple[int, str], list[Item]] = {}
        self.titles: list[str] = []
        self.lock = threading.Lock()
        self.rng = random.Random(17)
        for index, srv in enumerate(servers):
            for number in range(FEEDS_PER_HOST):
                self.items[(index, f"/feed{number}.xml")] = []
                srv.add(f"/feed{number}.xml", rss())

    def feeds(self) -> list[tuple[str, str]]:
        return [
            (f"h{index}f{path[5]}", self.servers[index].url(path)) for index, path in self.items
        ]

    def publish(self) -> None:
        with self.lock:
            index, path = self.rng.choice(list(self.items))
            serial = len(self.titles)
            # Every story its own event: no two share more than the rule's word.
            words = " ".join(self.rng.sample(WORDS, 8))
            title = f"Hama report {serial:04d} {words}"
            self.titles.append(title)
            self.items[(index, path)].append(
                Item(title, f"http://{HOSTS[index]}/story/{serial}", guid=f"s{serial}")
            )
            self.servers[index].add(path, rss(*self.items[(index, path)][-30:]))

    def fetch_times(self) -> dict[str, list[float]]:
        return {
            f"h{index}f{path[5]}": [r.at for r in self.servers[index].hits(path)]
            for index, path in self.items
        }


def _config(project: Project, url: str, capture: Capture, room: Newsroom, name: str) -> Path:
    root = project.root / name
    root.mkdir()
    feeds = "\n".join(
        f"  - name: {feed}\n    url: {link}\n    interval: {INTERVAL:g}s"
        for feed, link in room.feeds()
    )
    config = root / "config.yaml"
    config.write_text(
        f"database: {url}\ninstance: {name}\nlease: {LEASE:g}s\nworkers: 0\n"
        f"channels:\n  desk: '{capture.url}'\n"
        f"feeds:\n{feeds}\n"
        "rules:\n  - name: hama\n    query: Hama\n    notify: [desk]\n",
        encoding="utf-8",
    )
    return config


def test_three_instances_share_the_feeds_and_alert_each_story_once(
    tmp_path: Path, postgres_url: str, capture: Capture
) -> None:
    project = Project(tmp_path)
    servers = [HTTPServer(host).__enter__() for host in HOSTS]
    daemons: list[LoggedDaemon] = []
    try:
        room = Newsroom(servers)
        for _ in range(10):
            room.publish()
        for name in ("a", "b", "c"):
            instance = Project(project.root / name)
            instance.config = _config(project, postgres_url, capture, room, name)
            daemons.append(LoggedDaemon(instance))
        assert wait_for(lambda: all("watching" in d.output() for d in daemons), timeout=60)
        publishing = True

        def newsroom() -> None:
            while publishing:
                room.publish()
                time.sleep(0.3)

        thread = threading.Thread(target=newsroom, daemon=True)
        thread.start()
        time.sleep(4)

        def pollers() -> set[str]:
            with psycopg.connect(postgres_url) as conn:
                return {row[0] for row in conn.execute("SELECT DISTINCT polled_by FROM feeds")}

        # Mid-way: once every instance has done its share of polls.
        assert wait_for(lambda: pollers() >= {"a", "b", "c"}, timeout=60), pollers()
        with psycopg.connect(postgres_url) as conn:
            held_by_b = {
                name
                for (name,) in conn.execute(
                    "SELECT name FROM feeds WHERE polled_by = 'b' OR lease_owner = 'b'"
                )
            }
        daemons[1].kill()  # SIGKILL: no chance to hand anything over
        killed_at = time.monotonic()
        time.sleep(12)
        publishing = False
        thread.join()
        titles = list(room.titles)

        def all_told() -> bool:
            bodies = "\n".join(
                m.get("title", "") + m.get("message", "") for m in capture.messages()
            )
            return all(title in bodies for title in titles)

        wait_for(all_told, timeout=40)
        time.sleep(INTERVAL * 2)  # time for a duplicate to show, if there were one
        for daemon in (daemons[0], daemons[2]):
            assert daemon.stop() == 0, daemon.output()
    finally:
        for daemon in daemons:
            daemon.kill()
        for srv in servers:
            srv.__exit__(None, None, None)

    # Every story alerted exactly once, whichever instance polled and sent it.
    bodies = [m.get("title", "") + "\n" + m.get("message", "") for m in capture.messages()]
    counts = {title: sum(title in body for body in bodies) for title in titles}
    assert {title: n for title, n in counts.items() if n != 1} == {}
    assert len(titles) > 40

    # No feed was fetched twice within its interval, by any two instances.
    gaps = [
        later - earlier
        for times in room.fetch_times().values()
        for earlier, later in itertools.pairwise(times)
    ]
    assert gaps and min(gaps) >= INTERVAL * 0.95, sorted(gaps)[:5]

    # The killed instance's feeds went on being polled by the others.
    assert held_by_b, "instance b never polled a feed before it was killed"
    times = room.fetch_times()
    for feed in held_by_b:
        # Taken over within the lease and two intervals (and a claim tick, and a second
        # of the stored times' rounding), and polled on after that.
        after = [at - killed_at for at in times[feed] if at > killed_at]
        assert after and after[0] <= LEASE + 2 * INTERVAL + 2, (feed, after[:3])
        assert any(at > LEASE + 2 * INTERVAL for at in after), (feed, after)
    with psycopg.connect(postgres_url) as conn:
        last = dict(conn.execute("SELECT name, polled_by FROM feeds").fetchall())
    assert {last[feed] for feed in held_by_b} <= {"a", "c"}
    # Both survivors did their share.
    assert {"a", "c"} <= set(last.values())


def test_a_copy_polled_by_another_instance_a_second_later_is_the_same_event(
    tmp_path: Path, postgres_url: str, server: HTTPServer, capture: Capture
) -> None:
    """Instance a polls the wire, instance b an outlet that runs the wire's story: one
    event, one alert, though each instance decided on its own story."""
    wire = Item(
        "Rebels seize airport outside Hama after a night of heavy fighting",
        "http://wire.example/hama-airport",
        "w1",
        summary="Rebel fighters took the military airport outside Hama on Tuesday.",
    )
    copy = Item(wire.title, "http://outlet.example/world/hama-airport", "o1", summary=wire.summary)
    server.add("/wire.xml", rss())
    server.add("/outlet.xml", rss())
    configs = {"a": ("wire", "/wire.xml"), "b": ("outlet", "/outlet.xml")}
    daemons = []
    try:
        for name, (feed, path) in configs.items():
            root = tmp_path / name
            root.mkdir()
            config = root / "config.yaml"
            config.write_text(
                f"database: {postgres_url}\ninstance: {name}\nworkers: 0\n"
                f"channels:\n  desk: '{capture.url}'\n"
                f"feeds:\n  - name: {feed}\n    url: {server.url(path)}\n    interval: 2s\n"
                "rules:\n  - name: hama\n    query: Hama AND rebel*\n    notify: [desk]\n",
                encoding="utf-8",
            )
            instance = Project(root)
            instance.config = config
            daemons.append(LoggedDaemon(instance))

        def polled() -> bool:
            return bool(server.hits("/wire.xml")) and bool(server.hits("/outlet.xml"))

        assert wait_for(polled, timeout=60)
        server.add("/wire.xml", rss(wire))
        server.add("/outlet.xml", rss(copy))

        def stored() -> list[tuple[str, int]]:
            with psycopg.connect(postgres_url) as conn:
                return conn.execute("SELECT feed, cluster_id FROM stories").fetchall()

        assert wait_for(lambda: len(stored()) == 2, timeout=30)
        assert wait_for(lambda: capture.count(wire.title) >= 1, timeout=30)
        time.sleep(INTERVAL * 2)
        for daemon in daemons:
            assert daemon.stop() == 0, daemon.output()
    finally:
        for daemon in daemons:
            daemon.kill()
    # Each instance names itself in every log line, and `watcher feeds` names the poller.
    for name, daemon in zip(configs, daemons, strict=True):
        lines = [line for line in daemon.output().splitlines() if line.strip()]
        assert lines and all(line.startswith(f"[{name}] ") for line in lines), lines[:3]
    feeds = json.loads(CliRunner().invoke(cli, ["--config", str(tmp_path / "a" / "config.yaml"),
                                                "feeds", "--json"]).stdout)  # fmt: skip
    assert [(f["name"], f["polled_by"]) for f in feeds] == [("wire", "a")]
    rows = stored()
    assert {feed for feed, _ in rows} == {"wire", "outlet"}
    assert len({cluster for _, cluster in rows}) == 1  # one event
    assert capture.count(wire.title) == 1  # one alert
