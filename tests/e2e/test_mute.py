"""Mute and unmute: a rule or one event goes quiet, from the next poll, daemon or not."""

from __future__ import annotations

import json

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import start_daemon, stop_daemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for

FIRST = Item("Quake hits Chile coast", "http://news.example/1")
SECOND = Item("Floods sweep Jakarta suburbs", "http://news.example/2")
THIRD = Item("Quake aftershock felt in Santiago", "http://news.example/3")


def configure(project: Project, server: HTTPServer, capture: Capture, *items: Item) -> None:
    url = server.add("/feed.xml", rss(*items))
    project.write(
        f"""\
interval: 2s
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{url}"}}]
rules:
  - {{name: quake, query: quake OR aftershock, notify: [out], updates: true}}
  - {{name: floods, query: floods, notify: [out]}}
"""
    )


def statuses(project: Project) -> dict[str, list[str]]:
    rows = project.sql(
        """SELECT s.title, d.status FROM deliveries d JOIN alerts a ON a.id = d.alert_id
           JOIN stories s ON s.id = a.story_id ORDER BY d.id"""
    )
    found: dict[str, list[str]] = {}
    for title, status in rows:
        found.setdefault(title, []).append(status)
    return found


def test_a_muted_rule_records_its_alerts_and_never_sends_them(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, FIRST, SECOND)
    assert project.run("mute", "quake").exit_code == 0
    assert project.run("once").exit_code == 0
    assert capture.count(FIRST.title) == 0 and capture.count(SECOND.title) == 1
    assert statuses(project)[FIRST.title] == ["muted"]
    assert project.run("unmute", "quake").exit_code == 0
    configure(project, server, capture, THIRD, FIRST, SECOND)
    assert project.run("once", "--force").exit_code == 0
    assert capture.count(THIRD.title) == 1  # new stories alert again
    assert capture.count(FIRST.title) == 0  # the muted one is never sent later
    assert json.loads(project.run("outbox", "--json").stdout) == []


def test_mutes_lists_them_with_their_end_and_unmute_says_when_nothing_was(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, FIRST)
    assert project.run("mute", "quake", "--for", "2h").exit_code == 0
    assert project.run("mute", "--cluster", "42").exit_code == 0
    listed = json.loads(project.run("mutes", "--json").stdout)
    assert [(m["kind"], m["target"]) for m in listed] == [("cluster", "42"), ("rule", "quake")]
    assert listed[0]["until"] is None and listed[1]["until"] is not None
    assert project.run("unmute", "--cluster", "42").exit_code == 0
    again = project.run("unmute", "--cluster", "42")
    assert again.exit_code == 1 and "was not muted" in again.stderr
    unknown = project.run("mute", "nope")
    assert unknown.exit_code == 2 and "no rule named 'nope'" in unknown.stderr
    bad = project.run("mute", "quake", "--for", "soon")
    assert bad.exit_code == 2 and "--for" in bad.stderr


def test_a_muted_event_sends_no_update_while_other_events_still_alert(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    copy = Item("Quake hits Chile coast - Reuters", "http://other.example/1")
    wire = server.add("/feed.xml", rss(FIRST))
    other = server.add("/other.xml", rss())
    config = f"""\
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{wire}"}}, {{name: other, url: "{other}"}}]
rules:
  - {{name: quake, query: quake, notify: [out], updates: true}}
  - {{name: floods, query: floods, notify: [out]}}
"""
    project.write(config)
    project.run("once")
    assert capture.count(FIRST.title) == 1
    [(cluster,)] = project.sql("SELECT cluster_id FROM stories")
    assert project.run("mute", "--cluster", str(cluster)).exit_code == 0
    server.add("/other.xml", rss(copy, SECOND))  # another outlet: an update, muted
    project.run("once", "--force")
    assert capture.count("also reported by") == 0
    assert capture.count(SECOND.title) == 1  # another event still alerts
    assert statuses(project)[copy.title] == ["muted"]
    assert project.run("unmute", "--cluster", str(cluster)).exit_code == 0


def test_a_mute_set_while_the_daemon_runs_stops_its_next_alert(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, FIRST)
    daemon = start_daemon(project)
    try:
        assert wait_for(lambda: capture.count(FIRST.title) == 1), "the first alert never came"
        assert project.run("mute", "quake").exit_code == 0
        server.add("/feed.xml", rss(THIRD, SECOND, FIRST))
        assert wait_for(lambda: capture.count(SECOND.title) == 1), "the other rule went quiet"
        assert wait_for(lambda: statuses(project).get(THIRD.title) == ["muted"])
        stderr = stop_daemon(daemon)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert capture.count(THIRD.title) == 0 and "Traceback" not in stderr
    told = {row["title"]: row for row in json.loads(project.run("alerts", "--json").stdout)}
    assert [d["status"] for d in told[THIRD.title]["deliveries"]] == ["muted"]
    assert [d["status"] for d in told[FIRST.title]["deliveries"]] == ["sent"]
