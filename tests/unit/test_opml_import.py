"""OPML in and out: a reader's subscriptions become config.yaml feeds, and back."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from watcher.config import load_config
from watcher.core.errors import ConfigError
from watcher.core.opml import OpmlError, read_opml, write_opml
from watcher.opml_import import import_opml

OPML = Path(__file__).parents[1] / "data" / "opml" / "subscriptions.opml"

CONFIG = """\
# watcher configuration for the foreign desk.
database: watcher.db
interval: 10m   # poll every ten minutes

channels:
  desk: "json://localhost:8080/alerts"

# The feeds to follow.
feeds:
  - name: aljazeera
    url: https://www.aljazeera.com/xml/rss/all.xml
  - name: 'bbc-middle-east'
    url: "https://feeds.bbci.co.uk/news/world/middle_east/rss.xml"
    interval: 15m               # BBC asks for no more than this

# What to be told about.
rules:
  - name: hama-rebels
    query: Hama AND rebels
    notify: [desk]
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_import_adds_new_feeds_and_keeps_every_comment_and_line(config: Path) -> None:
    report = import_opml(config, OPML)
    assert report.added == [
        ("le-monde-international", "https://www.lemonde.fr/international/rss_full.xml"),
        ("bbc-news-middle-east", "http://feeds.bbci.co.uk/news/world/middle_east/rss.xml?edition=uk"),
        ("suddeutsche-zeitung-politik", "https://rss.sueddeutsche.de/rss/Politik"),
        ("ars-technica-and-friends",
         "https://feeds.arstechnica.com/arstechnica/index?format=xml&utm_source=opml"),
    ]  # fmt: skip
    text = config.read_text(encoding="utf-8")
    # Every original line is still there, in order, with nothing but new feeds in between.
    added_lines = [line for line in text.splitlines() if line not in CONFIG.splitlines()]
    assert [line for line in text.splitlines() if line not in added_lines] == CONFIG.splitlines()
    assert all(line.startswith(("  - name: ", "    url: ")) for line in added_lines)
    # The comment about rules still sits right above rules:, not above the new feeds.
    lines = text.splitlines()
    assert lines[lines.index("rules:") - 1] == "# What to be told about."
    loaded = load_config(config, env={})
    assert [f.name for f in loaded.feeds] == ["aljazeera", "bbc-middle-east"] + [
        name for name, _ in report.added
    ]


def test_import_reports_what_it_skipped_and_why(config: Path) -> None:
    skipped = dict(import_opml(config, OPML).skipped)
    ars = "https://feeds.arstechnica.com/arstechnica/index?format=xml"
    assert skipped == {
        "https://www.aljazeera.com/xml/rss/all.xml": "already configured as 'aljazeera'",
        # Same feed once the fragment is dropped: canonical URLs are compared.
        "https://www.aljazeera.com/xml/rss/all.xml#mirror": "already configured as 'aljazeera'",
        # Same feed once the utm_ tracking parameter is dropped.
        ars: "listed twice in the OPML file",
        "gopher://gopher.example.org/1/news": "not an http(s) URL",
    }


def test_importing_again_adds_nothing_and_leaves_the_file_alone(config: Path) -> None:
    import_opml(config, OPML)
    before = config.read_bytes()
    report = import_opml(config, OPML)
    assert report.added == []
    assert len(report.skipped) == 8
    assert config.read_bytes() == before


def test_import_creates_the_feeds_list_when_there_is_none(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# just rules for now\nrules:\n- name: r\n  query: rebels\n# end\n")
    report = import_opml(path, OPML)
    text = path.read_text()
    assert text.startswith("# just rules for now\nrules:\n- name: r\n  query: rebels\n")
    assert "# end" in text
    assert len(load_config(path, env={}).feeds) == len(report.added) == 5


def test_import_into_a_file_of_comments_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("# Fill me in.\n# See docs/configuration.md\n")
    import_opml(path, OPML)
    assert path.read_text().startswith("# Fill me in.\n# See docs/configuration.md\nfeeds:\n")
    assert len(load_config(path, env={}).feeds) == 5


def test_import_follows_the_file_s_own_list_indentation(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("feeds:\n- name: a\n  url: https://a.example/rss\nrules: []\n")
    import_opml(path, OPML)
    lines = path.read_text().splitlines()
    assert "- name: le-monde-international" in lines
    assert "  url: https://www.lemonde.fr/international/rss_full.xml" in lines


def test_import_keeps_the_file_mode_and_writes_atomically(config: Path) -> None:
    config.chmod(0o600)
    before = config.stat().st_ino
    import_opml(config, OPML)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert config.stat().st_ino != before  # a new file renamed over, not written in place
    assert [p.name for p in config.parent.iterdir()] == ["config.yaml"]  # no temp file left
    assert list(config.parent.glob("*.tmp")) == [] and list(config.parent.glob(".*")) == []


def test_a_bad_opml_file_leaves_the_config_untouched(config: Path, tmp_path: Path) -> None:
    bad = tmp_path / "feeds.opml"
    bad.write_text("<rss version='2.0'/>")
    with pytest.raises(OpmlError):
        import_opml(config, bad)
    with pytest.raises(OpmlError, match="cannot read"):
        import_opml(config, tmp_path / "missing.opml")
    assert config.read_text() == CONFIG


def test_a_config_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        import_opml(path, OPML)
    path.write_text("feeds: https://a.example/rss\n")
    with pytest.raises(ConfigError, match="feeds: expected a list"):
        import_opml(path, OPML)


def test_export_lists_every_configured_feed_url(config: Path) -> None:
    import_opml(config, OPML)
    feeds = load_config(config, env={}).feeds
    exported = read_opml(write_opml([(f.name, f.url) for f in feeds]).encode("utf-8"))
    assert [f.url for f in exported] == [f.url for f in feeds]
    assert [f.title for f in exported] == [f.name for f in feeds]
