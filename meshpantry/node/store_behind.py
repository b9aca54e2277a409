"""A sync session's records, stored behind the session by a task of its own.

* :meth:`StoreBehind.take` hands a batch the session received to the node's
  ``ingest_soon`` (its checks start at once, in the worker processes when
  catching up) and queues it; :meth:`StoreBehind.run` stores the queued
  batches in order. While one batch is stored, the next ones are checked.
* A batch is taken in (and the session acknowledges it) at once while fewer
  than :data:`.checking.STORE_AHEAD_RECORDS` records wait for the store, so
  the sender goes on sending and the workers always have records to check;
  past that, :meth:`take` waits for the store. A batch whose checks joined
  those of the batch before it (:attr:`.checking.Pending.joined`) is stored
  by that batch's store: its records wait for the store until that store
  begins, not until it ends. (Counted until its own turn, a batch of 27,000
  records that joined the one being stored held the session for the whole
  store of both, and the checking processes, done with them, sat idle for
  about half a second each time: the next window was not taken in.)
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
        self._send, self._queued = trio.open_memory_channel[tuple[Pending, list[int]]](math.inf)
        self._ahead = 0  # records taken in whose store has not begun
        #: The records counted with the last batch queued that did not join
        #: another's checks, while its store has not begun (those of batches
        #: that joined it are counted with it); None once it has begun.
        self._last: list[int] | None = None
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
        ahead = len(raws)
        counted = [ahead]
        if batch.joined:  # the batch it joined stores its records: counted with that one
            counted = [0]
            if self._last is not None:
                self._last[0] += ahead
            else:
                ahead = 0  # whose store has begun
        try:
            self._send.send_nowait((batch, counted))
        except BaseException:
            self.unstored -= 1
            batch.drop()
            raise
        if not batch.joined:
            self._last = counted
        self._ahead += ahead

    async def run(self) -> None:
        """Store the batches in order until :meth:`close`."""
        try:
            async for batch, counted in self._queued:
                self._ahead -= counted[0]
                if counted is self._last:
                    self._last = None  # its store begins: batches joining it now are not ahead
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
