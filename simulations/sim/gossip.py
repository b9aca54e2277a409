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
  it. A receiver ingests it (duplicates cost a lookup) and forwards what was
  new to it in its own next round.

Gossip is best effort: a node that was away misses whatever was pushed
meanwhile, and only sync (:mod:`.catchup`) repairs that.
"""

from __future__ import annotations

import random
from typing import Callable

from .clock import EventQueue
from .network import Network
from .node import SimNode


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
        on_deliver: Callable[[SimNode, list[int], int], None],
    ) -> None:
        self.nodes = nodes
        self.network = network
        self.queue = queue
        self.rng = rng
        self.degree = degree
        self.on_deliver = on_deliver
        self.mesh: list[list[int]] = [[] for _ in nodes]
        self.messages = 0
        self.record_copies = 0  #: record positions carried by delivered messages

    def heartbeat(self) -> None:
        """Repair every powered node's mesh from the peers it reaches now."""
        network = self.network
        by_island = network.islands()
        for node in self.nodes:
            if not node.up:
                continue
            me = node.number
            mesh = [p for p in self.mesh[me] if network.connected(me, p)]
            if len(mesh) < self.degree:
                island = [p for p in by_island.get(network.island[me], []) if p < len(self.nodes)]
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
            self.mesh[me] = mesh

    def round(self) -> None:
        """Every node pushes its outbox to its mesh peers."""
        for node in self.nodes:
            if not node.outbox or not node.up:
                continue
            batch = node.outbox
            node.outbox = []
            for peer in self.mesh[node.number]:
                self.push(node.number, peer, batch)

    def push(self, sender: int, peer: int, batch: list[int]) -> None:
        """Send one gossip message of ``batch`` from ``sender`` to ``peer``."""
        for delay in self.network.send(sender, peer):
            self.messages += 1
            self.queue.after(delay, self._arrive, sender, peer, self.nodes[peer].epoch, batch)

    def _arrive(self, sender: int, receiver: int, epoch: int, batch: list[int]) -> None:
        node = self.nodes[receiver]
        if node.epoch != epoch or not node.up or not self.network.reachable(sender, receiver):
            return
        self.record_copies += len(batch)
        self.on_deliver(node, batch, sender)
