"""Summaries of the log kept in memory: sync items in log order, chain heads, highest Lamport.

The log is append-only, so its largest rowid changes exactly when it does. A
:class:`LogSummary` remembers the rowid it has read up to and, when asked,
folds in only the rows that arrived since. That works the same for the writer
and for a reader whose writer is another process, and after a rebuild it
starts again from rowid 0.
"""

from __future__ import annotations

import sqlite3

from . import log


class LogSummary:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._read_upto = 0
        self._arrived: list[tuple[int, bytes]] = []  #: (lamport, id) of every record, in log order
        self._heads: dict[bytes, tuple[int, bytes]] = {}
        self._lamport = 0

    def _refresh(self) -> None:
        newest = log.last_rowid(self._conn)
        if newest == self._read_upto:
            return
        heads = self._heads
        lamport = self._lamport
        fresh: list[tuple[int, bytes]] = []
        for author, seq, rid, counter in self._conn.execute(
            "SELECT author, seq, id, lamport FROM records "
            "WHERE rowid > ? AND rowid <= ? ORDER BY rowid",
            (self._read_upto, newest),
        ):
            fresh.append((counter, rid))
            held = heads.get(author)
            if held is None or seq > held[0]:  # a fork's later arrival never replaces
                heads[author] = (seq, rid)
            if counter > lamport:
                lamport = counter
        self._arrived.extend(fresh)
        self._lamport = lamport
        self._read_upto = newest

    def arrived_since(self, count: int) -> list[tuple[int, bytes]]:
        """(lamport, id) of the records logged after the first ``count``, in
        log order (a store's sync index grows from these alone)."""
        self._refresh()
        return self._arrived[count:]

    def heads(self) -> dict[bytes, tuple[int, bytes]]:
        """{author: (highest seq, id of the first record that arrived at it)};
        the summary's own dict: callers must not change it."""
        self._refresh()
        return self._heads

    def max_lamport(self) -> int:
        """The highest Lamport counter in the log (0 when empty)."""
        self._refresh()
        return self._lamport
