"""A loopback fake of the Telegram Bot API, strict where the real one is.

Apprise's Telegram plugin builds every request as
``f"{NotifyTelegram.notify_url}{bot_token}/{method}"`` with ``notify_url`` a class
attribute (``https://api.telegram.org/bot``); inside ``with FakeTelegram()`` that
attribute points here instead, so an ordinary ``tgram://TOKEN/CHAT`` URL talks to
the fake. ``sendMessage`` checks the text the way Telegram does for
``parse_mode=HTML`` (only Telegram's tags, balanced; ``&`` and ``<`` escaped) and
answers 400 "Bad Request: message is too long" past 4,096 UTF-16 units of
visible text, so a test catches what Telegram would refuse.
"""

from __future__ import annotations

import itertools
import json
import re
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

from apprise.plugins.telegram import NotifyTelegram

from tests.support.fakes import LoopbackHTTPServer, Request, Response

TOKEN = "123456789:watcherTestToken_abc-XYZ"
BOT_ID = 123456789
CHAT_ID = "4242"

# Telegram's HTML parse mode: https://core.telegram.org/bots/api#html-style
_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "a", "code", "pre"}
    | {"blockquote", "tg-spoiler", "span", "tg-emoji"}
)
_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)([^<>]*)>")
_ENTITY = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|(lt|gt|amp|quot));")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


class TelegramHTMLError(ValueError):
    """Text Telegram's HTML parser would refuse; ``str()`` is Telegram's description."""


def utf16_len(text: str) -> int:
    """Telegram measures message length in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1)))
        if m.group(2):
            return chr(int(m.group(2), 16))
        return _NAMED[m.group(3)]

    return _ENTITY.sub(one, text)


def parse_html(text: str) -> tuple[str, tuple[str, ...]]:
    """The visible text and link targets of a Telegram-HTML message, or TelegramHTMLError."""
    visible: list[str] = []
    links: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "<":
            m = _TAG.match(text, pos)
            if m is None:
                raise TelegramHTMLError(
                    "Bad Request: can't parse entities: Unexpected character '<' "
                    f"at byte offset {pos}"
                )
            closing, name, attrs = m.group(1) == "/", m.group(2).lower(), m.group(3)
            if name not in _TAGS:
                kind = "end" if closing else "start"
                raise TelegramHTMLError(
                    f'Bad Request: can\'t parse entities: Unsupported {kind} tag "{name}" '
                    f"at byte offset {pos}"
                )
            if closing:
                if not stack or stack[-1] != name:
                    expected = f'"</{stack[-1]}>"' if stack else "nothing"
                    raise TelegramHTMLError(
                        f"Bad Request: can't parse entities: Unmatched end tag at byte offset "
                        f'{pos}, expected {expected}, found "</{name}>"'
                    )
                stack.pop()
            else:
                if any(t in ("code", "pre") for t in stack) and not (
                    name == "code" and stack == ["pre"]
                ):
                    raise TelegramHTMLError(
                        "Bad Request: can't parse entities: Can't use tags inside code or pre "
                        f"at byte offset {pos}"
                    )
                if name == "a" and "a" in stack:
                    raise TelegramHTMLError(
                        f"Bad Request: can't parse entities: Nested links at byte offset {pos}"
                    )
                if name == "span" and "tg-spoiler" not in attrs:
                    raise TelegramHTMLError(
                        'Bad Request: can\'t parse entities: Unsupported start tag "span" '
                        f"at byte offset {pos}"
                    )
                if name == "a":
                    href = _HREF.search(attrs)
                    if href is not None:
                        links.append(_unescape(next(g for g in href.groups() if g is not None)))
                stack.append(name)
            pos = m.end()
        elif ch == "&":
            m = _ENTITY.match(text, pos)
            if m is None:
                raise TelegramHTMLError(
                    "Bad Request: can't parse entities: Character '&' is reserved and must be "
                    f'escaped with "&amp;" at byte offset {pos}'
                )
            visible.append(_unescape(m.group(0)))
            pos = m.end()
        else:
            visible.append(ch)
            pos += 1
    if stack:
        raise TelegramHTMLError(
            "Bad Request: can't parse entities: Can't find end tag corresponding to start tag "
            f'"{stack[-1]}"'
        )
    return "".join(visible), tuple(links)


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted; ``visible`` is the text as the user would read it."""

    chat_id: str
    text: str
    parse_mode: str | None
    visible: str
    links: tuple[str, ...]


@dataclass(frozen=True)
class Rejected:
    """A sendMessage the fake refused, with the description Telegram would give."""

    params: dict[str, Any]
    description: str


class FakeTelegram(LoopbackHTTPServer):
    """``with FakeTelegram() as tg:`` then notify ``tg.url()``; read ``tg.messages``."""

    def __init__(self, *, token: str = TOKEN, limit: int = 4096) -> None:
        super().__init__()
        self.token = token
        self.limit = limit
        self.messages: list[SentMessage] = []
        self.rejected: list[Rejected] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.updates: list[dict[str, Any]] = [
            {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "from": {"id": int(CHAT_ID), "is_bot": False, "first_name": "Owner"},
                    "chat": {"id": int(CHAT_ID), "type": "private"},
                    "date": int(time.time()),
                    "text": "/start",
                },
            }
        ]
        self._ids = itertools.count(100)
        self._saved_notify_url = NotifyTelegram.notify_url

    @property
    def api_base(self) -> str:
        return f"http://{self.host}:{self.port}/bot"

    def url(self, chat_id: str = CHAT_ID, **params: str) -> str:
        """The Apprise URL that reaches this fake (while it is running)."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"tgram://{self.token}/{chat_id}" + (f"?{query}" if query else "")

    def __enter__(self) -> Self:
        super().__enter__()
        NotifyTelegram.notify_url = self.api_base
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        NotifyTelegram.notify_url = self._saved_notify_url
        super().__exit__(exc_type, exc, tb)

    # -- the Bot API -------------------------------------------------------

    def handle(self, request: Request) -> Response:
        parts = urlsplit(request.path)
        prefix = f"/bot{self.token}/"
        if not parts.path.startswith("/bot"):
            return _error(404, "Not Found")
        if not parts.path.startswith(prefix):
            return _error(401, "Unauthorized")
        method = parts.path[len(prefix) :]
        params: dict[str, Any] = dict(parse_qsl(parts.query))
        params.update(_body_params(request))
        with self.lock:
            self.calls.append((method, params))
            if method == "getMe":
                return _ok(
                    {
                        "id": BOT_ID,
                        "is_bot": True,
                        "first_name": "Watcher Test",
                        "username": "watcher_test_bot",
                    }
                )
            if method == "getUpdates":
                return _ok(list(self.updates))
            if method == "sendMessage":
                return self._send_message(params)
        return _error(404, "Not Found")

    def _send_message(self, params: dict[str, Any]) -> Response:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            return self._reject(params, "Bad Request: chat_id is empty")
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode")
        links: tuple[str, ...] = ()
        if isinstance(parse_mode, str) and parse_mode.upper() == "HTML":
            try:
                visible, links = parse_html(text)
            except TelegramHTMLError as e:
                return self._reject(params, str(e))
        else:
            visible = text
        if not visible.strip():
            return self._reject(params, "Bad Request: message text is empty")
        if utf16_len(visible) > self.limit:
            return self._reject(params, "Bad Request: message is too long")
        sent = SentMessage(str(chat_id), text, parse_mode, visible, links)
        self.messages.append(sent)
        return _ok(
            {
                "message_id": next(self._ids),
                "from": {"id": BOT_ID, "is_bot": True, "first_name": "Watcher Test"},
                "chat": {"id": _as_id(sent.chat_id), "type": "private"},
                "date": int(time.time()),
                "text": visible,
            }
        )

    def _reject(self, params: dict[str, Any], description: str) -> Response:
        self.rejected.append(Rejected(params, description))
        return _error(400, description)


def _body_params(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        data = json.loads(request.body)
        return dict(data) if isinstance(data, dict) else {}
    return dict(parse_qsl(request.body.decode()))


def _as_id(chat_id: str) -> int | str:
    return int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id


def _ok(result: object) -> Response:
    return Response(200, json.dumps({"ok": True, "result": result}).encode())


def _error(status: int, description: str) -> Response:
    body = {"ok": False, "error_code": status, "description": description}
    return Response(status, json.dumps(body).encode())
