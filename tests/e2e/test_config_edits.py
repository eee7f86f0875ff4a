"""Config edits that just work, between `watcher once` runs and in a running daemon.

A feed's URL changed, a feed renamed or removed, a channel removed while
alerts wait for it: nothing re-alerts, nothing breaks for good, nothing
decided is silently lost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import start_daemon, stop_daemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for

OLD = Item("Quake hits Chile coast", "http://news.example/1")
NEW = Item("Quake aftershock felt in Santiago", "http://news.example/2")


def config(url: str, capture: Capture, *, name: str = "wire", notify: str = "out") -> str:
    channel = f'{{out: "{capture.url}"}}' if notify == "out" else "{}"
    return f"""\
interval: 2s
channels: {channel}
feeds: [{{name: {name}, url: "{url}"}}]
rules: [{{name: quake, query: quake, notify: [{notify}]}}]
"""


def feeds(project: Project) -> list[dict[str, object]]:
    return json.loads(project.run("feeds", "--json").stdout)  # type: ignore[no-any-return]


def statuses(project: Project) -> list[str]:
    """The outbox rows' status as stored (not as `watcher outbox` shows them)."""
    return [row[0] for row in project.sql("SELECT status FROM deliveries ORDER BY id")]


def guid_only_rss(*guids: str) -> str:
    """Items known by their GUID alone (no link): identity scoped to the feed's name."""
    now = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>Quake report {g}</title><guid isPermaLink='false'>{g}</guid>"
        f"<pubDate>{now}</pubDate></item>"
        for g in guids
    )
    return f"<rss version='2.0'><channel><title>t</title>{items}</channel></rss>"


# -- a feed's URL changed -------------------------------------------------------------------


def test_a_changed_feed_url_is_polled_from_the_next_once_and_nothing_realerts(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = server.add("/old.xml", rss(OLD), headers={"ETag": '"old-v1"'})
    project.write(config(old, capture))
    assert project.run("once").exit_code == 0
    assert capture.count(OLD.title) == 1
    new = server.add("/new.xml", rss(NEW, OLD))  # the outlet moved; the old story comes along
    project.write(config(new, capture))
    result = project.run("once", "--force")
    assert result.exit_code == 0, result.stderr
    assert "unexpected error" not in result.stderr and "Traceback" not in result.stderr
    assert capture.count(NEW.title) == 1 and capture.count(OLD.title) == 1
    (hit,) = server.hits("/new.xml")
    assert "if-none-match" not in hit.headers  # the old URL's validator was dropped
    (row,) = feeds(project)
    assert row["url"] == new and row["polled_url"] == new
    assert row["last_status"] == 200 and row["last_error"] is None
    project.run("once", "--force")
    assert len(server.hits("/new.xml")) == 2 and len(server.hits("/old.xml")) == 1


def test_a_url_changed_after_a_redirect_and_failures_starts_afresh(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    broken = server.add("/gone.xml", "", status=500)
    project.write(config(broken, capture))
    project.run("once")
    assert feeds(project)[0]["consecutive_failures"] == 1
    new = server.add("/new.xml", rss(NEW))
    project.write(config(new, capture))
    (before,) = feeds(project)  # not polled yet: the old URL's failures are not shown
    assert (before["url"], before["consecutive_failures"], before["last_error"]) == (new, 0, None)
    # No --force: the old URL's backoff does not hold the new one.
    assert project.run("once").exit_code == 0
    (row,) = feeds(project)
    assert row["consecutive_failures"] == 0 and row["last_status"] == 200
    assert capture.count(NEW.title) == 1


def test_the_daemon_follows_a_changed_url_on_reload(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = server.add("/old.xml", rss(OLD))
    project.write(config(old, capture))
    daemon = start_daemon(project)
    try:
        assert wait_for(lambda: capture.count(OLD.title) == 1), "first alert never came"
        new = server.add("/new.xml", rss(NEW, OLD))
        project.write(config(new, capture))
        assert wait_for(lambda: capture.count(NEW.title) == 1), "the new URL never alerted"
        polls = len(server.hits("/new.xml"))
        assert wait_for(lambda: len(server.hits("/new.xml")) > polls), "not polled again"
        stderr = stop_daemon(daemon)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert capture.count(OLD.title) == 1
    assert "unexpected error" not in stderr and "Traceback" not in stderr
    assert "moved from" in stderr
    assert feeds(project)[0]["url"] == new


# -- a feed renamed or removed --------------------------------------------------------------


def test_a_renamed_feed_keeps_its_history_and_nothing_realerts(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", guid_only_rss("a1", "a2"))
    project.write(config(url, capture, name="wire"))
    project.run("once")
    assert capture.count("Quake report a1") == 1
    project.write(config(url, capture, name="reuters"))
    server.add("/feed.xml", guid_only_rss("a1", "a2", "a3"))
    assert project.run("once", "--force").exit_code == 0
    assert capture.count("Quake report a1") == 1 and capture.count("Quake report a2") == 1
    assert capture.count("Quake report a3") == 1
    (row,) = feeds(project)
    assert row["name"] == "reuters" and row["last_status"] == 200


def test_a_removed_feed_is_not_polled_or_listed_and_readding_it_alerts_nothing_old(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", rss(OLD))
    other = server.add("/other.xml", rss())
    both = f"""\
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{url}"}}, {{name: other, url: "{other}"}}]
rules: [{{name: quake, query: quake, notify: [out]}}]
"""
    project.write(both)
    project.run("once")
    project.write(config(other, capture, name="other"))
    project.run("once", "--force")
    assert len(server.hits("/feed.xml")) == 1
    assert [row["name"] for row in feeds(project)] == ["other"]
    project.write(both)
    project.run("once", "--force")
    assert capture.count(OLD.title) == 1


# -- a channel or rule removed while alerts wait ---------------------------------------------


@pytest.fixture
def waiting(project: Project, server: HTTPServer, capture: Capture) -> str:
    """One alert waiting in the outbox for channel 'out', which is down."""
    server.add(capture.path, b"down", status=500)
    url = server.add("/feed.xml", rss(OLD))
    project.write(config(url, capture))
    assert "kept for retry" in project.run("once").stderr
    server.add(capture.path, b"{}", headers={"Content-Type": "application/json"})
    return url


def orphaned_config(url: str, capture: Capture) -> str:
    """'out' renamed 'phone': the rule now notifies 'phone'."""
    return f"""\
channels: {{phone: "{capture.url.replace("/alerts", "/phone")}"}}
feeds: [{{name: wire, url: "{url}"}}]
rules: [{{name: quake, query: quake, notify: [phone]}}]
"""


def test_rows_of_a_removed_channel_are_held_logged_once_and_rerouted_on_request(
    project: Project, server: HTTPServer, capture: Capture, waiting: str
) -> None:
    project.write(orphaned_config(waiting, capture))
    listed = json.loads(project.run("outbox", "--json").stdout)
    assert [(r["channel"], r["status"]) for r in listed] == [("out", "orphaned")]
    assert "no longer in the config" in listed[0]["last_error"]
    first = project.run("once", "--force")
    assert first.exit_code == 0 and first.stderr.count("deliveries held") == 1
    second = project.run("once", "--force")
    assert "deliveries held" not in second.stderr  # logged once, not at every pass
    assert len(capture.messages()) == 1  # the failed try only: never retried in vain
    phone = Capture(server, "/phone")
    result = project.run("outbox", "retry", "--to", "phone")
    assert result.exit_code == 0, result.stderr
    assert phone.count(OLD.title) == 1
    assert json.loads(project.run("outbox", "--json").stdout) == []


def test_held_rows_can_be_dropped_and_are_never_sent(
    project: Project, server: HTTPServer, capture: Capture, waiting: str
) -> None:
    project.write(orphaned_config(waiting, capture))
    dropped = project.run("outbox", "drop")
    assert dropped.exit_code == 0 and "1 deliveries dropped" in dropped.stderr
    assert json.loads(project.run("outbox", "--json").stdout) == []
    project.write(config(waiting, capture))  # the channel comes back: still nothing sent
    project.run("once", "--force")
    assert len(capture.messages()) == 1  # the try that failed before the channel left


def test_a_channel_that_comes_back_gets_its_held_rows(
    project: Project, server: HTTPServer, capture: Capture, waiting: str
) -> None:
    project.write(orphaned_config(waiting, capture))
    project.run("once", "--force")
    project.write(config(waiting, capture))
    assert project.run("once", "--force").exit_code == 0
    assert capture.count(OLD.title) == 2  # the failed try, then the delivery


def test_retry_to_an_unknown_channel_is_a_usage_error(
    project: Project, capture: Capture, waiting: str
) -> None:
    result = project.run("outbox", "retry", "--to", "nowhere")
    assert result.exit_code == 2 and "no channel named 'nowhere'" in result.stderr


def test_an_alert_decided_before_its_rule_was_removed_is_still_delivered(
    project: Project, server: HTTPServer, capture: Capture, waiting: str
) -> None:
    project.write(
        f"""\
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{waiting}"}}]
rules: [{{name: other, query: budget, notify: [out]}}]
"""
    )
    assert project.run("once", "--force").exit_code == 0
    assert capture.count(OLD.title) == 2  # the failed try, then the delivery


def test_the_daemon_holds_rows_of_a_channel_removed_by_a_reload(
    project: Project, server: HTTPServer, capture: Capture, waiting: str
) -> None:
    server.add(capture.path, b"down", status=500)
    daemon = start_daemon(project)
    try:
        assert wait_for(lambda: len(server.hits("/feed.xml")) == 2), "the daemon never polled"
        project.write(orphaned_config(waiting, capture))
        assert wait_for(lambda: statuses(project) == ["orphaned"]), statuses(project)
        stderr = stop_daemon(daemon)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert stderr.count("deliveries held") == 1 and "Traceback" not in stderr


def test_the_daemon_follows_a_rename_and_a_removal_on_reload(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    first = server.add("/a.xml", guid_only_rss("a1"))
    second = server.add("/b.xml", rss(OLD))
    project.write(
        f"""\
interval: 2s
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{first}"}}, {{name: other, url: "{second}"}}]
rules: [{{name: quake, query: quake, notify: [out]}}]
"""
    )
    daemon = start_daemon(project)
    try:
        assert wait_for(lambda: capture.count("Quake report a1") == 1 and capture.count(OLD.title))
        # 'wire' renamed 'reuters', 'other' removed, the rule renamed too.
        project.write(
            f"""\
interval: 2s
channels: {{out: "{capture.url}"}}
feeds: [{{name: reuters, url: "{first}"}}]
rules: [{{name: quakes, query: quake, notify: [out]}}]
"""
        )
        server.add("/a.xml", guid_only_rss("a1", "a2"))
        assert wait_for(lambda: capture.count("Quake report a2") == 1), "new item never alerted"
        removed = len(server.hits("/b.xml"))
        polls = len(server.hits("/a.xml"))
        assert wait_for(lambda: len(server.hits("/a.xml")) >= polls + 2)
        stderr = stop_daemon(daemon)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert len(server.hits("/b.xml")) == removed  # no longer polled
    assert capture.count("Quake report a1") == 1 and capture.count(OLD.title) == 1
    assert "renamed 'reuters'" in stderr and "Traceback" not in stderr
    assert [row["name"] for row in feeds(project)] == ["reuters"]
