"""Deliver stage: an ``Alert`` and a channel name in, one notification out (via Apprise).

Channels are built once per config; the built-in ``stdout`` channel prints the
plain-text rendering, so a new user sees alerts before configuring anything.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TextIO

import apprise

from watcher.config import STDOUT_CHANNEL, expand_env
from watcher.core.models import Alert, ChannelSpec, Notice
from watcher.core.render import Format, Message, Renderer, format_for_url

log = logging.getLogger(__name__)

_APPRISE_FORMAT = {
    "text": apprise.NotifyFormat.TEXT,
    "html": apprise.NotifyFormat.HTML,
    "telegram": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
}


@dataclass(frozen=True)
class _Target:
    """One Apprise URL of a channel, ready to send, with its display form for logs."""

    shown: str
    format: Format
    apprise: apprise.Apprise


def mask_url(template: str) -> str:
    """A channel URL safe to log: ``${VAR}`` stays unexpanded, inline passwords are hidden."""
    try:
        scheme, rest = template.split("://", 1)
    except ValueError:
        return template
    userinfo, at, host = rest.rpartition("@")
    if at and ":" in userinfo and "${" not in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return template


class Deliverer:
    """Sends alerts to named channels; never raises for a channel that is down."""

    def __init__(
        self,
        channels: Mapping[str, ChannelSpec],
        env: Mapping[str, str],
        renderer: Renderer | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.renderer = renderer or Renderer()
        self.stdout = stdout
        self.targets: dict[str, list[_Target]] = {}
        self.broken: dict[str, str] = {}
        for name, spec in channels.items():
            targets = []
            for template in spec.urls:
                app = apprise.Apprise()
                if not app.add(expand_env(template, env)):
                    self.broken[name] = f"Apprise does not understand the URL {mask_url(template)}"
                    continue
                targets.append(_Target(mask_url(template), format_for_url(template), app))
            self.targets[name] = targets

    def problems(self) -> dict[str, str]:
        """Channels whose URLs Apprise rejected, by name: worth reporting at start-up."""
        return dict(self.broken)

    async def send(self, channel: str, alert: Alert) -> str | None:
        """Send one alert; returns None on success or the reason it failed."""
        return await self._send(channel, lambda fmt: self.renderer.alert(alert, fmt))

    async def _send(self, channel: str, render: Callable[[Format], list[Message]]) -> str | None:
        if channel == STDOUT_CHANNEL:
            self._print(render("text"))
            return None
        if channel in self.broken:
            return self.broken[channel]
        targets = self.targets.get(channel)
        if targets is None:
            return f"no channel named '{channel}' in the config"
        failures = []
        for target in targets:
            for message in render(target.format):
                ok = await asyncio.to_thread(
                    target.apprise.notify,
                    body=message.body,
                    title=message.title,
                    body_format=_APPRISE_FORMAT[message.format],
                )
                if not ok:
                    failures.append(f"{target.shown} did not accept the message")
                    break
        return "; ".join(failures) or None

    async def send_notice(self, channel: str, notice: Notice) -> str | None:
        """Send a message about watcher itself, as plain text (Apprise escapes it per service)."""
        message = Message(title=notice.title, body=notice.body, format="text")
        return await self._send(channel, lambda _fmt: [message])

    def _print(self, messages: list[Message]) -> None:
        out = self.stdout or sys.stdout
        for message in messages:
            out.write(f"{message.title}\n{message.body}\n\n")
        out.flush()
