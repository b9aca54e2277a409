"""Batched ingest of peers' records into the SQLite store.

The checks and their order are the core's (:mod:`meshpantry.core.ingest`);
this module runs them over SQLite. For one batch of raw records
(:func:`ingest_batch`):

1. **Skip what is held** before paying for any check: byte-identical copies
   within the batch, and records whose id (the hash of the payload, read
   without checking anything else: :func:`quick_id`) is already in the log or
   the waiting room, are counted as duplicates.
2. **Check** the rest (:mod:`.verification`, steps 1-4 of the pipeline):
   decode, neighbourhood, time bound on the calling thread, signatures spread
   over worker threads for large batches. Each failure is reported with its
   typed error and the record goes no further.
3. **Admit, wait, log** (:class:`meshpantry.core.ingest.Intake`, steps 5-9)
   in input order, over :class:`SqliteLog`, writing the log rows a chunk at a
   time as soon as a chunk is decided, while the worker threads still check
   the next chunks.

Records already decoded and signature-checked (by the gossip validator, or
by the node's checking processes, which send all but membership records as
their log rows: :class:`~meshpantry.core.record_log.LogRow`) take
:func:`ingest_verified` instead, which skips steps 1 and 4.

The caller runs all of this in one transaction. One bad record never raises
and never costs the good records of the same batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence

import msgpack

from meshpantry.core import ingest as pipeline
from meshpantry.core.admission import Admissions
from meshpantry.core.ingest import Fork, IngestReport, Intake, Rejection
from meshpantry.core.record_log import Logged
from meshpantry.core.waiting import WaitingRoom
from protocol import Record, limits, record_id

from . import log, waiting
from .verification import VerifierPool

__all__ = [
    "Fork",
    "IngestReport",
    "Rejection",
    "SqliteLog",
    "admit_waiting",
    "ingest_batch",
    "ingest_verified",
    "quick_id",
]


class SqliteLog:
    """The store's :class:`~meshpantry.core.record_log.RecordLog`, for one
    transaction on ``conn``.

    ``heads`` maps each author to the highest seq in the log when the
    transaction began (:meth:`Store.heads`): a record past it has nothing at
    its seq, so the fork lookup skips the query. ``held``, when given,
    answers :meth:`present` for the log as this transaction sees it (the
    store's :meth:`.summary.LogSummary.held`, a set in memory), else the
    log is asked.
    """

    def __init__(
        self, conn: sqlite3.Connection, heads: Mapping[bytes, tuple[int, bytes]], reach: int = 0,
        held: Callable[[Collection[bytes]], set[bytes]] | None = None,
    ) -> None:
        self.conn = conn
        self.heads = heads
        self.reach = reach  #: the log's Lamport reach when the transaction began
        self._held = held

    def lamport_reach(self) -> int:
        return self.reach

    def present(self, ids: Collection[bytes]) -> set[bytes]:
        if self._held is not None:
            return self._held(ids)
        return log.present(self.conn, ids)

    def ids_at_seq(self, author: bytes, seq: int) -> list[bytes]:
        top = self.heads.get(author)
        if top is None or seq > top[0]:
            return []
        return log.at_seq(self.conn, author, seq)

    def ids_at_seqs(self, keys: Sequence[tuple[bytes, int]]) -> list[list[bytes]]:
        # ids_at_seq for each key, without a method call a record: a sync
        # batch's records lie past their chain's head nearly always.
        heads, conn = self.heads, self.conn
        found: list[list[bytes]] = []
        for author, seq in keys:
            top = heads.get(author)
            found.append([] if top is None or seq > top[0] else log.at_seq(conn, author, seq))
        return found

    def append(self, records: Sequence[Logged]) -> None:
        log.insert(self.conn, records)

    def note_forks(self, forks: Sequence[Fork]) -> None:
        self.conn.executemany(
            "INSERT OR IGNORE INTO forks (author, seq, first_id, second_id) VALUES (?, ?, ?, ?)",
            [(f.author, f.seq, f.first_id, f.second_id) for f in forks],
        )

    def keep_waiting(self, record: Record, now: int) -> None:
        waiting.put(self.conn, record, now)

    def waiting_record(self, rid: bytes) -> Record:
        return waiting.get(self.conn, rid)

    def forget_waiting(self, rid: bytes) -> None:
        waiting.delete(self.conn, rid)


def quick_id(raw: bytes) -> bytes | None:
    """The id of ``raw`` if it looks like an envelope, without checking it:
    enough to skip a record already held before paying for its checks."""
    if len(raw) > limits.MAX_RECORD_BYTES:
        return None
    try:
        outer = msgpack.unpackb(raw, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException):
        return None
    if type(outer) is not list or len(outer) != 2 or type(outer[0]) is not bytes:
        return None
    return record_id(outer[0])


def ingest_batch(
    conn: sqlite3.Connection,
    raws: Sequence[bytes],
    now: int,
    *,
    neighbourhood: bytes,
    admissions: Admissions,
    room: WaitingRoom,
    pool: VerifierPool,
    heads: Mapping[bytes, tuple[int, bytes]],
    reach: int,
    held: Callable[[Collection[bytes]], set[bytes]] | None = None,
) -> IngestReport:
    """Ingest ``raws`` inside the caller's open transaction.

    ``now`` is the receiver's clock in ms; ``heads``, ``reach`` and ``held``
    as for :class:`SqliteLog`.
    Returns the report (its ``logged`` are the records written to the log, in
    insertion order). Raises only for local failures (SQLite errors); the
    caller then rolls back and reloads ``admissions`` and ``room``, which this
    function has changed in memory.
    """
    intake = Intake(SqliteLog(conn, heads, reach, held), admissions, room, now)
    seen_raw: set[bytes] = set()
    fresh: list[tuple[int, bytes, bytes | None]] = []
    for index, raw in enumerate(raws):
        if raw in seen_raw:
            intake.duplicate()
            continue
        seen_raw.add(raw)
        fresh.append((index, raw, quick_id(raw)))
    held = intake.already_held([rid for _, _, rid in fresh if rid is not None])
    todo: list[tuple[int, bytes]] = []
    for index, raw, rid in fresh:
        if rid is not None and rid in held:
            intake.duplicate()
        else:
            todo.append((index, raw))

    mode = pool.mode_for(len(todo))
    started = time.perf_counter()
    for chunk in pool.check_all(todo, neighbourhood, now, mode):
        passed = []
        for checked in chunk:
            if checked.record is None:
                assert checked.error is not None
                intake.refuse(checked.index, checked.record_id, checked.error)
            else:
                passed.append((checked.index, checked.record))
        intake.take_all(passed)
        intake.flush()  # SQLite works while the workers check the next chunks
    pool.observe(mode, len(todo), time.perf_counter() - started)
    return intake.finish()


def ingest_verified(
    conn: sqlite3.Connection,
    records: Sequence[Logged],
    now: int,
    *,
    neighbourhood: bytes,
    admissions: Admissions,
    room: WaitingRoom,
    heads: Mapping[bytes, tuple[int, bytes]],
    reach: int,
    held: Callable[[Collection[bytes]], set[bytes]] | None = None,
) -> IngestReport:
    """Ingest records already decoded and signature-checked
    (:func:`meshpantry.core.ingest.ingest_checked`) inside the caller's open
    transaction; otherwise as :func:`ingest_batch`."""
    return pipeline.ingest_checked(
        SqliteLog(conn, heads, reach, held), admissions, room, records, neighbourhood=neighbourhood, now=now
    )


def admit_waiting(
    conn: sqlite3.Connection,
    *,
    admissions: Admissions,
    room: WaitingRoom,
    heads: Mapping[bytes, tuple[int, bytes]],
) -> IngestReport:
    """Log the waiting records that membership now decides about, inside the
    caller's open transaction (after membership grew outside an ingest)."""
    return pipeline.admit_waiting(SqliteLog(conn, heads), admissions, room)
