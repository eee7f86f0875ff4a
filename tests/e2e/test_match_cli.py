"""`watcher match` and `watcher backtest`: trying rules before trusting them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tests.conftest import Item, Project, rss
from tests.support.httpserver import HTTPServer
from watcher.cli import cli

# the CLI matching text; no database
pytestmark = pytest.mark.sqlite_only


def match(*args: str, env: dict[str, str | None] | None = None) -> Result:
    return CliRunner().invoke(cli, ["match", *args], env=env, catch_exceptions=False)


# Bold and reverse video, as rich writes them, then back to normal.
BOLD_REVERSE, RESET = "\x1b[1;7m", "\x1b[0m"


def test_a_match_prints_the_highlighted_snippet_and_exits_0() -> None:
    result = match("Hama AND rebel*", "--title", "Army retreats", "--text", "Rebels entered Hama.")
    assert result.exit_code == 0
    assert "match" in result.stdout and "Rebels entered Hama." in result.stdout

    colour = {"FORCE_COLOR": "1", "TERM": "xterm-256color", "NO_COLOR": None}
    coloured = match(
        "Hama AND rebel*", "--title", "Army retreats", "--text", "Rebels entered Hama.", env=colour
    )
    assert coloured.exit_code == 0
    assert f"{BOLD_REVERSE}Hama{RESET}" in coloured.stdout
    assert f"{BOLD_REVERSE}Rebels{RESET}" in coloured.stdout
    assert f"{BOLD_REVERSE}entered" not in coloured.stdout  # only the matched words


def test_no_match_exits_1() -> None:
    result = match("Hama AND rebels", "--title", "Hamas delegation arrives", "--text", "rebels")
    assert result.exit_code == 1
    assert "no match" in result.stdout


def test_a_bad_query_exits_2_with_the_column_on_stderr() -> None:
    result = match("Hama AND (rebels", "--title", "x")
    assert result.exit_code == 2
    assert "bad query" in result.stderr and "column" in result.stderr
    assert result.stdout == ""


def test_an_html_file_is_matched_on_its_text(tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Rebels near <b>Ha</b>ma&#39;s gates</p></body></html>")
    assert match("rebels", "--file", str(page)).exit_code == 0
    assert match("script", "--file", str(page)).exit_code == 1
    assert match("body", "--file", str(page)).exit_code == 1  # a tag name, not text
    assert match("Hama", "--file", str(page)).exit_code == 0  # "<b>Ha</b>ma" reads as Hama


def test_jsonl_prints_matching_ids(tmp_path: Path) -> None:
    stories = tmp_path / "stories.jsonl"
    stories.write_text(
        "\n".join(
            json.dumps(s)
            for s in [
                {"id": "a", "title": "Rebels advance on Hama"},
                {"id": "b", "title": "Hamas talks", "summary": "rebels"},
                {"id": "c", "summary": "In Hama, rebels regroup", "content": ""},
            ]
        )
    )
    result = match("Hama AND rebels", "--jsonl", str(stories))
    assert result.exit_code == 0
    assert result.stdout.split() == ["a", "c"]


def test_rules_of_a_config_against_jsonl(project: Project, tmp_path: Path) -> None:
    project.write(
        """\
        rules:
          - {name: hama, query: Hama AND rebels}
          - {name: cairo, query: Cairo}
        """
    )
    stories = tmp_path / "s.jsonl"
    stories.write_text(
        '{"id": "1", "title": "Rebels in Hama"}\n{"id": "2", "title": "Talks in Cairo"}\n'
    )
    result = match("--rules", str(project.config), "--jsonl", str(stories))
    assert result.exit_code == 0
    assert result.stdout.splitlines() == ["1\thama", "2\tcairo"]


def test_url_fetches_the_page(server: HTTPServer) -> None:
    url = server.add(
        "/story",
        "<html><body><article><h1>News</h1><p>Rebels took the citadel of Hama today, "
        "witnesses said, after a long night of fighting in the northern districts.</p>"
        "</article></body></html>",
        headers={"Content-Type": "text/html"},
    )
    assert match("citadel AND Hama", "--url", url).exit_code == 0


def test_backtest_runs_a_rule_over_stored_stories(project: Project, server: HTTPServer) -> None:
    url = server.add(
        "/feed.xml",
        rss(
            Item("Rebels advance on Hama", "http://n.example/1", "1"),
            Item("Cairo talks resume", "http://n.example/2", "2"),
        ),
    )
    project.write(
        f"feeds: [{{name: wire, url: '{url}'}}]\nrules: [{{name: cairo, query: Cairo}}]\n"
    )
    project.run("once")

    by_query = project.run("backtest", "Hama AND rebels", "--json")
    assert by_query.exit_code == 0
    assert [r["title"] for r in json.loads(by_query.stdout)] == ["Rebels advance on Hama"]
    by_rule = project.run("backtest", "cairo", env={"COLUMNS": "200"})
    assert by_rule.exit_code == 0 and "Cairo talks resume" in by_rule.stdout
    assert project.run("backtest", "Damascus").exit_code == 1
