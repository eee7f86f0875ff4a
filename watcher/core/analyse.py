"""Everything decided about a story that depends on the story alone.

Identity keys, the clustering fingerprint, the text hash that reveals an edit,
and which rules match (with their snippets): computed for a whole feed in one
call, so it can run in a worker process while the event loop keeps only the
decisions that need the database.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from watcher.core.cluster import Fingerprint, fingerprint_text
from watcher.core.dedupe import identity_keys
from watcher.core.models import ParsedFeed, Snippet, Story, pickled_by_fields
from watcher.core.parse import parse_feed
from watcher.core.rules import RuleBook, prepare, snippet
from watcher.core.text import StoryText


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class Analysed:
    story: Story
    keys: tuple[str, ...]
    fingerprint: Fingerprint
    fingerprint_json: str  # as stored; made here so the event loop need not
    text_hash: str
    hits: tuple[tuple[str, Snippet], ...]  # (rule name, snippet), in the rules' order


def text_hash(story: Story, text: StoryText | None = None) -> str:
    """What an edit in place changes: the title and summary as read, not their markup."""
    if text is None:
        text = StoryText.of(story)
    joined = f"{text.title}\n{text.summary}"
    return hashlib.sha1(joined.encode("utf-8"), usedforsecurity=False).hexdigest()


def analyse(stories: Sequence[Story], book: RuleBook) -> list[Analysed]:
    analysed = []
    for story in stories:
        text = StoryText.of(story)
        document = prepare(story, text)
        # The lead is the summary, or the content when there is no summary at all.
        lead = text.summary if story.summary else text.content
        print_ = fingerprint_text(text.title, lead)
        analysed.append(
            Analysed(
                story=story,
                keys=identity_keys(story),
                fingerprint=print_,
                fingerprint_json=print_.to_json(),
                text_hash=text_hash(story, text),
                hits=tuple((hit.rule, snippet(document, hit)) for hit in book.match(document)),
            )
        )
    return analysed


@pickled_by_fields
@dataclass(frozen=True, slots=True)
class AnalysedFeed:
    """A parsed feed and, when they were made in the same trip, its stories' analyses."""

    parsed: ParsedFeed
    analysed: tuple[Analysed, ...] | None = None


def parse_and_analyse(
    feed: str, body: bytes, *, content_type: str | None, url: str, book: RuleBook
) -> AnalysedFeed:
    """Parse and analyse in one call: one trip to a worker process per feed, not two,
    and the stories cross between processes once."""
    parsed = parse_feed(feed, body, content_type=content_type, url=url)
    return AnalysedFeed(parsed, tuple(analyse(parsed.stories, book)))
