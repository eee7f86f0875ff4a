"""The alert feeds as a feed reader sees them: real HTTP on loopback, a real SQLite store.

(``/metrics`` and ``/health`` on the same listener: tests/unit/test_metrics.py.)
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.support.atom import NS, check_atom
from watcher import http as http_module
from watcher.core.decide import PollDecision
from watcher.core.errors import StoreError
from watcher.core.models import Snippet, Story
from watcher.core.records import PollRecord, QueuedAlert, Route, StoryRecord
from watcher.http import AlertFeeds, Listener
from watcher.metrics import Metrics
from watcher.store import SQLiteStore

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token-for-the-feeds"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "w.db")
    yield opened
    opened.close()


class Desk:
    """Polls recorded the way the pipeline records them: stories, alerts, deliveries."""

    def __init__(self, store: SQLiteStore) -> None:
        self.store = store
        self.n = 0

    def story(
        self,
        title: str,
        *,
        feed: str = "wire",
        cluster: int | None = None,
        rule: str | None = "quake",
        kind: str = "alert",
        channels: tuple[str, ...] = ("phone",),
        muted: bool = False,
        minutes: float | None = None,
    ) -> int:
        """One new story (in ``cluster``, by default one of its own), alerted by ``rule``."""
        self.n += 1
        cluster = self.n if cluster is None else cluster
        now = T0 + timedelta(minutes=self.n if minutes is None else minutes)
        link = f"https://{feed}.example/{self.n}"
        alerts = ()
        if rule is not None:
            alerts = (
                QueuedAlert(
                    story_index=0,
                    rule=rule,
                    routes=tuple(Route(c) for c in channels),
                    snippet=Snippet(f"{title} (snippet)", ((0, 3),)),
                    once_key=f"{kind}:{cluster}:{rule}:{feed}:{self.n}",
                    kind=kind,
                    muted=muted,
                ),
            )
        self.store.record_poll(
            PollDecision(
                PollRecord(name=feed, url=f"https://{feed}.example/rss", now=now, status=200,
                           next_poll=now + timedelta(minutes=10)),
                new_stories=(
                    StoryRecord(
                        story=Story(feed=feed, guid=None, link=link, title=title,
                                    published=now - timedelta(minutes=30)),
                        keys=(f"link:{link}",),
                        cluster_id=cluster,
                        fingerprint=None,
                        text_hash=f"t{self.n}",
                    ),
                ),
                alerts=alerts,
            )
        )  # fmt: skip
        return cluster


Scenario = Callable[[httpx.AsyncClient], Awaitable[None]]


def served(
    store: SQLiteStore,
    scenario: Scenario,
    *,
    rules: Callable[[], set[str]] = lambda: {"quake", "flood"},
    token: Callable[[], str | None] = lambda: None,
    listener: Listener | None = None,
) -> None:
    feeds = AlertFeeds(store=store, rules=rules, token=token, instance="test", started=T0)

    async def main() -> None:
        server = listener or Listener(Metrics(), feeds)
        await server.serve("127.0.0.1", 0)
        try:
            address = server.address
            assert address is not None
            base = f"http://{address[0]}:{address[1]}"
            async with httpx.AsyncClient(base_url=base, timeout=5) as client:
                await scenario(client)
        finally:
            await server.close()

    asyncio.run(main())


def titles(body: bytes) -> list[str]:
    return [t.text for t in etree.fromstring(body).findall("a:entry/a:title", NS)]


def test_the_feed_lists_first_alerts_newest_first_with_every_outlet(store: SQLiteStore) -> None:
    desk = Desk(store)
    quake = desk.story("Quake hits Hama")
    desk.story("Quake: AFP confirms", feed="afp", cluster=quake, rule=None)  # joins, no alert
    desk.story("Quake: BBC too", feed="bbc", cluster=quake, kind="update")  # an update: not listed
    desk.story("River floods Homs", rule="flood")
    desk.story("Quake muted", muted=True)  # muted on every channel: not listed
    desk.story("Quake told nowhere", channels=())  # routed nowhere: the feed is its channel

    async def scenario(client: httpx.AsyncClient) -> None:
        response = await client.get("/alerts.atom")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/atom+xml; charset=utf-8"
        root = check_atom(response.content)
        assert titles(response.content) == [
            "Quake told nowhere",
            "River floods Homs",
            "Quake hits Hama",
        ]
        hama = root.findall("a:entry", NS)[2]
        outlets = [a.findtext("a:name", namespaces=NS) for a in hama.findall("a:author", NS)]
        assert outlets == ["wire", "afp", "bbc"]  # the feed that alerted first
        assert hama.findtext("a:summary", namespaces=NS) == "Quake hits Hama (snippet)"
        assert hama.find("a:link", NS).get("href") == "https://wire.example/1"
        # Updated when the last outlet joined (minute 3), published as the story said.
        assert hama.findtext("a:updated", namespaces=NS) == "2026-12-02T12:03:00Z"
        assert hama.findtext("a:published", namespaces=NS) == "2026-12-02T11:31:00Z"
        assert response.headers["last-modified"] == "Wed, 02 Dec 2026 12:06:00 GMT"

        flood = await client.get("/alerts/flood.atom")
        assert flood.status_code == 200 and titles(flood.content) == ["River floods Homs"]
        assert "watcher: flood" in flood.text

    served(store, scenario)


def test_a_feed_holds_the_latest_100(store: SQLiteStore) -> None:
    desk = Desk(store)
    for n in range(105):
        desk.story(f"Quake {n}")

    async def scenario(client: httpx.AsyncClient) -> None:
        shown = titles((await client.get("/alerts/quake.atom")).content)
        assert len(shown) == 100 and shown[0] == "Quake 104" and shown[-1] == "Quake 5"

    served(store, scenario)


def test_an_unknown_rule_is_404_a_quiet_or_removed_one_is_a_feed(store: SQLiteStore) -> None:
    desk = Desk(store)
    desk.story("Old rule's story", rule="gone")  # a rule since removed from the config

    async def scenario(client: httpx.AsyncClient) -> None:
        missing = await client.get("/alerts/nope.atom")
        assert missing.status_code == 404 and missing.text == "no such rule\n"
        quiet = await client.get("/alerts/flood.atom")  # configured, never alerted
        assert quiet.status_code == 200
        check_atom(quiet.content)
        assert titles(quiet.content) == []
        assert "Last-Modified" not in quiet.headers and quiet.headers["etag"]
        gone = await client.get("/alerts/gone.atom")
        assert gone.status_code == 200 and titles(gone.content) == ["Old rule's story"]
        for path in ("/alerts", "/alerts/", "/alerts/quake", "/alerts/a/b.atom", "/alerts.rss"):
            assert (await client.get(path)).status_code == 404, path

    served(store, scenario)


def test_a_repeat_is_304_until_something_changes(store: SQLiteStore) -> None:
    desk = Desk(store)
    quake = desk.story("Quake hits Hama")

    async def scenario(client: httpx.AsyncClient) -> None:
        first = await client.get("/alerts.atom")
        etag, modified = first.headers["etag"], first.headers["last-modified"]
        assert first.headers["cache-control"] == "no-cache"
        again = await client.get("/alerts.atom", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        by_date = await client.get("/alerts.atom", headers={"If-Modified-Since": modified})
        assert by_date.status_code == 304
        head = await client.head("/alerts.atom")
        assert head.status_code == 200 and head.content == b"" and head.headers["etag"] == etag
        # Another outlet reports the event: the entry changes, so does the tag.
        desk.story("Quake: AFP too", feed="afp", cluster=quake, rule=None)
        changed = await client.get("/alerts.atom", headers={"If-None-Match": etag})
        assert changed.status_code == 200 and changed.headers["etag"] != etag
        # A new alert: new tag, a later date.
        desk.story("Second quake")
        newer = await client.get("/alerts.atom", headers={"If-Modified-Since": modified})
        assert newer.status_code == 200 and titles(newer.content)[0] == "Second quake"

    served(store, scenario)


def test_with_a_token_the_feeds_want_it_and_metrics_stay_open(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    Desk(store).story("Quake hits Hama")

    async def scenario(client: httpx.AsyncClient) -> None:
        bare = await client.get("/alerts.atom")
        assert bare.status_code == 401
        assert bare.headers["www-authenticate"].startswith("Bearer")
        assert (await client.get("/alerts/nope.atom")).status_code == 401  # names stay hidden
        assert (await client.get("/alerts.atom", params={"token": "guess"})).status_code == 403
        wrong = await client.get("/alerts.atom", headers={"Authorization": "Bearer guess"})
        assert wrong.status_code == 403
        by_query = await client.get("/alerts.atom", params={"token": TOKEN})
        assert by_query.status_code == 200
        assert by_query.headers["cache-control"] == "private, no-cache"
        assert TOKEN not in by_query.text  # the self link leaves the query out
        check_atom(by_query.content)
        by_header = await client.get(
            "/alerts/quake.atom", headers={"Authorization": f"bearer {TOKEN}"}
        )
        assert by_header.status_code == 200 and titles(by_header.content) == ["Quake hits Hama"]
        assert (await client.get("/alerts/nope.atom", params={"token": TOKEN})).status_code == 404
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.get("/health")).status_code == 200

    with caplog.at_level(logging.DEBUG):
        served(store, scenario, token=lambda: TOKEN)
    ours = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert ours and not any(TOKEN in r.getMessage() for r in ours)


def test_a_new_token_applies_to_the_next_request(store: SQLiteStore) -> None:
    current: dict[str, str | None] = {"token": None}

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/alerts.atom")).status_code == 200
        current["token"] = TOKEN  # a reload set it
        assert (await client.get("/alerts.atom")).status_code == 401
        assert (await client.get("/alerts.atom", params={"token": TOKEN})).status_code == 200

    served(store, scenario, token=lambda: current["token"])


def test_other_methods_are_refused(store: SQLiteStore) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        refused = await client.post("/alerts.atom", content=b"x")
        assert refused.status_code == 405 and refused.headers["allow"] == "GET, HEAD"
        assert (await client.delete("/alerts/quake.atom")).status_code == 405

    served(store, scenario)


def test_a_store_that_cannot_answer_is_503_not_a_crash(
    store: SQLiteStore, caplog: pytest.LogCaptureFixture
) -> None:
    class Locked:
        def alert_feed(self, rule: str | None, limit: int) -> list[dict[str, Any]]:
            raise StoreError("database is locked")

    feeds = AlertFeeds(store=Locked(), rules=lambda: {"quake"})  # type: ignore[arg-type]

    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/alerts.atom")).status_code == 503
        assert (await client.get("/metrics")).status_code == 200

    served(store, scenario, listener=Listener(Metrics(), feeds))
    assert "cannot read the alerts: database is locked" in caplog.text


def test_without_feeds_the_listener_serves_metrics_only(store: SQLiteStore) -> None:
    async def scenario(client: httpx.AsyncClient) -> None:
        assert (await client.get("/alerts.atom")).status_code == 404
        assert (await client.get("/metrics")).status_code == 200

    served(store, scenario, listener=Listener(Metrics()))


def test_a_connection_that_sends_no_request_is_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http_module, "REQUEST_TIMEOUT", 0.3)

    async def main() -> None:
        listener = Listener(Metrics())
        await listener.serve("127.0.0.1", 0)
        try:
            address = listener.address
            assert address is not None
            reader, writer = await asyncio.open_connection(*address)
            writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
            await writer.drain()
            assert await asyncio.wait_for(reader.read(), timeout=3) == b""  # closed by the server
            writer.close()
        finally:
            await listener.close()

    asyncio.run(main())


# -- the history behind `watcher alerts` -------------------------------------------------------


def test_alert_log_shows_every_alert_with_each_channels_outcome(store: SQLiteStore) -> None:
    desk = Desk(store)
    quake = desk.story("Quake hits Hama", channels=("phone", "mail"))
    desk.story("Quake: BBC too", feed="bbc", cluster=quake, kind="update", channels=("phone",))
    desk.story("River floods Homs", rule="flood", muted=True)
    ids = dict(store.db.execute("SELECT channel || alert_id, id FROM deliveries").fetchall())
    store.mark_sent([ids["phone1"]], "phone", T0 + timedelta(minutes=5))
    store.mark_failed([ids["mail1"]], "SMTP said no", T0 + timedelta(hours=1), give_up=True)

    log = store.alert_log(T0)
    assert [(r["title"], r["kind"], r["rule"]) for r in log] == [
        ("Quake hits Hama", "alert", "quake"),
        ("Quake: BBC too", "update", "quake"),
        ("River floods Homs", "alert", "flood"),
    ]
    first = log[0]
    assert first["cluster_id"] == quake and first["outlets"] == ["wire", "bbc"]
    assert first["snippet"] == "Quake hits Hama (snippet)"
    outcomes = [(d["channel"], d["status"], d["attempts"]) for d in first["deliveries"]]
    assert outcomes == [("phone", "sent", 1), ("mail", "failed", 1)]
    assert first["deliveries"][0]["sent_at"] == "2026-12-02T12:05:00+00:00"
    assert first["deliveries"][1]["last_error"] == "SMTP said no"
    assert [d["status"] for d in log[1]["deliveries"]] == ["pending"]
    assert [d["status"] for d in log[2]["deliveries"]] == ["muted"]
    assert [r["title"] for r in store.alert_log(T0, "flood")] == ["River floods Homs"]
    assert [r["title"] for r in store.alert_log(T0 + timedelta(minutes=2))] == [
        "Quake: BBC too",
        "River floods Homs",
    ]
    assert store.alert_log(T0, "nope") == []
