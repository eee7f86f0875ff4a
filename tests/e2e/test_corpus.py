"""Real feeds: the ~100 feeds of ../shared/corpus served from loopback in one `watcher once`.

Every good feed's stories are stored and matched; the broken ones fail alone, each
with a clear error.  Skips cleanly where the corpus is absent.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import CORPUS, Project
from tests.support.httpserver import HTTPServer
from watcher.core.dedupe import identity_keys
from watcher.core.parse import parse_feed
from watcher.core.text import html_to_text

# the corpus, a long run: one backend is enough
pytestmark = [
    pytest.mark.sqlite_only,
    pytest.mark.skipif(not (CORPUS / "feeds").is_dir(), reason="../shared/corpus absent"),
]

WORD = "police"
# Broken in a way watcher repairs: SOURCES.md counts no entries, watcher reads them.
READ_ANYWAY = {"gzip-rdf-ja-1.xml"}


def sources() -> dict[str, tuple[int, bool]]:
    """File name -> (entries as SOURCES.md counts them, broken?)."""
    table: dict[str, tuple[int, bool]] = {}
    for line in (CORPUS / "SOURCES.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 9 and cells[5].isdigit():
            table[cells[1]] = (int(cells[5]), "broken:" in cells[9])
    return table


def test_the_whole_corpus_in_one_pass(tmp_path: Path) -> None:
    table = sources()
    files = sorted((CORPUS / "feeds").iterdir())
    assert len(table) == len(files) > 90
    with HTTPServer() as server:
        names, urls = {}, {}
        for path in files:
            kind = "application/feed+json" if path.suffix == ".json" else "application/xml"
            names[path.name] = re.sub(r"[^a-z0-9-]", "-", path.stem.lower())
            urls[path.name] = server.add(
                f"/{path.name}", path.read_bytes(), headers={"Content-Type": kind}
            )
        project = Project(tmp_path)
        feeds = "".join(
            f"  - {{name: {names[f.name]}, url: '{server.url('/' + f.name)}'}}\n" for f in files
        )
        project.write(
            f"max_age: 36500d\nfeeds:\n{feeds}rules:\n  - {{name: police, query: {WORD}}}\n"
        )
        result = project.run("once")

    assert result.exit_code == 0, result.stderr
    db = sqlite3.connect(project.database)
    cluster_of = {
        row[0]: row[1]
        for row in db.execute(
            "SELECT k.key, s.cluster_id FROM story_keys k JOIN stories s ON s.id = k.story_id"
        )
    }
    keys = set(cluster_of)
    status = {
        row[0]: (row[1], row[2])
        for row in db.execute("SELECT name, last_error, problem FROM feeds")
    }
    alerted = {
        row[0]
        for row in db.execute(
            "SELECT s.cluster_id FROM alerts a JOIN stories s ON s.id = a.story_id"
        )
    }
    alerts = db.execute("SELECT count(*) FROM alerts").fetchone()[0]

    expected_alerts = set()
    for path in files:
        entries, broken = table[path.name]
        error, problem = status[names[path.name]]
        if path.name in READ_ANYWAY:
            # A gzip body sent without Content-Encoding: watcher inflates it and reads it.
            assert error is None and problem is None, (path.name, error)
            continue
        if broken and entries == 0:
            # Nothing recoverable: the feed fails alone, with a one-line reason.
            assert error or problem, f"{path.name} is broken but nothing was reported"
            if error:
                assert error.startswith("not a feed") and "\n" not in error, error
            continue
        # Good feeds, and broken ones that a lenient parser recovers, deliver every entry.
        assert error is None, f"{path.name}: {error}"
        parsed = parse_feed("x", path.read_bytes(), content_type=None, url=urls[path.name])
        assert len(parsed.stories) == entries, path.name
        for story in parsed.stories:
            story_keys = identity_keys(replace(story, feed=names[path.name]))
            assert set(story_keys) & keys, f"{path.name}: {story.title!r} not stored"
            text = " ".join(html_to_text(t) for t in (story.title, story.summary, story.content))
            if re.search(rf"(?<!\w){WORD}(?!\w)", text, re.I):
                expected_alerts.add(cluster_of[next(k for k in story_keys if k in keys)])
    # Every story holding the word alerted: once per event (copies across feeds are one).
    assert expected_alerts and expected_alerts == alerted
    assert alerts == len(alerted)
    assert WORD.capitalize() in result.stdout or WORD in result.stdout
