"""The sequencer: one poll from response to outbox, over an httpx.MockTransport seam.

These tests are about the order of the stages and what each hands the next
(a 304 stops before reading, a broken body is recorded as the feed's error,
full text is fetched only for new stories, a store that fails loses the
poll but not the stories), not about HTTP itself: no socket is opened.
"""

from __future__ import annotations

import asyncio
import io
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from watcher.config import Config, parse_config
from watcher.pipeline import FeedOutcome
from watcher.wiring import open_pipeline

Handler = Callable[[httpx.Request], httpx.Response]


def rss(*titles: str) -> bytes:
    now = format_datetime(datetime.now(UTC))
    items = "".join(
        f"<item><title>{t}</title><link>https://news.invalid/{i}</link><pubDate>{now}</pubDate>"
        f"</item>"
        for i, t in enumerate(titles)
    )
    return f"<rss version='2.0'><channel><title>W</title>{items}</channel></rss>".encode()


def make_config(tmp_path: Path, extra: str = "") -> Config:
    text = f"""\
feeds:
  - name: wire
    url: https://wire.invalid/rss
{extra}
rules:
  - name: quake
    query: quake
"""
    return parse_config(text, tmp_path / "config.yaml", {})


def poll(config: Config, handler: Handler, times: int = 1) -> tuple[list[FeedOutcome], str]:
    """Poll the config's feeds ``times`` times (forced) through ``handler``; the alerts printed."""
    out = io.StringIO()

    async def run() -> list[FeedOutcome]:
        outcomes: list[FeedOutcome] = []
        transport = httpx.MockTransport(handler)
        async with open_pipeline(config, stdout=out, transport=transport) as pipeline:
            for _ in range(times):
                outcomes += await pipeline.poll_all(force=True)
                await pipeline.deliver_due()
        return outcomes

    return asyncio.run(run()), out.getvalue()


def stored(config: Config, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(config.database) as db:
        return db.execute(sql).fetchall()


def test_a_feed_is_fetched_read_analysed_stored_and_delivered_in_one_poll(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, content=rss("Quake hits Chile", "Markets calm"))

    (outcome,), printed = poll(config, handler)
    assert seen == ["https://wire.invalid/rss"]
    assert (outcome.new_stories, outcome.alerts, outcome.error) == (2, 1, None)
    assert "Quake hits Chile" in printed and "Markets calm" not in printed
    assert stored(config, "SELECT count(*) FROM stories") == [(2,)]


def test_a_304_is_recorded_without_reading_anything(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304)
        return httpx.Response(200, content=rss("Quake hits Chile"), headers={"ETag": '"v1"'})

    first, second = poll(config, handler, times=2)[0]
    assert first.new_stories == 1 and second.not_modified and second.new_stories == 0


def test_a_body_that_is_not_a_feed_is_the_feeds_error_and_stores_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html><body>Hello</body></html>",
                              headers={"Content-Type": "text/html"})  # fmt: skip

    (outcome,), _ = poll(config, handler)
    assert outcome.error is not None and "not a feed" in outcome.error
    assert stored(config, "SELECT consecutive_failures FROM feeds") == [(1,)]
    assert stored(config, "SELECT count(*) FROM stories") == [(0,)]


def test_autodiscovery_follows_the_advertised_feed_and_polls_it_from_then_on(
    tmp_path: Path,
) -> None:
    config = make_config(tmp_path)
    seen: list[str] = []
    page = b"<html><head><link rel='alternate' type='application/rss+xml' href='/feed'></head>"

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/rss":
            return httpx.Response(200, content=page, headers={"Content-Type": "text/html"})
        return httpx.Response(200, content=rss("Quake hits Chile"))

    outcomes, _ = poll(config, handler, times=2)
    assert [o.new_stories for o in outcomes] == [1, 0]
    assert seen == ["/rss", "/feed", "/feed"]


def test_full_text_fetches_the_pages_of_new_stories_only(tmp_path: Path) -> None:
    config = make_config(tmp_path, "    full_text: true\n")
    pages: list[str] = []
    article = (
        "<html><body><article><h1>Chile</h1>"
        + "<p>The quake struck at dawn near the coast, residents said.</p>" * 8
        + "</article></body></html>"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "news.invalid":
            pages.append(request.url.path)
            return httpx.Response(200, content=article.encode(),
                                  headers={"Content-Type": "text/html"})  # fmt: skip
        return httpx.Response(200, content=rss("Tremor in Chile"))

    outcomes, printed = poll(config, handler, times=2)
    assert pages == ["/0"]  # the second poll knows the story: no page fetched again
    assert outcomes[0].alerts == 1 and "Tremor in Chile" in printed  # matched on the page


def test_a_failed_write_loses_the_poll_not_the_stories(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path)
    body = rss("Quake hits Chile")
    out = io.StringIO()
    broken = (
        "CREATE TRIGGER full BEFORE INSERT ON stories BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )

    async def run() -> list[FeedOutcome]:
        transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
        async with open_pipeline(config, stdout=out, transport=transport) as pipeline:
            with sqlite3.connect(config.database) as db:  # the disk fills up
                db.execute(broken)
            failed = await pipeline.poll_all(force=True) + await pipeline.poll_all(force=True)
            with sqlite3.connect(config.database) as db:  # space again
                db.execute("DROP TRIGGER full")
            again = await pipeline.poll_all(force=True)
            await pipeline.deliver_due()
        return failed + again

    with caplog.at_level("WARNING"):
        first, second, again = asyncio.run(run())
    for failed in (first, second):
        assert failed.error is not None and "cannot write to database" in failed.error
        assert "disk full" in failed.error and failed.new_stories == 0
    assert again.error is None and again.new_stories == 1 and again.alerts == 1
    assert out.getvalue().count("quake: Quake hits Chile") == 1  # one alert, not lost
    errors = [r for r in caplog.records if "polls are not recorded" in r.getMessage()]
    assert len(errors) == 1 and errors[0].exc_info is None  # once, and no traceback
    assert any("takes writes again" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("workers", [0, 1])
def test_threads_and_worker_processes_give_the_same_poll(tmp_path: Path, workers: int) -> None:
    config = make_config(tmp_path, f"workers: {workers}")

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=rss("Quake hits Chile", "Quake aftershock", "Calm"))

    (outcome,), printed = poll(config, handler)
    assert (outcome.new_stories, outcome.alerts) == (3, 2)
    assert "Quake aftershock" in printed
