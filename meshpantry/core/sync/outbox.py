"""Records on their way to the peer: read from the store lazily, cut into
RECORDS batches of at most MAX_BATCH_RECORDS records and MAX_BATCH_BYTES.

Two sources: the ids reconciliation found the peer lacks (read in (lamport,
id) order, MAX_BATCH_RECORDS at a time, each chunk in chain order; since a
chain's lamports rise with seq, every author's records leave in seq order),
or every record by one author (a WANT_AUTHOR scan). Nothing is read from the
store before a batch is wanted, so a window of acknowledgements bounds both
memory and reading.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Iterator, TypeVar

import msgpack

from protocol import limits
from protocol import sync as wire

from .errors import StoreFailed
from .items import SyncItems

T = TypeVar("T")

#: Ids asked of the store at once when scanning for one author.
_CHUNK = wire.MAX_BATCH_RECORDS

#: Bytes a record adds to a RECORDS frame besides itself (its length varint).
_RECORD_OVERHEAD = 3


def guarded(call: Callable[[], T]) -> T:
    """Run a store call; any exception becomes :class:`StoreFailed`."""
    try:
        return call()
    except Exception as error:  # the store is outside this package's control
        raise StoreFailed(error) from error


def author_of(raw: bytes) -> bytes | None:
    """The author key of a stored record's raw bytes, read without a full
    decode (canonical payloads start with the ``a`` field); None if the bytes
    are not a record."""
    try:
        outer = msgpack.unpackb(raw, raw=True)
        payload = outer[0]
        if payload[:5] == b"\x89\xa1a\xc4\x20":
            return bytes(payload[5:37])
        fields = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        author = fields.get("a")
        return author if isinstance(author, bytes) else None
    except Exception:  # not a record at all: it cannot match an author
        return None


class Outbox:
    """A lazy queue of raw records, taken out one batch at a time."""

    def __init__(self, items: SyncItems, batch_records: int = wire.MAX_BATCH_RECORDS) -> None:
        assert 0 < batch_records <= wire.MAX_BATCH_RECORDS
        self._items = items
        self._batch_records = batch_records
        self._source: Iterator[bytes] | None = None
        self._pending: deque[bytes] = deque()

    def load_ids(self, ids: list[bytes]) -> None:
        """Queue these records, ``ids`` sorted by (lamport, id)."""
        self._source = self._in_chain_order(ids)

    def load_author(self, author: bytes) -> None:
        """Queue every record by ``author``."""
        self._source = self._scan_author(author)

    @property
    def loaded(self) -> bool:
        return self._source is not None or bool(self._pending)

    def empty(self) -> bool:
        """True when nothing is left to send. May read from the store."""
        return not self._pending and self._exhausted()

    def clear(self) -> None:
        self._source = None
        self._pending.clear()

    def next_batch(self) -> list[bytes]:
        """The next batch (empty when nothing is left). Raises StoreFailed."""
        batch: list[bytes] = []
        size = 0
        while len(batch) < self._batch_records:
            if not self._pending and self._exhausted():
                break
            raw = self._pending[0]
            if batch and size + len(raw) + _RECORD_OVERHEAD > wire.MAX_BATCH_BYTES:
                break
            self._pending.popleft()
            if 0 < len(raw) <= limits.MAX_RECORD_BYTES:
                batch.append(raw)
                size += len(raw) + _RECORD_OVERHEAD
        return batch

    def _exhausted(self) -> bool:
        if self._source is None:
            return True
        for raw in self._source:
            self._pending.append(raw)
            return False
        self._source = None
        return True

    def _in_chain_order(self, ids: list[bytes]) -> Iterator[bytes]:
        for start in range(0, len(ids), self._batch_records):
            chunk = ids[start : start + self._batch_records]
            yield from guarded(lambda: self._items.raws_in_chain_order(chunk))

    def _scan_author(self, author: bytes) -> Iterator[bytes]:
        keys = guarded(self._items.sync_items)
        for start in range(0, len(keys), _CHUNK):
            chunk = [item_id for _lamport, item_id in keys[start : start + _CHUNK]]
            for raw in guarded(lambda: self._items.raws_in_chain_order(chunk)):
                if author_of(raw) == author:
                    yield raw
