"""The waiting room: verified records whose author is not known to be a member yet.

A record can arrive before the records that make its author a member (a join
before its invite, a linked device's records before the link). Such a record
waits here, outside the log, and enters the log as soon as membership grows
enough to admit it (:meth:`WaitingRoom.ready`).

The room is bounded per author and in total; when full, the oldest records go
first. Nothing is lost for good by that: a dropped record is not in the log, so
the next sync with any peer that holds it sends it again.

The table is the durable copy; the room keeps a small index (author and kind
per id) in memory so re-checking after every membership change costs a dict
walk, not a query. Only records that can have become admissible are decoded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from meshpantry.core.membership import Admission
from protocol import Record

from . import log
from .admission import Admissions

#: Records one author may have waiting. A device's records normally wait only
#: between its first record and its join; 2,000 covers a long-offline device's
#: backlog while keeping one unknown key from filling the room.
MAX_WAITING_PER_AUTHOR = 2_000

#: Records waiting in total: ~0.5 KB each, so at most ~10 MB on disk.
MAX_WAITING_TOTAL = 20_000


@dataclass(frozen=True, slots=True)
class _Entry:
    author: bytes
    kind: str


class WaitingRoom:
    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        per_author: int | None = None,
        total: int | None = None,
    ) -> None:
        """Load the room from ``conn``; the bounds default to the module's."""
        self._conn = conn
        self.per_author = per_author or MAX_WAITING_PER_AUTHOR
        self.total = total or MAX_WAITING_TOTAL
        self._entries: dict[bytes, _Entry] = {}  # id -> entry, oldest first
        self._per_author: dict[bytes, int] = {}
        for rid, author, raw in conn.execute(
            "SELECT id, author, raw FROM waiting ORDER BY rowid"
        ).fetchall():
            self._remember(rid, _Entry(author, log.trusted_decode(raw).kind))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, rid: bytes) -> bool:
        return rid in self._entries

    def ids(self) -> list[bytes]:
        """Ids of the waiting records, oldest first."""
        return list(self._entries)

    def _remember(self, rid: bytes, entry: _Entry) -> None:
        self._entries[rid] = entry
        self._per_author[entry.author] = self._per_author.get(entry.author, 0) + 1

    def _forget(self, rid: bytes) -> None:
        entry = self._entries.pop(rid)
        left = self._per_author[entry.author] - 1
        if left:
            self._per_author[entry.author] = left
        else:
            del self._per_author[entry.author]
        self._conn.execute("DELETE FROM waiting WHERE id = ?", (rid,))

    def add(self, record: Record, now: int) -> list[bytes]:
        """Put ``record`` in the room (inside the caller's transaction).

        Returns the ids dropped to stay within the bounds, oldest first (the
        new record itself is never dropped by its own arrival).
        """
        assert record.id not in self._entries
        self._conn.execute(
            "INSERT INTO waiting (id, author, received, raw) VALUES (?, ?, ?, ?)",
            (record.id, record.author, now, record.raw),
        )
        self._remember(record.id, _Entry(record.author, record.kind))
        dropped: list[bytes] = []
        if self._per_author[record.author] > self.per_author:
            oldest = next(
                rid for rid, e in self._entries.items() if e.author == record.author
            )
            self._forget(oldest)
            dropped.append(oldest)
        while len(self._entries) > self.total:
            oldest = next(iter(self._entries))
            self._forget(oldest)
            dropped.append(oldest)
        return dropped

    def ready(self, admissions: Admissions) -> tuple[list[Record], list[Record]]:
        """Take out the records membership now decides about.

        Returns (admitted, rejected), each oldest first; both leave the room
        (inside the caller's transaction). Records still undecided stay.
        """
        members = admissions.membership.households
        candidates = [
            rid for rid, e in self._entries.items() if e.author in members or e.kind == "join"
        ]
        admitted: list[Record] = []
        rejected: list[Record] = []
        for rid in candidates:
            (raw,) = self._conn.execute("SELECT raw FROM waiting WHERE id = ?", (rid,)).fetchone()
            record = log.trusted_decode(raw)
            verdict = admissions.admits(record)
            if verdict is Admission.WAIT:
                continue
            self._forget(rid)
            (admitted if verdict is Admission.ADMIT else rejected).append(record)
        return admitted, rejected
