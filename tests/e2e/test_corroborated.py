"""Corroborated ("breaking") alerts: one alert when the Nth outlet reports an event in time."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import Capture, Project, rss
from tests.e2e.test_one_alert_per_event import COPY, REWRITE, WIRE
from tests.support.httpserver import HTTPServer

RULE = "{name: hama, query: Hama AND rebel*, notify: [capture], min_sources: 3"


@pytest.fixture
def hosts() -> Iterator[list[HTTPServer]]:
    """Three outlets on three loopback hosts (127.0.0.2-4): three outlets by default."""
    servers = [HTTPServer(f"127.0.0.{i}") for i in (2, 3, 4)]
    for srv in servers:
        srv.__enter__()
    yield servers
    for srv in servers:
        srv.__exit__(None, None, None)


def configure(project: Project, capture: Capture, hosts: list[HTTPServer], rule: str) -> None:
    feeds = "".join(
        f"  - {{name: {name}, url: '{srv.url('/feed.xml')}'}}\n"
        for name, srv in zip(("wire", "outlet", "daily"), hosts, strict=True)
    )
    project.write(f"channels: {{capture: '{capture.url}'}}\nfeeds:\n{feeds}rules:\n  - {rule}\n")


def test_the_third_outlet_gives_one_alert_naming_all_three(
    project: Project, server: HTTPServer, capture: Capture, hosts: list[HTTPServer]
) -> None:
    wire, outlet, daily = hosts
    for srv in hosts:
        srv.add("/feed.xml", rss())
    configure(project, capture, hosts, RULE + ", within: 2h}")
    wire.add("/feed.xml", rss(WIRE))
    assert project.run("once", "--force").exit_code == 0
    assert capture.messages() == []  # one outlet
    outlet.add("/feed.xml", rss(COPY))
    project.run("once", "--force")
    assert capture.messages() == []  # two outlets
    daily.add("/feed.xml", rss(REWRITE))
    project.run("once", "--force")
    (message,) = capture.messages()
    text = message["title"] + "\n" + message["message"]
    assert WIRE.title in text and WIRE.link in text  # the first report
    assert "reported by 3 outlets" in text.lower()
    for host in ("127.0.0.2", "127.0.0.3", "127.0.0.4"):
        assert host in text
    project.run("once", "--force")
    assert len(capture.messages()) == 1  # never again
    rows = json.loads(project.run("backtest", "hama", "--json").stdout)
    assert [len(row["reported_by"]) for row in rows] == [3]


def test_an_event_two_outlets_report_never_alerts(
    project: Project, server: HTTPServer, capture: Capture, hosts: list[HTTPServer]
) -> None:
    wire, outlet, daily = hosts
    wire.add("/feed.xml", rss(WIRE))
    outlet.add("/feed.xml", rss(COPY))
    daily.add("/feed.xml", rss())
    configure(project, capture, hosts, RULE + "}")
    project.run("once")
    project.run("once", "--force")
    assert capture.messages() == []
    backtest = project.run("backtest", "hama", "--json")
    assert backtest.exit_code == 1 and json.loads(backtest.stdout) == []


def test_two_feeds_of_one_outlet_count_once(
    project: Project, server: HTTPServer, capture: Capture, hosts: list[HTTPServer]
) -> None:
    wire, outlet, _ = hosts
    wire.add("/feed.xml", rss(WIRE))
    wire.add("/world.xml", rss(COPY))  # same host: same outlet
    outlet.add("/feed.xml", rss(REWRITE))
    project.write(
        f"channels: {{capture: '{capture.url}'}}\nfeeds:\n"
        f"  - {{name: wire-world, url: '{wire.url('/feed.xml')}'}}\n"
        f"  - {{name: wire-me, url: '{wire.url('/world.xml')}'}}\n"
        f"  - {{name: other, url: '{outlet.url('/feed.xml')}'}}\n"
        "rules:\n  - {name: hama, query: Hama, notify: [capture], min_sources: 3}\n"
    )
    project.run("once")
    assert capture.messages() == []


def test_min_sources_below_two_is_a_config_error_with_its_line(project: Project) -> None:
    project.write("rules:\n  - {name: hama, query: Hama, min_sources: 1}\n")
    result = project.run("validate")
    assert result.exit_code == 2 and f"{project.config}:2:" in result.stderr
    assert "min_sources" in result.stderr
