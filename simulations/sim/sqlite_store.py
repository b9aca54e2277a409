"""A node's real SQLite store on a temporary directory, with power cuts.

Small runs use :class:`meshpantry.store.Store` itself: real ingest (decoding,
signature checks, admission, the waiting room, fork evidence) and real
``append_own`` (fsynced). A power cut is modelled faithfully to the store's
rules (see :mod:`meshpantry.store.database`): ordinary commits are not fsynced,
so a power cut may roll back any number of the newest ones; an fsynced commit
(an own record) and everything before it stays. :meth:`SqliteStore.power_cut`
closes the store, removes the rows of the rolled-back commits, and reopens it
as the node would after power returns (views rebuilt).

The mirror (``log``, ``held``) maps the store's records to positions in the
run's :class:`~.record_table.RecordTable`, so that the simulator can compare
nodes cheaply; it is rebuilt from the store after every reopen.
"""

from __future__ import annotations

import random
import sqlite3
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path

from meshpantry.core.chain import ChainHead
from meshpantry.core.membership import Admission
from meshpantry.store import Store
from meshpantry.store.database import DB_FILE
from meshpantry.store.store import NEIGHBOURHOOD
from protocol import GENESIS_KIND, Record

from .memory_store import IngestOutcome, lacking
from .record_table import RecordTable


class SqliteStore:
    """The real store of one simulated node."""

    def __init__(self, table: RecordTable, neighbourhood: bytes, directory: Path) -> None:
        self.table = table
        self.neighbourhood = neighbourhood
        self.directory = Path(directory)
        self.store = Store.open(self.directory)
        self.log = array("i")
        self.held = bytearray(1024)
        self.max_lamport = 0
        self._durable = (0, 0)  #: (records rowid, waiting rowid) made durable
        self._commits: list[tuple[int, int]] = []

    def _set_neighbourhood_unless_founder(self, record: Record) -> None:
        if self.store.neighbourhood is None and record.kind != GENESIS_KIND:
            self.store.set_setting(NEIGHBOURHOOD, self.neighbourhood)

    # -- reading ------------------------------------------------------------------

    def holds(self, position: int) -> bool:
        return position < len(self.held) and self.held[position] == 1

    def lacking(self, positions: list[int]) -> list[int]:
        """Which of ``positions`` this store does not hold."""
        return lacking(self.held, positions)

    def count(self) -> int:
        return len(self.log)

    def waiting_count(self) -> int:
        return len(self.store.waiting_ids())

    def own_head(self, author: bytes) -> ChainHead:
        return self.store.own_head(author)

    def records(self) -> list[Record]:
        return list(self.store.records())

    def sync_items(self) -> list[tuple[int, bytes]]:
        return self.store.sync_items()

    def raws_in_chain_order(self, ids: list[bytes]) -> list[bytes]:
        return self.store.raws_in_chain_order(ids)

    def admission(self, record: Record) -> Admission:
        if self.store.neighbourhood is None:  # a store restored from nothing, as ingest does
            self.store.set_setting(NEIGHBOURHOOD, self.neighbourhood)
        return self.store.admission(record)

    def admitter(self, records: Sequence[Record]) -> Callable[[Record], Admission]:
        return self.admission

    def forks(self) -> list:
        return self.store.forks()

    def grow_to(self, size: int) -> None:
        """Give ``held`` a flag for every position below ``size`` (capacity only)."""
        if size > len(self.held):
            self.held.extend(bytes(max(size, 2 * len(self.held)) - len(self.held)))

    # -- writing ------------------------------------------------------------------

    def _mirror(self, position: int, record: Record) -> None:
        if position >= len(self.held):
            self.held.extend(bytes(max(position + 1, 2 * len(self.held)) - len(self.held)))
        if not self.held[position]:
            self.held[position] = 1
            self.log.append(position)
        self.max_lamport = max(self.max_lamport, record.lamport)

    def _marks(self) -> tuple[int, int]:
        conn = self.store._conn  # the store's own connection: read its rowids
        (waiting,) = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM waiting").fetchone()
        return (self.store.last_rowid(), waiting)

    def append_own(self, position: int) -> None:
        record = self.table.record(position)
        self._set_neighbourhood_unless_founder(record)
        self.store.append_own(record)
        self._mirror(position, record)
        self._durable = self._marks()
        self._commits.clear()
        self._resync_mirror()  # membership growth may have admitted waiting records

    def ingest(
        self, positions: list[int], now: int, checked: Sequence[Record] | None = None,
        checked_at: list[int] | None = None,
    ) -> IngestOutcome:
        """The real store's ingest of the raw records (``checked`` and
        ``checked_at`` are not used: the store decodes and verifies what it
        takes in)."""
        outcome = IngestOutcome()
        if not positions:
            return outcome
        if self.store.neighbourhood is None:
            self.store.set_setting(NEIGHBOURHOOD, self.neighbourhood)
        table = self.table
        report = self.store.ingest([table.raws[p] for p in positions], now)
        for rid in report.added:
            position = table.by_id.get(rid)
            if position is None:  # bytes this run's table has not checked yet
                raw = self.store.get(rid)
                position = table.add(raw)
                table.verdict(position)
            self._mirror(position, table.record(position))
            outcome.added.append(position)
        outcome.duplicates = report.duplicates
        outcome.rejected = len(report.rejected)
        outcome.waiting = report.waiting
        self._commits.append(self._marks())
        return outcome

    def _resync_mirror(self) -> None:
        for _, rid in self.store.sync_items():
            position = self.table.by_id.get(rid)
            if position is None:
                position = self.table.add(self.store.get(rid))
                self.table.verdict(position)
            self._mirror(position, self.table.record(position))

    # -- power ------------------------------------------------------------------------

    def power_cut(self, rng: random.Random) -> int:
        """Roll back a random number of the newest non-fsynced commits, then
        reopen. Returns the number of log records lost."""
        boundaries = [self._durable, *self._commits]
        records_mark, waiting_mark = boundaries[rng.randrange(len(boundaries))]
        before = len(self.log)
        self.store.close()
        conn = sqlite3.connect(self.directory / DB_FILE, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("DELETE FROM records WHERE rowid > ?", (records_mark,))
            conn.execute("DELETE FROM waiting WHERE rowid > ?", (waiting_mark,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        self.store = Store.open(self.directory)
        self.store.rebuild_views()
        self.held = bytearray(len(self.held))
        self.log = array("i")
        self.max_lamport = 0
        self._resync_mirror()
        self._durable = self._marks()
        self._commits.clear()
        return before - len(self.log)

    def close(self) -> None:
        self.store.close()
