"""A real SMTP server (aiosmtpd) on loopback that keeps every mail it is given.

Mails are parsed with the stdlib ``email`` package so a test reads the
text/plain and text/html parts exactly as a mail client would.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from types import TracebackType
from typing import Self
from urllib.parse import quote

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

SENDER = "watcher@example.test"
RECIPIENT = "alerts@example.test"


@dataclass(frozen=True)
class Mail:
    """One delivered mail: the envelope and the parsed message."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    def part(self, subtype: str) -> str | None:
        """The decoded body part of type text/<subtype>, or None when the mail has none."""
        body = self.message.get_body(preferencelist=(subtype,))
        if body is None or body.get_content_type() != f"text/{subtype}":
            return None
        return str(body.get_content())

    @property
    def text(self) -> str | None:
        return self.part("plain")

    @property
    def html(self) -> str | None:
        return self.part("html")


class _Collector:
    def __init__(self, owner: FakeSMTP) -> None:
        self.owner = owner

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        raw = content if isinstance(content, bytes) else content.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        mail = Mail(str(envelope.mail_from), tuple(envelope.rcpt_tos), message)
        with self.owner.lock:
            self.owner.mails.append(mail)
            self.owner.arrived.set()
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """Binds port 0 and learns the real port before aiosmtpd's readiness probe uses it."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


class FakeSMTP:
    """``with FakeSMTP() as smtp:`` then notify ``smtp.url()``; read ``smtp.mails``.

    Never TLS, so Apprise is told ``mode=insecure``. Without ``login`` the server
    offers no AUTH and the URL must carry no user or password (Apprise would try
    AUTH and fail); with ``login=(user, password)`` AUTH is required, over plain
    text, and ``url()`` carries the credentials.
    """

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.lock = threading.Lock()
        self.arrived = threading.Event()
        self.mails: list[Mail] = []
        self.login = login
        self._controller = _Controller(
            _Collector(self),
            hostname="127.0.0.1",
            port=0,
            authenticator=self._authenticate if login is not None else None,
            auth_required=login is not None,
            # aiosmtpd offers AUTH only over TLS unless told otherwise; we never have TLS.
            auth_require_tls=login is None,
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        ok = (
            self.login is not None
            and isinstance(data, LoginPassword)
            and (data.login, data.password) == tuple(x.encode() for x in self.login)
        )
        return AuthResult(success=ok, handled=False)

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    def url(self, to: str = RECIPIENT, sender: str = SENDER, **params: str) -> str:
        """The Apprise ``mailto://`` URL that sends plain SMTP to this server."""
        query = {"smtp": self.host, "mode": "insecure", "from": sender, "to": to, **params}
        qs = "&".join(f"{k}={quote(v, safe='@')}" for k, v in query.items())
        user = ""
        if self.login is not None:
            user = f"{quote(self.login[0], safe='')}:{quote(self.login[1], safe='')}@"
        return f"mailto://{user}{self.host}:{self.port}?{qs}"

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._controller.stop()
