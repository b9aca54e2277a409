"""One run of a scenario, decided by its seed.

Theory of operation. :class:`Simulation` founds the neighbourhood (every node
starts holding the founding records), then schedules on one
:class:`~.clock.EventQueue`: the scenario's events (:mod:`.timeline`), the
households' writes (:mod:`.workload`, spread over the activity windows), gossip
rounds and mesh heartbeats (:mod:`.gossip`), the sync sessions
(:mod:`.catchup`) that each node's sync planner starts (:mod:`.planning`:
the node's own :class:`~meshpantry.core.sync.planner.SyncPlanner`), the
hostile node's rounds (:mod:`.hostile`) and the samples
the report plots. :meth:`Simulation.run` runs the queue to the end of the
scenario and returns a :class:`~.outcome.RunOutcome` with the invariants'
verdict (:mod:`.invariants`).

Every decision draws from a stream of :class:`~.seeds.SeedTree`; no set of
bytes or strings is ever iterated (their order changes between processes), so
the trace digest of a seed is the same in every process.
"""

from __future__ import annotations

import gc
import hashlib
import tempfile
import time
from collections.abc import Sequence
from contextlib import contextmanager
from itertools import repeat
from operator import is_
from pathlib import Path
from typing import Any, Callable, Iterator

from meshpantry.core.gossip import (
    GAP_LOOKUP_RECORDS,
    GossipDecision,
    Verdict,
    check_shared,
    decide,
    missing_before,
)
from meshpantry.core.ingest import check_decoded, check_decoded_all
from meshpantry.core.sync.planner import PlannerConfig
from protocol import Record
from protocol.errors import RemoteError

from .catchup import Catchup
from .clock import EPOCH_MS, EventQueue, NodeClock
from .founding import found
from .gossip import Gossip
from .hostile import Hostile
from .memory_store import MemoryStore, flags, lacking
from .network import Network
from .node import SimNode
from .planning import Planning
from .record_table import RecordTable
from .scenario import Scenario
from .seeds import SeedTree
from .sqlite_store import SqliteStore
from .timeline import Timeline
from .workload import Workload

#: Allocations between two young-generation garbage collections during a
#: run (Python's default is 700). A run allocates millions of short-lived
#: objects (messages, batches, reports) and keeps millions of long-lived ones
#: (every node's log and views); with the default, the collector's passes over
#: the long-lived ones cost a tenth of a run. Collections still happen, so
#: cyclic garbage is still reclaimed.
GC_YOUNG_THRESHOLD = 100_000

_ACCEPT = Verdict.ACCEPT  #: read once per run, not once per message

#: Up to this many nodes, ``backend="auto"`` runs the real SQLite store on
#: temporary files; above it, the in-memory model (thousands of SQLite files
#: would measure the disk, not the protocol).
SQLITE_AUTO_MAX_NODES = 24

BACKENDS = ("auto", "memory", "sqlite")


@contextmanager
def _quiet_collector() -> Iterator[None]:
    """Run the body with the garbage collector looking at new objects only:
    what exists already (the founding, every node's store) is set aside
    (:func:`gc.freeze`), and young collections are rarer
    (:data:`GC_YOUNG_THRESHOLD`). Restored afterwards; nothing the run
    decides depends on when garbage is collected."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


class Simulation:
    """A scenario, a seed and a store backend; :meth:`run` once."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        *,
        backend: str = "auto",
        workdir: Path | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        assert backend in BACKENDS
        if backend == "auto":
            backend = "sqlite" if scenario.nodes <= SQLITE_AUTO_MAX_NODES else "memory"
        self.scenario = scenario
        self.seed = seed
        self.backend = backend
        self.seeds = SeedTree(seed)
        self.on_progress = on_progress
        self._trace = hashlib.sha256()
        self.trace_lines = 0
        self.queue = EventQueue()
        self.table = RecordTable()
        started = time.monotonic()
        n = scenario.nodes
        second = min(n - 1, round(scenario.second_devices * n))
        self.founding = found(n, second)
        self.neighbourhood = self.founding.neighbourhood
        self.table.share(self.neighbourhood)
        total = n + (1 if scenario.hostile else 0)
        self.network = Network(total, scenario.network, self.seeds.stream("network"))
        clocks = self.seeds.stream("clocks")
        self._tmp: tempfile.TemporaryDirectory | None = None
        if backend == "sqlite" and workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="meshpantry-sim-")
            workdir = Path(self._tmp.name)
        self._workdir = workdir
        self.honest: list[SimNode] = []
        for number in range(n):
            clock = NodeClock(
                clocks.randint(-scenario.offset_ms, scenario.offset_ms),
                clocks.randint(-scenario.drift_ppm, scenario.drift_ppm),
            )
            if backend == "sqlite":
                store: Any = SqliteStore(self.table, self.neighbourhood, workdir / f"node{number:04d}")
            else:
                store = MemoryStore(self.table, self.neighbourhood)
            public, secret = self.founding.keys[number]
            self.honest.append(
                SimNode(number, public, secret, self.founding.household_of[number], store,
                        self.table, self.neighbourhood, clock)
            )
        self._settle_founding()
        self.setup_seconds = time.monotonic() - started
        self.gossip = Gossip(
            self.honest, self.network, self.queue, self.seeds.stream("gossip"),
            degree=scenario.degree, on_deliver=self._gossip_delivered, on_mesh=self._mesh_changed,
        )
        self.catchup = Catchup(
            self.honest, self.network, self.queue, on_records=self._sync_delivered,
            on_end=self._session_ended, max_sessions_per_node=scenario.sessions_per_node,
        )
        self.sync_rng = self.seeds.stream("sync")
        self.planning = Planning(
            self.honest, self.table, self.queue, self.catchup,
            PlannerConfig(interval_ms=scenario.sync_interval_ms, connect_limit=scenario.sync_on_connect),
            self.sync_rng, self.trace,
        )
        self.crash_rng = self.seeds.stream("power")
        self.workload = Workload(scenario.mix, self.seeds.stream("workload"))
        self.hostile: Hostile | None = None
        if scenario.hostile:
            self.hostile = Hostile(
                n, scenario.hostile, self.table, self.network, self.neighbourhood,
                self.seeds.stream("hostile"), NodeClock(),
            )
        self.timeline = Timeline(self)
        self.durability_failures: list[tuple[int, int]] = []  #: (node, acknowledged position lost)
        self.samples: list[dict[str, Any]] = []
        self.valid_records = len(self.founding.records)
        self.delivered_new = 0
        self.gossip_ignored = 0  #: gossip messages dropped, nobody blamed (not admitted yet, ...)
        self.gossip_rejected = 0  #: gossip messages dropped and their forwarder blamed
        self.restored = 0  #: devices restored from nothing
        self.lost_with_devices = 0  #: own records no other device held when their device was restored

    # -- founding -----------------------------------------------------------------------

    def _settle_founding(self) -> None:
        """Every node holds the founding records: its own appended durably in
        order, everyone else's ingested in batches between them."""
        table = self.table
        positions = []
        for author, record in self.founding.records:
            position = table.add(record.raw, record)
            table.verdict(position)
            positions.append((author, position))
        if self.backend == "memory":
            template = MemoryStore(table, self.neighbourhood)
            template.ingest([p for _, p in positions], EPOCH_MS)
            assert template.count() == len(positions), "the founding records are all admissible"
            for node in self.honest:
                node.store = template.clone()
                node.acknowledged.extend(p for author, p in positions if author == node.number)
                node.head = self.founding.heads[node.number]
            return
        for node in self.honest:
            pending: list[int] = []
            for author, position in positions:
                if author == node.number:
                    if pending:
                        node.store.ingest(pending, node.now(0))
                        pending = []
                    node.store.append_own(position)
                    node.acknowledged.append(position)
                else:
                    pending.append(position)
            if pending:
                node.store.ingest(pending, node.now(0))
            node.head = self.founding.heads[node.number]

    # -- tracing ------------------------------------------------------------------------

    def trace(self, *parts: Any) -> None:
        """Fold one event into the run's trace digest."""
        self._trace.update(repr((self.queue.now, parts)).encode())
        self.trace_lines += 1

    @property
    def trace_digest(self) -> str:
        return self._trace.hexdigest()

    # -- delivery -----------------------------------------------------------------------

    def _gossip_delivered(self, node: SimNode, batch: Sequence[int], sender: int) -> None:
        """A gossip message reaches ``node``: the node's own decision
        (:func:`meshpantry.core.gossip.decide`), the forwarder cut off when it
        is to blame, and only an accepted message taken in and passed on; a
        cut-off peer's gossip is not taken in; then the gap it shows goes to
        the planner (:func:`meshpantry.core.gossip.missing_before`)."""
        fresh = self._fresh(node, batch)
        if not fresh:  # the usual case: every record held, and the decision on none accepts
            if not self.planning.is_cut_off(node, sender):
                node.receive(batch, self.queue.now, checked=(), checked_at=fresh)  # duplicates, one commit
            return
        decision = self._decide(node, fresh)
        if decision.verdict is not _ACCEPT:
            if decision.blame:
                self.gossip_rejected += 1
                self.planning.hostile(node, sender, f"gossip: {decision.error}")
            else:
                self.gossip_ignored += 1
            return
        if self.planning.is_cut_off(node, sender):
            return
        outcome = node.receive(batch, self.queue.now, checked=decision.records, checked_at=fresh)
        added = outcome.added
        if not added:
            return
        self.delivered_new += len(added)
        # As the node: only records new here can show a new gap.
        if self.scenario.sync_on_gap and self._may_show_gap(node, added):
            record = self.table.record
            first = [record(p) for p in added[:GAP_LOOKUP_RECORDS]]
            missing = missing_before(first, self._holds_id(node))
            if missing:
                self.planning.gap_seen(node, sender, missing)

    def _may_show_gap(self, node: SimNode, batch: list[int]) -> bool:
        """False when :func:`~meshpantry.core.gossip.missing_before` would
        find nothing: the node holds the predecessor of each of the first
        records of ``batch`` (two lookups in C per message; the usual case)."""
        prevs = self.table.prev_positions(batch[:GAP_LOOKUP_RECORDS])
        try:
            # A record without a predecessor names itself: it was just taken in.
            return not all(flags(node.store.held, prevs))
        except IndexError:  # a predecessor beyond the store's flags: not held
            return True

    def gossip_decision(self, node: SimNode, batch: Sequence[int]) -> GossipDecision:
        """What ``node`` decides for a gossip message of the records at
        ``batch``: steps 1-4 from the run's table (made once per record for
        every node) and ``node``'s clock, then the core's decision with its
        store's admission. The decision's records are those new to ``node``.

        Records the node holds are left out of the checks: each passed them
        here already and passes them again (the same bytes, a clock that only
        moves on, membership that only grows), so the decision is the one the
        whole message gets, at a fraction of the cost: most of the gossip a
        node hears it holds already."""
        return self._decide(node, self._fresh(node, batch))

    def _fresh(self, node: SimNode, batch: Sequence[int]) -> list[int]:
        """The positions of ``batch`` that ``node`` does not hold, in order."""
        store = node.store
        size = len(self.table.raws)
        if len(store.held) < size:
            store.grow_to(size)  # every position of the run has a flag
        return lacking(store.held, batch)  # flags read in C

    def _decide(self, node: SimNode, fresh: list[int]) -> GossipDecision:
        """:meth:`gossip_decision` of the records at ``fresh``, none held by ``node``."""
        store, table, neighbourhood = node.store, self.table, self.neighbourhood
        now = node.clock.read(self.queue.now)
        records: list = list(map(table.passed.__getitem__, fresh))  # in C
        if not any(map(is_, records, repeat(None))):  # every one passed steps 1 and 4: the usual case
            try:
                check_decoded_all(records, neighbourhood=neighbourhood, now=now)
            except RemoteError as error:
                return decide(error, store.admission)
            return decide(records, store.admitter(records), store.max_lamport)
        records = list(map(table.verdict, fresh))  # a record not checked yet, or refused
        try:
            for index, record in enumerate(records):
                if type(record) is Record:  # decoded, signature good: steps 2-3 remain
                    check_decoded(record, neighbourhood=neighbourhood, now=now)
                else:  # raises what check_record raises first on these bytes
                    check_shared(*table.shared_checks(fresh[index]), neighbourhood=neighbourhood, now=now)
        except RemoteError as error:
            return decide(error, store.admission)
        return decide(records, store.admitter(records), store.max_lamport)

    def _holds_id(self, node: SimNode) -> Callable[[bytes], bool]:
        by_id, held = self.table.by_id.get, node.store.held

        def holds(record_id: bytes) -> bool:
            position = by_id(record_id)
            return position is not None and position < len(held) and held[position] == 1

        return holds

    def _sync_delivered(self, node: SimNode, raws: list[bytes], now: int) -> None:
        table = self.table
        positions = []
        for raw in raws:
            position = table.position(raw)
            positions.append(table.add(raw) if position is None else position)
        outcome = node.receive(positions, now, forward=False)
        self.delivered_new += len(outcome.added)

    # -- power and reachability ---------------------------------------------------------

    def crash(self, node: SimNode) -> None:
        lost_before = node.lost_on_crash
        node.crash(self.crash_rng)
        self.network.crash(node.number)
        self.planning.drop(node)  # its memory is gone, and its sessions with it
        for position in node.acknowledged:
            if not node.store.holds(position):
                self.durability_failures.append((node.number, position))
        self.trace("crash", node.number, node.lost_on_crash - lost_before)

    def restore(self, node: SimNode) -> None:
        """The device ``node`` is restored from nothing: it keeps its key and
        loses its store. It recovers its own chain through its planner
        (rule 6) before it writes again."""
        # What it wrote and no other device holds yet is lost with it: no
        # longer a record the run must keep (the no-loss invariant is about
        # power cuts, which keep every own record).
        others = [n.store for n in self.honest if n is not node]
        kept = [p for p in node.acknowledged if any(store.holds(p) for store in others)]
        self.lost_with_devices += len(node.acknowledged) - len(kept)
        node.acknowledged[:] = kept
        close = getattr(node.store, "close", None)
        if close is not None:
            close()
        self.restored += 1
        if self.backend == "sqlite":
            directory = self._workdir / f"node{node.number:04d}-restored{self.restored}"
            store: Any = SqliteStore(self.table, self.neighbourhood, directory)
        else:
            store = MemoryStore(self.table, self.neighbourhood)
        node.restore(store)
        self.planning.new_planner(node)
        self.trace("restore", node.number)
        # Its connections come up again at once, as after a restart.
        self.planning.mesh_changed(node, [], self.gossip.mesh[node.number])

    def restart(self, node: SimNode) -> None:
        node.restart()
        self.network.restart(node.number)
        self.planning.new_planner(node)
        self.trace("restart", node.number, node.head.seq)

    def reach_snapshot(self) -> tuple[list[int], bytes]:
        return list(self.network.island), bytes(self.network.powered)

    def reachability_grew(self, before: tuple[list[int], bytes]) -> None:
        """Nodes that got power or moved into a bigger island connect to peers
        they could not reach before: the mesh heartbeat grafts them at once,
        and each node's planner decides which of its new connections to sync
        with (``before`` is kept for the timeline's symmetry)."""
        self.gossip.heartbeat()

    def link_up(self, a: int, b: int) -> None:
        """A link between two reachable nodes came back (a flapping link):
        each side sees a connection come up."""
        self.planning.link_up(a, b)

    @property
    def gaps(self) -> int:
        """Gossip deliveries that showed a gap (the planner syncs if it stays open)."""
        return self.planning.gaps

    def _mesh_changed(self, node: SimNode, old: list[int], mesh: list[int]) -> None:
        self.planning.mesh_changed(node, old, mesh)

    def _session_ended(self, initiator: SimNode, responder: SimNode, ok: bool) -> None:
        self.planning.session_ended(initiator, responder, ok)

    # -- recurring work -----------------------------------------------------------------

    def _gossip_round(self) -> None:
        self.gossip.round()
        self.queue.after(self.scenario.gossip_round_ms, self._gossip_round)

    def _heartbeat(self) -> None:
        self.gossip.heartbeat()
        self.queue.after(self.scenario.heartbeat_ms, self._heartbeat)

    def _hostile_round(self) -> None:
        hostile = self.hostile
        assert hostile is not None
        hostile.honest_limit = len(self.table)
        if hostile.active and self.network.powered[hostile.number]:
            island = self.network.islands().get(self.network.island[hostile.number], [])
            batch = hostile.batch(self.queue.now)
            for peer in hostile.targets(island, self.scenario.degree):
                self.gossip.push(hostile.number, peer, batch)
            self.trace("hostile", len(batch))
        self.queue.after(hostile.options.round_ms, self._hostile_round)

    def _write_times(self) -> list[int]:
        rng = self.seeds.stream("write-times")
        windows = self.scenario.activity
        spans = [end - start for start, end in windows]
        times = []
        for _ in range(self.scenario.records):
            start, end = rng.choices(windows, spans)[0]
            times.append(rng.randrange(start, end))
        times.sort()
        return times

    def _write(self, times: list[int], index: int) -> None:
        rng = self.workload.rng
        for _ in range(16):
            node = self.honest[rng.randrange(len(self.honest))]
            if node.up and not node.recovering:  # the pantry refuses to write before recovery
                position = self.workload.act(node, self.queue.now)
                self.valid_records += 1
                self.trace("write", node.number, self.table.raws[position][-8:].hex())
                break
        if index + 1 < len(times):
            self.queue.at(times[index + 1], self._write, times, index + 1)

    def _sample(self) -> None:
        now = self.queue.now
        network = self.network
        counts = [n.store.count() if n.up else -1 for n in self.honest]
        per_island: dict[int, list[int]] = {}
        for node, count in zip(self.honest, counts):
            if count >= 0:
                per_island.setdefault(network.island[node.number], []).append(count)
        up = sum(1 for c in counts if c >= 0)
        complete = sum(1 for c in counts if c == self.valid_records)
        self.samples.append({
            "t_ms": now,
            "up": up,
            "islands": len(per_island),
            "records": self.valid_records,
            "complete": complete,
            "island_records": {str(k): sum(v) / len(v) for k, v in sorted(per_island.items())},
            "min_held": min((c for c in counts if c >= 0), default=0),
        })
        self.trace("sample", hashlib.sha256(repr(counts).encode()).hexdigest()[:16])
        if self.on_progress is not None:
            self.on_progress(now, self.scenario.duration_ms)
        if now + self.scenario.sample_ms <= self.scenario.duration_ms:
            self.queue.after(self.scenario.sample_ms, self._sample)

    # -- running ------------------------------------------------------------------------

    def run(self) -> "RunOutcome":
        from .invariants import check
        from .outcome import RunOutcome

        started = time.monotonic()
        s, q = self.scenario, self.queue
        q.at(0, self._heartbeat)
        q.at(0, self._gossip_round)
        q.at(0, self._sample)
        for node in self.honest:
            self.planning.new_planner(node)
        for event in s.events:
            q.at(event.at_ms, self.timeline.apply, event.do, event.params)
        times = self._write_times()
        if times:
            q.at(times[0], self._write, times, 0)
        if self.hostile is not None:
            q.at(0, self._hostile_round)
        with _quiet_collector():
            q.run_until(s.duration_ms)
        run_seconds = time.monotonic() - started
        verdict_started = time.monotonic()
        violations, checks = check(self)
        outcome = RunOutcome.from_simulation(
            self, violations, checks,
            wall={"setup_s": self.setup_seconds, "run_s": run_seconds,
                  "check_s": time.monotonic() - verdict_started},
        )
        self.close()
        return outcome

    def close(self) -> None:
        for node in self.honest:
            close = getattr(node.store, "close", None)
            if close is not None:
                close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
