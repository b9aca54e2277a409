"""Which peers a node knows, which it is connected to, and when it dials them.

Theory of operation:

* Peers become *known* with addresses from four sources: static peers in the
  settings, the persisted address book (``load_book``), mDNS
  (:mod:`meshpantry.node.mdns`) and peer exchange among members
  (:mod:`meshpantry.node.peer_exchange`); all call :meth:`Discovery.add_peer`.
* One redial loop dials every known peer that is not connected when its time
  comes. After a failure the wait doubles from ``redial_initial_s`` up to
  ``redial_max_s`` (or a shorter cap, see *expected back* below), with
  ``redial_jitter`` drawn from the seeded ``rng`` so
  that neighbours do not dial in lockstep. When a connection drops the wait
  starts again from ``redial_initial_s``: a neighbour restarted after a power
  cut is back within seconds (py-libp2p's own auto-connector takes ~65 s, and
  its 60 s negative cache is cleared by :func:`connect_bounded`).
* A connection coming up is evidence that the network changed (a cut
  healed, a router came back): every known peer still backing off is then
  dialled soon, whatever its backoff said (at most once per
  :data:`NETWORK_CHANGE_GAP_S`; its failure count is kept, so if it is still
  unreachable the backoff goes on where it was). A connection closed because
  its peer went silent (:mod:`meshpantry.node.liveness`) is handed back with
  :meth:`Discovery.connection_lost` and redialled like any other drop.
* A neighbour is *expected back* for :data:`EXPECTED_BACK_S` after it was
  lost (or after start, for static and address-book peers): its backoff stops
  at :data:`EXPECTED_BACK_REDIAL_MAX_S` instead of ``redial_max_s``, so a
  silent cut that heals is noticed within seconds even when no other
  connection comes up to say so. Peers gone for longer (moved away, stale
  book entries) fall back to the long cap, so they do not fill the dial slots.
* Every dial is bounded by ``dial_timeout_s``; at most
  :data:`MAX_CONCURRENT_DIALS` run at once.
* Connection changes arrive from the swarm as notifications; the event task
  compares them with the swarm's actual connections and reports each change
  once, in order, through ``on_peer_up`` / ``on_peer_down`` (so the runner can
  start a sync on connect and report island state). A peer with several
  connections is up until its last one closes.
* A peer that dialled us is known by the addresses it listens on, which
  identify put in the peerstore; they are read a moment after it connected
  (:data:`IDENTIFY_WAIT_S`), so either side can redial after a cut.
* Addresses of a peer we actually connected to are persisted through
  ``remember(peer_id, addrs)``; addresses heard from others are dialled but
  only remembered once they worked, so the book is not polluted.
* When the node listens on loopback only, only loopback addresses are dialled:
  a test or the demo never sends a packet anywhere else.
* Not every known peer is dialled: the connection target
  (:mod:`.connection_target`, ``connections_low`` / ``connections_high``)
  picks which due peers to dial, bridges first, and a trim loop closes the
  most redundant links above the high watermark. What each connected peer
  reports as its own links (:meth:`Discovery.report_links`, from peer
  exchange) tells bridges from redundant links.
"""

from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable

import multiaddr
import trio
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo

from .addresses import usable_address
from .config import LOOPBACK_MODE, NodeSettings
from .connection_events import ConnectionNotifee
from .connection_target import REPORT_WAIT_S, TRIM_MEMORY_S, Watermarks, dials, trims
from .host import DialFailed, RunningHost, connect_bounded, peer_info_from_multiaddr
from .network import resolve

log = logging.getLogger(__name__)

#: Dials in flight at once. A neighbourhood has tens of nodes; eight dials
#: at a time reconnect twenty peers after a power cut in a few rounds without
#: a burst of handshakes that would stall a Raspberry Pi.
MAX_CONCURRENT_DIALS = 8

#: Peers kept in memory. Static and address-book peers are always kept;
#: unverified ones (heard from others, never reached) make room.
MAX_KNOWN_PEERS = 512

#: Addresses kept per peer (a laptop with Wi-Fi, Ethernet, loopback...).
MAX_ADDRS_PER_PEER = 8

#: Failed dials after which an address heard from others (never reached) is
#: forgotten. Five failures with backoff is about half a minute of trying.
MAX_UNVERIFIED_FAILURES = 5

#: Longest the loop sleeps with nothing due, so newly learnt peers wait little.
IDLE_TICK_S = 1.0

#: Least seconds between two "the network changed" redials of every peer
#: that is backing off. A dial to a dead address costs one SYN, but it holds
#: one of :data:`MAX_CONCURRENT_DIALS` slots for up to ``dial_timeout_s``: a
#: neighbour flapping every second must not keep all slots busy dialling the
#: unreachable. After a repair the first connection triggers the redial at
#: once; connections that follow within this gap wait at most this long.
NETWORK_CHANGE_GAP_S = 5.0

#: Longest wait between two dials of a neighbour expected back. A dial to a
#: dead address costs a few packets (ARP requests on a LAN, failing after
#: ~3 s; or SYNs at 0, 1 and 3 s), and one still in flight when the link
#: returns connects at its next SYN, so this is about the longest a healed
#: cut stays unnoticed between two nodes. Each such dial holds a slot for
#: at most ``dial_timeout_s`` (5 s): ten neighbours expected back use about
#: 3 of the :data:`MAX_CONCURRENT_DIALS` slots.
EXPECTED_BACK_REDIAL_MAX_S = 10.0

#: Seconds after a peer dialled us before its listen addresses are read from
#: the peerstore (identify fills them in within ~0.2 s on loopback), and how
#: many times to look before giving up.
IDENTIFY_WAIT_S = 1.0
IDENTIFY_TRIES = 5

#: Seconds a lost neighbour (or, after start, a known one) is expected back:
#: a power cut, a router reboot or a cable moved usually heals within
#: minutes. After that the backoff may grow to ``redial_max_s``.
EXPECTED_BACK_S = 600.0

#: Seconds between two looks at the connection count for a trim (rule 3 of
#: :mod:`.connection_target`). A trim is never urgent: a few extra links for
#: seconds cost little, while trimming on every new connection would close
#: links whose reports have not arrived yet.
TRIM_INTERVAL_S = 5.0

PeerCallback = Callable[[ID], Awaitable[None]]
Remember = Callable[[ID, list[str]], None]


@dataclass
class KnownPeer:
    """What we know of one peer and when we will dial it next."""

    peer_id: ID
    addrs: list[str] = field(default_factory=list)  #: dialable, newest first
    static: bool = False  #: from settings: never forgotten
    verified: bool = False  #: we were connected to it at least once
    connected: bool = False
    dialing: bool = False
    failures: int = 0  #: consecutive failed dials
    next_dial: float = 0.0  #: trio time of the next allowed dial
    expected_until: float = 0.0  #: trio time until which it is expected back (short backoff cap)
    last_error: str = ""
    connected_at: float = 0.0  #: trio time the current connection came up
    links: frozenset[ID] = frozenset()  #: peers it reported being connected to
    reported_at: float | None = None  #: trio time of that report (None: none yet)


@dataclass
class DiscoveryStats:
    dials: int = 0
    dial_failures: int = 0
    connects: int = 0  #: peer-up events
    disconnects: int = 0  #: peer-down events
    trimmed: int = 0  #: connections closed by the connection target


async def _ignore(peer_id: ID) -> None:
    return None


def _never_skip(peer_id: ID) -> bool:
    return False


def _never_busy(peer_id: ID) -> bool:
    return False


class Discovery:
    """Known peers, the redial loop and connection events of one host.

    ``rng`` draws the jitter (pass a seeded ``random.Random`` for repeatable
    runs). ``remember(peer_id, addrs)`` persists the addresses of peers we
    reached; ``skip(peer_id)`` says which peers not to dial for now (cut
    links, banned senders; :meth:`redial_now` ends the pause);
    ``on_peer_up`` / ``on_peer_down`` are awaited one at a time, in order,
    from the event task (keep them short; start work in a nursery).
    ``busy(peer_id)`` says which connections are in use (a sync session) and
    must not be trimmed.
    Call :meth:`run` in a nursery (``await nursery.start(discovery.run)``).
    Raises ValueError if a static peer in the settings is not a
    ``/ip4/.../tcp/.../p2p/<id>`` address.
    """

    def __init__(
        self,
        host: RunningHost,
        settings: NodeSettings,
        rng: random.Random,
        *,
        on_peer_up: PeerCallback = _ignore,
        on_peer_down: PeerCallback = _ignore,
        remember: Remember | None = None,
        skip: Callable[[ID], bool] = _never_skip,
        busy: Callable[[ID], bool] = _never_busy,
    ) -> None:
        self.host = host
        self.settings = settings
        self.rng = rng
        self.on_peer_up = on_peer_up
        self.on_peer_down = on_peer_down
        self.remember = remember
        self.stats = DiscoveryStats()
        self.peers: dict[ID, KnownPeer] = {}
        # Loopback mode dials loopback only, and so does a node that listens
        # on loopback (it could not be dialled back from elsewhere).
        settings = resolve(settings)
        self.loopback_only = (settings.network == LOOPBACK_MODE
                              or ipaddress.ip_address(settings.listen_host).is_loopback)
        self.skip = skip
        self.busy = busy
        self.marks = Watermarks(settings.connections_low, settings.connections_high, settings.connection_grace_s)
        self._wakeup = trio.Event()
        self._dial_slots = trio.CapacityLimiter(MAX_CONCURRENT_DIALS)
        self._trimmed: dict[ID, float] = {}  #: peer -> trio time this node last trimmed its link
        self._changes: trio.MemorySendChannel | None = None
        self._nursery: trio.Nursery | None = None
        #: Trio time of the pending "network changed" redial, if any, and of the last one.
        self._change_due: float | None = None
        self._last_change = float("-inf")
        for address in settings.static_peers:
            info = peer_info_from_multiaddr(address)
            self.add_peer(info.peer_id, [str(a) for a in info.addrs], static=True)

    # -- what we know ------------------------------------------------------

    def add_peer(self, peer_id: ID, addrs: Iterable[str], *, static: bool = False, verified: bool = False) -> bool:
        """Learn addresses of a peer. Returns True if anything new was learnt.

        Unusable addresses (see :func:`usable_address`) are ignored, and so is
        our own peer id. New addresses go first; at most
        :data:`MAX_ADDRS_PER_PEER` are kept.
        """
        if peer_id == self.host.peer_id:
            return False
        usable = [a for a in (usable_address(str(x), self.loopback_only) for x in addrs) if a]
        peer = self.peers.get(peer_id)
        if peer is None:
            if not usable and not static:
                return False
            if len(self.peers) >= MAX_KNOWN_PEERS and not self._make_room():
                return False
            peer = self.peers[peer_id] = KnownPeer(peer_id, next_dial=trio.current_time())
        fresh = [a for a in usable if a not in peer.addrs]
        peer.addrs = (fresh + peer.addrs)[:MAX_ADDRS_PER_PEER]
        if (static or verified) and not (peer.static or peer.verified):
            peer.expected_until = trio.current_time() + EXPECTED_BACK_S
        peer.static = peer.static or static
        peer.verified = peer.verified or verified
        if fresh and peer.connected and self.remember:
            self._remember(peer)  # e.g. an inbound peer told us where it listens
        elif fresh:
            # New addresses deserve a prompt try whatever the backoff said.
            peer.next_dial = min(peer.next_dial, trio.current_time())
            self._wakeup.set()
        return bool(fresh)

    def load_book(self, entries: Iterable[tuple[ID | str, list[str]]]) -> int:
        """Add peers from the persisted address book; returns how many were usable."""
        count = 0
        for peer, addrs in entries:
            try:
                peer_id = peer if isinstance(peer, ID) else ID.from_base58(peer)
            except Exception:  # a damaged book entry is skipped, not fatal
                continue
            if self.add_peer(peer_id, addrs, verified=True):
                count += 1
        return count

    def forget(self, peer_id: ID) -> None:
        """Stop knowing a peer (not a static one): it is not dialled again
        unless someone names it anew (a peer that turned out to be no
        member of the neighbourhood)."""
        peer = self.peers.get(peer_id)
        if peer is not None and not peer.static:
            del self.peers[peer_id]

    def _make_room(self) -> bool:
        for peer_id, peer in self.peers.items():
            if not (peer.static or peer.verified or peer.connected or peer.dialing):
                del self.peers[peer_id]
                return True
        return False

    def connected_peers(self) -> list[ID]:
        return [p.peer_id for p in self.peers.values() if p.connected]

    @property
    def island(self) -> bool:
        """True when no peer is connected: this node is on its own."""
        return not any(p.connected for p in self.peers.values())

    def links(self) -> list[ID]:
        """Peers connected now, for peer exchange's report."""
        return self.connected_peers()

    def report_links(self, peer_id: ID, links: Iterable[ID]) -> None:
        """``peer_id`` (connected) reported being connected to ``links``."""
        peer = self.peers.get(peer_id)
        if peer is not None:
            first = peer.reported_at is None
            peer.links = frozenset(p for p in links if p != peer_id)
            peer.reported_at = trio.current_time()
            if first:
                self._wakeup.set()  # bridge dials may have waited for it

    def _reports(self) -> dict[ID, frozenset[ID]]:
        """What each connected peer that has reported said its links are (a
        peer yet to report is left out: its links are unknown, not none)."""
        return {p.peer_id: p.links for p in self.peers.values() if p.connected and p.reported_at is not None}

    def shareable(self) -> list[tuple[ID, list[str]]]:
        """Peers worth telling others about: reached at least once, with addresses."""
        return [(p.peer_id, list(p.addrs)) for p in self.peers.values() if p.verified and p.addrs]

    # -- the loops ---------------------------------------------------------

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Watch connections and redial until cancelled."""
        send, receive = trio.open_memory_channel(MAX_KNOWN_PEERS)
        self._changes = send
        notifee = ConnectionNotifee(send)
        network = self.host.libp2p.get_network()
        network.register_notifee(notifee)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._event_loop, receive)
                nursery.start_soon(self._trim_loop)
                for peer_id in list(network.connections):
                    send.send_nowait(peer_id)  # connections made before we started
                task_status.started()
                await self._redial_loop(nursery)
        finally:
            network.remove_notifee(notifee)

    async def _event_loop(self, changes: trio.MemoryReceiveChannel) -> None:
        network = self.host.libp2p.get_network()
        async for peer_id in changes:
            live = any(not c.is_closed for c in network.get_connections(peer_id))
            peer = self.peers.get(peer_id)
            if peer is None:
                if not live:
                    continue
                peer = self.peers[peer_id] = KnownPeer(peer_id)
            if live == peer.connected:
                continue
            peer.connected = live
            if live:
                peer.failures = 0
                peer.verified = True
                peer.connected_at = trio.current_time()
                peer.links, peer.reported_at = frozenset(), None
                self.stats.connects += 1
                self.network_changed()
                if self.remember and peer.addrs:
                    self._remember(peer)
                if not peer.addrs and self._nursery is not None:
                    self._nursery.start_soon(self._learn_listen_addrs, peer)
                await self._call(self.on_peer_up, peer_id)
            else:
                peer.next_dial = trio.current_time() + self._jittered(self.settings.redial_initial_s)
                peer.expected_until = trio.current_time() + EXPECTED_BACK_S
                self.stats.disconnects += 1
                self._wakeup.set()
                await self._call(self.on_peer_down, peer_id)

    async def _learn_listen_addrs(self, peer: KnownPeer) -> None:
        """Learn where a peer that dialled us listens, from identify's
        entries in the peerstore (see :data:`IDENTIFY_WAIT_S`)."""
        for _ in range(IDENTIFY_TRIES):
            await trio.sleep(IDENTIFY_WAIT_S)
            if peer.addrs or not peer.connected:
                return
            try:
                addrs = [str(a) for a in self.host.libp2p.get_peerstore().addrs(peer.peer_id)]
            except Exception:  # noqa: BLE001 - not in the peerstore (yet)
                continue
            if addrs:
                self.add_peer(peer.peer_id, addrs, verified=True)
                return

    def _remember(self, peer: KnownPeer) -> None:
        try:
            self.remember(peer.peer_id, list(peer.addrs))
        except Exception:  # the store may be closing; the book is a cache
            log.exception("could not remember addresses of %s", peer.peer_id)

    async def _call(self, callback: PeerCallback, peer_id: ID) -> None:
        try:
            await callback(peer_id)
        except Exception:  # a consumer bug must not stop connection tracking
            log.exception("peer event callback failed for %s", peer_id)

    def connection_lost(self, peer_id: ID) -> None:
        """Our side closed the connections to ``peer_id`` (it went silent):
        look at the swarm again, as on a notification, so the peer is reported
        down and redialled even if the swarm's own notice is slow or missing."""
        if self._changes is not None:
            try:
                self._changes.send_nowait(peer_id)
            except (trio.WouldBlock, trio.ClosedResourceError):
                pass  # the event task is busy with changes; it re-reads the swarm anyway

    def network_changed(self) -> None:
        """Evidence that the network changed (a connection came up): dial
        every peer that is backing off soon, within :data:`NETWORK_CHANGE_GAP_S`
        of the last time this was done."""
        due = max(trio.current_time(), self._last_change + NETWORK_CHANGE_GAP_S)
        if self._change_due is None or due < self._change_due:
            self._change_due = due
        self._wakeup.set()

    def _apply_network_change(self, now: float) -> None:
        self._change_due = None
        self._last_change = now
        for peer in self.peers.values():
            if peer.connected or peer.dialing or not peer.failures:
                continue
            peer.next_dial = min(peer.next_dial, now + self._jittered(self.settings.redial_initial_s))

    async def _redial_loop(self, nursery: trio.Nursery) -> None:
        while True:
            now = trio.current_time()
            if self._change_due is not None and self._change_due <= now:
                self._apply_network_change(now)
            next_due = now + IDLE_TICK_S
            if self._change_due is not None:
                next_due = min(next_due, self._change_due)
            due: list[KnownPeer] = []
            for peer in list(self.peers.values()):
                if peer.connected or peer.dialing or not peer.addrs or self.skip(peer.peer_id):
                    continue
                if peer.next_dial <= now:
                    due.append(peer)
                else:
                    next_due = min(next_due, peer.next_dial)
            report_due = self._report_due()
            for peer_id in self._chosen(due, awaiting_reports=report_due is not None):
                peer = self.peers[peer_id]
                peer.dialing = True
                nursery.start_soon(self._dial, peer)
            if due and report_due is not None:
                next_due = min(next_due, report_due)
            self._wakeup = trio.Event()
            with trio.move_on_after(max(0.0, next_due - trio.current_time())):
                await self._wakeup.wait()

    def _chosen(self, due: list[KnownPeer], *, awaiting_reports: bool) -> list[ID]:
        """The due peers the connection target dials now: those that failed
        least first (a peer just lost, or never tried), then in the order
        known. The others stay due and are looked at again next round."""
        if not due:
            return []
        due.sort(key=lambda p: p.failures)
        return dials(
            [p.peer_id for p in due],
            connected=self.connected_peers(),
            dialling=sum(1 for p in self.peers.values() if p.dialing),
            static={p.peer_id for p in due if p.static},
            reports=self._reports(),
            marks=self.marks,
            awaiting_reports=awaiting_reports,
        )

    def _report_due(self) -> float | None:
        """When the wait for the first report of a peer connected within
        :data:`REPORT_WAIT_S` ends (trio time), or None if no report is awaited."""
        now = trio.current_time()
        ends = [p.connected_at + REPORT_WAIT_S for p in self.peers.values()
                if p.connected and p.reported_at is None and now < p.connected_at + REPORT_WAIT_S]
        return min(ends) if ends else None

    async def _trim_loop(self) -> None:
        """Close the most redundant links above the high watermark."""
        network = self.host.libp2p.get_network()
        while True:
            await trio.sleep(TRIM_INTERVAL_S)
            now = trio.current_time()
            connected = {p.peer_id: p.connected_at for p in self.peers.values() if p.connected}
            for peer_id in [p for p, at in self._trimmed.items() if now - at >= TRIM_MEMORY_S]:
                del self._trimmed[peer_id]
            closing = trims(
                connected, now=now, static={p.peer_id for p in self.peers.values() if p.static},
                busy={p for p in connected if self.busy(p)}, reports=self._reports(), marks=self.marks,
                trimmed=self._trimmed,
            )
            for peer_id in closing:
                self._trimmed[peer_id] = now
                log.info("closing the link to %s: %d links, above the target of %d",
                         peer_id, len(connected), self.marks.high)
                self.stats.trimmed += 1
                try:
                    await network.close_peer(peer_id)
                except Exception as exc:  # noqa: BLE001 - already gone is fine
                    log.debug("closing %s: %s", peer_id, exc)
                self.connection_lost(peer_id)

    async def _dial(self, peer: KnownPeer) -> None:
        try:
            async with self._dial_slots:
                if peer.connected:
                    return
                self.stats.dials += 1
                info = PeerInfo(peer.peer_id, [multiaddr.Multiaddr(a) for a in peer.addrs])
                await connect_bounded(self.host.libp2p, info, self.settings.dial_timeout_s)
            peer.failures = 0
            peer.last_error = ""
        except DialFailed as error:
            self.stats.dial_failures += 1
            peer.failures += 1
            peer.last_error = error.reason
            cap = self.settings.redial_max_s
            if trio.current_time() < peer.expected_until:
                cap = max(self.settings.redial_initial_s, min(cap, EXPECTED_BACK_REDIAL_MAX_S))
            delay = min(cap, self.settings.redial_initial_s * 2 ** min(peer.failures, 30))
            peer.next_dial = trio.current_time() + self._jittered(delay)
            log.debug("dial %s failed (%d in a row): %s", peer.peer_id, peer.failures, error.reason)
            if not (peer.static or peer.verified) and peer.failures >= MAX_UNVERIFIED_FAILURES:
                self.peers.pop(peer.peer_id, None)
        finally:
            peer.dialing = False
            self._wakeup.set()

    def redial_now(self) -> None:
        """Dial every known, unconnected peer at once, forgetting backoff (links
        came back, e.g. after a partition was repaired)."""
        now = trio.current_time()
        for peer in self.peers.values():
            if not peer.connected:
                peer.failures = 0
                peer.next_dial = now
        self._wakeup.set()

    def _jittered(self, delay: float) -> float:
        spread = self.settings.redial_jitter
        return delay * (1 + self.rng.uniform(-spread, spread))
