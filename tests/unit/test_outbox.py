"""The outbox shell: due rows go out through the deliverer and are settled in a real store.

The deliverer is a fake that records what it was asked to send; the clock is a
list the test moves, so retries, digests and rate limits run on literal times.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watcher.core.decide import PollDecision
from watcher.core.models import Alert, ChannelSpec, Notice, Snippet, Story
from watcher.core.outbox import DeliveryReport
from watcher.core.records import PollRecord, QueuedAlert, QueuedNotice, Route, StoryRecord
from watcher.outbox import Outbox
from watcher.store import SQLiteStore

T0 = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class FakeDeliverer:
    """Records every message; a channel in ``failing`` answers with its error."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, object]] = []
        self.failing: dict[str, str] = {}

    async def _answer(self, channel: str) -> str | None:
        await asyncio.sleep(0)  # a real send yields to the event loop
        return self.failing.get(channel)

    async def send(self, channel: str, alert: Alert) -> str | None:
        self.calls.append(("send", channel, alert.title))
        return await self._answer(channel)

    async def send_notice(self, channel: str, notice: Notice) -> str | None:
        self.calls.append(("notice", channel, notice.title))
        return await self._answer(channel)

    async def send_digest(self, channel: str, alerts: Sequence[Alert], title: str) -> str | None:
        self.calls.append(("digest", channel, (title, [a.title for a in alerts])))
        return await self._answer(channel)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "w.db")
    yield opened
    opened.close()


@pytest.fixture
def now() -> list[datetime]:
    return [T0]


@pytest.fixture
def deliverer() -> FakeDeliverer:
    return FakeDeliverer()


def channel(name: str, *, rate_limit: int | None = None, digest: str | None = None) -> ChannelSpec:
    return ChannelSpec(name, (f"json://127.0.0.1:9/{name}",), rate_limit=rate_limit, digest=digest)


def outbox(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    *channels: ChannelSpec,
    give_up_after: timedelta = timedelta(days=3),
) -> Outbox:
    return Outbox(
        store,
        deliverer,  # type: ignore[arg-type]
        {spec.name: spec for spec in channels},
        zone=UTC,
        give_up_after=give_up_after,
        clock=lambda: now[0],
    )


def queue(
    store: SQLiteStore,
    *titles: str,
    to: tuple[str, ...] = ("phone",),
    kind: str = "alert",
    digest_at: datetime | None = None,
    notices: tuple[QueuedNotice, ...] = (),
    when: datetime = T0,
) -> None:
    """One poll of 'wire' that queues one alert per title, to each channel of ``to``."""
    first = len(store.stories_since(datetime(2000, 1, 1, tzinfo=UTC)))
    stories = tuple(
        StoryRecord(
            Story("wire", None, f"https://wire.example/{first + n}", title),
            (f"link:https://wire.example/{first + n}",),
            first + n,
            None,
            f"h{n}",
        )
        for n, title in enumerate(titles)
    )
    alerts = tuple(
        QueuedAlert(
            story_index=n,
            rule="quake",
            routes=tuple(Route(ch, digest_at) for ch in to),
            snippet=Snippet(title),
            once_key=f"{kind}:{first + n}:quake",
            kind=kind,
        )
        for n, title in enumerate(titles)
    )
    store.record_poll(
        PollDecision(
            PollRecord("wire", "https://wire.example/rss", when, 200, None),
            new_stories=stories,
            alerts=alerts,
            notices=notices,
        )
    )


def run(box: Outbox, *, retry_now: bool = False) -> DeliveryReport:
    return asyncio.run(box.deliver_due(retry_now=retry_now))


def unsent(store: SQLiteStore) -> list[tuple[str, str]]:
    return [(row["channel"], row["status"]) for row in store.outbox()]


# -- sending --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "call"),
    [
        ("alert", ("send", "phone", "Quake hits Hama")),
        # Updates and edits go out as short notes.
        ("update", ("notice", "phone", "quake: also reported by wire")),
        ("edit", ("notice", "phone", "quake: updated by wire")),
    ],
)
def test_a_due_alert_is_sent_and_marked_sent(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    kind: str,
    call: tuple[str, str, str],
) -> None:
    queue(store, "Quake hits Hama", kind=kind)
    box = outbox(store, deliverer, now, channel("phone"))
    report = run(box)
    assert deliverer.calls == [call]
    assert (report.sent, report.failed, report.errors) == (1, 0, [])
    assert unsent(store) == []
    # Sent once: a later run, even one that skips backoff, sends nothing again.
    now[0] = at(3600)
    assert run(box, retry_now=True).sent == 0
    assert deliverer.calls == [call]


def test_a_notice_is_sent_as_a_notice(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, notices=(QueuedNotice("phone", "feed 'wire' is failing", "since noon"),))
    report = run(outbox(store, deliverer, now, channel("phone")))
    assert deliverer.calls == [("notice", "phone", "feed 'wire' is failing")]
    assert report.sent == 1 and unsent(store) == []


def test_an_alert_goes_to_each_of_its_channels(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "Quake hits Hama", to=("phone", "mail", "stdout"))
    report = run(outbox(store, deliverer, now, channel("phone"), channel("mail")))
    assert sorted(deliverer.calls) == [
        ("send", "mail", "Quake hits Hama"),
        ("send", "phone", "Quake hits Hama"),
        ("send", "stdout", "Quake hits Hama"),
    ]
    assert report.sent == 3


# -- failures: retry with backoff, then give up -------------------------------------------

PROBES = (0, 29, 30, 89, 90, 209, 210, 449, 450, 929, 930, 5000)


@pytest.mark.parametrize(
    ("give_up_after", "attempted_at", "given_up_at"),
    [
        # Backoff 30 s, 60 s, 120 s, 240 s, 480 s, 960 s after each failure.
        (timedelta(days=1), [0, 30, 90, 210, 450, 930, 5000], None),
        (timedelta(seconds=90), [0, 30, 90], 90),  # exactly give_up_after
        (timedelta(seconds=200), [0, 30, 90, 210], 210),
        (timedelta(seconds=0), [0], 0),
    ],
)
def test_a_failing_channel_is_retried_with_backoff_then_given_up(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    give_up_after: timedelta,
    attempted_at: list[int],
    given_up_at: int | None,
) -> None:
    queue(store, "Quake hits Hama")
    deliverer.failing["phone"] = "HTTP 502"
    box = outbox(store, deliverer, now, channel("phone"), give_up_after=give_up_after)
    attempts: list[int] = []
    gave_up: list[int] = []
    for second in PROBES:
        now[0] = at(second)
        before = len(deliverer.calls)
        report = run(box)
        if len(deliverer.calls) > before:
            attempts.append(second)
            assert report.errors == ["channel 'phone': HTTP 502"]
        if report.given_up:
            gave_up.append(second)
        assert report.sent == 0
    assert attempts == attempted_at
    assert gave_up == ([given_up_at] if given_up_at is not None else [])
    assert unsent(store) == [("phone", "failed" if given_up_at is not None else "pending")]


def test_a_channel_that_comes_back_gets_the_alert_it_missed(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "Quake hits Hama")
    deliverer.failing["phone"] = "HTTP 502"
    box = outbox(store, deliverer, now, channel("phone"))
    assert (run(box).failed, unsent(store)) == (1, [("phone", "pending")])
    del deliverer.failing["phone"]
    now[0] = at(30)
    assert run(box).sent == 1
    assert unsent(store) == []
    assert len(deliverer.calls) == 2


def test_retry_now_skips_the_backoff(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "Quake hits Hama")
    deliverer.failing["phone"] = "HTTP 502"
    box = outbox(store, deliverer, now, channel("phone"))
    run(box)
    del deliverer.failing["phone"]
    now[0] = at(1)
    assert run(box).sent == 0
    assert run(box, retry_now=True).sent == 1


# -- rate limits and digests --------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate_limit", "digest", "titles", "sent_at_once", "folded", "digest_due", "digest_title"),
    [
        (1, None, ["A", "B"], ["A"], 1, 60, "watcher digest: 1 alert"),  # waits a minute
        (2, None, ["A", "B", "C", "D"], ["A", "B"], 2, 60, "watcher digest: 2 alerts"),
        # or for the channel's digest
        (1, "hourly", ["A", "B", "C"], ["A"], 2, 3600, "watcher digest: 2 alerts"),
        (3, None, ["A", "B"], ["A", "B"], 0, None, None),
    ],
)
def test_alerts_over_a_channels_rate_limit_fold_into_a_digest(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    rate_limit: int,
    digest: str | None,
    titles: list[str],
    sent_at_once: list[str],
    folded: int,
    digest_due: int | None,
    digest_title: str | None,
) -> None:
    queue(store, *titles)
    box = outbox(store, deliverer, now, channel("phone", rate_limit=rate_limit, digest=digest))
    report = run(box)
    assert [call[2] for call in deliverer.calls] == sent_at_once
    assert (report.sent, report.folded) == (len(sent_at_once), folded)
    if digest_due is None:
        return
    deliverer.calls.clear()
    now[0] = at(digest_due - 1)
    assert run(box).sent == 0 and deliverer.calls == []
    now[0] = at(digest_due)
    report = run(box)
    rest = titles[len(sent_at_once) :]
    assert deliverer.calls == [("digest", "phone", (digest_title, rest))]
    assert report.sent == folded and unsent(store) == []


def test_a_rate_limit_counts_only_the_last_minute(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    box = outbox(store, deliverer, now, channel("phone", rate_limit=1))
    queue(store, "A")
    run(box)
    now[0] = at(61)
    queue(store, "B", when=at(61))
    report = run(box)
    assert (report.sent, report.folded) == (1, 0)
    assert [call[:2] for call in deliverer.calls] == [("send", "phone"), ("send", "phone")]


def test_a_notice_over_the_rate_limit_is_still_delivered(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    """BUG (watcher/outbox.py:95-97): a notice folded into a digest is left out of the
    digest (only alerts go in), yet its row is marked sent: the user never hears that
    the feed is broken."""
    queue(store, "A", notices=(QueuedNotice("phone", "feed 'wire' is failing", "since noon"),))
    box = outbox(store, deliverer, now, channel("phone", rate_limit=1))
    for second in (0, 60, 120, 180):
        now[0] = at(second)
        run(box)
    told = [c for c in deliverer.calls if c[0] == "notice"] + [
        c for c in deliverer.calls if c[0] == "digest" and "feed 'wire' is failing" in str(c[2])
    ]
    assert told, f"the notice never reached the deliverer: {deliverer.calls}"


@pytest.mark.parametrize(
    ("kinds", "entries"),
    [
        (["alert"], ["Quake hits Hama 0"]),
        (
            ["alert", "alert", "update"],
            ["Quake hits Hama 0", "Quake hits Hama 1", "also reported by wire: Quake hits Hama 2"],
        ),
    ],
)
def test_digest_rows_go_out_as_one_message(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    kinds: list[str],
    entries: list[str],
) -> None:
    for n, kind in enumerate(kinds):
        queue(store, f"Quake hits Hama {n}", kind=kind, digest_at=at(3600))
    box = outbox(store, deliverer, now, channel("phone"))
    assert run(box).sent == 0
    now[0] = at(3600)
    report = run(box)
    count = len(entries)
    title = f"watcher digest: {count} alert" + ("s" if count != 1 else "")
    assert deliverer.calls == [("digest", "phone", (title, entries))]
    assert report.sent == count and unsent(store) == []


def test_a_failed_digest_is_retried_whole(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "A", "B", digest_at=at(60))
    deliverer.failing["phone"] = "HTTP 502"
    box = outbox(store, deliverer, now, channel("phone"))
    now[0] = at(60)
    assert run(box).failed == 2
    del deliverer.failing["phone"]
    now[0] = at(90)
    assert run(box).sent == 2
    assert deliverer.calls == [
        ("digest", "phone", ("watcher digest: 2 alerts", ["A", "B"])),
        ("digest", "phone", ("watcher digest: 2 alerts", ["A", "B"])),
    ]


# -- channels the config no longer has -----------------------------------------------------


@pytest.mark.parametrize(
    ("to", "configured", "held", "sent_to"),
    [
        (("pager",), ("phone",), 1, []),
        (("pager", "phone"), ("phone",), 1, ["phone"]),
        (("pager", "old"), (), 2, []),
        (("stdout",), (), 0, ["stdout"]),  # the built-in channel is always there
        (("phone",), ("phone",), 0, ["phone"]),
    ],
)
def test_rows_for_a_channel_not_configured_are_held_not_sent(
    store: SQLiteStore,
    deliverer: FakeDeliverer,
    now: list[datetime],
    to: tuple[str, ...],
    configured: tuple[str, ...],
    held: int,
    sent_to: list[str],
) -> None:
    queue(store, "Quake hits Hama", to=to)
    box = outbox(store, deliverer, now, *(channel(name) for name in configured))
    report = run(box)
    assert report.orphaned == held
    assert sorted(call[1] for call in deliverer.calls) == sent_to
    now[0] = at(3600)
    assert run(box, retry_now=True).orphaned == 0
    assert sorted(call[1] for call in deliverer.calls) == sent_to
    assert sorted(unsent(store)) == sorted(
        (name, "orphaned") for name in to if name not in {*configured, "stdout"}
    )


def test_hold_orphans_counts_each_row_once(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "A", "B", to=("pager", "phone"))
    box = outbox(store, deliverer, now, channel("phone"))
    assert box.hold_orphans() == 2
    assert box.hold_orphans() == 0
    assert deliverer.calls == []


def test_held_rows_go_out_once_their_channel_is_configured_again(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime]
) -> None:
    queue(store, "Quake hits Hama", to=("pager",))
    assert run(outbox(store, deliverer, now)).orphaned == 1
    report = run(outbox(store, deliverer, now, channel("pager")))
    assert (report.orphaned, report.sent) == (0, 1)
    assert deliverer.calls == [("send", "pager", "Quake hits Hama")]


# -- one run at a time ------------------------------------------------------------------------


@pytest.mark.parametrize("runs", [2, 3])
def test_concurrent_delivery_runs_never_send_a_row_twice(
    store: SQLiteStore, deliverer: FakeDeliverer, now: list[datetime], runs: int
) -> None:
    queue(store, "A", "B", "C", to=("phone", "mail"))
    box = outbox(store, deliverer, now, channel("phone"), channel("mail"))

    async def together() -> list[DeliveryReport]:
        return await asyncio.gather(*(box.deliver_due() for _ in range(runs)))

    reports = asyncio.run(together())
    assert sorted(deliverer.calls) == sorted(
        ("send", ch, title) for ch in ("phone", "mail") for title in "ABC"
    )
    assert sum(report.sent for report in reports) == 6
    assert unsent(store) == []
