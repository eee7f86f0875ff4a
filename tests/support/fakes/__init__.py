"""Loopback stand-ins for the services watcher notifies, driven by real Apprise.

Each fake is a context manager that binds 127.0.0.1 on a free port, records
what arrived, and stops on exit, so a test proves delivery end to end without
the internet:

- ``tests.support.fakes.telegram.FakeTelegram``: the Bot API (``tgram://`` URLs).
- ``tests.support.fakes.smtp.FakeSMTP``: an aiosmtpd server (``mailto://`` URLs).
- ``tests.support.fakes.json_endpoint.JSONEndpoint``: a ``json://`` receiver that fails on demand.

Wrap them in fixtures where they are used, e.g.::

    @pytest.fixture
    def telegram() -> Iterator[FakeTelegram]:
        with FakeTelegram() as fake:
            yield fake

This module holds only the HTTP plumbing the HTTP fakes share.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


@dataclass(frozen=True)
class Request:
    """One request as the fake saw it; ``path`` keeps its query string."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        answer = self.server.owner.handle(Request(self.command, self.path, headers, body))
        self.send_response(answer.status)
        self.send_header("Content-Type", answer.content_type)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: LoopbackHTTPServer


class LoopbackHTTPServer:
    """A threaded HTTP server on 127.0.0.1 whose subclasses answer in ``handle``.

    ``handle`` runs on server threads; subclasses guard shared state with ``self.lock``.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def handle(self, request: Request) -> Response:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
