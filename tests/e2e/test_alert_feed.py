"""Alerts as a feed and as a history: a real `watcher run` serves /alerts.atom to a
feed reader, and `watcher alerts` answers "was I told about X?"."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import feedparser
import httpx

from tests.conftest import Capture, Item, Project, rss
from tests.support.atom import NS, check_atom
from tests.support.daemon import LoggedDaemon as Daemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for

TOKEN = "e2e-feed-token-0123456789"
HOSTILE = "<script>alert(1)</script> Quake"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config(capture: Capture, feed: str, port: int, *, token: bool = True) -> str:
    return (
        f"http: 127.0.0.1:{port}\n"
        + ("http_token: ${WATCHER_HTTP_TOKEN}\n" if token else "")
        + "interval: 2s\n"
        f"channels: {{capture: '{capture.url}'}}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules:\n"
        "  - {name: quake, query: Quake, notify: [capture]}\n"
        "  - {name: flood, query: Flood, notify: [capture]}\n"
    )


def alerts_json(project: Project, *args: str) -> list[dict[str, Any]]:
    result = project.run("alerts", "--json", *args, env={"WATCHER_HTTP_TOKEN": TOKEN})
    assert result.exit_code == 0, result.stderr
    listing: list[dict[str, Any]] = json.loads(result.stdout)
    return listing


def test_watcher_run_serves_the_alert_feed_to_a_reader(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    port = free_port()
    feed = server.add("/wire.xml", rss(Item(HOSTILE, "http://n.example/quake?a=1&b=2", "q1")))
    project.write(config(capture, feed, port))
    daemon = Daemon(project, {"WATCHER_HTTP_TOKEN": TOKEN})
    daemons.append(daemon)
    assert wait_for(lambda: capture.count("Quake") == 1), daemon.output()
    base = f"http://127.0.0.1:{port}"

    # The feeds want the token; metrics and health do not.
    assert httpx.get(f"{base}/alerts.atom", timeout=5).status_code == 401
    guessed = httpx.get(f"{base}/alerts.atom", params={"token": "guess"}, timeout=5)
    assert guessed.status_code == 403
    assert httpx.get(f"{base}/metrics", timeout=5).status_code == 200
    assert httpx.get(f"{base}/health", timeout=5).json()["status"] == "ok"

    response = httpx.get(f"{base}/alerts.atom", params={"token": TOKEN}, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = check_atom(response.content)  # RFC 4287's schema, RFC 3339 dates, feedparser
    assert b"<script" not in response.content  # escaped, never markup
    parsed = feedparser.parse(response.content)
    assert parsed.bozo == 0 and len(parsed.entries) == 1
    entry = parsed.entries[0]
    assert entry.title == HOSTILE and entry.title_detail.type == "text/plain"
    assert entry.link == "http://n.example/quake?a=1&b=2"
    assert [author.name for author in entry.authors] == ["wire"]
    assert entry.tags[0].term == "quake"
    assert entry.id.startswith("urn:uuid:") and entry.published and entry.updated
    assert TOKEN not in response.text
    assert root.find("a:entry/a:summary", NS) is not None

    # A reader's repeat costs nothing: 304, by tag or by date.
    etag = response.headers["etag"]
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    repeat = httpx.get(f"{base}/alerts.atom", headers={**bearer, "If-None-Match": etag}, timeout=5)
    assert repeat.status_code == 304 and repeat.content == b""
    by_date = httpx.get(
        f"{base}/alerts.atom",
        headers={**bearer, "If-Modified-Since": response.headers["last-modified"]},
        timeout=5,
    )
    assert by_date.status_code == 304

    one_rule = httpx.get(f"{base}/alerts/quake.atom", headers=bearer, timeout=5)
    assert one_rule.status_code == 200
    assert [e.title for e in feedparser.parse(one_rule.content).entries] == [HOSTILE]
    quiet = httpx.get(f"{base}/alerts/flood.atom", headers=bearer, timeout=5)
    assert quiet.status_code == 200 and feedparser.parse(quiet.content).entries == []
    assert httpx.get(f"{base}/alerts/nope.atom", headers=bearer, timeout=5).status_code == 404

    # The history: what was alerted, to which channel, with what outcome, and the event.
    def sent() -> bool:
        listing = alerts_json(project)
        return bool(listing) and listing[0]["deliveries"][0]["status"] == "sent"

    assert wait_for(sent), alerts_json(project)
    [alert] = alerts_json(project, "--rule", "quake")
    assert (alert["rule"], alert["kind"], alert["title"]) == ("quake", "alert", HOSTILE)
    assert isinstance(alert["cluster"], int) and alert["told"] is True
    assert alert["outlets"] == ["wire"] and alert["feed"] == "wire"
    assert [(d["channel"], d["status"]) for d in alert["deliveries"]] == [("capture", "sent")]
    assert alert["deliveries"][0]["sent_at"]
    assert alerts_json(project, "--rule", "flood") == []

    assert daemon.stop() == 0
    log = daemon.output()
    assert f"http on http://127.0.0.1:{port}" in log
    assert TOKEN not in log and "Traceback" not in log

    # After the daemon, the history is still there, as a table for people.
    table = project.run("alerts", env={"WATCHER_HTTP_TOKEN": TOKEN, "COLUMNS": "200"})
    assert table.exit_code == 0, table.stderr
    assert "capture: sent" in table.stdout and "Quake" in table.stdout
    assert str(alert["cluster"]) in table.stdout


def test_without_a_token_the_feed_is_open_on_loopback(
    project: Project, server: HTTPServer, capture: Capture, daemons: list[Daemon]
) -> None:
    port = free_port()
    feed = server.add("/wire.xml", rss(Item("Quake hits Hama", "http://n.example/1", "1")))
    # A rule that notifies no channel: the feed is where its alerts are read.
    feed_only = "  - {name: feed-only, query: Hama, notify: []}\n"
    project.write(config(capture, feed, port, token=False) + feed_only)
    daemon = Daemon(project)
    daemons.append(daemon)
    assert wait_for(lambda: capture.count("Quake") == 1), daemon.output()
    response = httpx.get(f"http://127.0.0.1:{port}/alerts.atom", timeout=5)
    assert response.status_code == 200
    check_atom(response.content)
    only = httpx.get(f"http://127.0.0.1:{port}/alerts/feed-only.atom", timeout=5)
    assert [e.title for e in feedparser.parse(only.content).entries] == ["Quake hits Hama"]
    [recorded] = alerts_json(project, "--rule", "feed-only")
    assert recorded["deliveries"] == [] and recorded["told"] is False
    assert daemon.stop() == 0


def test_a_taken_port_stops_watcher_run_at_start_up(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        feed = server.add("/wire.xml", rss())
        project.write(config(capture, feed, port, token=False))
        result = subprocess.run(
            [sys.executable, "-m", "watcher", "--config", str(project.config), "run"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 2, result.stderr
    assert f"config.yaml: http: cannot listen on 127.0.0.1:{port}: address already in use" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


# -- `watcher alerts` and the settings, without a daemon ---------------------------------------


def test_alerts_explains_bad_usage_with_exit_2(project: Project) -> None:
    project.write("rules: [{name: quake, query: Quake}]\n")
    unknown = project.run("alerts", "--rule", "nope")
    assert unknown.exit_code == 2 and "no rule named 'nope' (known: quake)" in unknown.stderr
    bad = project.run("alerts", "--since", "soon")
    assert bad.exit_code == 2 and "watcher alerts: --since:" in bad.stderr
    nothing = project.run("alerts")
    assert (nothing.exit_code, nothing.stdout) == (0, "")  # quiet when nothing was alerted
    assert json.loads(project.run("alerts", "--json").stdout) == []


def test_http_settings_are_checked_with_their_line(project: Project) -> None:
    project.write("interval: 10m\nhttp: 127.0.0.1:9108\nhttp_token: ${NOPE_TOKEN}\n")
    unset = project.run("validate")
    assert unset.exit_code == 2
    assert ":3: http_token: environment variable ${NOPE_TOKEN} is not set" in unset.stderr

    project.write("http: 127.0.0.1:9108\nmetrics: 127.0.0.1:9109\n")
    both = project.run("validate")
    assert both.exit_code == 2 and ":2: metrics: the old name of http" in both.stderr

    project.write("http: '9108'\n")
    bare = project.run("validate")
    assert bare.exit_code == 2 and ":1: http: write '9108' as :9108" in bare.stderr

    project.write("http: 127.0.0.1:9108\nhttp_token: short\n")
    literal = project.run("validate")
    assert literal.exit_code == 0
    assert ":2: warning: http_token: a secret written in the file" in literal.stderr
    assert "easy to guess" in literal.stderr and "short" not in literal.stderr  # never shown


def test_the_old_name_metrics_still_works(project: Project) -> None:
    from watcher.config import load_config

    project.write("metrics: ':9108'\n")
    config = load_config(project.config, {})
    assert config.http == ("127.0.0.1", 9108) == config.metrics
    assert config.http_token is None
    project.write("http: '[::1]:9200'\nhttp_token: '${T}'\n")
    config = load_config(project.config, {"T": TOKEN})
    assert config.http == ("::1", 9200) and config.http_token == TOKEN
    assert TOKEN not in repr(config)


def test_the_recipes_are_configs_that_validate(project: Project) -> None:
    """docs/recipes.md: each YAML block is a whole config watcher accepts as it is."""
    recipes = (Path(__file__).resolve().parents[2] / "docs" / "recipes.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", recipes, re.DOTALL)
    assert len(blocks) == 3
    secrets = {
        name: "x" * 24
        for name in (
            "TELEGRAM_BOT_TOKEN",
            "TELEGRAM_CHAT_ID",
            "SMTP_PASSWORD",
            "WATCHER_HTTP_TOKEN",
        )
    }
    for block in blocks:
        project.write(block.replace("/var/lib/watcher/", "").replace("~/watcher/", ""))
        result = project.run("validate", env=secrets)
        assert result.exit_code == 0 and "warning" not in result.stderr, (block, result.stderr)
