"""Deliver stage: a message for a named channel in, one notification out (via Apprise).

Channels are built once per config; the built-in ``stdout`` channel prints the
plain-text rendering, so a new user sees alerts before configuring anything.
Each Apprise URL gets the rendering its service understands (Telegram's HTML
subset, HTML e-mail, plain text); a channel defined by an Apprise config file
gets the HTML rendering, which Apprise converts for each of its services.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

import apprise

from watcher.config import STDOUT_CHANNEL, channel_secrets, expand_env
from watcher.core.errors import WatcherError
from watcher.core.models import Alert, ChannelSpec, Notice
from watcher.core.render import Format, Message, Renderer, format_for_url
from watcher.log import mask

log = logging.getLogger(__name__)

_APPRISE_FORMAT = {
    "text": apprise.NotifyFormat.TEXT,
    "html": apprise.NotifyFormat.HTML,
    "telegram": apprise.NotifyFormat.HTML,
    "markdown": apprise.NotifyFormat.MARKDOWN,
}
# Apprise log lines worth showing a user as the reason a send failed.
_REASON = re.compile(r"^(?:\S+ \S+ - )?(?:WARNING|ERROR) - (.*)$")


@dataclass(frozen=True)
class _Target:
    """One Apprise destination of a channel, with its display form for logs."""

    shown: str
    format: Format
    apprise: apprise.Apprise
    tags: tuple[str, ...] = ()


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
    """Sends messages to named channels; never raises for a channel that is down."""

    def __init__(
        self,
        channels: Mapping[str, ChannelSpec],
        env: Mapping[str, str],
        renderer: Renderer | None = None,
        stdout: TextIO | None = None,
    ) -> None:
        self.renderer = renderer or Renderer()
        self.stdout = stdout
        self.secrets = channel_secrets(channels.values(), env)
        self.targets: dict[str, list[_Target]] = {}
        self.broken: dict[str, str] = {}
        for name, spec in channels.items():
            self.targets[name] = self._build(spec, env)

    def _build(self, spec: ChannelSpec, env: Mapping[str, str]) -> list[_Target]:
        targets = []
        for template in spec.urls:
            app = apprise.Apprise()
            if not app.add(expand_env(template, env)):
                self.broken[spec.name] = f"Apprise does not understand {mask_url(template)}"
                continue
            targets.append(_Target(mask_url(template), format_for_url(template), app))
        if spec.apprise_config:
            config = apprise.AppriseConfig()
            app = apprise.Apprise()
            if not (config.add(spec.apprise_config) and app.add(config)):
                self.broken[spec.name] = f"Apprise cannot read {spec.apprise_config}"
            else:
                targets.append(_Target(spec.apprise_config, "html", app, spec.tags))
        return targets

    def problems(self) -> dict[str, str]:
        """Channels Apprise rejected, by name: worth reporting at start-up."""
        return dict(self.broken)

    def describe(self, channel: str) -> list[str]:
        """The channel's destinations with secrets masked, for listings."""
        if channel == STDOUT_CHANNEL:
            return ["standard output"]
        return [target.shown for target in self.targets.get(channel, [])]

    async def send(self, channel: str, alert: Alert) -> str | None:
        """Send one alert; returns None on success or the reason it failed."""
        return await self._send(channel, lambda fmt: self.renderer.alert(alert, fmt))

    async def send_digest(self, channel: str, alerts: Sequence[Alert], title: str) -> str | None:
        """Send many alerts as one message (newest first, grouped by rule)."""
        return await self._send(channel, lambda fmt: self.renderer.digest(alerts, fmt, title))

    async def send_notice(self, channel: str, notice: Notice) -> str | None:
        """Send a message about watcher itself, as plain text (Apprise escapes it per service)."""
        message = Message(title=notice.title, body=notice.body, format="text")
        return await self._send(channel, lambda _fmt: [message])

    async def _send(self, channel: str, render: Callable[[Format], list[Message]]) -> str | None:
        try:
            return await self._render_and_send(channel, render)
        except WatcherError as exc:  # a user template that fails on this alert
            return str(exc)

    async def _render_and_send(
        self, channel: str, render: Callable[[Format], list[Message]]
    ) -> str | None:
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
                reason = await asyncio.to_thread(self._notify, target, message)
                if reason is not None:
                    failures.append(f"{target.shown}: {reason}")
                    break
        return self.redact("; ".join(failures)) or None

    def _notify(self, target: _Target, message: Message) -> str | None:
        """One Apprise call; Apprise's own log lines are kept as the reason for a failure."""
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            ok = target.apprise.notify(
                body=message.body,
                title=message.title,
                body_format=_APPRISE_FORMAT[message.format],
                tag=list(target.tags) or apprise.common.MATCH_ALL_TAG,
            )
            lines = captured.getvalue() if isinstance(captured, io.StringIO) else ""
        if ok:
            return None
        reasons = [m.group(1) for line in lines.splitlines() if (m := _REASON.match(line))]
        return "; ".join(dict.fromkeys(reasons)) or "the service did not accept the message"

    def redact(self, text: str) -> str:
        return mask(text, self.secrets)

    def _print(self, messages: list[Message]) -> None:
        out = self.stdout or sys.stdout
        for message in messages:
            out.write(f"{message.title}\n{message.body}\n\n")
        out.flush()
