"""The waiting room's durable copy: the ``waiting`` table.

The room's rules and index are the core's
(:class:`meshpantry.core.waiting.WaitingRoom`); the table keeps the records
themselves, so that what waits survives a restart. :func:`load` rebuilds the
index from the table when a store opens; the ingest pipeline writes through
:class:`meshpantry.store.ingest.SqliteLog`, which uses the functions here.
"""

from __future__ import annotations

import sqlite3

from meshpantry.core.waiting import WaitingRoom
from protocol import Record

from . import log


def load(conn: sqlite3.Connection) -> WaitingRoom:
    """The room's index, oldest first, from the table."""
    room = WaitingRoom()
    for rid, author, raw in conn.execute("SELECT id, author, raw FROM waiting ORDER BY rowid"):
        dropped = room.add(rid, author, log.trusted_decode(raw).kind, len(raw))
        assert not dropped, "the table never holds more than the bounds"
    return room


def put(conn: sqlite3.Connection, record: Record, now: int) -> None:
    conn.execute(
        "INSERT INTO waiting (id, author, received, raw) VALUES (?, ?, ?, ?)",
        (record.id, record.author, now, record.raw),
    )


def get(conn: sqlite3.Connection, rid: bytes) -> Record:
    (raw,) = conn.execute("SELECT raw FROM waiting WHERE id = ?", (rid,)).fetchone()
    return log.trusted_decode(raw)


def delete(conn: sqlite3.Connection, rid: bytes) -> None:
    conn.execute("DELETE FROM waiting WHERE id = ?", (rid,))
