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

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from protocol import Record

if TYPE_CHECKING:
    from .ingest import Fork


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

    def append(self, records: Sequence[Record]) -> None:
        """Add checked, admitted records to the log, in order (none held yet).

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
