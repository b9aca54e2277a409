"""The waiting room: checked records whose author is not known to be a member yet.

A record can arrive before the records that make its author a member (a join
before its invite, a linked device's records before the link). Such a record
waits outside the log, and enters the log as soon as membership grows enough
to admit it (:func:`meshpantry.core.ingest` re-checks the room whenever
membership grows).

The room is bounded per author and in total, in records and in bytes; when
full, the oldest records go first. Nothing is lost for good by that: a dropped record is not in the log, so
the next sync with any peer that holds it sends it again.

:class:`WaitingRoom` is the room's index and its rules (which ids wait, oldest
first, what the bounds push out, which ids membership may now decide about);
the records themselves are kept by the store
(:class:`meshpantry.core.record_log.RecordLog`), so re-checking after every
membership change costs a dict walk, and only records that can have become
admissible are read back.
"""

from __future__ import annotations

from collections.abc import Container

#: Records one author may have waiting. A device's records normally wait only
#: between its first record and its join; 2,000 covers a long-offline device's
#: backlog while keeping one unknown key from filling the room.
MAX_WAITING_PER_AUTHOR = 2_000

#: Records waiting in total (~0.5 KB each on average).
MAX_WAITING_TOTAL = 20_000

#: Bytes waiting in total: at most ~10 MB on disk, whatever the records'
#: sizes. Counting records alone let 20,000 records near the 32 KiB record
#: limit, from keys no member vouches for, take 643 MB.
MAX_WAITING_BYTES = 10 * 1024 * 1024

#: Bytes one author may have waiting: 2,000 records of ~0.5 KB (the
#: long-offline backlog above), and room for 32 records of the largest size.
MAX_WAITING_BYTES_PER_AUTHOR = 1024 * 1024


class WaitingRoom:
    """The ids waiting, oldest first, with their author and kind."""

    def __init__(self, *, per_author: int | None = None, total: int | None = None,
                 bytes_per_author: int | None = None, total_bytes: int | None = None) -> None:
        """An empty room; the bounds default to the module's."""
        self.per_author = per_author or MAX_WAITING_PER_AUTHOR
        self.total = total or MAX_WAITING_TOTAL
        self.bytes_per_author = bytes_per_author or MAX_WAITING_BYTES_PER_AUTHOR
        self.total_bytes = total_bytes or MAX_WAITING_BYTES
        #: Bytes waiting in all (the sizes given to :meth:`add`).
        self.bytes = 0
        self._sizes: dict[bytes, int] = {}
        self._author_bytes: dict[bytes, int] = {}
        #: id -> (author, kind), oldest first. Read it (``rid in room.entries``
        #: is the fast membership test); change it only through the methods.
        self.entries: dict[bytes, tuple[bytes, str]] = {}
        self._per_author: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, rid: object) -> bool:
        return rid in self.entries

    def ids(self) -> list[bytes]:
        """Ids of the waiting records, oldest first."""
        return list(self.entries)

    def add(self, rid: bytes, author: bytes, kind: str, size: int = 0) -> list[bytes]:
        """Let record ``rid`` (of ``size`` bytes) wait. Returns the ids pushed
        out to stay within the bounds, oldest first (never ``rid`` itself, as
        no record is larger than a bound); they have left the room."""
        assert rid not in self.entries and size <= min(self.bytes_per_author, self.total_bytes)
        self.entries[rid] = (author, kind)
        self._per_author[author] = self._per_author.get(author, 0) + 1
        self._sizes[rid] = size
        self._author_bytes[author] = self._author_bytes.get(author, 0) + size
        self.bytes += size
        dropped: list[bytes] = []
        while self._per_author[author] > self.per_author or self._author_bytes[author] > self.bytes_per_author:
            oldest = next(r for r, (a, _) in self.entries.items() if a == author)
            self.remove(oldest)
            dropped.append(oldest)
        while len(self.entries) > self.total or self.bytes > self.total_bytes:
            oldest = next(iter(self.entries))
            self.remove(oldest)
            dropped.append(oldest)
        return dropped

    def remove(self, rid: bytes) -> None:
        """Take ``rid`` out of the room (it must be there)."""
        author, _ = self.entries.pop(rid)
        size = self._sizes.pop(rid)
        self.bytes -= size
        left = self._per_author[author] - 1
        if left:
            self._per_author[author] = left
            self._author_bytes[author] -= size
        else:
            del self._per_author[author]
            del self._author_bytes[author]

    def candidates(self, members: Container[bytes]) -> list[bytes]:
        """Ids, oldest first, that membership may decide about now: those of
        member authors, and joins (whose invite may have arrived)."""
        return [r for r, (a, k) in self.entries.items() if a in members or k == "join"]
