"""Whose sync session goes first at one node, so that two peers are not
asked for the same records at once.

Why: a reconciliation finds what the two sides lack from the sets they hold
when it runs. Two sessions reconciled at the same time at one node find the
same records missing there, and both peers send them: after islands rejoin,
every node is served by some peers while it syncs with others, and records
arrived 1.4 times over (bytes on the wire, and the work of reading,
encrypting, framing and skipping them on both sides).

Rules (every wait is bounded; a bound that passes lets the session go on):

1. A session this node starts waits, before it opens its stream, until no
   session a peer started with it runs or waits (:data:`SERVED_FIRST_MS`).
2. A session a peer started waits, before it answers, until no session of
   an initiator with a smaller id than that peer runs here, this node's own
   included (:data:`SMALLER_FIRST_MS`).
3. A running session never waits, and a session of ours not yet running is
   waited for by none: every wait is for running sessions of smaller
   initiators, so the waits never form a cycle, within a node or across
   nodes.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Callable, Sized

import trio

#: Longest a session this node starts waits for the sessions peers started
#: with it (rule 1). Served sessions of a heal take a few seconds; a peer
#: holding a session open (hostile, or gone silent) delays ours by this much
#: at most.
SERVED_FIRST_MS = 10_000

#: Longest a session a peer started waits, holding its slot, for the running
#: sessions of smaller initiators (rule 2). With the wait for a slot
#: (:data:`.sync_service.SLOT_WAIT_MS`) it stays well under the initiator's
#: silence deadline.
SMALLER_FIRST_MS = 10_000


class Turns:
    """The sessions running at one node, by initiator, and the waits of the
    rules. ``served()`` gives the sessions peers started that run or wait."""

    def __init__(self, served: Callable[[], Sized]) -> None:
        self.served = served
        self.running: dict[str, int] = {}  #: initiator -> its sessions running here
        self._ended = trio.Event()  #: set when a session ends (replaced by each wait)

    def ended(self) -> None:
        """A session (ours or served, running or waiting) ended."""
        self._ended.set()

    async def served_first(self) -> None:
        """Rule 1."""
        with trio.move_on_after(SERVED_FIRST_MS / 1000):
            while len(self.served()):
                self._ended = trio.Event()
                await self._ended.wait()

    async def smaller_first(self, initiator: str) -> None:
        """Rule 2, for a session ``initiator`` started."""
        with trio.move_on_after(SMALLER_FIRST_MS / 1000):
            while any(other < initiator for other in self.running):
                self._ended = trio.Event()
                await self._ended.wait()

    @asynccontextmanager
    async def running_for(self, initiator: str) -> AsyncIterator[None]:
        """Count a session of ``initiator`` as running while the block runs."""
        self.running[initiator] = self.running.get(initiator, 0) + 1
        try:
            yield
        finally:
            self.running[initiator] -= 1
            if not self.running[initiator]:
                del self.running[initiator]
            self.ended()
