"""Reading news sites as they publish: feeds, sitemaps, listing pages, and full articles.

Between fetch and dedupe, this turns what a feed's URL answered into stories:
a feed (RSS, Atom, RDF, JSON Feed) or a news sitemap is parsed; a sitemap
index is followed to its newest children; a page that advertises a feed is
swapped for that feed (autodiscovery); a listing page (``type: html``) gives
its article links.  For ``full_text`` feeds it also fetches each new story's
page and adds its main text.  The decisions are pure functions of
``watcher.core``; this module only does the fetching they need.

Every URL fetched here came from a feed or a page, not from the user: each
request names the feed's configured URL as its ``origin``, so the fetcher's
network guard refuses those that lead into the user's own network.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

from watcher.core.errors import FeedError
from watcher.core.extract import Article, extract_article
from watcher.core.listing import listing_stories
from watcher.core.models import FeedSpec, ParsedFeed, Story
from watcher.core.sitemap import maybe_gunzip, sitemap_children
from watcher.core.sniff import Kind, advertised_feeds, classify, not_a_feed_error
from watcher.fetch import FetchedFeed, Fetcher, FetchRequest, FetchSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Child sitemaps followed from a sitemap index (the newest ones).
SITEMAP_CHILDREN = 3
# Longest the article pages of one poll may take together; slower pages are
# abandoned and their stories matched on what the feed gave.
FULL_TEXT_BUDGET = 15.0


class Executor(Protocol):
    """Where CPU-heavy steps run (``watcher.workers.Analyser``): off the event loop."""

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T: ...

    async def parse(
        self, feed: str, body: bytes, content_type: str | None, url: str
    ) -> ParsedFeed: ...


@dataclass(frozen=True, slots=True)
class Document:
    """A feed document still to parse (the parse stage may analyse it in the same trip)."""

    body: bytes
    content_type: str | None
    url: str


@dataclass(frozen=True)
class Source:
    """What a feed's URL gave: a feed document to parse, or stories read already.

    ``fetched`` is the response actually read: after autodiscovery it is the
    advertised feed's, whose URL (``discovered``) is polled from then on.
    Listing pages and sitemap indexes give ``parsed`` stories; every other
    source gives a ``document``.
    """

    fetched: FetchedFeed
    document: Document | None = None
    parsed: ParsedFeed | None = None
    discovered: str | None = None


class SourceReader:
    def __init__(self, fetcher: Fetcher, executor: Executor) -> None:
        self.fetcher = fetcher
        self.executor = executor

    async def read(self, feed: FeedSpec, fetched: FetchedFeed, settings: FetchSettings) -> Source:
        """The source behind a successful fetch; a ``FeedError`` says why there is none."""
        assert fetched.body is not None
        body = maybe_gunzip(fetched.body, settings.max_decoded_bytes)
        if feed.kind == "html":
            parsed = await self.executor.run(
                listing_stories, feed.name, body, fetched.final_url, feed.links
            )
            return Source(fetched, parsed=parsed)
        kind = classify(body, fetched.content_type)
        if feed.kind == "auto" and kind == "html":
            return await self._discover(feed, fetched, body, settings)
        return await self._feed(feed, fetched, body, settings, kind)

    async def _discover(
        self, feed: FeedSpec, page: FetchedFeed, body: bytes, settings: FetchSettings
    ) -> Source:
        advertised = advertised_feeds(body, page.final_url)
        if not advertised:
            error = not_a_feed_error(body, page.final_url, page.content_type)
            raise error or FeedError("not a feed: an HTML page", kind="not_a_feed")
        url = advertised[0]
        fetched = await self.fetcher.fetch(_linked(feed, url, settings))
        if fetched.error is not None or fetched.body is None:
            raise FeedError(
                f"not a feed: an HTML page (it advertises {url}, which failed: {fetched.error})",
                kind="not_a_feed",
            )
        feed_body = maybe_gunzip(fetched.body, settings.max_decoded_bytes)
        kind = classify(feed_body, fetched.content_type)
        if kind == "html":
            raise FeedError(
                f"not a feed: an HTML page (it advertises {url}, but that is a page too)",
                kind="not_a_feed",
            )
        log.info("feed '%s': %s is a page; using the feed it advertises, %s",
                 feed.name, page.final_url, url)  # fmt: skip
        source = await self._feed(feed, fetched, feed_body, settings, kind)
        return replace(source, discovered=url)

    async def _feed(
        self,
        feed: FeedSpec,
        fetched: FetchedFeed,
        body: bytes,
        settings: FetchSettings,
        kind: Kind,
    ) -> Source:
        refusal = not_a_feed_error(body, fetched.final_url, fetched.content_type, kind)
        if refusal is not None:
            raise refusal
        if b"<sitemapindex" in body[:4096]:
            return Source(fetched, parsed=await self._sitemap_index(feed, body, settings))
        return Source(fetched, document=Document(body, fetched.content_type, fetched.final_url))

    async def _sitemap_index(
        self, feed: FeedSpec, body: bytes, settings: FetchSettings
    ) -> ParsedFeed:
        """The stories of the newest child sitemaps; a failing child costs only its own."""
        children = sitemap_children(body, limit=SITEMAP_CHILDREN)
        if not children:
            raise FeedError("not a feed: a sitemap index without child sitemaps")
        answers = await asyncio.gather(
            *(self.fetcher.fetch(_linked(feed, url, settings)) for url in children)
        )
        stories: list[Story] = []
        problems = []
        for url, answer in zip(children, answers, strict=True):
            try:
                if answer.error is not None or answer.body is None:
                    raise answer.error or FeedError("empty answer")
                child = maybe_gunzip(answer.body, settings.max_decoded_bytes)
                parsed = await self.executor.parse(feed.name, child, answer.content_type, url)
                stories.extend(parsed.stories)
            except FeedError as exc:
                problems.append(f"child sitemap {url}: {exc}")
        if problems and not stories:
            raise FeedError("; ".join(problems))
        return ParsedFeed(title="", stories=tuple(stories), problem="; ".join(problems) or None)

    async def full_text(
        self, feed: FeedSpec, stories: Sequence[Story], settings: FetchSettings
    ) -> tuple[dict[int, Story], list[str]]:
        """Each story (by index) with its page's main text added, and what failed.

        Pages are fetched concurrently, under the fetcher's per-host limits and the
        feed's timeouts and caps; together they get ``FULL_TEXT_BUDGET`` seconds.
        """
        tasks = {
            index: asyncio.create_task(self._article(feed, story.link, settings))
            for index, story in enumerate(stories)
            if story.link
        }
        if not tasks:
            return {}, []
        done, pending = await asyncio.wait(tasks.values(), timeout=FULL_TEXT_BUDGET)
        for task in pending:
            task.cancel()
        enriched: dict[int, Story] = {}
        failures: list[str] = []
        for index, task in tasks.items():
            story = stories[index]
            if task not in done:
                failures.append(f"{story.link}: took longer than {FULL_TEXT_BUDGET:g} s")
                continue
            try:
                article = task.result()
            except FeedError as exc:
                failures.append(f"{story.link}: {exc}")
                continue
            if article is None:
                failures.append(f"{story.link}: no article text found")
                continue
            enriched[index] = replace(
                story,
                content="\n\n".join(part for part in (story.content, article.text) if part),
                published=story.published or article.published,
            )
        if pending:
            await asyncio.wait(pending, timeout=1.0)
        return enriched, failures

    async def _article(
        self, feed: FeedSpec, url: str | None, settings: FetchSettings
    ) -> Article | None:
        assert url is not None
        page = await self.fetcher.fetch(_linked(feed, url, settings))
        if page.error is not None or page.body is None:
            raise page.error or FeedError("empty answer")
        article: Article | None = await self.executor.run(
            extract_article, page.body, page.final_url
        )
        return article


def _linked(feed: FeedSpec, url: str, settings: FetchSettings) -> FetchRequest:
    """A request for a URL that ``feed`` (or a page of it) supplied: checked by the
    network guard against the feed's configured URL."""
    return FetchRequest(feed.name, url, settings=settings, origin=feed.url)
