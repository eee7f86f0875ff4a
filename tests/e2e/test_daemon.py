"""`watcher run` as a real subprocess: it polls on schedule, alerts, and stops on SIGTERM."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import start_daemon
from tests.support.httpserver import HTTPServer
from tests.support.waiting import wait_for


def test_the_daemon_polls_on_its_interval_and_stops_cleanly(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    first = Item("Rebels enter Hama", "http://news.example/1", "1")
    url = server.add("/feed.xml", rss(first))
    project.write(
        f"""\
interval: 2s
channels: {{capture: "{capture.url}"}}
feeds: [{{name: wire, url: "{url}"}}]
rules: [{{name: hama-rebels, query: Hama AND rebels, notify: [capture]}}]
"""
    )
    daemon = start_daemon(project)
    try:
        assert wait_for(lambda: capture.count(first.title) == 1), "first alert never came"
        second = Item("Rebels hold Hama citadel", "http://news.example/2", "2")
        server.add("/feed.xml", rss(second, first))
        assert wait_for(lambda: capture.count(second.title) == 1), "new story never alerted"
        polls = len(server.hits("/feed.xml"))
        assert wait_for(lambda: len(server.hits("/feed.xml")) >= polls + 2)
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=10)
    finally:
        if daemon.poll() is None:
            daemon.kill()
    assert daemon.returncode == 0, stderr
    assert capture.count(first.title) == 1 and capture.count(second.title) == 1
    assert "Traceback" not in stderr


def test_the_daemon_refuses_a_bad_config_without_a_traceback(tmp_path: Path) -> None:
    project = Project(tmp_path)
    project.write("feeds:\n  - name: wire\n")
    daemon = start_daemon(project)
    _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 2
    assert f"{project.config}:2:" in stderr and "url" in stderr
    assert "Traceback" not in stderr


def test_version_and_help(project: Project) -> None:
    from watcher import __version__

    version = project.run("--version")
    assert version.exit_code == 0 and __version__ in version.stdout
    help_text = project.run("--help").stdout
    for command in ("run", "once", "validate"):
        assert command in help_text
