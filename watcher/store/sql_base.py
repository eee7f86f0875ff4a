"""What every SQL backend shares: the helpers each domain uses, and the few spots where
SQLite and PostgreSQL spell a thing differently.

The domain mixins (``sql_feeds``, ``sql_stories``, ``sql_outbox``, ``sql_reports``)
write one SQL for both backends: ``?`` placeholders, ``ON CONFLICT DO NOTHING``,
``RETURNING``.  A backend supplies ``db`` (``execute``, ``query``, ``atomic`` and
``conn.executemany``, as sqlite-utils has them) and the dialect's fragments below.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from watcher.core.errors import StoreError

# SQLite caps the number of parameters in one statement.
CHUNK = 500
# How long a feed or a delivery claimed by an instance stays its own (``lease:``).
DEFAULT_LEASE = timedelta(minutes=2)


def iso(moment: datetime | None) -> str | None:
    """Times are stored as ISO 8601 text in UTC, to the second, in both backends: such
    strings sort as the times do, and every row reads the same whichever backend."""
    return moment.astimezone(UTC).isoformat(timespec="seconds") if moment else None


def iso_up(moment: datetime | None) -> str | None:
    """``iso``, rounded up to the second: a time stored so is never before the real one
    (a feed's next poll, which another instance compares with its own clock)."""
    if moment is None:
        return None
    whole = moment.replace(microsecond=0)
    return iso(whole + timedelta(seconds=1) if whole != moment else whole)


def from_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def redacted(url: str) -> str:
    """A database URL fit for logs: the password, if any, replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


class SQLBase:
    """An open database at the latest schema version (a backend's ``__init__`` opens it)."""

    db: Any
    #: Who this process is, in logs and in ``watcher feeds`` (``polled_by``).
    instance: str = ""
    #: Several processes may write at once (PostgreSQL): feeds and deliveries are leased.
    shared: bool = False
    #: How long a claim lasts, when its instance neither finishes nor gives it back.
    lease: timedelta = DEFAULT_LEASE
    #: Added to a claim's SELECT: rows another transaction holds are passed over.
    skip_locked: str = ""
    #: The errors of the driver a failed write raises.
    driver_errors: tuple[type[Exception], ...] = ()
    #: ``MAX(a, b)`` of two values (SQLite's scalar ``MAX``, PostgreSQL's ``GREATEST``).
    greatest: str = "MAX"

    def describe(self) -> str:
        """The database, for messages (never with a password)."""
        raise NotImplementedError

    @staticmethod
    def joined(expression: str) -> str:
        """The distinct values of ``expression`` in a group, comma-separated."""
        return f"group_concat(DISTINCT {expression})"

    @staticmethod
    def json_field(column: str, field: str) -> str:
        return f"json_extract({column}, '$.{field}')"

    @contextlib.contextmanager
    def deciding(self) -> Iterator[None]:
        """One poll's look-ups, decision and write, as other writers see them: whole.

        SQLite has one writer, and the pipeline makes no await from look-up to
        commit, so nothing can come between; a shared backend serialises here.
        """
        yield

    def _pending_migrations(self, current: int, known: int) -> range:
        """The steps from ``current`` to ``known``; a database newer than this watcher
        is refused rather than damaged."""
        if current > known:
            raise StoreError(
                f"database {self.describe()} is version {current}, newer than this watcher "
                f"understands ({known}): upgrade watcher"
            )
        return range(current, known)

    def _lock_claims(self) -> None:
        """Within a transaction: no other instance claims feeds until it ends."""

    def _lock_writes(self) -> None:
        """Within a transaction: no other writer records a poll until it ends (a story's
        id is the largest yet plus one).  SQLite's write lock does it already."""

    def _where_in(self, sql: str, values: Iterable[Any], *before: object) -> list[Any]:
        """Rows of ``sql`` whose ``IN ({marks})`` takes ``values``, a chunk at a time."""
        wanted = list(dict.fromkeys(values))
        rows: list[Any] = []
        for start in range(0, len(wanted), CHUNK):
            chunk = wanted[start : start + CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += self.db.execute(sql.format(marks=marks), [*before, *chunk]).fetchall()
        return rows

    def _count(self, sql: str, params: Iterable[Any] = ()) -> int:
        return int(self.db.execute(sql, list(params)).fetchone()[0])
