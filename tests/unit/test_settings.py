"""What a config means for each stage: fetch limits, per-feed overrides, workers, the policy."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from watcher.config import Config, parse_config
from watcher.core.models import RuleSpec
from watcher.core.records import Route
from watcher.fetch import FetchSettings
from watcher.settings import (
    POOL_MIN_FEEDS,
    feed_fetch_settings,
    fetch_limits,
    fetch_settings,
    poll_policy,
    workers_for,
)

MB = 1024 * 1024


def config(text: str, env: dict[str, str] | None = None) -> Config:
    return parse_config(textwrap.dedent(text), Path("/srv/watcher/config.yaml"), env or {})


def feeds(count: int) -> str:
    return "feeds:\n" + "".join(
        f"  - name: f{n}\n    url: https://f{n}.example/rss\n" for n in range(count)
    )


@pytest.mark.parametrize(
    ("values", "limits"),
    [
        ([("connect_timeout", timedelta(seconds=5))], {"connect_timeout": 5.0}),
        ([("read_timeout", timedelta(minutes=2))], {"read_timeout": 120.0}),
        ([("deadline", timedelta(milliseconds=1500))], {"deadline": 1.5}),
        ([("max_body", 2 * MB)], {"max_body_bytes": 2 * MB}),
        ([("max_decoded", 50 * MB)], {"max_decoded_bytes": 50 * MB}),
        ([("max_redirects", 0)], {"max_redirects": 0}),  # zero is a setting, not "unset"
        ([("max_redirects", None), ("deadline", None)], {}),  # unset: the default stands
        ([("concurrency", 8), ("backoff_cap", timedelta(hours=1))], {}),  # not per fetch
    ],
)
def test_fetch_limits_map_config_names_to_fetch_settings_in_seconds(
    values: list[tuple[str, object]], limits: dict[str, object]
) -> None:
    found = fetch_limits(values)
    assert found == limits
    FetchSettings(**found)  # each is a real field


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("fetch: {connect_timeout: 3s}\n", "connect_timeout", 3.0),
        ("fetch: {read_timeout: 2m}\n", "read_timeout", 120.0),
        ("fetch: {max_body: 1MB}\n", "max_body_bytes", MB),
        ("fetch: {concurrency: 5}\n", "global_concurrency", 5),
        ("fetch: {per_host: 4}\n", "per_host_concurrency", 4),
        ("{}\n", "read_timeout", 30.0),  # FetchSettings' own default
    ],
)
def test_fetch_settings_follow_the_global_fetch_section(
    text: str, field: str, value: object
) -> None:
    assert getattr(fetch_settings(config(text)), field) == value


def test_only_feeds_that_override_a_limit_get_settings_of_their_own() -> None:
    found = feed_fetch_settings(
        config(
            """\
            fetch: {read_timeout: 45s, concurrency: 7}
            feeds:
              - name: plain
                url: https://plain.example/rss
              - name: slow
                url: https://slow.example/rss
                fetch: {read_timeout: 2m, max_body: 2MB}
              - name: short
                url: https://short.example/rss
                fetch: {max_redirects: 0}
            """
        )
    )
    assert sorted(found) == ["short", "slow"]
    slow, short = found["slow"], found["short"]
    assert (slow.read_timeout, slow.max_body_bytes, slow.max_redirects) == (120.0, 2 * MB, 5)
    # What a feed does not override is the global setting, not the built-in default.
    assert (short.read_timeout, short.max_redirects, short.global_concurrency) == (45.0, 0, 7)


@pytest.mark.parametrize(
    ("setting", "count", "cpus", "workers"),
    [
        ("workers: 2\n", 1, 8, 2),  # an explicit setting wins
        ("workers: 0\n", POOL_MIN_FEEDS + 5, 8, 0),
        ("", POOL_MIN_FEEDS - 1, 8, 0),  # too few feeds to be worth a pool
        ("", 0, 8, 0),
        ("", POOL_MIN_FEEDS, 8, 3),  # one per core, at most three
        ("", POOL_MIN_FEEDS, 2, 2),
        ("", POOL_MIN_FEEDS, 1, 1),
    ],
)
def test_workers_for(
    monkeypatch: pytest.MonkeyPatch, setting: str, count: int, cpus: int, workers: int
) -> None:
    monkeypatch.setattr("watcher.workers.os.cpu_count", lambda: cpus)
    assert workers_for(config(setting + feeds(count))) == workers


RULES = """\
channels:
  phone: 'json://127.0.0.1:9/phone'
  mail: {url: 'json://127.0.0.1:9/mail', digest: daily}
feeds:
  - name: wire
    url: https://wire.example/rss
rules:
  - name: quake
    query: quake
    notify: [phone, mail]
    updates: true
  - name: flood
    query: flood
"""


def test_poll_policy_carries_the_rules_by_name() -> None:
    policy = poll_policy(config(RULES))
    assert sorted(policy.rules) == ["flood", "quake"]
    quake = policy.rules["quake"]
    assert isinstance(quake, RuleSpec)
    assert (quake.name, quake.query, quake.notify, quake.updates) == (
        "quake",
        "quake",
        ("phone", "mail"),
        True,
    )
    assert policy.rules["flood"].notify == ("stdout",)


@pytest.mark.parametrize(
    ("extra", "attribute", "value"),
    [
        ("cluster: false\n", "cluster", False),
        ("", "cluster", True),
        ("feed_alert_after: 6h\n", "feed_alert_after", timedelta(hours=6)),
        ("fetch: {backoff_cap: 2h}\n", "backoff_cap", timedelta(hours=2)),
        ("fetch: {cache_max_age_cap: 0s}\n", "cache_max_age_cap", timedelta(0)),
        ("health_notify: [phone]\n", "health_notify", ("phone",)),
        ("", "health_notify", ("stdout",)),
        ("timezone: Europe/Athens\n", "zone", ZoneInfo("Europe/Athens")),
    ],
)
def test_poll_policy_follows_the_config(extra: str, attribute: str, value: object) -> None:
    assert getattr(poll_policy(config(RULES + extra)), attribute) == value


@pytest.mark.parametrize(
    ("timezone", "digest_at"),
    [
        ("UTC", datetime(2026, 12, 3, 8, 0, tzinfo=UTC)),  # daily: 08:00
        ("Europe/Athens", datetime(2026, 12, 3, 6, 0, tzinfo=UTC)),  # 08:00 in Athens
    ],
)
def test_poll_policy_routes_wait_for_a_channels_digest_in_the_configured_zone(
    timezone: str, digest_at: datetime
) -> None:
    policy = poll_policy(config(RULES + f"timezone: {timezone}\n"))
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    assert policy.routes(policy.rules["quake"], now) == (
        Route("phone", None),
        Route("mail", digest_at),
    )
