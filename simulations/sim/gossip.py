"""Live gossip as epidemic push over a random mesh of fixed degree.

This approximates GossipSub as the nodes run it (one topic per neighbourhood,
message id = record id):

* Each node keeps a **mesh** of ``degree`` peers drawn at random from the peers
  it can reach now (on a LAN, mDNS finds everyone on the island). A
  **heartbeat** (:meth:`Gossip.heartbeat`) drops mesh peers that became
  unreachable and grafts new ones until the degree is met again.
* A record a node writes or logs for the first time goes into its outbox.
  Every gossip **round** (:meth:`Gossip.round`), a node pushes its outbox, as
  one batched message, to each mesh peer. Batching a backlog into one message
  is what the real node does under load.
* A message is a datagram: the network may lose, duplicate, delay or reorder
  it. A receiver decides on it as the node's topic validator does
  (:func:`meshpantry.core.gossip.decide`, in :meth:`.simulation.Simulation.gossip_decision`):
  only an accepted message is ingested (duplicates cost a lookup), and what
  was new to the receiver is forwarded in its own next round.

* **Lazy gossip** (GossipSub's IHAVE/IWANT): at each heartbeat a node tells
  ``lazy`` random reachable peers outside its mesh which records it logged in
  the last ``history`` heartbeats; a peer missing some asks for them and gets
  them pushed. This repairs most datagrams lost on the mesh within seconds.

Gossip is best effort: a node that was away misses whatever was pushed
meanwhile, and only sync (:mod:`.catchup`) repairs that.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from typing import Callable

from .clock import EventQueue
from .memory_store import ARRAY_FROM, lacking
from .network import Network
from .node import SimNode


def message(positions: list[int] | array) -> Sequence[int]:
    """The positions a message carries, as its receivers read them best: a
    large message as an ``array("i")`` (its receivers' :func:`.memory_store.lacking`
    reads their flags for all of it at once), a small one as a list."""
    if len(positions) >= ARRAY_FROM:
        return positions if type(positions) is array else array("i", positions)
    return positions if type(positions) is list else positions.tolist()


class Gossip:
    """The mesh and the push rounds of every node."""

    def __init__(
        self,
        nodes: list[SimNode],
        network: Network,
        queue: EventQueue,
        rng: random.Random,
        *,
        degree: int,
        on_deliver: Callable[[SimNode, Sequence[int], int], None],
        on_mesh: Callable[[SimNode, list[int], list[int]], None] | None = None,
        lazy: int = 2,
        history: int = 3,
    ) -> None:
        self.nodes = nodes
        self.network = network
        self.queue = queue
        self.rng = rng
        self.degree = degree
        self.on_deliver = on_deliver
        self.on_mesh = on_mesh  #: (node, old mesh, new mesh) after each heartbeat: its connections
        self.mesh: list[list[int]] = [[] for _ in nodes]
        self.lazy = lazy
        self.marks: list[list[int]] = [[0] * history for _ in nodes]  #: log lengths at recent heartbeats
        self.repaired = 0  #: records pushed in answer to IWANT
        self.messages = 0
        self.record_copies = 0  #: record positions carried by delivered messages

    def heartbeat(self) -> None:
        """Repair every powered node's mesh from the peers it reaches now."""
        network = self.network
        size = len(self.nodes)
        by_island = {k: [p for p in v if p < size] for k, v in network.islands().items()}
        for node in self.nodes:
            if not node.up:
                continue
            me = node.number
            mesh = [p for p in self.mesh[me] if network.connected(me, p)]
            island = by_island.get(network.island[me], [])
            if len(mesh) < self.degree:
                if len(island) > 1:
                    have = set(mesh)
                    have.add(me)
                    tries = 0
                    while len(mesh) < self.degree and tries < 4 * self.degree:
                        tries += 1
                        peer = island[self.rng.randrange(len(island))]
                        if peer not in have and network.connected(me, peer):
                            have.add(peer)
                            mesh.append(peer)
            old, self.mesh[me] = self.mesh[me], mesh
            if self.on_mesh is not None:
                self.on_mesh(node, old, mesh)
            if self.lazy and len(island) > len(mesh) + 1:
                self._announce(node, island)

    def _announce(self, node: SimNode, island: list[int]) -> None:
        """IHAVE: tell a few non-mesh peers what this node logged lately."""
        me = node.number
        marks = self.marks[me]
        log = node.store.log
        start = min(marks[0], len(log))
        marks.pop(0)
        marks.append(len(log))
        if start >= len(log):
            return
        window: Sequence[int] | None = None
        mesh = self.mesh[me]
        for _ in range(self.lazy):
            peer = island[self.rng.randrange(len(island))]
            if peer != me and peer not in mesh:
                if window is None:
                    window = message(log[start:])
                for delay in self.network.send(me, peer):
                    self.queue.after(delay, self._have, me, peer, self.nodes[peer].epoch, window)

    def _have(self, sender: int, receiver: int, epoch: int, window: Sequence[int]) -> None:
        """IHAVE arrives; answer IWANT with what is missing here."""
        node = self.nodes[receiver]
        if node.epoch != epoch or not node.up:
            return
        wanted = lacking(node.store.held, window)
        if wanted:
            for delay in self.network.send(receiver, sender):
                self.queue.after(delay, self._want, receiver, sender, wanted)

    def _want(self, asker: int, holder: int, wanted: list[int]) -> None:
        """IWANT arrives: push the records asked for."""
        node = self.nodes[holder]
        if node.up:
            self.repaired += len(wanted)
            self.push(holder, asker, message(wanted))

    def round(self) -> None:
        """Every node pushes its outbox to its mesh peers."""
        for node in self.nodes:
            if not node.outbox or not node.up:
                continue
            batch = message(node.outbox)
            node.outbox = []
            for peer in self.mesh[node.number]:
                self.push(node.number, peer, batch)

    def push(self, sender: int, peer: int, batch: Sequence[int]) -> None:
        """Send one gossip message of ``batch`` from ``sender`` to ``peer``."""
        for delay in self.network.send(sender, peer):
            self.messages += 1
            self.queue.after(delay, self._arrive, sender, peer, self.nodes[peer].epoch, batch)

    def _arrive(self, sender: int, receiver: int, epoch: int, batch: Sequence[int]) -> None:
        node = self.nodes[receiver]
        if node.epoch != epoch or not node.up or not self.network.reachable(sender, receiver):
            return
        self.record_copies += len(batch)
        self.on_deliver(node, batch, sender)
