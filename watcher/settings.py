"""What a config means for each stage: fetch settings, the poll policy, the worker count.

One translation of ``Config`` into the stages' own settings, used by the wiring
at start-up and at every reload, so ``watcher once`` and ``watcher run`` read a
config the same way.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from tzlocal import get_localzone

from watcher.config import Config
from watcher.core.decide import PollPolicy
from watcher.core.models import FeedSpec
from watcher.fetch import FetchSettings, user_agent
from watcher.workers import worker_count

# config name -> FetchSettings field
_FETCH_FIELDS = {
    "connect_timeout": "connect_timeout",
    "read_timeout": "read_timeout",
    "deadline": "deadline",
    "max_body": "max_body_bytes",
    "max_decoded": "max_decoded_bytes",
    "max_redirects": "max_redirects",
    "allow_private": "allow_private",
}

# Below this many feeds, starting worker processes costs more than it saves.
POOL_MIN_FEEDS = 20


def fetch_limits(values: Iterable[tuple[str, object]]) -> dict[str, Any]:
    """Config fetch settings as ``FetchSettings`` fields (durations in seconds); unset
    (None) ones keep the ``FetchSettings`` (or the global) value."""
    limits: dict[str, Any] = {}
    for key, value in values:
        if value is None or key not in _FETCH_FIELDS:
            continue
        limits[_FETCH_FIELDS[key]] = (
            value.total_seconds() if isinstance(value, timedelta) else value
        )
    return limits


def fetch_settings(config: Config) -> FetchSettings:
    """The fetcher's settings for every feed."""
    return FetchSettings(
        user_agent=user_agent(),
        global_concurrency=config.fetch.concurrency,
        per_host_concurrency=config.fetch.per_host,
        **fetch_limits(config.fetch.model_dump().items()),
    )


def feed_fetch_settings(config: Config) -> dict[str, FetchSettings]:
    """Feeds that override a fetch limit, with their own settings."""
    base = fetch_settings(config)
    return {
        feed.name: replace(base, **fetch_limits(feed.fetch)) for feed in config.feeds if feed.fetch
    }


def zone(config: Config) -> tzinfo:
    """Digest times are in the configured ``timezone``, else the machine's."""
    return ZoneInfo(config.timezone) if config.timezone else get_localzone()


def poll_policy(config: Config) -> PollPolicy:
    return PollPolicy(
        rules={rule.name: rule for rule in config.rules},
        channels=config.channels,
        zone=zone(config),
        cluster=config.cluster,
        cache_max_age_cap=config.fetch.cache_max_age_cap,
        backoff_cap=config.fetch.backoff_cap,
        feed_alert_after=config.feed_alert_after,
        health_notify=config.health_notify,
        outlets={feed.name: feed.outlet for feed in config.feeds},
        cluster_window=config.cluster_window,
    )


def workers_for(config: Config) -> int:
    """Worker processes to start: the config's ``workers``, or by default one per spare
    core once there are enough feeds to be worth it."""
    if config.workers is not None:
        return config.workers
    return worker_count(None) if len(config.feeds) >= POOL_MIN_FEEDS else 0


def feed_named(config: Config, name: str) -> FeedSpec | None:
    return next((feed for feed in config.feeds if feed.name == name), None)
