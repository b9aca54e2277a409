"""Scenario events applied to a running simulation: partitions, power cuts
and returns, cut and flapping links, couriers, tags, the hostile node.

Each ``do_<action>`` method takes the event's parameters (see
:data:`.scenario.EVENTS`). Anything that makes nodes reachable to each other
again ends in :meth:`Simulation.reachability_grew` (or
:meth:`Simulation.link_up`): the nodes see new connections, and their sync
planners decide which to sync with, as a node does when it connects to a peer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .courier import export_bundle, import_bundle

if TYPE_CHECKING:  # pragma: no cover
    from .simulation import Simulation


class Timeline:
    def __init__(self, sim: "Simulation") -> None:
        self.sim = sim
        self.rng = sim.seeds.stream("timeline")
        self.heal_times: list[int] = []  #: when power or links came back
        self.crashes = 0
        self.couriers: list[dict[str, Any]] = []

    def apply(self, do: str, params: dict[str, Any]) -> None:
        sim = self.sim
        sim.trace("event", do, sorted(params.items()))
        getattr(self, "do_" + do)(**params)

    # -- islands ------------------------------------------------------------------------

    def do_partition(self, islands: list[int]) -> None:
        sim = self.sim
        low, high = islands
        count = max(1, min(self.rng.randint(low, high), len(sim.honest)))
        order = list(range(len(sim.honest)))
        self.rng.shuffle(order)
        groups: list[list[int]] = [[] for _ in range(count)]
        for rank, node in enumerate(order):
            groups[rank if rank < count else self.rng.randrange(count)].append(node)
        if sim.hostile is not None:
            groups[self.rng.randrange(count)].append(sim.hostile.number)
        sim.network.partition(groups)
        sim.trace("islands", [len(g) for g in groups])

    def do_heal_islands(self, every_s: float) -> None:
        sim = self.sim
        others = sorted({i for i in sim.network.island if i != 0})
        for step, island in enumerate(others):
            sim.queue.after(int(step * every_s * 1000), self._merge, island)

    def _merge(self, island: int) -> None:
        sim = self.sim
        before = sim.reach_snapshot()
        sim.network.join_islands(island, 0)
        sim.trace("merge", island)
        self.heal_times.append(sim.queue.now)
        sim.reachability_grew(before)

    def do_repair(self) -> None:
        sim = self.sim
        before = sim.reach_snapshot()
        sim.network.repair()
        self.heal_times.append(sim.queue.now)
        sim.reachability_grew(before)

    # -- power --------------------------------------------------------------------------

    def do_crash(self, fraction: float = 0.0, count: int = 0, same_island: bool = False) -> None:
        sim = self.sim
        candidates = [n for n in sim.honest if n.up]
        if same_island and candidates:
            island = sim.network.island[self.rng.choice(candidates).number]
            candidates = [n for n in candidates if sim.network.island[n.number] == island]
        take = min(len(candidates), count or round(fraction * len(candidates)))
        for node in self.rng.sample(candidates, take):
            sim.crash(node)
            self.crashes += 1

    def do_restore(self, count: int = 0, fraction: float = 0.0) -> None:
        """Devices restored from nothing: ``count`` (or this ``fraction``) of
        the powered nodes lose their store and keep their key."""
        sim = self.sim
        candidates = [n for n in sim.honest if n.up and not n.recovering]
        take = min(len(candidates), count or round(fraction * len(candidates)))
        for node in self.rng.sample(candidates, take):
            sim.restore(node)

    def do_restart(self, fraction: float = 1.0) -> None:
        sim = self.sim
        down = [n for n in sim.honest if not n.up]
        take = min(len(down), round(fraction * len(down)))
        if not take:
            return
        before = sim.reach_snapshot()
        for node in self.rng.sample(down, take):
            sim.restart(node)
        self.heal_times.append(sim.queue.now)
        sim.reachability_grew(before)

    # -- links --------------------------------------------------------------------------

    def do_cut(self, pairs: int, one_way: bool = False) -> None:
        sim = self.sim
        size = len(sim.honest)
        for _ in range(pairs):
            a, b = self.rng.sample(range(size), 2)
            sim.network.cut(a, b, both=not one_way)
        sim.trace("cuts", len(sim.network.cuts))

    def do_flapping(self, links: float) -> None:
        sim = self.sim
        edges = sorted({(min(a, b), max(a, b)) for a, mesh in enumerate(sim.gossip.mesh) for b in mesh})
        chosen = self.rng.sample(edges, min(len(edges), round(links * len(edges))))
        sim.network.set_flapping(chosen)
        size = sim.network.size
        for a, b in chosen:
            sim.queue.after(sim.network.flap_delay(True), self._flap, a * size + b)

    def _flap(self, pair: int) -> None:
        sim = self.sim
        if pair not in sim.network.flapping:
            return
        up = sim.network.flap(pair)
        a, b = divmod(pair, sim.network.size)
        if up:
            sim.link_up(a, b)
        sim.queue.after(sim.network.flap_delay(up), self._flap, pair)

    # -- sneakernet ---------------------------------------------------------------------

    def do_courier(self, carry_s: float, trips: int = 1) -> None:
        for trip in range(trips):
            self.sim.queue.after(int(trip * carry_s * 1000), self._depart, int(carry_s * 1000))

    def _depart(self, carry_ms: int) -> None:
        sim = self.sim
        islands = {k: [n for n in v if n < len(sim.honest)] for k, v in sim.network.islands().items()}
        islands = {k: v for k, v in islands.items() if v}
        if len(islands) < 2:
            return
        source, target = self.rng.sample(sorted(islands), 2)
        carrier = sim.honest[self.rng.choice(islands[source])]
        if not carrier.up:
            return
        data = export_bundle(carrier, sim.queue.now)  # everything the node holds
        destination = self.rng.choice(islands[target])
        sim.queue.after(carry_ms, self._arrive, carrier.number, destination, data, carry_ms)
        sim.trace("courier", carrier.number, destination, len(data))

    def _arrive(self, source: int, destination: int, data: bytes, carry_ms: int, answer: bool = False) -> None:
        """The bundle reaches ``destination``; unless it is itself an answer,
        the return bundle (what the exporter lacks) goes back to ``source``."""
        sim = self.sim
        node = sim.honest[destination]
        entry = {"from": source, "to": destination, "bytes": len(data), "answer": answer}
        if not node.up:
            self.couriers.append({**entry, "records": 0, "new": 0, "delivered": False})
            return
        bundle, outcome = import_bundle(node, data, sim.queue.now)
        self.couriers.append({**entry, "records": len(bundle.raws), "new": len(outcome.added), "delivered": True})
        sim.trace("bundle", destination, len(outcome.added))
        if not answer:
            back = export_bundle(node, sim.queue.now, answer=bundle)
            sim.queue.after(carry_ms, self._arrive, destination, source, back, carry_ms, True)

    # -- households and the hostile node ------------------------------------------------

    def do_tag(self, tags: list[str]) -> None:
        self.sim.workload.tags = tuple(tags)

    def do_hostile(self, active: bool) -> None:
        if self.sim.hostile is not None:
            self.sim.hostile.active = active
