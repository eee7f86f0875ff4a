"""Logging set-up: readable lines for people, JSON for log shippers, no doubled timestamps.

Secrets never reach the log because channel URLs are only ever logged in
their ``${VAR}`` form (see ``deliver.mask_url``); this module adds a last
filter that masks the values of environment variables named in channel URLs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from watcher.config import Config


class _Redact(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            record.msg, record.args = mask(record.getMessage(), self.secrets), None
        return True


def mask(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret shown as ``***`` (longest first, as ``channel_secrets`` sorts)."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


class _JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        instance = getattr(record, "instance", None)
        if instance:
            entry["instance"] = instance
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class _TextFormatter(logging.Formatter):
    """Lines of an instance sharing its database with others start with its name."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        instance = getattr(record, "instance", None)
        return f"[{instance}] {line}" if instance else line


class _Instance(logging.Filter):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name_ = name

    def filter(self, record: logging.LogRecord) -> bool:
        record.instance = self.name_
        return True


_handler: logging.Handler | None = None


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Configure the root logger once; calling again replaces the previous set-up."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JSONFormatter())
    elif os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"):
        # journald stamps every line itself.
        handler.setFormatter(_TextFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(
            _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S")
        )
    root.addHandler(handler)
    root.setLevel(level.upper())
    _handler = handler
    for noisy in ("httpx", "httpcore", "apscheduler", "apprise", "watchfiles"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    # Each failed attempt to connect, which the store reports once, as a StoreError.
    logging.getLogger("psycopg.pool").setLevel(max(logging.ERROR, root.level))


def redact(secrets: Iterable[str]) -> None:
    """Mask these values wherever they would appear in a log line."""
    if _handler is not None:
        for old in [f for f in _handler.filters if isinstance(f, _Redact)]:
            _handler.removeFilter(old)
        _handler.addFilter(_Redact(secrets))


def name_instance(name: str) -> None:
    """Name this instance in every log line (several instances share one database)."""
    if _handler is not None:
        for old in [f for f in _handler.filters if isinstance(f, _Instance)]:
            _handler.removeFilter(old)
        _handler.addFilter(_Instance(name))


def log_warnings(config: Config) -> None:
    """What the config loaded with but should not have (a deprecated key, an odd value)."""
    for warning in config.warnings:
        logging.getLogger("watcher.config").warning("%s", warning)
