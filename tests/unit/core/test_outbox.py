"""The decisions of outbox delivery, from literal rows and times: no store, no network."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.core.models import Alert, Notice, Snippet
from watcher.core.outbox import (
    RetryPolicy,
    as_digest_entry,
    batch,
    digest_title,
    gives_up,
    is_note,
    orphan_reason,
    orphaned_channels,
    update_note,
)
from watcher.core.records import PendingDelivery

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def alert(kind: str = "alert", *, link: str | None = "https://wire.example/a") -> Alert:
    return Alert(
        rule="quake",
        feed="courier",
        title="Quake hits Hama",
        link=link,
        published=None,
        snippet=Snippet("Quake hits Hama"),
        kind=kind,
    )


def row(
    id: int,
    channel: str = "phone",
    *,
    digest: bool = False,
    created_at: datetime = NOW,
    attempts: int = 0,
) -> PendingDelivery:
    return PendingDelivery(
        id=id,
        channel=channel,
        attempts=attempts,
        created_at=created_at,
        digest=digest,
        alert=alert(),
    )


@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (0, timedelta(seconds=30)),
        (1, timedelta(seconds=60)),
        (2, timedelta(seconds=120)),
        (6, timedelta(seconds=1920)),
        (7, timedelta(hours=1)),  # 3840 s, capped
        (40, timedelta(hours=1)),  # never overflows
    ],
)
def test_retry_delay_doubles_per_attempt_up_to_the_cap(attempts: int, delay: timedelta) -> None:
    assert RetryPolicy().next_attempt(NOW, attempts) == NOW + delay


@pytest.mark.parametrize(
    ("first", "cap", "attempts", "delay"),
    [
        (timedelta(seconds=1), timedelta(seconds=10), 0, timedelta(seconds=1)),
        (timedelta(seconds=1), timedelta(seconds=10), 3, timedelta(seconds=8)),
        (timedelta(seconds=1), timedelta(seconds=10), 4, timedelta(seconds=10)),
        (timedelta(minutes=5), timedelta(minutes=1), 0, timedelta(minutes=1)),
        # Under a cap far off, the delay stops doubling after 16 doublings, so that
        # thousands of attempts never overflow a timedelta.
        (timedelta(seconds=1), timedelta(days=365), 16, timedelta(seconds=65536)),
        (timedelta(seconds=1), timedelta(days=365), 17, timedelta(seconds=65536)),
        (timedelta(seconds=1), timedelta(days=365), 10_000, timedelta(seconds=65536)),
    ],
)
def test_a_retry_policy_of_ones_own(
    first: timedelta, cap: timedelta, attempts: int, delay: timedelta
) -> None:
    policy = RetryPolicy(first_delay=first, max_delay=cap)
    assert policy.next_attempt(NOW, attempts) == NOW + delay


@pytest.mark.parametrize(
    ("rows", "single", "digests"),
    [
        ([], [], {}),
        ([row(1), row(2, "mail")], [1, 2], {}),
        (
            [row(1, digest=True), row(2), row(3, "mail", digest=True), row(4, digest=True)],
            [2],
            {"phone": [1, 4], "mail": [3]},
        ),
        ([row(5, "mail", digest=True)], [], {"mail": [5]}),
    ],
)
def test_batch_sends_singles_at_once_and_gathers_digest_rows_per_channel(
    rows: list[PendingDelivery], single: list[int], digests: dict[str, list[int]]
) -> None:
    found = batch(rows)
    assert [p.id for p in found.single] == single
    assert {ch: [p.id for p in group] for ch, group in found.digests.items()} == digests


@pytest.mark.parametrize(
    ("ages", "waited", "expected"),
    [
        ([timedelta(0)], timedelta(days=3) - timedelta(seconds=1), False),
        ([timedelta(0)], timedelta(days=3), True),  # exactly give_up_after
        ([timedelta(0)], timedelta(days=4), True),
        # A digest is given up by its oldest row.
        ([timedelta(hours=5), timedelta(0)], timedelta(days=3) - timedelta(hours=5), True),
        ([timedelta(hours=5), timedelta(0)], timedelta(days=3) - timedelta(hours=6), False),
    ],
)
def test_a_message_is_given_up_once_its_oldest_row_has_waited_give_up_after(
    ages: list[timedelta], waited: timedelta, expected: bool
) -> None:
    group = [row(n, created_at=NOW - age) for n, age in enumerate(ages)]
    assert gives_up(group, NOW + waited, timedelta(days=3)) is expected


@pytest.mark.parametrize(
    ("waiting", "configured", "orphans"),
    [
        (["phone", "stdout"], ["phone"], []),
        (["stdout"], [], []),  # the built-in channel is never an orphan
        (["pager", "phone", "old"], ["phone"], ["old", "pager"]),
        (["old", "old"], [], ["old"]),
        ([], ["phone"], []),
    ],
)
def test_orphaned_channels_are_those_neither_configured_nor_stdout(
    waiting: list[str], configured: list[str], orphans: list[str]
) -> None:
    assert orphaned_channels(waiting, configured) == orphans


def test_the_orphan_reason_tells_the_user_what_to_do() -> None:
    reason = orphan_reason("pager")
    assert "'pager'" in reason
    assert "watcher outbox retry --to CHANNEL" in reason
    assert "watcher outbox drop" in reason


@pytest.mark.parametrize(
    ("kind", "link", "note"),
    [
        (
            "update",
            "https://wire.example/a",
            Notice("quake: also reported by courier", "Quake hits Hama\nhttps://wire.example/a"),
        ),
        (
            "edit",
            "https://wire.example/a",
            Notice("quake: updated by courier", "Quake hits Hama\nhttps://wire.example/a"),
        ),
        ("update", None, Notice("quake: also reported by courier", "Quake hits Hama")),
    ],
)
def test_update_note_labels_another_outlet_or_an_edit(
    kind: str, link: str | None, note: Notice
) -> None:
    assert update_note(alert(kind, link=link)) == note


@pytest.mark.parametrize(
    ("kind", "title"),
    [
        ("alert", "Quake hits Hama"),
        ("update", "also reported by courier: Quake hits Hama"),
        ("edit", "updated by courier: Quake hits Hama"),
    ],
)
def test_a_digest_entry_labels_updates_and_edits(kind: str, title: str) -> None:
    entry = as_digest_entry(alert(kind))
    assert entry.title == title
    assert (entry.rule, entry.feed, entry.link, entry.kind) == (
        "quake",
        "courier",
        "https://wire.example/a",
        kind,
    )


@pytest.mark.parametrize(("kind", "note"), [("alert", False), ("update", True), ("edit", True)])
def test_updates_and_edits_are_notes(kind: str, note: bool) -> None:
    assert is_note(alert(kind)) is note


@pytest.mark.parametrize(
    ("count", "title"),
    [
        (0, "watcher digest: 0 alerts"),
        (1, "watcher digest: 1 alert"),
        (2, "watcher digest: 2 alerts"),
    ],
)
def test_digest_title_counts_alerts(count: int, title: str) -> None:
    assert digest_title(count) == title
