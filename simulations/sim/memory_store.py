"""An in-memory store for the simulator, running the node's own ingest pipeline.

Used at scale, where thousands of SQLite files would measure the disk rather
than the protocol. It implements the core's storage interface
(:class:`meshpantry.core.record_log.RecordLog`), and its ingest *is* the
node's: :func:`meshpantry.core.ingest.ingest_checked` with the core's
admission (:class:`meshpantry.core.admission.Admissions`) and waiting room
(:class:`meshpantry.core.waiting.WaitingRoom`, with the real bounds). What it
adds:

* **Shared checks**: decoding and signature checks (steps 1 and 4 of the
  pipeline) give the same answer at every node for the same bytes, so the
  run's :class:`~.record_table.RecordTable` makes them once per record for all
  nodes; each node still runs every other step (neighbourhood, the time bound
  by its own clock, duplicates, admission, waiting, fork evidence, append).
* **Positions**: the log is an array of positions in the table, not of
  bytes, so thousands of nodes fit in memory; duplicates are skipped by
  position before anything else.
* **Durability**: an ingest is a commit that is *not* fsynced; an own record
  (:meth:`append_own`) is fsynced, which makes every earlier commit durable
  too. A power cut (:meth:`power_cut`) rolls back some of the newest
  non-durable commits (how many is chance) and never an own record.

What it leaves out, on purpose: the block list and the address book.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Collection, Sequence
from functools import partial
from itertools import chain, compress, repeat
from operator import is_, itemgetter

import numpy

from meshpantry.core.admission import Admissions
from meshpantry.core.chain import ChainHead
from meshpantry.core.ingest import Fork, admit_waiting, check_own, ingest_checked, learn_own
from meshpantry.core.lamport import LamportReach
from meshpantry.core.membership import Admission
from meshpantry.core.sync.items import ItemIndex, index_with_new
from meshpantry.core.waiting import WaitingRoom
from protocol import Record

from .record_table import RecordTable


def flags(held: bytearray, positions: Sequence[int]) -> Sequence[int]:
    """``held[p]`` for each of ``positions`` (all below ``len(held)``), read
    in one C call."""
    if len(positions) > 1:
        return itemgetter(*positions)(held)
    return [held[p] for p in positions]


_WORD = (1 << 64) - 1  #: the set sums are kept mod 2^64

#: flag -> 1 when it is unset, for bytes.translate.
_UNSET = bytes([1] + [0] * 255)

#: Positions from which :func:`lacking` reads the flags of an ``array("i")``
#: of positions with numpy, in one vectorised gather: below this, numpy's
#: fixed cost per call (a few microseconds) is more than reading each flag
#: in C one by one (tens of nanoseconds each in a run, most of it waiting
#: for memory). A large gossip message (a backlog of many records) or a
#: lazy-gossip window often holds thousands.
ARRAY_FROM = 128


def lacking(held: bytearray, positions: Sequence[int]) -> list[int]:
    """The positions whose ``held`` flag is not set, in order (every gossip
    message asks this of its receiver, the invariant checks of every node
    for every acknowledged record, and lazy gossip of every window it
    announces, most of it held already). An ``array("i")`` of ARRAY_FROM
    positions or more is read with numpy at once; otherwise the flags are
    read in C into bytes, looked for a 0 in C, and inverted in C to pick
    the positions."""
    if type(positions) is array and len(positions) >= ARRAY_FROM:
        at = numpy.frombuffer(positions, dtype=numpy.intc)
        if int(at.max()) < len(held) and int(at.min()) >= 0:
            # the view of ``held`` is let go on return, before anything can resize it
            unset = numpy.frombuffer(held, dtype=numpy.uint8)[at] == 0
            return at[unset].tolist() if unset.any() else []
    try:
        got = bytes(flags(held, positions))
    except IndexError:  # some positions lie beyond the flags: those are not held
        held = held + bytes(max(positions) + 1 - len(held))
        return [p for p in positions if not held[p]]
    if 0 not in got:
        return []
    return list(compress(positions, got.translate(_UNSET)))


_ADMIT = Admission.ADMIT
#: The verdict for a record of a message the membership admitted whole, as
#: a call made in C (``next(repeat(ADMIT), record)`` is ADMIT): the gossip
#: decision asks it of every record of the message.
_admitted: Callable[[Record], Admission] = partial(next, repeat(_ADMIT))


class IngestOutcome:
    """What one ingest did: positions added to the log (in order), and counts."""

    __slots__ = ("added", "duplicates", "rejected", "waiting")

    def __init__(self) -> None:
        self.added: list[int] = []
        self.duplicates = 0
        self.rejected = 0
        self.waiting = 0


class MemoryStore:
    """One node's log as positions in the run's :class:`RecordTable`; a
    :class:`~meshpantry.core.record_log.RecordLog`."""

    def __init__(self, table: RecordTable, neighbourhood: bytes) -> None:
        self.table = table
        self.neighbourhood = neighbourhood
        self.log = array("i")  #: positions in arrival order
        self.held = bytearray(max(1024, len(table)))  #: held[p] == 1 when p is in the log
        self.admissions = Admissions(neighbourhood)
        self.room = WaitingRoom()
        self._reach = LamportReach()  #: the log's Lamport reach (SPEC 7.2)
        self.forks: list[Fork] = []  #: fork evidence, in the order found
        self._waiting: dict[int, int] = {}  #: position -> commit number that added it
        self._durable = 0  #: log length made durable by the last fsync
        self._commits: list[int] = []  #: log lengths after each later commit
        self._commit_no = 0
        self._sync_index: ItemIndex | None = None
        self._indexed = 0  #: log entries the sync index holds
        #: the table's set sums of the records the sync index holds
        #: (:meth:`~.record_table.RecordTable.set_sums`): with their count,
        #: the key of that set in the run's shared indexes
        self._key_sums = [0, 0, 0]
        #: author -> (seq, id) of the head of its chain here (log and waiting
        #: room alike), kept for the authors that wrote through append_own
        self._own_heads: dict[bytes, tuple[int, bytes | None]] = {}
        #: during an ingest of checked records: (those records, their positions)
        self._arriving: tuple[Sequence[Record], list[int]] | None = None
        self._arriving_new = False  #: and none of them is held here (found by present)

    def clone(self) -> "MemoryStore":
        """A store holding exactly what this one holds, all of it durable (the
        founding records every node starts with, taken in once for all)."""
        twin = MemoryStore(self.table, self.neighbourhood)
        twin.log = array("i", self.log)
        twin.held = bytearray(self.held)
        twin.admissions = self.admissions.copy()
        twin._reach = self._reach.copy()
        twin.forks = list(self.forks)
        twin._waiting = {p: 0 for p in self._waiting}
        twin._refill_room()
        twin._durable = len(twin.log)
        twin._sync_index = self._sync_index  # index_with_new copies shared columns before they diverge
        twin._indexed = self._indexed
        twin._key_sums = list(self._key_sums)
        twin._own_heads = dict(self._own_heads)
        return twin

    # -- reading ------------------------------------------------------------------

    @property
    def max_lamport(self) -> int:
        """The highest Lamport counter within the log's reach, as the real
        store reads it: the counter a device writes above."""
        return self._reach.reach

    def lamport_reach(self) -> int:
        return self._reach.reach

    def holds(self, position: int) -> bool:
        return position < len(self.held) and self.held[position] == 1

    def lacking(self, positions: list[int]) -> list[int]:
        """Which of ``positions`` this store does not hold."""
        return lacking(self.held, positions)

    def count(self) -> int:
        return len(self.log)

    def waiting_count(self) -> int:
        return len(self._waiting)

    def own_head(self, author: bytes) -> ChainHead:
        """The durable head of ``author``'s chain (records waiting for
        membership count too: their seqs are taken) and the highest Lamport
        seen, as the real store reads it."""
        seq, rid = self._tip(author)
        return ChainHead(seq, rid, self.max_lamport)

    def _tip(self, author: bytes) -> tuple[int, bytes | None]:
        """(seq, id) of ``author``'s highest record in the log or the waiting room."""
        head = self._own_heads.get(author)
        if head is not None:
            return head
        seq, rid = 0, None
        record = self.table.record
        for position in reversed(self.log):
            found = record(position)
            if found.author == author:
                seq, rid = found.seq, found.id
                break
        for position in self._waiting:
            found = record(position)
            if found.author == author and found.seq > seq:
                seq, rid = found.seq, found.id
        return seq, rid

    def admission(self, record: Record) -> Admission:
        """Whether ``record`` may enter this log now (the gossip decision's
        step 6), by the membership the log holds."""
        return self.admissions.admits(record)

    def admitter(self, records: Sequence[Record]) -> Callable[[Record], Admission]:
        """:meth:`admission` as one call, for the records of a whole message
        (the membership of this moment): when the membership admits every
        one at once (:meth:`~meshpantry.core.admission.Membership.admits_all`,
        the usual case), a call that answers ADMIT without asking again."""
        membership = self.admissions.membership
        return _admitted if membership.admits_all(records) else membership.admits

    def records(self) -> list[Record]:
        record = self.table.record
        return [record(p) for p in self.log]

    def sync_items(self) -> list[tuple[int, bytes]]:
        """Sorted (lamport, id) of every record in the log."""
        index = self.sync_index()
        return index.keys[: len(index)]

    def sync_index(self) -> ItemIndex:
        """The index of every record in the log, kept and grown with the log
        from the records that arrived since it was last asked for (a power
        cut, which shrinks the log, starts a new one). A store holding the
        very set another store indexed lately takes that index
        (:meth:`~.record_table.RecordTable.share_index`): an index is a
        snapshot no store changes, and what a session reads of it (ranges'
        fingerprints, sums, ids) depends on the set alone, so the sums its
        blocks remember are computed once for both."""
        if self._sync_index is None or self._indexed != len(self.log):
            # every logged record passed the table's verdict, so its keys are there
            table, new = self.table, self.log[self._indexed :]
            sums = [(held + more) & _WORD for held, more in zip(self._key_sums, table.set_sums(new))]
            key = (len(self.log), *sums)
            shared = table.indexes.get(key)
            if shared is not None:  # another store held this very set and indexed it
                self._sync_index, self._indexed, self._key_sums = shared, len(self.log), sums
                return shared
            self._sync_index = index_with_new(self._sync_index, table.in_order(new), lookup=table.keys)
            self._indexed, self._key_sums = len(self.log), sums
            table.share_index(key, self._sync_index)
        return self._sync_index

    def raws_in_chain_order(self, ids: list[bytes]) -> list[bytes]:
        """The raw records of ``ids`` held here, each author's in seq order,
        authors by their lowest Lamport counter (as the real store orders them)."""
        table = self.table
        rows = []
        for rid in ids:
            position = table.by_id.get(rid)
            if position is not None and self.holds(position):
                rows.append(table.record(position))
        first: dict[bytes, int] = {}
        for r in rows:
            first[r.author] = min(r.lamport, first.get(r.author, r.lamport))
        rows.sort(key=lambda r: (first[r.author], r.author, r.seq, r.lamport))
        return [r.raw for r in rows]

    # -- the RecordLog the pipeline writes through ----------------------------------

    def _arriving_ids(self, ids: Collection[bytes]) -> list[int] | None:
        """The positions of the records an ingest of checked records takes
        in (see :meth:`ingest`) when ``ids`` are their ids, all of them in
        order (the pipeline asks of the whole batch, with the records' own
        id objects); else None."""
        arriving = self._arriving
        if arriving is None or not isinstance(ids, list):
            return None
        records, positions = arriving
        if len(ids) == len(positions) and ids and ids[0] is records[0].id and ids[-1] is records[-1].id:
            return positions
        return None

    def present(self, ids: Collection[bytes]) -> set[bytes]:
        positions = self._arriving_ids(ids)
        if positions is not None and 1 not in bytes(flags(self.held, positions)):
            # The usual case: the batch is new here. Nothing is logged
            # before the ingest ends, so the lookups by seq need not read
            # these flags again.
            self._arriving_new = True
            return set()
        by_id, held, size = self.table.by_id.get, self.held, len(self.held)
        positions = list(map(by_id, ids))  # in C
        if positions and None not in positions and max(positions) < size:  # the usual case
            return set(compress(ids, flags(held, positions)))
        out = set()
        for rid in ids:
            position = by_id(rid)
            if position is not None and position < size and held[position]:
                out.add(rid)
        return out

    def ids_at_seq(self, author: bytes, seq: int) -> list[bytes]:
        positions = self.table.at_seq.get((author, seq))
        if positions is None:
            return []
        held = self.held
        if len(positions) == 1:  # the usual case: one record was ever signed there
            p = positions[0]
            return [self.table.passed[p].id] if p < len(held) and held[p] else []  # type: ignore[union-attr]
        size = len(held)
        here = [p for p in positions if p < size and held[p]]
        if not here:
            return here
        if len(here) > 1:  # a fork already held: first arrived first
            order = {p: i for i, p in enumerate(self.log) if p in here}
            here.sort(key=order.__getitem__)
        return [self.table.record(p).id for p in here]

    def ids_at_seqs(self, keys: Sequence[tuple[bytes, int]]) -> list[list[bytes]]:
        arriving = self._arriving
        if arriving is not None and keys and len(keys) == len(arriving[1]):
            # The keys of the records an ingest of checked records takes in,
            # all of them in order (the pipeline asks of the whole batch,
            # with the records' own author objects)?
            records, positions = arriving
            first, last = records[0], records[-1]
            if keys[0][0] is first.author and keys[0][1] == first.seq and keys[-1][0] is last.author \
                    and keys[-1][1] == last.seq and 1 not in bytes(flags(self.table.twinned, positions)) \
                    and (self._arriving_new or 1 not in bytes(flags(self.held, positions))):
                # The usual case: the batch's records are new here, and no
                # other record was ever signed at their seqs.
                return [[] for _ in keys]
        found = list(map(self.table.at_seq.get, keys))  # in C
        if found and None not in found:
            firsts = list(chain.from_iterable(found))
            # The usual case: one record was ever signed at each key (the
            # table's lists are never empty); when this log holds none of
            # them, every answer is empty.
            if len(firsts) == len(found) and max(firsts) < len(self.held) and not any(flags(self.held, firsts)):
                return [[] for _ in found]
        return [self.ids_at_seq(author, seq) for author, seq in keys]

    def append(self, records: Sequence[Record]) -> None:
        if not records:
            return
        arriving = self._arriving
        if arriving is not None and len(arriving[0]) == len(records) and all(map(is_, arriving[0], records)):
            positions = arriving[1]  # the whole ingest, in order: positions known
        else:
            by_id = self.table.by_id
            positions = [by_id[record.id] for record in records]
        held = self.held
        for position in positions:
            held[position] = 1
        self.log.extend(positions)
        top = max([record.lamport for record in records])
        reach = self._reach
        if top <= reach.limit:  # nearly always: every counter is within the lead
            reach.add(top)
        else:
            reach.add_all([record.lamport for record in records])
        heads = self._own_heads
        if heads and not heads.keys().isdisjoint([record.author for record in records]):
            for record in records:
                if record.author in heads:
                    self._note_head(record)

    def _note_head(self, record: Record) -> None:
        if record.seq > self._own_heads[record.author][0]:
            self._own_heads[record.author] = (record.seq, record.id)

    def note_forks(self, forks: Sequence[Fork]) -> None:
        self.forks.extend(forks)

    def keep_waiting(self, record: Record, now: int) -> None:
        self._waiting[self.table.by_id[record.id]] = self._commit_no + 1
        if record.author in self._own_heads:
            self._note_head(record)

    def waiting_record(self, rid: bytes) -> Record:
        return self.table.record(self.table.by_id[rid])

    def forget_waiting(self, rid: bytes) -> None:
        position = self.table.by_id[rid]
        del self._waiting[position]
        if self._own_heads:
            self._own_heads.pop(self.table.record(position).author, None)  # read again when asked

    # -- writing ------------------------------------------------------------------

    def _grow(self, position: int) -> None:
        if position >= len(self.held):
            self.held.extend(bytes(max(position + 1, 2 * len(self.held)) - len(self.held)))

    def grow_to(self, size: int) -> None:
        """Give ``held`` a flag for every position below ``size`` (capacity
        only: nothing is held that was not)."""
        if size > len(self.held):
            self._grow(size - 1)

    def append_own(self, position: int) -> None:
        """Log this device's new record and make it durable (with all before it).

        The record must pass :func:`meshpantry.core.ingest.check_own` against
        the head of its author's chain here, as in the real store: it raises
        that check's error (:class:`~meshpantry.core.validation.WrongNeighbourhood`,
        :class:`~meshpantry.core.validation.SeqNotIncremental`,
        :class:`~meshpantry.core.validation.PrevMismatch`) and nothing is
        written."""
        record = self.table.record(position)
        assert not self.holds(position), "an own record is new to its store"
        head = self._tip(record.author)
        check_own(record, neighbourhood=self.neighbourhood, head=head)
        self._own_heads[record.author] = head
        self._grow(position)
        self.append([record])
        self._durable = len(self.log)
        self._commits.clear()
        if learn_own(self.admissions, record):
            admit_waiting(self, self.admissions, self.room)

    def ingest(
        self, positions: list[int], now: int, checked: Sequence[Record] | None = None,
        checked_at: list[int] | None = None,
    ) -> IngestOutcome:
        """Take in peers' records (one commit, not fsynced) through the
        node's pipeline. ``now`` is this node's clock in ms. ``checked``: the
        records of the ``positions`` this store does not hold, in order,
        already through steps 1-4 and admitted by step 6 (an accepting gossip
        decision's), as the node hands its validator's records to its
        ingest; their admission is not asked again. ``checked_at``: their
        positions in the table, when the caller knows them (saves a lookup
        per record, and the held flags of the batch are read once)."""
        outcome = IngestOutcome()
        table = self.table
        if len(self.held) < len(table.raws):
            self._grow(len(table.raws))
        held = self.held
        if checked is not None:
            records = checked
            outcome.duplicates = len(positions) - len(records)
        else:
            # Duplicates first, by position: most gossip a node hears it already holds.
            fresh = [p for p in positions if not held[p]]
            outcome.duplicates = len(positions) - len(fresh)
            verdict = table.verdict
            records = []
            for position in fresh:
                record = verdict(position)
                if isinstance(record, Record):
                    records.append(record)
                else:
                    outcome.rejected += 1  # failed decoding or its signature
        if records:
            logged_before = len(self.log)
            if checked_at is not None:
                self._arriving = (records, checked_at)
            try:
                report = ingest_checked(
                    self, self.admissions, self.room, records, neighbourhood=self.neighbourhood, now=now,
                    admitted=checked is not None,
                )
            finally:
                self._arriving, self._arriving_new = None, False
            outcome.added = self.log[logged_before:].tolist()  # report.added, as positions
            outcome.duplicates += report.duplicates
            outcome.rejected += len(report.rejected)
            outcome.waiting = report.waiting
        if positions:
            self._commit_no += 1
            self._commits.append(len(self.log))
        return outcome

    # -- power ------------------------------------------------------------------------

    def power_cut(self, rng: random.Random) -> int:
        """Lose a random number of the newest non-durable commits. Returns the
        number of log records lost. Own records are never lost."""
        boundaries = [self._durable, *self._commits]
        kept = rng.randrange(len(boundaries))
        keep = boundaries[kept]
        lost = self.log[keep:]
        for position in lost:
            self.held[position] = 0
        del self.log[keep:]
        kept_commit = self._commit_no - (len(boundaries) - 1 - kept)
        self._waiting = {p: stamp for p, stamp in self._waiting.items() if stamp <= kept_commit}
        self._commits.clear()
        self._durable = len(self.log)
        self._reload()
        return len(lost)

    def _refill_room(self) -> None:
        self.room = WaitingRoom()
        for position in self._waiting:
            record = self.table.record(position)
            assert not self.room.add(record.id, record.author, record.kind, len(record.raw))

    def _reload(self) -> None:
        """Rebuild membership, the waiting room and counters from what
        survived, as opening the store does."""
        self.admissions = Admissions(self.neighbourhood)
        records = self.records()
        self.admissions.replay(records)
        self._reach = LamportReach(r.lamport for r in records)
        self._refill_room()
        self.forks = [f for f in self.forks if self._holds_id(f.first_id) and self._holds_id(f.second_id)]
        self._sync_index = None
        self._indexed = 0
        self._key_sums = [0, 0, 0]
        self._own_heads = {}

    def _holds_id(self, rid: bytes) -> bool:
        position = self.table.by_id.get(rid)
        return position is not None and self.holds(position)
