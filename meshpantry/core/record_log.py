"""The one storage interface the ingest pipeline writes through.

A node's storage, as far as deciding about arriving records goes, is a record
log (append-only, keyed by record id) and the records its waiting room holds.
:class:`RecordLog` is that and nothing more. Two stores implement it: the
node's SQLite store (:class:`meshpantry.store.ingest.SqliteLog`, one per
transaction) and the simulator's memory store
(:class:`simulations.sim.memory_store.MemoryStore`). Both run the same
pipeline (:mod:`meshpantry.core.ingest`) over it, so what the simulator proves
about ingest holds for the node.

Everything else a store does (durability, reading views, sync indexes, the
address book) is the store's own business and not part of this interface.
"""

from __future__ import annotations

import zlib
from collections.abc import Collection, Iterable, Sequence
from functools import partial
from typing import TYPE_CHECKING, NamedTuple, Protocol, Union, runtime_checkable

from protocol import Record

if TYPE_CHECKING:
    from .ingest import Fork

#: The body field naming the record a kind refers to (its "referent"), kept in
#: a column of the log (not indexed: the views keep their own links).
REFERENT_FIELD = {
    "offer_update": "offer",
    "offer_withdraw": "offer",
    "claim": "offer",
    "claim_cancel": "claim",
    "claim_decision": "claim",
    "handover": "claim",
    "pledge": "meal",
    "recipe_edit": "recipe",
    "story": "recipe",
    "join": "invite",
}


class LogRow(NamedTuple):
    """A checked record as a log row: the record's header and bytes, ready
    for the log's insert, and no body.

    The pipeline's steps 5-9 read only a record's header (id, author, seq,
    Lamport counter, time, kind, neighbourhood) and its bytes, except for
    membership records (:data:`.admission.ADMISSION_KINDS`), whose bodies
    admission reads: a row stands for any other record. The node's
    checking processes send their checked records back as rows (as plain
    tuples, see :func:`row_fields`): a row pickles to half the bytes of a
    :class:`~protocol.Record` and unpickles in a ninth of the time (0.75 µs
    against 6.3 measured), on the thread that stores them. Who needs a
    record's body (the views) reads it from the log.
    """

    neighbourhood: bytes
    id: bytes
    author: bytes
    seq: int
    prev: bytes | None
    lamport: int
    time: int
    kind: str
    referent: bytes | None  #: see :data:`REFERENT_FIELD`
    raw: bytes
    sum: int  #: CRC-32 of ``raw``, checked before the record is served


#: What the pipeline takes in and logs: records, or rows of records whose
#: bodies no step reads (see :class:`LogRow`).
Logged = Union[Record, LogRow]


def referent_in(kind: str, body: dict) -> bytes | None:
    """The id a record of ``kind`` with ``body`` refers to, or None for
    kinds that refer to nothing."""
    name = REFERENT_FIELD.get(kind)
    value = body.get(name) if name else None
    return value if type(value) is bytes else None


def row_fields(record: Record, neighbourhood: bytes | None = None) -> tuple:
    """The fields of ``record``'s row, in :class:`LogRow`'s order, as a
    plain tuple: what a checking process sends back. A plain tuple pickles
    in a quarter of a LogRow's time (0.29 µs against 1.14 a row, measured),
    which pickles through a Python method per row, and unpickles in half
    (its class's ``__new__`` is Python too); :func:`as_rows` makes them
    rows again. ``neighbourhood``: an equal bytes object to share (rows of
    one batch pickle it once)."""
    return row_of_fields(
        record.neighbourhood if neighbourhood is None else neighbourhood, record.id, record.author,
        record.seq, record.prev, record.lamport, record.time, record.kind, record.body, record.raw,
    )


def row_of_fields(neighbourhood: bytes, rid: bytes, author: bytes, seq: int, prev: bytes | None,
                  lamport: int, time: int, kind: str, body: dict, raw: bytes) -> tuple:
    """:func:`row_fields` of a record given as its fields (a checking
    process reads them without building a :class:`Record`)."""
    return (neighbourhood, rid, author, seq, prev, lamport, time, kind, referent_in(kind, body), raw,
            zlib.crc32(raw))


_row_of = partial(tuple.__new__, LogRow)


def log_row(record: Record, neighbourhood: bytes | None = None) -> LogRow:
    """``record``'s row (see :func:`row_fields`)."""
    return _row_of(row_fields(record, neighbourhood))


def as_rows(fields: Iterable[tuple]) -> list[LogRow]:
    """Rows of :func:`row_fields` tuples, in order (no Python call a row)."""
    return list(map(_row_of, fields))


@runtime_checkable
class RecordLog(Protocol):
    """What the ingest pipeline needs of a store."""

    def present(self, ids: Collection[bytes]) -> set[bytes]:
        """The subset of ``ids`` in the log (the waiting room not included)."""
        ...

    def ids_at_seq(self, author: bytes, seq: int) -> list[bytes]:
        """Ids of ``author``'s records at ``seq`` in the log, first arrived
        first (more than one is a fork), as a new list the caller may keep
        and extend. Not asked again for a key whose records the pipeline
        appended itself."""
        ...

    def lamport_reach(self) -> int:
        """The reach of the log's Lamport counters
        (:func:`meshpantry.core.lamport.reach_of`), asked once per batch."""
        ...

    def ids_at_seqs(self, keys: Sequence[tuple[bytes, int]]) -> list[list[bytes]]:
        """:meth:`ids_at_seq` of each (author, seq) of ``keys``, in order:
        the lookups of a whole batch at once."""
        ...

    def append(self, records: Sequence[Logged]) -> None:
        """Add checked, admitted records (or their rows) to the log, in order
        (none held yet).

        The one point where records enter the log: whatever the store derives
        from each new record (indexes, views) it writes here, in the same
        commit. Called once or more per batch, always before :meth:`note_forks`.
        """
        ...

    def note_forks(self, forks: Sequence["Fork"]) -> None:
        """Keep evidence that an author signed two records at one seq."""
        ...

    def keep_waiting(self, record: Record, now: int) -> None:
        """Hold ``record`` (not in the log) until membership decides about it;
        ``now`` is the receiver's clock in ms."""
        ...

    def waiting_record(self, rid: bytes) -> Record:
        """A record held by :meth:`keep_waiting` and not yet forgotten."""
        ...

    def forget_waiting(self, rid: bytes) -> None:
        """Drop a waiting record (it entered the log, was refused, or was
        pushed out by the room's bounds)."""
        ...
