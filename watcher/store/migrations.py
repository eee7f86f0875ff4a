"""Schema migrations of the SQLite store: append only, each moves version N to N+1.

PostgreSQL has its own (``postgres_migrations``), to the same tables and columns."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import sqlite_utils

from watcher.core.cluster import story_fingerprint


def _migration_1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE feeds (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            body_hash TEXT,
            first_polled_at TEXT,
            last_fetch TEXT,
            last_success TEXT,
            last_status INTEGER,
            last_error TEXT,
            problem TEXT,
            failing_since TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            next_poll TEXT,
            hold_until TEXT,
            effective_url TEXT,
            notice_sent INTEGER NOT NULL DEFAULT 0,
            last_duration REAL,
            items INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE stories (
            id INTEGER PRIMARY KEY,
            feed TEXT NOT NULL,
            guid TEXT,
            link TEXT,
            canonical_link TEXT,
            title TEXT NOT NULL,
            summary TEXT NOT NULL DEFAULT '',
            content TEXT NOT NULL DEFAULT '',
            author TEXT NOT NULL DEFAULT '',
            categories TEXT NOT NULL DEFAULT '[]',
            published TEXT,
            seen_at TEXT NOT NULL,
            cluster_id INTEGER NOT NULL,
            fingerprint TEXT,
            text_hash TEXT
        );
        CREATE INDEX stories_seen_at ON stories (seen_at);
        CREATE INDEX stories_cluster ON stories (cluster_id);
        -- Identity outlives the story: a pruned story's keys stay while feeds still list it.
        CREATE TABLE story_keys (
            key TEXT PRIMARY KEY,
            story_id INTEGER NOT NULL,
            last_seen TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX story_keys_last_seen ON story_keys (last_seen);
        CREATE TABLE alerts (
            id INTEGER PRIMARY KEY,
            story_id INTEGER NOT NULL REFERENCES stories (id),
            rule TEXT NOT NULL,
            snippet TEXT NOT NULL DEFAULT '{}',
            created_at TEXT NOT NULL,
            -- alert: the first of a cluster; update: another outlet, or an edit in place
            kind TEXT NOT NULL DEFAULT 'alert',
            -- what makes it once-only: alert:<cluster>:<rule>, update:<cluster>:<rule>:<feed>, ...
            once_key TEXT NOT NULL UNIQUE
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            alert_id INTEGER REFERENCES alerts (id),
            notice TEXT,
            channel TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt TEXT NOT NULL,
            created_at TEXT NOT NULL,
            sent_at TEXT,
            digest INTEGER NOT NULL DEFAULT 0,
            UNIQUE (alert_id, channel)
        );
        CREATE INDEX deliveries_due ON deliveries (status, next_attempt);
        CREATE TABLE sends (
            channel TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX sends_channel_at ON sends (channel, at);
        """
    )


def _migration_2(db: sqlite_utils.Database) -> None:
    """Story ids are never handed out again while a key still names them (#13): the
    next id looks past pruned stories to the keys they left, by this index."""
    db.execute("CREATE INDEX story_keys_story ON story_keys (story_id)")


def _migration_3(db: sqlite_utils.Database) -> None:
    """Fingerprint version 2 (#14): every stored fingerprint is recomputed, so the window
    compares like with like; cluster ids and once-keys stay, so nothing alerts again."""
    rows = db.execute("SELECT id, title, summary, content FROM stories").fetchall()
    db.conn.executemany(
        "UPDATE stories SET fingerprint = ? WHERE id = ?",
        [
            (story_fingerprint(title, summary, content).to_json(), story_id)
            for story_id, title, summary, content in rows
        ],
    )


def _migration_4(db: sqlite_utils.Database) -> None:
    """Mutes (#16): rules and events the user asked not to hear about, for a while."""
    db.execute(
        """CREATE TABLE mutes (
            kind TEXT NOT NULL,
            target TEXT NOT NULL,
            until TEXT,
            created_at TEXT NOT NULL,
            PRIMARY KEY (kind, target)
        )"""
    )


def _migration_5(db: sqlite_utils.Database) -> None:
    """Rule hits of corroborated rules (#16): an event matches when any of its stories
    did, at whichever poll; its alert waits for the Nth outlet."""
    db.execute(
        """CREATE TABLE hits (
            story_id INTEGER NOT NULL,
            rule TEXT NOT NULL,
            PRIMARY KEY (story_id, rule)
        ) WITHOUT ROWID"""
    )


def _migration_6(db: sqlite_utils.Database) -> None:
    """A feed that answers 304 (or fails) for longer than ``retention`` still lists what
    it listed at its last parse (#15): keys remember their feed, feeds when they were
    last parsed, and pruning keeps the keys of a feed's last parse."""
    db.execute("ALTER TABLE story_keys ADD COLUMN feed TEXT")
    db.execute("UPDATE story_keys SET feed = (SELECT feed FROM stories WHERE id = story_id)")
    db.execute("ALTER TABLE feeds ADD COLUMN last_parsed TEXT")


def _migration_7(db: sqlite_utils.Database) -> None:
    """Several instances on one database (#17): a feed names the instance that polled it
    last, and a feed or a delivery can be leased by one instance for a while.  SQLite has
    one writer and never leases; the columns keep one schema, and one SQL, for both."""
    db.execute("ALTER TABLE feeds ADD COLUMN polled_by TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN lease_owner TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN lease_until TEXT")
    db.execute("ALTER TABLE feeds ADD COLUMN host TEXT")
    db.execute("ALTER TABLE deliveries ADD COLUMN claimed_by TEXT")
    db.execute("ALTER TABLE deliveries ADD COLUMN claim_until TEXT")
    db.execute("CREATE TABLE instances (name TEXT PRIMARY KEY, seen_at TEXT NOT NULL)")


MIGRATIONS: Sequence[Callable[[sqlite_utils.Database], None]] = (
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
    _migration_6,
    _migration_7,
)
