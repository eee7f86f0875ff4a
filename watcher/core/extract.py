"""The text a reader would read on an article page, for feeds that only carry teasers.

A word in the fourth paragraph must match; a word in the page's menus, share
bar or "Related" list must not, or every story on a site would alert on the
site's other headlines.  trafilatura does the separating; it is run for
precision, since a missed sentence costs less than a false alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lxml import etree

from watcher.core.dates import iso_datetime

# htmldate only returns a time of day when asked for one in the output format.  Its
# strftime output (with an offset, or naive when the page gave none, then taken as
# UTC) is ISO 8601, which ``iso_datetime`` reads.
_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
# Lines that are page furniture whenever they stand alone: the heading of a
# "Related" list trafilatura dropped, a share button's label.
_CHROME_LINES = frozenset(
    {
        "related", "related stories", "related articles", "related posts", "related content",
        "more like this", "more on this story", "share", "share post", "share this",
        "share this article", "share this story", "share on facebook", "share on x",
        "share on twitter", "copy link", "read more", "advertisement", "subscribe",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Article:
    """What a story's own page adds: its main text and, if the page says, its date and title."""

    text: str
    published: datetime | None
    title: str | None


def extract_article(html: bytes | str, url: str) -> Article | None:
    """The article body of a page, or None when the page holds no readable article.

    Dates later than today (by the system clock, which htmldate reads) are not believed.
    """
    if not html.strip():
        return None
    date_params: dict[str, Any] = {
        "extensive_search": False,  # dates guessed from free text are too often wrong
        "original_date": True,  # published, not last modified
        "deferred_url_extractor": True,  # the page's metadata has the time; a URL only the day
        "outputformat": _DATE_FORMAT,
    }
    # Imported here: a tenth of a second that only full-text feeds and `match --url` need.
    import trafilatura
    from trafilatura.settings import Document

    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,  # images and links are left out by default
            include_tables=False,
            favor_precision=True,
            date_extraction_params=date_params,
        )
    except (ValueError, etree.LxmlError):
        return None  # a page trafilatura cannot read is a page without an article
    if not isinstance(document, Document):  # None: no article (a dict only with as_dict)
        return None
    text = _without_chrome(_text(document.text))
    if not text:
        return None
    title = _text(document.title) or None
    return Article(text=text, published=iso_datetime(document.date), title=title)


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _without_chrome(text: str) -> str:
    lines = text.splitlines()
    kept = [line for line in lines if line.strip(" :.…>»|").lower() not in _CHROME_LINES]
    return "\n".join(kept).strip()
