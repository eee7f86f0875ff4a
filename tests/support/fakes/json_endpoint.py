"""A loopback receiver for Apprise's ``json://`` that can be told to fail.

Apprise posts ``{"version", "title", "message", "attachments", "type"}`` to
``http://HOST:PORT/PATH`` for ``json://HOST:PORT/PATH``; this endpoint keeps
each post it accepts and answers 500 while failing, so delivery error paths
are tested against a real HTTP exchange.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tests.support.fakes import LoopbackHTTPServer, Request, Response


@dataclass(frozen=True)
class Post:
    path: str
    payload: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.payload.get("title", ""))

    @property
    def message(self) -> str:
        return str(self.payload.get("message", ""))


class JSONEndpoint(LoopbackHTTPServer):
    """``with JSONEndpoint() as ep:`` then notify ``ep.url()``; read ``ep.posts``.

    ``failing = True`` answers 500 to everything until switched off;
    ``fail_next(n)`` answers 500 to the next ``n`` requests only. ``attempts``
    counts every request, failed or not.
    """

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[Post] = []
        self.attempts = 0
        self.failing = False
        self._fail_budget = 0

    def url(self, path: str = "/notify", **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"json://{self.host}:{self.port}{path}" + (f"?{query}" if query else "")

    def fail_next(self, n: int = 1) -> None:
        with self.lock:
            self._fail_budget = n

    def handle(self, request: Request) -> Response:
        with self.lock:
            self.attempts += 1
            if self.failing or self._fail_budget > 0:
                self._fail_budget = max(0, self._fail_budget - 1)
                return Response(500, b'{"error": "failing on purpose"}')
            try:
                payload = json.loads(request.body)
            except ValueError:
                return Response(400, b'{"error": "body is not JSON"}')
            if not isinstance(payload, dict):
                return Response(400, b'{"error": "body is not a JSON object"}')
            self.posts.append(Post(request.path.split("?", 1)[0], payload))
            return Response(200, b'{"ok": true}')
