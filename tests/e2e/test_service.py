"""watcher as a long-lived service: hot reload, clean stops, sd_notify, metrics, retention."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import jsonschema
import pytest
from ruamel.yaml import YAML

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import LoggedDaemon as Daemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for
from watcher.config import json_schema, load_config
from watcher.wiring import open_pipeline, prune

REPO = Path(__file__).resolve().parents[2]


def service_config(capture: Capture, feeds: dict[str, str], rules: str) -> str:
    listed = "".join(f"  - {{name: {name}, url: '{url}'}}\n" for name, url in feeds.items())
    return f"interval: 2s\nchannels: {{capture: '{capture.url}'}}\nfeeds:\n{listed}rules:\n{rules}"


HAMA = Item("Rebels enter Hama", "http://n.example/1", "1")
IDLIB = Item("Army shells Idlib", "http://n.example/2", "2")


def test_an_edited_config_takes_effect_without_a_restart(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    a = server.add("/a.xml", rss(HAMA, IDLIB))
    b = server.add("/b.xml", rss())
    project.write(
        service_config(
            capture, {"a": a, "b": b}, "  - {name: hama, query: Hama, notify: [capture]}\n"
        )
    )
    daemon = Daemon(project)
    daemons.append(daemon)
    assert wait_for(lambda: capture.count(HAMA.title) == 1), daemon.output()

    # A new rule and a removed feed, written the way editors do (a new file renamed over).
    edited = project.root / "config.yaml.new"
    edited.write_text(
        service_config(
            capture,
            {"a": a},
            "  - {name: hama, query: Hama, notify: [capture]}\n"
            "  - {name: idlib, query: Idlib, notify: [capture]}\n",
        )
    )
    edited.replace(project.config)
    assert wait_for(lambda: "config reloaded" in daemon.output()), daemon.output()
    # The new rule applies to stories that arrive from now on.
    fresh = Item("Idlib talks collapse", "http://n.example/3", "3")
    server.add("/a.xml", rss(fresh, HAMA, IDLIB))
    assert wait_for(lambda: capture.count(fresh.title) == 1), daemon.output()
    polls_of_b = len(server.hits("/b.xml"))
    time.sleep(4.5)  # two intervals
    assert len(server.hits("/b.xml")) == polls_of_b  # removed feed: no longer polled

    # A broken edit is refused with its line; the daemon goes on with the last good config.
    project.config.write_text(project.config.read_text() + "  - {name: broken, query: '(Hama'}\n")
    assert wait_for(lambda: "config reload refused" in daemon.output()), daemon.output()
    assert f"{project.config}:8: rule 'broken'" in daemon.output()
    later = Item("Idlib ceasefire holds", "http://n.example/4", "4")
    server.add("/a.xml", rss(later, fresh, HAMA, IDLIB))
    assert wait_for(lambda: capture.count(later.title) == 1), daemon.output()

    assert daemon.stop() == 0
    # Across the reloads, each story alerted exactly once.
    assert capture.count(HAMA.title) == 1 and capture.count(fresh.title) == 1
    assert "Traceback" not in daemon.output()


def test_sighup_reloads(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    a = server.add("/a.xml", rss(IDLIB))
    project.write(service_config(capture, {"a": a}, "  - {name: hama, query: Hama}\n"))
    daemon = Daemon(project, watch=False)  # no file watcher: only the signal can reload
    daemons.append(daemon)
    assert wait_for(lambda: "watching 1 feeds" in daemon.output()), daemon.output()
    assert wait_for(lambda: len(server.hits("/a.xml")) >= 1)  # IDLIB seen, under no rule
    project.write(
        service_config(capture, {"a": a}, "  - {name: idlib, query: Idlib, notify: [capture]}\n")
    )
    time.sleep(1.5)  # a file watcher reloads within half a second (300 ms debounce)
    assert "config reloaded" not in daemon.output()  # the edit alone changed nothing
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: "config reloaded" in daemon.output()), daemon.output()
    # The new rule applies to stories that arrive from now on.
    fresh = Item("Idlib talks collapse", "http://n.example/3", "3")
    server.add("/a.xml", rss(fresh, IDLIB))
    assert wait_for(lambda: capture.count(fresh.title) == 1), daemon.output()
    assert capture.count(IDLIB.title) == 0  # seen before the reload: never alerted
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.output()


def test_sigterm_stops_promptly_even_with_a_fetch_hanging(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    def hang(handler: object) -> None:
        time.sleep(30)

    good = server.add("/good.xml", rss(HAMA))
    server.add("/hang.xml", handler=hang)
    project.write(
        service_config(
            capture,
            {"good": good, "hang": server.url("/hang.xml")},
            "  - {name: hama, query: Hama, notify: [capture]}\n",
        )
    )
    daemon = Daemon(project)
    daemons.append(daemon)
    assert wait_for(lambda: capture.count(HAMA.title) == 1)
    assert wait_for(lambda: len(server.hits("/hang.xml")) >= 1)
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 8
    assert "stopped" in daemon.output()


def test_sd_notify_messages_arrive_on_the_notify_socket(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon], tmp_path: Path
) -> None:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(0.2)
    a = server.add("/a.xml", rss(HAMA))
    project.write(service_config(capture, {"a": a}, "  - {name: hama, query: Hama}\n"))
    daemon = Daemon(project, env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000"})
    daemons.append(daemon)
    seen: list[str] = []

    def receive() -> None:
        with contextlib.suppress(TimeoutError):
            seen.append(sock.recv(4096).decode())

    def have(prefix: str) -> bool:
        receive()
        return any(line.startswith(prefix) for m in seen for line in m.splitlines())

    assert wait_for(lambda: have("READY=1"))
    assert wait_for(lambda: have("STATUS=1 feeds ok, 0 failing; 0 alerts pending"))
    assert wait_for(lambda: have("WATCHDOG=1"))
    project.write(service_config(capture, {"a": a}, "  - {name: idlib, query: Idlib}\n"))
    daemon.process.send_signal(signal.SIGHUP)
    assert wait_for(lambda: have("RELOADING=1"))
    assert daemon.stop() == 0
    assert wait_for(lambda: have("STOPPING=1"), timeout=2)
    sock.close()


def test_metrics_and_health_endpoint(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    a = server.add("/a.xml", rss(HAMA))
    project.write(
        f"metrics: 127.0.0.1:{port}\n"
        + service_config(capture, {"a": a}, "  - {name: hama, query: Hama, notify: [capture]}\n")
    )
    daemon = Daemon(project)
    daemons.append(daemon)
    assert wait_for(lambda: capture.count(HAMA.title) == 1)

    def scrape() -> str:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            return ""

    assert wait_for(lambda: 'watcher_fetches_total{feed="a",outcome="ok"} 1.0' in scrape())
    text = scrape()
    assert 'watcher_matches_total{rule="hama"} 1.0' in text
    assert 'watcher_deliveries_total{channel="capture",outcome="sent"} 1.0' in text
    assert "watcher_fetch_duration_seconds_bucket" in text
    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert daemon.stop() == 0


def test_retention_prunes_old_stories_but_never_lets_them_alert_again(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = Item("Cairo talks resume", "http://n.example/old", "old")
    hit = Item("Rebels enter Hama", "http://n.example/hit", "hit")
    url = server.add("/a.xml", rss(old, hit))
    project.write(
        f"retention: 30d\nchannels: {{capture: '{capture.url}'}}\n"
        f"feeds: [{{name: a, url: '{url}'}}]\n"
        "rules: [{name: hama, query: Hama, notify: [capture]},"
        " {name: cairo, query: Cairo AND Hama, notify: [capture]}]\n"
    )
    config = load_config(project.config, {})
    now = datetime.now(UTC)
    clock = {"now": now}

    async def at(moment: datetime) -> None:
        clock["now"] = moment
        async with open_pipeline(config, clock=lambda: clock["now"]) as pipeline:
            await pipeline.poll_all(force=True)
            await pipeline.deliver_due()
            prune(pipeline, config)

    asyncio.run(at(now))
    assert capture.count(hit.title) == 1

    def titles() -> set[str]:
        return {row[0] for row in project.sql("SELECT title FROM stories")}

    # 40 days on, the feed still lists both: the old story is pruned, its identity kept.
    server.add("/a.xml", rss(old, hit, Item("filler", "http://n.example/f", "f")))
    asyncio.run(at(now + timedelta(days=40)))
    assert old.title not in titles() and hit.title in titles()  # alerted: kept
    # The rule changes so that the pruned story would match now: it still never alerts.
    server.add("/a.xml", rss(Item("Cairo and Hama", old.link, old.guid), hit))
    asyncio.run(at(now + timedelta(days=41)))
    assert capture.count("Cairo") == 0

    # Identities no feed has listed for the retention period go too: the database stays bounded.
    def keys() -> set[str]:
        return {row[0] for row in project.sql("SELECT key FROM story_keys")}

    assert "link:http://n.example/f" in keys()
    server.add("/a.xml", rss(hit))
    asyncio.run(at(now + timedelta(days=80)))
    assert "link:http://n.example/f" not in keys() and "link:http://n.example/old" not in keys()
    assert "link:http://n.example/hit" in keys()  # it alerted: kept with its story


def test_the_shipped_schema_is_current_and_the_example_config_follows_it() -> None:
    shipped = json.loads((REPO / "watcher.schema.json").read_text())
    assert shipped == json_schema(), "run `watcher schema > watcher.schema.json`"
    example = YAML(typ="safe").load((REPO / "config.yaml").read_text())
    jsonschema.validate(example, shipped)
    assert (
        (REPO / "config.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=watcher.schema.json")
    )
    example["rules"][0]["notfy"] = ["stdout"]  # a typo an editor must flag
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(example, shipped)


def test_schema_command_prints_it(project: Project) -> None:
    result = project.run("schema")
    assert result.exit_code == 0 and json.loads(result.stdout) == json_schema()


def test_intervals_down_to_2s_with_a_warning_under_a_minute(project: Project) -> None:
    project.write("feeds: [{name: a, url: 'http://x.example/a', interval: 30s}]\n")
    config = load_config(project.config, {})
    assert config.feeds[0].interval == timedelta(seconds=30)
    assert "under a minute" in str(config.warnings[0]) and ":1:" in str(config.warnings[0])
    project.write("feeds: [{name: a, url: 'http://x.example/a', interval: 1s}]\n")
    result = project.run("validate")
    assert result.exit_code == 2 and "at least 2s" in result.stderr


def test_json_logs_for_log_shippers(project: Project, server: HTTPServer) -> None:
    url = server.add("/a.xml", b"nope", status=500)
    project.write(f"feeds: [{{name: a, url: '{url}'}}]\n")
    result = project.run("--log-format", "json", "once")
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["level"] == "warning" and "feed 'a'" in entry["message"] for entry in lines)


@pytest.mark.parametrize(
    ("broken", "where"),
    [
        (
            "  - {name: deep, query: '" + "(" * 1000 + "Hama" + ")" * 1000 + "'}\n",
            ":7: rule 'deep'",
        ),
        ("  - {name: nul, query: 'Ha\x00ma'}\n", ":7:"),
    ],
    ids=["1000 nested parentheses", "a NUL byte"],
)
def test_a_reload_that_breaks_is_refused_and_the_next_edit_still_applies(
    project: Project,
    server: HTTPServer,
    capture: Capture,
    daemons: list[Daemon],
    broken: str,
    where: str,
) -> None:
    a = server.add("/a.xml", rss(HAMA))
    rules = "  - {name: hama, query: Hama, notify: [capture]}\n"
    project.write(service_config(capture, {"a": a}, rules))
    daemon = Daemon(project)
    daemons.append(daemon)
    assert wait_for(lambda: capture.count(HAMA.title) == 1), daemon.output()
    project.write(service_config(capture, {"a": a}, rules + broken))
    assert wait_for(lambda: "config reload refused" in daemon.output()), daemon.output()
    assert f"{project.config}{where}" in daemon.output()
    # The fix, with a feed added: applied, and the new feed is polled.
    b = server.add("/b.xml", rss(IDLIB))
    rules += "  - {name: idlib, query: Idlib, notify: [capture]}\n"
    project.write(service_config(capture, {"a": a, "b": b}, rules))
    assert wait_for(lambda: capture.count(IDLIB.title) == 1), daemon.output()
    assert daemon.stop() == 0
    assert "Traceback" not in daemon.output() and "died" not in daemon.output()
