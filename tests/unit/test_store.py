"""The database: migrations keep old files working; a newer file is refused, not damaged.

The rest checks the store's interface (``watcher.store.interface``) on a real SQLite
file, through its public methods only: what a poll records, what the outbox holds.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.core.decide import HistoryQuestion, PollDecision
from watcher.core.errors import StoreError
from watcher.core.models import Notice, Snippet, Story
from watcher.core.records import (
    FeedMoved,
    FeedRenamed,
    HealthCounts,
    PollRecord,
    QueuedAlert,
    QueuedNotice,
    Route,
    StoredFeed,
    StoryRecord,
)
from watcher.store import MIGRATIONS, SQLiteStore
from watcher.store.postgres import PostgresStore
from watcher.store.sql import SQLStore


def test_a_new_database_is_created_at_the_latest_version(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "sub" / "w.db")
    assert store.version == len(MIGRATIONS)
    store.close()


def test_reopening_keeps_data_and_version(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    store = SQLiteStore(path)
    store.db.execute("INSERT INTO feeds (name, url) VALUES ('a', 'http://x/')")
    store.db.conn.commit()
    store.close()
    again = SQLiteStore(path)
    assert again.feeds_status()[0]["name"] == "a"
    assert again.version == len(MIGRATIONS)


def test_a_database_from_a_newer_watcher_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="newer than this watcher"):
        SQLiteStore(path)


def test_a_file_that_is_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot use database"):
        SQLiteStore(path)


# -- the store's interface, through its public methods on a real file --------------------

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
URL = "https://wire.example/rss"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLStore]:
    """The same suite on both backends: a SQLite file, and a PostgreSQL database."""
    opened: SQLStore
    if request.param == "sqlite":
        opened = SQLiteStore(tmp_path / "w.db", instance="test")
    else:
        opened = PostgresStore(request.getfixturevalue("postgres_url"), instance="test")
    yield opened
    opened.close()


def story_record(
    link: str,
    *,
    feed: str = "wire",
    cluster: int = 1,
    keys: tuple[str, ...] | None = None,
    text_hash: str = "t1",
    title: str = "Quake hits Hama",
) -> StoryRecord:
    return StoryRecord(
        story=Story(feed=feed, guid=None, link=link, title=title),
        keys=keys if keys is not None else (f"link:{link}",),
        cluster_id=cluster,
        fingerprint=None,
        text_hash=text_hash,
    )


def queued(
    once_key: str,
    *channels: str,
    index: int | None = 0,
    rule: str = "quake",
    kind: str = "alert",
    story_id: int | None = None,
    digest_at: datetime | None = None,
) -> QueuedAlert:
    return QueuedAlert(
        story_index=index,
        rule=rule,
        routes=tuple(Route(channel, digest_at) for channel in channels),
        snippet=Snippet("Quake hits Hama", ((0, 5),)),
        once_key=once_key,
        kind=kind,
        story_id=story_id,
    )


def poll(
    now: datetime = T0,
    *,
    feed: str = "wire",
    url: str = URL,
    error: str | None = None,
    **fields: object,
) -> PollRecord:
    fields.setdefault("next_poll", now + timedelta(minutes=10))
    return PollRecord(
        name=feed,
        url=url,
        now=now,
        status=500 if error else 200,
        error=error,
        **fields,  # type: ignore[arg-type]
    )


def record(
    store: SQLStore,
    *stories: StoryRecord,
    alerts: tuple[QueuedAlert, ...] = (),
    notices: tuple[QueuedNotice, ...] = (),
    now: datetime = T0,
    feed: str = "wire",
    listed: tuple[str, ...] = (),
) -> int:
    return store.record_poll(
        PollDecision(
            poll(now, feed=feed),
            new_stories=stories,
            alerts=alerts,
            notices=notices,
            listed_keys=listed,
        )
    )


def pending_ids(store: SQLStore, channel: str | None = None) -> list[int]:
    return [
        row["id"]
        for row in store.outbox()
        if row["status"] == "pending" and channel in (None, row["channel"])
    ]


def statuses(store: SQLStore) -> dict[int, str]:
    """Every delivery's status, sent and dropped included (the outbox listing hides those)."""
    return dict(store.db.execute("SELECT id, status FROM deliveries ORDER BY id").fetchall())


@pytest.mark.parametrize(
    ("channels", "deliveries"),
    [
        (("phone",), ["phone"]),
        (("phone", "mail"), ["phone", "mail"]),
        (("stdout", "phone", "mail"), ["stdout", "phone", "mail"]),
    ],
)
def test_record_poll_stores_the_story_its_keys_the_alert_and_one_delivery_per_route(
    store: SQLStore, channels: tuple[str, ...], deliveries: list[str]
) -> None:
    new = story_record("https://wire.example/a", keys=("link:https://wire.example/a", "guid:g1"))
    assert record(store, new, alerts=(queued("alert:1:quake", *channels),)) == 1

    assert store.known_keys(["link:https://wire.example/a", "guid:g1", "guid:g2"]) == {
        "link:https://wire.example/a",
        "guid:g1",
    }
    rows = store.outbox()
    assert [row["channel"] for row in rows] == deliveries
    assert {(row["rule"], row["feed"], row["title"], row["status"]) for row in rows} == {
        ("quake", "wire", "Quake hits Hama", "pending")
    }
    assert store.alert_history(HistoryQuestion(("alert:1:quake",), ())).taken == {"alert:1:quake"}


@pytest.mark.parametrize(
    ("second_key", "queued_again", "rows"),
    [
        ("alert:1:quake", 0, 1),  # the same event, the same rule: once only
        ("alert:2:quake", 1, 2),  # another event
        ("update:1:quake:courier", 1, 2),  # an update note has a once-key of its own
    ],
)
def test_an_alert_whose_once_key_is_taken_queues_nothing(
    store: SQLStore, second_key: str, queued_again: int, rows: int
) -> None:
    record(store, story_record("https://wire.example/a"), alerts=(queued("alert:1:quake", "p"),))
    again = record(
        store,
        story_record("https://courier.example/b", feed="courier"),
        alerts=(queued(second_key, "p"),),
        feed="courier",
        now=at(1),
    )
    assert again == queued_again
    assert len(store.outbox()) == rows


@pytest.mark.parametrize(
    "bad_alert",
    [
        queued("alert:1:quake", "phone", index=5),  # no such new story
        queued("alert:1:quake", "phone", index=None),  # neither new nor stored
    ],
)
def test_a_poll_that_fails_half_way_writes_nothing(store: SQLStore, bad_alert: QueuedAlert) -> None:
    good = queued("alert:9:flood", "phone", rule="flood")
    with pytest.raises((IndexError, AssertionError)):
        record(store, story_record("https://wire.example/a"), alerts=(good, bad_alert))
    # The story is not marked seen, so the next poll decides it again.
    assert store.known_keys(["link:https://wire.example/a"]) == set()
    assert store.feed_state("wire") is None
    assert store.outbox() == []
    assert store.alert_history(HistoryQuestion(("alert:9:flood",), ())).taken == frozenset()


def test_record_poll_queues_notices_for_their_channel(store: SQLStore) -> None:
    notice = QueuedNotice("phone", "feed 'wire' is failing", "since noon")
    record(store, notices=(notice,))
    (due,) = store.due_deliveries(T0)
    assert (due.channel, due.notice, due.alert) == (
        "phone",
        Notice("feed 'wire' is failing", "since noon"),
        None,
    )


@pytest.mark.parametrize(
    ("asked", "found"),
    [
        (["link:a"], {"link:a": ("a", 7, "ha")}),
        (["guid:a", "link:b"], {"guid:a": ("a", 7, "ha"), "link:b": ("b", 8, "hb")}),
        (["link:zzz"], {}),
        ([], {}),
    ],
)
def test_known_stories_names_the_stored_story_behind_each_known_key(
    store: SQLStore, asked: list[str], found: dict[str, tuple[str, int, str]]
) -> None:
    record(
        store,
        story_record("a", cluster=7, keys=("link:a", "guid:a"), text_hash="ha"),
        story_record("b", cluster=8, keys=("link:b",), text_hash="hb"),
    )
    ids = {row[3].link: row[0] for row in store.stories_since(T0)}
    known = store.known_stories(asked)
    assert {
        key: (next(link for link, i in ids.items() if i == k.story_id), k.cluster_id, k.text_hash)
        for key, k in known.items()
    } == found


@pytest.mark.parametrize(
    ("asked", "known"),
    [
        (["link:a", "guid:a", "link:b"], {"link:a", "guid:a"}),
        (["link:b"], set()),
        ([f"link:{n}" for n in range(1200)] + ["link:a"], {"link:a"}),  # over one chunk
    ],
)
def test_known_keys_are_the_keys_stored(store: SQLStore, asked: list[str], known: set[str]) -> None:
    record(store, story_record("a", keys=("link:a", "guid:a")))
    assert store.known_keys(asked) == known


def _history_setup(store: SQLStore) -> None:
    """Cluster 7: wire alerted quake and flood; courier sent a quake update.  Cluster 8:
    a story that alerted nothing."""
    record(
        store,
        story_record("w", cluster=7),
        alerts=(queued("alert:7:quake", "p"), queued("alert:7:flood", "p", rule="flood")),
    )
    record(
        store,
        story_record("c", feed="courier", cluster=7),
        alerts=(queued("update:7:quake:courier", "p", kind="update"),),
        feed="courier",
        now=at(1),
    )
    record(store, story_record("x", cluster=8), now=at(2))


@pytest.mark.parametrize(
    ("once_keys", "pairs", "taken", "told"),
    [
        (("alert:7:quake",), (), {"alert:7:quake"}, {}),
        (("alert:8:quake", "update:7:quake:wire"), (), set(), {}),
        (
            ("alert:7:quake", "update:7:quake:courier"),
            ((7, "quake"),),
            {"alert:7:quake", "update:7:quake:courier"},
            {(7, "quake"): {"wire", "courier"}},
        ),
        ((), ((7, "flood"),), set(), {(7, "flood"): {"wire"}}),
        ((), ((8, "quake"), (9, "quake")), set(), {}),
    ],
)
def test_alert_history_answers_taken_once_keys_and_the_feeds_each_rule_told(
    store: SQLStore,
    once_keys: tuple[str, ...],
    pairs: tuple[tuple[int, str], ...],
    taken: set[str],
    told: dict[tuple[int, str], set[str]],
) -> None:
    _history_setup(store)
    history = store.alert_history(HistoryQuestion(once_keys, pairs))
    assert history.taken == taken
    for pair in pairs:
        assert history.told_by(*pair) == told.get(pair, set())


# -- the user's feed edits ----------------------------------------------------------------


def _renamed_setup(store: SQLStore) -> None:
    """'wire' (renamed to 'agency' below) and 'wire2' (whose keys must stay as they are)."""
    record(
        store,
        story_record(
            "https://wire.example/a",
            cluster=7,
            keys=("link:https://wire.example/a", "guid:wire\x1fg1", "title:wire\x1fquake hits"),
        ),
        alerts=(queued("alert:7:quake", "p"),),
    )
    record(
        store,
        story_record("https://wire.example/b", cluster=7, keys=("link:https://wire.example/b",)),
        alerts=(queued("update:7:quake:wire", "p", kind="update"),),
        now=at(1),
    )
    record(
        store,
        story_record("https://two.example/c", feed="wire2", cluster=8, keys=("guid:wire2\x1fg1",)),
        alerts=(queued("update:8:quake:wire2", "p", kind="update"),),
        feed="wire2",
    )
    store.apply_feed_changes([FeedRenamed("wire", "agency")])


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("guid:wire\x1fg1", "guid:agency\x1fg1"),
        ("title:wire\x1fquake hits", "title:agency\x1fquake hits"),
        ("link:https://wire.example/a", "link:https://wire.example/a"),  # not feed-scoped
        ("guid:wire2\x1fg1", "guid:wire2\x1fg1"),  # another feed, a name that starts the same
    ],
)
def test_a_renamed_feed_keeps_its_feed_scoped_keys_under_the_new_name(
    store: SQLStore, before: str, after: str
) -> None:
    _renamed_setup(store)
    assert store.known_keys([after]) == {after}
    if before != after:
        assert store.known_keys([before]) == set()


@pytest.mark.parametrize(
    ("once_key", "taken"),
    [
        ("update:7:quake:agency", True),
        ("update:7:quake:wire", False),
        ("alert:7:quake", True),  # not feed-scoped: unchanged
        ("update:8:quake:wire2", True),  # another feed's update is left alone
    ],
)
def test_a_renamed_feed_keeps_its_update_once_keys_under_the_new_name(
    store: SQLStore, once_key: str, taken: bool
) -> None:
    _renamed_setup(store)
    assert (once_key in store.alert_history(HistoryQuestion((once_key,), ())).taken) is taken


def test_a_renamed_feed_moves_its_row_and_its_stories(store: SQLStore) -> None:
    _renamed_setup(store)
    assert [feed.name for feed in store.stored_feeds()] == ["agency", "wire2"]
    assert store.feed_state("wire") is None
    state = store.feed_state("agency")
    assert state is not None and state.url == URL and state.first_polled_at == T0
    assert {s.feed for _, _, _, s in store.stories_since(T0)} == {"agency", "wire2"}
    # The cluster's alerts were told by the feed under its new name.
    history = store.alert_history(HistoryQuestion((), ((7, "quake"),)))
    assert history.told_by(7, "quake") == {"agency"}


def _moved_setup(store: SQLStore) -> None:
    store.record_poll(
        PollDecision(
            poll(
                T0,
                etag='"v1"',
                last_modified="Wed, 02 Dec 2026 11:00:00 GMT",
                body_hash="b1",
                effective_url="https://cdn.wire.example/rss",
                notice_sent=True,
            ),
            new_stories=(story_record("https://wire.example/a"),),
        )
    )
    store.record_poll(
        PollDecision(poll(at(10), error="HTTP 500", hold_until=at(40), next_poll=None))
    )


@pytest.mark.parametrize(
    ("field", "before", "after"),
    [
        ("etag", '"v1"', None),
        ("last_modified", "Wed, 02 Dec 2026 11:00:00 GMT", None),
        ("body_hash", "b1", None),
        ("effective_url", "https://cdn.wire.example/rss", None),
        ("first_polled_at", T0, None),
        ("consecutive_failures", 1, 0),
        ("failing_since", at(10), None),
        ("hold_until", at(40), None),
        ("notice_sent", True, False),
        ("url", URL, "https://wire.example/new.xml"),
    ],
)
def test_a_moved_feed_forgets_what_the_old_url_taught(
    store: SQLStore, field: str, before: object, after: object
) -> None:
    _moved_setup(store)
    assert getattr(store.feed_state("wire"), field) == before
    store.apply_feed_changes([FeedMoved("wire", URL, "https://wire.example/new.xml")])
    assert getattr(store.feed_state("wire"), field) == after


def test_a_moved_feed_keeps_its_stories_known(store: SQLStore) -> None:
    _moved_setup(store)
    store.apply_feed_changes([FeedMoved("wire", URL, "https://wire.example/new.xml")])
    assert store.known_keys(["link:https://wire.example/a"]) == {"link:https://wire.example/a"}
    assert store.stored_feeds() == [StoredFeed("wire", "https://wire.example/new.xml")]


# -- the outbox: orphans, re-routing, dropping --------------------------------------------


def _two_alerts(store: SQLStore, *channels: str) -> None:
    record(
        store,
        story_record("a", cluster=1),
        story_record("b", cluster=2),
        alerts=(queued("alert:1:quake", *channels), queued("alert:2:quake", *channels, index=1)),
    )


@pytest.mark.parametrize(
    ("orphaned", "waiting", "held"),
    [
        ((), {"old", "phone"}, 0),
        (("old",), {"old", "phone"}, 2),  # orphaned rows still wait (for re-routing)
        (("old", "phone"), {"old", "phone"}, 4),
        (("nosuch",), {"old", "phone"}, 0),
    ],
)
def test_orphan_holds_a_channels_pending_rows_and_they_are_not_due(
    store: SQLStore, orphaned: tuple[str, ...], waiting: set[str], held: int
) -> None:
    _two_alerts(store, "old", "phone")
    assert sum(store.orphan(channel, "gone") for channel in orphaned) == held
    assert store.waiting_channels() == waiting
    due = {p.channel for p in store.due_deliveries(at(60), retry_now=True)}
    assert due == {"old", "phone"} - set(orphaned)
    assert store.health_counts([]).orphaned == held
    # Held once: orphaning again finds nothing new.
    assert sum(store.orphan(channel, "gone") for channel in orphaned) == 0


@pytest.mark.parametrize(
    ("adopted", "count", "due"),
    [
        (["old"], 2, {"old", "phone"}),
        (["elsewhere"], 0, {"phone"}),
        ([], 0, {"phone"}),
    ],
)
def test_adopt_puts_orphaned_rows_of_a_configured_channel_back_in_the_queue(
    store: SQLStore, adopted: list[str], count: int, due: set[str]
) -> None:
    _two_alerts(store, "old", "phone")
    store.orphan("old", "gone")
    assert store.adopt(adopted, at(1)) == count
    assert {p.channel for p in store.due_deliveries(at(1))} == due


@pytest.mark.parametrize(
    ("routes", "to", "result", "channels_after"),
    [
        (("old",), "new", (2, 0), ["new", "new"]),
        # Each alert already goes to 'new': the orphans are dropped, not sent twice.
        (("old", "new"), "new", (0, 2), ["new", "new"]),
    ],
)
def test_reroute_sends_orphans_elsewhere_but_never_twice_to_one_channel(
    store: SQLStore,
    routes: tuple[str, ...],
    to: str,
    result: tuple[int, int],
    channels_after: list[str],
) -> None:
    _two_alerts(store, *routes)
    store.orphan("old", "gone")
    assert store.reroute(to, at(1)) == result
    rows = store.outbox()
    assert [row["channel"] for row in rows] == channels_after
    assert {row["status"] for row in rows} == {"pending"}
    assert [p.channel for p in store.due_deliveries(at(1))] == channels_after
    assert store.waiting_channels() == {to}


def test_reroute_by_id_moves_only_those_rows(store: SQLStore) -> None:
    _two_alerts(store, "old")
    first, second = pending_ids(store)
    store.orphan("old", "gone")
    assert store.reroute("new", at(1), [second]) == (1, 0)
    assert {r["id"]: (r["channel"], r["status"]) for r in store.outbox()} == {
        first: ("old", "orphaned"),
        second: ("new", "pending"),
    }


def test_drop_without_ids_drops_only_orphaned_rows(store: SQLStore) -> None:
    _two_alerts(store, "old", "phone")
    old = pending_ids(store, "old")
    store.orphan("old", "gone")
    assert store.drop() == 2
    assert {row["channel"] for row in store.outbox()} == {"phone"}
    assert [statuses(store)[i] for i in old] == ["dropped", "dropped"]


@pytest.mark.parametrize(
    "then",
    ["due", "due-retry-now", "retry-failed", "adopt", "drop-again", "reroute"],
)
def test_a_dropped_row_never_comes_back(store: SQLStore, then: str) -> None:
    _two_alerts(store, "phone")
    first, second = pending_ids(store)
    assert store.drop([first]) == 1
    if then == "retry-failed":
        assert store.retry_failed(at(1)) == 0
    elif then == "adopt":
        assert store.adopt(["phone"], at(1)) == 0
    elif then == "drop-again":
        assert store.drop([first]) == 0
    elif then == "reroute":
        assert store.reroute("other", at(1), [first]) == (0, 0)
    due = store.due_deliveries(at(60), retry_now=then == "due-retry-now")
    assert [p.id for p in due] == [second]
    assert statuses(store)[first] == "dropped"
    assert [row["id"] for row in store.outbox()] == [second]


def test_a_sent_row_cannot_be_dropped_nor_rerouted(store: SQLStore) -> None:
    _two_alerts(store, "phone")
    first, _ = pending_ids(store)
    store.mark_sent([first], "phone", at(1))
    assert store.drop([first]) == 0
    assert store.reroute("other", at(2), [first]) == (0, 0)
    assert statuses(store)[first] == "sent"


# -- due rows, failures, giving up ---------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "retry_now", "due"),
    [
        (at(1), False, False),  # waiting on backoff
        (at(4.9), False, False),
        (at(5), False, True),  # next_attempt reached
        (at(1), True, True),  # `watcher outbox retry`: skips backoff
    ],
)
def test_a_failed_row_is_due_at_its_next_attempt_or_when_retried_now(
    store: SQLStore, now: datetime, retry_now: bool, due: bool
) -> None:
    _two_alerts(store, "phone")
    first, second = pending_ids(store)
    store.mark_failed([first], "HTTP 502", at(5))
    ids = [p.id for p in store.due_deliveries(now, retry_now=retry_now)]
    assert ids == ([first, second] if due else [second])


@pytest.mark.parametrize(
    ("now", "retry_now", "due"),
    [
        (at(59), False, False),
        (at(59), True, False),  # a digest is never sent early, even by a retry
        (at(60), False, True),
    ],
)
def test_a_digest_row_waits_for_its_digest_time(
    store: SQLStore, now: datetime, retry_now: bool, due: bool
) -> None:
    record(store, story_record("a"), alerts=(queued("alert:1:quake", "phone", digest_at=at(60)),))
    found = store.due_deliveries(now, retry_now=retry_now)
    assert [p.digest for p in found] == ([True] if due else [])


def test_a_due_alert_carries_what_the_channel_needs(store: SQLStore) -> None:
    record(
        store,
        story_record("https://wire.example/a", cluster=3),
        alerts=(queued("alert:3:quake", "phone"),),
    )
    other = story_record("https://courier.example/a", feed="courier", cluster=3)
    record(store, other, feed="courier", now=at(1))
    (due,) = store.due_deliveries(at(1))
    assert due.alert is not None
    assert (due.alert.rule, due.alert.feed, due.alert.link, due.alert.kind) == (
        "quake",
        "wire",
        "https://wire.example/a",
        "alert",
    )
    assert due.alert.snippet == Snippet("Quake hits Hama", ((0, 5),))
    assert due.alert.also_reported_by == ("courier",)
    assert (due.attempts, due.created_at) == (0, T0)


@pytest.mark.parametrize(
    ("give_up", "status", "due_later"),
    [(False, "pending", True), (True, "failed", False)],
)
def test_mark_failed_retries_or_gives_up(
    store: SQLStore, give_up: bool, status: str, due_later: bool
) -> None:
    _two_alerts(store, "phone")
    first, _ = pending_ids(store)
    store.mark_failed([first], "HTTP 502", at(5), give_up=give_up)
    assert statuses(store)[first] == status
    row = next(r for r in store.outbox() if r["id"] == first)
    assert (row["attempts"], row["last_error"]) == (1, "HTTP 502")
    later = [p.id for p in store.due_deliveries(at(600), retry_now=True)]
    assert (first in later) is due_later
    assert store.health_counts([]).failed == (0 if due_later else 1)


def test_retry_failed_puts_given_up_rows_back_due_now(store: SQLStore) -> None:
    _two_alerts(store, "phone")
    first, second = pending_ids(store)
    store.mark_failed([first, second], "HTTP 502", at(5), give_up=True)
    assert store.due_deliveries(at(600), retry_now=True) == []
    assert store.retry_failed(at(600)) == 2
    assert [p.id for p in store.due_deliveries(at(600))] == [first, second]


def test_mark_sent_counts_one_message_however_many_rows_it_carried(store: SQLStore) -> None:
    _two_alerts(store, "phone")
    store.mark_sent(pending_ids(store), "phone", at(1))
    assert store.messages_sent("phone", at(0)) == 1
    assert store.messages_sent("mail", at(0)) == 0
    assert store.due_deliveries(at(60), retry_now=True) == []


# -- health --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("configured", "feeds", "failing"),
    [
        (["ok", "broken"], 2, 1),
        (["ok"], 1, 0),
        # 'removed' fails too, but the config no longer has it: it does not count.
        (["ok", "broken", "new"], 3, 1),
        (["removed", "broken"], 2, 2),
        ([], 0, 0),
    ],
)
def test_health_counts_failing_feeds_among_those_configured_only(
    store: SQLStore, configured: list[str], feeds: int, failing: int
) -> None:
    store.record_poll(PollDecision(poll(T0, feed="ok")))
    store.record_poll(PollDecision(poll(T0, feed="broken", error="HTTP 500")))
    store.record_poll(PollDecision(poll(T0, feed="removed", error="timeout")))
    counts = store.health_counts(configured)
    assert (counts.feeds, counts.failing) == (feeds, failing)


def test_a_feed_that_recovers_is_no_longer_failing(store: SQLStore) -> None:
    store.record_poll(PollDecision(poll(T0, error="HTTP 500")))
    assert store.health_counts(["wire"]).failing == 1
    store.record_poll(PollDecision(poll(at(10))))
    assert store.health_counts(["wire"]).failing == 0


def test_health_counts_the_outbox_backlog_by_status(store: SQLStore) -> None:
    record(
        store,
        *(story_record(f"s{n}", cluster=n) for n in range(5)),
        alerts=tuple(queued(f"alert:{n}:quake", "phone", "old", index=n) for n in range(5)),
    )
    phone = pending_ids(store, "phone")
    store.mark_sent(phone[:2], "phone", at(1))
    store.mark_failed(phone[2:3], "HTTP 502", at(5), give_up=True)
    store.orphan("old", "gone")
    assert store.health_counts(["wire"]) == HealthCounts(
        feeds=1, failing=0, pending=2, failed=1, orphaned=5
    )


# -- pruning -------------------------------------------------------------------------------


def test_prune_forgets_old_stories_but_keeps_those_that_alerted(store: SQLStore) -> None:
    record(
        store,
        story_record("alerted", cluster=1),
        story_record("quiet", cluster=2),
        alerts=(queued("alert:1:quake", "phone"),),
    )
    assert store.prune(at(60 * 24)) == (1, 1)
    assert store.known_keys(["link:alerted", "link:quiet"]) == {"link:alerted"}
    assert [s.link for _, _, _, s in store.stories_since(T0)] == ["alerted"]
    # The outbox stays whole: the alert can still be sent.
    (due,) = store.due_deliveries(at(60 * 24))
    assert due.alert is not None and due.alert.link == "alerted"


@pytest.mark.parametrize(
    ("listed_at", "key_kept"),
    [
        (at(60 * 48), True),  # still listed after the cut-off: the feed still has it
        (None, False),
    ],
)
def test_prune_keeps_the_keys_a_feed_still_lists(
    store: SQLStore, listed_at: datetime | None, key_kept: bool
) -> None:
    record(store, story_record("quiet"))
    if listed_at is not None:
        record(store, listed=("link:quiet",), now=listed_at)
    assert store.prune(at(60 * 24)) == (1, 0 if key_kept else 1)
    assert (store.known_keys(["link:quiet"]) == {"link:quiet"}) is key_kept


@pytest.mark.parametrize(
    ("later", "key_kept"),
    [
        ("304", True),  # unchanged since: the feed still lists what it listed
        ("error", True),  # failing since: the same
        ("parsed", False),  # parsed again without it: it left the feed
    ],
)
def test_a_feed_unchanged_for_longer_than_retention_keeps_what_it_lists(
    store: SQLStore, later: str, key_kept: bool
) -> None:
    parsed = PollDecision(
        poll(T0, body_hash="b1"),
        new_stories=(story_record("quiet"),),
        listed_keys=("link:quiet",),
    )
    store.record_poll(parsed)
    for day in (10, 20, 30):  # a month of polls that read nothing
        moment = T0 + timedelta(days=day)
        if later == "304":
            store.record_poll(PollDecision(poll(moment)))  # no body read: no body hash
        elif later == "error":
            store.record_poll(PollDecision(poll(moment, error="HTTP 503")))
        else:
            store.record_poll(PollDecision(poll(moment, body_hash=f"b{day}")))
    store.prune(T0 + timedelta(days=25))
    assert (store.known_keys(["link:quiet"]) == {"link:quiet"}) is key_kept


def test_a_pruned_storys_keys_never_point_at_a_later_story(store: SQLStore) -> None:
    """BUG (watcher/store/sql_stories.py, _insert_stories): new story ids are
    MAX(id) + 1, so once the newest stories are pruned their ids are handed out
    again, and the keys the feed still lists (kept by prune) then name the new
    story: the old item reads as an edit of an unrelated story."""
    record(store, story_record("old", cluster=1, text_hash="h-old"))
    record(store, listed=("link:old",), now=at(60 * 48))  # the feed still lists it
    store.prune(at(60 * 24))
    assert store.known_stories(["link:old"])["link:old"].text_hash is None
    record(store, story_record("new", cluster=2, text_hash="h-new"), now=at(60 * 49))
    old = store.known_stories(["link:old"])["link:old"]
    new = store.known_stories(["link:new"])["link:new"]
    assert old.story_id != new.story_id
    assert (old.cluster_id, old.text_hash) == (-old.story_id, None)


# -- several instances: leases of feeds, claims of deliveries (#17) -----------------------

HOSTS = {"a1": "a.example", "a2": "a.example", "a3": "a.example", "b1": "b.example"}


def _register(store: SQLStore) -> None:
    store.register_feeds({name: f"https://{host}/{name}" for name, host in HOSTS.items()})


def test_claims_take_due_feeds_within_the_per_host_limit(store: SQLStore) -> None:
    _register(store)
    claimed = store.claim_due_feeds(HOSTS, T0, limit=10, per_host=2)
    assert claimed == ["a1", "a2", "b1"]  # a third feed of a.example would be over the limit
    # Leased: not due again while the lease lasts, whoever asks.
    assert store.claim_due_feeds(HOSTS, at(1), limit=10, per_host=2) == []


def test_a_poll_ends_its_lease_and_names_its_instance(store: SQLStore) -> None:
    _register(store)
    assert store.claim_due_feeds({"a1": "a.example"}, T0, limit=10, per_host=2) == ["a1"]
    store.record_poll(PollDecision(poll(T0, feed="a1", next_poll=at(10))))
    row = {r["name"]: r for r in store.feeds_status()}["a1"]
    assert (row["polled_by"], row["lease_until"]) == ("test", None)
    # Due again at its next poll, not before.
    assert store.claim_due_feeds({"a1": "a.example"}, at(9.99), limit=10, per_host=2) == []
    assert store.claim_due_feeds({"a1": "a.example"}, at(10), limit=10, per_host=2) == ["a1"]


def test_a_lease_that_runs_out_makes_the_feed_due_again(store: SQLStore) -> None:
    _register(store)
    store.claim_due_feeds({"b1": "b.example"}, T0, limit=10, per_host=2)
    lease_end = T0 + store.lease
    assert store.claim_due_feeds({"b1": "b.example"}, lease_end - timedelta(seconds=1),
                                 limit=10, per_host=2) == []  # fmt: skip
    assert store.claim_due_feeds({"b1": "b.example"}, lease_end, limit=10, per_host=2) == ["b1"]


def test_a_released_feed_is_due_at_once(store: SQLStore) -> None:
    _register(store)
    store.claim_due_feeds(HOSTS, T0, limit=10, per_host=5)
    assert store.release_feeds(["a1", "b1"]) == 2
    assert store.claim_due_feeds(HOSTS, at(0.5), limit=10, per_host=5) == ["a1", "b1"]


def test_a_feed_held_by_a_backoff_is_not_claimed(store: SQLStore) -> None:
    _register(store)
    store.claim_due_feeds({"a1": "a.example"}, T0, limit=1, per_host=2)
    store.record_poll(
        PollDecision(poll(T0, feed="a1", error="503", next_poll=at(30), hold_until=at(30)))
    )
    assert store.claim_due_feeds({"a1": "a.example"}, at(20), limit=1, per_host=2) == []
    assert store.claim_due_feeds({"a1": "a.example"}, at(31), limit=1, per_host=2) == ["a1"]


def test_postgresql_instances_split_the_due_feeds_and_never_share_one(postgres_url: str) -> None:
    first = PostgresStore(postgres_url, instance="one")
    second = PostgresStore(postgres_url, instance="two")
    try:
        hosts = {f"f{n}": f"h{n}.example" for n in range(10)}
        first.register_feeds({name: f"https://{host}/" for name, host in hosts.items()})
        second.claim_due_feeds({}, T0, limit=0, per_host=2)  # not yet seen: a no-op
        first.claim_due_feeds({"f0": "h0.example"}, T0, limit=1, per_host=2)  # one is alive
        second.claim_due_feeds({"f1": "h1.example"}, T0, limit=1, per_host=2)  # and two
        rest = {name: host for name, host in hosts.items() if name not in ("f0", "f1")}
        mine = first.claim_due_feeds(rest, at(0.1), limit=100, per_host=2)
        theirs = second.claim_due_feeds(rest, at(0.1), limit=100, per_host=2)
        # Each look takes its share of what is still due: half of eight, half of four...
        assert (len(mine), len(theirs)) == (4, 2)
        mine += first.claim_due_feeds(rest, at(0.2), limit=100, per_host=2)
        theirs += second.claim_due_feeds(rest, at(0.2), limit=100, per_host=2)
        assert (len(mine), len(theirs)) == (5, 3)
        assert sorted(mine + theirs) == sorted(rest)  # all taken, none by both
    finally:
        first.close()
        second.close()


def test_postgresql_deliveries_are_claimed_by_one_instance_until_sent(postgres_url: str) -> None:
    first = PostgresStore(postgres_url, instance="one")
    second = PostgresStore(postgres_url, instance="two")
    try:
        record(first, story_record("https://wire.example/1"), alerts=(queued("k1", "mail"),))
        due = first.due_deliveries(T0)
        assert [d.channel for d in due] == ["mail"]
        assert second.due_deliveries(T0) == []  # claimed by one
        # The claim runs out (its instance died before sending): another takes it.
        assert [d.id for d in second.due_deliveries(T0 + first.lease)] == [due[0].id]
        second.mark_sent([due[0].id], "mail", T0 + first.lease)
        assert first.due_deliveries(T0 + 3 * first.lease) == []
    finally:
        first.close()
        second.close()


def test_a_postgresql_server_that_cannot_be_reached_is_a_clear_error_without_the_password() -> None:
    with pytest.raises(StoreError) as info:
        PostgresStore("postgresql://watcher:s3cret@127.0.0.1:1/news", connect_timeout=2)
    message = str(info.value)
    assert message.startswith("cannot use database postgresql://watcher:***@127.0.0.1:1/news: ")
    assert "s3cret" not in message and "refused" in message.lower()
