"""The daemon's own tasks are supervised: one that dies is logged, counted and restarted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from watcher.config import parse_config
from watcher.daemon import Daemon


def test_a_task_that_dies_is_logged_with_its_traceback_and_restarted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = Daemon(parse_config("{}\n", tmp_path / "config.yaml", {}), watch=False)
    runs: list[int] = []

    async def flaky() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("a bug")

    asyncio.run(daemon._supervised("reloader", flaky))
    assert len(runs) == 3 and daemon.restarts == {"reloader": 2}
    died = [r for r in caplog.records if "task 'reloader' died" in r.getMessage()]
    assert len(died) == 2 and all(r.exc_info is not None for r in died)


def test_a_stopped_daemon_does_not_restart_its_tasks(tmp_path: Path) -> None:
    daemon = Daemon(parse_config("{}\n", tmp_path / "config.yaml", {}), watch=False)
    runs: list[int] = []

    async def dies() -> None:
        runs.append(1)
        daemon.stop()
        raise RuntimeError("a bug while stopping")

    asyncio.run(daemon._supervised("reloader", dies))
    assert runs == [1] and daemon.restarts == {"reloader": 1}
