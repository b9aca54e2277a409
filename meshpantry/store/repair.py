"""Repairing a damaged store: keep what verifies, set the file aside, start clean.

A store whose database fails SQLite's check (:class:`~.errors.StoreDamaged`)
is not opened. :func:`repair` (``meshpantry repair``, with the node stopped):

1. takes the data directory's writer lock, and moves the damaged database
   (with its WAL and shared-memory files) aside as
   ``<database file>.damaged-<ms>`` beside it: nothing is deleted;
2. reads from that copy every row it still can, a range of rowids at a time,
   falling back to single rows around a damaged page, so one bad page costs
   only the rows on it: the records (log and waiting room), the settings
   (neighbourhood, household name), the block list and the address book;
3. keeps every record whose bytes decode and whose signature verifies, and
   drops the rest, counting them;
4. creates a fresh store in the same place, restores the settings, the block
   list and the address book, and takes the kept records in through the
   ordinary ingest (:meth:`.Store.ingest`: every check, views grown as it goes).

What was on the damaged pages is gone from this device only: every record is
also held by the neighbours, and the node fetches what it lacks at its next
syncs (the addresses it knew are kept for that). The device's own chain may
have lost records too, so the caller marks the chain unsure: the device
fetches its own records from a neighbour before it writes again, and never
reuses a seq (which would fork its chain).
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from protocol import decode_record, verify_record
from protocol.errors import RemoteError

from . import database
from .lock import WriterLock
from .store import Store

#: Rowids read per query while salvaging; a failed range is read again a row
#: at a time, so a damaged page costs its rows and a few hundred queries.
SALVAGE_RANGE = 256

#: When the damaged file cannot say its largest rowid, salvage stops after this
#: many empty ranges in a row (rowids are dense: the log only ever inserts).
EMPTY_RANGES_BEFORE_STOP = 64

#: The local tables salvaged besides the records, and their columns.
_LOCAL_TABLES = {
    "settings": ("name", "value"),
    "blocked": ("household",),
    "peers": ("peer_id", "multiaddrs", "last_seen", "last_sync", "failures"),
}


@dataclass
class RepairReport:
    """What :func:`repair` did."""

    set_aside: Path  #: where the damaged database now is
    kept: int = 0  #: records whose signature verifies, taken into the new store
    dropped: int = 0  #: records read back that failed to decode or verify
    unreadable_rows: int = 0  #: rows (of any table) on pages SQLite could not read
    neighbourhood_known: bool = False  #: the neighbourhood id survived
    logged: int = 0  #: of ``kept``, records now in the log (the rest wait or were refused)
    refused: int = 0  #: of ``kept``, records the ingest refused (a rule the log no longer meets)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "set_aside": str(self.set_aside), "kept": self.kept, "dropped": self.dropped,
            "unreadable_rows": self.unreadable_rows, "logged": self.logged,
            "refused": self.refused, "neighbourhood_known": self.neighbourhood_known,
            "notes": list(self.notes),
        }


def repair(path: Path, now: int) -> RepairReport:
    """Repair the store at ``path`` (a data directory or its database file).

    ``now`` is the clock in ms (names the set-aside file, and is the ingest's
    clock). Raises :class:`~.errors.StoreLocked` while the node runs.
    """
    directory, db_file = database.locate(Path(path))
    lock = WriterLock(directory / database.LOCK_FILE, directory)
    lock.acquire()
    try:
        aside = db_file.with_name(f"{db_file.name}.damaged-{now}")
        for suffix in ("", "-wal", "-shm"):
            source = db_file.with_name(db_file.name + suffix)
            if source.exists():
                os.replace(source, aside.with_name(aside.name + suffix))
        database.fsync_directory(directory)
        report = RepairReport(aside)
        salvaged = _salvage(aside, report)
    finally:
        lock.release()
    _restore(directory, salvaged, now, report)
    return report


@dataclass
class _Salvage:
    raws: list[bytes] = field(default_factory=list)  #: log then waiting room, in rowid order
    local: dict[str, list[tuple]] = field(default_factory=dict)


def _salvage(aside: Path, report: RepairReport) -> _Salvage:
    salvaged = _Salvage()
    if not aside.exists() or aside.stat().st_size == 0:
        report.notes.append("the damaged file held nothing to read")
        return salvaged
    try:
        conn = sqlite3.connect(aside, isolation_level=None)
        conn.execute("PRAGMA schema_version").fetchone()  # reads page 1: the schema
    except sqlite3.DatabaseError as exc:
        report.notes.append(f"the damaged file cannot be read as a database ({exc})")
        return salvaged
    try:
        for table in ("records", "waiting"):
            for (raw,) in _rows(conn, table, ("raw",), report):
                if type(raw) is not bytes:
                    report.dropped += 1
                    continue
                try:
                    verify_record(decode_record(raw))
                except RemoteError:
                    report.dropped += 1
                    continue
                salvaged.raws.append(raw)
        for table, columns in _LOCAL_TABLES.items():
            salvaged.local[table] = _rows(conn, table, columns, report)
    finally:
        conn.close()
    report.kept = len(salvaged.raws)
    return salvaged


def _rows(conn: sqlite3.Connection, table: str, columns: tuple[str, ...], report: RepairReport) -> list[tuple]:
    """Every row of ``table`` that can still be read, in rowid order."""
    select = f"SELECT rowid, {', '.join(columns)} FROM {table} WHERE rowid > ? AND rowid <= ?"
    try:
        top = conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            return []
        top = None
    rows: list[tuple] = []
    start, empty_run = 0, 0  # top None (unreadable): scan until a long run of empty ranges
    while (start < top) if top is not None else (empty_run < EMPTY_RANGES_BEFORE_STOP):
        end = start + SALVAGE_RANGE
        try:
            batch = conn.execute(select, (start, end)).fetchall()
        except sqlite3.DatabaseError:
            batch = []
            for rowid in range(start + 1, end + 1):
                try:
                    batch.extend(conn.execute(select, (rowid - 1, rowid)).fetchall())
                except sqlite3.DatabaseError:
                    report.unreadable_rows += 1
        rows.extend(row[1:] for row in batch)
        empty_run = 0 if batch else empty_run + 1
        start = end
    return rows


def _restore(directory: Path, salvaged: _Salvage, now: int, report: RepairReport) -> None:
    store = Store.open(directory)
    try:
        settings = dict(salvaged.local.get("settings", []))
        conn = store._conn  # the new store's own connection: local tables are written as they were
        with database.transaction(conn):
            for name, value in settings.items():
                conn.execute("INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value))
            conn.executemany("INSERT OR IGNORE INTO blocked (household) VALUES (?)", salvaged.local.get("blocked", []))
            conn.executemany(
                "INSERT OR IGNORE INTO peers (peer_id, multiaddrs, last_seen, last_sync, failures) "
                "VALUES (?, ?, ?, ?, ?)", salvaged.local.get("peers", []),
            )
        report.neighbourhood_known = settings.get("neighbourhood") is not None
        store.set_setting("neighbourhood", settings.get("neighbourhood"))  # loads membership anew
        if not report.neighbourhood_known:
            if salvaged.raws:
                report.notes.append("the neighbourhood id was lost: join or found again to use the kept records")
            return
        result = store.ingest(salvaged.raws, now)
        report.logged = len(result.added)
        report.refused = len(result.rejected)
        store.views()  # the views grow to the whole log now, not at a reader's first question
    finally:
        store.close()
