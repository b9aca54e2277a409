"""The sync planner: which sessions a replica starts, with whom, when, in
what mode, and which peers it cuts off. Pure: no IO, no clock, no randomness
of its own.

Both the node (:mod:`meshpantry.node.runner`, on trio's clock) and the
simulator (:mod:`simulations.sim.simulation`, on its virtual clock) run this
class; they only report what happened and perform what it returns.

Events in (each takes ``now``, ms of one monotonic clock, and returns the
actions to perform, in order):

* :meth:`~SyncPlanner.peers_up` / :meth:`~SyncPlanner.peer_down`: connections
  came or went. Peers that came up together are reported together.
* :meth:`~SyncPlanner.gap_seen`: gossip from a peer showed records whose
  chain predecessors this replica lacks.
* :meth:`~SyncPlanner.session_ended`: a session this replica started ended,
  with its :class:`Outcome`.
* :meth:`~SyncPlanner.hostile`: a peer sent what no honest member sends
  (forged or malformed records, a session rule broken).
* :meth:`~SyncPlanner.requested`: someone asked for a session now.
* :meth:`~SyncPlanner.handle_timer` at :meth:`~SyncPlanner.get_timer`: the
  periodic tick, a gap's grace ended, a retry is due.

Actions out: :class:`StartSession` (peer, :class:`Mode`, horizon bound),
:class:`CutOff` (peer, until when, why), :class:`Forget` (drop what you hold
about a peer that went down).

Rules (the theory of operation):

1. **Who counts.** Sessions are started only with members (the
   :class:`Standing` says who is one), never with a peer cut off. A device
   that does not see itself admitted yet (it just joined, or lost its store)
   counts every peer: it must sync to learn who the members are.
2. **On connect**, a full session with each peer that came up and that this
   replica *leads* (the smaller id of the two starts; one session per pair
   instead of two), at most ``connect_limit`` of one batch, chosen at random.
   A device that must recover its own chain, or that does not see itself
   admitted yet, syncs with every peer it sees: it cannot wait to be led,
   since its peers do not know it as a member yet (rule 1 keeps them from
   starting a session with it).
3. **Every interval** (``interval_ms`` plus or minus ``jitter`` of it), a
   routine session with one peer chosen at random among the members up: it
   reconciles only below the settled horizon (:mod:`.horizon`) and leaves the
   newest records to gossip. Syncing every peer each interval would cost a
   Raspberry Pi on a busy LAN one session per neighbour; one random peer per
   interval is classic anti-entropy, and sessions move records both ways.
4. **A gap** gossip showed is looked at again after ``gap_grace_ms``; if the
   replica still lacks a missing record, a full session with the peer that
   showed it (from either side: the gap is this side's) when it is up, else
   with another member that is up, chosen at random: any connected member
   may hold the record (the node reports the forwarder of the message, which
   held it; the author may be out of reach behind it).
5. **At most** ``max_concurrent`` sessions run at once; others wait in order
   of request, one per peer (a full request upgrades a waiting routine one).
   A session the peer refused because it is busy is retried after
   RETRY_MS to 2 x RETRY_MS, up to RETRIES times.
6. **Own-chain recovery**: while the replica's own chain may be missing, every
   session starts as a recovery (fetch own chain) session; once one succeeds,
   a full session with the same peer follows and recovery is over.
7. **Cut-offs**: a hostile peer is cut off for ``ban_ms``; its waiting
   sessions are dropped. A peer that went down is forgotten.
8. **Agreement**: a peer reported up as *agreeing* (the host learnt, e.g.
   from a set fingerprint exchanged on connect, that it holds the same
   records as this replica) gets no on-connect session: it could not move
   a record. Recovery and a device not admitted yet still sync (rule 2).
   The same test runs again when a waiting session's turn comes
   (``agrees``, :mod:`.agreement`): a session queued on connect, on request
   or by the tick whose peer has since come to agree with this replica (a
   session with it, or a peer exchange, found both holding one set, and
   this side's has not changed since) is dropped unopened and counted in
   :attr:`SyncPlanner.skipped`. A session for a gap always runs: the gap is
   a record this replica lacks, whatever the fingerprints said.
"""

from __future__ import annotations

import enum
import heapq
from dataclasses import dataclass
from typing import Any, Callable, Collection, Generic, Hashable, Iterable, Protocol, Sequence, TypeVar, Union

from .horizon import Horizon

#: Sessions a replica starts at once. After islands rejoin every peer has
#: something to send; pulling the same records from several at once only
#: multiplies bytes and CPU. Measured on 4 islands of 5 nodes rejoining with
#: 4,000 divergent records: one at a time healed in 13.5 s with 27.7 MB of
#: records delivered, two at a time took 19.5 s and 39.7 MB.
MAX_CONCURRENT_SYNCS = 1

#: How long a chain gap seen in gossip may stay open before a session: two
#: publishing intervals and a heartbeat of GossipSub, time for a batch still
#: in flight or one asked for by lazy gossip. A session started at once would
#: mostly reconcile records in flight.
GAP_GRACE_MS = 2_000

#: How long a peer that sent malformed frames or forged records stays cut
#: off. Long enough to stop a flood, short enough that a buggy but honest
#: neighbour (an old version) is retried the same evening.
BAN_MS = 300_000

#: Periodic sync interval and its jitter (a fraction of it), so that replicas
#: do not sync in lockstep. The node takes both from its settings.
INTERVAL_MS = 30_000
JITTER = 0.2

#: A session refused because the peer is busy is tried again after 1-2 s, up
#: to three times; the periodic sync covers whatever is still missed.
RETRY_MS = 1_000
RETRIES = 3

Peer = TypeVar("Peer", bound=Hashable)


class Mode(enum.Enum):
    FULL = "full"  #: reconcile everything (on connect, for a gap, on request)
    ROUTINE = "routine"  #: reconcile below the settled horizon only (periodic)
    RECOVER = "recover"  #: fetch this device's own chain before it writes


class Outcome(enum.Enum):
    DONE = "done"  #: both sides hold the union
    FAILED = "failed"  #: silence, a lost connection, our own store: try again later
    HOSTILE = "hostile"  #: the peer broke the protocol: cut it off
    UNREACHABLE = "unreachable"  #: the stream could not be opened
    BUSY = "busy"  #: the peer had no slot for us: retry shortly


@dataclass(frozen=True, slots=True)
class StartSession(Generic[Peer]):
    """Start a session with ``peer`` as initiator. ``below``: for a routine
    session, reconcile only records under this Lamport counter (None: all)."""

    peer: Peer
    mode: Mode
    below: int | None = None


@dataclass(frozen=True, slots=True)
class CutOff(Generic[Peer]):
    """Refuse ``peer`` (sessions, gossip, connections) until ``until`` (ms)."""

    peer: Peer
    until: int
    reason: str


@dataclass(frozen=True, slots=True)
class Forget(Generic[Peer]):
    """``peer`` went down: drop per-peer state (progress, queued work)."""

    peer: Peer


Action = Union[StartSession, CutOff, Forget]


class Standing(Protocol[Peer]):  # type: ignore[misc]
    """What the planner asks of the replica it plans for."""

    def is_member(self, peer: Peer) -> bool:
        """True when ``peer``'s device is a member in this replica's log."""

    def holds(self, record_id: bytes) -> bool:
        """True when this replica holds the record ``record_id``."""


class Rng(Protocol):
    """The parts of a seeded ``random.Random`` the planner draws from."""

    def randrange(self, stop: int) -> int: ...

    def uniform(self, a: float, b: float) -> float: ...

    def sample(self, population: Sequence[Any], k: int) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """The planner's knobs; the defaults are the node's."""

    interval_ms: int = INTERVAL_MS
    jitter: float = JITTER  #: in [0, 1)
    gap_grace_ms: int = GAP_GRACE_MS
    max_concurrent: int = MAX_CONCURRENT_SYNCS
    connect_limit: int | None = None  #: on-connect sessions per batch of peers up (None: every led peer)
    ban_ms: int = BAN_MS

    def __post_init__(self) -> None:
        assert self.interval_ms > 0 and 0 <= self.jitter < 1 and self.max_concurrent >= 1
        assert self.connect_limit is None or self.connect_limit >= 0


_TICK, _GAP, _RETRY = 0, 1, 2


class SyncPlanner(Generic[Peer]):
    """The scheduling decisions of one replica. See the module docstring.

    ``me`` is this replica's own peer id (ids must be ordered: the smaller
    leads a pair). ``rng`` is the only source of randomness (interval jitter,
    which peer to sync); ``horizon`` is the replica's history of its highest
    Lamport counter, fed by the host. ``recovering``: the device's own chain
    may be missing (rule 6). ``agrees(peer)``: the host knows that this
    replica still holds the set it last shared with ``peer`` (rule 8).
    """

    def __init__(
        self,
        me: Peer,
        standing: Standing[Peer],
        rng: Rng,
        *,
        now: int,
        horizon: Horizon,
        recovering: bool = False,
        config: PlannerConfig = PlannerConfig(),
        agrees: Callable[[Peer], bool] = lambda peer: False,
    ) -> None:
        self.me = me
        self.standing = standing
        self.rng = rng
        self.horizon = horizon
        self.recovering = recovering
        self.config = config
        self.up: list[Peer] = []  #: peers connected now, in the order they came up
        self._up_at: dict[Peer, int] = {}  #: peer -> its index in ``up``
        self.running: dict[Peer, Mode] = {}  #: sessions started and not ended
        self.waiting: dict[Peer, Mode] = {}  #: sessions to start, oldest first
        self.cut_off: dict[Peer, int] = {}  #: peer -> cut off until (ms)
        self._retries: dict[Peer, int] = {}  #: peer -> retries spent on its waiting or running session
        self.agrees = agrees
        self._for_gap: set[Peer] = set()  #: waiting or running sessions wanted for a gap (never skipped, rule 8)
        self.skipped = 0  #: sessions dropped unopened: their peer agreed with this replica (rule 8)
        self._timers: list[tuple[int, int, int, object]] = []  #: heap of (when, seq, kind, payload)
        self._seq = 0
        self._schedule(now + self._interval(), _TICK, None)

    # --- queries ---------------------------------------------------------------

    def leads(self, peer: Peer) -> bool:
        """Of two peers, the smaller id starts the on-connect sessions."""
        return self.me < peer  # type: ignore[operator]

    def is_up(self, peer: Peer) -> bool:
        return peer in self._up_at

    def is_cut_off(self, peer: Peer, now: int) -> bool:
        until = self.cut_off.get(peer)
        if until is None:
            return False
        if now >= until:
            del self.cut_off[peer]
            return False
        return True

    def eligible(self, peer: Peer, now: int) -> bool:
        """Rule 1: a member (or anyone, while this device is not admitted
        itself) that is not cut off."""
        if peer == self.me or self.is_cut_off(peer, now):
            return False
        return self.standing.is_member(peer) or not self.standing.is_member(self.me)

    def skippable(self, peer: Peer) -> bool:
        """Whether the session running with ``peer`` may still be dropped
        unopened when the peer agrees (rule 8): not one for a gap, nor a
        recovery."""
        return peer in self.running and peer not in self._for_gap and self.running[peer] is not Mode.RECOVER

    def get_timer(self) -> int:
        """When :meth:`handle_timer` should next be called (ms); the periodic
        tick is always pending."""
        return self._timers[0][0]

    # --- events ----------------------------------------------------------------

    def peers_up(self, peers: Iterable[Peer], now: int, agreeing: Collection[Peer] = ()) -> list[Action]:
        """Peers that connected (rule 2); those in ``agreeing`` hold the same
        records as this replica (rule 8)."""
        fresh = [p for p in peers if p not in self._up_at and p != self.me]
        for peer in fresh:
            self._up_at[peer] = len(self.up)
            self.up.append(peer)
        everyone = self.recovering or not self.standing.is_member(self.me)
        chosen = [p for p in fresh if (everyone or (self.leads(p) and p not in agreeing)) and self.eligible(p, now)]
        limit = self.config.connect_limit
        if limit is not None and not everyone and len(chosen) > limit:
            chosen = self.rng.sample(chosen, limit)
        for peer in chosen:
            self._want(peer, Mode.FULL)
        return self._start_ready(now)

    def peer_down(self, peer: Peer, now: int) -> list[Action]:
        """A connection went away: nothing waits for it any more."""
        index = self._up_at.pop(peer, None)
        if index is None:
            return []
        last = self.up.pop()
        if last != peer:
            self.up[index] = last
            self._up_at[last] = index
        self.waiting.pop(peer, None)
        self._for_gap.discard(peer)
        self._retries.pop(peer, None)
        return [Forget(peer)]

    def gap_seen(self, peer: Peer, missing: Sequence[bytes], now: int) -> list[Action]:
        """Gossip from ``peer`` lacked the predecessors ``missing`` (rule 4)."""
        if missing and self.eligible(peer, now):
            self._schedule(now + self.config.gap_grace_ms, _GAP, (peer, tuple(missing)))
        return []

    def requested(self, peer: Peer, now: int) -> list[Action]:
        """Someone asked for a full session with ``peer`` now (it still waits
        its turn, and a cut-off peer is refused)."""
        if peer != self.me and not self.is_cut_off(peer, now):
            self._want(peer, Mode.FULL)
        return self._start_ready(now)

    def session_ended(self, peer: Peer, outcome: Outcome, now: int) -> list[Action]:
        """A session this replica started with ``peer`` ended (rules 5-7)."""
        mode = self.running.pop(peer, None)
        if mode is None:
            return []
        tries = self._retries.pop(peer, 0)
        for_gap = peer in self._for_gap
        self._for_gap.discard(peer)
        actions: list[Action] = []
        if outcome is Outcome.HOSTILE:
            actions += self.hostile(peer, "broke the sync protocol", now)
        elif outcome is Outcome.BUSY and tries < RETRIES:
            when = now + RETRY_MS + self.rng.randrange(RETRY_MS)
            self._schedule(when, _RETRY, (peer, mode, tries + 1, for_gap))
        elif mode is Mode.RECOVER and outcome is Outcome.DONE:
            self.recovering = False
            self.waiting = {peer: Mode.FULL, **{p: m for p, m in self.waiting.items() if p != peer}}
        return actions + self._start_ready(now)

    def hostile(self, peer: Peer, reason: str, now: int) -> list[Action]:
        """``peer`` sent what no honest member sends: cut it off (rule 7).
        Repeated offences extend the cut-off without a new action."""
        fresh = not self.is_cut_off(peer, now)
        self.cut_off[peer] = now + self.config.ban_ms
        self.waiting.pop(peer, None)
        self._for_gap.discard(peer)
        return [CutOff(peer, now + self.config.ban_ms, reason)] if fresh else []

    def handle_timer(self, now: int) -> list[Action]:
        """Fire every timer due by ``now``."""
        timers = self._timers
        while timers and timers[0][0] <= now:
            _, _, kind, payload = heapq.heappop(timers)
            if kind == _TICK:
                self._tick(now)
                self._schedule(now + self._interval(), _TICK, None)
            elif kind == _GAP:
                peer, missing = payload  # type: ignore[misc]
                if any(not self.standing.holds(rid) for rid in missing):
                    holder = self._holder(peer, now)
                    if holder is not None:
                        self._want(holder, Mode.FULL)
                        if holder in self.waiting:
                            self._for_gap.add(holder)
            else:
                peer, mode, tries, for_gap = payload  # type: ignore[misc]
                if peer in self._up_at and self.eligible(peer, now):
                    self._want(peer, mode, tries)
                    if for_gap and peer in self.waiting:
                        self._for_gap.add(peer)
        return self._start_ready(now)

    # --- inside ----------------------------------------------------------------

    def _tick(self, now: int) -> None:
        """Rule 3: one routine session with a random member that is up."""
        up = self.up
        if not up:
            return
        start = self.rng.randrange(len(up))
        for offset in range(len(up)):
            peer = up[(start + offset) % len(up)]
            if self.eligible(peer, now):
                self._want(peer, Mode.ROUTINE)
                return

    def _holder(self, peer: Peer, now: int) -> Peer | None:
        """Rule 4: whom to ask for a gap ``peer`` showed: ``peer`` when it is
        up (or when nobody eligible is), else a random eligible member up."""
        if self.eligible(peer, now) and peer in self._up_at:
            return peer
        others = [p for p in self.up if p != peer and self.eligible(p, now)]
        if others:
            return others[self.rng.randrange(len(others))]
        return peer if self.eligible(peer, now) else None

    def _want(self, peer: Peer, mode: Mode, tries: int = 0) -> None:
        if peer in self.running:
            return
        if tries:
            self._retries[peer] = tries
        current = self.waiting.get(peer)
        if current is None or (current is Mode.ROUTINE and mode is not Mode.ROUTINE):
            self.waiting[peer] = mode

    def _start_ready(self, now: int) -> list[Action]:
        actions: list[Action] = []
        while self.waiting and len(self.running) < self.config.max_concurrent:
            peer = next(iter(self.waiting))
            mode = self.waiting.pop(peer)
            for_gap = peer in self._for_gap
            if self.is_cut_off(peer, now):
                continue
            if not (for_gap or self.recovering) and self.agrees(peer):
                self._retries.pop(peer, None)
                self.skipped += 1
                continue
            if self.recovering:
                mode = Mode.RECOVER
            elif mode is Mode.RECOVER:  # a retry queued before the chain was recovered
                mode = Mode.FULL
            below = self.horizon.bound(now) if mode is Mode.ROUTINE else None
            self.running[peer] = mode
            actions.append(StartSession(peer, mode, below))
        return actions

    def _interval(self) -> int:
        interval, jitter = self.config.interval_ms, self.config.jitter
        return max(1, round(interval + self.rng.uniform(-jitter, jitter) * interval))

    def _schedule(self, when: int, kind: int, payload: object) -> None:
        self._seq += 1
        heapq.heappush(self._timers, (when, self._seq, kind, payload))
