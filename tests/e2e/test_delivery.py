"""Delivery through real services on loopback: SMTP, a Telegram Bot API fake, json://.

The outbox must never lose an alert and never send one twice, across outages
and restarts; digests go out at their time; feed text arrives as text.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import Item, Project, rss
from tests.support.fakes.json_endpoint import JSONEndpoint
from tests.support.fakes.smtp import FakeSMTP
from tests.support.fakes.telegram import FakeTelegram, utf16_len
from tests.support.httpserver import HTTPServer
from watcher.config import load_config
from watcher.store import open_store
from watcher.wiring import open_pipeline

HOSTILE = Item(
    'Rebels take Hama <script>alert(1)</script> <img src=x onerror="steal()">',
    "http://news.example/hama-1",
    "g1",
    summary="Rebels entered <b>Hama</b> at dawn &amp; held the citadel.",
)


@pytest.fixture
def endpoint() -> Iterator[JSONEndpoint]:
    with JSONEndpoint() as fake:
        yield fake


def write_config(
    project: Project, feed: str, channels: str, rule_extra: str = "", top: str = ""
) -> None:
    project.write(
        f"{top}channels:\n{channels}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules:\n"
        f"  - {{name: hama, query: Hama AND rebels, notify: [out]{rule_extra}}}\n"
    )


def test_email_arrives_with_text_and_html_parts_and_feed_text_escaped(
    project: Project, server: HTTPServer
) -> None:
    feed = server.add("/feed.xml", rss(HOSTILE))
    with FakeSMTP() as smtp:
        write_config(project, feed, f"  out: '{smtp.url()}'")
        assert project.run("once").exit_code == 0

    (mail,) = smtp.mails
    assert mail.text is not None and mail.html is not None
    assert "Rebels take Hama" in mail.text and HOSTILE.link in mail.text
    assert "<script>" not in mail.html and "<img" not in mail.html  # text, never markup
    assert "&lt;script&gt;" in mail.html
    assert f'href="{HOSTILE.link}"' in mail.html  # the link stays clickable
    assert "<b>Hama</b>" in mail.html or "<b>Rebels</b>" in mail.html  # highlighted match


def test_telegram_gets_its_html_subset_escaped(project: Project, server: HTTPServer) -> None:
    feed = server.add("/feed.xml", rss(HOSTILE))
    with FakeTelegram() as telegram:
        write_config(project, feed, f"  out: '{telegram.url()}'")
        assert project.run("once").exit_code == 0

    assert telegram.rejected == []
    (message,) = telegram.messages
    assert message.parse_mode == "HTML"
    assert "<script>" not in message.text and "&lt;script&gt;" in message.text
    assert "<script>alert(1)</script>" in message.visible  # shown as text, never run
    assert HOSTILE.link in message.links


def test_a_telegram_digest_longer_than_4096_is_split_within_the_limit(
    project: Project, server: HTTPServer
) -> None:
    items = [
        Item(f"Rebels near Hama, report {n} of a long day", f"http://news.example/{n}", str(n))
        for n in range(150)
    ]
    feed = server.add("/feed.xml", rss(*items))
    with FakeTelegram() as telegram:
        channel = f"  out: {{url: '{telegram.url()}', rate_limit: 1}}"
        write_config(project, feed, channel)
        assert project.run("once").exit_code == 0  # one alert; the rest fold into a digest
        assert len(telegram.messages) == 1
        config = load_config(project.config, {})

        async def one_minute_later() -> None:
            later = datetime.now(UTC) + timedelta(minutes=2)
            async with open_pipeline(config, clock=lambda: later) as pipeline:
                report = await pipeline.deliver_due()
                assert report.sent == 149

        asyncio.run(one_minute_later())

    assert telegram.rejected == []
    digest = telegram.messages[1:]
    assert len(digest) > 1  # too long for one message
    assert all(utf16_len(m.visible) <= 4096 for m in digest)
    shown = "".join(m.visible for m in digest)
    assert all(f"report {n} " in shown for n in range(1, 150))


def test_an_outage_and_a_restart_lose_nothing_and_send_nothing_twice(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    first = Item("Rebels enter Hama", "http://news.example/1", "1")
    feed = server.add("/feed.xml", rss(first))
    write_config(project, feed, f"  out: '{endpoint.url()}'")
    endpoint.failing = True

    down = project.run("once")
    assert down.exit_code == 0 and "kept for retry" in down.stderr
    second = Item("Rebels shell Hama airport", "http://news.example/2", "2")
    server.add("/feed.xml", rss(second, first))
    assert project.run("once").exit_code == 0  # still down; now two alerts wait
    assert endpoint.posts == []
    listed = json.loads(project.run("outbox", "--json").stdout)
    assert sorted(row["title"] for row in listed) == sorted([first.title, second.title])
    assert all(row["status"] == "pending" and row["attempts"] >= 1 for row in listed)

    endpoint.failing = False
    # A new process (a restart) picks the queue up where the last one left it.
    assert project.run("once").exit_code == 0
    assert project.run("once").exit_code == 0
    titles = [post.title + post.message for post in endpoint.posts]
    assert len(endpoint.posts) == 2
    assert (
        sum(first.title in t for t in titles) == 1 and sum(second.title in t for t in titles) == 1
    )
    assert json.loads(project.run("outbox", "--json").stdout) == []


def test_outbox_retry_resends_now_and_outbox_lists_what_waits(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    feed = server.add("/feed.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
    write_config(project, feed, f"  out: '{endpoint.url()}'")
    endpoint.fail_next(1)
    project.run("once")
    table = project.run("outbox", env={"COLUMNS": "250"})
    assert "Rebels enter Hama" in table.stdout and "pending" in table.stdout

    result = project.run("outbox", "retry")
    assert result.exit_code == 0
    assert len(endpoint.posts) == 1
    assert project.run("outbox").stdout == ""


def test_a_delivery_is_given_up_after_the_configured_time_and_reported(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    feed = server.add("/feed.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
    write_config(project, feed, f"  out: '{endpoint.url()}'", top="give_up_after: 1d\n")
    endpoint.failing = True
    project.run("once")
    config = load_config(project.config, {})

    async def two_days_later() -> int:
        later = datetime.now(UTC) + timedelta(days=2)
        async with open_pipeline(config, clock=lambda: later) as pipeline:
            return (await pipeline.deliver_due(retry_now=True)).given_up

    assert asyncio.run(two_days_later()) == 1
    (row,) = json.loads(project.run("outbox", "--json").stdout)
    assert row["status"] == "failed" and row["last_error"]
    assert project.run("once").exit_code == 0
    assert endpoint.attempts == 2  # given up: not retried by later passes


def test_digest_gathers_alerts_and_sends_one_message_at_its_time(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    old = Item("Rebels reach Hama outskirts", "http://n.example/1", "1")
    new = Item("Rebels take Hama citadel", "http://n.example/2", "2")
    old = Item(old.title, old.link, old.guid, published=datetime.now(UTC) - timedelta(hours=3))
    feed = server.add("/feed.xml", rss(old, new))
    project.write(
        f"timezone: UTC\nchannels: {{out: '{endpoint.url()}'}}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules: [{name: hama, query: Hama AND rebels, notify: [out], digest: hourly}]\n"
    )
    config = load_config(project.config, {})
    start = datetime(2026, 3, 1, 10, 5, tzinfo=UTC)
    clock = {"now": start}

    async def run() -> None:
        async with open_pipeline(config, clock=lambda: clock["now"]) as pipeline:
            await pipeline.poll_all()
            assert (await pipeline.deliver_due()).sent == 0  # 10:05: waits for 11:00
            clock["now"] = start.replace(minute=59)
            assert (await pipeline.deliver_due(retry_now=True)).sent == 0
            clock["now"] = start.replace(hour=11, minute=0, second=5)
            assert (await pipeline.deliver_due()).sent == 2
            clock["now"] = start.replace(hour=12, minute=0, second=5)
            assert (await pipeline.deliver_due()).sent == 0

    asyncio.run(run())

    (post,) = endpoint.posts
    body = post.title + post.message
    assert "digest" in post.title and "2 alerts" in post.title
    assert body.index(new.title) < body.index(old.title)  # newest first


def test_notify_test_reports_the_services_answer(project: Project, endpoint: JSONEndpoint) -> None:
    project.write(f"channels: {{out: '{endpoint.url()}'}}\n")
    ok = project.run("notify-test", "out")
    assert ok.exit_code == 0 and "sent to 'out'" in ok.stdout
    assert "test" in endpoint.posts[0].title

    endpoint.failing = True
    down = project.run("notify-test", "out")
    assert down.exit_code == 1 and "did not accept" in down.stderr and "500" in down.stderr

    unknown = project.run("notify-test", "pager")
    assert unknown.exit_code == 2 and "no channel named 'pager'" in unknown.stderr


def test_secrets_come_from_the_environment_and_never_show(
    project: Project, endpoint: JSONEndpoint
) -> None:
    url = endpoint.url().replace("/notify", "/${HOOK_SECRET}")
    project.write(f"channels: {{out: '{url}'}}\n")
    endpoint.failing = True
    result = project.run("notify-test", "out", env={"HOOK_SECRET": "s3cr3t-t0ken"})
    assert result.exit_code == 1
    assert endpoint.attempts >= 1  # it did reach the URL with the secret filled in
    assert "s3cr3t-t0ken" not in result.output
    assert "${HOOK_SECRET}" in result.stderr


def test_secrets_from_systemd_credentials(project: Project, tmp_path: Path) -> None:
    credentials = tmp_path / "creds"
    credentials.mkdir()
    (credentials / "TOKEN").write_text("from-credential\n")
    project.write("channels: {out: 'json://localhost/${TOKEN}'}\n")
    config = load_config(project.config, {"CREDENTIALS_DIRECTORY": str(credentials)})
    assert config.env["TOKEN"] == "from-credential"
    missing = project.run("validate", env={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert missing.exit_code == 2 and "${TOKEN} is not set" in missing.stderr


def test_user_templates_replace_the_defaults(project: Project, server: HTTPServer) -> None:
    feed = server.add("/feed.xml", rss(HOSTILE))
    (project.root / "alert.txt.j2").write_text("ALERT {{ alert.rule }} :: {{ alert.title }}\n")
    project.write(
        "templates: {alert.text: alert.txt.j2}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules: [{name: hama, query: Hama AND rebels}]\n"
    )
    result = project.run("once")
    assert result.exit_code == 0
    assert "ALERT hama :: Rebels take Hama" in result.stdout


def test_a_broken_template_is_a_config_error(project: Project) -> None:
    (project.root / "bad.j2").write_text("{% if %}")
    project.write("templates: {alert.text: bad.j2}\n")
    result = project.run("validate")
    assert result.exit_code == 2 and f"{project.config}:1: templates:" in result.stderr


def test_apprise_config_files_and_tags(project: Project, server: HTTPServer) -> None:
    with JSONEndpoint() as tagged, JSONEndpoint() as other:
        (project.root / "apprise.yml").write_text(
            f"urls:\n  - {tagged.url()}:\n      - tag: news\n  - {other.url()}:\n      - tag: ops\n"
        )
        feed = server.add("/feed.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
        write_config(project, feed, "  out: {apprise_config: apprise.yml, tag: news}")
        assert project.run("once").exit_code == 0
    assert len(tagged.posts) == 1 and other.posts == []


def test_delivery_rows_are_written_with_the_story(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    """The story, its alert and one delivery per channel exist together, or not at all."""
    feed = server.add("/feed.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
    project.write(
        f"channels: {{a: '{endpoint.url()}', b: '{endpoint.url('/other')}'}}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules: [{name: hama, query: Hama AND rebels, notify: [a, b]}]\n"
    )
    endpoint.failing = True
    project.run("once")
    rows = project.sql(
        "SELECT s.title, d.channel FROM deliveries d JOIN alerts a ON a.id = d.alert_id "
        "JOIN stories s ON s.id = a.story_id ORDER BY d.channel"
    )
    assert rows == [("Rebels enter Hama", "a"), ("Rebels enter Hama", "b")]


@pytest.mark.sqlite_only  # a SQLite trigger breaks the outbox
def test_a_failed_delivery_insert_leaves_no_story_and_no_alert(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    """The "or not at all" half: the delivery rows fail, so the story and alert roll back."""
    feed = server.add("/feed.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
    write_config(project, feed, f"  out: '{endpoint.url()}'")
    open_store(project.database).close()  # the schema, so that a trigger can break the outbox
    with sqlite3.connect(project.database) as db:
        db.execute(
            "CREATE TRIGGER broken_outbox BEFORE INSERT ON deliveries "
            "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
        )
    failed = project.run("once")
    assert failed.exit_code == 0  # the poll fails; the pass goes on
    assert "disk full" in failed.output  # at the delivery insert, after the story's

    def counts() -> dict[str, int]:
        with sqlite3.connect(project.database) as db:
            return {
                table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("stories", "story_keys", "alerts", "deliveries")
            }

    assert counts() == {"stories": 0, "story_keys": 0, "alerts": 0, "deliveries": 0}
    assert endpoint.posts == []

    # Repaired, the next poll finds the story new, and alerts on it once.
    with sqlite3.connect(project.database) as db:
        db.execute("DROP TRIGGER broken_outbox")
    assert project.run("once").exit_code == 0
    after = counts()
    assert (after["stories"], after["alerts"], after["deliveries"]) == (1, 1, 1)
    assert len(endpoint.posts) == 1


def test_quiet_hours_hold_alerts_for_one_digest_and_urgent_rules_go_through(
    project: Project, server: HTTPServer, endpoint: JSONEndpoint
) -> None:
    calm = Item("Rebels reach Hama outskirts", "http://n.example/1", "1")
    more = Item("Rebels take Hama citadel", "http://n.example/2", "2")
    flash = Item("Earthquake strikes Aleppo", "http://n.example/3", "3")
    feed = server.add("/feed.xml", rss(calm, more, flash))
    project.write(
        f"timezone: UTC\nchannels: {{out: {{url: '{endpoint.url()}', quiet: '22:00-07:00'}}}}\n"
        f"feeds: [{{name: wire, url: '{feed}'}}]\n"
        "rules:\n"
        "  - {name: hama, query: Hama AND rebels, notify: [out]}\n"
        "  - {name: quake, query: earthquake, notify: [out], urgent: true}\n"
    )
    config = load_config(project.config, {})
    night = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    clock = {"now": night}

    async def run() -> None:
        async with open_pipeline(config, clock=lambda: clock["now"]) as pipeline:
            await pipeline.poll_all(force=True)
            # 23:30: the urgent one goes; the rest waits for the end of the quiet hours.
            assert (await pipeline.deliver_due(retry_now=True)).sent == 1
            waiting = json.loads(project.run("outbox", "--json").stdout)
            assert [(r["status"], r["digest"], r["next_attempt"]) for r in waiting] == [
                ("pending", True, "2026-03-02T07:00:00+00:00")
            ] * 2
            clock["now"] = night.replace(day=2, hour=6, minute=59)
            assert (await pipeline.deliver_due(retry_now=True)).sent == 0
            clock["now"] = night.replace(day=2, hour=7, minute=0, second=5)
            assert (await pipeline.deliver_due()).sent == 2

    asyncio.run(run())
    first, digest = endpoint.posts
    assert "Earthquake strikes Aleppo" in first.title + first.message
    assert "2 alerts" in digest.title
    assert "Rebels reach Hama outskirts" in digest.message
    assert "Rebels take Hama citadel" in digest.message


def test_a_quiet_range_that_is_not_one_is_a_config_error(project: Project) -> None:
    project.write("channels: {out: {url: 'json://127.0.0.1:9/x', quiet: '22:00-25:00'}}\n")
    result = project.run("validate")
    assert result.exit_code == 2 and f"{project.config}:1:" in result.stderr
    assert "22:00-07:00" in result.stderr
