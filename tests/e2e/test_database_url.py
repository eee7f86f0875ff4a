"""A PostgreSQL database that cannot be used: exit 3, one line, no password, no traceback."""

from __future__ import annotations

import pytest

from tests.conftest import Project

pytestmark = pytest.mark.sqlite_only  # the config names its own (unreachable) database


def test_an_unreachable_postgresql_is_exit_3_and_never_shows_its_password(
    project: Project,
) -> None:
    project.write("database: postgresql://watcher:${PGPASS}@127.0.0.1:1/news\nfeeds: []\n")
    result = project.run("feeds", env={"PGPASS": "s3cret"})
    assert result.exit_code == 3
    assert result.stderr.startswith("watcher: cannot use database postgresql://watcher:***@")
    assert "s3cret" not in result.stderr + result.stdout and "Traceback" not in result.stderr
