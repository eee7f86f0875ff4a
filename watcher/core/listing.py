"""Stories from an HTML listing page (a section front, a "latest news" page).

Sites that publish no feed still publish a page of links to their articles.
Without a selector from the user, an article link is told from the rest by
what it looks like on news sites: it stays on the site, its path carries a
date or a long slug, and it is not in the page's menus.  Everything else on a
page (sections, tags, authors, pagination, share buttons) is left out.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

import lxml.html
from cssselect import SelectorError
from lxml import etree

from watcher.core.dedupe import canonical_url
from watcher.core.errors import FeedError
from watcher.core.models import ParsedFeed, Story
from watcher.core.text import squeeze

# Landmarks that hold menus, not stories.  <header>, <footer> and <aside> count
# only outside an <article>: a story card's own <header> holds its headline.
_MENU_TAGS = frozenset({"nav", "menu"})
_CHROME_TAGS = frozenset({"header", "footer", "aside"})
_MENU_ROLES = frozenset({"navigation", "menu", "menubar", "search"})
_CHROME_ROLES = frozenset({"banner", "contentinfo", "complementary"})
# A class or id starting or ending with one of these words marks a menu, a share
# bar or a pager: "main-menu", "nav-links", "share-buttons", "c-pagination".
_MENU_WORDS = frozenset(
    {
        "nav", "navbar", "navigation", "menu", "submenu", "megamenu", "breadcrumb",
        "breadcrumbs", "pagination", "pager", "share", "sharing", "sharedaddy", "social",
        "skip", "skiplink", "tagcloud",
    }
)  # fmt: skip
# WordPress puts a post's taxonomy in its classes ("category-social-affairs"): not chrome.
_TAXONOMY_CLASS = ("tag-", "category-", "topic-", "section-", "format-", "status-")
_CLASS_PART = re.compile(r"[^a-z0-9]+")
# Path segments of pages that are never a story.
_JUNK_SEGMENTS = frozenset(
    {
        "tag", "tags", "author", "authors", "category", "categories", "topic", "topics",
        "page", "login", "logout", "signin", "sign-in", "signup", "sign-up", "register",
        "account", "profile", "subscribe", "subscription", "newsletter", "newsletters",
        "about", "about-us", "contact", "contact-us", "share", "search", "feed", "rss",
        "privacy", "privacy-policy", "terms", "terms-of-use", "cookies", "cookie-policy",
        "wp-login.php", "cdn-cgi",
    }
)  # fmt: skip
_JUNK_PARAMS = frozenset({"page", "paged", "share", "replytocom", "action", "s"})
_JUNK_RELS = frozenset({"tag", "category", "author", "prev", "next"})
_FILE_EXTENSIONS = re.compile(
    r"\.(?:jpe?g|png|gif|webp|svg|pdf|zip|mp3|mp4|css|js|xml|rss|json|ics)$", re.IGNORECASE
)
# Dated folders: /2024/12/03/, /2024/12/, /20241203/.
_DATE_FOLDERS = re.compile(
    r"/(?:19|20)\d\d/(?:0?[1-9]|1[0-2])/(?:(?:0?[1-9]|[12]\d|3[01])/)?"
    r"|/(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])/"
)
# A date inside a slug: 2024-12-03-rebels-take-hama.
_DATE_IN_SLUG = re.compile(r"(?:19|20)\d\d-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])")
_EXTENSION = re.compile(r"\.[a-z0-9]{2,5}$", re.IGNORECASE)
_SLUG_WORD = re.compile(r"[^\W_]+")
_MIN_SLUG_WORDS = 4
_MIN_SLUG_LENGTH = 20
_GENERIC_TEXTS = frozenset(
    {
        "read more", "more", "continue reading", "read the full story", "full story",
        "read full article", "read article", "read on", "click here", "here", "»", "→",
    }
)  # fmt: skip
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")


def selector_problem(selector: str) -> str | None:
    """What is wrong with a CSS selector, or None; for config validation."""
    try:
        lxml.html.fromstring("<p></p>").cssselect(selector)
    except SelectorError as exc:
        return f"invalid CSS selector {selector!r}: {exc}"
    return None


def listing_stories(
    feed: str, html: bytes, base_url: str, selector: str | None = None
) -> ParsedFeed:
    """Every article link on a listing page, as stories titled by their link text.

    With ``selector`` (CSS, matching the links or elements holding them) the
    user has said where the stories are, so only links that can never be a
    story are dropped.  The same link twice is one story, titled by its most
    telling text.  Which links are new is decided later by link identity.
    """
    root = _parse_html(html)
    if root is None:
        raise FeedError("not a listing page: the response holds no HTML", kind="not_a_feed")
    base = _base_url(root, base_url)
    if selector is not None:
        problem = selector_problem(selector)
        if problem is not None:
            raise FeedError(problem)
        anchors = _selected_anchors(root, selector)
    else:
        anchors = [a for a in root.iter("a") if not _in_menu(a)]
    page = canonical_url(base_url)
    site = _site(base)
    titles: dict[str, tuple[str, str]] = {}  # canonical link -> (link, title)
    for anchor in anchors:
        found = _story_link(anchor, base, page, site, heuristic=selector is None)
        if found is None:
            continue
        link, key = found
        title = squeeze(anchor.text_content())
        if not title:
            continue
        if key not in titles or _better_title(title, titles[key][1]):
            titles[key] = (titles.get(key, (link, ""))[0], title)
    stories = tuple(
        Story(feed=feed, guid=None, link=link, title=title) for link, title in titles.values()
    )
    problem = None
    if not stories:
        problem = (
            f"the selector {selector!r} matched no story links"
            if selector is not None
            else "no article links found on the page (a `selector` can say where they are)"
        )
    page_title = root.findtext(".//title") or ""
    return ParsedFeed(title=squeeze(page_title), stories=stories, problem=problem)


def _parse_html(html: bytes) -> lxml.html.HtmlElement | None:
    text = _XML_DECLARATION.sub("", _decode(html), count=1)
    if not text.strip():
        return None
    try:
        root = lxml.html.document_fromstring(text)
    except (etree.ParserError, ValueError):
        return None
    return root if isinstance(root, lxml.html.HtmlElement) else None


def _decode(html: bytes) -> str:
    """The page as text: BOM, then ``<meta charset>``, then UTF-8, else windows-1252."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16-le"),
        (codecs.BOM_UTF16_BE, "utf-16-be"),
    ):
        if html.startswith(bom):
            return html[len(bom) :].decode(codec, "replace")
    match = _META_CHARSET.search(html[:4096])
    if match is not None:
        try:
            codec = codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            codec = ""
        # A page cannot really be UTF-16 if its <meta> was readable as ASCII.
        if codec and not codec.startswith("utf-16"):
            return html.decode(codec, "replace")
    try:
        return html.decode("utf-8")
    except UnicodeDecodeError:
        return html.decode("cp1252", "replace")


def _base_url(root: lxml.html.HtmlElement, base_url: str) -> str:
    for base in root.iter("base"):
        href = _attr(base, "href").strip()
        if href:
            try:
                return urljoin(base_url, href)
            except ValueError:  # a malformed <base> (an unclosed IPv6 bracket): the page's URL
                break
    return base_url


def _attr(element: lxml.html.HtmlElement, name: str) -> str:
    return str(element.get(name) or "")


def _selected_anchors(root: lxml.html.HtmlElement, selector: str) -> list[lxml.html.HtmlElement]:
    """The links the selector names, or the links inside what it names, menus aside."""
    anchors: list[lxml.html.HtmlElement] = []
    for element in root.cssselect(selector):
        if element.tag == "a":
            anchors.append(element)
        else:
            # A selected story card may still hold a share bar or a tag list.
            anchors.extend(a for a in element.iter("a") if not _in_menu(a, within=element))
    return anchors


def _in_menu(anchor: lxml.html.HtmlElement, within: lxml.html.HtmlElement | None = None) -> bool:
    """True when the link sits in navigation, a share bar, or page-level chrome.

    With ``within``, only the elements below it are judged.
    """
    chain = [anchor, *anchor.iterancestors()]
    # inside_article[i]: some element above chain[i] is an <article>.
    inside_article = [False] * len(chain)
    for i in range(len(chain) - 2, -1, -1):
        inside_article[i] = inside_article[i + 1] or chain[i + 1].tag == "article"
    for element, in_article in zip(chain, inside_article, strict=True):
        if element is within:
            break
        role = _attr(element, "role").strip().lower()
        if element.tag in _MENU_TAGS or role in _MENU_ROLES:
            return True
        if not in_article and (element.tag in _CHROME_TAGS or role in _CHROME_ROLES):
            return True
        if _menu_class(f"{_attr(element, 'class')} {_attr(element, 'id')}"):
            return True
    return False


def _menu_class(names: str) -> bool:
    for name in names.lower().split():
        if name.startswith(_TAXONOMY_CLASS):
            continue
        parts = [part for part in _CLASS_PART.split(name) if part]
        if parts and (parts[0] in _MENU_WORDS or parts[-1] in _MENU_WORDS):
            return True
    return False


def _site(base: str) -> str:
    """The host that links must stay on (``www.`` and ``m.`` aside), for ``_same_site``."""
    try:
        host = urlsplit(base).hostname or ""
    except ValueError:  # never used: joining any link to this base fails first
        host = ""
    return _bare_host(host)


def _story_link(
    anchor: lxml.html.HtmlElement, base: str, page: str, site: str, *, heuristic: bool
) -> tuple[str, str] | None:
    """The absolute link and its canonical form if this anchor may point to a story, else None.

    ``page`` is the listing's own canonical URL, ``site`` its ``_site``.
    """
    href = _attr(anchor, "href").strip()
    if not href or "#" in href:
        return None
    rels = set(_attr(anchor, "rel").lower().split())
    if rels & _JUNK_RELS and heuristic:
        return None
    try:
        link = urljoin(base, href)
        parts = urlsplit(link)
        host = parts.hostname or ""
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    key = canonical_url(link)
    if key == page:
        return None
    path = parts.path
    segments = [s.lower() for s in path.split("/") if s]
    if not segments or _JUNK_SEGMENTS.intersection(segments) or _FILE_EXTENSIONS.search(path):
        return None
    if any(name.lower() in _JUNK_PARAMS for name, _ in parse_qsl(parts.query)):
        return None
    if not heuristic:
        return link, key
    if not _same_site(host, site):
        return None
    return (link, key) if _looks_like_article(path) else None


def _same_site(host: str, site: str) -> bool:
    """Same host, or one a subdomain of the other (``www.`` and ``m.`` aside).

    ``site`` is already bare (``_site``); ``host`` is made so here.
    """
    host = _bare_host(host)
    return host == site or host.endswith("." + site) or site.endswith("." + host)


def _bare_host(host: str) -> str:
    host = host.lower().rstrip(".")
    for prefix in ("www.", "m.", "amp."):
        if host.startswith(prefix) and host.count(".") > 1:
            return host[len(prefix) :]
    return host


def _looks_like_article(path: str) -> bool:
    """A dated path with something after the date, or a long hyphenated slug."""
    dated = _DATE_FOLDERS.search(path)
    if dated is not None and path[dated.end() :].strip("/"):
        return True
    segments = [s for s in path.split("/") if s]
    if not segments:
        return False
    last = _EXTENSION.sub("", unquote(segments[-1]))
    in_slug = _DATE_IN_SLUG.search(last)
    if in_slug is not None and _SLUG_WORD.search(last[: in_slug.start()] + last[in_slug.end() :]):
        return True
    words = _SLUG_WORD.findall(last)
    return len(words) >= _MIN_SLUG_WORDS and len(last) >= _MIN_SLUG_LENGTH


def _better_title(candidate: str, current: str) -> bool:
    """Headline text beats "Read more"; between headlines, the longer says more."""
    generic = candidate.lower().strip(" .…>»→") in _GENERIC_TEXTS or not candidate.strip(" .…>»→")
    current_generic = current.lower().strip(" .…>»→") in _GENERIC_TEXTS
    if generic != current_generic:
        return not generic
    return len(candidate) > len(current)
