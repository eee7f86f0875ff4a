"""Fixtures of the end-to-end tests: daemons started as real processes, and each test
on both backends (a SQLite file, a PostgreSQL database), unless marked ``sqlite_only``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Project
from tests.support.daemon import LoggedDaemon


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: a test of the SQLite file itself (its lock, its schema)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        metafunc.parametrize("backend", ["sqlite"] if only else ["sqlite", "postgresql"])


@pytest.fixture
def project(tmp_path: Path, backend: str, request: pytest.FixtureRequest) -> Project:
    """The test's config folder; with ``postgresql``, its config names a new database."""
    if backend == "postgresql":
        return Project(tmp_path, request.getfixturevalue("postgres_url"))
    return Project(tmp_path)


@pytest.fixture
def daemons() -> Iterator[list[LoggedDaemon]]:
    """Daemons a test starts; any still running at its end are killed."""
    started: list[LoggedDaemon] = []
    yield started
    for daemon in started:
        daemon.kill()
