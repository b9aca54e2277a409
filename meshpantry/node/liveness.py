"""Noticing connections that died without a word.

A router that loses power, a cable pulled, a laptop closed mid-sync: packets
stop, and nothing tells either side. TCP keeps a stalled connection "open"
for many minutes, and after the link returns it resumes only at its next
retransmission (exponential backoff up to 120 s). Without a check of its own
a node would count a dead neighbour as connected, never redial it, and after
a repair wait as long as TCP does.

Theory of operation:

* Every connected peer is probed every :data:`PROBE_INTERVAL_S` with the
  standard libp2p ping (``/ipfs/ping/1.0.0``: 32 random bytes echoed). The
  host serves it with :func:`~.ping.serve_ping`, so that no error in it can
  reach the host. :class:`~.ping.Pinger` keeps one ping
  stream per peer open between probes (the server answers pings on a stream
  until it is idle for a minute): a ping on an open stream cost ~0.6 ms of CPU
  for both ends together on a laptop core, against ~2.4 ms with a new stream
  each time (1.8 ms on a kept stream on a 2-core build machine, measured with
  two nodes probing 37.5 times a second).
* A probe that is not answered within :data:`PROBE_TIMEOUT_S`, or fails, is a
  *miss*; the next probe starts :data:`PROBE_TIMEOUT_S` after the missed one
  started (at once after a timeout, which already waited; later after a
  failure that came fast, so that misses always span the same time). Any
  answer resets the count, and so does other evidence that the peer talks
  (the bytes of a sync session: :meth:`Liveness.heard`), which also puts the
  next probe a whole interval off: a heal's sessions keep their peers
  talking, and pinging them besides was work for nothing. A ping the peer
  sends counts the same way (:meth:`Liveness.for_host` answers pings): of
  two connected peers, only the one whose probe comes due first pings, and a
  quiet neighbourhood's pings are halved. Two peers that just connected
  would both probe an interval later, at the same moment: the one with the
  larger id first probes :data:`FOLLOWER_FIRST_PROBE` intervals after
  connecting, so the other's ping reaches it first (after islands rejoined,
  106 ping streams were opened for about 60 new links). A sync stream that
  cannot be opened in time counts as a miss (:meth:`Liveness.missed`).
* A probe's time is up :data:`PROBE_TIMEOUT_S` after it started; when
  this node's own loop was held up past that (it ran :data:`STALL_S` or
  more late), the probe is judged only :data:`STALL_GRACE_S` later: an
  answer read in the step that found the time up still counts (a node
  whose own loop was held up is not the silent one).
* After :data:`MAX_MISSED_PROBES` misses in a row the peer is dead: its
  connections are closed (sockets first, so a writer stuck on a full send
  buffer cannot hold the close up; then the swarm's own close, bounded), it is
  logged at info and ``on_dead(peer_id, reason)`` is called, which the node
  uses to report the peer down and hand it to the redial loop.
* A peer that disconnects for any other reason is forgotten; a probe that
  fails because its connection just went away is not a miss.

The probing, counting and closing are separate callables (``probe``,
``drop``), so the logic runs with fakes in tests; :meth:`Liveness.for_host`
wires the real ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable

import trio
from libp2p.peer.id import ID

from .ping import RESET_TIMEOUT_S, Pinger, serve_ping

log = logging.getLogger("meshpantry.node")

#: Seconds between two probes of a connected peer that answers. A probe on
#: a kept stream is ~50 bytes each way and 0.6-1.8 ms of CPU for both ends
#: on a laptop or build-machine core (a few ms on a Raspberry Pi); every 4 s
#: for twenty neighbours is five probes a second, a small load even for a
#: Pi. Still, it is most of what an idle node spends: twenty idle nodes on
#: 2 cores used 0.119 s of CPU a second, and 0.053 s with probes every 400 s.
#: Shorter would notice a cut sooner at a cost paid all day long. Must stay under
#: the ping server's idle timeout (:data:`.ping.SERVE_IDLE_S`), or kept
#: streams close between probes.
PROBE_INTERVAL_S = 4.0

#: Seconds one probe may wait for its answer. On a LAN a member answers in
#: milliseconds; a Raspberry Pi busy verifying a large sync batch still
#: answers between ingest slices (tens to hundreds of ms each), and a ping
#: queued behind a few MB of records on Wi-Fi waits a second or two. Four
#: seconds leaves room for all of that.
PROBE_TIMEOUT_S = 4.0

#: Seconds a probe whose time is up still waits for its answer: when this
#: node's own loop was held up past the probe's deadline (a long step of
#: other work on a loaded machine), an answer that arrived meanwhile is read
#: only once the loop runs again, in the same step as the deadline. Without
#: it a node whose loop stalled counted its healthy peers' answers as misses
#: (heals on a loaded machine dropped tens of links as silent, each redialled
#: with a new handshake, gossip set-up and sync).
STALL_GRACE_S = 0.25

#: Seconds past a probe's deadline from which this node's loop counts as
#: held up (a loop that keeps up runs within milliseconds of a deadline).
STALL_S = 0.1

#: Misses in a row after which the peer's connections are closed. Three
#: unanswered probes are 12 s of complete silence: far beyond a busy Pi's
#: pauses, and a stalled peer is dropped 12-16 s after it went quiet (the
#: ~15 s the node aims for), against the minutes TCP would wait.
MAX_MISSED_PROBES = 3

#: Seconds allowed to close a dead peer's connections. The sockets are shut
#: first, so the swarm's close has nothing left to wait for; this only bounds
#: the bookkeeping.
CLOSE_TIMEOUT_S = 3.0

#: Longest the loop sleeps with nothing due, so new connections are noticed.
IDLE_TICK_S = 1.0

#: Intervals after connecting at which the side that does not lead the pair
#: (the larger peer id) first probes: the leading side probes after one, and
#: its ping, answered here, puts this side's probe off.
FOLLOWER_FIRST_PROBE = 1.5


@dataclass
class PeerLiveness:
    """What the check knows of one connected peer."""

    missed: int = 0  #: consecutive misses (reset by any answer)
    next_probe: float = 0.0  #: trio time of the next probe
    probing: bool = False  #: a probe is in flight
    last_error: str = ""


@dataclass
class LivenessStats:
    probes: int = 0
    answered: int = 0
    missed: int = 0
    dropped: int = 0  #: peers closed for silence


Probe = Callable[[ID], Awaitable[Any]]
Drop = Callable[[ID], Awaitable[None]]
OnDead = Callable[[ID, str], Any]


async def _no_callback(peer_id: ID, reason: str) -> None:
    return None


class Liveness:
    """Probes every peer that ``peers()`` lists and drops the silent ones.

    ``peers()`` returns the ids of the peers connected now; ``probe(peer_id)``
    completes when the peer answered and raises when it did not (the check
    bounds it by ``timeout_s``); ``drop(peer_id)`` closes the peer's
    connections; ``on_dead(peer_id, reason)`` (sync or async) runs after a
    drop; ``forget(peer_id)`` is called when a peer is no longer connected
    (the prober may drop what it kept for it); ``leads(peer_id)`` whether
    this side leads the pair (it probes a new connection first). Run with
    ``await nursery.start(liveness.run)``.
    """

    def __init__(
        self,
        peers: Callable[[], Iterable[ID]],
        probe: Probe,
        drop: Drop,
        *,
        on_dead: OnDead = _no_callback,
        forget: Callable[[ID], Any] = lambda peer_id: None,
        leads: Callable[[ID], bool] = lambda peer_id: True,
        interval_s: float = PROBE_INTERVAL_S,
        timeout_s: float = PROBE_TIMEOUT_S,
        max_missed: int = MAX_MISSED_PROBES,
    ) -> None:
        assert interval_s > 0 and timeout_s > 0 and max_missed >= 1
        self.peers = peers
        self.probe = probe
        self.drop = drop
        self.on_dead = on_dead
        self.forget = forget
        self.leads = leads
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.max_missed = max_missed
        self.state: dict[ID, PeerLiveness] = {}
        self.stats = LivenessStats()
        self._nursery: trio.Nursery | None = None
        self._wakeup = trio.Event()

    @classmethod
    def for_host(cls, libp2p_host: Any, *, on_dead: OnDead = _no_callback, **options: Any) -> "Liveness":
        """A check over a py-libp2p host: pings with a :class:`~.ping.Pinger`, drops
        with :func:`close_peer`; ``options`` as for the constructor. It also
        answers the host's pings (:func:`~.ping.serve_ping`), counting a peer
        that pings as heard: of two peers probing each other, one pings."""
        network = libp2p_host.get_network()
        pinger = Pinger(libp2p_host)
        me = str(libp2p_host.get_id())
        check = cls(
            lambda: live_peers(network),
            pinger.ping,
            lambda peer_id: close_peer(network, peer_id),
            on_dead=on_dead,
            forget=pinger.forget,
            leads=lambda peer_id: me < str(peer_id),
            **options,
        )
        serve_ping(libp2p_host, on_ping=check.heard)
        return check

    # -- evidence from elsewhere -------------------------------------------

    def heard(self, peer_id: ID) -> None:
        """The peer answered something (bytes of a sync session): not silent,
        and no probe is due before a whole interval has passed (a peer that
        streams a sync session is not pinged besides)."""
        state = self.state.get(peer_id)
        if state is not None:
            state.missed = 0
            state.last_error = ""
            state.next_probe = max(state.next_probe, trio.current_time() + self.interval_s)

    async def missed(self, peer_id: ID, reason: str) -> None:
        """Count a miss seen elsewhere (a sync stream that could not be
        opened in time); drops the peer if that makes :attr:`max_missed`."""
        if peer_id not in set(self.peers()):
            return
        state = self.state.setdefault(peer_id, PeerLiveness(next_probe=trio.current_time()))
        await self._count_miss(peer_id, state, reason)
        self._wakeup.set()

    # -- the loop ----------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Probe until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            while True:
                now = trio.current_time()
                connected = set(self.peers())
                for gone in [p for p in self.state if p not in connected]:
                    del self.state[gone]
                    self.forget(gone)
                next_due = now + IDLE_TICK_S
                for peer_id in connected:
                    state = self.state.get(peer_id)
                    if state is None:
                        # Just connected: the handshake proved it alive. Of
                        # the pair, the leading side probes first.
                        first = self.interval_s * (1 if self.leads(peer_id) else FOLLOWER_FIRST_PROBE)
                        state = self.state[peer_id] = PeerLiveness(next_probe=now + first)
                    if state.probing:
                        continue
                    if state.next_probe <= now:
                        state.probing = True
                        nursery.start_soon(self._probe_once, peer_id, state)
                    else:
                        next_due = min(next_due, state.next_probe)
                self._wakeup = trio.Event()
                with trio.move_on_after(max(0.0, next_due - trio.current_time())):
                    await self._wakeup.wait()

    async def _probe_once(self, peer_id: ID, state: PeerLiveness) -> None:
        self.stats.probes += 1
        started = trio.current_time()
        error = ""
        try:
            if not await self._answered(peer_id):
                error = f"no answer to a ping within {self.timeout_s:g} s"
        except trio.Cancelled:
            raise
        except Exception as failure:  # any failure of the probe is a miss
            error = f"{type(failure).__name__}: {failure}"
        finally:
            state.probing = False
        if self.state.get(peer_id) is not state:
            return  # disconnected meanwhile: nothing to judge
        if not error:
            self.stats.answered += 1
            state.missed = 0
            state.last_error = ""
            state.next_probe = trio.current_time() + self.interval_s
        elif peer_id in set(self.peers()):
            await self._count_miss(peer_id, state, error, next_probe=started + self.timeout_s)
        self._wakeup.set()

    async def _answered(self, peer_id: ID) -> bool:
        """Run one probe: True when it is answered within :attr:`timeout_s`,
        or, when this loop ran again :data:`STALL_S` or more after the time
        was up, within :data:`STALL_GRACE_S` of that. Raises what the probe
        raised."""
        done = trio.Event()
        failed: list[Exception] = []

        async def probe() -> None:
            try:
                await self.probe(peer_id)
            except Exception as failure:  # noqa: BLE001 - passed on below
                failed.append(failure)
            done.set()

        deadline = trio.current_time() + self.timeout_s
        async with trio.open_nursery() as nursery:
            nursery.start_soon(probe)
            with trio.move_on_at(deadline):
                await done.wait()
            if not done.is_set() and trio.current_time() - deadline >= STALL_S:
                # This loop was held up past the deadline (a long step of
                # other work): the answer may be read, not yet handed on.
                with trio.move_on_after(STALL_GRACE_S):
                    await done.wait()
            nursery.cancel_scope.cancel()
        if failed:
            raise failed[0]
        return done.is_set()

    async def _count_miss(self, peer_id: ID, state: PeerLiveness, reason: str, *,
                          next_probe: float | None = None) -> None:
        """Count one miss; the next probe is due at ``next_probe`` (default:
        now). Drops the peer at :attr:`max_missed`."""
        self.stats.missed += 1
        state.missed += 1
        state.last_error = reason
        state.next_probe = trio.current_time() if next_probe is None else next_probe
        log.debug("peer %s missed %d in a row: %s", peer_id, state.missed, reason)
        if state.missed < self.max_missed:
            return
        self.state.pop(peer_id, None)
        self.forget(peer_id)
        self.stats.dropped += 1
        log.info("peer %s silent (%d misses in a row, last: %s): closing its connections",
                 peer_id, state.missed, reason)
        try:
            with trio.move_on_after(CLOSE_TIMEOUT_S):
                await self.drop(peer_id)
        except Exception:  # noqa: BLE001 - a half-closed connection is still gone to us
            log.exception("closing connections to %s", peer_id)
        try:
            outcome = self.on_dead(peer_id, reason)
            if hasattr(outcome, "__await__"):
                await outcome
        except Exception:  # a consumer bug must not stop the check
            log.exception("dead-peer callback failed for %s", peer_id)


# -- the real probe and drop over py-libp2p ----------------------------------


def live_peers(network: Any) -> list[ID]:
    """Peers with at least one connection that is not closed."""
    return [peer_id for peer_id, conns in list(network.connections.items())
            if any(not conn.is_closed for conn in conns)]


async def close_peer(network: Any, peer_id: ID) -> None:
    """Close every connection to ``peer_id``: each socket first (a task
    blocked writing to a stalled socket then fails instead of holding the
    muxer's write lock), then the swarm's own close, which notifies the
    connection's listeners and forgets it. Never raises for a connection
    that is already gone; unbounded in time (the caller bounds it). Relies
    on ``muxed_conn.secured_conn`` (``meshpantry/node/LIBP2P.md``, "Liveness
    and ping")."""
    for conn in network.get_connections(peer_id):
        secured = getattr(getattr(conn, "muxed_conn", None), "secured_conn", None)
        if secured is None:
            continue
        with trio.move_on_after(RESET_TIMEOUT_S):
            try:
                await secured.close()
            except Exception as error:  # noqa: BLE001 - already closed is fine
                log.debug("closing a socket to %s: %r", peer_id, error)
    try:
        await network.close_peer(peer_id)
    except Exception as error:  # noqa: BLE001 - the swarm may have removed it already
        log.debug("closing %s: %r", peer_id, error)
