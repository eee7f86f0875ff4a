"""Plain data that flows through the pipeline.

Stage types are named by where they flow: a ``FetchedFeed`` leaves fetch, a
``ParsedFeed`` of ``Story`` items leaves parse, ``Hit`` leaves match, an
``Alert`` goes to deliver.  All are immutable dataclasses so any stage can be
tested on its own with literal values.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, TypeVar

_Data = TypeVar("_Data")

# The built-in channel: alerts printed on the terminal until a real one is configured.
STDOUT_CHANNEL = "stdout"


def pickled_by_fields(cls: type[_Data]) -> type[_Data]:
    """Pickle instances as their class and field values.

    Stories and their analyses cross between the daemon and its worker
    processes by the thousand; the ``__getstate__`` that ``dataclass(slots=True)``
    writes looks the fields up again for every object, at twice the cost.
    """
    values: Callable[[Any], tuple[object, ...]] = operator.attrgetter(
        *(f.name for f in fields(cls))  # type: ignore[arg-type]
    )

    def __reduce__(self: _Data) -> tuple[type[_Data], tuple[object, ...]]:
        return cls, values(self)

    cls.__reduce__ = __reduce__  # type: ignore[assignment,method-assign]
    return cls


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """One feed as configured by the user."""

    name: str
    url: str
    interval: timedelta
    max_age: timedelta
    # Per-feed fetch limits (connect_timeout, max_body, ...) as (setting, value) pairs.
    fetch: tuple[tuple[str, object], ...] = ()
    kind: str = "auto"  # auto | feed | sitemap | html
    links: str | None = None  # CSS selector of article links, for kind html
    full_text: bool = False
    outlet: str = ""  # who publishes it: several feeds of one outlet count once
    line: int | None = None


@dataclass(frozen=True, slots=True)
class Examples:
    """Texts a rule's author says it must (or must not) match; checked at load."""

    match: tuple[str, ...] = ()
    no_match: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One watch rule as configured by the user (not yet compiled)."""

    name: str
    query: str | None = None
    all: tuple[str, ...] = ()
    any: tuple[str, ...] = ()
    none: tuple[str, ...] = ()
    feeds: tuple[str, ...] | None = None
    notify: tuple[str, ...] = ("stdout",)
    examples: Examples = field(default_factory=Examples)
    digest: str | None = None  # hourly, daily or a cron expression
    updates: bool = False  # tell later outlets and edits of an alerted story, briefly
    urgent: bool = False  # goes through channels' quiet hours
    # Corroborated ("breaking"): alert when the Nth outlet reports the event, within
    # ``within`` of the first report (None: the cluster window).
    min_sources: int | None = None
    within: timedelta | None = None
    line: int | None = None


@dataclass(frozen=True, slots=True)
class ChannelSpec:
    """A named destination: Apprise URLs (``${VAR}`` unexpanded) and/or an Apprise config file."""

    name: str
    urls: tuple[str, ...]
    apprise_config: str | None = None
    tags: tuple[str, ...] = ()
    digest: str | None = None  # hourly, daily or a cron expression
    rate_limit: int | None = None  # messages a minute
    quiet: str | None = None  # "22:00-07:00": alerts held for one digest when it ends
    line: int | None = None


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Story:
    """One news item as read from a feed, before any decision is taken on it.

    ``title``, ``summary`` and ``content`` are as the feed gave them (they may
    hold HTML); matching normalises them once.
    """

    feed: str
    guid: str | None
    link: str | None
    title: str
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What parse makes of a feed body: its stories, and the problem if it was malformed."""

    title: str
    stories: tuple[Story, ...]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """A rule that matched a story, with the words that made it match (for highlighting)."""

    rule: str
    terms: tuple[str, ...] = ()


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Snippet:
    """A short piece of story text; ``marks`` are (start, end) offsets of matched words."""

    text: str
    marks: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Alert:
    """What a channel is told: one rule matched one story."""

    rule: str
    feed: str
    title: str
    link: str | None
    published: datetime | None
    snippet: Snippet = field(default_factory=lambda: Snippet(""))
    also_reported_by: tuple[str, ...] = ()
    # alert: the first story of its cluster; update (another outlet) and edit (the
    # story changed in place) are short notes for rules with ``updates: true``
    kind: str = "alert"
    # A corroborated alert: the outlets that reported the event, each with its first time.
    reported_by: tuple[tuple[str, datetime], ...] = ()


@dataclass(frozen=True, slots=True)
class Notice:
    """A message about watcher itself (a feed broken for long, then back), not about a story."""

    title: str
    body: str
