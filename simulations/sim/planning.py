"""Each simulated node's sync planner, driven on the virtual clock.

The simulator's adapter around :class:`meshpantry.core.sync.planner.SyncPlanner`,
the same class the node runs (:mod:`meshpantry.node.sync_service`):

* A node's connections are its gossip mesh peers: after every heartbeat the
  ones new to its planner are reported up, the ones dropped down
  (:meth:`Planning.mesh_changed`); a flapping link that comes back is a
  connection up on both sides (:meth:`Planning.link_up`).
* Gossip gaps (:meth:`Planning.gap_seen`) and the end of every session a node
  started (:meth:`Planning.session_ended`) go to its planner.
* A :class:`~meshpantry.core.sync.planner.StartSession` starts a virtual
  session (:class:`.catchup.Catchup`); a peer that is busy or unreachable is
  reported back at once as the session's outcome.
* Each planner's timer is one event on the queue, re-armed after every call.
* A power cut drops the node's planner with the rest of its memory; power
  back gives it a new one.
* A peer whose gossip the core's decision blames
  (:func:`meshpantry.core.gossip.decide`) is reported hostile
  (:meth:`Planning.hostile`); the planner's :class:`~meshpantry.core.sync.planner.CutOff`
  is kept by the planner itself, and the simulator asks it
  (:meth:`Planning.is_cut_off`) before taking that peer's gossip, as the node does.
* A device restored from nothing gets a planner that is recovering
  (rule 6): its sessions are recovery sessions
  (:meth:`~meshpantry.core.sync.session.SyncSession.fetch_author`) until one
  succeeds; then the node may write again (:meth:`.node.SimNode.chain_recovered`).
"""

from __future__ import annotations

import random
from typing import Callable

from meshpantry.core.sync.planner import (
    Action,
    CutOff,
    Mode,
    Outcome,
    PlannerConfig,
    StartSession,
    SyncPlanner,
)

from .catchup import Catchup
from .clock import EventQueue
from .node import SimNode
from .record_table import RecordTable

#: No timer armed (a time later than any run).
_NEVER = 1 << 62


class SimStanding:
    """What a node's planner asks of it: every honest node is a member (the
    founding admits them all), and what its store holds."""

    __slots__ = ("node", "table", "honest")

    def __init__(self, node: SimNode, table: RecordTable, honest: int) -> None:
        self.node, self.table, self.honest = node, table, honest

    def is_member(self, peer: int) -> bool:
        return peer < self.honest

    def holds(self, record_id: bytes) -> bool:
        position = self.table.by_id.get(record_id)
        return position is not None and self.node.store.holds(position)


class Planning:
    """The planners of every honest node, and what they do."""

    def __init__(
        self,
        nodes: list[SimNode],
        table: RecordTable,
        queue: EventQueue,
        catchup: Catchup,
        config: PlannerConfig,
        rng: random.Random,
        trace: Callable[..., None],
    ) -> None:
        self.nodes = nodes
        self.table = table
        self.queue = queue
        self.catchup = catchup
        self.config = config
        self.rng = rng
        self.trace = trace
        self.planners: list[SyncPlanner[int] | None] = [None] * len(nodes)  #: None while a node has no power
        self._armed = [_NEVER] * len(nodes)  #: when each node's planner timer is queued
        self.gaps = 0  #: gossip deliveries that showed a gap (the planner syncs if it stays open)
        self.cut_offs: list[tuple[int, int, int]] = []  #: (when, node, peer) of every CutOff
        self.recoveries: list[tuple[int, int, int]] = []  #: (when, node, peer) of every chain recovered

    def new_planner(self, node: SimNode) -> None:
        """Power on (or a store restored from nothing): a planner with
        nothing up yet, recovering when the node's own chain may be missing."""
        planner: SyncPlanner[int] = SyncPlanner(
            node.number, SimStanding(node, self.table, len(self.nodes)), self.rng,
            now=self.queue.now, horizon=node.horizon, recovering=node.recovering,
            config=self.config,
        )
        self.planners[node.number] = planner
        self._armed[node.number] = _NEVER
        self.arm(node.number)

    def drop(self, node: SimNode) -> None:
        """Power cut: the planner goes with the node's memory."""
        self.planners[node.number] = None

    # --- events ------------------------------------------------------------------

    def mesh_changed(self, node: SimNode, old: list[int], mesh: list[int]) -> None:
        planner = self.planners[node.number]
        if planner is None:
            return
        now, me = self.queue.now, node.number
        if old != mesh:
            kept = set(mesh)
            for peer in old:
                if peer not in kept and planner.is_up(peer):
                    self.perform(me, planner.peer_down(peer, now))
        fresh = [p for p in mesh if not planner.is_up(p)]
        if fresh:
            self.perform(me, planner.peers_up(fresh, now))

    def link_up(self, a: int, b: int) -> None:
        for me, peer in ((a, b), (b, a)):
            planner = self.planners[me]
            if planner is not None:
                self.perform(me, planner.peers_up([peer], self.queue.now))

    def gap_seen(self, node: SimNode, sender: int, missing: list[bytes]) -> None:
        planner = self.planners[node.number]
        if planner is not None:
            self.gaps += 1
            self.perform(node.number, planner.gap_seen(sender, missing, self.queue.now))

    def hostile(self, node: SimNode, peer: int, reason: str) -> None:
        """``peer`` sent ``node`` what no honest member sends."""
        planner = self.planners[node.number]
        if planner is not None:
            self.perform(node.number, planner.hostile(peer, reason, self.queue.now))

    def is_cut_off(self, node: SimNode, peer: int) -> bool:
        planner = self.planners[node.number]
        # Asked of every gossip message: a planner that cut nobody off is not asked.
        return planner is not None and bool(planner.cut_off) and planner.is_cut_off(peer, self.queue.now)

    def session_ended(self, initiator: SimNode, responder: SimNode, ok: bool) -> None:
        planner = self.planners[initiator.number]
        if planner is not None and initiator.up:
            outcome = Outcome.DONE if ok else Outcome.FAILED
            if ok and planner.running.get(responder.number) is Mode.RECOVER:
                initiator.chain_recovered()  # as the node marks its chain recovered
                self.recoveries.append((self.queue.now, initiator.number, responder.number))
                self.trace("recovered", initiator.number, responder.number, initiator.head.seq)
            self.perform(initiator.number, planner.session_ended(responder.number, outcome, self.queue.now))

    # --- actions and the timer ---------------------------------------------------

    def perform(self, me: int, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, StartSession):
                author = self.nodes[me].public if action.mode is Mode.RECOVER else None
                started = self.catchup.start(me, action.peer, action.below, want_author=author)
                if started:
                    self.trace("sync", me, action.peer)
                    continue
                planner = self.planners[me]
                if planner is not None:
                    outcome = Outcome.BUSY if started is None else Outcome.UNREACHABLE
                    self.perform(me, planner.session_ended(action.peer, outcome, self.queue.now))
            elif isinstance(action, CutOff):
                self.cut_offs.append((self.queue.now, me, action.peer))
                self.trace("cut-off", me, action.peer)
            # Forget: a simulated node keeps no per-peer progress
        self.arm(me)

    def arm(self, me: int) -> None:
        """Queue the planner's timer unless an earlier call is queued already."""
        planner = self.planners[me]
        if planner is None:
            return
        when = planner.get_timer()
        if when < self._armed[me]:
            self._armed[me] = when
            self.queue.at(when, self._fire, me, planner)

    def _fire(self, me: int, planner: SyncPlanner[int]) -> None:
        if self.planners[me] is not planner:
            return  # the node lost power since
        now = self.queue.now
        if self._armed[me] <= now:
            self._armed[me] = _NEVER
        self.perform(me, planner.handle_timer(now))
