"""Every record that exists in a run, decoded and checked once.

All simulated nodes receive the same bytes for a record, so decoding and
signature checking give the same answer at every node. The table does that
work once per distinct byte string (:meth:`RecordTable.verdict`) and every node
shares the result; what differs per node (its clock's bound on future times,
admission by membership, duplicates, durability) is still decided per node.

Records are named by their position in the table (an ``int``), which keeps
per-node logs small enough for thousands of nodes: a node's log is an array of
positions, not of bytes.
"""

from __future__ import annotations

from array import array
from dataclasses import replace

import numpy

from meshpantry.core.ingest import check_signature
from meshpantry.core.sync.items import ItemIndex
from protocol import Record, decode_record
from protocol.errors import RemoteError
from protocol.limits import ID_BYTES


#: :meth:`RecordTable.prev_positions` of a predecessor no record of the run
#: has: an index beyond every store's flags.
NOT_IN_TABLE = 1 << 40

_UNRESOLVED = -1

#: Sync indexes of record sets kept for other stores to take: sets that
#: nodes hold alike are those of the last moments (older ones have grown).
SHARED_INDEXES = 64

#: Positions from which :meth:`RecordTable.set_sums` and
#: :meth:`RecordTable.in_order` read the table's columns with numpy, many
#: positions at a call: below this, numpy's fixed cost per call is more than
#: a Python step per position. A sync index grows by thousands at a time.
ARRAY_FROM = 64

_WORD = (1 << 64) - 1  #: sums of 64-bit columns are kept mod 2^64

#: Bits of a record id (ids are SHA-256 digests, all this long).
_ID_BITS = 8 * ID_BYTES


class TableKeys:
    """The sync key of any record of the run that passed, by its id: the
    :class:`~meshpantry.core.sync.items.KeyLookup` of every memory store's
    sync index (an id's key never changes, and the table knows them all, so
    no index keeps a map of its own)."""

    __slots__ = ("_table",)

    def __init__(self, table: "RecordTable") -> None:
        self._table = table

    def get(self, item_id: bytes) -> tuple[int, bytes] | None:
        position = self._table.by_id.get(item_id)
        return None if position is None else self._table.sync_keys[position]

    def extended(self, new: object) -> "TableKeys":
        return self


class RecordTable:
    """Append-only table of raw records; positions are stable for the run."""

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self._position: dict[bytes, int] = {}
        self._decoded: list[Record | None] = []
        self._error: list[RemoteError | None] = []
        self._checked: list[bool] = []
        self.by_id: dict[bytes, int] = {}  #: id -> position, for records that passed
        #: position -> the record once it passed :meth:`verdict`, else None
        #: (read in C for a whole gossip message)
        self.passed: list[Record | None] = []
        #: position -> (lamport, id) of a record that passed, shared by every
        #: node's item list (read in C: ``map(sync_keys.__getitem__, ...)``)
        self.sync_keys: list[tuple[int, bytes] | None] = []
        #: position -> an int that sorts as its sync key does (lamport above
        #: the 32-byte id, big-endian), for a record that passed: sorting
        #: positions by it is many times cheaper than sorting the tuples
        self.sort_keys: list[int] = []
        #: position -> the Lamport counter, and the first and second 8 bytes
        #: of the id (big-endian), of a record that passed, else 0: numpy
        #: reads them for many positions at once (a sync index's new items
        #: are sorted by the first two, and named with the others by sums)
        self.lamports = array("q")
        self.id_heads = array("Q")
        self.id_words = array("Q")
        #: (author, seq) -> positions of the records that passed, for fork lookups
        self.at_seq: dict[tuple[bytes, int], list[int]] = {}
        #: position -> 1 when another record that passed has its (author,
        #: seq): a fork (read in C for a whole batch; nearly all 0)
        self.twinned = bytearray()
        self.verifications = 0  #: signature checks actually made
        #: position -> the decoded record, for bytes that decode but whose
        #: signature fails (forgeries): the gossip decision still judges their
        #: neighbourhood and time before the signature, as a node does
        self._unsigned: dict[int, Record] = {}
        #: position -> the position of its chain predecessor, itself when it
        #: has none, _UNRESOLVED until known (see :meth:`prev_positions`)
        self._prev: list[int] = []
        #: (count, sum of sort keys) of a record set -> a sync index of that
        #: set, the latest SHARED_INDEXES (see :meth:`share_index`)
        self.indexes: dict[tuple[int, int], ItemIndex] = {}
        self.keys = TableKeys(self)  #: the key lookup of every memory store's sync index
        #: value -> the one object every record that passed holds for it
        #: (authors, neighbourhoods, kinds; see _sharing)
        self._values: dict[bytes | str, bytes | str] = {}

    def add(self, raw: bytes, record: Record | None = None) -> int:
        """The position of ``raw``, adding it if new. ``record`` may carry a
        decoding already made (a freshly sealed record); its signature is
        still checked when first asked for."""
        position = self._position.get(raw)
        if position is not None:
            return position
        position = len(self.raws)
        self.raws.append(raw)
        self._position[raw] = position
        self._decoded.append(record)
        self._error.append(None)
        self._checked.append(False)
        self.sync_keys.append(None)
        self.sort_keys.append(-1)
        self.lamports.append(0)
        self.id_heads.append(0)
        self.id_words.append(0)
        self.passed.append(None)
        self._prev.append(_UNRESOLVED)
        self.twinned.append(0)
        return position

    def position(self, raw: bytes) -> int | None:
        return self._position.get(raw)

    def verdict(self, position: int) -> Record | RemoteError:
        """The decoded, signature-checked record at ``position``, or the error
        that refuses it: steps 1 and 4 of :mod:`meshpantry.core.ingest`, the
        checks whose answer is the same at every node, made once per run.
        Each node's store runs the other steps itself."""
        record = self._decoded[position]
        if record is not None and self._checked[position]:
            return record
        if not self._checked[position]:
            self._checked[position] = True
            try:
                record = self._decoded[position] or decode_record(self.raws[position])
                self.verifications += 1
                try:
                    check_signature(record)
                except RemoteError:
                    self._unsigned[position] = record
                    raise
                record = self._sharing(record)
                self._decoded[position] = record
                self.passed[position] = record
                self.sync_keys[position] = (record.lamport, record.id)
                self.sort_keys[position] = record.lamport << _ID_BITS | int.from_bytes(record.id, "big")
                self.lamports[position] = record.lamport
                self.id_heads[position] = int.from_bytes(record.id[:8], "big")
                self.id_words[position] = int.from_bytes(record.id[8:16], "big")
                if self.by_id.setdefault(record.id, position) == position:
                    same = self.at_seq.setdefault((record.author, record.seq), [])
                    same.append(position)
                    if len(same) > 1:
                        for twin in same:
                            self.twinned[twin] = 1
            except RemoteError as error:
                self._decoded[position] = None
                self._error[position] = error
        record = self._decoded[position]
        return record if record is not None else self._error[position]  # type: ignore[return-value]

    def share(self, value: bytes | str) -> None:
        """Make ``value`` (this object) the one the records that pass hold
        for it: the run's neighbourhood id, which every node compares every
        record's with."""
        self._values.setdefault(value, value)

    def _sharing(self, record: Record) -> Record:
        """``record`` with its author, neighbourhood and kind as one object
        per value for the whole run (an equal record): every node compares
        and looks these up for every record it takes in, and one object per
        value makes that an identity test on memory already at hand, where a
        copy per record costs a read of its own bytes."""
        same = self._values.setdefault
        author, neighbourhood, kind = same(record.author, record.author), \
            same(record.neighbourhood, record.neighbourhood), same(record.kind, record.kind)
        if author is record.author and neighbourhood is record.neighbourhood and kind is record.kind:
            return record
        return replace(record, author=author, neighbourhood=neighbourhood, kind=kind)

    def shared_checks(self, position: int) -> tuple[Record | RemoteError, RemoteError | None]:
        """Steps 1 and 4 at ``position`` apart, as
        :func:`meshpantry.core.gossip.check_shared` takes them: the record (or
        its decoding error) and the signature's failure (or None)."""
        verdict = self.verdict(position)
        if isinstance(verdict, Record):
            return verdict, None
        unsigned = self._unsigned.get(position)
        return (verdict, None) if unsigned is None else (unsigned, verdict)

    def prev_positions(self, positions: list[int]) -> list[int]:
        """For each position (of a record that passed), the position of its
        chain predecessor, or its own position when it has none, or
        :data:`NOT_IN_TABLE` (beyond any store's flags) when no record of
        the run has the predecessor's id yet. Lets a caller test "every
        predecessor held" with one lookup per record."""
        prevs = list(map(self._prev.__getitem__, positions))
        if min(prevs, default=0) < 0:
            for index, value in enumerate(prevs):
                if value < 0:
                    prevs[index] = self._resolve_prev(positions[index])
        return prevs

    def _resolve_prev(self, position: int) -> int:
        prev = self.record(position).prev
        if prev is None:
            self._prev[position] = position
            return position
        found = self.by_id.get(prev)
        if found is None:
            return NOT_IN_TABLE  # not cached: the predecessor may turn up later
        self._prev[position] = found
        return found

    def record(self, position: int) -> Record:
        """The record at ``position``; it must have passed :meth:`verdict`."""
        record = self._decoded[position]
        assert record is not None, "record() of a refused or unchecked record"
        return record

    def sync_key(self, position: int) -> tuple[int, bytes]:
        """(lamport, id) of a record that passed, shared by every node's item list."""
        key = self.sync_keys[position]
        if key is None:
            record = self.record(position)
            key = self.sync_keys[position] = (record.lamport, record.id)
        return key

    def set_sums(self, positions: array) -> tuple[int, int, int]:
        """For records that passed at ``positions`` (an ``array("i")``): the
        sums, each mod 2^64, of their Lamport counters and of the first and
        second 8 bytes of their ids. With the count, what names a set of
        records (see :meth:`share_index`); sums add, so a growing set's are
        kept up by adding its new records' ones."""
        if len(positions) < ARRAY_FROM:
            return (
                sum(map(self.lamports.__getitem__, positions)) & _WORD,
                sum(map(self.id_heads.__getitem__, positions)) & _WORD,
                sum(map(self.id_words.__getitem__, positions)) & _WORD,
            )
        at = numpy.frombuffer(positions, dtype=numpy.intc)
        # numpy's unsigned sums wrap mod 2^64, as these sums are kept
        return (
            int(numpy.frombuffer(self.lamports, dtype=numpy.int64)[at].sum(dtype=numpy.uint64)),
            int(numpy.frombuffer(self.id_heads, dtype=numpy.uint64)[at].sum(dtype=numpy.uint64)),
            int(numpy.frombuffer(self.id_words, dtype=numpy.uint64)[at].sum(dtype=numpy.uint64)),
        )

    def in_order(self, positions: array) -> list[tuple[int, bytes]]:
        """The sync keys of the records that passed at ``positions`` (an
        ``array("i")``, none twice), sorted. Many positions are sorted with
        numpy by Lamport counter and the first 8 bytes of the id, which
        orders them as the keys do unless two share both: then (never seen
        in practice, but possible) they are sorted by :attr:`sort_keys`."""
        if len(positions) >= ARRAY_FROM:
            at = numpy.frombuffer(positions, dtype=numpy.intc)
            lamports = numpy.frombuffer(self.lamports, dtype=numpy.int64)[at]
            heads = numpy.frombuffer(self.id_heads, dtype=numpy.uint64)[at]
            order = numpy.lexsort((heads, lamports))  # the last column sorts first
            lamports, heads = lamports[order], heads[order]
            if not ((lamports[1:] == lamports[:-1]) & (heads[1:] == heads[:-1])).any():
                return list(map(self.sync_keys.__getitem__, at[order].tolist()))
        return list(map(self.sync_keys.__getitem__, sorted(positions, key=self.sort_keys.__getitem__)))

    def share_index(self, key: tuple[int, ...], index: ItemIndex) -> None:
        """Offer ``index``, the sync index of the records whose count and
        :meth:`set_sums` are ``key``, to every store that comes to hold the same set (nodes
        that caught up with each other index one set again and again). The
        key names the set: two different sets of passed records with one
        count and the same three sums would need SHA-256 ids whose first 16
        bytes add up alike (mod 2^64, by halves), as unlikely as the sync
        fingerprints meeting by chance."""
        indexes = self.indexes
        indexes[key] = index
        if len(indexes) > SHARED_INDEXES:
            del indexes[next(iter(indexes))]  # the oldest

    def __len__(self) -> int:
        return len(self.raws)
