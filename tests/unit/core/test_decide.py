"""The decisions of a poll, from literal facts: no HTTP, no SQLite, no clock.

Each test states what one poll knows (the feed, its stored state, the analysed
stories, what the store said about keys and earlier alerts) and checks what
watcher decides: which stories are new, which rules alert or send an update,
when the feed is polled next, and which config edits it follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from watcher.core.analyse import Analysed
from watcher.core.cluster import ClusterIndex, fingerprint
from watcher.core.decide import (
    Edit,
    Fetched,
    HistoryQuestion,
    Placement,
    PollFacts,
    PollPolicy,
    alert_key,
    candidate_keys,
    corroboration,
    decide,
    edit_key,
    edits,
    feed_changes,
    history_question,
    is_held,
    is_unchanged,
    mute_keys,
    new_items,
    place,
    update_key,
)
from watcher.core.models import ChannelSpec, FeedSpec, ParsedFeed, RuleSpec, Snippet, Story
from watcher.core.records import (
    AlertHistory,
    EditedStory,
    FeedMoved,
    FeedRenamed,
    FeedState,
    KnownStory,
    Mute,
    PollRecord,
    QueuedAlert,
    QueuedNotice,
    Report,
    Route,
    StoredFeed,
    StoryRecord,
)

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
FEED = FeedSpec("wire", "https://wire.example/rss", timedelta(minutes=10), timedelta(days=2))
QUAKE = RuleSpec("quake", query="quake")
QUAKE_UPDATES = RuleSpec("quake", query="quake", updates=True)
POLICY = PollPolicy(rules={"quake": QUAKE}, rng=lambda: 0.5)
OK = Fetched(status=200, elapsed=0.1, etag='"v2"', body_hash="b2")
POLLED = FeedState("wire", FEED.url, first_polled_at=NOW - timedelta(days=1))


def item(
    title: str,
    link: str,
    *,
    feed: str = "wire",
    text_hash: str = "t1",
    hits: tuple[str, ...] = ("quake",),
    published: datetime | None = NOW,
) -> Analysed:
    story = Story(feed=feed, guid=None, link=link, title=title, published=published)
    print_ = fingerprint(title, "")
    return Analysed(
        story=story,
        keys=(f"link:{link}",),
        fingerprint=print_,
        fingerprint_json=print_.to_json(),
        text_hash=text_hash,
        hits=tuple((rule, Snippet(title)) for rule in hits),
    )


def ids(start: int = 100) -> Iterator[int]:
    return count(start)


def facts_for(
    *items: Analysed,
    state: FeedState | None = POLLED,
    known: dict[str, KnownStory] | None = None,
    cluster_ids: tuple[int, ...] | None = None,
    joined: frozenset[int] = frozenset(),
    history: AlertHistory | None = None,
    policy: PollPolicy = POLICY,
) -> PollFacts:
    """The facts of a poll that read ``items``, as the sequencer assembles them."""
    known = known or {}
    fresh = new_items(items, known)
    if cluster_ids is None:
        cluster_ids = tuple(range(1, len(fresh) + 1))
    return PollFacts(
        FEED,
        state,
        OK,
        NOW,
        parsed=ParsedFeed("Wire", tuple(i.story for i in items)),
        analysed=items,
        fresh=tuple(fresh),
        placement=Placement(cluster_ids, joined),
        edits=tuple(edits(items, known)),
        history=history or AlertHistory(),
    )


# -- new stories and their alerts -----------------------------------------------------------


def test_a_new_matching_story_is_stored_and_alerts_once_per_channel_route() -> None:
    policy = PollPolicy(rules={"quake": RuleSpec("quake", notify=("phone", "mail"))})
    decision = decide(facts_for(item("Quake hits Chile", "https://a/1")), policy)
    (stored,) = decision.new_stories
    assert stored.cluster_id == 1 and stored.keys == ("link:https://a/1",)
    (alert,) = decision.alerts
    assert (alert.rule, alert.kind, alert.story_index) == ("quake", "alert", 0)
    assert alert.once_key == alert_key(1, "quake") == "alert:1:quake"
    assert alert.routes == (Route("phone"), Route("mail"))
    assert decision.listed_keys == ("link:https://a/1",)


def test_a_known_story_is_neither_stored_nor_alerted_again() -> None:
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=1, text_hash="t1")}
    decision = decide(facts_for(item("Quake hits Chile", "https://a/1"), known=known), POLICY)
    assert decision.new_stories == () and decision.alerts == ()
    assert decision.listed_keys == ("link:https://a/1",)  # still listed: remembered longer


def test_the_same_story_twice_in_one_feed_is_one_story() -> None:
    twice = (item("Quake hits Chile", "https://a/1"), item("Quake hits Chile!", "https://a/1"))
    decision = decide(facts_for(*twice), POLICY)
    assert len(decision.new_stories) == 1 and len(decision.alerts) == 1


def test_a_story_without_a_matching_rule_is_stored_without_alert() -> None:
    decision = decide(facts_for(item("Markets calm", "https://a/2", hits=())), POLICY)
    assert len(decision.new_stories) == 1 and decision.alerts == ()


def test_a_hit_of_a_rule_since_removed_does_not_alert() -> None:
    # Workers may still hold the old rules while a reload replaces them.
    decision = decide(facts_for(item("Quake", "https://a/1", hits=("gone",))), POLICY)
    assert decision.alerts == ()


@pytest.mark.parametrize(
    ("state", "age", "alerts"),
    [
        (None, timedelta(days=5), 0),  # first poll: an old story is remembered, not alerted
        (None, timedelta(hours=1), 1),  # first poll: a recent one alerts
        (POLLED, timedelta(days=5), 1),  # later polls: any new story alerts
        (FeedState("wire", FEED.url), timedelta(days=5), 0),  # moved feed: first poll again
    ],
)
def test_old_stories_on_a_feeds_first_poll_do_not_flood(
    state: FeedState | None, age: timedelta, alerts: int
) -> None:
    story = item("Quake hits Chile", "https://a/1", published=NOW - age)
    decision = decide(facts_for(story, state=state), POLICY)
    assert len(decision.new_stories) == 1
    assert len(decision.alerts) == alerts


def test_an_undated_story_counts_as_recent_on_a_first_poll() -> None:
    decision = decide(facts_for(item("Quake", "https://a/1", published=None), state=None), POLICY)
    assert len(decision.alerts) == 1


# -- one alert per event --------------------------------------------------------------------


def test_a_copy_joining_an_alerted_cluster_does_not_alert_again() -> None:
    copy = item("Quake hits Chile", "https://b/1", feed="other")
    history = AlertHistory(taken=frozenset({alert_key(5, "quake")}))
    decision = decide(
        facts_for(copy, cluster_ids=(5,), joined=frozenset({5}), history=history), POLICY
    )
    assert len(decision.new_stories) == 1 and decision.new_stories[0].cluster_id == 5
    assert decision.alerts == ()


def test_with_updates_a_later_outlet_sends_one_short_update() -> None:
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    copy = item("Quake hits Chile", "https://b/1", feed="other")
    history = AlertHistory(
        taken=frozenset({alert_key(5, "quake")}), told={(5, "quake"): frozenset({"wire"})}
    )
    facts = facts_for(copy, cluster_ids=(5,), joined=frozenset({5}), history=history)
    (alert,) = decide(facts, policy).alerts
    assert (alert.kind, alert.once_key) == ("update", update_key(5, "quake", "other"))


@pytest.mark.parametrize(
    ("taken", "told"),
    [
        ({alert_key(5, "quake"), update_key(5, "quake", "other")}, frozenset()),  # sent before
        ({alert_key(5, "quake")}, frozenset({"other"})),  # this outlet alerted the event
    ],
)
def test_an_outlet_already_told_sends_no_second_update(
    taken: set[str], told: frozenset[str]
) -> None:
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    copy = item("Quake hits Chile", "https://b/2", feed="other")
    history = AlertHistory(taken=frozenset(taken), told={(5, "quake"): told})
    facts = facts_for(copy, cluster_ids=(5,), joined=frozenset({5}), history=history)
    assert decide(facts, policy).alerts == ()


def test_two_copies_in_one_poll_alert_once() -> None:
    first = item("Quake hits Chile", "https://a/1")
    second = item("Quake hits Chile", "https://a/2")
    decision = decide(facts_for(first, second, cluster_ids=(9, 9)), POLICY)
    assert len(decision.new_stories) == 2
    assert [a.once_key for a in decision.alerts] == ["alert:9:quake"]


def test_a_digest_rule_routes_wait_for_the_digest_time() -> None:
    policy = PollPolicy(
        rules={"quake": RuleSpec("quake", notify=("mail", "phone"))},
        channels={"mail": ChannelSpec("mail", ("mailto://x",), digest="hourly")},
    )
    (alert,) = decide(facts_for(item("Quake", "https://a/1")), policy).alerts
    assert alert.routes == (Route("mail", NOW + timedelta(hours=1)), Route("phone"))


# -- edits in place -------------------------------------------------------------------------


def test_an_edit_in_place_updates_the_story_and_tells_only_rules_with_updates() -> None:
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=5, text_hash="old")}
    edited = item("Quake toll rises", "https://a/1", text_hash="new")
    history = AlertHistory(taken=frozenset({alert_key(5, "quake")}))
    plain = decide(facts_for(edited, known=known, history=history), POLICY)
    assert [e.story_id for e in plain.edited] == [7] and plain.alerts == ()
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    (alert,) = decide(facts_for(edited, known=known, history=history), policy).alerts
    assert (alert.kind, alert.story_id, alert.story_index) == ("edit", 7, None)
    assert alert.once_key == edit_key(7, "quake", "new")


def test_an_edit_of_a_story_that_never_alerted_sends_nothing() -> None:
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=5, text_hash="old")}
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    facts = facts_for(item("Quake", "https://a/1", text_hash="new"), known=known)
    decision = decide(facts, policy)
    assert len(decision.edited) == 1 and decision.alerts == ()


@pytest.mark.parametrize(
    ("stored_hash", "today", "edited"),
    [
        ("t1", "t1", False),  # same text as stored
        ("t1", "t2", True),  # the feed now gives other text
        (None, "t2", False),  # pruned story: only its identity is left, nothing to compare
    ],
)
def test_an_edit_is_a_known_story_whose_text_changed(
    stored_hash: str | None, today: str, edited: bool
) -> None:
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=5, text_hash=stored_hash)}
    found = edits([item("Quake", "https://a/1", text_hash=today)], known)
    assert [e.stored.story_id for e in found] == ([7] if edited else [])


# -- what the store is asked ----------------------------------------------------------------


def test_only_clusters_of_earlier_polls_are_asked_about() -> None:
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    fresh = [item("Quake A", "https://a/1"), item("Quake B", "https://b/1", feed="other")]
    placement = Placement((5, 100), frozenset({5}))
    question = history_question(fresh, placement, [], policy)
    assert question.once_keys == (alert_key(5, "quake"), update_key(5, "quake", "wire"))
    assert question.told == ((5, "quake"),)


def test_edits_ask_about_their_cluster_for_rules_with_updates_only() -> None:
    known = KnownStory(story_id=7, cluster_id=5, text_hash="old")
    edit = Edit(known, item("Quake", "https://a/1", text_hash="new"))
    assert history_question([], Placement((), frozenset()), [edit], POLICY).once_keys == ()
    policy = PollPolicy(rules={"quake": QUAKE_UPDATES})
    assert history_question([], Placement((), frozenset()), [edit], policy).once_keys == (
        alert_key(5, "quake"),
    )


def test_candidate_keys_are_every_key_listed() -> None:
    items = [item("A", "https://a/1"), item("B", "https://a/2")]
    assert candidate_keys(items) == ["link:https://a/1", "link:https://a/2"]


# -- placing stories in clusters ------------------------------------------------------------


def test_place_joins_the_window_and_stories_of_the_same_batch() -> None:
    index = ClusterIndex()
    earlier = fingerprint("Strong earthquake strikes central Chile coast", "")
    index.add(5, earlier, NOW - timedelta(hours=1))
    batch = [
        item("Strong earthquake strikes central Chile coast", "https://b/1"),
        item("Parliament passes budget after long night debate", "https://b/2"),
        item("Parliament passes budget after long night debate", "https://c/2"),
    ]
    placement = place(batch, index, ids(), NOW)
    assert placement.cluster_ids == (5, 100, 100)
    assert placement.joined == frozenset({5})  # cluster 100 is this batch's own
    assert len(index) == 4


def test_without_clustering_every_story_is_its_own_event() -> None:
    batch = [item("Same headline here today", "https://b/1")] * 2
    assert place(batch, None, ids(), NOW) == Placement((100, 101), frozenset())


# -- the feed's state and next poll ---------------------------------------------------------


def test_a_success_records_validators_and_the_next_poll_at_the_interval() -> None:
    decision = decide(facts_for(item("Quake", "https://a/1")), POLICY)
    record = decision.record
    assert (record.status, record.etag, record.body_hash, record.items) == (200, '"v2"', "b2", 1)
    assert record.next_poll == NOW + FEED.interval and record.hold_until is None
    assert record.error is None and record.notice_sent is None


def test_a_failure_backs_off_and_holds_the_feed() -> None:
    state = FeedState("wire", FEED.url, consecutive_failures=2, failing_since=NOW)
    facts = PollFacts(FEED, state, Fetched(status=503), NOW, error="HTTP 503")
    decision = decide(facts, PollPolicy(rules={}, rng=lambda: 0.0))
    # Third failure in a row: interval * 2**2, no jitter with this rng.
    assert decision.record.next_poll == NOW + 4 * FEED.interval
    assert decision.record.hold_until == decision.record.next_poll
    assert decision.record.body_hash is None and decision.new_stories == ()


def test_a_retry_after_beyond_the_interval_holds_the_feed_until_then() -> None:
    later = NOW + timedelta(hours=2)
    facts = PollFacts(FEED, POLLED, Fetched(status=200, retry_after=later), NOW)
    assert decide(facts, POLICY).record.hold_until == later


def test_a_feed_failing_past_feed_alert_after_notifies_once_then_on_recovery() -> None:
    policy = PollPolicy(rules={}, feed_alert_after=timedelta(hours=1), health_notify=("ops",))
    since = NOW - timedelta(hours=2)
    failing = FeedState("wire", FEED.url, consecutive_failures=5, failing_since=since)
    facts = PollFacts(FEED, failing, Fetched(status=None), NOW, error="timed out")
    first = decide(facts, policy)
    assert [n.channel for n in first.notices] == ["ops"] and first.record.notice_sent is True
    told = FeedState("wire", FEED.url, consecutive_failures=6, failing_since=since,
                     notice_sent=True)  # fmt: skip
    assert decide(PollFacts(FEED, told, Fetched(status=None), NOW, error="x"), policy).notices == ()
    back = decide(PollFacts(FEED, told, OK, NOW, not_modified=True), policy)
    assert "works again" in back.notices[0].title and back.record.notice_sent is False


def test_autodiscovery_makes_the_advertised_feed_the_url_polled() -> None:
    facts = PollFacts(FEED, POLLED, OK, NOW, discovered="https://wire.example/feed.xml")
    assert decide(facts, POLICY).record.effective_url == "https://wire.example/feed.xml"


@pytest.mark.parametrize(
    ("hold_until", "force", "held"),
    [
        (NOW + timedelta(minutes=1), False, True),
        (NOW + timedelta(minutes=1), True, False),
        (NOW - timedelta(minutes=1), False, False),
        (None, False, False),
    ],
)
def test_a_held_feed_waits_unless_forced(
    hold_until: datetime | None, force: bool, held: bool
) -> None:
    state = FeedState("wire", FEED.url, hold_until=hold_until)
    assert is_held(state, NOW, force=force) is held
    assert is_held(None, NOW) is False


@pytest.mark.parametrize(
    ("body_hash", "not_modified", "stored", "unchanged"),
    [
        ("b1", False, "b1", True),
        ("b2", False, "b1", False),
        ("b1", True, "b0", True),
        ("b1", False, None, False),
    ],
)
def test_a_304_or_the_same_body_is_not_read_again(
    body_hash: str, not_modified: bool, stored: str | None, unchanged: bool
) -> None:
    state = FeedState("wire", FEED.url, body_hash=stored)
    assert is_unchanged(Fetched(200, body_hash=body_hash), not_modified, state) is unchanged


# -- config edits ---------------------------------------------------------------------------


def spec(name: str, url: str) -> FeedSpec:
    return FeedSpec(name, url, timedelta(minutes=10), timedelta(days=2))


@pytest.mark.parametrize(
    ("configured", "stored", "changes"),
    [
        # nothing changed
        ([spec("a", "https://a/")], [StoredFeed("a", "https://a/")], []),
        # a new feed
        ([spec("a", "https://a/")], [], []),
        # the outlet moved its feed
        (
            [spec("a", "https://a/new")],
            [StoredFeed("a", "https://a/old")],
            [FeedMoved("a", "https://a/old", "https://a/new")],
        ),
        # renamed, same URL: history follows
        ([spec("b", "https://a/")], [StoredFeed("a", "https://a/")], [FeedRenamed("a", "b")]),
        # removed: left alone (its stories stay known)
        ([], [StoredFeed("a", "https://a/")], []),
        # a new name beside the old one still configured: a second feed, not a rename
        (
            [spec("a", "https://a/"), spec("b", "https://a/")],
            [StoredFeed("a", "https://a/")],
            [],
        ),
    ],
)
def test_feed_changes_follow_what_the_user_edited(
    configured: list[FeedSpec], stored: list[StoredFeed], changes: list[object]
) -> None:
    assert feed_changes(configured, stored) == changes


@pytest.mark.parametrize(
    ("mutes", "muted"),
    [
        (frozenset(), False),
        (frozenset({("rule", "quake")}), True),
        (frozenset({("cluster", "1")}), True),
        (frozenset({("rule", "other"), ("cluster", "2")}), False),
    ],
)
def test_a_muted_rule_or_event_records_its_alert_as_muted(
    mutes: frozenset[tuple[str, str]], muted: bool
) -> None:
    facts = replace(facts_for(item("Quake hits Chile", "https://a/1")), mutes=mutes)
    (alert,) = decide(facts, POLICY).alerts
    assert alert.muted is muted and alert.once_key == "alert:1:quake"


def test_quiet_hours_hold_a_route_until_they_end_unless_the_rule_is_urgent() -> None:
    quiet = {"phone": ChannelSpec("phone", ("tgram://x",), quiet="11:00-13:00")}
    calm = PollPolicy(rules={"quake": RuleSpec("quake", notify=("phone",))}, channels=quiet)
    urgent = PollPolicy(
        rules={"quake": RuleSpec("quake", notify=("phone",), urgent=True)}, channels=quiet
    )
    (held,) = decide(facts_for(item("Quake", "https://a/1")), calm).alerts
    assert held.routes == (Route("phone", NOW.replace(hour=13)),)  # NOW is 12:00 UTC
    (through,) = decide(facts_for(item("Quake", "https://a/1")), urgent).alerts
    assert through.routes == (Route("phone"),)


# -- corroborated ("breaking") alerts --------------------------------------------------------

CONFIRMED = RuleSpec("quake", query="quake", min_sources=3, within=timedelta(hours=2))
OUTLETS = {"bbc-world": "bbc.co.uk", "bbc-me": "bbc.co.uk", "reuters": "reuters.com",
           "ap": "apnews.com", "wire": "wire.example"}  # fmt: skip
CORROBORATING = PollPolicy(rules={"quake": CONFIRMED}, outlets=OUTLETS)


@pytest.mark.parametrize(
    ("reports", "counted"),
    [
        ([("bbc", NOW), ("reuters", NOW)], None),  # two outlets: not yet
        ([("bbc", NOW), ("bbc", NOW), ("reuters", NOW)], None),  # one outlet twice
        (
            [("ap", NOW + timedelta(minutes=30)), ("bbc", NOW), ("reuters", NOW)],
            (("bbc", NOW), ("reuters", NOW), ("ap", NOW + timedelta(minutes=30))),
        ),
        ([("bbc", NOW), ("reuters", NOW), ("ap", NOW + timedelta(hours=3))], None),  # too late
    ],
)
def test_corroboration_counts_distinct_outlets_within_the_period(
    reports: list[tuple[str, datetime]], counted: tuple[tuple[str, datetime], ...] | None
) -> None:
    assert corroboration(reports, 3, timedelta(hours=2)) == counted


def stored_reports(*feeds: tuple[int, str, datetime]) -> tuple[Report, ...]:
    return tuple(Report(story_id, feed, at) for story_id, feed, at in feeds)


def test_the_third_outlet_alerts_once_linking_the_first_report() -> None:
    third = item("Quake hits Chile", "https://ap/1", feed="ap", hits=())  # no hit itself
    history = AlertHistory(
        reports={5: stored_reports((1, "bbc-world", NOW - timedelta(hours=1)),
                                   (2, "reuters", NOW - timedelta(minutes=30)))},
        hits={5: frozenset({"quake"})},
    )  # fmt: skip
    facts = facts_for(third, cluster_ids=(5,), joined=frozenset({5}), history=history)
    (alert,) = decide(facts, CORROBORATING).alerts
    assert (alert.story_id, alert.story_index, alert.once_key) == (1, None, "alert:5:quake")
    assert [outlet for outlet, _ in alert.reported_by] == ["bbc.co.uk", "reuters.com", "apnews.com"]
    assert alert.reported_by[0][1] == NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("feeds", "hit_before", "taken", "alerts"),
    [
        (("bbc-world", "bbc-me"), True, False, 0),  # two feeds of one outlet count once
        (("bbc-world", "reuters"), False, False, 0),  # no story of the event matched
        (("bbc-world", "reuters"), True, True, 0),  # alerted already: never again
        (("bbc-world", "reuters"), True, False, 1),
    ],
)
def test_a_corroborated_rule_alerts_only_for_a_matching_event_reaching_n_outlets(
    feeds: tuple[str, str], hit_before: bool, taken: bool, alerts: int
) -> None:
    third = item("Quake hits Chile", "https://ap/1", feed="ap", hits=())
    history = AlertHistory(
        taken=frozenset({"alert:5:quake"}) if taken else frozenset(),
        reports={5: stored_reports((1, feeds[0], NOW), (2, feeds[1], NOW))},
        hits={5: frozenset({"quake"})} if hit_before else {},
    )
    facts = facts_for(third, cluster_ids=(5,), joined=frozenset({5}), history=history)
    assert len(decide(facts, CORROBORATING).alerts) == alerts


def test_a_single_report_of_a_corroborated_rule_is_remembered_not_alerted() -> None:
    decision = decide(facts_for(item("Quake hits Chile", "https://a/1")), CORROBORATING)
    assert decision.alerts == ()
    assert decision.new_stories[0].hits == ("quake",)  # the store keeps it for the event


def test_three_outlets_in_one_poll_alert_at_once_on_the_first_new_story() -> None:
    batch = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed)
        for feed in ("wire", "reuters", "ap")
    ]
    (alert,) = decide(facts_for(*batch, cluster_ids=(9, 9, 9)), CORROBORATING).alerts
    assert (alert.story_index, alert.story_id) == (0, None)


def test_only_joined_clusters_are_asked_for_their_reports_when_a_rule_is_corroborated() -> None:
    fresh = [item("Quake A", "https://a/1"), item("Quake B", "https://b/1")]
    placement = Placement((5, 100), frozenset({5}))
    question = history_question(fresh, placement, [], CORROBORATING)
    assert question.reports == (5,) and "alert:5:quake" in question.once_keys
    assert history_question(fresh, placement, [], POLICY).reports == ()


# -- everything a decision holds, field by field -----------------------------------------


def test_a_new_story_is_stored_with_its_keys_fingerprint_hash_and_cluster() -> None:
    story = item("Quake hits Chile", "https://a/1", text_hash="h1")
    decision = decide(facts_for(story, cluster_ids=(4,)), CORROBORATING)
    assert decision.new_stories == (
        StoryRecord(
            story.story, ("link:https://a/1",), 4, story.fingerprint_json, "h1", ("quake",)
        ),
    )


def test_an_alert_holds_the_story_rule_routes_snippet_and_once_key() -> None:
    policy = PollPolicy(rules={"quake": RuleSpec("quake", notify=("phone",))})
    decision = decide(facts_for(item("Quake hits Chile", "https://a/1"), cluster_ids=(4,)), policy)
    assert decision.alerts == (
        QueuedAlert(
            story_index=0,
            rule="quake",
            routes=(Route("phone"),),
            snippet=Snippet("Quake hits Chile"),
            once_key="alert:4:quake",
        ),
    )


FLOOD = RuleSpec("flood", query="flood")


@pytest.mark.parametrize(
    ("hits", "rules", "taken", "alerted"),
    [
        (("gone", "quake"), {"quake": QUAKE}, set(), ["quake"]),  # a removed rule first
        (("quake", "flood"), {"quake": CONFIRMED, "flood": FLOOD}, set(), ["flood"]),
        (("quake", "flood"), {"quake": QUAKE, "flood": FLOOD}, {"alert:5:quake"}, ["flood"]),
    ],
    ids=["removed-rule-first", "corroborated-rule-first", "alerted-rule-first"],
)
def test_each_rule_a_story_hits_is_judged_on_its_own(
    hits: tuple[str, ...], rules: dict[str, RuleSpec], taken: set[str], alerted: list[str]
) -> None:
    history = AlertHistory(taken=frozenset(taken))
    copy = item("Quake and flood in Chile", "https://b/1", hits=hits)
    facts = facts_for(copy, cluster_ids=(5,), joined=frozenset({5}), history=history)
    alerts = decide(facts, PollPolicy(rules=rules)).alerts
    assert [a.rule for a in alerts] == alerted


def test_with_updates_an_outlet_already_updated_for_one_rule_still_hears_of_another() -> None:
    rules = {"quake": QUAKE_UPDATES, "flood": RuleSpec("flood", query="flood", updates=True)}
    history = AlertHistory(
        taken=frozenset(
            {alert_key(5, "quake"), update_key(5, "quake", "other"), alert_key(5, "flood")}
        )
    )
    copy = item("Quake and flood in Chile", "https://b/1", feed="other", hits=("quake", "flood"))
    facts = facts_for(copy, cluster_ids=(5,), joined=frozenset({5}), history=history)
    (alert,) = decide(facts, PollPolicy(rules=rules)).alerts
    assert (alert.rule, alert.kind, alert.once_key) == ("flood", "update", "update:5:flood:other")


def test_on_a_first_poll_an_old_story_does_not_hide_a_recent_one_after_it() -> None:
    old = item("Quake hits Chile", "https://a/1", published=NOW - timedelta(days=5))
    recent = item("Quake hits Peru", "https://a/2")
    decision = decide(facts_for(old, recent, state=None), POLICY)
    assert [a.story_index for a in decision.alerts] == [1]


def test_an_edit_is_stored_and_each_rule_with_updates_that_alerted_hears_of_it() -> None:
    rules = {"flood": RuleSpec("flood", query="flood", updates=True), "quake": QUAKE_UPDATES}
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=5, text_hash="old")}
    edited = item("Quake toll rises", "https://a/1", text_hash="new")
    history = AlertHistory(taken=frozenset({alert_key(5, "quake")}))  # flood never alerted
    facts = replace(
        facts_for(edited, known=known, history=history), mutes=frozenset({("cluster", "5")})
    )
    decision = decide(facts, PollPolicy(rules=rules))
    assert decision.edited == (EditedStory(7, edited.story, "new"),)
    assert decision.alerts == (
        QueuedAlert(
            story_index=None,
            story_id=7,
            rule="quake",
            routes=(Route("stdout"),),
            snippet=Snippet(""),
            once_key="edit:7:quake:new",
            kind="edit",
            muted=True,
        ),
    )


@pytest.mark.parametrize(
    ("hold_until", "held"),
    [(NOW, False), (NOW + timedelta(seconds=1), True)],
)
def test_a_hold_ends_at_its_time_and_applies_unless_forced(
    hold_until: datetime, held: bool
) -> None:
    assert is_held(FeedState("wire", FEED.url, hold_until=hold_until), NOW) is held


def test_mutes_are_kept_as_kind_and_target() -> None:
    mutes = [Mute("rule", "quake"), Mute("cluster", "5", until=NOW), Mute("rule", "quake")]
    assert mute_keys(mutes) == frozenset({("rule", "quake"), ("cluster", "5")})
    assert mute_keys([]) == frozenset()


def test_a_similar_story_two_days_later_is_a_new_event_but_the_same_day_it_joins() -> None:
    earlier = fingerprint("Strong earthquake strikes central Chile coast near port city today", "")
    later = item("Strong earthquake strikes central Chile coast near port", "https://b/1")
    for seen, joined in ((NOW - timedelta(hours=2), True), (NOW - timedelta(hours=47), False)):
        index = ClusterIndex()
        index.add(5, earlier, seen)
        placement = place([later], index, ids(), NOW)
        assert (placement.cluster_ids == (5,)) is joined


@pytest.mark.parametrize(
    ("zone", "routes"),
    [
        (UTC, (Route("mail", NOW.replace(hour=13)), Route("phone", NOW.replace(hour=14)))),
        (
            ZoneInfo("Europe/Athens"),  # 14:00 there is 12:00 UTC
            (Route("mail", NOW.replace(hour=13)), Route("phone", NOW.replace(hour=14))),
        ),
    ],
)
def test_digest_times_and_quiet_hours_are_read_in_the_config_s_zone(
    zone: ZoneInfo, routes: tuple[Route, ...]
) -> None:
    local = NOW.astimezone(zone)
    digest_at = (local + timedelta(hours=1)).strftime("%M %H * * *")
    quiet_end = (local + timedelta(hours=2)).strftime("%H:%M")
    quiet_start = (local - timedelta(hours=1)).strftime("%H:%M")
    channels = {
        "mail": ChannelSpec("mail", ("mailto://x",), digest=digest_at),
        "phone": ChannelSpec("phone", ("tgram://x",), quiet=f"{quiet_start}-{quiet_end}"),
    }
    rule = RuleSpec("quake", notify=("mail", "phone"))
    policy = PollPolicy(rules={"quake": rule}, channels=channels, zone=zone)
    assert policy.routes(rule, NOW) == routes


def test_a_digest_channel_outside_its_quiet_hours_waits_only_for_the_digest() -> None:
    channels = {"mail": ChannelSpec("mail", ("mailto://x",), digest="hourly", quiet="01:00-02:00")}
    rule = RuleSpec("quake", notify=("mail",))
    policy = PollPolicy(rules={"quake": rule}, channels=channels)
    assert policy.routes(rule, NOW) == (Route("mail", NOW + timedelta(hours=1)),)


def test_only_joined_clusters_and_rules_with_updates_are_asked_about_per_story() -> None:
    fresh = [item("Quake A", "https://a/1"), item("Quake B", "https://b/1", feed="other")]
    question = history_question(fresh, Placement((100, 5), frozenset({5})), [], POLICY)
    assert question == HistoryQuestion(once_keys=(alert_key(5, "quake"),), told=())


def test_a_corroborated_rule_asks_about_each_joined_event_even_without_a_hit() -> None:
    fresh = [item("Quake A", "https://a/1", hits=())]
    question = history_question(fresh, Placement((5,), frozenset({5})), [], CORROBORATING)
    assert question == HistoryQuestion(once_keys=("alert:5:quake",), told=(), reports=(5,))


def test_a_corroborated_alert_holds_its_first_report_outlets_and_the_matched_words() -> None:
    channels = {"mail": ChannelSpec("mail", ("mailto://x",), digest="hourly")}
    rule = replace(CONFIRMED, notify=("mail",))
    policy = PollPolicy(rules={"quake": rule}, channels=channels, outlets=OUTLETS)
    batch = [
        item("Quake hits Chile", "https://reuters/1", feed="reuters"),
        item("Quake hits Chile hard", "https://ap/1", feed="ap"),
    ]
    history = AlertHistory(reports={5: stored_reports((1, "bbc-world", NOW - timedelta(hours=1)))})
    facts = facts_for(*batch, cluster_ids=(5, 5), joined=frozenset({5}), history=history)
    facts = replace(facts, mutes=frozenset({("cluster", "5")}))
    assert decide(facts, policy).alerts == (
        QueuedAlert(
            story_index=None,
            story_id=1,
            rule="quake",
            routes=(Route("mail", NOW + timedelta(hours=1)),),
            snippet=Snippet("Quake hits Chile"),
            once_key="alert:5:quake",
            muted=True,
            reported_by=(
                ("bbc.co.uk", NOW - timedelta(hours=1)),
                ("reuters.com", NOW),
                ("apnews.com", NOW),
            ),
        ),
    )


def test_a_corroborated_alert_without_a_matching_new_story_has_an_empty_snippet() -> None:
    third = item("Quake hits Chile", "https://ap/1", feed="ap", hits=())
    history = AlertHistory(
        reports={5: stored_reports((1, "bbc-world", NOW), (2, "reuters", NOW))},
        hits={5: frozenset({"quake"})},
    )
    facts = facts_for(third, cluster_ids=(5,), joined=frozenset({5}), history=history)
    (alert,) = decide(facts, CORROBORATING).alerts
    assert (alert.snippet, alert.muted, alert.rule) == (Snippet(""), False, "quake")


@pytest.mark.parametrize(
    ("state", "age", "alerts"),
    [
        (None, timedelta(days=5), 0),  # a feed's first poll of old stories corroborates nothing
        (None, timedelta(hours=1), 1),
        (POLLED, timedelta(days=5), 1),  # later polls: old or not, the event is corroborated
    ],
)
def test_a_first_poll_of_old_stories_corroborates_nothing(
    state: FeedState | None, age: timedelta, alerts: int
) -> None:
    batch = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed, published=NOW - age)
        for feed in ("wire", "reuters", "ap")
    ]
    decision = decide(facts_for(*batch, state=state, cluster_ids=(9, 9, 9)), CORROBORATING)
    assert len(decision.alerts) == alerts


def test_an_old_event_on_a_first_poll_does_not_hide_a_recent_one() -> None:
    old = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed, published=NOW - timedelta(days=5))
        for feed in ("wire", "reuters", "ap")
    ]
    recent = [
        item("Quake hits Peru", f"https://{feed}/2", feed=feed)
        for feed in ("wire", "reuters", "ap")
    ]
    facts = facts_for(*old, *recent, state=None, cluster_ids=(8, 8, 8, 9, 9, 9))
    assert [a.once_key for a in decide(facts, CORROBORATING).alerts] == ["alert:9:quake"]


@pytest.mark.parametrize(
    ("rules", "alerted"),
    [
        # the first rule has no hit in the event: the second is still judged
        ({"flood": replace(CONFIRMED, name="flood"), "quake": CONFIRMED}, ["quake"]),
        # the first rule needs more outlets than reported: the second is still judged
        ({"big": replace(CONFIRMED, name="big", min_sources=5), "quake": CONFIRMED}, ["quake"]),
    ],
)
def test_each_corroborated_rule_is_judged_on_its_own(
    rules: dict[str, RuleSpec], alerted: list[str]
) -> None:
    hits = ("big", "quake") if "big" in rules else ("quake",)
    batch = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed, hits=hits)
        for feed in ("wire", "reuters", "ap")
    ]
    policy = PollPolicy(rules=rules, outlets=OUTLETS)
    alerts = decide(facts_for(*batch, cluster_ids=(9, 9, 9)), policy).alerts
    assert [a.rule for a in alerts] == alerted


@pytest.mark.parametrize(
    ("within", "window", "late", "alerts"),
    [
        (timedelta(hours=2), timedelta(hours=48), timedelta(hours=3), 0),  # the rule's period
        (timedelta(hours=2), timedelta(hours=48), timedelta(hours=2), 1),  # its last moment
        (None, timedelta(hours=4), timedelta(hours=3), 1),  # none: the cluster window
        (None, timedelta(hours=2), timedelta(hours=3), 0),
    ],
)
def test_outlets_count_within_the_rule_s_period_or_else_the_cluster_window(
    within: timedelta | None, window: timedelta, late: timedelta, alerts: int
) -> None:
    rule = replace(CONFIRMED, within=within)
    policy = PollPolicy(rules={"quake": rule}, outlets=OUTLETS, cluster_window=window)
    third = item("Quake hits Chile", "https://ap/1", feed="ap")
    history = AlertHistory(
        reports={5: stored_reports((1, "bbc-world", NOW - late), (2, "reuters", NOW - late))},
    )
    facts = facts_for(third, cluster_ids=(5,), joined=frozenset({5}), history=history)
    assert len(decide(facts, policy).alerts) == alerts


def test_feeds_of_no_known_outlet_each_count_as_their_own_outlet() -> None:
    batch = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed) for feed in ("one", "two", "three")
    ]
    policy = PollPolicy(rules={"quake": CONFIRMED})
    (alert,) = decide(facts_for(*batch, cluster_ids=(9, 9, 9)), policy).alerts
    assert [outlet for outlet, _ in alert.reported_by] == ["one", "two", "three"]


def test_a_successful_poll_records_every_column_of_the_feed_s_row() -> None:
    fetched = Fetched(
        status=200,
        elapsed=0.25,
        etag='"v3"',
        last_modified="Wed, 02 Dec 2026 11:00:00 GMT",
        body_hash="b3",
        permanent_url="https://wire.example/new-rss",
    )
    parsed = ParsedFeed("Wire", (item("Quake", "https://a/1").story,), problem="malformed feed (x)")
    facts = PollFacts(FEED, None, fetched, NOW, parsed=parsed)
    decision = decide(facts, POLICY)
    assert decision.record == PollRecord(
        name="wire",
        url="https://wire.example/rss",
        now=NOW,
        status=200,
        next_poll=NOW + timedelta(minutes=10),
        hold_until=None,
        duration=0.25,
        error=None,
        effective_url="https://wire.example/new-rss",
        etag='"v3"',
        last_modified="Wed, 02 Dec 2026 11:00:00 GMT",
        body_hash="b3",
        items=1,
        problem="malformed feed (x)",
        notice_sent=None,
    )
    assert decision.notices == ()  # a feed's first poll, and it works: nothing to tell


def test_a_failed_poll_records_its_error_and_keeps_no_body_hash() -> None:
    fetched = Fetched(status=503, elapsed=1.5, body_hash="b9")
    decision = decide(PollFacts(FEED, None, fetched, NOW, error="HTTP 503"), POLICY)
    # A first failure waits the interval, stretched by the jitter (rng 0.5: 25 %).
    assert decision.record == PollRecord(
        name="wire",
        url="https://wire.example/rss",
        now=NOW,
        status=503,
        next_poll=NOW + timedelta(minutes=12, seconds=30),
        hold_until=NOW + timedelta(minutes=12, seconds=30),
        duration=1.5,
        error="HTTP 503",
        notice_sent=None,
    )


@pytest.mark.parametrize(
    ("max_age", "cap", "after"),
    [
        (timedelta(minutes=30), timedelta(hours=1), timedelta(minutes=30)),
        (timedelta(hours=5), timedelta(hours=2), timedelta(hours=2)),
        (timedelta(hours=5), timedelta(minutes=90), timedelta(minutes=90)),
    ],
)
def test_a_server_s_max_age_stretches_the_next_poll_up_to_the_cap(
    max_age: timedelta, cap: timedelta, after: timedelta
) -> None:
    policy = PollPolicy(rules={}, cache_max_age_cap=cap)
    facts = PollFacts(FEED, POLLED, Fetched(status=200, max_age=max_age), NOW, not_modified=True)
    assert decide(facts, policy).record.next_poll == NOW + after


def test_backoff_stops_at_its_cap() -> None:
    state = FeedState("wire", FEED.url, consecutive_failures=9, failing_since=NOW)
    policy = PollPolicy(rules={}, backoff_cap=timedelta(minutes=30), rng=lambda: 0.0)
    facts = PollFacts(FEED, state, Fetched(status=503), NOW, error="HTTP 503")
    assert decide(facts, policy).record.next_poll == NOW + timedelta(minutes=30)


def test_health_notices_name_the_feed_and_its_url() -> None:
    policy = PollPolicy(rules={}, feed_alert_after=timedelta(hours=1), health_notify=("ops",))
    since = NOW - timedelta(hours=2)
    failing = FeedState("wire", FEED.url, consecutive_failures=5, failing_since=since)
    facts = PollFacts(FEED, failing, Fetched(status=None), NOW, error="timed out")
    assert decide(facts, policy).notices == (
        QueuedNotice(
            "ops",
            "watcher: feed 'wire' has failed for 2h",
            "The feed 'wire' (https://wire.example/rss) has failed since 2026-12-02 10:00 UTC.\n"
            "Last error: timed out\n"
            "You will be told once more when it works again.",
        ),
    )


def test_a_feed_working_again_with_new_stories_tells_of_its_recovery() -> None:
    policy = PollPolicy(rules={"quake": QUAKE}, health_notify=("ops",))
    told = FeedState("wire", FEED.url, first_polled_at=NOW - timedelta(days=1),
                     consecutive_failures=6, failing_since=NOW, notice_sent=True)  # fmt: skip
    decision = decide(facts_for(item("Quake", "https://a/1"), state=told), policy)
    assert decision.notices == (
        QueuedNotice(
            "ops",
            "watcher: feed 'wire' works again",
            "The feed 'wire' (https://wire.example/rss) was fetched successfully again.",
        ),
    )
    assert decision.record.notice_sent is False and len(decision.alerts) == 1


def test_each_edited_story_is_found_past_pruned_and_unchanged_ones_and_only_once() -> None:
    known = {
        "link:https://a/1": KnownStory(story_id=1, cluster_id=1, text_hash=None),  # pruned
        "link:https://a/2": KnownStory(story_id=2, cluster_id=2, text_hash="t1"),  # unchanged
        "link:https://a/3": KnownStory(story_id=3, cluster_id=3, text_hash="old"),
        "link:https://a/3b": KnownStory(story_id=3, cluster_id=3, text_hash="old"),
    }
    items = [
        item("One", "https://a/1", text_hash="t9"),
        item("Two", "https://a/2", text_hash="t1"),
        item("Three", "https://a/3", text_hash="new"),
        item("Three again", "https://a/3b", text_hash="newer"),  # the same story, listed twice
    ]
    assert [(e.stored.story_id, e.item.story.title) for e in edits(items, known)] == [(3, "Three")]


@pytest.mark.parametrize(
    ("mutes", "muted"),
    [(frozenset({("rule", "quake")}), True), (frozenset({("cluster", "5")}), True),
     (frozenset({("rule", "flood")}), False)],
)  # fmt: skip
def test_an_edit_note_is_muted_with_its_rule_or_event(
    mutes: frozenset[tuple[str, str]], muted: bool
) -> None:
    channels = {"mail": ChannelSpec("mail", ("mailto://x",), digest="hourly")}
    policy = PollPolicy(
        rules={"quake": replace(QUAKE_UPDATES, notify=("mail",))}, channels=channels
    )
    known = {"link:https://a/1": KnownStory(story_id=7, cluster_id=5, text_hash="old")}
    history = AlertHistory(taken=frozenset({alert_key(5, "quake")}))
    facts = facts_for(item("Quake", "https://a/1", text_hash="new"), known=known, history=history)
    (alert,) = decide(replace(facts, mutes=mutes), policy).alerts
    assert alert.muted is muted
    assert alert.routes == (Route("mail", NOW + timedelta(hours=1)),)


@pytest.mark.parametrize(
    ("mutes", "muted"),
    [(frozenset({("rule", "quake")}), True), (frozenset({("rule", "flood")}), False)],
)
def test_a_corroborated_alert_is_muted_with_its_rule(
    mutes: frozenset[tuple[str, str]], muted: bool
) -> None:
    batch = [
        item("Quake hits Chile", f"https://{feed}/1", feed=feed)
        for feed in ("wire", "reuters", "ap")
    ]
    facts = replace(facts_for(*batch, cluster_ids=(9, 9, 9)), mutes=mutes)
    (alert,) = decide(facts, CORROBORATING).alerts
    assert alert.muted is muted
