"""The plain values between a poll's decisions and the store: what they answer when asked."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from watcher.core.dedupe import identity_keys
from watcher.core.models import Story
from watcher.core.records import AlertHistory, Report, StoryRecord

T0 = datetime(2024, 12, 3, 10, 0, tzinfo=UTC)
REPORTS = (Report(11, "wire", T0), Report(12, "courier", T0))

HISTORY = AlertHistory(
    taken=frozenset({"alert:7:quake"}),
    told={(7, "quake"): frozenset({"wire", "courier"}), (8, "quake"): frozenset({"agency"})},
    reports={7: REPORTS, 9: ()},
    hits={7: frozenset({"quake", "flood"}), 8: frozenset()},
)


@pytest.mark.parametrize(
    ("cluster_id", "rule", "told"),
    [
        (7, "quake", frozenset({"wire", "courier"})),
        (8, "quake", frozenset({"agency"})),
        (7, "flood", frozenset()),  # the cluster is known, not for that rule
        (9, "quake", frozenset()),  # the rule is known, not in that cluster
    ],
)
def test_told_by_names_the_feeds_a_rule_already_told_of_in_an_event(
    cluster_id: int, rule: str, told: frozenset[str]
) -> None:
    assert HISTORY.told_by(cluster_id, rule) == told


@pytest.mark.parametrize(
    ("cluster_id", "reports"),
    [(7, REPORTS), (9, ()), (8, ())],
)
def test_reports_of_an_event_are_its_stored_stories_in_order(
    cluster_id: int, reports: tuple[Report, ...]
) -> None:
    assert HISTORY.reports_of(cluster_id) == reports


@pytest.mark.parametrize(
    ("cluster_id", "rule", "hit"),
    [
        (7, "quake", True),
        (7, "flood", True),
        (7, "storm", False),
        (8, "quake", False),
        (9, "quake", False),  # a cluster the store said nothing about
    ],
)
def test_hit_says_whether_an_event_matched_a_corroborated_rule_before(
    cluster_id: int, rule: str, hit: bool
) -> None:
    assert HISTORY.hit(cluster_id, rule) is hit


def test_a_history_the_store_was_not_asked_about_knows_nothing() -> None:
    empty = AlertHistory()
    assert empty.told_by(7, "quake") == frozenset()
    assert empty.reports_of(7) == ()
    assert empty.hit(7, "quake") is False


@pytest.mark.parametrize(
    ("kw", "link"),
    [
        ({"link": "https://X.org/a?utm_source=rss", "guid": "g1"}, "https://x.org/a"),
        ({"link": "https://x.org/a", "guid": "https://x.org/b"}, "https://x.org/a"),
        ({"guid": "https://x.org/b"}, None),  # a permalink GUID is no link
        ({"guid": "g1"}, None),
        ({}, None),
    ],
)
def test_a_story_record_carries_its_link_in_canonical_form(
    kw: dict[str, str], link: str | None
) -> None:
    story = Story(**({"feed": "wire", "guid": None, "link": None, "title": "Quake"} | kw))  # type: ignore[arg-type]
    record = StoryRecord(story, identity_keys(story), cluster_id=1, fingerprint=None, text_hash="h")
    assert record.canonical_link == link
