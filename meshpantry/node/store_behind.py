"""A sync session's records, stored behind the session by a task of its own.

* :meth:`StoreBehind.take` hands a batch the session received to the node's
  ``ingest_soon`` (its checks start at once, in the worker processes when
  catching up) and queues it; :meth:`StoreBehind.run` stores the queued
  batches in order. While one batch is stored, the next ones are checked.
* A batch is taken in (and the session acknowledges it) at once while fewer
  than :data:`.checking.STORE_AHEAD_RECORDS` records wait for the store, so
  the sender goes on sending and the workers always have records to check;
  past that, :meth:`take` waits for the store.
* :meth:`settle` is the session's last step: it returns once every batch
  taken in is stored, and raises the store's failure if one failed (the
  session then fails as ours). After a failure, later batches are dropped,
  not stored.
* Cancelled (the node stops), every batch still queued is let go of.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import trio

from .checking import STORE_AHEAD_RECORDS, Pending, catching_up

log = logging.getLogger("meshpantry.sync")

#: ``ingest_soon(raws, peer, catching_up=...)``: a batch's checks begin, its
#: storing waits for :meth:`Pending.store`.
IngestSoon = Callable[..., Pending]


class StoreBehind:
    """The batches of one session with ``peer``, ``held`` records held when
    it began; ``on_change`` is called whenever :attr:`unstored` changes."""

    def __init__(self, ingest_soon: IngestSoon, peer: str, held: int,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self._ingest_soon = ingest_soon
        self._peer = peer
        self._held = held
        self._on_change = on_change
        self._send, self._queued = trio.open_memory_channel[tuple[Pending, int]](math.inf)
        self._ahead = 0  # records taken in and not yet taken to be stored
        self._taken = trio.Event()
        self._all_stored = trio.Event()
        self._failures: list[Exception] = []
        self.received = 0  #: records taken in
        self.record_bytes = 0  #: their bytes
        self.stored = 0  #: records stored that were new here
        self.unstored = 0  #: batches taken in and not stored yet

    async def take(self, raws: list[bytes]) -> None:
        """Take in one batch; waits while too many records wait for the store.
        Raises the store's failure once one failed."""
        if self._failures:
            raise self._failures[0]
        while self._ahead >= STORE_AHEAD_RECORDS:
            await self._taken.wait()
        self.record_bytes += sum(len(raw) for raw in raws)
        self.received += len(raws)
        batch = self._ingest_soon(raws, self._peer, catching_up=catching_up(self.received, self._held))
        self.unstored += 1
        self._on_change()
        try:
            self._send.send_nowait((batch, len(raws)))
        except BaseException:
            self.unstored -= 1
            batch.drop()
            raise
        self._ahead += len(raws)

    async def run(self) -> None:
        """Store the batches in order until :meth:`close`."""
        try:
            async for batch, count in self._queued:
                self._ahead -= count
                self._taken.set()
                self._taken = trio.Event()
                if self._failures:
                    batch.drop()
                else:
                    try:
                        self.stored += await batch.store() or 0  # a host may not count them
                    except Exception as error:  # our store failed: the session fails as ours
                        log.warning("storing records from %s failed: %r", self._peer, error)
                        self._failures.append(error)
                self.unstored -= 1
                self._on_change()
        finally:
            while True:  # cancelled (the node stops): let go of what waits
                try:
                    self._queued.receive_nowait()[0].drop()
                except (trio.WouldBlock, trio.EndOfChannel, trio.ClosedResourceError):
                    break
            self._all_stored.set()

    def close(self) -> None:
        """No more batches: what was taken in is still stored."""
        self._send.close()

    async def settle(self) -> None:
        """Wait until every batch taken in is stored; raise a store failure."""
        self.close()
        await self._all_stored.wait()
        if self._failures:
            raise self._failures[0]
