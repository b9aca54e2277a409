"""Batched ingest of records from peers.

Theory of operation, for one batch of raw records (:func:`ingest_batch`):

1. **Skip duplicates** before paying for any check: byte-identical copies
   within the batch, and records whose id (the hash of the payload, read
   without checking anything else) is already in the log or the waiting room,
   are counted and dropped.
2. **Check** the rest (:mod:`.verification`): decode
   (:func:`protocol.decode_record`: size, canonical form, envelope, body
   schema), bound the time (a record dated more than ``MAX_FUTURE_SKEW_MS``
   ahead of ``now`` is :class:`FromTheFuture`), verify the signature
   (:class:`BadSignature`), spread over worker threads for large batches. Each
   failure is reported with its typed error and the record goes no further.
3. **Second copies**: two copies with the same id (same payload, different
   signature bytes) can differ only by a forged signature; the first valid copy
   counts, later ones are duplicates.
4. **Admit**, in input order: membership says ADMIT (the record enters the log),
   WAIT (it goes to the waiting room) or REJECT (reported as :class:`NotAdmitted`).
   A record at an (author, seq) already held under another id is a **fork**:
   both stay in the log as evidence, and the pair is recorded and reported.
5. **Re-check the waiting room** whenever membership grew, until it stops
   growing, so a batch may carry a member's records before its join.
6. **Write** the log rows a chunk at a time, as soon as a chunk of records is
   decided, while the worker threads still check the next chunks.

The caller runs all of this in one transaction. One bad record never raises
and never costs the good records of the same batch.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgpack

from meshpantry.core.membership import Admission
from protocol import Record, limits, record_id
from protocol.errors import RemoteError

from . import log
from .admission import Admissions
from .errors import NotAdmitted
from .verification import VerifierPool
from .waiting import WaitingRoom


@dataclass(frozen=True, slots=True)
class Rejection:
    """One record refused by an ingest, and why."""

    index: int | None  #: position in the batch; None for a record that had been waiting
    record_id: bytes | None  #: None when the bytes did not decode
    error: RemoteError


@dataclass(frozen=True, slots=True)
class Fork:
    """Two records signed by one author at one seq: proof the author forked."""

    author: bytes
    seq: int
    first_id: bytes  #: the one that arrived first
    second_id: bytes


@dataclass
class IngestReport:
    """What one :meth:`Store.ingest` call did."""

    added: list[bytes] = field(default_factory=list)  #: ids now in the log, in insertion order
    duplicates: int = 0  #: records already held (log, waiting room or earlier in the batch)
    waiting: int = 0  #: records of this batch left in the waiting room
    rejected: list[Rejection] = field(default_factory=list)
    forks: list[Fork] = field(default_factory=list)
    dropped_waiting: int = 0  #: waiting records pushed out by the room's bounds


class _Batch:
    """The state of one ingest while it runs."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        admissions: Admissions,
        waiting: WaitingRoom,
        now: int,
        heads: Mapping[bytes, tuple[int, bytes]],
    ) -> None:
        self.conn = conn
        self.heads = heads
        self.admissions = admissions
        self.waiting = waiting
        self.now = now
        self.report = IngestReport()
        self.logged: list[Record] = []
        self.flushed = 0  #: records of ``logged`` already inserted
        self.logged_ids: set[bytes] = set()
        self.at_seq: dict[tuple[bytes, int], list[bytes]] = {}
        self.waiting_from_batch: set[bytes] = set()
        self.grew = False

    def admit(self, index: int | None, record: Record) -> None:
        verdict = self.admissions.admits(record)
        if verdict is Admission.ADMIT:
            self.log(record)
        elif verdict is Admission.WAIT:
            for dropped in self.waiting.add(record, self.now):
                self.report.dropped_waiting += 1
                self.waiting_from_batch.discard(dropped)
            self.waiting_from_batch.add(record.id)
        else:
            self.reject(index, record)

    def reject(self, index: int | None, record: Record) -> None:
        error = NotAdmitted(record.id, record.author, record.kind, record.neighbourhood)
        self.report.rejected.append(Rejection(index, record.id, error))

    def log(self, record: Record) -> None:
        key = (record.author, record.seq)
        held = self.at_seq.get(key)
        if held is None:
            top = self.heads.get(record.author)
            if top is None or record.seq > top[0]:
                held = self.at_seq[key] = []  # past the author's head: nothing there
            else:
                held = self.at_seq[key] = log.at_seq(self.conn, *key)
        for other in held:
            fork = Fork(record.author, record.seq, other, record.id)
            self.report.forks.append(fork)
        held.append(record.id)
        self.logged.append(record)
        self.logged_ids.add(record.id)
        self.report.added.append(record.id)
        if self.admissions.learn(record, admitted=True):
            self.grew = True

    def drain_waiting(self) -> None:
        while self.grew:
            self.grew = False
            admitted, rejected = self.waiting.ready(self.admissions)
            for record in rejected:
                self.waiting_from_batch.discard(record.id)
                self.reject(None, record)
            for record in admitted:
                self.waiting_from_batch.discard(record.id)
                self.log(record)

    def flush(self) -> None:
        """Insert the records logged since the last flush."""
        log.insert(self.conn, self.logged[self.flushed :])
        self.flushed = len(self.logged)

    def write(self) -> None:
        self.flush()
        self.conn.executemany(
            "INSERT OR IGNORE INTO forks (author, seq, first_id, second_id) VALUES (?, ?, ?, ?)",
            [(f.author, f.seq, f.first_id, f.second_id) for f in self.report.forks],
        )
        self.report.waiting = len(self.waiting_from_batch)


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
    admissions: Admissions,
    waiting: WaitingRoom,
    pool: VerifierPool,
    heads: Mapping[bytes, tuple[int, bytes]],
) -> tuple[IngestReport, list[Record]]:
    """Ingest ``raws`` inside the caller's open transaction.

    ``now`` is the receiver's clock in ms; ``heads`` maps each author to the
    highest seq in the log (:meth:`Store.heads`), so that records past it skip
    the fork lookup. Returns the report and the records written to the log, in
    insertion order. Raises only for local failures
    (SQLite errors); the caller then rolls back and reloads ``admissions`` and
    ``waiting``, which this function has changed in memory.
    """
    batch = _Batch(conn, admissions, waiting, now, heads)
    report = batch.report
    seen_raw: set[bytes] = set()
    fresh: list[tuple[int, bytes, bytes | None]] = []
    for index, raw in enumerate(raws):
        if raw in seen_raw:
            report.duplicates += 1
            continue
        seen_raw.add(raw)
        fresh.append((index, raw, quick_id(raw)))
    held = log.present(conn, (rid for _, _, rid in fresh if rid is not None))
    todo: list[tuple[int, bytes]] = []
    for index, raw, rid in fresh:
        if rid is not None and (rid in held or rid in waiting):
            report.duplicates += 1
        else:
            todo.append((index, raw))

    mode = pool.mode_for(len(todo))
    started = time.perf_counter()
    for chunk in pool.check_all(todo, now + limits.MAX_FUTURE_SKEW_MS, mode):
        for checked in chunk:
            record = checked.record
            if record is None:
                assert checked.error is not None
                report.rejected.append(Rejection(checked.index, checked.record_id, checked.error))
            elif record.id in batch.logged_ids or record.id in waiting:
                report.duplicates += 1  # a second copy whose signature bytes differ
            else:
                batch.admit(checked.index, record)
        batch.flush()  # SQLite works while the workers check the next chunks
    pool.observe(mode, len(todo), time.perf_counter() - started)
    batch.drain_waiting()
    batch.write()
    report.rejected.sort(key=lambda r: (r.index is None, r.index or 0))
    return report, batch.logged


def admit_waiting(
    conn: sqlite3.Connection,
    *,
    admissions: Admissions,
    waiting: WaitingRoom,
    heads: Mapping[bytes, tuple[int, bytes]],
) -> tuple[IngestReport, list[Record]]:
    """Log the waiting records that membership now decides about, inside the
    caller's open transaction (after membership grew outside an ingest)."""
    batch = _Batch(conn, admissions, waiting, now=0, heads=heads)
    batch.grew = True
    batch.drain_waiting()
    batch.write()
    return batch.report, batch.logged
