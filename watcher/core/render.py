"""Turn alerts into the messages a channel is sent, safely, in the channel's own format.

Formats, and how a matched word is highlighted in each:

- ``text``: plain text; matched words in ``[brackets]`` (no markup to rely on).
- ``html``: an HTML e-mail body with a plain-text alternative in ``Message.text_body``;
  matched words in ``<b>``. The title is the e-mail subject, so it stays plain text.
- ``telegram``: Telegram's HTML subset (b, i, a href, code, pre...); matched words in
  ``<b>``. Split into messages of at most 4,096 UTF-16 units of visible text each.
- ``markdown``: CommonMark; matched words in ``**bold**``.

Feed text (titles, outlet names, snippets) is never trusted: it is escaped for the
target format (Jinja autoescape for html and telegram, backslash escapes for
markdown), stripped of control and bidi-override characters, and only ``http(s)``
links are ever made clickable or shown. User templates (Jinja2 sources keyed
``"alert.<format>"`` / ``"digest.<format>"``) get the same pre-cleaned values, so an
override cannot forget to escape.

Feed text is also never trusted to be short: before it is escaped, every value a
template sees is cut to a size cap (``MAX_TITLE``, ``MAX_SNIPPET``, ``MAX_ALERT``) at
a word, with an ellipsis, the link always kept whole; a Telegram alert is at most
``MAX_TELEGRAM_MESSAGES`` messages and a title (an e-mail subject) at most
``MAX_SUBJECT`` characters. Cutting before escaping means a cut never falls inside
an entity, a tag or a Markdown escape, and caps hold for user templates too.
"""

from __future__ import annotations

import html as _html
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final, Literal, get_args

import jinja2
from markupsafe import Markup, escape

from watcher.core.dates import as_utc
from watcher.core.errors import WatcherError
from watcher.core.models import Alert, Snippet
from watcher.core.text import squeeze

Format = Literal["text", "html", "telegram", "markdown"]
FORMATS: Final[tuple[Format, ...]] = get_args(Format)
KINDS: Final = ("alert", "digest")
TELEGRAM_LIMIT: Final = 4096

# -- size caps, in characters of cleaned feed text before escaping ------------------

# A headline that is longer is not a headline; 300 holds any real one in any script.
MAX_TITLE: Final = 300
# The snippet is context around the matched words: three times the matcher's window.
MAX_SNIPPET: Final = 600
# All the feed text one alert (or digest entry) hands a template, link included: with
# the default template's own text, one Telegram message (4,096) for Latin text.
MAX_ALERT: Final = 4000
# Message.title, the e-mail subject: clients show ~80; under Apprise's 250 title cap.
MAX_SUBJECT: Final = 200
# A Telegram alert splits at 4,096 UTF-16 units; more than two is a template gone wrong.
MAX_TELEGRAM_MESSAGES: Final = 2
# A longer link is dropped, not cut (a cut link leads elsewhere); 2,048 is the
# longest URL sitemaps and many servers accept.
MAX_LINK: Final = 2048
ELLIPSIS: Final = "…"


@dataclass(frozen=True, slots=True)
class Message:
    """One message for one channel, ready for ``Apprise.notify``.

    ``title`` is plain text (an e-mail subject, a push title). For ``telegram`` it is
    always empty: Telegram has no title field and Apprise would splice the title
    into the HTML body unescaped, so the title is rendered inside ``body`` instead.
    ``text_body`` is the plain-text alternative of an ``html`` body.
    """

    title: str
    body: str
    format: Format
    text_body: str | None = None


# -- cleaning feed text ------------------------------------------------------------

# C0/C1 controls (but not tab/newline, which fold into spaces below) and the bidi
# overrides and isolates that can make a title read as something else.
_INVISIBLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"\s+")
# Characters that may not appear raw in a URL inside an attribute or Markdown link.
_URL_UNSAFE = re.compile(r"[\x00-\x20\"<>\\^`{|}\x7f]")
_MD_URL_UNSAFE = re.compile(r"[()]")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~])")


def _clean(text: str) -> str:
    """One line of feed text: no controls, whitespace runs folded to one space."""
    return squeeze(_INVISIBLE.sub("", text))


# Characters that belong to the one before them: a cut between them would split what
# the reader sees as one letter or one emoji.
_JOINERS: Final = frozenset("\u200c\u200d\ufe0e\ufe0f")


def _cut_at(text: str, limit: int) -> int | None:
    """How many characters of ``text`` to keep so that they and an ellipsis fit ``limit``.

    None when the text fits as it is. The cut is at the last space that leaves room
    (``text`` is cleaned: its only whitespace is single spaces), with trailing
    ``,;:`` dropped; only a single word longer than ``limit`` is cut between
    characters, and then not before a combining mark or a joiner.
    """
    if len(text) <= limit:
        return None
    end = limit - len(ELLIPSIS)
    if end <= 0:
        return 0
    if text[end] != " ":
        space = text.rfind(" ", 0, end)
        if space > 0:
            end = space
        else:
            while end > 1 and (
                unicodedata.combining(text[end])
                or text[end] in _JOINERS
                or text[end - 1] in _JOINERS
            ):
                end -= 1
    return len(text[:end].rstrip(" ,;:")) or end


def cut(text: str, limit: int) -> str:
    """``text`` if it fits ``limit`` characters, else its head cut at a word plus "…"."""
    at = _cut_at(text, limit)
    if at is None:
        return text
    return text[:at] + ELLIPSIS if limit >= len(ELLIPSIS) else ""


def safe_link(url: str | None) -> str | None:
    """The URL if it is an absolute http(s) link, made safe to quote; else None.

    Anything else (``javascript:``, ``data:``, relative or malformed) is dropped
    rather than shown, so no format ever offers it as something to click.
    """
    if not url:
        return None
    url = _INVISIBLE.sub("", url).strip()
    scheme, sep, rest = url.partition(":")
    if not sep or scheme.lower() not in ("http", "https") or not rest.startswith("//"):
        return None
    host = rest[2:].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    if not host.rsplit("@", 1)[-1]:
        return None
    return scheme.lower() + ":" + _URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", rest)


def _escaper(fmt: Format) -> Callable[[str], str]:
    """What makes cleaned feed text safe in ``fmt`` before a template sees it.

    Only markdown needs it: html and telegram templates autoescape, text is text.
    """
    return _md_escape if fmt == "markdown" else _as_is


def _as_is(text: str) -> str:
    return text


def _md_escape(text: str) -> str:
    """Backslash-escape CommonMark punctuation and entity-escape ``& < >``.

    ``<`` must never reach a Markdown renderer raw: Markdown passes inline HTML through.
    """
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _utc(when: datetime | None) -> str:
    """Readable UTC time; a naive datetime is taken to be UTC already."""
    if when is None:
        return ""
    return as_utc(when).strftime("%Y-%m-%d %H:%M UTC")


def _segments(snippet: Snippet) -> list[tuple[str, bool]]:
    """The snippet as (text, marked) pieces: marks clipped and merged, whitespace folded.

    Whitespace at the edges of a mark moves outside it (``** word**`` is not bold).
    """
    text = snippet.text
    spans = sorted((max(0, s), min(len(text), e)) for s, e in snippet.marks)
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    raw: list[tuple[str, bool]] = []
    pos = 0
    for s, e in merged:
        inner = _INVISIBLE.sub("", text[s:e])
        core = inner.strip()
        lead = inner[: len(inner) - len(inner.lstrip())]
        trail = inner[len(inner.rstrip()) :]
        raw += [(text[pos:s], False), (lead, False), (core, True), (trail, False)]
        pos = e
    raw.append((text[pos:], False))
    pieces: list[tuple[str, bool]] = []
    for piece, marked in raw:
        piece = _INVISIBLE.sub("", piece)
        if not piece:
            continue
        if pieces and pieces[-1][1] == marked:
            pieces[-1] = (pieces[-1][0] + piece, marked)
        else:
            pieces.append((piece, marked))
    out: list[tuple[str, bool]] = []
    for piece, marked in pieces:
        piece = _SPACE.sub(" ", piece)
        if not out:
            piece = piece.lstrip(" ")
        if piece:
            out.append((piece, marked))
    while out and not out[-1][0].rstrip():
        out.pop()
    if out:
        out[-1] = (out[-1][0].rstrip(), out[-1][1])
    return out


def _cut_pieces(pieces: list[tuple[str, bool]], limit: int) -> list[tuple[str, bool]]:
    """The snippet pieces cut as ``cut`` cuts their text, and the marks with them.

    Marks wholly past the cut go, a mark the cut falls inside keeps the words before
    it, and the ellipsis is never bold.
    """
    at = _cut_at("".join(t for t, _ in pieces), limit)
    if at is None:
        return pieces
    out: list[tuple[str, bool]] = []
    pos = 0
    for piece, marked in pieces:
        if pos >= at:
            break
        out.append((piece[: at - pos], marked))
        pos += len(piece)
    if limit < len(ELLIPSIS):
        return out
    if out and not out[-1][1]:
        return [*out[:-1], (out[-1][0] + ELLIPSIS, False)]
    return [*out, (ELLIPSIS, False)]


def _highlight(pieces: list[tuple[str, bool]], fmt: Format) -> str:
    if fmt in ("html", "telegram"):
        return Markup("").join(
            Markup("<b>{}</b>").format(t) if marked else escape(t) for t, marked in pieces
        )
    if fmt == "markdown":
        return "".join(f"**{_md_escape(t)}**" if m else _md_escape(t) for t, m in pieces)
    return "".join(f"[{t}]" if marked else t for t, marked in pieces)


# -- what templates see ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as templates see it: every field cleaned and, where needed, pre-escaped.

    For html/telegram the strings are raw (autoescape escapes them) except ``snippet``,
    which is markup already; for markdown every field is already escaped.
    """

    rule: str
    feed: str
    title: str
    link: str | None
    published: str
    published_at: datetime | None
    snippet: str
    also_reported_by: tuple[str, ...]
    # A corroborated alert: each outlet with when it first reported ("BBC 10:02 UTC"),
    # and how many there were.
    reported_by: tuple[str, ...] = ()
    outlets: int = 0


@dataclass(frozen=True, slots=True)
class GroupView:
    """One rule's alerts in a digest, newest first."""

    rule: str
    alerts: tuple[AlertView, ...]


def _link(url: str | None) -> str | None:
    link = safe_link(url)
    return link if link is not None and len(link) <= MAX_LINK else None


def _names(names: Sequence[str], room: int) -> tuple[str, ...]:
    """Outlet names (each cut to a title) joined by ", " within ``room``, then "N more"."""
    cleaned = [cut(n, MAX_TITLE) for n in map(_clean, names) if n]
    if len(", ".join(cleaned)) <= room:
        return tuple(cleaned)
    more = len(f", {len(cleaned)} more")
    kept: list[str] = []
    used = 0
    for name in cleaned:
        step = len(name) + (2 if kept else 0)
        if used + step + more > room:
            break
        kept.append(name)
        used += step
    return (*kept, f"{len(cleaned) - len(kept)} more")


@dataclass(frozen=True, slots=True)
class _Capped:
    """An alert's feed text, cleaned and cut to the caps, not yet escaped."""

    rule: str
    feed: str
    title: str
    link: str | None
    published: str
    snippet: list[tuple[str, bool]]
    also_reported_by: tuple[str, ...]
    reported_by: tuple[str, ...] = ()


def _capped(alert: Alert) -> _Capped:
    """The alert's text within the caps: the link whole, then each field in turn.

    Every field gets at most its own cap and at most what ``MAX_ALERT`` has left, in
    this order: link, time, title, rule, outlet, snippet, other outlets.
    """
    link = _link(alert.link)
    published = _utc(alert.published)
    room = MAX_ALERT - len(link or "") - len(published)

    def take(text: str, cap: int) -> str:
        nonlocal room
        text = cut(text, max(0, min(cap, room)))
        room -= len(text)
        return text

    title = take(_clean(alert.title) or "(untitled)", MAX_TITLE)
    rule = take(_clean(alert.rule), MAX_TITLE)
    feed = take(_clean(alert.feed), MAX_TITLE)
    snippet = _cut_pieces(_segments(alert.snippet), max(0, min(MAX_SNIPPET, room)))
    room -= sum(len(t) for t, _ in snippet)
    reported = _names([f"{o} {_utc(at)}" for o, at in alert.reported_by], max(0, room))
    room -= len(", ".join(reported))
    also = () if reported else _names(alert.also_reported_by, max(0, room))
    return _Capped(rule, feed, title, link, published, snippet, also, reported)


def _view(alert: Alert, fmt: Format, capped: _Capped | None = None) -> AlertView:
    """What templates see of ``alert`` (``capped``, when given, is ``_capped(alert)``)."""
    capped = capped or _capped(alert)
    link = capped.link
    plain = _escaper(fmt)
    if link is not None and fmt == "markdown":
        link = _MD_URL_UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", link)
    return AlertView(
        rule=plain(capped.rule),
        feed=plain(capped.feed),
        title=plain(capped.title),
        link=link,
        published=capped.published,
        published_at=alert.published,
        snippet=_highlight(capped.snippet, fmt),
        also_reported_by=tuple(plain(n) for n in capped.also_reported_by),
        reported_by=tuple(plain(n) for n in capped.reported_by),
        outlets=len(alert.reported_by),
    )


def _newest_first(alerts: Sequence[Alert]) -> list[Alert]:
    """Newest first by publication time, undated last, ties in the order given."""

    def key(item: tuple[int, Alert]) -> tuple[bool, float, int]:
        index, alert = item
        if alert.published is None:
            return (True, 0.0, index)
        return (False, -as_utc(alert.published).timestamp(), index)

    return [a for _, a in sorted(enumerate(alerts), key=key)]


def _grouped(alerts: Sequence[Alert]) -> list[tuple[str, list[Alert]]]:
    """Groups by rule, ordered by each rule's newest alert; newest first inside each."""
    groups: dict[str, list[Alert]] = {}
    for alert in _newest_first(alerts):
        groups.setdefault(alert.rule, []).append(alert)
    return list(groups.items())


# -- default templates -------------------------------------------------------------

# Jinja runs with trim_blocks: a line that ends in a {% block tag %} loses its newline,
# so block tags stand on lines of their own, or end in "+%}" to keep it.
_META = '{{ alert.feed }}{{ " · " ~ alert.published if alert.published else "" }}'
_TG_TITLE = (
    '{% if alert.link %}<a href="{{ alert.link }}">{{ alert.title }}</a>'
    "{% else %}{{ alert.title }}{% endif +%}"
)
_MD_TITLE = (
    "{% if alert.link %}[{{ alert.title }}]({{ alert.link }})"
    "{% else %}{{ alert.title }}{% endif +%}"
)
_COUNT = '{{ count }} alert{{ "" if count == 1 else "s" }}'
_ALSO = (
    "{% if alert.reported_by %}Reported by {{ alert.outlets }} outlets: "
    '{{ alert.reported_by | join(", ") }}'
    '{% else %}Also reported by: {{ alert.also_reported_by | join(", ") }}{% endif +%}'
)

_DEFAULTS: Final[dict[str, str]] = {
    "alert.text": f"""\
{{{{ alert.title }}}}
{_META}
{{% if alert.snippet %}}

{{{{ alert.snippet }}}}
{{% endif %}}

{{% if alert.link %}}
{{{{ alert.link }}}}
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}
{_ALSO}
{{% endif %}}
Rule: {{{{ alert.rule }}}}
""",
    "alert.markdown": f"""\
**{_MD_TITLE}**

{_META}
{{% if alert.snippet %}}

{{{{ alert.snippet }}}}
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}

{_ALSO}
{{% endif %}}

Rule: {{{{ alert.rule }}}}
""",
    "alert.telegram": f"""\
<b>{_TG_TITLE}</b>
<i>{_META}</i>
{{% if alert.snippet %}}

{{{{ alert.snippet }}}}
{{% endif %}}

{{% if alert.also_reported_by or alert.reported_by %}}
{_ALSO}
{{% endif %}}
Rule: {{{{ alert.rule }}}}
""",
    "alert.html": f"""\
<!DOCTYPE html>
<html>
<body style="font-family: sans-serif; line-height: 1.4">
<h2 style="margin-bottom: 0.2em">{_TG_TITLE}</h2>
<p style="color: #555; margin-top: 0">{_META}</p>
{{% if alert.snippet %}}
<p>{{{{ alert.snippet }}}}</p>
{{% endif %}}
{{% if alert.link %}}
<p><a href="{{{{ alert.link }}}}">{{{{ alert.link }}}}</a></p>
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}
<p>{_ALSO}</p>
{{% endif %}}
<p style="color: #555">Rule: {{{{ alert.rule }}}}</p>
</body>
</html>
""",
    "digest.text": f"""\
{{{{ title }}}}
{_COUNT}
{{% for group in groups %}}

== {{{{ group.rule }}}} ==
{{% for alert in group.alerts %}}

- {{{{ alert.title }}}}
  {_META}
{{% if alert.snippet %}}
  {{{{ alert.snippet }}}}
{{% endif %}}
{{% if alert.link %}}
  {{{{ alert.link }}}}
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}
  {_ALSO}
{{% endif %}}
{{% endfor %}}
{{% endfor %}}
""",
    "digest.markdown": f"""\
**{{{{ title }}}}** — {_COUNT}
{{% for group in groups %}}

### {{{{ group.rule }}}}
{{% for alert in group.alerts %}}

**{_MD_TITLE}** — {_META}
{{% if alert.snippet %}}

{{{{ alert.snippet }}}}
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}

{_ALSO}
{{% endif %}}
{{% endfor %}}
{{% endfor %}}
""",
    "digest.telegram": f"""\
<b>{{{{ title }}}}</b>
{_COUNT}
{{% for group in groups %}}

<b>{{{{ group.rule }}}}</b>
{{% for alert in group.alerts %}}

• {_TG_TITLE}
<i>{_META}</i>
{{% if alert.snippet %}}
{{{{ alert.snippet }}}}
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}
{_ALSO}
{{% endif %}}
{{% endfor %}}
{{% endfor %}}
""",
    "digest.html": f"""\
<!DOCTYPE html>
<html>
<body style="font-family: sans-serif; line-height: 1.4">
<h1>{{{{ title }}}}</h1>
<p style="color: #555">{_COUNT}</p>
{{% for group in groups %}}
<h2>{{{{ group.rule }}}}</h2>
<ul>
{{% for alert in group.alerts %}}
<li>
<p><strong>{_TG_TITLE}</strong><br>
<span style="color: #555">{_META}</span></p>
{{% if alert.snippet %}}
<p>{{{{ alert.snippet }}}}</p>
{{% endif %}}
{{% if alert.also_reported_by or alert.reported_by %}}
<p>{_ALSO}</p>
{{% endif %}}
</li>
{{% endfor %}}
</ul>
{{% endfor %}}
</body>
</html>
""",
}

_SAMPLES: Final = (
    Alert(
        rule="sample-rule",
        feed="Sample Outlet",
        title="Sample <story> & title",
        link="https://example.com/story?a=1&b=2",
        published=datetime(2024, 1, 2, 3, 4, tzinfo=UTC),
        snippet=Snippet("text around a matched word", ((16, 23),)),
        also_reported_by=("Other Outlet", "Third Outlet"),
    ),
    Alert(rule="sample-rule", feed="Sample Outlet", title="", link=None, published=None),
)

_BLANK_LINES = re.compile(r"\n{3,}")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")


def _tidy(text: str, fmt: Format) -> str:
    """Drop the blank-line runs template conditionals leave behind."""
    text = _TRAILING_SPACE.sub("\n", text.replace("\r\n", "\n"))
    if fmt != "html":
        text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


class Renderer:
    """Renders alerts and digests with the default templates or the user's overrides.

    Overrides are validated here, once, by compiling them and rendering sample alerts,
    so a broken template is a config error at start-up, not a lost alert at 3 a.m.
    """

    def __init__(self, overrides: Mapping[str, str] | None = None) -> None:
        overrides = dict(overrides or {})
        unknown = sorted(set(overrides) - set(_DEFAULTS))
        if unknown:
            raise WatcherError(
                f"unknown template name(s) {', '.join(map(repr, unknown))}; "
                f"known names are {', '.join(sorted(_DEFAULTS))}"
            )
        self._templates: dict[str, jinja2.Template] = {}
        for fmt in FORMATS:
            sources = {
                f"{kind}.{fmt}": overrides.get(f"{kind}.{fmt}", _DEFAULTS[f"{kind}.{fmt}"])
                for kind in KINDS
            }
            env = jinja2.Environment(
                loader=jinja2.DictLoader(sources),
                autoescape=fmt in ("html", "telegram"),
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
            )
            for name in sources:
                try:
                    self._templates[name] = env.get_template(name)
                except jinja2.TemplateSyntaxError as e:
                    raise WatcherError(
                        f"template {name!r}, line {e.lineno}: {e.message or 'syntax error'}"
                    ) from e
        for name in overrides:
            kind, _, fmt_name = name.partition(".")
            fmt = _as_format(fmt_name)
            try:
                if kind == "alert":
                    for sample in _SAMPLES:
                        self.alert(sample, fmt)
                else:
                    self.digest(_SAMPLES, fmt, "Sample digest")
            except WatcherError as e:
                raise WatcherError(f"{e} (on a sample alert)") from e

    def _render(self, name: str, fmt: Format, **context: object) -> str:
        try:
            text = self._templates[name].render(**context)
        except Exception as e:  # a user template may fail in any way; report it in words
            raise WatcherError(f"template {name!r} failed: {type(e).__name__}: {e}") from e
        return _tidy(text, fmt)

    def alert(self, alert: Alert, fmt: Format) -> list[Message]:
        """One alert as messages; several only when Telegram's length limit needs it.

        Within the caps: at most ``MAX_TELEGRAM_MESSAGES`` Telegram messages (the last
        ending in "…" and the link when a template made more), a title of at most
        ``MAX_SUBJECT`` characters.
        """
        fmt = _as_format(fmt)
        capped = _capped(alert)
        body = self._render(f"alert.{fmt}", fmt, alert=_view(alert, fmt, capped))
        title = cut(f"{capped.rule}: {capped.title}", MAX_SUBJECT)
        if fmt == "telegram":
            parts = _telegram_parts(body, TELEGRAM_LIMIT, MAX_TELEGRAM_MESSAGES, capped.link)
            return [Message("", part, "telegram") for part in parts]
        return self._messages(title, body, fmt, lambda: self.alert(alert, "text")[0].body)

    def digest(self, alerts: Sequence[Alert], fmt: Format, title: str) -> list[Message]:
        """Many alerts as one message (or Telegram parts): newest first, grouped by rule.

        No alerts, no message: an empty list. Each entry is capped as an alert is, so
        a digest grows with its entries and no further; Telegram gets as many
        messages as it takes, since a cut there would drop whole stories.
        """
        fmt = _as_format(fmt)
        if not alerts:
            return []
        plain = _escaper(fmt)
        groups = [
            GroupView(plain(cut(_clean(rule), MAX_TITLE)), tuple(_view(a, fmt) for a in members))
            for rule, members in _grouped(alerts)
        ]
        body = self._render(
            f"digest.{fmt}",
            fmt,
            title=plain(cut(_clean(title), MAX_TITLE)),
            groups=groups,
            alerts=[a for g in groups for a in g.alerts],
            count=len(alerts),
        )
        return self._messages(
            cut(_clean(title), MAX_SUBJECT),
            body,
            fmt,
            lambda: self.digest(alerts, "text", title)[0].body,
        )

    @staticmethod
    def _messages(
        title: str, body: str, fmt: Format, text_part: Callable[[], str]
    ) -> list[Message]:
        if fmt == "telegram":
            return [Message("", part, "telegram") for part in telegram_split(body)]
        if fmt == "html":
            return [Message(title, body, "html", text_body=text_part())]
        return [Message(title, body, fmt)]


def _as_format(name: str) -> Format:
    for fmt in FORMATS:
        if fmt == name:
            return fmt
    raise WatcherError(f"unknown format {name!r}; expected one of {', '.join(FORMATS)}")


def format_for_url(url: str) -> Format:
    """The format to render for an Apprise URL.

    ``tgram://`` gets Telegram HTML (bold highlights, clickable links, the split);
    ``mailto://`` and ``mailtos://`` get an HTML body (Apprise adds the text part).
    Everything else gets plain text: Apprise converts text safely into whatever a
    service wants (escaping it for HTML services), whereas HTML or Markdown would
    arrive as literal tags and asterisks on the many services that do not render them.
    """
    scheme = url.strip().split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "tgram":
        return "telegram"
    if scheme in ("mailto", "mailtos"):
        return "html"
    return "text"


# -- Telegram HTML: normalise and split ---------------------------------------------

# Tags Telegram's HTML parse mode accepts, mapped to the name written out.
_TG_NAMES: Final = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "a": "a",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-spoiler": "tg-spoiler",
}
_TG_TAG = re.compile(
    r"""<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'<>]+))?)*)\s*/?>"""
)
_TG_ATTR = re.compile(r"""([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'<>]+)))?""")
_TG_ENTITY = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[a-zA-Z][a-zA-Z0-9]{1,31});")
_ESCAPES: Final = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: Literal["open", "close", "char"]
    text: str
    name: str = ""
    char: str = ""
    weight: int = 0


def _weight(char: str) -> int:
    """UTF-16 units, except a line break counts 2: Apprise may send it as ``\\r\\n``."""
    if char == "\n":
        return 2
    return len(char.encode("utf-16-le")) // 2


def _char(char: str) -> _Tok:
    return _Tok("char", _ESCAPES.get(char, char), char=char, weight=_weight(char))


def _open_tag(name: str, attrs: str, stack: list[_Tok]) -> _Tok | None:
    """The normalised opening tag, or None when Telegram would refuse it here."""
    values: dict[str, str] = {}
    for m in _TG_ATTR.finditer(attrs):
        value = next((g for g in m.groups()[1:] if g is not None), "")
        values[m.group(1).lower()] = _html.unescape(value)
    if name == "span" and "tg-spoiler" in values.get("class", "").split():
        name = "tg-spoiler"
    tag = _TG_NAMES.get(name)
    open_names = {t.name for t in stack}
    # Telegram allows nothing inside code, only code inside pre, and no nested links.
    if tag is None or "code" in open_names or ("pre" in open_names and tag != "code"):
        return None
    if tag == "a":
        href = safe_link(values.get("href"))
        if href is None or "a" in open_names:
            return None
        return _Tok("open", f'<a href="{href.replace("&", "&amp;")}">', name="a")
    if tag == "code" and "pre" in open_names and values.get("class", "").startswith("language-"):
        lang = _URL_UNSAFE.sub("", values["class"]).replace("&", "")
        return _Tok("open", f'<code class="{lang}">', name="code")
    return _Tok("open", f"<{tag}>", name=tag)


def _tg_tokens(markup: str) -> list[_Tok]:
    """Telegram-HTML as tokens Telegram accepts: unknown tags dropped, stray ``<``/``&`` escaped,
    ``<br>`` made a line break, tags balanced."""
    out: list[_Tok] = []
    stack: list[_Tok] = []
    pos = 0
    while pos < len(markup):
        ch = markup[pos]
        if ch == "<" and (m := _TG_TAG.match(markup, pos)):
            closing, name = m.group(1) == "/", m.group(2).lower()
            pos = m.end()
            if name == "br":
                out.append(_char("\n"))
                continue
            if not closing:
                tok = _open_tag(name, m.group(3), stack)
                if tok is not None:
                    stack.append(tok)
                    out.append(tok)
                continue
            target = "tg-spoiler" if name == "span" else _TG_NAMES.get(name)
            if any(t.name == target for t in stack):
                while stack:
                    top = stack.pop()
                    out.append(_Tok("close", f"</{top.name}>", name=top.name))
                    if top.name == target:
                        break
            continue
        if ch == "&" and (m := _TG_ENTITY.match(markup, pos)):
            decoded = _html.unescape(m.group())
            if decoded != m.group():
                pos = m.end()
                out.extend(_char(c) for c in decoded)
                continue
        out.append(_char(ch))
        pos += 1
    out.extend(_Tok("close", f"</{t.name}>", name=t.name) for t in reversed(stack))
    return out


def _emit(opened: Sequence[_Tok], body: Sequence[_Tok], stack: Sequence[_Tok]) -> str:
    """One part: reopen what was open at its start, trim its edges, close what is still open."""
    start, end = 0, len(body)
    while start < end and body[start].kind == "char" and body[start].char.isspace():
        start += 1
    while end > start and body[end - 1].kind == "char" and body[end - 1].char.isspace():
        end -= 1
    inner = body[start:end]
    if not any(t.kind == "char" and not t.char.isspace() for t in inner):
        return ""  # Telegram refuses an empty message
    return "".join(
        [t.text for t in opened]
        + [t.text for t in inner]
        + [f"</{t.name}>" for t in reversed(stack)]
    )


def telegram_split(html: str, limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Split Telegram-HTML into parts of at most ``limit`` UTF-16 units of visible text.

    Visible text is counted after entities are decoded (``&lt;`` is one unit), with
    each line break counted as two so the parts still fit when Apprise's HTML mode
    sends breaks as ``\\r\\n``. A part ends at a blank line, else a line break, else
    a space, found in the second half of the budget; failing that at the last
    whitespace at all; only a single word longer than a part is cut between
    characters, and never inside a tag or an entity. Tags open at a break are closed
    at the end of the part and reopened at the start of the next. The input is
    normalised to what Telegram accepts on the way (see ``_tg_tokens``).
    """
    return _telegram_parts(html, limit, None, None)


def _telegram_parts(html: str, limit: int, max_parts: int | None, link: str | None) -> list[str]:
    """``telegram_split``, stopping at ``max_parts``: when more would follow, the last
    part is cut short to end in "…" and, unless a part already links to it, ``link``."""
    if limit < 2:
        raise ValueError("limit must be at least 2")
    toks = _tg_tokens(html)
    parts: list[str] = []
    opened: tuple[_Tok, ...] = ()
    i = 0
    while i < len(toks):
        at, stack, skip = _next_break(toks, i, opened, limit)
        if max_parts is not None and len(parts) == max_parts - 1 and _more(toks, at + skip):
            # Room for the link unless an earlier part has it; if this one turns out
            # to have it too, the ellipsis alone ends the part.
            _, weight = _tail(toks[:i], link)
            at, stack, _ = _next_break(toks, i, opened, max(2, limit - weight))
            parts.append(_emit(opened, toks[i:at], stack) + _tail(toks[:at], link)[0])
            break
        part = _emit(opened, toks[i:at], stack)
        if part:
            parts.append(part)
        opened, i = stack, at + skip
        # Closing tags right after a break belong to the part just ended.
        while (
            i < len(toks) and toks[i].kind == "close" and opened and opened[-1].name == toks[i].name
        ):
            opened, i = opened[:-1], i + 1
    return parts


def _more(toks: Sequence[_Tok], start: int) -> bool:
    """Whether any visible text is left from ``start`` on."""
    return any(t.kind == "char" and not t.char.isspace() for t in toks[start:])


def _tail(sent: Sequence[_Tok], link: str | None) -> tuple[str, int]:
    """What ends a last part cut short after ``sent``, and at most its weight: "…"
    (unless the text already ends in one), then the link on a line of its own unless
    ``sent`` already links to it or shows it."""
    shown = "".join(t.char for t in sent if t.kind == "char")
    ellipsis = "" if shown.rstrip().endswith(ELLIPSIS) else ELLIPSIS
    anchor = f'<a href="{(link or "").replace("&", "&amp;")}">'
    if link is None or link in shown or any(t.kind == "open" and t.text == anchor for t in sent):
        return ellipsis, _weight(ELLIPSIS)
    text = "".join(_ESCAPES.get(c, c) for c in link)
    weight = _weight(ELLIPSIS) + _weight("\n") + sum(_weight(c) for c in link)
    return f"{ellipsis}\n{anchor}{text}</a>", weight


@dataclass(frozen=True, slots=True)
class _Break:
    index: int  # the whitespace token the part ends at (and that is dropped)
    used: int  # visible weight before it
    stack: tuple[_Tok, ...]  # tags open there


def _next_break(
    toks: list[_Tok], i: int, opened: tuple[_Tok, ...], limit: int
) -> tuple[int, tuple[_Tok, ...], int]:
    """Where the part starting at ``i`` ends: (token index, tags open there, tokens to drop)."""
    stack = list(opened)
    used = 0
    best: dict[int, _Break] = {}  # latest break of each strength: 2 blank line, 1 line, 0 space
    for j in range(i, len(toks)):
        tok = toks[j]
        if tok.kind == "open":
            stack.append(tok)
            continue
        if tok.kind == "close":
            stack.pop()
            continue
        if used + tok.weight > limit:
            return _choose(toks, best, limit, j, stack)
        if tok.char.isspace():
            strength = 0
            if tok.char == "\n":
                strength = 2 if j > i and toks[j - 1].char == "\n" else 1
            best[strength] = _Break(j, used, tuple(stack))
        used += tok.weight
    return len(toks), (), 0


def _choose(
    toks: list[_Tok], best: dict[int, _Break], limit: int, here: int, stack: list[_Tok]
) -> tuple[int, tuple[_Tok, ...], int]:
    for strength in (2, 1, 0):
        brk = best.get(strength)
        if brk is not None and brk.used >= limit // 2:
            return brk.index, brk.stack, 1
    if best:
        brk = max(best.values(), key=lambda b: b.index)
        return brk.index, brk.stack, 1
    # One word fills the part: cut before the character that overflows, leaving any
    # tag opened just before it to the next part.
    while toks[here - 1].kind == "open":
        here -= 1
        stack.pop()
    return here, tuple(stack), 0
