"""Fixtures of the end-to-end tests: daemons started as real processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.daemon import LoggedDaemon


@pytest.fixture
def daemons() -> Iterator[list[LoggedDaemon]]:
    """Daemons a test starts; any still running at its end are killed."""
    started: list[LoggedDaemon] = []
    yield started
    for daemon in started:
        daemon.kill()
