"""News sites as they publish, served from loopback: JSON Feed, sitemaps, listing pages,
autodiscovery, teaser feeds read in full, and OPML in and out."""

from __future__ import annotations

import gzip
import json
import socket
import time
from pathlib import Path
from typing import Any

import httpcore
import pytest

from tests.conftest import Capture, Item, Project, rss
from tests.support.httpserver import HTTPServer

# fetching and reading sources; storage is the same
pytestmark = pytest.mark.sqlite_only

PAGES = Path(__file__).parents[1] / "data" / "pages"
OPML = Path(__file__).parents[1] / "data" / "opml" / "subscriptions.opml"
HTML = {"Content-Type": "text/html; charset=utf-8"}
XML = {"Content-Type": "application/xml"}


def follow(project: Project, capture: Capture, feed: str, query: str, extra: str = "") -> None:
    project.write(
        f"channels: {{capture: '{capture.url}'}}\n"
        f"feeds:\n  - {{name: site, url: '{feed}'{extra}}}\n"
        f"rules:\n  - {{name: r, query: '{query}', notify: [capture]}}\n"
    )


def test_json_feed_alerts_once(project: Project, server: HTTPServer, capture: Capture) -> None:
    def document(*titles: str) -> str:
        items = [
            {
                "id": f"id-{n}",
                "url": f"http://n.example/{n}",
                "title": t,
                "content_html": "<p>From the wire.</p>",
                "date_published": "2099-01-01T00:00:00Z",
            }
            for n, t in enumerate(titles)
        ]
        return json.dumps(
            {"version": "https://jsonfeed.org/version/1.1", "title": "J", "items": items}
        )

    url = server.add(
        "/feed.json",
        document("Rebels enter Hama"),
        headers={"Content-Type": "application/feed+json"},
    )
    follow(project, capture, url, "Hama AND rebels")
    project.run("once")
    server.add("/feed.json", document("Rebels enter Hama", "Weather in Cairo"))
    project.run("once")
    assert capture.count("Rebels enter Hama") == 1 and len(capture.messages()) == 1


def urlset(*entries: tuple[str, str]) -> str:
    urls = "".join(
        f"<url><loc>{loc}</loc><news:news><news:publication><news:name>Courier</news:name>"
        f"<news:language>en</news:language></news:publication>"
        f"<news:publication_date>2099-01-01T00:00:00Z</news:publication_date>"
        f"<news:title>{title}</news:title></news:news></url>"
        for loc, title in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9" '
        'xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">' + urls + "</urlset>"
    )


def test_news_sitemap_alerts_once(project: Project, server: HTTPServer, capture: Capture) -> None:
    url = server.add(
        "/sitemap-news.xml", urlset(("http://n.example/a", "Rebels near Hama")), headers=XML
    )
    follow(project, capture, url, "Hama AND rebels")
    project.run("once")
    server.add(
        "/sitemap-news.xml",
        urlset(("http://n.example/a", "Rebels near Hama"), ("http://n.example/b", "Cairo talks")),
        headers=XML,
    )
    project.run("once")
    assert capture.count("Rebels near Hama") == 1 and len(capture.messages()) == 1


def test_sitemap_index_is_followed_to_its_newest_children_gzipped_or_not(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    fresh = server.add(
        "/s/fresh.xml.gz",
        gzip.compress(urlset(("http://n.example/1", "Rebels take Hama airport")).encode()),
        headers={"Content-Type": "application/x-gzip"},
    )
    recent = server.add(
        "/s/recent.xml", urlset(("http://n.example/2", "Rebels shell Hama")), headers=XML
    )
    stale = server.add(
        "/s/2019.xml", urlset(("http://n.example/3", "Rebels in Hama, 2019")), headers=XML
    )
    children = [(fresh, "2099-01-03"), (stale, "2019-01-01"), (recent, "2099-01-02")]
    children += [
        (server.add(f"/s/old-{n}.xml", urlset(), headers=XML), f"2018-01-0{n}") for n in range(1, 4)
    ]
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<sitemap><loc>{u}</loc><lastmod>{d}</lastmod></sitemap>" for u, d in children)
        + "</sitemapindex>"
    )
    url = server.add("/sitemap.xml", index, headers=XML)
    follow(project, capture, url, "Hama AND rebels")
    project.run("once")
    assert capture.count("Rebels take Hama airport") == 1
    assert capture.count("Rebels shell Hama") == 1
    assert capture.count("2019") == 1  # third newest: still within the three followed
    assert server.hits("/s/old-1.xml") == []  # older children are not fetched
    server.add("/sitemap.xml", index + " ", headers=XML)
    project.run("once")
    assert len(capture.messages()) == 3


LISTING = """<!doctype html><html><head><title>World</title></head><body>
<header><nav class="main-menu">
  <a href="/">Home</a> <a href="/world/">World</a>
  <a href="/2024/01/01/hama-rebels-explained-a-guide-to-the-war/">Hama rebels explained</a>
</nav></header>
<main>
  <article><h2><a href="/2024/12/03/rebels-advance-on-hama-after-night-of-fighting/">
    Rebels advance on Hama after night of fighting</a></h2></article>
  <article><h2><a href="/2024/12/03/ceasefire-talks-resume-in-doha/">Ceasefire talks resume in
    Doha</a></h2></article>
  {extra}
  <a href="/tag/hama-rebels/">Hama rebels</a> <a href="/page/2/">Older stories</a>
</main>
<footer><a href="/about/">About</a>
  <a href="/author/hama-rebels-desk/">Hama rebels desk</a></footer>
</body></html>"""


def test_listing_page_links_are_stories_and_navigation_is_not(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = server.add("/world/", LISTING.replace("{extra}", ""), headers=HTML)
    follow(project, capture, url, "Hama AND rebel*", ", type: html")
    project.run("once")
    assert capture.count("Rebels advance on Hama after night of fighting") == 1
    assert len(capture.messages()) == 1  # not the menu, tag, author or pagination links

    newer = '<article><h2><a href="/2024/12/04/rebels-reach-hama-citadel-walls/">Rebels reach Hama citadel walls</a></h2></article>'  # noqa: E501
    server.add("/world/", LISTING.replace("{extra}", newer), headers=HTML)
    project.run("once")
    assert capture.count("Rebels reach Hama citadel walls") == 1
    assert len(capture.messages()) == 2  # the re-polled page yields only the new link


def test_a_home_page_that_advertises_its_feed_is_followed_through_it(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    feed = server.add("/feeds/all.xml", rss(Item("Rebels enter Hama", "http://n.example/1", "1")))
    home = server.add(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml" href="/feeds/all.xml">'
        "</head><body><h1>Gazette</h1></body></html>",
        headers=HTML,
    )
    follow(project, capture, home, "Hama AND rebels")
    assert project.run("once").exit_code == 0
    project.run("once")
    assert capture.count("Rebels enter Hama") == 1
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["polled_url"] == feed and row["last_error"] is None
    assert len(server.hits("/")) == 1  # from then on the feed itself is polled


ARTICLE = (PAGES / "courier-article.html").read_bytes()  # "rebels" only in paragraph 4


def teaser_site(server: HTTPServer, *, hang: bool = False) -> str:
    article = "/2024/12/03/government-lines-give-way-north-of-the-capital/"
    server.add(article, ARTICLE, headers=HTML)
    items = [
        Item(
            "Government lines give way north of the capital",
            server.url(article),
            "1",
            summary="The army fell back overnight. Read more",
        )
    ]
    if hang:
        server.add("/slow-article/", handler=lambda handler: time.sleep(20))
        items.append(
            Item(
                "Rebels hold the bridge",
                server.url("/slow-article/"),
                "2",
                summary="Rebels held the bridge. Read more",
            )
        )
    return server.add("/teasers.xml", rss(*items))


def test_full_text_matches_a_word_only_in_the_article_body(
    project: Project, server: HTTPServer, capture: Capture, tmp_path: Path
) -> None:
    url = teaser_site(server)
    without = Project(tmp_path / "without")
    without.root.mkdir()
    follow(without, capture, url, "rebels")
    without.run("once")
    assert capture.messages() == []  # the teaser alone does not say "rebels"

    follow(project, capture, url, "rebels", ", full_text: true")
    project.run("once")
    project.run("once")
    assert capture.count("Government lines give way") == 1
    article_path = "/2024/12/03/government-lines-give-way-north-of-the-capital/"
    assert len(server.hits(article_path)) == 1  # fetched once, for the new story only


def test_a_word_only_in_the_related_list_never_alerts(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    assert b"avalanche" in ARTICLE  # it is on the page, in the "Related" list
    # A second rule, on a channel of its own, proves the page was read in full.
    body_capture = Capture(server, "/body-alerts")
    project.write(
        f"channels: {{capture: '{capture.url}', body: '{body_capture.url}'}}\n"
        f"feeds:\n  - {{name: site, url: '{teaser_site(server)}', full_text: true}}\n"
        "rules:\n"
        "  - {name: related, query: avalanche, notify: [capture]}\n"
        "  - {name: body, query: rebels, notify: [body]}\n"
    )
    assert project.run("once").exit_code == 0
    assert capture.messages() == []
    article_path = "/2024/12/03/government-lines-give-way-north-of-the-capital/"
    assert len(server.hits(article_path)) == 1
    # "rebels" is only in the article body (not the teaser): it alerts, so the text was there.
    assert body_capture.count("Government lines give way") == 1
    assert len(body_capture.messages()) == 1


def test_a_page_that_times_out_does_not_hold_back_the_other_stories(
    project: Project, server: HTTPServer, capture: Capture
) -> None:
    url = teaser_site(server, hang=True)
    follow(project, capture, url, "rebels", ", full_text: true, fetch: {deadline: 2s}")
    started = time.monotonic()
    result = project.run("once")
    assert time.monotonic() - started < 10
    assert result.exit_code == 0
    assert capture.count("Government lines give way") == 1  # from its full text
    assert capture.count("Rebels hold the bridge") == 1  # from its teaser: page failed
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"] is None and "full text: 1 of 2 pages failed" in row["problem"]


def test_opml_import_keeps_comments_and_export_lists_every_feed(project: Project) -> None:
    project.write(
        "# my watcher config: do not lose this comment\n"
        "feeds:\n"
        "  - name: existing  # hand-written\n"
        "    url: https://www.aljazeera.com/xml/rss/all.xml\n"
        "rules:\n"
        "  - {name: hama, query: Hama}\n"
    )
    result = project.run("import-opml", str(OPML), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["added"]
    text = project.config.read_text()
    assert "# my watcher config: do not lose this comment" in text
    assert "# hand-written" in text
    assert project.run("validate").exit_code == 0

    exported = project.run("export-opml").stdout
    config_urls = [line.split("url:")[1].strip() for line in text.splitlines() if "url:" in line]
    assert len(config_urls) == len(report["added"]) + 1
    for url in config_urls:
        assert url.strip("'\"").replace("&", "&amp;") in exported
    assert exported.startswith("<?xml") and '<opml version="2.0">' in exported


def test_discover_lists_feeds_and_sitemaps(server: HTTPServer, project: Project) -> None:
    home = server.add(
        "/",
        '<html><head><link rel="alternate" type="application/atom+xml" href="/atom.xml">'
        '<link rel="alternate" type="application/feed+json" href="/feed.json"></head></html>',
        headers=HTML,
    )
    server.add(
        "/robots.txt",
        "User-agent: *\nSitemap: /sitemap-news.xml\n",
        headers={"Content-Type": "text/plain"},
    )
    result = project.run("discover", home, "--json")
    assert result.exit_code == 0
    found = json.loads(result.stdout)
    assert found["feeds"] == [server.url("/atom.xml"), server.url("/feed.json")]
    assert found["sitemaps"] == [server.url("/sitemap-news.xml")]


# ---------------------------------------------------------------- untrusted links

INTRANET = {"intranet.test": ["10.0.0.5"]}


class FakeResolver:
    async def resolve(self, host: str) -> list[str]:
        if host not in INTRANET:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return INTRANET[host]


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Names resolve through ``INTRANET`` only, and every address connected to is
    recorded; one outside loopback is refused before a socket is opened."""
    monkeypatch.setattr("watcher.netguard.default_resolver", FakeResolver)
    asked: list[tuple[str, int]] = []
    original = httpcore.AnyIOBackend.connect_tcp

    async def connect_tcp(self: Any, host: str, port: int, **kwargs: Any) -> Any:
        asked.append((host, port))
        if not host.startswith("127."):
            raise httpcore.ConnectError(f"the test refuses to leave loopback ({host})")
        return await original(self, host, port, **kwargs)

    monkeypatch.setattr(httpcore.AnyIOBackend, "connect_tcp", connect_tcp)
    return asked


REFUSED = "refused: intranet.test is 10.0.0.5, a private address"


def intranet_teasers(server: HTTPServer) -> str:
    """A loopback feed: one article on loopback, one on an intranet host (10.0.0.5)."""
    url = teaser_site(server)
    article = "/2024/12/03/government-lines-give-way-north-of-the-capital/"
    items = [
        Item(
            "Government lines give way north of the capital",
            server.url(article),
            "1",
            summary="The army fell back overnight. Read more",
        ),
        Item(
            "Rebels plan the next push",
            "http://intranet.test/wiki/rebels-plan",
            "2",
            summary="Rebels plan the next push. Read more",
        ),
    ]
    server.add("/teasers.xml", rss(*items))
    return url


def test_a_full_text_link_into_the_local_network_is_refused_and_the_rest_still_alerts(
    project: Project, server: HTTPServer, capture: Capture, connects: list[tuple[str, int]]
) -> None:
    follow(project, capture, intranet_teasers(server), "rebels", ", full_text: true")
    assert project.run("once").exit_code == 0
    assert capture.count("Government lines give way") == 1  # from its full text
    assert capture.count("Rebels plan the next push") == 1  # from its teaser only
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"] is None
    assert row["problem"].startswith(
        "full text: 1 of 2 pages failed (http://intranet.test/wiki/rebels-plan: " + REFUSED
    )
    assert "fetch.allow_private: true" in row["problem"]
    assert all(host == "127.0.0.1" for host, _ in connects)  # 10.0.0.5 never asked


@pytest.mark.parametrize(
    "where", ["feed", "global"], ids=["per-feed allow_private", "global allow_private"]
)
def test_allow_private_lets_the_link_through(
    project: Project,
    server: HTTPServer,
    capture: Capture,
    connects: list[tuple[str, int]],
    where: str,
) -> None:
    url = intranet_teasers(server)
    extra = ", full_text: true" + (", fetch: {allow_private: true}" if where == "feed" else "")
    follow(project, capture, url, "rebels", extra)
    if where == "global":
        project.write(project.config.read_text() + "fetch: {allow_private: true}\n")
    assert project.run("once").exit_code == 0
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert REFUSED not in row["problem"]  # let through: only the (fake) network fails it
    assert ("10.0.0.5", 80) in connects


def test_an_advertised_feed_in_the_local_network_is_refused(
    project: Project, server: HTTPServer, capture: Capture, connects: list[tuple[str, int]]
) -> None:
    home = server.add(
        "/",
        '<html><head><link rel="alternate" type="application/rss+xml"'
        ' href="http://intranet.test/feeds/all.xml"></head><body>Gazette</body></html>',
        headers=HTML,
    )
    follow(project, capture, home, "rebels")
    project.run("once")
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"].startswith(
        "not a feed: an HTML page (it advertises http://intranet.test/feeds/all.xml,"
        " which failed: " + REFUSED
    )
    assert row["polled_url"] == home
    assert all(host == "127.0.0.1" for host, _ in connects)


def test_a_sitemap_child_in_the_local_network_is_refused_and_the_others_are_read(
    project: Project, server: HTTPServer, capture: Capture, connects: list[tuple[str, int]]
) -> None:
    child = server.add(
        "/s/today.xml", urlset(("http://n.example/1", "Rebels take Hama airport")), headers=XML
    )
    children = [(child, "2099-01-02"), ("http://intranet.test/s/secret.xml", "2099-01-03")]
    index = (
        '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        + "".join(f"<sitemap><loc>{u}</loc><lastmod>{d}</lastmod></sitemap>" for u, d in children)
        + "</sitemapindex>"
    )
    follow(project, capture, server.add("/sitemap.xml", index, headers=XML), "Hama AND rebels")
    project.run("once")
    assert capture.count("Rebels take Hama airport") == 1
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"] is None
    assert row["problem"].startswith("child sitemap http://intranet.test/s/secret.xml: " + REFUSED)
    assert all(host == "127.0.0.1" for host, _ in connects)


def test_a_redirect_of_the_feed_into_the_local_network_is_refused(
    project: Project, server: HTTPServer, capture: Capture, connects: list[tuple[str, int]]
) -> None:
    url = server.add("/feed.xml", status=302, headers={"Location": "http://intranet.test/feed"})
    follow(project, capture, url, "rebels")
    project.run("once")
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"].startswith(
        "refused the redirect to http://intranet.test/feed: intranet.test is 10.0.0.5,"
    )
    assert all(host == "127.0.0.1" for host, _ in connects)


def test_a_listing_link_into_the_local_network_is_a_story_but_its_page_is_refused(
    project: Project, server: HTTPServer, capture: Capture, connects: list[tuple[str, int]]
) -> None:
    listing = (
        "<html><body><main>"
        '<a class="story" href="http://intranet.test/2024/12/04/rebels-reach-hama/">'
        "Rebels reach Hama</a></main></body></html>"
    )
    url = server.add("/world/", listing, headers=HTML)
    follow(project, capture, url, "Hama", ", type: html, links: 'a.story', full_text: true")
    assert project.run("once").exit_code == 0
    assert capture.count("Rebels reach Hama") == 1  # on its link text
    (row,) = json.loads(project.run("feeds", "--json").stdout)
    assert row["last_error"] is None
    assert REFUSED in row["problem"]
    assert all(host == "127.0.0.1" for host, _ in connects)
