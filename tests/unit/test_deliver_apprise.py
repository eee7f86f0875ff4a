"""Real Apprise, real protocols, loopback fakes: rendered messages arrive as users will see them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import apprise
import pytest
from apprise import NotifyFormat

from tests.support.fakes.json_endpoint import JSONEndpoint
from tests.support.fakes.smtp import RECIPIENT, SENDER, FakeSMTP
from tests.support.fakes.telegram import CHAT_ID, FakeTelegram, parse_html, utf16_len
from watcher.core.models import Alert, ChannelSpec, Snippet
from watcher.core.render import Message, Renderer, format_for_url
from watcher.deliver import Deliverer

HOSTILE = "Kyiv <script>alert(1)</script> & <img src=x onerror=alert(2)>"
LINK = "https://example.com/story?id=1&lang=en"
# A 1 MB headline and a 1 MB summary, hostile characters throughout.
HUGE_TITLE = ((HOSTILE + " news" * 3 + " ") * 13_000)[:1_000_000]
HUGE_SNIPPET = Snippet("Delegations met in Kyiv on Monday & <i>talked</i> " * 20_000, ((19, 23),))


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as fake:
        yield fake


@pytest.fixture
def endpoint() -> Iterator[JSONEndpoint]:
    with JSONEndpoint() as fake:
        yield fake


def make_alert(n: int = 0, **changes: object) -> Alert:
    values: dict[str, object] = {
        "rule": "ukraine",
        "feed": "Reuters",
        "title": HOSTILE,
        "link": LINK,
        "published": datetime(2024, 5, 1, 12, 0, tzinfo=UTC) - timedelta(minutes=n),
        "snippet": Snippet("Delegations met in Kyiv on Monday", ((19, 23),)),
        "also_reported_by": ("AP", "BBC"),
    }
    values.update(changes)
    return Alert(**values)  # type: ignore[arg-type]


def send(url: str, message: Message, body_format: NotifyFormat | None) -> bool:
    notifier = apprise.Apprise()
    assert notifier.add(url), f"Apprise refused the URL {url}"
    return bool(notifier.notify(body=message.body, title=message.title, body_format=body_format))


class Tags(HTMLParser):
    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.names: set[str] = set()
        self.text = ""
        self.feed(markup)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.names.add(tag)

    def handle_data(self, data: str) -> None:
        self.text += data


# -- Telegram ------------------------------------------------------------------------


# Both ways of handing Telegram-HTML to Apprise work: as HTML (Apprise re-parses it
# and keeps Telegram's tags) or undeclared (Apprise passes it through).
@pytest.mark.parametrize("body_format", [NotifyFormat.HTML, None])
def test_telegram_alert_arrives_as_html_with_the_title_escaped(
    telegram: FakeTelegram, body_format: NotifyFormat | None
) -> None:
    url = telegram.url()
    [message] = Renderer().alert(make_alert(), format_for_url(url))

    assert send(url, message, body_format)

    assert telegram.rejected == []
    [sent] = telegram.messages
    assert sent.chat_id == CHAT_ID
    assert sent.parse_mode == "HTML"
    assert "&lt;script&gt;" in sent.text and "<script" not in sent.text
    assert HOSTILE in sent.visible
    assert "Kyiv" in sent.visible and "<b>Kyiv</b>" in sent.text
    assert "Also reported by: AP, BBC" in sent.visible
    assert sent.links == (LINK,)


def test_the_fake_refuses_what_telegram_refuses(telegram: FakeTelegram) -> None:
    too_long = Message("", "a" * 4097, "telegram")
    not_telegram_html = Message("", "<marquee>news</marquee>", "telegram")

    assert not send(telegram.url(), too_long, None)
    assert not send(telegram.url(), not_telegram_html, None)

    assert telegram.messages == []
    assert [r.description for r in telegram.rejected] == [
        "Bad Request: message is too long",
        'Bad Request: can\'t parse entities: Unsupported start tag "marquee" at byte offset 0',
    ]


@pytest.mark.parametrize("body_format", [NotifyFormat.HTML, None])
def test_long_telegram_digest_arrives_as_several_messages_all_accepted(
    telegram: FakeTelegram, body_format: NotifyFormat | None
) -> None:
    alerts = [
        make_alert(
            n,
            title=f"Story {n} <b>not bold</b>",
            snippet=Snippet("lorem ipsum dolor " * 20 + "Kyiv", ((360, 364),)),
        )
        for n in range(50)
    ]
    parts = Renderer().digest(alerts, "telegram", "Daily digest")
    assert len(parts) > 1

    for part in parts:
        assert send(telegram.url(), part, body_format)

    assert telegram.rejected == []
    assert len(telegram.messages) == len(parts)
    assert all(utf16_len(m.visible) <= 4096 for m in telegram.messages)
    received = "\n".join(m.visible for m in telegram.messages)
    for n in range(50):
        assert f"Story {n} <b>not bold</b>" in received
    assert received.index("Story 0 ") < received.index("Story 49 ")  # newest first


def deliver(url: str, alert: Alert, renderer: Renderer | None = None) -> str | None:
    """Send through watcher's own send path: a Deliverer with one channel, ``out``."""
    deliverer = Deliverer({"out": ChannelSpec("out", (url,))}, {}, renderer)
    return asyncio.run(deliverer.send("out", alert))


def test_a_1mb_headline_reaches_telegram_as_one_message_within_the_caps(
    telegram: FakeTelegram,
) -> None:
    assert len(HUGE_TITLE) == len(HUGE_SNIPPET.text) == 1_000_000

    assert deliver(telegram.url(), make_alert(title=HUGE_TITLE, snippet=HUGE_SNIPPET)) is None

    assert telegram.rejected == []
    [sent] = telegram.messages
    assert utf16_len(sent.visible) <= 1000  # measured 978: a cut title, a cut snippet
    assert sent.links == (LINK,)
    assert sent.visible.count("…") == 2
    assert sent.visible.startswith(HOSTILE) and "<script" not in sent.text


def test_a_telegram_template_that_repeats_a_1mb_headline_still_sends_two_messages(
    telegram: FakeTelegram,
) -> None:
    renderer = Renderer(
        {"alert.telegram": "{% for _ in range(100) %}{{ alert.title }}\n{% endfor %}"}
    )

    assert deliver(telegram.url(), make_alert(title=HUGE_TITLE), renderer) is None

    assert telegram.rejected == []
    assert len(telegram.messages) == 2
    assert all(utf16_len(m.visible) <= 4096 for m in telegram.messages)
    assert [m.links for m in telegram.messages] == [(), (LINK,)]
    # One ellipsis (the title's own, cut at 300), then the link on a line of its own.
    last = telegram.messages[-1].visible.replace("\r\n", "\n")
    assert last.endswith(f"news…\n{LINK}")


def test_a_1mb_headline_arrives_by_email_with_a_subject_of_at_most_200_characters(
    smtp: FakeSMTP,
) -> None:
    assert deliver(smtp.url(), make_alert(title=HUGE_TITLE, snippet=HUGE_SNIPPET)) is None

    [mail] = smtp.mails
    assert len(mail.subject) <= 200
    assert mail.subject.startswith(f"ukraine: {HOSTILE}") and mail.subject.endswith("…")
    assert mail.html is not None and mail.text is not None
    assert len(mail.html) <= 2000 and len(mail.text) <= 1100  # measured 1,648 and 1,024
    assert f'href="{LINK.replace("&", "&amp;")}"' in mail.html
    assert LINK in mail.text
    assert {"script", "img"}.isdisjoint(Tags(mail.html).names)


def test_apprise_finds_the_chat_itself_when_the_url_names_none(telegram: FakeTelegram) -> None:
    [message] = Renderer().alert(make_alert(), "telegram")

    assert send(f"tgram://{telegram.token}", message, NotifyFormat.HTML)

    assert [name for name, _ in telegram.calls] == ["getUpdates", "sendMessage"]
    assert telegram.messages[0].chat_id == CHAT_ID


# -- e-mail --------------------------------------------------------------------------


def test_email_arrives_with_a_text_part_and_an_html_part(smtp: FakeSMTP) -> None:
    url = smtp.url()
    [message] = Renderer().alert(make_alert(), format_for_url(url))

    assert send(url, message, NotifyFormat.HTML)

    [mail] = smtp.mails
    assert mail.mail_from == SENDER and mail.rcpt_tos == (RECIPIENT,)
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.subject == f"ukraine: {HOSTILE}"
    assert mail.html is not None and mail.text is not None
    html = Tags(mail.html)
    assert {"script", "img"}.isdisjoint(html.names)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in mail.html
    assert HOSTILE in html.text
    assert f'href="{LINK.replace("&", "&amp;")}"' in mail.html
    assert "<b>Kyiv</b>" in mail.html
    # Apprise writes the text part from the HTML: the story reads as plain text.
    assert HOSTILE in mail.text
    assert LINK in mail.text
    assert "<" not in mail.text.replace(HOSTILE, "")


# aiosmtpd warns about AUTH without TLS, which is the point of this test.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.filterwarnings("ignore:Session.login_data is deprecated")
def test_email_with_smtp_login() -> None:
    with FakeSMTP(login=("watcher", "s3cret")) as server:
        [message] = Renderer().alert(make_alert(), "html")

        assert send(server.url(), message, NotifyFormat.HTML)
        assert not send(server.url().replace("s3cret", "wrong"), message, NotifyFormat.HTML)

        assert len(server.mails) == 1


# -- json:// -------------------------------------------------------------------------


def test_json_posts_arrive(endpoint: JSONEndpoint) -> None:
    url = endpoint.url()
    [message] = Renderer().alert(make_alert(), format_for_url(url))

    assert send(url, message, NotifyFormat.TEXT)

    [post] = endpoint.posts
    assert post.path == "/notify"
    assert post.title == f"ukraine: {HOSTILE}"
    assert post.message == message.body
    assert "met in [Kyiv] on Monday" in post.message


def test_a_failing_json_endpoint_makes_notify_return_false(endpoint: JSONEndpoint) -> None:
    [message] = Renderer().alert(make_alert(), "text")
    endpoint.failing = True

    assert not send(endpoint.url(), message, NotifyFormat.TEXT)
    assert endpoint.posts == []

    endpoint.failing = False
    assert send(endpoint.url(), message, NotifyFormat.TEXT)
    assert len(endpoint.posts) == 1


def test_apprise_retry_gets_past_one_failure(endpoint: JSONEndpoint) -> None:
    [message] = Renderer().alert(make_alert(), "text")
    endpoint.fail_next(1)

    assert not send(endpoint.url(), message, NotifyFormat.TEXT)
    endpoint.fail_next(1)
    assert send(endpoint.url(retry="1", wait="0"), message, NotifyFormat.TEXT)

    assert endpoint.attempts == 3
    assert len(endpoint.posts) == 1


def test_visible_text_check_uses_telegrams_rules() -> None:
    # The fake's own ruler, which every Telegram assertion above relies on.
    assert parse_html("&lt;b&gt; <b>x</b> &#128512;") == ("<b> x 😀", ())
    assert utf16_len("😀") == 2
