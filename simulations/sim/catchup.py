"""Catch-up: the real sans-IO sync session, driven by the simulator.

Each session pairs a :class:`meshpantry.core.sync.session.SyncSession` on each
node over a virtual stream (:meth:`~.network.Network.stream_delay`: latency plus
transfer time, in order per direction, no loss). The simulator plays the host
loop a real node runs around a libp2p stream: feed received bytes, drain the
events (hand received records to the store's ingest), send what the session
has to send. No scheduler is involved, so a session runs the same way every
time for a seed. Sessions run on the virtual clock, the monotonic clock of
every node (a node's drifting wall clock only dates its records).

A session ends when both sides report Done or Failed. It fails when the
stream breaks: a node loses power (its epoch changes) or the two stop being
connected (partition, cut, flapping), exactly as a reset stream does.
"""

from __future__ import annotations

import time
from typing import Callable

from meshpantry.core.sync.events import Done, Failed, RecordsReceived
from meshpantry.core.sync.session import SyncSession

from .clock import EventQueue
from .network import Network
from .node import SimNode


class _Stream:
    """Two sessions joined by a virtual stream."""

    __slots__ = ("nodes", "epochs", "sessions", "busy_until", "ended", "outcome", "inflight")

    def __init__(
        self, a: SimNode, b: SimNode, now: int, below: int | None, want_author: bytes | None
    ) -> None:
        self.nodes = (a, b)
        self.epochs = (a.epoch, b.epoch)
        first = (
            SyncSession.initiator(a.store, now=now, below=below)
            if want_author is None
            else SyncSession.fetch_author(a.store, want_author, now=now)
        )
        self.sessions = (first, SyncSession.responder(b.store, now=now))
        self.busy_until = [0, 0]  #: per direction: when the stream finishes sending
        self.ended = [False, False]
        self.outcome: str | None = None
        self.inflight = 0  #: chunks on the wire, both directions


class Catchup:
    """Runs sync sessions between pairs of nodes."""

    def __init__(
        self,
        nodes: list[SimNode],
        network: Network,
        queue: EventQueue,
        *,
        on_records: Callable[[SimNode, list[bytes], int], None],
        on_end: Callable[[SimNode, SimNode, bool], None] | None = None,
        max_sessions_per_node: int = 2,
    ) -> None:
        self.nodes = nodes
        self.network = network
        self.queue = queue
        self.on_records = on_records
        self.on_end = on_end  #: (initiator, responder, ok) once a session ended
        self.max_sessions_per_node = max_sessions_per_node
        self.active: dict[int, _Stream] = {}
        self.per_node = [0] * len(nodes)
        self.started = self.done = self.failed = self.stalled = 0
        self.bytes = 0
        self.records = 0
        self.session_seconds = 0.0  #: seconds (wall) spent inside the sync sessions' own code

    def _key(self, a: int, b: int) -> int:
        return min(a, b) * len(self.nodes) + max(a, b)

    def running(self, a: int, b: int) -> bool:
        return self._key(a, b) in self.active

    def start(
        self, a: int, b: int, below: int | None = None, *, want_author: bytes | None = None
    ) -> bool | None:
        """Start a session initiated by ``a`` with ``b``, unless one already
        runs between them or they are not connected (False), or either runs
        as many sessions as it may (None: the peer is busy). Returns True when
        started. ``below``: the initiator's settled horizon (routine syncs).
        ``want_author``: fetch that author's chain only (a recovery session,
        :meth:`~meshpantry.core.sync.session.SyncSession.fetch_author`).
        How many sessions ``a`` starts at once is its planner's decision."""
        key = self._key(a, b)
        if key in self.active or a == b:
            return False
        if self.per_node[a] >= self.max_sessions_per_node or self.per_node[b] >= self.max_sessions_per_node:
            return None
        node_a, node_b = self.nodes[a], self.nodes[b]
        if not (node_a.up and node_b.up and self.network.connected(a, b)):
            return False
        now = self.queue.now
        clock = time.perf_counter()
        stream = _Stream(node_a, node_b, now, below, want_author)
        self.session_seconds += time.perf_counter() - clock
        self.active[key] = stream
        self.per_node[a] += 1
        self.per_node[b] += 1
        self.started += 1
        self._pump(key, stream, 0)
        self._pump(key, stream, 1)
        self._check_stalled(key, stream)
        return True

    def _check_stalled(self, key: int, stream: _Stream) -> None:
        """Nothing on the wire and still open: the sessions wait for each other
        forever (a real host would fail them on the idle timer)."""
        if stream.inflight == 0 and self.active.get(key) is stream:
            stream.outcome = "failed"
            self.stalled += 1
            self._end(key, stream)

    def _alive(self, stream: _Stream) -> bool:
        a, b = stream.nodes
        return (
            a.epoch == stream.epochs[0]
            and b.epoch == stream.epochs[1]
            and a.up
            and b.up
            and self.network.connected(a.number, b.number)
        )

    def _pump(self, key: int, stream: _Stream, side: int) -> None:
        """Drain one side's events, then send what it has for the peer."""
        session = stream.sessions[side]
        node = stream.nodes[side]
        now = self.queue.now
        clock = time.perf_counter()
        events = session.events()
        self.session_seconds += time.perf_counter() - clock
        for event in events:
            if isinstance(event, RecordsReceived):
                self.records += len(event.raws)
                self.on_records(node, event.raws, now)
            elif isinstance(event, (Done, Failed)):
                stream.ended[side] = True
                if isinstance(event, Failed):
                    stream.outcome = "failed"
        clock = time.perf_counter()
        data = session.data_to_send()
        self.session_seconds += time.perf_counter() - clock
        if data:
            self.bytes += len(data)
            start = max(now, stream.busy_until[side])
            arrive = start + self.network.stream_delay(len(data))
            stream.busy_until[side] = arrive
            stream.inflight += 1
            self.queue.at(arrive, self._arrive, key, stream, 1 - side, data)
        if all(stream.ended) or (session.finished and stream.sessions[1 - side].finished):
            self._end(key, stream)

    def _arrive(self, key: int, stream: _Stream, side: int, data: bytes) -> None:
        if self.active.get(key) is not stream:
            return
        stream.inflight -= 1
        if not self._alive(stream):
            now = self.queue.now
            for number, session in enumerate(stream.sessions):
                if stream.nodes[number].epoch == stream.epochs[number]:
                    session.connection_lost(now)
            stream.outcome = "failed"
            self._end(key, stream)
            return
        clock = time.perf_counter()
        stream.sessions[side].receive_data(data, self.queue.now)
        self.session_seconds += time.perf_counter() - clock
        self._pump(key, stream, side)
        self._check_stalled(key, stream)

    def _end(self, key: int, stream: _Stream) -> None:
        if self.active.pop(key, None) is None:
            return
        a, b = stream.nodes
        self.per_node[a.number] -= 1
        self.per_node[b.number] -= 1
        failed = stream.outcome == "failed" or any(
            s.state.value == "failed" for s in stream.sessions
        )
        if failed:
            self.failed += 1
        else:
            self.done += 1
        if self.on_end is not None:
            self.on_end(a, b, not failed)
