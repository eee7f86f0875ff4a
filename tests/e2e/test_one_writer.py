"""One writer per database: a second daemon is refused, a killed one leaves no lock,
and its worker processes die with it."""

from __future__ import annotations

import os
import signal

import pytest

from tests.conftest import Capture, Item, Project, rss
from tests.support.daemon import start_daemon, stop_daemon
from tests.support.httpserver import HTTPServer
from tests.support.procs import living_in_group
from tests.support.waiting import wait_for

# the SQLite file lock
pytestmark = pytest.mark.sqlite_only

STORY = Item("Quake hits Chile coast", "http://news.example/1")


def configure(project: Project, server: HTTPServer, capture: Capture, extra: str = "") -> None:
    url = server.add("/feed.xml", rss(STORY))
    project.write(
        f"""\
interval: 2s
{extra}
channels: {{out: "{capture.url}"}}
feeds: [{{name: wire, url: "{url}"}}]
rules: [{{name: quake, query: quake, notify: [out]}}]
"""
    )


def test_a_second_daemon_or_a_once_beside_it_is_refused_naming_the_first(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture)
    first = start_daemon(project)
    try:
        assert wait_for(lambda: capture.count(STORY.title) == 1), "the first daemon never alerted"
        second = start_daemon(project)
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 3, stderr
        assert f"watcher run (pid {first.pid})" in stderr and "Traceback" not in stderr
        once = project.run("once", "--force")
        assert once.exit_code == 3 and f"pid {first.pid}" in once.stderr
        retry = project.run("outbox", "retry")  # queues for the daemon instead of racing it
        assert retry.exit_code == 0 and f"pid {first.pid}) sends them" in retry.stderr
        assert len(server.hits("/feed.xml")) >= 1
        stop_daemon(first)
    finally:
        if first.poll() is None:
            first.kill()
    assert capture.count(STORY.title) == 1  # never delivered twice
    assert project.run("once").exit_code == 0  # the lock went with the daemon


def test_a_daemon_killed_with_sigkill_leaves_no_stale_lock(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture)
    first = start_daemon(project)
    assert wait_for(lambda: len(server.hits("/feed.xml")) >= 1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    again = start_daemon(project)
    try:
        polls = len(server.hits("/feed.xml"))
        assert wait_for(lambda: len(server.hits("/feed.xml")) > polls), "never polled"
        stderr = stop_daemon(again)
    finally:
        if again.poll() is None:
            again.kill()
    assert "in use by" not in stderr


def test_workers_die_within_seconds_of_a_sigkilled_daemon(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, extra="workers: 2")
    daemon = start_daemon(project, new_session=True)
    try:
        # The daemon, its forkserver and two workers.
        assert wait_for(lambda: len(living_in_group(daemon.pid)) >= 4, timeout=30), living_in_group(
            daemon.pid
        )
        helpers = [pid for pid in living_in_group(daemon.pid) if pid != daemon.pid]
        os.kill(daemon.pid, signal.SIGKILL)  # the daemon alone, not its group
        daemon.wait(timeout=10)
        assert wait_for(lambda: not living_in_group(daemon.pid), timeout=5), (
            f"still running after 5 s: {living_in_group(daemon.pid)} of {helpers}"
        )
    finally:
        if living_in_group(daemon.pid):
            os.killpg(daemon.pid, signal.SIGKILL)
