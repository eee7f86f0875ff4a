"""The PostgreSQL store: any number of watcher instances, one database (#17).

It shares the domains' SQL with SQLite (``sql_*``) through a small adapter that
gives psycopg's pool the face sqlite-utils has (``execute``, ``query``,
``atomic``, ``conn.executemany``, ``?`` placeholders).  What only several writers
need lives here:

- **Feeds are leased.**  ``claim_due_feeds`` takes due feeds with ``SELECT ... FOR
  UPDATE SKIP LOCKED`` and marks them leased by this instance until the lease ends;
  the poll's write ends the lease.  A feed whose instance died is due again when its
  lease runs out.  Claims are serialised, so per-host limits count every instance.
- **Deliveries are claimed** the same way (``due_deliveries``): one instance sends a
  row; a claim that runs out (its instance died) makes it due for another.
- **Decisions are serialised** (``deciding``): a poll's look-ups, decision and write
  hold a transaction-level advisory lock, so two instances never both take a story as
  new or both alert one event, and story ids are handed out in commit order (which
  lets each instance read what the others stored since its last look).
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from watcher.core.errors import StoreError
from watcher.core.records import PendingDelivery
from watcher.store.postgres_migrations import MIGRATIONS
from watcher.store.sql import SQLStore
from watcher.store.sql_base import DEFAULT_LEASE, iso, redacted

# Keys of the advisory locks (any 64-bit numbers no other program on the database uses).
MIGRATE_LOCK = 0x77617463_68657201  # "watcher" 1
WRITE_LOCK = 0x77617463_68657202
CLAIM_LOCK = 0x77617463_68657203


@functools.lru_cache(maxsize=512)
def _placeholders(sql: str) -> str:
    """The shared SQL's ``?`` as psycopg's ``%s`` (and a literal ``%`` kept literal)."""
    return sql.replace("%", "%%").replace("?", "%s")


class _Rows:
    """A statement's result, read at once: its connection goes back to the pool."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.rowcount = cursor.rowcount
        self._rows: list[Any] = cursor.fetchall() if cursor.description else []
        self._next = 0

    def fetchone(self) -> Any:
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list[Any]:
        rest = self._rows[self._next :]
        self._next = len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Any]:
        return iter(self.fetchall())


class PostgresDatabase:
    """psycopg's pool with sqlite-utils' face: a statement outside ``atomic`` commits on
    its own; inside, every statement of this thread uses the transaction's connection
    (nested blocks are savepoints)."""

    def __init__(self, pool: ConnectionPool[Any]) -> None:
        self.pool = pool
        self._local = threading.local()

    @property
    def conn(self) -> PostgresDatabase:
        return self  # for ``db.conn.executemany``, as sqlite-utils spells it

    @contextlib.contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            yield current
            return
        with self.pool.connection() as conn:
            yield conn

    @contextlib.contextmanager
    def atomic(self) -> Iterator[PostgresDatabase]:
        current = getattr(self._local, "conn", None)
        if current is not None:
            with current.transaction():
                yield self
            return
        with self.pool.connection() as conn:
            self._local.conn = conn
            try:
                with conn.transaction():
                    yield self
            finally:
                self._local.conn = None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> _Rows:
        with self._connection() as conn:
            return _Rows(conn.execute(_placeholders(sql), list(params)))

    def query(self, sql: str, params: Sequence[Any] = ()) -> Iterator[dict[str, Any]]:
        with self._connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            cursor.execute(_placeholders(sql), list(params))
            return iter(cursor.fetchall())

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        with self._connection() as conn, conn.cursor() as cursor:
            cursor.executemany(_placeholders(sql), rows)

    def close(self) -> None:
        self.pool.close()


class PostgresStore(SQLStore):
    """Implements ``watcher.store.Store`` on a PostgreSQL database several instances share."""

    shared = True
    skip_locked = "FOR UPDATE SKIP LOCKED"
    driver_errors = (psycopg.Error,)
    greatest = "GREATEST"

    def __init__(
        self,
        url: str,
        *,
        instance: str = "",
        lease: timedelta = DEFAULT_LEASE,
        max_connections: int = 4,
        connect_timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.instance = instance
        self.lease = lease
        pool: ConnectionPool[Any] = ConnectionPool(
            url,
            min_size=1,
            max_size=max_connections,
            kwargs={"application_name": f"watcher {instance}"[:63], "connect_timeout": 10},
            check=ConnectionPool.check_connection,
            open=False,
            name="watcher",
        )
        try:
            pool.open(wait=True, timeout=connect_timeout)
        except PoolTimeout:
            pool.close()
            raise StoreError(self._cannot_connect()) from None
        self.db = PostgresDatabase(pool)
        try:
            self._migrate()
        except psycopg.Error as exc:
            self.db.close()
            raise StoreError(f"cannot use database {self.describe()}: {exc}") from None

    def _cannot_connect(self) -> str:
        try:  # one direct attempt, for the server's own words
            psycopg.connect(self.url, connect_timeout=5).close()
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return f"cannot use database {self.describe()}: {reason}"
        return f"cannot use database {self.describe()}: no connection within the timeout"

    def describe(self) -> str:
        return redacted(self.url)

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def joined(expression: str) -> str:
        return f"string_agg(DISTINCT {expression}, ',')"

    @staticmethod
    def json_field(column: str, field: str) -> str:
        return f"(({column})::json ->> '{field}')"

    # -- schema --------------------------------------------------------------------------

    @property
    def version(self) -> int:
        row = self.db.execute("SELECT max(version) FROM watcher_schema").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        """Instances starting together migrate once: the first takes the lock, the
        others then find the schema current."""
        with self.db.atomic():
            self.db.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATE_LOCK])
            self.db.execute("CREATE TABLE IF NOT EXISTS watcher_schema (version INTEGER)")
            for number in self._pending_migrations(self.version, len(MIGRATIONS)):
                MIGRATIONS[number](self.db)
                self.db.execute("INSERT INTO watcher_schema (version) VALUES (?)", [number + 1])

    # -- several writers -----------------------------------------------------------------

    def _lock_writes(self) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(?)", [WRITE_LOCK])

    @contextlib.contextmanager
    def deciding(self) -> Iterator[None]:
        with self.db.atomic():
            self._lock_writes()
            yield

    def _lock_claims(self) -> None:
        self.db.execute("SELECT pg_advisory_xact_lock(?)", [CLAIM_LOCK])

    def due_deliveries(self, now: datetime, *, retry_now: bool = False) -> list[PendingDelivery]:
        """Claim the due rows no live claim holds, for the lease time; the claim ends
        when the row is sent, fails or is folded into a digest."""
        at = iso(now)
        with self.db.atomic():
            ids = [
                row[0]
                for row in self.db.execute(
                    f"""SELECT d.id FROM deliveries d WHERE {self._due_where(retry_now)}
                        AND (d.claim_until IS NULL OR d.claim_until <= ?)
                        ORDER BY d.id FOR UPDATE SKIP LOCKED""",
                    [at, at],
                ).fetchall()
            ]
            if not ids:
                return []
            self.db.execute(
                "UPDATE deliveries SET claimed_by = ?, claim_until = ? WHERE id = ANY(?)",
                [self.instance, iso(now + self.lease), ids],
            )
            return self._deliveries("d.id = ANY(?)", [ids])
