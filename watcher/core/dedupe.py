"""Story identity: which fetched stories are new, decided without touching storage.

A story is known by its GUID (scoped to its feed unless the GUID is itself a
URL) and by its canonical link, so the same link in two feeds, or a feed that
re-publishes old items, is one story.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from watcher.core.models import Story

T = TypeVar("T")

# Query parameters that only say where a click came from, never which page it is.
_TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "hsa_", "itm_", "at_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "mkt_tok",
        "cmpid", "ncid", "ocid", "ref_src", "ref_url", "smid", "_ga", "spm",
        "__twitter_impression",
    }
)  # fmt: skip
_DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_url(url: str) -> str:
    """Lower-case scheme and host, drop default port, fragment and tracking parameters."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    netloc = host
    if port is not None and _DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{host}:{port}"
    if parts.username or parts.password:
        netloc = f"{parts.username or ''}{':' + parts.password if parts.password else ''}@{netloc}"
    query = (
        urlencode(
            [
                (k, v)
                for k, v in parse_qsl(parts.query, keep_blank_values=True)
                if not _is_tracking(k)
            ]
        )
        if parts.query
        else ""
    )
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, query, ""))


def default_outlet(url: str) -> str:
    """A feed's outlet when the config names none: its host without a leading ``www.``
    (so ``bbc-world`` and ``bbc-middle-east`` on www.bbc.co.uk are one outlet)."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return url
    return host.removeprefix("www.") or url


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in _TRACKING_NAMES or lowered.startswith(_TRACKING_PREFIXES)


def _looks_like_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def identity_keys(story: Story) -> tuple[str, ...]:
    """Every key under which this story may have been seen before."""
    keys: list[str] = []
    if story.link:
        keys.append("link:" + canonical_url(story.link))
    if story.guid:
        if _looks_like_url(story.guid):
            # Most RSS GUIDs are the permalink itself, already made canonical above.
            key = keys[0] if story.guid == story.link else "link:" + canonical_url(story.guid)
        else:
            key = f"guid:{story.feed}\x1f{story.guid.strip()}"
        if key not in keys:
            keys.append(key)
    if not keys:
        # No GUID and no link: the title within its feed is all that identifies it.
        keys.append(f"title:{story.feed}\x1f{story.title.strip()}")
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class NewStory:
    """A story not seen before, with the keys to remember it by."""

    story: Story
    keys: tuple[str, ...]

    @property
    def canonical_link(self) -> str | None:
        """The story's link in canonical form: ``identity_keys`` puts it first."""
        return self.keys[0].removeprefix("link:") if self.story.link else None


def select_new(stories: Iterable[Story], known: Set[str]) -> list[NewStory]:
    """Stories none of whose keys are known, also deduplicated within the batch."""
    return fresh_items(
        (NewStory(story, identity_keys(story)) for story in stories), known, lambda n: n.keys
    )


def fresh_items(
    items: Iterable[T], known: Set[str], keys_of: Callable[[T], Iterable[str]]
) -> list[T]:
    """Items none of whose keys are known, nor taken by an earlier item of the batch."""
    seen = set(known)
    fresh: list[T] = []
    for item in items:
        keys = tuple(keys_of(item))
        if any(key in seen for key in keys):
            continue
        seen.update(keys)
        fresh.append(item)
    return fresh


def is_recent(story: Story, now: datetime, max_age: timedelta) -> bool:
    """Whether a story may alert on a feed's first poll; undated stories count as recent."""
    if story.published is None:
        return True
    return now - story.published <= max_age
