"""Shared fixtures: a loopback feed server, a capture endpoint for Apprise's json://,
and a helper that writes a config and runs the real CLI on it."""

from __future__ import annotations

import json
import os
import sqlite3
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import psycopg
import pytest
from click.testing import CliRunner, Result

from tests.support import postgres
from tests.support.httpserver import HTTPServer
from watcher.cli import cli

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
if not CORPUS.is_dir():
    CORPUS = Path(os.environ.get("WATCHER_CORPUS", "/nonexistent"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[postgres.PostgresServer]:
    """One real PostgreSQL server for the session (``tests/support/postgres.py``)."""
    why = postgres.unavailable()
    if why is not None:
        if postgres.REQUIRED:
            pytest.fail(f"PostgreSQL is required here (WATCHER_REQUIRE_POSTGRES=1): {why}")
        pytest.skip(f"PostgreSQL tests skipped: {why}")
    server = postgres.PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server: postgres.PostgresServer) -> str:
    """The URL of a new, empty database on the session's server."""
    return postgres_server.new_database()


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    with HTTPServer() as srv:
        yield srv


@dataclass
class Item:
    title: str
    link: str
    guid: str | None = None
    summary: str = ""
    published: datetime | None = None


def rss(*items: Item, title: str = "Test feed") -> str:
    """An RSS 2.0 document; dates default to now, so first polls alert on them."""
    parts = []
    for item in items:
        when = item.published or datetime.now(UTC)
        guid = f"<guid isPermaLink='false'>{escape(item.guid)}</guid>" if item.guid else ""
        parts.append(
            f"<item><title>{escape(item.title)}</title><link>{escape(item.link)}</link>{guid}"
            f"<description>{escape(item.summary)}</description>"
            f"<pubDate>{format_datetime(when)}</pubDate></item>"
        )
    return (
        "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
        f"<title>{escape(title)}</title><link>http://example.org/</link>"
        + "".join(parts)
        + "</channel></rss>"
    )


def days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


class Capture:
    """Apprise's json:// target: every alert POSTed to the loopback server."""

    def __init__(self, srv: HTTPServer, path: str = "/alerts") -> None:
        self.srv = srv
        self.path = path
        srv.add(path, b"{}", headers={"Content-Type": "application/json"})

    @property
    def url(self) -> str:
        return f"json://{self.srv.host}:{self.srv.port}{self.path}"

    def messages(self) -> list[dict[str, str]]:
        return [json.loads(r.body) for r in self.srv.hits(self.path) if r.method == "POST"]

    def count(self, text: str) -> int:
        """How many alerts name this text (a story title) in their title or body."""
        return sum(
            text in m.get("title", "") + "\n" + m.get("message", "") for m in self.messages()
        )


@pytest.fixture
def capture(server: HTTPServer) -> Capture:
    return Capture(server)


class Project:
    """A config file in a temp folder and the CLI run against it, as a user would.

    ``database_url``: the config names this PostgreSQL database (unless its text
    names a database itself); else the SQLite file ``watcher.db`` beside it.
    """

    def __init__(self, root: Path, database_url: str | None = None) -> None:
        self.root = root
        self.config = root / "config.yaml"
        self.database_url = database_url

    def write(self, text: str) -> Path:
        text = textwrap.dedent(text)
        named = any(line.startswith("database:") for line in text.splitlines())
        if self.database_url and not named:  # last, so that every line keeps its number
            text = f"{text.rstrip(chr(10))}\ndatabase: {self.database_url}\n"
        self.config.write_text(text, encoding="utf-8")
        return self.config

    def sql(self, query: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Rows of ``query`` (``?`` placeholders) on this project's database, committed."""
        if self.database_url:
            with psycopg.connect(self.database_url) as conn:
                cursor = conn.execute(query.replace("?", "%s"), list(params))
                return list(cursor.fetchall()) if cursor.description else []
        with closing(sqlite3.connect(self.database)) as db, db:
            return list(db.execute(query, list(params)).fetchall())

    def run(self, *args: str, env: dict[str, str] | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(
            cli, ["--config", str(self.config), *args], env=env, catch_exceptions=False
        )

    @property
    def database(self) -> Path:
        return self.root / "watcher.db"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path)
