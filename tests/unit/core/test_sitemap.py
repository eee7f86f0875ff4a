"""Sitemaps as news sites publish them: indexes of daily parts, gzip bodies, robots.txt."""

from __future__ import annotations

import gzip
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from watcher.core.errors import FeedError
from watcher.core.parse import parse_feed
from watcher.core.sitemap import maybe_gunzip, robots_sitemaps, sitemap_children

CORPUS = Path(__file__).resolve().parents[4] / "shared" / "corpus" / "feeds"
if not CORPUS.is_dir():
    CORPUS = Path(os.environ.get("WATCHER_CORPUS", "/nonexistent")) / "feeds"
MB = 1024 * 1024

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.example.org/sitemaps/static.xml</loc></sitemap>
  <sitemap>
    <loc>https://news.example.org/sitemaps/2024-12-01.xml.gz</loc>
    <lastmod>2024-12-01T23:59:00+00:00</lastmod>
  </sitemap>
  <sitemap>
    <loc>https://news.example.org/sitemaps/2024-12-03.xml.gz</loc>
    <lastmod>2024-12-03T08:15:00+01:00</lastmod>
  </sitemap>
  <sitemap><loc>https://news.example.org/sitemaps/authors.xml</loc></sitemap>
  <sitemap>
    <loc>https://news.example.org/sitemaps/2024-12-02.xml.gz</loc>
    <lastmod>2024-12-02</lastmod>
  </sitemap>
  <sitemap>
    <loc>https://news.example.org/sitemaps/2024-12-03-late.xml.gz</loc>
    <lastmod>2024-12-03T07:30Z</lastmod>
  </sitemap>
</sitemapindex>
"""


def test_an_index_is_followed_to_its_newest_children_first() -> None:
    # 08:15+01:00 is 07:15 UTC, earlier than 07:30Z: offsets are honoured.
    assert sitemap_children(INDEX, limit=3) == [
        "https://news.example.org/sitemaps/2024-12-03-late.xml.gz",
        "https://news.example.org/sitemaps/2024-12-03.xml.gz",
        "https://news.example.org/sitemaps/2024-12-02.xml.gz",
    ]


def test_children_without_lastmod_come_last_in_document_order() -> None:
    children = sitemap_children(INDEX, limit=10)
    assert len(children) == 6
    assert children[-2:] == [
        "https://news.example.org/sitemaps/static.xml",
        "https://news.example.org/sitemaps/authors.xml",
    ]


def test_the_number_of_children_followed_is_bounded() -> None:
    assert len(sitemap_children(INDEX)) == 3
    assert sitemap_children(INDEX, limit=1) == [
        "https://news.example.org/sitemaps/2024-12-03-late.xml.gz"
    ]
    assert sitemap_children(INDEX, limit=0) == []


def test_an_index_without_namespace_and_with_junk_is_still_read() -> None:
    body = b"""<sitemapindex>
      <sitemap><loc> https://a.example/one.xml </loc><lastmod>not a date</lastmod></sitemap>
      <sitemap><loc>https://a.example/one.xml</loc></sitemap>
      <sitemap><loc>/relative.xml</loc></sitemap>
      <sitemap><loc>ftp://a.example/two.xml</loc></sitemap>
      <sitemap><lastmod>2024-12-03</lastmod></sitemap>
    </sitemapindex>"""
    assert sitemap_children(body) == ["https://a.example/one.xml"]


@pytest.mark.parametrize(
    "body",
    [
        b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>https://a.example/x</loc></url></urlset>',
        b"<rss version='2.0'><channel><title>x</title></channel></rss>",
        b"<html><body>Not found</body></html>",
        b"",
        b"\x1f\x8b\x08garbage",
    ],
)
def test_anything_but_an_index_has_no_children(body: bytes) -> None:
    assert sitemap_children(body) == []


def test_an_index_cannot_read_local_files_through_entities(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    body = f"""<?xml version="1.0"?>
<!DOCTYPE sitemapindex [<!ENTITY secret SYSTEM "{secret.as_uri()}">]>
<sitemapindex><sitemap><loc>https://a.example/&secret;.xml</loc></sitemap></sitemapindex>"""
    assert sitemap_children(body.encode()) == ["https://a.example/.xml"]


def test_a_gzip_sitemap_is_decompressed() -> None:
    body = b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"></urlset>'
    assert maybe_gunzip(gzip.compress(body), limit=MB) == body


def test_a_body_that_is_not_gzip_is_returned_as_is() -> None:
    body = b"<urlset/>"
    assert maybe_gunzip(body, limit=4) is body  # even beyond the limit: it is not inflated


def test_a_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip.compress(b"\0" * (64 * MB))  # about 64 KB on the wire
    started = time.perf_counter()
    with pytest.raises(FeedError, match=r"sitemap larger than 1 MB when decompressed"):
        maybe_gunzip(bomb, limit=MB)
    assert time.perf_counter() - started < 1.0


def test_the_limit_is_exact() -> None:
    body = b"x" * 1000
    assert maybe_gunzip(gzip.compress(body), limit=1000) == body
    with pytest.raises(FeedError, match="larger than"):
        maybe_gunzip(gzip.compress(body), limit=999)


def test_gzip_members_one_after_another_are_all_read() -> None:
    assert maybe_gunzip(gzip.compress(b"<a>") + gzip.compress(b"</a>"), limit=MB) == b"<a></a>"
    with pytest.raises(FeedError, match="larger than"):
        maybe_gunzip(gzip.compress(b"x" * 600) + gzip.compress(b"y" * 600), limit=1000)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (gzip.compress(b"<urlset></urlset>" * 100)[:-30], "truncated"),
        (b"\x1f\x8b\x08\x00" + b"\xff" * 40, "corrupt gzip"),
    ],
)
def test_broken_gzip_is_an_error_in_words(body: bytes, message: str) -> None:
    with pytest.raises(FeedError, match=message):
        maybe_gunzip(body, limit=MB)


def test_a_gzipped_news_sitemap_gives_titles_and_dates() -> None:
    sitemap = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
  <url>
    <loc>https://news.example.org/2024/12/03/rebels-advance-on-hama/</loc>
    <lastmod>2024-12-03T09:00:00Z</lastmod>
    <news:news>
      <news:publication><news:name>Courier</news:name><news:language>en</news:language></news:publication>
      <news:publication_date>2024-12-03T06:45:00+00:00</news:publication_date>
      <news:title>Rebels advance on Hama</news:title>
    </news:news>
  </url>
  <url><loc>https://news.example.org/2024/12/02/storm/</loc><lastmod>2024-12-02</lastmod></url>
</urlset>"""
    body = maybe_gunzip(gzip.compress(sitemap), limit=MB)
    parsed = parse_feed("courier", body, content_type="application/x-gzip", url="https://x/s.gz")
    first, second = parsed.stories
    assert first.title == "Rebels advance on Hama"
    assert first.published == datetime(2024, 12, 3, 6, 45, tzinfo=UTC)
    assert second.published == datetime(2024, 12, 2, tzinfo=UTC)  # from lastmod


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_real_sitemaps_give_links_and_dates() -> None:
    for name in ("hebdenbridgetimes-1.xml", "nytimes-2.xml", "shinpaideshou-1.xml"):
        raw = (CORPUS / name).read_bytes()
        body = maybe_gunzip(gzip.compress(raw), limit=50 * MB)
        assert body == raw
        assert sitemap_children(body) == []  # a <urlset>, not an index
        stories = parse_feed("real", body, content_type="text/xml", url="https://x/").stories
        assert stories, name
        assert all(s.link and s.link.startswith("http") for s in stories), name
        assert all(s.published is not None for s in stories), name
    news = parse_feed(
        "nyt", (CORPUS / "nytimes-2.xml").read_bytes(), content_type=None, url="https://x/"
    )
    assert all(s.title for s in news.stories)


@pytest.mark.skipif(not CORPUS.is_dir(), reason="shared corpus not available")
def test_a_real_gzip_body_saved_undecompressed_is_read() -> None:
    raw = (CORPUS / "gzip-rdf-ja-1.xml").read_bytes()
    body = maybe_gunzip(raw, limit=50 * MB)
    assert body != raw
    parsed = parse_feed("ja", body, content_type=None, url="https://x/")
    assert parsed.stories


ROBOTS = """\ufeffUser-agent: *
Disallow: /search
# Sitemap: https://news.example.org/commented-out.xml

Sitemap: https://news.example.org/sitemap_index.xml
SITEMAP:https://news.example.org/news-sitemap.xml   # Google News
User-agent: Googlebot-News
sitemap: /relative-sitemap.xml
Sitemap: https://news.example.org/sitemap_index.xml
Sitemap: ftp://news.example.org/old.xml
Sitemap:
"""


def test_robots_txt_names_the_sitemaps() -> None:
    assert robots_sitemaps(ROBOTS, "https://news.example.org/robots.txt") == [
        "https://news.example.org/sitemap_index.xml",
        "https://news.example.org/news-sitemap.xml",
        "https://news.example.org/relative-sitemap.xml",
    ]


def test_robots_txt_without_sitemaps_names_none() -> None:
    assert robots_sitemaps("User-agent: *\nDisallow:\n", "https://a.example/robots.txt") == []
    assert robots_sitemaps("", "https://a.example/robots.txt") == []
