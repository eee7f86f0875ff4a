"""The log's last line of defence: channel secrets never appear in it, reload or not."""

from __future__ import annotations

import io
import logging
from pathlib import Path

from watcher.config import parse_config
from watcher.log import setup_logging
from watcher.wiring import build_deliverer


def test_a_secret_a_reload_brings_in_is_masked_in_the_log(tmp_path: Path) -> None:
    stream = io.StringIO()
    setup_logging("info", stream=stream)
    try:
        env = {"HOOK_TOKEN": "tok-1234567", "PAGER_TOKEN": "pg-7654321"}
        first = parse_config(
            "channels: {hook: 'json://127.0.0.1:9/${HOOK_TOKEN}'}\n", tmp_path / "c.yaml", env
        )
        build_deliverer(first)  # as at start-up
        reloaded = parse_config(
            "channels:\n"
            "  hook: 'json://127.0.0.1:9/${HOOK_TOKEN}'\n"
            "  pager: 'json://127.0.0.1:9/${PAGER_TOKEN}'\n",
            tmp_path / "c.yaml",
            env,
        )
        build_deliverer(reloaded)  # as a reload does
        logging.getLogger("watcher.test").warning("sent to %s and %s", *env.values())
    finally:
        setup_logging("info")
    line = stream.getvalue()
    assert "sent to *** and ***" in line
    assert "tok-1234567" not in line and "pg-7654321" not in line
