"""The node and the simulator run the same sync planner: one scripted
sequence of events, fed through each adapter's own entry points, gives the
same actions.

    t (ms)     event (seen by replica 2)             action
    0          peers 1, 3, 4 and 99 come up           full session with 3 (2 leads 3 and 4;
                                                      99 is no member)
    100        session with 3 done                    full session with 4
    200        gossip from 1 shows a gap
    300        session with 4 failed
    2,200      the gap is still open (grace over)     full session with 1
    2,300      session with 1 done
    3,000      peer 3 goes down                       forget 3
    to 300 s   periodic ticks, each session done      routine sessions with random members up

The node's peers are real devices whose joins its store admitted, numbered
as the simulator numbers nodes: by the order of their peer ids.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

import trio
import trio.testing

from meshpantry.core.sync.planner import Forget, Mode, Outcome, StartSession
from meshpantry.node.sync_service import SyncService, SyncTotals
from simulations.sim.scenario import load
from simulations.sim.simulation import Simulation
from tests.node.conftest import node  # noqa: F401 - the node fixture (a Node over a fresh household)

ME = 2
GAP = bytes(range(32))  #: a record id neither replica holds
STRANGER = 99  #: a peer that is no member (beyond the simulator's honest nodes)
SEED = 9
INTERVAL_S = 30


def _script(adapter) -> list:
    """Plays the sequence on ``adapter``; returns the actions as (kind, peer, mode)."""
    adapter.peers_up([1, 3, 4, STRANGER], 0)
    adapter.ended(3, Outcome.DONE, 100)
    adapter.gap_seen(1, [GAP], 200)
    adapter.ended(4, Outcome.FAILED, 300)
    adapter.advance(2_200)
    adapter.ended(1, Outcome.DONE, 2_300)
    adapter.peer_down(3, 3_000)
    for t in range(4_000, 300_000, 5_000):
        adapter.advance(t)
        last = adapter.actions[-1]
        if isinstance(last, StartSession) and last.mode is Mode.ROUTINE and adapter.running():
            adapter.ended(last.peer, Outcome.DONE, t + 1)
    return [(type(a).__name__, a.peer, getattr(a, "mode", None), getattr(a, "below", None))
            for a in adapter.actions]


def _members(node, tmp_path) -> dict[int, str]:
    """Four devices that join the node's neighbourhood (their join records
    ingested by the node, so its store admits them), numbered with the node
    itself in the simulator's way: by the order of their peer ids, the node
    being number ME."""
    from meshpantry.node.host import peer_id_from_author
    from meshpantry.pantry import Pantry

    me = str(peer_id_from_author(node.pantry.device))
    code = node.pantry.create_invite(uses=50)["code"]
    below: list[str] = []
    above: list[str] = []
    made = 0
    while len(below) < ME or len(above) < 2:  # peer ids are random: keep the ones that fit
        made += 1
        peer = Pantry.create(tmp_path / f"peer{made}", "House")
        peer.join(code, "House")
        device = peer.device
        raws = peer.store.chain(device)
        peer.close()
        peer_id = str(peer_id_from_author(device))
        side = below if peer_id < me else above
        if len(side) < (ME if side is below else 2):
            node.store.ingest(raws, now=int(time.time() * 1000))
            assert node.store.is_member_device(device)
            side.append(peer_id)
    from meshpantry.keys import DeviceKey

    stranger = str(peer_id_from_author(DeviceKey.generate().public))
    return {**dict(enumerate(sorted(below) + [me] + sorted(above))), STRANGER: stranger}


class NodeAdapter:
    """The node's SyncService, built as the runner builds it (its own peer
    id, its store's members) on a mock clock; "perform" records instead of
    opening streams."""

    def __init__(self, node, clock: trio.testing.MockClock, ids: dict[int, str]) -> None:
        self.clock = clock
        self.start = trio.current_time()
        self.ids = ids
        self.numbers = {peer: number for number, peer in ids.items()}
        settings = replace(node.settings, sync_interval_s=INTERVAL_S, sync_jitter=0.2)
        self.service = SyncService(
            me=ids[ME], libp2p=None, store=node.store, pantry=node.pantry, liveness=None,
            ingest=node.ingest, publish=node.control.publish, denied=node.denied,
            rng=random.Random(SEED), horizon=node.horizon, settings=settings,
            progress={}, totals=SyncTotals(), last_sync={},
        )
        self.actions: list = []
        self.service.perform = lambda actions: self.actions.extend(
            replace(action, peer=self.numbers[action.peer]) for action in actions)

    def _at(self, ms: int) -> None:
        self.clock.jump(self.start + ms / 1000 - trio.current_time())

    def peers_up(self, peers, t):
        self._at(t)
        self.service.peers_up([self.ids[p] for p in peers])

    def peer_down(self, peer, t):
        self._at(t)
        self.service.peer_down(self.ids[peer])

    def gap_seen(self, peer, missing, t):
        self._at(t)
        self.service.gap_seen(self.ids[peer], missing)

    def ended(self, peer, outcome, t):
        self._at(t)
        self.service.session_ended(self.ids[peer], outcome)

    def advance(self, t):
        """What the service's loop does: sleep until the timer, fire it."""
        planner = self.service.planner
        while planner.get_timer() <= round(self.start * 1000) + t:
            self.clock.jump(max(0.0, planner.get_timer() / 1000 - trio.current_time()))
            self.service.timer_fired()
        self._at(t)

    def running(self):
        return bool(self.service.planner.running)


class SimAdapter:
    """The simulator's planner use (:mod:`simulations.sim.planning`) on its
    virtual clock; "perform" records instead of starting virtual sessions."""

    def __init__(self) -> None:
        scenario = replace(load("simulations/scenarios/city-outage.toml"), sync_interval_ms=INTERVAL_S * 1000)
        self.sim = sim = Simulation(scenario, 1, backend="memory")
        self.actions: list = []
        planning = sim.planning
        planning.perform = lambda me, actions: (self.actions.extend(actions), planning.arm(me))
        planning.rng = random.Random(SEED)
        self.node = sim.honest[ME]
        planning.new_planner(self.node)
        self.mesh: list[int] = []

    def peers_up(self, peers, t):
        self.sim.queue.run_until(t)
        old, self.mesh = self.mesh, self.mesh + peers
        self.sim.planning.mesh_changed(self.node, old, self.mesh)

    def peer_down(self, peer, t):
        self.sim.queue.run_until(t)
        old, self.mesh = self.mesh, [p for p in self.mesh if p != peer]
        self.sim.planning.mesh_changed(self.node, old, self.mesh)

    def gap_seen(self, peer, missing, t):
        self.sim.queue.run_until(t)
        self.sim.planning.gap_seen(self.node, peer, missing)

    def ended(self, peer, outcome, t):
        self.sim.queue.run_until(t)
        self.sim.planning.session_ended(self.node, self.sim.honest[peer], outcome is Outcome.DONE)

    def advance(self, t):
        self.sim.queue.run_until(t)

    def running(self):
        return bool(self.sim.planning.planners[ME].running)


def test_the_node_and_the_simulator_plan_the_same_sessions(node, tmp_path):
    ids = _members(node, tmp_path)
    clock = trio.testing.MockClock()
    from_node: list = []

    async def main():
        from_node.extend(_script(NodeAdapter(node, clock, ids)))

    trio.run(main, clock=clock)
    sim = SimAdapter()
    from_sim = _script(sim)
    sim.sim.close()
    assert from_node == from_sim
    assert from_node[:4] == [("StartSession", 3, Mode.FULL, None), ("StartSession", 4, Mode.FULL, None),
                             ("StartSession", 1, Mode.FULL, None), (Forget.__name__, 3, None, None)]
    routine = [a for a in from_node if a[2] is Mode.ROUTINE]
    assert len(routine) >= 8 and {a[1] for a in routine} == {1, 4}
