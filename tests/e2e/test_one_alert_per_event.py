"""One story, one alert: copies across outlets cluster; a real follow-up still alerts."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import Capture, Item, Project, rss
from tests.support.httpserver import HTTPServer

LEAD = (
    "Syrian government forces launched a counterattack against rebel fighters near the "
    "central city of Hama on Tuesday, a war monitor said, as the army sought to retake "
    "villages lost last week."
)
WIRE = Item("Syrian army counterattacks rebels near Hama", "http://wire.example/a1", "w-1",
            summary=LEAD)  # fmt: skip
COPY = Item(
    "Syrian army counterattacks rebels near Hama - Reuters",
    "http://outlet.example/world/syria-hama?utm_source=rss&utm_medium=feed",
    "o-77",
    summary=LEAD[:130] + "...",
)
REWRITE = Item(
    "Assad's forces hit back at insurgents around Hama",
    "http://daily.example/2024/12/03/assad-forces-hama",
    "d-9",
    summary="BEIRUT (AFP) - " + LEAD,
)
FOLLOW_UP = Item(
    "Syria: Hama falls into rebel hands",
    "http://wire.example/a2",
    "w-2",
    summary="Rebel fighters seized control of the city of Hama on Thursday after government "
    "troops withdrew, in the biggest blow to the army in years.",
)
OUTLETS = {"wire": (WIRE,), "outlet": (COPY,), "daily": (REWRITE,)}
RULE = "  - {name: hama, query: Hama AND rebel*, notify: [capture]%s}\n"


def configure(
    project: Project, server: HTTPServer, capture: Capture, feeds: dict[str, tuple[Item, ...]],
    *, extra: str = "", rule_extra: str = "",
) -> None:  # fmt: skip
    listed = ""
    for name, items in feeds.items():
        listed += f"  - {{name: {name}, url: '{server.add(f'/{name}.xml', rss(*items))}'}}\n"
    project.write(
        f"{extra}channels: {{capture: '{capture.url}'}}\nfeeds:\n{listed}"
        f"rules:\n{RULE % rule_extra}"
    )


def test_three_outlets_one_alert_and_the_follow_up_its_own(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, OUTLETS)
    project.run("once")
    assert len(capture.messages()) == 1

    server.add("/wire.xml", rss(FOLLOW_UP, WIRE))
    project.run("once")
    assert capture.count(FOLLOW_UP.title) == 1
    assert len(capture.messages()) == 2


def test_one_pass_and_several_passes_give_the_same_alerts(
    tmp_path: object, server: HTTPServer, capture: Capture
) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    together = Project(root / "together")
    together.root.mkdir()
    configure(together, server, capture, OUTLETS)
    together.run("once")
    one_pass = len(capture.messages())

    apart = Project(root / "apart")
    apart.root.mkdir()
    # The same outlets, discovered one at a time across passes (separate processes' worth
    # of state: each `once` rebuilds its clusters from the database).
    for count in range(1, 4):
        configure(apart, server, capture, dict(list(OUTLETS.items())[:count]))
        apart.run("once")
    assert one_pass == 1
    assert len(capture.messages()) - one_pass == 1


def test_the_alert_names_the_outlets_that_joined_before_it_was_sent(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, OUTLETS)
    server.add(capture.path, b"down", status=503)
    project.run("once")  # all three copies arrive; the channel is down
    server.add(capture.path, b"{}")
    project.run("once")
    _failed, message = capture.messages()  # the attempt while down, then the delivery
    lines = message["message"].splitlines()
    line = next(x for x in lines if x.lower().startswith("also reported by:"))
    named = set(line.split(":", 1)[1].replace(" ", "").split(","))
    assert len(named) == 2 and named < set(OUTLETS)  # the two outlets besides the first


def test_updates_true_sends_one_short_note_per_later_outlet(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, {"wire": (WIRE,)}, rule_extra=", updates: true")
    project.run("once")
    configure(project, server, capture, OUTLETS, rule_extra=", updates: true")
    project.run("once")
    project.run("once")
    titles = [m["title"] for m in capture.messages()]
    assert len(titles) == 3
    assert sum("also reported by outlet" in t for t in titles) == 1
    assert sum("also reported by daily" in t for t in titles) == 1


def test_an_item_edited_in_place_never_realerts_unless_the_rule_wants_updates(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, {"wire": (WIRE,)})
    project.run("once")
    edited = Item("UPDATE 1-" + WIRE.title, WIRE.link, WIRE.guid, summary=LEAD + " Updated.")
    server.add("/wire.xml", rss(edited))
    project.run("once")
    assert len(capture.messages()) == 1

    configure(project, server, capture, {"wire": (WIRE,)}, rule_extra=", updates: true")
    project.run("once")  # back to the first text: an edit too
    project.run("once")
    assert len(capture.messages()) == 2
    assert capture.messages()[1]["title"] == "hama: updated by wire"


def test_cluster_false_alerts_every_copy(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, OUTLETS, extra="cluster: false\n")
    project.run("once")
    assert len(capture.messages()) == 3


def test_a_story_outside_the_window_starts_a_new_cluster(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    old = Item(WIRE.title, "http://wire.example/old", "w-old", summary=LEAD)
    configure(project, server, capture, {"wire": (old,)}, extra="cluster_window: 2s\n")
    project.run("once")
    # Age the first story past the window.
    seen = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    project.sql("UPDATE stories SET seen_at = ?", [seen])
    configure(project, server, capture, {"wire": (old,), "outlet": (COPY,)},
              extra="cluster_window: 2s\n")  # fmt: skip
    project.run("once")
    assert len(capture.messages()) == 2


def test_clusters_command_shows_members_and_their_similarity(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, {**OUTLETS, "more": (FOLLOW_UP,)})
    project.run("once")
    listing = json.loads(project.run("clusters", "--json").stdout)
    (cluster,) = listing  # the follow-up stands alone, so it is not listed
    assert sorted(m["feed"] for m in cluster["members"]) == ["daily", "outlet", "wire"]
    assert all(m["similarity"] >= 0.8 for m in cluster["members"])
    every = json.loads(project.run("clusters", "--all", "--json").stdout)
    assert len(every) == 2
    text = project.run("clusters", env={"COLUMNS": "200"}).stdout
    assert "3 stories" in text and "outlet:" in text


def test_backtest_reports_per_cluster(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, OUTLETS)
    project.run("once")
    rows = json.loads(project.run("backtest", "hama", "--json").stdout)
    (row,) = rows  # one event, whichever outlet was stored first
    assert sorted([row["feed"], *row["also_reported_by"]]) == ["daily", "outlet", "wire"]


def test_explain_shows_why_a_copy_joins_and_a_follow_up_does_not(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, {**OUTLETS, "more": (FOLLOW_UP,)})
    project.run("once")
    joined = project.run("clusters", "--explain", WIRE.link, COPY.link, "--json")
    assert joined.exit_code == 0, joined.stderr
    parts = json.loads(joined.stdout)
    assert parts["same_event"] and parts["same_cluster"] and parts["score"] >= 0.8
    assert {"hama", "rebel", "syria"} <= set(parts["shared_terms"])
    assert parts["threshold"] == 0.8 and parts["time_factor"] == 1.0
    apart = project.run("clusters", "--explain", WIRE.link, FOLLOW_UP.link)
    assert apart.exit_code == 1
    assert "two events" in apart.stdout and "threshold 0.8" in apart.stdout
    missing = project.run("clusters", "--explain", WIRE.link, "http://nowhere.example/x")
    assert missing.exit_code == 2 and "no stored story" in missing.stderr


@pytest.mark.sqlite_only  # a SQLite file of schema version 2
def test_an_upgrade_recomputes_fingerprints_and_nothing_alerts_again(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    configure(project, server, capture, OUTLETS)
    project.run("once")
    with sqlite3.connect(project.database) as db:
        clusters_before = db.execute("SELECT id, cluster_id FROM stories ORDER BY id").fetchall()
        # As a watcher of fingerprint version 1 left it.
        db.execute("UPDATE stories SET fingerprint = replace(fingerprint, '\"v\":2', '\"v\":1')")
        db.execute("DROP TABLE mutes")  # and nothing that later versions added
        db.execute("DROP TABLE hits")
        db.execute("ALTER TABLE story_keys DROP COLUMN feed")
        db.execute("ALTER TABLE feeds DROP COLUMN last_parsed")
        added_by_7 = [("feeds", "polled_by"), ("feeds", "lease_owner"), ("feeds", "lease_until"),
                      ("feeds", "host"), ("deliveries", "claimed_by"),
                      ("deliveries", "claim_until")]  # fmt: skip
        for table, column in added_by_7:
            db.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        db.execute("DROP TABLE instances")
        db.execute("PRAGMA user_version = 2")
    alerts_before = len(capture.messages())
    configure(project, server, capture, {**OUTLETS, "late": (COPY,)})
    assert project.run("once", "--force").exit_code == 0
    with sqlite3.connect(project.database) as db:
        versions = {row[0] for row in db.execute("SELECT fingerprint FROM stories")}
        clusters_after = db.execute("SELECT id, cluster_id FROM stories ORDER BY id").fetchall()
    assert all('"v":2' in v for v in versions)
    assert clusters_after[: len(clusters_before)] == clusters_before
    assert len(capture.messages()) == alerts_before == 1
