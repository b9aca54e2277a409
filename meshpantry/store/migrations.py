"""Named schema migrations, recorded in the ``migrations`` table.

Each migration has a name that never changes and a list of SQL statements.
:func:`migrate` applies, in order, those whose name the table does not list yet,
each in its own transaction together with the row that records it, so a crash
mid-way leaves either all of a migration or none. Running it again is a no-op.

A database that lists a migration this code does not know was written by a
newer meshpantry: it is refused rather than guessed at.

Schema notes:

* ``records`` carries few indexes, since each costs every insert: the
  UNIQUE id (duplicates, reads by id), ``records_chain`` (author, seq: forks,
  chains, heads) and the partial ``records_membership_kinds`` (membership
  records, read on every open; its condition joins the kinds by OR, which a
  query must repeat: :func:`.view_schema.membership_where`). Migration
  0001's ``records_referent`` and ``records_membership`` are dropped by
  0010: nothing read them.
* ``records`` is a rowid table with a UNIQUE id rather than ``WITHOUT ROWID``:
  batched inserts measured ~90k rows/s against ~15k rows/s (2-core machine),
  and the rowid gives every record an arrival order (``since_rowid``).
* Forked records (same author and seq, different id) both stay in ``records``,
  so replicas holding the same records hold the same log; ``forks`` lists the
  pairs and is rebuilt from ``records`` by :meth:`Store.rebuild_views`.
* ``waiting`` holds verified records whose author is not (yet) a member; it is
  not part of the log.
* ``view_*`` tables hold the state derived from the log (:mod:`.views`), kept
  in step with it in the same transactions and rebuilt from it by
  :meth:`Store.rebuild_views`.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from . import log
from .database import transaction
from .view_schema import BOARD_FILTER_INDEXES, BOARD_UNDATED_INDEXES, MEMBERSHIP_INDEX_0007, MEMBERSHIP_INDEX_0011
from .view_schema import SCHEMA as VIEWS_SCHEMA


#: Migration 0010's statements: the log's indexes that no query reads.
UNREAD_RECORD_INDEXES_0010 = (
    "DROP INDEX IF EXISTS records_referent",
    "DROP INDEX IF EXISTS records_membership",
)


@dataclass(frozen=True)
class Migration:
    name: str  #: unique and never renamed once released
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "0001_record_log",
        (
            """CREATE TABLE records (
                rowid INTEGER PRIMARY KEY,
                id BLOB NOT NULL UNIQUE,
                author BLOB NOT NULL,
                seq INTEGER NOT NULL,
                prev BLOB,
                lamport INTEGER NOT NULL,
                time INTEGER NOT NULL,
                kind TEXT NOT NULL,
                referent BLOB,
                raw BLOB NOT NULL
            )""",
            "CREATE INDEX records_chain ON records (author, seq)",
            "CREATE INDEX records_referent ON records (referent) WHERE referent IS NOT NULL",
            # Only membership records are indexed by kind: they are replayed on
            # every open, and indexing every record's kind would slow ingest.
            "CREATE INDEX records_membership ON records (kind) "
            "WHERE kind IN ('neighbourhood', 'join', 'device_link', 'invite')",
        ),
    ),
    Migration(
        "0002_settings",
        ("CREATE TABLE settings (name TEXT PRIMARY KEY, value)",),
    ),
    Migration(
        "0003_forks_and_waiting",
        (
            """CREATE TABLE forks (
                author BLOB NOT NULL,
                seq INTEGER NOT NULL,
                first_id BLOB NOT NULL,
                second_id BLOB NOT NULL,
                PRIMARY KEY (first_id, second_id)
            )""",
            """CREATE TABLE waiting (
                rowid INTEGER PRIMARY KEY,
                id BLOB NOT NULL UNIQUE,
                author BLOB NOT NULL,
                received INTEGER NOT NULL,
                raw BLOB NOT NULL
            )""",
            "CREATE INDEX waiting_author ON waiting (author)",
        ),
    ),
    Migration(
        "0004_blocked_and_peers",
        (
            "CREATE TABLE blocked (household BLOB PRIMARY KEY)",
            """CREATE TABLE peers (
                peer_id TEXT PRIMARY KEY,
                multiaddrs TEXT NOT NULL,
                last_seen INTEGER NOT NULL,
                last_sync INTEGER,
                failures INTEGER NOT NULL DEFAULT 0
            )""",
        ),
    ),
    # The neighbourhood's state, grown record by record in the transaction
    # that logs the record (:mod:`.views`). Empty when created: a store
    # written by an earlier version fills them from its log on first use.
    Migration("0005_views", VIEWS_SCHEMA),
    # A filtered board is narrowed in the open board's indexes (:mod:`.view_schema`).
    Migration("0006_board_filter_indexes", BOARD_FILTER_INDEXES),
    # Membership records include invite cancellations.
    Migration("0007_membership_index_invite_cancel", MEMBERSHIP_INDEX_0007),
    # A checksum of each record's bytes, checked before a record is served
    # (:func:`.log.intact`); filled in for the rows already held.
    Migration(
        "0008_record_sums",
        (
            "ALTER TABLE records ADD COLUMN sum INTEGER",
            "UPDATE records SET sum = raw_sum(raw)",
        ),
    ),
    # Undated offers, newest first, after the dated ones (:mod:`.view_schema`).
    Migration("0009_board_undated_indexes", BOARD_UNDATED_INDEXES),
    # Two indexes of the log no query reads: the views find a record's
    # referents in their own tables, and the membership queries read
    # ``records_membership_all``. Every insert paid for them (about 2 µs of
    # the 11 µs a row cost while a new device took in 100,000 records).
    Migration("0010_drop_unread_record_indexes", UNREAD_RECORD_INDEXES_0010),
    # The membership index again, its kinds joined by OR rather than listed
    # with IN (:func:`.view_schema.membership_where`): 2.4 µs less per insert.
    Migration("0011_membership_index_without_in", MEMBERSHIP_INDEX_0011),
)

_TABLE = "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)"


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations recorded in the database, in the order applied."""
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
    ).fetchone()
    if not exists:
        return []
    return [name for (name,) in conn.execute("SELECT name FROM migrations ORDER BY rowid")]


def unknown(conn: sqlite3.Connection, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Recorded migration names that ``migrations`` does not contain."""
    known = {m.name for m in migrations}
    return [name for name in applied(conn) if name not in known]


def migrate(
    conn: sqlite3.Connection, now: int, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[str]:
    """Apply the migrations not yet recorded; return the names applied now.

    ``now`` (ms since the epoch) is written as each migration's ``applied_at``.
    The caller checks :func:`unknown` first if it must refuse newer databases.
    """
    assert len({m.name for m in migrations}) == len(migrations), "migration names must be unique"
    conn.create_function("raw_sum", 1, log.raw_sum, deterministic=True)
    with transaction(conn):
        conn.execute(_TABLE)
    done = set(applied(conn))
    new: list[str] = []
    for migration in migrations:
        if migration.name in done:
            continue
        with transaction(conn):
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (migration.name, now)
            )
        new.append(migration.name)
    return new
