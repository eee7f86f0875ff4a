"""A story is one story wherever and however often it is published: only new ones get through."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watcher.core.dedupe import (
    canonical_url,
    default_outlet,
    identity_keys,
    is_recent,
    select_new,
)
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


# ---------------------------------------------------------------- more of a URL (#18)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        # credentials stay (they name who may read the page), host lower-cased
        ("http://user:pw@X.org/a", "http://user:pw@x.org/a"),
        ("http://user@X.org:8080/a", "http://user@x.org:8080/a"),
        ("http://user@x.org:80/a", "http://user@x.org/a"),
        ("http://:pw@x.org/a", "http://:pw@x.org/a"),
        # a trailing dot on the host is the same host
        ("http://x.org./a", "http://x.org/a"),
        # the empty path of a host is /, the path itself is kept as written
        ("https://x.org?id=1", "https://x.org/?id=1"),
        ("https://x.org/A/B/", "https://x.org/A/B/"),
        # a parameter without a value is kept
        ("http://x.org/a?amp&utm_source=x", "http://x.org/a?amp="),
        # each tracking prefix and name, in any case
        ("http://x.org/a?hsa_acc=1&itm_source=2&at_medium=3&k=v", "http://x.org/a?k=v"),
        ("http://x.org/a?dclid=1&gclsrc=2&yclid=3&igshid=4&mkt_tok=5", "http://x.org/a"),
        ("http://x.org/a?cmpid=1&ncid=2&ocid=3&ref_src=4&ref_url=5&k=v", "http://x.org/a?k=v"),
        ("http://x.org/a?smid=1&_ga=2&spm=3&__twitter_impression=true", "http://x.org/a"),
        ("http://x.org/a?FBCLID=1&Pk_Source=2", "http://x.org/a"),
        # only the fragment goes
        ("http://x.org/a?id=1#top", "http://x.org/a?id=1"),
        # not a URL: kept, only trimmed
        ("  not a url ", "not a url"),
        ("", ""),
        ("http://[::1/a", "http://[::1/a"),
    ],
)
def test_a_link_is_known_by_its_canonical_form(raw: str, canonical: str) -> None:
    assert canonical_url(raw) == canonical


@pytest.mark.parametrize(
    ("url", "outlet"),
    [
        ("https://www.bbc.co.uk/news/world/rss.xml", "bbc.co.uk"),
        ("https://WWW.BBC.CO.UK/x", "bbc.co.uk"),
        ("https://feeds.bbci.co.uk/news/rss.xml", "feeds.bbci.co.uk"),
        ("https://www.x.org.:8443/rss", "x.org"),
        ("  https://www.x.org/rss  ", "x.org"),
        ("https://wwwx.org/rss", "wwwx.org"),
        ("https://www.www.x.org/", "www.x.org"),  # one leading www. only
        ("file:rss.xml", "file:rss.xml"),  # no host at all
        ("http://[::1/rss", "http://[::1/rss"),  # not a URL
    ],
)
def test_a_feed_without_an_outlet_is_its_host_without_www(url: str, outlet: str) -> None:
    assert default_outlet(url) == outlet


@pytest.mark.parametrize(
    ("kw", "keys"),
    [
        # a GUID that is the link is one key
        (
            {"link": "http://x.org/a?utm_source=z", "guid": "http://x.org/a?utm_source=z"},
            ("link:http://x.org/a",),
        ),
        # a URL GUID that differs from the link is a second link
        (
            {"link": "http://x.org/a", "guid": "https://x.org/p?id=1"},
            ("link:http://x.org/a", "link:https://x.org/p?id=1"),
        ),
        # a URL GUID that is the link written otherwise is still one key
        ({"link": "http://x.org/a", "guid": "http://X.org/a#c"}, ("link:http://x.org/a",)),
        # a plain GUID is scoped to its feed, and trimmed
        ({"link": "http://x.org/a", "guid": " 123 "}, ("link:http://x.org/a", "guid:wire\x1f123")),
        # a GUID that is only URL-like is a plain GUID
        ({"guid": "ftp://x.org/a"}, ("guid:wire\x1fftp://x.org/a",)),
        ({"guid": "x.org/a"}, ("guid:wire\x1fx.org/a",)),
        ({"guid": "https://x.org/a"}, ("link:https://x.org/a",)),
    ],
)
def test_a_story_is_known_by_its_link_and_its_guid(
    kw: dict[str, str], keys: tuple[str, ...]
) -> None:
    assert identity_keys(story(**kw)) == keys


@pytest.mark.parametrize(
    ("kw", "link"),
    [
        ({"link": "HTTP://X.org/a?utm_source=z#c"}, "http://x.org/a"),
        ({"link": "http://x.org/a", "guid": "https://x.org/p"}, "http://x.org/a"),
        ({"guid": "https://x.org/p"}, None),  # a GUID is no link
        ({"guid": "123"}, None),
        ({}, None),
    ],
)
def test_a_new_story_carries_its_canonical_link(kw: dict[str, str], link: str | None) -> None:
    (fresh,) = select_new([story(**kw)], known=set())
    assert fresh.canonical_link == link


def test_a_story_any_of_whose_keys_is_known_is_not_new() -> None:
    a = story(link="http://x.org/a", guid="1")
    assert select_new([a], known={"guid:wire\x1f1"}) == []
    assert select_new([a], known={"link:http://x.org/a"}) == []
    assert [n.story for n in select_new([a], known={"guid:other\x1f1"})] == [a]
    # a later story sharing only its GUID with an earlier one of the batch is the same story
    b = story(link="http://x.org/b", guid="1")
    assert [n.story for n in select_new([a, b], known=set())] == [a]


@pytest.mark.parametrize(
    ("age", "recent"),
    [
        (timedelta(0), True),
        (timedelta(days=2), True),  # exactly max_age: still recent
        (timedelta(days=2, seconds=1), False),
        (-timedelta(hours=1), True),  # dated in the future
    ],
)
def test_a_story_is_recent_up_to_max_age_included(age: timedelta, recent: bool) -> None:
    now = datetime(2026, 1, 10, tzinfo=UTC)
    assert is_recent(story(published=now - age), now, timedelta(days=2)) is recent
