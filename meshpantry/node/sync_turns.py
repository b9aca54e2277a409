"""Whose sync session goes first at one node: the rules of
:mod:`meshpantry.core.sync.turns` on trio's clock.

A session registers as it begins to wait (:meth:`Turns.session`), waits for
its turn at most a bound (:data:`SERVED_FIRST_MS` for a session this node
starts, :data:`SMALLER_FIRST_MS` for one a peer started; a bound that passes
lets the session go on; one a peer started waits
:data:`RECONCILING_WAIT_MS` at most for this node's own session to
reconcile while that session's peer has not answered it, rule 4),
reports while it runs when its own reconciliation is over
(:meth:`Turn.reconciled`) and whether it still expects records from its
peer (:meth:`Turn.receiving`), and leaves the book when it ends.

Rule 5: a session this node started runs inside :meth:`Turn.yielding` and
reports its peer's first answer (:meth:`Turn.answered`). When a session a
peer started has waited out its patience for it, and the book says the
unanswered one gives way, the host cancels that scope: the session ends as
:class:`GaveWay`, its peer is told so (ABORT 8, :func:`.sync_driver.withdraw`),
and the planner starts it again shortly (as after a busy peer), once the
served session's records are in.
"""

from __future__ import annotations

import logging
import math
from contextlib import asynccontextmanager, contextmanager
from typing import AsyncIterator, Iterator

import trio

from meshpantry.core.sync.turns import TurnBook

log = logging.getLogger("meshpantry.sync")

#: Longest a session this node starts waits for its turn (rules 1, 3 and 4).
#: Served sessions of a heal take a few seconds alone, and 10-15 s when
#: twenty nodes share two cores: a wait that runs out sends the same records
#: twice. No stream is open yet, so no peer's deadline is at stake; a peer
#: holding a session open (hostile, or gone silent) delays ours by this
#: much at most.
SERVED_FIRST_MS = 20_000

#: Longest a session a peer started waits, holding its slot, for its turn
#: (rules 2 and 3). With the wait for a slot
#: (:data:`.sync_service.SLOT_WAIT_MS`) it stays well under the initiator's
#: silence deadline.
SMALLER_FIRST_MS = 10_000

#: Longest a session a peer started waits for this node's own session to
#: finish reconciling while its peer has not answered it (rule 4; an
#: answered one is waited for within :data:`SMALLER_FIRST_MS`). A
#: reconciliation takes a few round trips: milliseconds on a quiet LAN, a
#: second or so with twenty nodes healing on two cores. Short, because such
#: waits across nodes could form a cycle, which this much time breaks. (The
#: node's own session may itself wait at its peer as a served one; in heals
#: of 4 x 5 nodes these waits ran out now and then, at 2 s and at 4 s alike.
#: When it runs out, such an unanswered own session gives way: rule 5.)
RECONCILING_WAIT_MS = 2_000


class GaveWay(Exception):
    """A session this node started ended unanswered, giving way to a
    session a peer started here (rule 5); it is tried again shortly."""


class Turn:
    """One session's place in the book."""

    def __init__(self, turns: "Turns", token: int, initiator: str) -> None:
        self._turns, self.token = turns, token
        self.initiator = initiator  #: this node's id for its own sessions
        self._expecting = False
        self._reconciled = False
        self._answered = False
        self._scope: trio.CancelScope | None = None
        self.gave_way_to: str | None = None  #: the initiator this session gave way to (rule 5)

    async def wait(self) -> None:
        """Wait for this session's turn (bounded), then count it as running."""
        turns = self._turns
        book = turns.book
        ours = book.me == self.initiator
        bound = SERVED_FIRST_MS if ours else SMALLER_FIRST_MS
        started = trio.current_time()
        patient_until = math.inf if ours else started + RECONCILING_WAIT_MS / 1000
        asked = False
        with trio.move_on_after(bound / 1000) as waited:
            while True:
                patient = trio.current_time() < patient_until
                if not patient and not asked:
                    asked = True
                    for token in book.giving_way(self.token):
                        turns.turn_of(token).give_way(self.initiator)
                if book.may_go(self.token, patient=patient):
                    break
                # Woken by a change, or when patience for rule 4 runs out.
                with trio.move_on_at(patient_until if patient else math.inf):
                    await turns.changed()
        if waited.cancelled_caught or not book.may_go(self.token):
            log.info("sync session %s goes on after waiting %.1f s for other sessions here: "
                     "records may come twice", "of ours" if ours else f"of {self.initiator}",
                     trio.current_time() - started)
        self.go()

    def go(self) -> None:
        """Count this session as running now, without waiting (a recovery
        of the own chain, which nothing else could bring)."""
        self._turns.book.started(self.token)
        self._turns.changed_now()

    def reconciled(self, over: bool = True) -> None:
        """The session's own reconciliation is over (``over=False``: it
        reconciles): it finds nothing more missing here (rule 4)."""
        if over != self._reconciled:
            self._reconciled = over
            self._turns.book.reconciled(self.token, over)
            self._turns.changed_now()

    def answered(self) -> None:
        """The peer answered this session (one this node started): it no
        longer gives way (rule 5)."""
        if not self._answered:
            self._answered = True
            self._turns.book.answered(self.token)
            self._turns.changed_now()

    @contextmanager
    def yielding(self) -> Iterator[trio.CancelScope]:
        """The scope a session this node started runs in: cancelled when it
        gives way (:meth:`give_way`, also when asked before it began)."""
        with trio.CancelScope() as scope:
            self._scope = scope
            if self.gave_way_to is not None:
                scope.cancel()
            try:
                yield scope
            finally:
                self._scope = None

    def give_way(self, to: str) -> None:
        """End this unanswered session (rule 5): a session ``to`` started
        here has waited out its patience for it."""
        if self.gave_way_to is None:
            self.gave_way_to = to
            log.info("our sync session gives way to the session %s started here; "
                     "it is tried again once that one's records are in", to)
        if self._scope is not None:
            self._scope.cancel()

    def receiving(self, expecting: bool) -> None:
        """The session's own reconciliation is over and records from its peer
        are still expected (or no longer)."""
        if expecting != self._expecting:
            self._expecting = expecting
            self._turns.book.receiving(self.token, expecting)
            self._turns.changed_now()


class Turns:
    """The sessions at one node (``me``: its peer id) and their waits."""

    def __init__(self, me: str) -> None:
        self.book: TurnBook[str] = TurnBook(me)
        self._turns: dict[int, Turn] = {}
        self._changed = trio.Event()  #: set (and replaced) when a session's phase changes

    def turn_of(self, token: int) -> Turn:
        return self._turns[token]

    def served(self) -> int:
        """Sessions peers started that run or wait here."""
        return self.book.served()

    async def changed(self) -> None:
        """Wait until a session's phase changes."""
        await self._changed.wait()

    def changed_now(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    @asynccontextmanager
    async def session(self, initiator: str, peer: str | None = None) -> AsyncIterator[Turn]:
        """A session of ``initiator`` (this node's id for its own, with
        ``peer``) in the book while the block runs; ``await turn.wait()``
        inside it."""
        token = self.book.opened(initiator, peer)
        turn = self._turns[token] = Turn(self, token, initiator)
        try:
            yield turn
        finally:
            self.book.ended(token)
            del self._turns[token]
            self.changed_now()
