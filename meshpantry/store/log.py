"""The record log: the signed records exactly as received, plus index columns.

The log is the source of truth of a node. Each row keeps ``raw`` (the bytes that
were signed and sent, never re-encoded) and copies of envelope fields for
queries. Rows are only ever inserted: the rowid is the arrival order, and the
largest rowid changes exactly when the log does.

Records read back are decoded by :func:`trusted_decode`, which skips the
canonical-form and signature checks: every row was checked on the way in.

Each row also keeps ``sum``, a CRC-32 of ``raw`` (:func:`raw_sum`). What is
read back to be sent to a peer (:func:`in_chain_order`, :func:`chain`,
:func:`raws_of`, :func:`get`, :func:`pages`) is checked against it: a record
whose stored bytes changed on disk is never served, since a peer would find
its signature broken and cut this node off. The check costs about 0.2 µs a
record, where verifying the signature again costs 100-400 µs.
"""

from __future__ import annotations

import logging
import sqlite3
import zlib
from collections.abc import Iterable, Iterator, Sequence

import msgpack

from meshpantry.core.record_log import Logged, LogRow, log_row
from protocol import Record, record_id

#: Rows fetched per query when iterating the log, so a long iteration holds no
#: cursor open across the caller's own writes.
PAGE_ROWS = 1_000

#: Takes a :class:`LogRow` without its first field, the neighbourhood, which
#: is not a column. Bound as it was (the whole row, parameters numbered from
#: 2) Python's sqlite3 bound all eleven values, the unused neighbourhood
#: copied as any blob: 4.7 against 3.5 µs a row for the statement alone
#: (100,000 rows in transactions of 8,192, measured in one process).
_INSERT = (
    "INSERT INTO records (id, author, seq, prev, lamport, time, kind, referent, raw, sum) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

_log = logging.getLogger(__name__)


def raw_sum(raw: bytes) -> int:
    """The checksum kept beside each record's bytes: CRC-32, enough to see
    bytes that changed on disk (it is no defence against someone who can
    write the file, who could rewrite the sum as well)."""
    return zlib.crc32(raw)


def intact(rid_or_rowid: object, raw: bytes, stored: int | None) -> bool:
    """Whether ``raw`` still matches its stored sum (rows logged before
    sums were kept have one filled in by the migration); logs the damage."""
    if stored is None or zlib.crc32(raw) == stored:
        return True
    shown = rid_or_rowid.hex()[:16] if isinstance(rid_or_rowid, bytes) else rid_or_rowid
    _log.error("record %s: its stored bytes changed on disk; not served "
               "(run 'meshpantry repair' with the node stopped)", shown)
    return False


def insert(conn: sqlite3.Connection, records: Sequence[Logged]) -> None:
    """Insert ``records`` (ids not already in the log; records or their
    rows) in one statement batch.

    The one point where records enter the log, peers' (through
    :meth:`meshpantry.store.ingest.SqliteLog.append`) and own alike, inside
    the caller's transaction: whatever is derived per record in the same
    transaction belongs here.
    """
    conn.executemany(_INSERT, [(r if type(r) is LogRow else log_row(r))[1:] for r in records])


def trusted_decode(raw: bytes) -> Record:
    """Rebuild a :class:`Record` from bytes that were fully checked before."""
    payload_bytes, signature = msgpack.unpackb(raw, raw=False)
    p = msgpack.unpackb(payload_bytes, raw=False, strict_map_key=False)
    return Record(
        raw=raw,
        id=record_id(payload_bytes),
        payload=payload_bytes,
        signature=signature,
        author=p["a"],
        neighbourhood=p["n"],
        seq=p["s"],
        prev=p["p"],
        lamport=p["c"],
        time=p["t"],
        kind=p["k"],
        body=p["b"],
    )


def get(conn: sqlite3.Connection, rid: bytes) -> bytes | None:
    found = conn.execute("SELECT raw, sum FROM records WHERE id = ?", (rid,)).fetchone()
    return found[0] if found and intact(rid, found[0], found[1]) else None


def present(conn: sqlite3.Connection, ids: Iterable[bytes], table: str = "records") -> set[bytes]:
    """The subset of ``ids`` held in ``table`` (``records`` or ``waiting``)."""
    assert table in ("records", "waiting")
    ids = list(ids)
    found: set[bytes] = set()
    # SQLite allows 32766 bound parameters; 500 keeps each statement small.
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(
            rid for (rid,) in conn.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk)
        )
    return found


def raws_of(conn: sqlite3.Connection, ids: Iterable[bytes]) -> list[bytes]:
    """The raw records of the held ``ids`` (unknown ids skipped), in no order."""
    ids = list(ids)
    raws: list[bytes] = []
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        raws.extend(
            raw for rid, raw, stored in conn.execute(f"SELECT id, raw, sum FROM records WHERE id IN ({marks})", chunk)
            if intact(rid, raw, stored)
        )
    return raws


def at_seq(conn: sqlite3.Connection, author: bytes, seq: int) -> list[bytes]:
    """Ids of the author's records at ``seq`` (more than one means a fork)."""
    return [
        rid
        for (rid,) in conn.execute(
            "SELECT id FROM records WHERE author = ? AND seq = ? ORDER BY rowid", (author, seq)
        )
    ]


def pages(conn: sqlite3.Connection, where: str, params: tuple, since_rowid: int) -> Iterator[tuple]:
    """Yield ``(rowid, raw)`` of matching rows in rowid order, a page at a time."""
    last = since_rowid
    while True:
        batch = conn.execute(
            f"SELECT rowid, raw, sum FROM records WHERE rowid > ? {where} ORDER BY rowid LIMIT {PAGE_ROWS}",
            (last, *params),
        ).fetchall()
        yield from ((rowid, raw) for rowid, raw, stored in batch if intact(rowid, raw, stored))
        if len(batch) < PAGE_ROWS:
            return
        last = batch[-1][0]


def chain(conn: sqlite3.Connection, author: bytes, from_seq: int) -> list[bytes]:
    """Raw records of ``author`` with seq >= ``from_seq``, in (seq, arrival) order."""
    return [
        raw
        for rid, raw, stored in conn.execute(
            "SELECT id, raw, sum FROM records WHERE author = ? AND seq >= ? ORDER BY seq, rowid",
            (author, from_seq),
        )
        if intact(rid, raw, stored)
    ]


def head(conn: sqlite3.Connection, author: bytes) -> tuple[int, bytes | None]:
    """(seq, id) of the author's highest record, (0, None) if it has none."""
    found = conn.execute(
        "SELECT seq, id FROM records WHERE author = ? ORDER BY seq DESC, rowid ASC LIMIT 1",
        (author,),
    ).fetchone()
    return (found[0], found[1]) if found else (0, None)


def last_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM records").fetchone()[0]


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]


def in_chain_order(conn: sqlite3.Connection, rowids: Iterable[int]) -> list[bytes]:
    """Raw records at ``rowids`` (missing rows skipped): each author's in seq
    order, authors by the lowest Lamport counter among their records here.
    Read by rowid, in rowid order (the table's own key): by id, SQLite
    first looked every id up in the id index, about 1.3 µs a record more."""
    rows: list[tuple[bytes, int, int, bytes]] = []
    rowids = sorted(rowids)
    crc32 = zlib.crc32
    for start in range(0, len(rowids), 500):
        chunk = rowids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for author, seq, lamport, raw, stored, rowid in conn.execute(
            f"SELECT author, seq, lamport, raw, sum, rowid FROM records WHERE rowid IN ({marks})", chunk
        ):
            if crc32(raw) == stored or intact(rowid, raw, stored):
                rows.append((author, seq, lamport, raw))
    first: dict[bytes, int] = {}
    for author, _, lamport, _ in rows:
        first[author] = min(lamport, first.get(author, lamport))
    rows.sort(key=lambda r: (first[r[0]], r[0], r[1], r[2]))
    return [raw for *_, raw in rows]


def fork_pairs(conn: sqlite3.Connection) -> list[tuple[bytes, int, bytes, bytes]]:
    """(author, seq, earlier id, later id) for every pair of records sharing an
    (author, seq), pairs in arrival order: what ingest records in ``forks``."""
    pairs: list[tuple[bytes, int, bytes, bytes]] = []
    held: dict[tuple[bytes, int], list[bytes]] = {}
    for rid, author, seq in conn.execute(
        "SELECT id, author, seq FROM records WHERE (author, seq) IN "
        "(SELECT author, seq FROM records GROUP BY author, seq HAVING COUNT(*) > 1) "
        "ORDER BY rowid"
    ):
        earlier = held.setdefault((author, seq), [])
        pairs.extend((author, seq, other, rid) for other in earlier)
        earlier.append(rid)
    return pairs
