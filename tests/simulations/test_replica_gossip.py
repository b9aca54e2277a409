"""The simulator's gossip takes the node's decisions: the core's gossip
decision (:func:`meshpantry.core.gossip.decide`), the planner's cut-off of a
forwarder to blame, gap detection, and own-chain recovery of a device
restored from nothing."""

from __future__ import annotations

import random
from dataclasses import replace

import msgpack
import pytest
import trio
from libp2p.pubsub.pb import rpc_pb2

from meshpantry.core.gossip import Verdict
from meshpantry.core.sync.planner import BAN_MS, CutOff, Mode, SyncPlanner
from meshpantry.core.sync.horizon import Horizon
from meshpantry.keys import DeviceKey
from meshpantry.node.gossip import BatchValidator, GossipStats
from meshpantry.node.gossip_batch import encode_batch
from meshpantry.node.host import peer_id_from_author
from meshpantry.pantry.errors import ChainNotRecovered
from protocol.errors import BadSignature
from simulations.sim.scenario import load, parse
from simulations.sim.simulation import Simulation


def small(**run) -> Simulation:
    scenario = replace(load("simulations/scenarios/city-outage.toml"), nodes=8, events=(), **run)
    return Simulation(scenario, 3, backend="memory")


def forged(sim: Simulation, position: int) -> int:
    """An honest record's bytes with one bit of its signature flipped."""
    payload, signature = msgpack.unpackb(sim.table.raws[position], raw=False)
    signature = bytes([signature[0] ^ 1]) + signature[1:]
    return sim.table.add(msgpack.packb([payload, signature], use_bin_type=True))


def fresh_record(sim: Simulation, writer: int) -> int:
    """A new record by ``writer`` that nobody else holds yet."""
    node = sim.honest[writer]
    position = node.write("offer", {"item": "plums", "quantity": 2, "unit": "kg"}, sim.queue.now)
    node.outbox.clear()
    return position


class NodeSide:
    """The node's own topic validator (:class:`BatchValidator`), its blame
    wired to a planner as the runner wires it (``on_forged`` -> ``ban`` ->
    the planner's ``hostile`` with ``"gossip: <error>"``)."""

    def __init__(self, sim: Simulation, receiver: int) -> None:
        node = sim.honest[receiver]
        self.sim, self.node = sim, node
        self.me = str(peer_id_from_author(node.public))
        self.planner: SyncPlanner[str] = SyncPlanner(
            self.me, _Everyone(), random.Random(1), now=0, horizon=Horizon())
        self.actions: list = []
        self.validator = BatchValidator(
            peer_id_from_author(node.public), sim.neighbourhood, node.store.admission, GossipStats(),
            on_forged=lambda peer, error: self.actions.extend(
                self.planner.hostile(str(peer), f"gossip: {error}", 0)),
            clock=lambda: node.now(sim.queue.now),
        )

    def validate(self, positions: list[int], sender: bytes) -> bool:
        message = rpc_pb2.Message(data=encode_batch([self.sim.table.raws[p] for p in positions]),
                                  from_id=peer_id_from_author(sender).to_bytes())

        async def main():
            return await self.validator(peer_id_from_author(sender), message)

        return trio.run(main)


class _Everyone:
    def is_member(self, peer) -> bool:
        return True

    def holds(self, record_id: bytes) -> bool:
        return False


def test_a_forwarder_of_forged_records_is_cut_off_as_the_node_cuts_it_off():
    sim = small()
    receiver, sender = sim.honest[0], 1
    held = receiver.store.log[-1]  # a founding record every node holds
    good = fresh_record(sim, 2)
    bad = forged(sim, good)
    node_side = NodeSide(sim, 0)
    message = [held, good, bad]

    decision = sim.gossip_decision(receiver, message)
    assert decision.verdict is Verdict.REJECT and isinstance(decision.error, BadSignature)
    accepted_by_node = node_side.validate(message, sim.honest[sender].public)
    assert not accepted_by_node and not decision.forward

    sim.planning.new_planner(receiver)
    sim._gossip_delivered(receiver, message, sender)
    assert [(node, peer) for _, node, peer in sim.planning.cut_offs] == [(0, sender)]
    assert sim.planning.is_cut_off(receiver, sender)
    (node_cut,) = node_side.actions
    assert isinstance(node_cut, CutOff) and node_cut.until == BAN_MS
    assert node_cut.reason == f"gossip: {decision.error}"
    # Nothing of the message was taken in or passed on.
    assert not receiver.store.holds(good) and receiver.outbox == []
    # And a cut-off peer's valid gossip is not taken in either, as the node's
    # runner drops it.
    sim._gossip_delivered(receiver, [good], sender)
    assert not receiver.store.holds(good)
    sim.close()


def test_a_message_with_a_record_not_admitted_is_neither_taken_in_nor_forwarded():
    """The node forwards only messages whose every record its log admits; the
    simulator's gossip does the same (before, it logged and forwarded the
    admitted part), and blames nobody for it."""
    sim = small()
    receiver = sim.honest[0]
    outsider_secret = DeviceKey.generate()
    from meshpantry.core.chain import ChainHead, next_record

    stranger = next_record(outsider_secret.secret, ChainHead(), neighbourhood=sim.neighbourhood,
                           kind="offer", body={"item": "free laptops", "quantity": 1, "unit": "items"},
                           now=receiver.now(0))
    outsider = sim.table.add(stranger.raw, stranger)
    good = fresh_record(sim, 2)
    node_side = NodeSide(sim, 0)

    decision = sim.gossip_decision(receiver, [good, outsider])
    assert decision.verdict is Verdict.IGNORE and not decision.blame
    assert node_side.validate([good, outsider], sim.honest[1].public) is False
    assert node_side.actions == []

    sim.planning.new_planner(receiver)
    sim._gossip_delivered(receiver, [good, outsider], 1)
    assert not receiver.store.holds(good) and receiver.outbox == []
    assert sim.planning.cut_offs == [] and sim.gossip_ignored == 1

    # Alone (with records it holds), the admitted record is taken in and
    # forwarded by both.
    message = [receiver.store.log[0], good, receiver.store.log[-1]]
    assert node_side.validate(message, sim.honest[1].public) is True
    assert sim.gossip_decision(receiver, message).verdict is Verdict.ACCEPT
    sim._gossip_delivered(receiver, message, 1)
    assert receiver.store.holds(good) and receiver.outbox == [good]
    sim.close()


def test_a_gossiped_record_after_a_gap_goes_to_the_planner_as_the_node_sends_it():
    sim = small()
    receiver = sim.honest[0]
    first = fresh_record(sim, 2)
    second = fresh_record(sim, 2)
    sim.planning.new_planner(receiver)
    seen = []
    sim.planning.gap_seen = lambda node, sender, missing: seen.append((node.number, sender, missing))
    sim._gossip_delivered(receiver, [second], 1)
    assert seen == [(0, 1, [sim.table.record(first).id])]
    sim._gossip_delivered(receiver, [first], 1)  # the gap filled: nothing more to ask
    assert len(seen) == 1
    sim.close()


def test_the_hostile_node_is_cut_off_by_the_neighbours_it_reaches():
    scenario = load("simulations/scenarios/hostile-node.toml")
    sim = Simulation(scenario, 7, backend="memory")
    outcome = sim.run()
    assert outcome.ok, outcome.violations
    hostile = scenario.nodes
    cut = {node for _, node, peer in sim.planning.cut_offs if peer == hostile}
    assert len(cut) >= scenario.nodes // 2
    assert all(peer == hostile for _, _, peer in sim.planning.cut_offs)  # no honest node is blamed
    assert outcome.figures["sync"]["cut_offs"] == len(sim.planning.cut_offs)
    assert outcome.figures["gossip"]["messages_rejected"] > 0


RESTORED = """
[run]
nodes = 10
duration_s = 400
records = 160
activity = [[0, 330]]

[sync]
interval_s = 20

[[event]]
at_s = 150
do = "restore"
count = 3
"""


def restored_run(seed: int, *, gate: bool, backend: str = "memory"):
    scenario = parse(__import__("tomllib").loads(RESTORED), "restored")
    sim = Simulation(scenario, seed, backend=backend)
    before: dict[int, int] = {}
    original = sim.restore

    def restore(node):
        before[node.number] = (node.head.seq, len(node.acknowledged))
        original(node)
        if not gate:  # a device that writes as soon as it is restored, its chain not recovered
            node.recovering = False
            sim.planning.planners[node.number].recovering = False
            node.write("offer", {"item": "plums", "quantity": 2, "unit": "kg"}, sim.queue.now)

    sim.restore = restore
    return sim, sim.run(), before


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_a_restored_device_recovers_its_chain_before_it_writes_and_never_forks(backend):
    sim, outcome, before = restored_run(5, gate=True, backend=backend)
    assert outcome.ok, outcome.violations
    assert sorted(before) and len(before) == 3
    recovered = [node for _, node, _ in sim.planning.recoveries]
    assert sorted(recovered) == sorted(before)  # each recovered once, through its planner
    wrote_after = 0
    for number, (seq, written) in before.items():
        node = sim.honest[number]
        assert not node.recovering and node.head.seq >= seq  # its chain continued, not restarted
        wrote_after += len(node.acknowledged) - written
    assert wrote_after > 0  # restored devices wrote again, each record after its recovered chain
    assert outcome.figures["sync"]["chains_recovered"] == 3


def test_a_restored_device_that_wrote_before_recovering_would_fork():
    _, outcome, before = restored_run(5, gate=False)
    forks = [v for v in outcome.violations if v.invariant == "no_own_fork"]
    assert forks and len(before) == 3


def test_the_pantry_gate_refuses_a_write_while_the_chain_is_not_recovered():
    sim = small()
    node = sim.honest[1]
    sim.planning.new_planner(node)
    sim.restore(node)
    assert node.recovering and sim.planning.planners[1].recovering
    with pytest.raises(ChainNotRecovered):
        node.write("offer", {"item": "plums", "quantity": 2, "unit": "kg"}, 0)
    # Every session its planner starts is a recovery until one succeeds.
    started = []
    sim.catchup.start = lambda a, b, below=None, *, want_author=None: started.append(want_author) or True
    sim.planning.mesh_changed(node, [], [0, 2, 3])
    assert started and all(author == node.public for author in started)
    assert sim.planning.planners[1].running and set(sim.planning.planners[1].running.values()) == {Mode.RECOVER}
    sim.close()
