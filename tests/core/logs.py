"""The smallest :class:`meshpantry.core.record_log.RecordLog`: lists and dicts.

It states the storage interface's contract in a few lines, so the pipeline
can be specified in the core's own tests; the SQLite store and the
simulator's memory store are tested against the same behaviour in their
own suites.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from meshpantry.core.admission import Admissions
from meshpantry.core.ingest import Fork, IngestReport, ingest_checked
from meshpantry.core.lamport import reach_of
from meshpantry.core.waiting import WaitingRoom
from protocol import Record


class ListLog:
    """A record log in memory, plus the pipeline's state for one neighbourhood."""

    def __init__(self, neighbourhood: bytes, room: WaitingRoom | None = None) -> None:
        self.neighbourhood = neighbourhood
        self.log: list[Record] = []
        self.forks: list[Fork] = []
        self.waiting: dict[bytes, Record] = {}
        self.appends = 0  #: calls of append
        self.admissions = Admissions(neighbourhood)
        self.room = room if room is not None else WaitingRoom()

    # -- RecordLog -------------------------------------------------------------

    def present(self, ids: Collection[bytes]) -> set[bytes]:
        have = {r.id for r in self.log}
        return {rid for rid in ids if rid in have}

    def ids_at_seq(self, author: bytes, seq: int) -> list[bytes]:
        return [r.id for r in self.log if r.author == author and r.seq == seq]

    def lamport_reach(self) -> int:
        return reach_of(r.lamport for r in self.log)

    def ids_at_seqs(self, keys: Sequence[tuple[bytes, int]]) -> list[list[bytes]]:
        return [self.ids_at_seq(author, seq) for author, seq in keys]

    def append(self, records: Sequence[Record]) -> None:
        assert not self.present([r.id for r in records])
        self.log.extend(records)
        self.appends += 1

    def note_forks(self, forks: Sequence[Fork]) -> None:
        self.forks.extend(forks)

    def keep_waiting(self, record: Record, now: int) -> None:
        self.waiting[record.id] = record

    def waiting_record(self, rid: bytes) -> Record:
        return self.waiting[rid]

    def forget_waiting(self, rid: bytes) -> None:
        del self.waiting[rid]

    # -- driving the pipeline ----------------------------------------------------

    def ingest(self, records: Sequence[Record], now: int) -> IngestReport:
        """The pipeline for records whose decoding and signature were checked."""
        return ingest_checked(
            self, self.admissions, self.room, records, neighbourhood=self.neighbourhood, now=now
        )
