"""A story is one story wherever and however often it is published: only new ones get through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.core.dedupe import canonical_url, identity_keys, is_recent, select_new
from watcher.core.models import Story


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("HTTPS://News.Example.ORG/a/b", "https://news.example.org/a/b"),
        ("https://news.example.org:443/a#comments", "https://news.example.org/a"),
        ("http://news.example.org/a?utm_source=rss&utm_medium=feed", "http://news.example.org/a"),
        ("http://news.example.org/a?id=7&fbclid=xyz&gclid=1", "http://news.example.org/a?id=7"),
        ("http://news.example.org:8080/a", "http://news.example.org:8080/a"),
        ("http://news.example.org", "http://news.example.org/"),
    ],
)
def test_canonical_url(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


def test_canonical_url_keeps_the_query_that_names_the_page() -> None:
    assert canonical_url("http://x.org/story.php?id=1") != canonical_url(
        "http://x.org/story.php?id=2"
    )


def story(**kw: object) -> Story:
    base: dict[str, object] = {"feed": "wire", "guid": None, "link": None, "title": "t"}
    return Story(**(base | kw))  # type: ignore[arg-type]


def test_a_url_guid_is_a_link_and_a_plain_guid_belongs_to_its_feed() -> None:
    assert identity_keys(story(guid="http://x.org/a?utm_source=z")) == ("link:http://x.org/a",)
    assert identity_keys(story(guid="123")) == ("guid:wire\x1f123",)
    assert identity_keys(story(feed="other", guid="123")) != identity_keys(story(guid="123"))


def test_select_new_skips_known_keys_and_duplicates_within_the_batch() -> None:
    a = story(link="http://x.org/a", guid="1")
    a_again = story(feed="other", link="http://X.org/a#frag", guid="99")
    b = story(link="http://x.org/b", guid="2")
    c = story(link="http://x.org/c", guid="3")
    fresh = select_new([a, a_again, b, c], known={"link:http://x.org/c"})
    assert [n.story for n in fresh] == [a, b]


def test_undated_stories_count_as_recent() -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert is_recent(story(), now, timedelta(days=2))
    assert is_recent(story(published=now - timedelta(days=1)), now, timedelta(days=2))
    assert not is_recent(story(published=now - timedelta(days=3)), now, timedelta(days=2))


# ---------------------------------------------------------------- edge cases


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        (("wire", "Hama falls"), ("wire", "Hama falls"), True),
        (("wire", "Hama falls"), ("wire", "  Hama falls \n"), True),
        (("wire", "Hama falls"), ("other", "Hama falls"), False),
        (("wire", "Hama falls"), ("wire", "Homs falls"), False),
    ],
)
def test_a_story_without_link_or_guid_is_known_by_its_title_within_its_feed(
    first: tuple[str, str], second: tuple[str, str], same: bool
) -> None:
    a = story(feed=first[0], title=first[1])
    b = story(feed=second[0], title=second[1])
    assert identity_keys(a) == (f"title:{first[0]}\x1f{first[1]}",)
    assert (identity_keys(a) == identity_keys(b)) is same
    assert [n.story for n in select_new([a, b], known=set())] == ([a] if same else [a, b])


def test_a_title_seen_before_in_the_feed_is_not_new_again() -> None:
    assert select_new([story(title="Hama falls")], known={"title:wire\x1fHama falls"}) == []


@pytest.mark.parametrize(
    "kw",
    [{"link": "http://x.org/a"}, {"guid": "123"}, {"guid": "http://x.org/a"}],
)
def test_a_story_with_a_link_or_guid_is_not_known_by_its_title(kw: dict[str, str]) -> None:
    keys = identity_keys(story(title="Live updates", **kw))
    assert not any(key.startswith("title:") for key in keys)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://host:80/x", "http://host/x", True),
        ("https://host:443/", "https://host/", True),
        ("HTTP://HOST:80/x", "http://host/x", True),
        ("https://host:443", "https://host/", True),
        ("http://host:443/x", "http://host/x", False),
        ("https://host:80/", "https://host/", False),
        ("http://host:8080/x", "http://host/x", False),
    ],
)
def test_a_default_port_written_out_is_the_same_url(a: str, b: str, same: bool) -> None:
    assert (canonical_url(a) == canonical_url(b)) is same


@pytest.mark.parametrize(
    "url",
    ["http://x.org:99999/a", "https://X.org:65536/a#frag", "http://x.org:port/a"],
)
def test_a_link_with_an_impossible_port_is_kept_as_written(url: str) -> None:
    assert canonical_url(url) == url
    assert canonical_url(f"  {url}\n") == url
    (fresh,) = select_new([story(link=url)], known=set())
    assert fresh.keys == (f"link:{url}",)
    assert fresh.canonical_link == url


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("http://x.org/a?id=7&utm_source=rss&page=2", "http://x.org/a?id=7&page=2"),
        ("http://x.org/a?UTM_Campaign=x&section=world", "http://x.org/a?section=world"),
        ("http://x.org/a?mc_cid=1&pk_campaign=2&q=hama", "http://x.org/a?q=hama"),
        ("http://x.org/a?fbclid=1&gclid=2&msclkid=3", "http://x.org/a"),
        ("http://x.org/a?b=2&a=1", "http://x.org/a?b=2&a=1"),
        ("http://x.org/a?ref=home&utmost=1", "http://x.org/a?ref=home&utmost=1"),
        ("http://x.org/a?s=%2F&utm_medium=feed", "http://x.org/a?s=%2F"),
    ],
)
def test_tracking_parameters_are_dropped_and_the_others_kept_in_order(
    raw: str, canonical: str
) -> None:
    assert canonical_url(raw) == canonical
