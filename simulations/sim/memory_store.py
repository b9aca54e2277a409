"""An in-memory model of a node's store, with the real store's rules.

Used at scale, where thousands of SQLite files would measure the disk rather
than the protocol. What it keeps from :class:`meshpantry.store.Store`:

* **Admission** is the real one: :class:`meshpantry.store.admission.Admissions`
  over :class:`meshpantry.core.membership.Membership`. Records of authors not
  (yet) admissible wait in a bounded waiting room with the real bounds, and
  enter the log as soon as membership grows; rejected ones never enter.
* **Checks** on the way in, per node: duplicates, decoding and signature
  (shared across nodes through :class:`~.record_table.RecordTable`, since the
  bytes are identical), and the bound on times in the future by this node's
  clock.
* **Durability**: an ingest is a commit that is *not* fsynced; an own record
  (:meth:`append_own`) is fsynced, which makes every earlier commit durable
  too. A power cut (:meth:`power_cut`) rolls back some of the newest
  non-durable commits (how many is chance) and never an own record.

What it leaves out, on purpose: fork evidence tables (forks are found from the
record sets by :mod:`.invariants` and by the views), the block list and the
address book.
"""

from __future__ import annotations

import random
from array import array
from itertools import compress
from operator import not_

from meshpantry.core.chain import ChainHead
from meshpantry.core.membership import Admission
from meshpantry.core.sync.items import ItemIndex, index_with_new
from meshpantry.core.admission import ADMISSION_KINDS as MEMBERSHIP_KINDS, Admissions
from meshpantry.core.waiting import MAX_WAITING_PER_AUTHOR, MAX_WAITING_TOTAL
from protocol import Record, limits

from .record_table import RecordTable



def lacking(held: bytearray, positions: list[int]) -> list[int]:
    """The positions whose ``held`` flag is not set (in C: the invariant
    checks ask this of every node for every acknowledged record)."""
    if positions and max(positions) >= len(held):
        held = held + bytes(max(positions) + 1 - len(held))
    return list(compress(positions, map(not_, map(held.__getitem__, positions))))


class IngestOutcome:
    """What one ingest did: positions added to the log (in order), and counts."""

    __slots__ = ("added", "duplicates", "rejected", "waiting")

    def __init__(self) -> None:
        self.added: list[int] = []
        self.duplicates = 0
        self.rejected = 0
        self.waiting = 0


class MemoryStore:
    """One node's log as positions in the run's :class:`RecordTable`."""

    def __init__(self, table: RecordTable, neighbourhood: bytes) -> None:
        self.table = table
        self.neighbourhood = neighbourhood
        self.log = array("i")  #: positions in arrival order
        self.held = bytearray(max(1024, len(table)))  #: held[p] == 1 when p is in the log
        self.admissions = Admissions(neighbourhood)
        self.max_lamport = 0
        self._waiting: dict[int, int] = {}  #: position -> commit number that added it
        self._waiting_authors: dict[bytes, int] = {}
        self._durable = 0  #: log length made durable by the last fsync
        self._commits: list[int] = []  #: log lengths after each later commit
        self._commit_no = 0
        self._sync_index: ItemIndex | None = None
        self._indexed = 0  #: log entries the sync index holds

    def clone(self) -> "MemoryStore":
        """A store holding exactly what this one holds, all of it durable (the
        founding records every node starts with, taken in once for all)."""
        twin = MemoryStore(self.table, self.neighbourhood)
        twin.log = array("i", self.log)
        twin.held = bytearray(self.held)
        membership = self.admissions.membership
        twin.admissions.membership.founder = membership.founder
        twin.admissions.membership.households = dict(membership.households)
        twin.admissions.membership.invites = dict(membership.invites)
        twin.admissions.unapplied = list(self.admissions.unapplied)
        twin.max_lamport = self.max_lamport
        twin._durable = len(twin.log)
        twin._sync_index = self._sync_index  # index_with_new copies shared columns before they diverge
        twin._indexed = self._indexed
        return twin

    # -- reading ------------------------------------------------------------------

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
        """The durable head of ``author``'s chain and the highest Lamport seen."""
        seq, rid = 0, None
        for position in reversed(self.log):
            record = self.table.record(position)
            if record.author == author and record.seq > seq:
                seq, rid = record.seq, record.id
                break
        return ChainHead(seq, rid, self.max_lamport)

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
        cut, which shrinks the log, starts a new one)."""
        if self._sync_index is None or self._indexed != len(self.log):
            key = self.table.sync_key
            fresh = sorted(map(key, self.log[self._indexed :]))
            self._sync_index = index_with_new(self._sync_index, fresh)
            self._indexed = len(self.log)
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

    # -- writing ------------------------------------------------------------------

    def _grow(self, position: int) -> None:
        if position >= len(self.held):
            self.held.extend(bytes(max(position + 1, 2 * len(self.held)) - len(self.held)))

    def _log(self, position: int, record: Record) -> bool:
        self._grow(position)
        self.held[position] = 1
        self.log.append(position)
        if record.lamport > self.max_lamport:
            self.max_lamport = record.lamport
        return self.admissions.learn(record, admitted=True)

    def append_own(self, position: int) -> None:
        """Log this device's new record and make it durable (with all before it)."""
        record = self.table.record(position)
        assert not self.holds(position), "an own record is new to its store"
        self._grow(position)
        self.held[position] = 1
        self.log.append(position)
        self.max_lamport = max(self.max_lamport, record.lamport)
        verdict = self.admissions.admits(record)
        grew = self.admissions.learn(record, admitted=verdict is Admission.ADMIT)
        self._durable = len(self.log)
        self._commits.clear()
        if grew:
            self.ingest([], 0)

    def ingest(self, positions: list[int], now: int) -> IngestOutcome:
        """Take in peers' records (one commit, not fsynced). ``now`` is this
        node's clock in ms."""
        outcome = IngestOutcome()
        table, waiting = self.table, self._waiting
        if len(self.held) < len(table):
            self._grow(len(table))
        held = self.held
        # Duplicates first, in one pass: most gossip a node hears it already holds.
        fresh = [p for p in positions if not held[p]]
        outcome.duplicates = len(positions) - len(fresh)
        horizon = now + limits.MAX_FUTURE_SKEW_MS
        admissions = self.admissions
        admits, log = admissions.admits, self.log
        verdict = table.verdict
        grew = False
        for position in fresh:
            if held[position] or position in waiting:
                outcome.duplicates += 1
                continue
            record = verdict(position)
            if not isinstance(record, Record) or record.time > horizon:
                outcome.rejected += 1
                continue
            answer = admits(record)
            if answer is Admission.ADMIT:
                held[position] = 1
                log.append(position)
                if record.lamport > self.max_lamport:
                    self.max_lamport = record.lamport
                if record.kind in MEMBERSHIP_KINDS and admissions.learn(record, admitted=True):
                    grew = True
                outcome.added.append(position)
            elif answer is Admission.WAIT:
                self._wait(position, record)
                outcome.waiting += 1
            else:
                outcome.rejected += 1
        while grew:
            grew = False
            members = admissions.membership.households
            for position in list(waiting):
                record = table.record(position)
                if record.author not in members and record.kind != "join":
                    continue
                answer = admits(record)
                if answer is Admission.WAIT:
                    continue
                self._unwait(position, record)
                if answer is Admission.ADMIT:
                    grew = self._log(position, record) or grew
                    outcome.added.append(position)
                else:
                    outcome.rejected += 1
        if positions:
            self._commit_no += 1
            self._commits.append(len(self.log))
        return outcome

    def _wait(self, position: int, record: Record) -> None:
        self._waiting[position] = self._commit_no + 1
        count = self._waiting_authors.get(record.author, 0) + 1
        self._waiting_authors[record.author] = count
        if count > MAX_WAITING_PER_AUTHOR:
            oldest = next(p for p in self._waiting if self.table.record(p).author == record.author)
            self._unwait(oldest, self.table.record(oldest))
        while len(self._waiting) > MAX_WAITING_TOTAL:
            oldest = next(iter(self._waiting))
            self._unwait(oldest, self.table.record(oldest))

    def _unwait(self, position: int, record: Record) -> None:
        del self._waiting[position]
        left = self._waiting_authors[record.author] - 1
        if left:
            self._waiting_authors[record.author] = left
        else:
            del self._waiting_authors[record.author]

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
        for position, stamp in list(self._waiting.items()):
            if stamp > kept_commit:
                self._unwait(position, self.table.record(position))
        self._commits.clear()
        self._durable = len(self.log)
        self._reload()
        return len(lost)

    def _reload(self) -> None:
        """Rebuild membership and counters from the log, as opening the store does."""
        self.admissions = Admissions(self.neighbourhood)
        records = self.records()
        self.admissions.replay(records)
        self.max_lamport = max((r.lamport for r in records), default=0)
        self._sync_index = None
        self._indexed = 0
