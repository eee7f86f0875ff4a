"""`watcher migrate --from sqlite:PATH` moves a user to PostgreSQL without an alert storm (#17)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Capture, Item, Project, rss
from tests.support.httpserver import HTTPServer

STORIES = [
    Item(f"Rebels near Hama, report {n}", f"http://n.example/{n}", f"g{n}") for n in range(3)
]


def _write(project: Project, feed: str, capture: Capture) -> None:
    project.write(
        f"channels: {{desk: '{capture.url}'}}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules: [{name: hama, query: Hama AND rebels, notify: [desk]}]\n"
    )


def test_a_migrated_database_knows_every_story_and_alert(
    tmp_path: Path, postgres_url: str, server: HTTPServer, capture: Capture
) -> None:
    feed = server.add("/feed.xml", rss(*STORIES))
    old = Project(tmp_path / "old")
    old.root.mkdir()
    _write(old, feed, capture)
    assert old.run("once").exit_code == 0
    assert len(capture.messages()) == 3
    server.add(capture.path, b"{}", status=500)  # a delivery waits in the outbox
    server.add("/feed.xml", rss(*STORIES, Item("Rebels enter Hama", "http://n.example/9", "g9")))
    assert old.run("once").exit_code == 0
    server.add(capture.path, b"{}")

    new = Project(tmp_path / "new", postgres_url)
    new.root.mkdir()
    _write(new, feed, capture)
    copied = new.run("migrate", "--from", f"sqlite:{old.database}", "--json")
    assert copied.exit_code == 0, copied.stderr
    counts = json.loads(copied.stdout)
    assert counts["stories"] == 4 and counts["alerts"] == 4 and counts["feeds"] == 1
    assert copied.stderr == ""  # quiet success

    # The waiting delivery is sent from PostgreSQL; the four stories never alert again.
    assert new.run("once", "--force").exit_code == 0
    # (The server saw the failed attempt too.)
    assert {item.title: capture.count(item.title) for item in STORIES} == dict.fromkeys(
        (item.title for item in STORIES), 1
    )
    assert capture.count("Rebels enter Hama") == 2
    feeds = json.loads(new.run("feeds", "--json").stdout)
    assert [(f["name"], f["consecutive_failures"]) for f in feeds] == [("wire", 0)]
    # New alerts get new ids after the copied ones.
    server.add("/feed.xml", rss(*STORIES, Item("Hama rebels regroup", "http://n.example/10")))
    assert new.run("once").exit_code == 0
    assert capture.count("Hama rebels regroup") == 1 and len(capture.messages()) == 6
    assert new.sql("SELECT count(DISTINCT id) FROM alerts") == [(5,)]

    # A second copy would mix two histories: refused, and nothing changes.
    again = new.run("migrate", "--from", f"sqlite:{old.database}")
    assert again.exit_code == 3 and "already holds feeds or stories" in again.stderr
    assert new.sql("SELECT count(*) FROM stories") == [(5,)]


def test_migrate_needs_a_sqlite_source_and_a_postgresql_target(
    tmp_path: Path, postgres_url: str, server: HTTPServer, capture: Capture
) -> None:
    feed = server.add("/feed.xml", rss())
    sqlite_project = Project(tmp_path)
    _write(sqlite_project, feed, capture)
    into_sqlite = sqlite_project.run("migrate", "--from", "sqlite:/tmp/x.db")
    assert into_sqlite.exit_code == 2 and "database: is a SQLite file" in into_sqlite.stderr
    pg = Project(tmp_path, postgres_url)
    _write(pg, feed, capture)
    wrong = pg.run("migrate", "--from", "postgresql://elsewhere/db")
    assert wrong.exit_code == 2 and "--from takes sqlite:PATH" in wrong.stderr
    missing = pg.run("migrate", "--from", f"sqlite:{tmp_path / 'none.db'}")
    assert missing.exit_code == 3 and "no database file" in missing.stderr
