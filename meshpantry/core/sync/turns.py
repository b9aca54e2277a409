"""Whose sync session reconciles next at one replica, so that two peers are
not asked for the same records at once. Pure: the host reports each
session's phase and waits (bounded) while :meth:`TurnBook.may_go` says no.

Why: a reconciliation finds what the two sides lack from the sets they hold
when it runs. Two sessions reconciled at the same time at one replica find
the same records missing there, and both peers send them; so do two
sessions of which one reconciles while the other's records are still on
their way. After islands rejoin, every node is served by some peers while
it syncs with others, and records arrived 1.3 to 1.4 times over (bytes on
the wire, decoding, and the next reconciliations' work on differences that
were already on their way).

Phases of a session here: *waiting* (registered, not reconciling yet),
*running* (past its wait: reconciling, or moving records), and, within
running, *receiving*: its own reconciliation is over and records from its
peer are still expected (the peer's END has not come). Rules, each a wait
of the session that has not started yet:

1. A session this replica starts waits while a session a peer started with
   it runs or waits.
2. A session a peer started waits while a session of an initiator with a
   smaller id than that peer runs here (this replica's own included, under
   this replica's id).
3. Any session waits while another session here is *receiving*: what that
   session brings is on its way, and a reconciliation now would ask for it
   again.
4. Any session waits while another session here is still *reconciling*
   (running, its own reconciliation not over): the two would find the same
   records missing here at once, before either is receiving. Rule 2 lets a
   peer with a smaller id through while a larger one's session reconciles,
   and sessions this replica starts at once (on connect, or asked to sync
   now) reconcile side by side; after islands rejoined, two peers of a node
   then each sent it the same 2,500 or 5,000 records (one heal of 4 x 5
   nodes: 20,000 of the 170,000 records that came by sync). One exception:
   a session a peer started waits for this replica's own session that its
   peer has not answered yet only while the host is *patient*
   (:meth:`TurnBook.may_go`). An answered one is waited for however long
   it reconciles (within the host's bound): its peer answers only once its
   own wait is over, so it waits for nothing anywhere any more. (Going on
   beside an answered session whose reconciliation outlasted the patience,
   a served session found missing the island that session was bringing,
   and its peer sent those 2,500 records again: heals of 4 x 5 nodes
   received 1.05 to 1.07 times the records they lacked, in whole islands.)
5. A session this replica started that its peer has not answered yet
   gives way to a session a peer started here once the host's patience
   for that one runs out (:meth:`TurnBook.giving_way`), when that session's
   initiator has a smaller id than the own session's peer: the host ends
   the own session and starts it again later, and the served one waits
   until it has left. Unanswered, the own session was waiting at its peer
   (as a session that peer serves), so ending it costs a round trip and
   moves no record; going on beside it, the served session found missing
   what the own one would ask for too once answered, and both peers sent
   it (in heals of 4 x 5 nodes, the records by sync that were 1.03 to 1.13
   times those lacked came this way).

Rules 1 and 2 order the waits towards smaller ids; rule 3 waits only for
sessions past their reconciliation on both sides, which wait for nothing
here any more. Rule 4 waits for running sessions too: one a peer started
runs at that peer as its own session, past its wait there, and one this
replica started has no stream open while it waits here. Only a session a
peer started, waiting for this replica's own session still unanswered,
could close a cycle across replicas (each replica's own session waiting
as a served one at the next): hence the exception, and the host's
patience for it is a moment, which is all such a cycle costs. Rule 5
keeps its id order so that such a cycle never ends every session in it:
along a cycle, the initiator of the session each replica serves cannot
always be smaller than the peer of the replica's own session (the
inequalities would go round to the first id). The host bounds every wait
all the same (a peer may hold a session open).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, Hashable, TypeVar

Peer = TypeVar("Peer", bound=Hashable)


class Phase(enum.Enum):
    WAITING = "waiting"  #: registered, not reconciling yet
    RUNNING = "running"  #: past its wait: reconciling or moving records
    RECEIVING = "receiving"  #: running, reconciled, records from the peer still expected


@dataclass
class _Session(Generic[Peer]):
    initiator: Peer
    served: bool  #: a peer started it
    peer: Peer | None = None  #: the other side of a session this replica starts (rule 5)
    phase: Phase = Phase.WAITING
    reconciled: bool = False  #: its own reconciliation is over (rule 4)
    answered: bool = False  #: a session this replica started heard from its peer (rule 5)


class TurnBook(Generic[Peer]):
    """The sessions at one replica (``me``) and whose turn it is. Sessions
    are named by tokens the book hands out."""

    def __init__(self, me: Peer) -> None:
        self.me = me
        self._sessions: dict[int, _Session[Peer]] = {}
        self._next = 0

    def opened(self, initiator: Peer, peer: Peer | None = None) -> int:
        """A session begins to wait for its turn: one this replica starts
        (with ``peer``, when known) when ``initiator`` is ``me``, else one
        ``initiator`` started."""
        self._next += 1
        served = initiator != self.me
        self._sessions[self._next] = _Session(initiator, served=served, peer=None if served else peer)
        return self._next

    def started(self, token: int) -> None:
        """The session is past its wait (its turn came, or its wait ran out)."""
        self._sessions[token].phase = Phase.RUNNING

    def receiving(self, token: int, expecting: bool) -> None:
        """Whether the running session still expects records from its peer
        after its reconciliation (see :attr:`.session.SyncSession.awaiting_records`)."""
        session = self._sessions.get(token)
        if session is not None and session.phase is not Phase.WAITING:
            session.phase = Phase.RECEIVING if expecting else Phase.RUNNING

    def reconciled(self, token: int, over: bool = True) -> None:
        """The session's own reconciliation is over (or it never reconciles:
        it fetches or serves one author's chain): it can find nothing more
        missing here (rule 4). ``over=False``: it reconciles (again: a
        session a peer started counts once the peer's first message came)."""
        session = self._sessions.get(token)
        if session is not None:
            session.reconciled = over

    def answered(self, token: int) -> None:
        """The peer of a session this replica started answered it: it no
        longer gives way (rule 5)."""
        session = self._sessions.get(token)
        if session is not None:
            session.answered = True

    def ended(self, token: int) -> None:
        self._sessions.pop(token, None)

    def giving_way(self, token: int) -> list[int]:
        """The sessions this replica started that give way to the session
        ``token`` (one a peer started) once the host's patience for it ran
        out (rule 5): running, still reconciling, unanswered, with a peer
        whose id is larger than that session's initiator. The host ends
        them; :meth:`may_go` holds ``token`` until they have left."""
        me = self._sessions[token]
        if not me.served:
            return []
        return [other_token for other_token, other in self._sessions.items()
                if other_token != token and self._gives_way(other, me)]

    @staticmethod
    def _gives_way(other: _Session[Peer], to: _Session[Peer]) -> bool:
        return (not other.served and other.phase is Phase.RUNNING and not other.reconciled
                and not other.answered and other.peer is not None
                and to.initiator < other.peer)  # type: ignore[operator]

    def may_go(self, token: int, *, patient: bool = True) -> bool:
        """Whether the waiting session ``token`` may reconcile now (rules
        1-5). ``patient=False``: a session a peer started no longer waits
        for this replica's own unanswered session still reconciling (rule
        4), except for one that gives way to it and has not left yet (rule
        5)."""
        me = self._sessions[token]
        for other_token, other in self._sessions.items():
            if other_token == token:
                continue
            if other.phase is Phase.RECEIVING:
                return False  # rule 3
            if other.phase is Phase.RUNNING and not other.reconciled and (
                other.served or not me.served or patient or other.answered or self._gives_way(other, me)
            ):
                return False  # rules 4 and 5
            if not me.served and other.served:
                return False  # rule 1
            if me.served and other.phase is not Phase.WAITING and other.initiator < me.initiator:  # type: ignore[operator]
                return False  # rule 2
        return True

    def served(self) -> int:
        """Sessions peers started that run or wait here."""
        return sum(session.served for session in self._sessions.values())

    def phases(self) -> dict[Phase, int]:
        """How many sessions are in each phase (for status pages and tests)."""
        counts = dict.fromkeys(Phase, 0)
        for session in self._sessions.values():
            counts[session.phase] += 1
        return counts
