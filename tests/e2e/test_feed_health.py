"""Faults isolated and visible: one pass over every failure, backoff, redirects, health notices."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from tests.conftest import Capture, Item, Project, rss
from tests.support.faults import FaultServer
from tests.support.httpserver import HTTPServer

# Peak RSS from VmHWM: getrusage's ru_maxrss would include the forking parent's size.
PEAK_RSS = (
    "import sys\n"
    "from watcher.cli import cli\n"
    "try:\n"
    "    cli(sys.argv[1:], prog_name='watcher')\n"
    "finally:\n"
    "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
    "    print('peak-rss-kb', status, file=sys.stderr)\n"
)
HAMA = Item("Rebels advance on Hama", "http://news.example/hama", "h1")

# route -> what the user must read in `watcher feeds` for it
EXPECTED_ERRORS = {
    "/timeout": "timed out after 2 s",
    "/drip": "timed out after 3 s",
    "/500": "server error (HTTP 500",
    "/429": "rate limited (HTTP 429)",
    "/503": "service unavailable (HTTP 503)",
    "/huge": "body larger than 1 MB",
    "/huge-unannounced": "body larger than 1 MB",
    "/gzip-bomb": "larger than 1 MB",
    "/html-advertising": "not a feed: an HTML page (it advertises http://127.0.0.1:",
    "/html-plain": "not a feed: an HTML page",
    "/loop-a": "redirect loop",
    "/cut": "the connection closed before the whole body arrived",
    "/hang-up": "closed the connection without answering",
    "/billion-laughs": "entity-expansion attack",
}
GOOD_ROUTES = ("/good", "/etag", "/moved", "/temporary", "/cp1252", "/truncated-xml")


def feed_name(route: str) -> str:
    return "f" + route.strip("/").replace("-", "_")


def test_every_fault_in_one_pass_fails_alone_within_the_deadline(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    good = server.add("/news.xml", rss(HAMA))
    with FaultServer() as faults:
        feeds = "".join(
            f"  - {{name: {feed_name(r)}, url: '{faults.url(r)}'}}\n" for r in FaultServer.ROUTES
        )
        project.write(
            "fetch: {deadline: 3s, read_timeout: 2s, max_body: 1MB, max_decoded: 1MB}\n"
            f"channels: {{capture: '{capture.url}'}}\n"
            f"feeds:\n{feeds}  - {{name: news, url: '{good}'}}\n"
            "rules: [{name: hama, query: Hama AND rebels, notify: [capture]}]\n"
        )
        started = time.monotonic()
        # A real process, so its peak resident memory can be read afterwards.
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, "--config", str(project.config), "once", "--json"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    peak_mb = int(result.stderr.strip().splitlines()[-1].removeprefix("peak-rss-kb ")) / 1024
    outcomes = {f["feed"]: f for f in json.loads(result.stdout)["feeds"]}
    for route, words in EXPECTED_ERRORS.items():
        error = outcomes[feed_name(route)]["error"]
        assert error and words in error, (route, error)
    for route in GOOD_ROUTES:
        assert outcomes[feed_name(route)]["error"] is None, route
    assert outcomes["ftruncated_xml"]["problem"].startswith("malformed feed")
    assert outcomes["news"]["alerts"] == 1 and capture.count(HAMA.title) == 1
    # Slow and hanging feeds are cut at their 3 s deadline and hold nobody else up.
    assert elapsed < 15, elapsed
    # A 200 MB body and a 2 GB gzip bomb cost almost nothing beyond the interpreter itself.
    assert peak_mb < 150, peak_mb

    status = {row["name"]: row for row in json.loads(project.run("feeds", "--json").stdout)}
    assert "redirect loop" in status["floop_a"]["last_error"]
    assert status["fgood"]["last_error"] is None and status["fgood"]["last_status"] == 200


def test_feeds_json_has_the_documented_keys(project: Project, server: HTTPServer) -> None:
    url = server.add("/feed.xml", rss(HAMA))
    project.write(f"feeds: [{{name: wire, url: '{url}'}}, {{name: never, url: '{url}x'}}]\n")
    before = json.loads(project.run("feeds", "--json").stdout)
    assert [row["name"] for row in before] == ["wire", "never"]
    assert before[0]["last_fetch"] is None  # listed before the first poll too

    project.run("once")
    rows = {row["name"]: row for row in json.loads(project.run("feeds", "--json").stdout)}
    for key in ("name", "url", "last_status", "last_error", "consecutive_failures", "next_poll"):
        assert key in rows["wire"]
    assert rows["wire"]["last_error"] is None and rows["wire"]["items"] == 1
    assert rows["never"]["last_status"] == 404 and rows["never"]["consecutive_failures"] == 1

    table = project.run("feeds")
    assert table.exit_code == 0 and "wire" in table.stdout and "never" in table.stdout


def test_once_leaves_a_feed_alone_while_the_server_asks_to_wait(
    project: Project, server: HTTPServer
) -> None:
    url = server.add("/feed.xml", b"slow down", status=429, headers={"Retry-After": "3600"})
    project.write(f"feeds: [{{name: wire, url: '{url}'}}]\n")

    project.run("once")
    project.run("once")
    assert len(server.hits("/feed.xml")) == 1
    held = json.loads(project.run("once", "--json").stdout)["feeds"][0]
    assert held["skipped"] is True

    project.run("once", "--force")
    assert len(server.hits("/feed.xml")) == 2


def test_failures_back_off_and_the_first_success_restores_the_interval(
    project: Project, server: HTTPServer
) -> None:
    url = server.add("/feed.xml", b"down", status=500)
    project.write(f"interval: 10m\nfeeds: [{{name: wire, url: '{url}'}}]\n")

    def state() -> dict[str, object]:
        return json.loads(project.run("feeds", "--json").stdout)[0]  # type: ignore[no-any-return]

    def wait_minutes(row: dict[str, object]) -> float:
        from datetime import datetime

        last = datetime.fromisoformat(str(row["last_fetch"]))
        return (datetime.fromisoformat(str(row["next_poll"])) - last).total_seconds() / 60

    project.run("once")
    first = wait_minutes(state())
    project.run("once", "--force")
    project.run("once", "--force")
    third = state()
    assert third["consecutive_failures"] == 3
    assert 10 <= first < 15 + 0.1  # interval, with up to 50% jitter
    assert wait_minutes(third) >= 40  # 10m * 2**2, jittered upwards

    server.add("/feed.xml", rss(HAMA))
    project.run("once", "--force")
    healed = state()
    assert healed["consecutive_failures"] == 0 and healed["held_until"] is None
    assert abs(wait_minutes(healed) - 10) < 0.1


def test_a_permanent_redirect_updates_the_url_polled(project: Project, server: HTTPServer) -> None:
    final = server.add("/new.xml", rss(HAMA))
    old = server.add("/old.xml", status=301, headers={"Location": final})
    project.write(f"feeds: [{{name: wire, url: '{old}'}}]\n")

    project.run("once")
    project.run("once")

    assert len(server.hits("/old.xml")) == 1
    assert len(server.hits("/new.xml")) == 2
    assert json.loads(project.run("feeds", "--json").stdout)[0]["polled_url"] == final


def test_an_unchanged_body_is_not_parsed_again(project: Project, server: HTTPServer) -> None:
    url = server.add("/feed.xml", rss(HAMA))  # no validators: the server always sends 200
    project.write(f"feeds: [{{name: wire, url: '{url}'}}]\n")
    project.run("once")
    again = json.loads(project.run("once", "--json").stdout)["feeds"][0]
    assert again["status"] == 200 and again["not_modified"] is True


def test_a_feed_broken_for_long_sends_one_notice_and_one_on_recovery(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/feed.xml", b"down", status=503)
    project.write(
        f"feed_alert_after: 1s\nhealth_notify: [capture]\n"
        f"channels: {{capture: '{capture.url}'}}\nfeeds: [{{name: wire, url: '{url}'}}]\n"
    )
    project.run("once")
    assert capture.messages() == []  # failing, but not for long yet
    time.sleep(1.2)
    project.run("once", "--force")
    project.run("once", "--force")
    project.run("once", "--force")
    assert capture.count("feed 'wire' has failed") == 1

    server.add("/feed.xml", rss(HAMA))
    project.run("once", "--force")
    project.run("once", "--force")
    assert capture.count("feed 'wire' works again") == 1
    assert len(capture.messages()) == 2
