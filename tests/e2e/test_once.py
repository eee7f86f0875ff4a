"""End to end through the real CLI: a loopback feed server, SQLite on disk, Apprise json://."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Capture, Item, Project, days_ago, rss
from tests.support.httpserver import HTTPServer

HAMA = Item("Rebels advance on Hama as army retreats", "http://news.example/hama-1", "g-1")
HAMAS = Item("Hamas delegation arrives in Cairo for talks", "http://news.example/hamas-1", "g-2")
OTHER = Item("Rebels regroup in Idlib", "http://news.example/idlib-1", "g-3")


def config(project: Project, capture: Capture, feeds: dict[str, str], extra: str = "") -> None:
    feed_lines = "".join(f"  - name: {name}\n    url: {url}\n" for name, url in feeds.items())
    project.write(
        f"""\
interval: 10m
channels:
  capture: "{capture.url}"
feeds:
{feed_lines}rules:
  - name: hama-rebels
    query: Hama AND rebels
    notify: [capture]
{extra}"""
    )


def test_first_pass_alerts_exactly_the_matching_stories(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", rss(HAMA, HAMAS, OTHER))
    config(project, capture, {"wire": url})

    result = project.run("once")

    assert result.exit_code == 0, result.output
    assert len(capture.messages()) == 1
    assert capture.count(HAMA.title) == 1
    assert capture.count(HAMAS.title) == 0  # "Hama" must not match "Hamas"
    body = capture.messages()[0]["message"] + capture.messages()[0]["title"]
    assert "hama-rebels" in body and "wire" in body and HAMA.link in body


def test_second_pass_alerts_nothing_and_uses_conditional_get(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", rss(HAMA), headers={"ETag": '"v1"'})
    config(project, capture, {"wire": url})
    assert project.run("once").exit_code == 0
    assert project.run("once").exit_code == 0

    assert len(capture.messages()) == 1
    second = server.hits("/feed.xml")[1]
    assert second.headers.get("if-none-match") == '"v1"'


def test_a_new_item_alerts_once(project: Project, server: HTTPServer, capture: Capture) -> None:
    url = server.add("/feed.xml", rss(HAMA))
    config(project, capture, {"wire": url})
    project.run("once")
    fresh = Item("Rebels shell Hama airport", "http://news.example/hama-2", "g-9")
    server.add("/feed.xml", rss(fresh, HAMA))

    project.run("once")
    project.run("once")

    assert capture.count(HAMA.title) == 1
    assert capture.count(fresh.title) == 1
    assert len(capture.messages()) == 2


@pytest.mark.parametrize(
    ("link", "alerts"),
    [
        # The same link written another way: one story, one alert.
        ("HTTP://NEWS.EXAMPLE/hama-1?utm_source=rss&utm_medium=feed#top", 1),
        # The control: another link is another story.
        ("http://news.example/hama-1-live", 2),
    ],
)
def test_same_link_in_two_feeds_alerts_once(
    project: Project, server: HTTPServer, capture: Capture, link: str, alerts: int
) -> None:
    copy = Item(HAMA.title, link, "x-1")
    a = server.add("/a.xml", rss(HAMA))
    b = server.add("/b.xml", rss(copy))
    # Clustering off: the same title would merge the two anyway, so only the link can.
    config(project, capture, {"agency": a, "outlet": b}, extra="cluster: false\n")

    project.run("once")
    project.run("once")

    assert len(capture.messages()) == alerts


def test_a_feed_seen_first_alerts_only_on_recent_stories_and_old_ones_never_later(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = Item(
        "Rebels took Hama last week", "http://news.example/old", "g-old", published=days_ago(5)
    )
    url = server.add("/feed.xml", rss(HAMA, old))
    config(project, capture, {"wire": url})

    project.run("once")
    server.add("/feed.xml", rss(HAMA, old, title="changed"))  # body changes, same items
    project.run("once")

    assert capture.count(HAMA.title) == 1
    assert capture.count(old.title) == 0
    stored = {row[0] for row in project.sql("SELECT title FROM stories")}
    assert old.title in stored  # remembered silently


def test_per_feed_max_age_overrides_the_default(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = Item(
        "Rebels took Hama last week", "http://news.example/old", "g-old", published=days_ago(5)
    )
    url = server.add("/feed.xml", rss(old))
    project.write(
        f"""\
channels: {{capture: "{capture.url}"}}
feeds:
  - {{name: wire, url: "{url}", max_age: 7d}}
rules:
  - {{name: hama-rebels, query: Hama AND rebels, notify: [capture]}}
"""
    )
    assert project.run("once").exit_code == 0
    assert capture.count(old.title) == 1


def test_a_failing_feed_does_not_stop_the_pass(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    good = server.add("/good.xml", rss(HAMA))
    broken = server.add("/broken.xml", b"oops", status=500)
    config(project, capture, {"good": good, "broken": broken})

    result = project.run("once", "--json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    by_name = {f["feed"]: f for f in report["feeds"]}
    assert by_name["good"]["ok"] and by_name["good"]["alerts"] == 1
    assert not by_name["broken"]["ok"] and "500" in by_name["broken"]["error"]
    assert capture.count(HAMA.title) == 1


def test_stdout_is_the_default_channel(project: Project, server: HTTPServer) -> None:
    url = server.add("/feed.xml", rss(HAMA, HAMAS))
    project.write(
        f"""\
feeds:
  - name: wire
    url: {url}
rules:
  - name: hama-rebels
    query: Hama AND rebels
"""
    )
    result = project.run("once")

    assert result.exit_code == 0
    assert HAMA.title in result.stdout
    assert HAMAS.title not in result.stdout


def test_a_channel_that_is_down_keeps_the_alert_for_the_next_pass(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", rss(HAMA))
    config(project, capture, {"wire": url})
    server.add(capture.path, b"down", status=503)

    first = project.run("once")
    assert first.exit_code == 0
    assert "kept for retry" in first.stderr

    server.add(capture.path, b"{}")
    project.run("once")
    delivered = [r for r in server.hits(capture.path) if r.method == "POST"]
    assert len(delivered) == 2  # the failed attempt, then the retry
    assert project.sql("SELECT status FROM deliveries") == [("sent",)]
