"""The household's node: one long-running process that holds the store and
speaks for the household on the mesh.

Theory of operation:

* The control socket starts first, so the command line and the UI can talk to
  the node even before the household has a neighbourhood (they create or join
  one through it, and networking starts then).
* Networking: a libp2p host (Noise, yamux) with the device key as peer id;
  GossipSub on the neighbourhood's topic for live records; the sync protocol,
  scheduled by the sync planner (:mod:`meshpantry.core.sync.planner`, run by
  :class:`.sync_service.SyncService`): on connect, periodically, whenever
  gossip shows a gap;
  discovery (static peers, the address book, mDNS) keeps dialling neighbours;
  a liveness check (:mod:`meshpantry.node.liveness`) pings every connected
  peer and closes the connections of one that went silent (a router lost
  power, a cable was pulled), so it is reported down and redialled.
* The membership gate (:mod:`.gate`): only members sync, gossip and count as
  neighbours; a newcomer gets the join handshake; any other peer is closed
  after a short grace and neither remembered nor redialled. A device that
  has just joined hands its join record to each peer it reaches, then syncs.
* Every record this device writes is durable before it is published. Records
  from peers are ingested in batches; what gossip misses, sync repairs.
* SIGINT/SIGTERM cancel everything; the store closes cleanly. Nothing that was
  acknowledged is lost: what this device writes is committed before anyone
  hears of it, and a sync batch is acknowledged to its sender once taken in
  (at most one batch a session is acknowledged and not yet stored, see
  :mod:`.sync_service`), while the sender keeps every record it sent, so the
  next session brings again what a stopped node had not stored.
"""

from __future__ import annotations

import logging
import random
import time
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Callable

import trio

from meshpantry.control.events import ForkEvent, IslandEvent, PeerEvent, RecordEvent
from meshpantry.control.server import ControlServer
from meshpantry.core.gossip import missing_before
from meshpantry.core.ingest import is_forgery
from meshpantry.core.membership import Admission
from meshpantry.core.outage import OutageClock
from meshpantry.core.sync.horizon import RESOLUTION_MS, Horizon
from meshpantry.pantry import Pantry
from meshpantry.store.ingest import quick_id
from protocol import Record

from . import libp2p_compat
from .checking import CATCH_UP_RECORDS, STORE_RECORDS, Checks, CheckingProcesses, Pending
from .config import NodeSettings
from .network import resolve
from .control_ops import control_routes
from .gate import JOIN_PROTOCOL, Gatekeeper, GatekeeperActions, MembershipGate, serve_join
from .sync_driver import now_ms as _monotonic_ms
from .sync_service import ServeLimits, SyncService, SyncTotals

if TYPE_CHECKING:
    from libp2p.abc import INetwork

    from .discovery import Discovery
    from .gossip import Gossip
    from .host import RunningHost
    from .liveness import Liveness
    from .mdns import Mdns
    from .peer_exchange import PeerExchange

log = logging.getLogger("meshpantry.node")

#: Least time between two looks at the node's connections (island state,
#: sync on connect): a burst of connection changes is taken in one look.
PEER_WATCH_INTERVAL_S = 0.25

#: Longest the node goes without a look when no connection comes or goes
#: (a connection change wakes it at once). What else a look notices (a
#: peer cut off or no longer a member, an outsider's grace over, the
#: outage clock) may wait that long. Looking every 0.25 s whatever
#: happened was about a tenth of an idle node's CPU.
PEER_WATCH_IDLE_S = 2.0

#: Connection changes kept for the next look; more are dropped (the look
#: reads the swarm's connections anyway).
PEER_WATCH_BACKLOG = 256

#: Records ingested per store transaction when a peer sends a large batch:
#: keeps each pause of the trio loop short (about 60 ms of verification).
INGEST_SLICE = 500



def now_ms() -> int:
    return int(time.time() * 1000)


class Node:
    """A running node over an open :class:`Pantry`. Use :meth:`run`.

    Constructing one installs the corrections to py-libp2p
    (:func:`.libp2p_compat.install`), so an untested py-libp2p is refused
    with :class:`~.libp2p_compat.Libp2pVersionMismatch` before anything runs.
    """

    def __init__(self, pantry: Pantry, settings: NodeSettings, *, rng: random.Random | None = None) -> None:
        libp2p_compat.install()
        self.pantry = pantry
        self.store = pantry.store
        #: Addresses decided by the network mode (raises NetworkRefused).
        self.settings = resolve(settings)
        self.rng = rng or random.Random()
        self.control = ControlServer(pantry.data_dir, control_routes(self), frame_timeout_s=self.settings.control_frame_s)
        # The networking collaborators exist once networking runs (None before).
        self.host: RunningHost | None = None
        self.gossip: Gossip | None = None
        self.network: INetwork | None = None
        self.discovery: Discovery | None = None
        self.peer_exchange: PeerExchange | None = None
        self.mdns: Mdns | None = None
        self.connected: set[str] = set()
        self.denied: set[str] = set()
        #: Who may use this node beyond the join handshake, and what is done
        #: about the others (:mod:`.gate`).
        self.gate = MembershipGate(self.store, pantry.device, self.denied)
        self.gatekeeper = Gatekeeper(self.gate, self.store, pantry.device, GatekeeperActions(
            libp2p=lambda: self.host.libp2p, close_peer=self._close_peer, forget=self._forget_peer,
            publish=self._publish_records, gossip_with=self._gossip_with), grace_s=self.settings.join_grace_s)
        self.last_sync: dict[str, int] = {}
        self.sync_progress: dict[str, dict] = {}
        self.sync_totals = SyncTotals()
        self.island: bool | None = None
        #: Since when no member has been reachable (loaded on first use).
        self.outage: OutageClock | None = None
        #: The check that drops silent peers (set once networking runs).
        self.liveness: Liveness | None = None
        #: What routine syncs leave to gossip; sampled on trio's monotonic clock.
        self.horizon = Horizon()
        #: The sync planner and its sessions (set once networking runs).
        self.sync: SyncService | None = None
        #: Worker processes that check large batches from peers.
        self.checking = CheckingProcesses()
        #: Ids of records a session's batch is checking and storing now: a
        #: batch of another session skips them instead of checking them again.
        self.arriving: set[bytes] = set()
        self.started = now_ms()
        self._neighbourhood_ready = trio.Event()
        self.stop_requested = trio.Event()
        if self.store.neighbourhood:
            self._neighbourhood_ready.set()
        pantry.on_record = self._on_own_record

    # -- control -------------------------------------------------------------

    def neighbourhood_ready(self) -> None:
        """The household now has a neighbourhood: networking may start."""
        self._neighbourhood_ready.set()

    def dial_addresses(self) -> list[str]:
        if self.host is None:
            return []
        return [a for a in self.host.dial_addrs() if "/ip4/0.0.0.0/" not in a]

    # -- records -----------------------------------------------------------------

    def _on_own_record(self, record: Record) -> None:
        if self.gossip is not None:
            self.gossip.publish([record.raw])
        self.control.publish(_event_of(record, own=True))

    async def ingest(self, raws: list[bytes], origin: str | None = None, *, catching_up: bool = False) -> int:
        """Ingest peers' raw records (sync, bundles) in slices; publish
        events; returns how many were new. A large batch is decoded and
        verified in worker processes (:mod:`.checking`) while this thread
        stores the slices already checked; ``catching_up``: see
        :func:`.checking.catching_up`."""
        return await self.ingest_soon(raws, origin, catching_up=catching_up).store()

    def ingest_soon(self, raws: list[bytes], origin: str | None = None, *, catching_up: bool = False) -> Pending:
        """:meth:`ingest` in two steps: the checks of a large batch start in
        the worker processes now, and ``store()`` of the result stores what
        passed (a sync session takes in its next batch meanwhile, and stores
        its batches in the order it took them in)."""
        wanted = self.checking.wanted
        if not wanted(len(raws), catching_up=catching_up) or not self.store.neighbourhood:
            self.checking.seal(origin)  # stored in its turn: no later batch joins an earlier one

            async def store_all() -> int:
                return len(await self._take_in(raws, origin, self.store.ingest))

            return Pending(store_all, lambda: None)
        # As the store's ingest does: records already held are skipped before
        # anyone pays for their checks (peers re-send what others sent too),
        # and so are those another session's batch is checking right now.
        arriving = self.arriving
        ids = [quick_id(raw) for raw in raws]
        held = self.store.held([rid for rid in ids if rid is not None])
        mine: set[bytes] = set()
        fresh = []
        for raw, rid in zip(raws, ids):
            if rid is not None and (rid in arriving or rid in mine or rid in held):
                continue
            if rid is not None:
                mine.add(rid)
            fresh.append(raw)
        arriving |= mine
        checks = None
        if wanted(len(fresh), catching_up=catching_up):
            try:
                checks = self.checking.submit(fresh, self.store.neighbourhood, now_ms(), key=origin)
            except BrokenProcessPool:
                log.warning("checking processes stopped; %d records checked here", len(fresh))
        if checks is None:
            self.checking.seal(origin)

        def drop() -> None:
            arriving.difference_update(mine)
            if checks is not None:
                checks.cancel()

        async def store() -> int:
            try:
                if checks is None:
                    return len(await self._take_in(fresh, origin, self.store.ingest))
                return await self._take_in_checked(checks, origin)
            finally:
                drop()

        return Pending(store, drop, joined=checks is not None and checks.joined)

    async def _take_in_checked(self, checks: Checks, origin: str | None) -> int:
        logged = 0
        try:
            async for records, failures in checks.groups():
                if failures:
                    log.info("%d records from %s rejected: %s", len(failures), origin, failures[0].reason)
                    if origin is not None and any(f.forged for f in failures):
                        self.ban(origin, "sent forged or malformed records")
                logged += len(await self._take_in(records, origin, self.store.ingest_verified, STORE_RECORDS))
        except BrokenProcessPool:
            unchecked = checks.unchecked()
            log.warning("checking processes stopped; %d records checked here", len(unchecked))
            logged += len(await self._take_in(unchecked, origin, self.store.ingest))
        return logged

    async def ingest_verified(self, records: list[Record], origin: str | None = None) -> int:
        """Ingest records the gossip validator decoded and verified, without
        decoding or verifying them again; as :meth:`ingest` otherwise."""
        return len(await self._take_in(records, origin, self.store.ingest_verified))

    async def _take_in(self, items: list, origin: str | None, ingest: Callable,
                       slice_size: int = INGEST_SLICE) -> list[Record]:
        """The records of ``items`` newly logged, in order, ``slice_size``
        per store transaction."""
        logged: list[Record] = []
        for start in range(0, len(items), slice_size):
            report = ingest(items[start : start + slice_size], now_ms())
            logged += report.logged
            for record in report.logged[-50:]:
                self.control.publish(_event_of(record, own=False))
            if report.rejected:
                log.info("%d records from %s rejected: %s", len(report.rejected), origin, report.rejected[0])
                if origin is not None and any(is_forgery(r.error) for r in report.rejected):
                    self.ban(origin, "sent forged or malformed records")
            if report.forks:
                log.warning("fork evidence from %s: %s", origin, report.forks)
                self.control.publish(ForkEvent(count=len(report.forks)))
            await trio.sleep(0)
        return logged

    async def _on_gossip(self, records: list[Record], origin: Any, forwarder: Any = None) -> None:
        """Records of a gossip message ``origin`` published and ``forwarder``
        (None: not known) handed over. A cut link is one link: records that
        came over an allowed one are taken whoever wrote them, unless their
        publisher is cut off for misbehaving."""
        peer = str(forwarder if forwarder is not None else origin)
        if self.is_cut_off(peer) or (self.sync is not None and self.sync.is_cut_off(str(origin))):
            return
        # Only records new here can show a new gap: a copy of one already
        # held showed its gap, if any, when it first arrived. The forwarder
        # held the record, and is connected: the planner asks it first.
        logged = await self._take_in(records, peer, self.store.ingest_verified)
        missing = missing_before(logged, self.store.has)
        if missing and self.sync is not None:
            self.sync.gap_seen(peer, missing)

    def _admits(self, record: Record) -> Admission:
        """Gossip validator's membership check: only ADMIT is forwarded. A
        record whose author's membership has not reached us yet is dropped
        there; sync brings it with the records that admit it. A record a
        revoked device wrote after its revocation is not forwarded either."""
        verdict = self.store.admission(record)
        if verdict is Admission.ADMIT and self.gate.past_revocation(record.author, record.seq):
            return Admission.REJECT
        return verdict

    # -- peers and sync --------------------------------------------------------------

    def sync_soon(self, peer: str) -> None:
        """Ask the planner for a full session with ``peer`` (it waits its turn)."""
        if self.sync is not None:
            self.sync.requested(peer)

    @property
    def banned(self) -> dict[str, int]:
        """Peers cut off, and until when (ms, trio's clock)."""
        return dict(self.sync.planner.cut_off) if self.sync is not None else {}

    def ban(self, peer: str, why: str) -> None:
        """Cut a misbehaving peer off (for the planner's BAN_MS)."""
        if self.sync is not None:
            self.sync.hostile(peer, why)

    def is_cut_off(self, peer: str) -> bool:
        if peer in self.denied:
            return True
        return self.sync is not None and self.sync.is_cut_off(peer)

    def not_dialled(self, peer: str) -> bool:
        """Peers discovery neither dials nor remembers: cut off, or not
        members (once this device can tell, see :mod:`.gate`)."""
        return self.is_cut_off(peer) or not self.gate.admits(peer)

    # -- the gatekeeper's hands (see :class:`.gate.Gatekeeper`) -------------------------

    async def _close_peer(self, peer_id: Any) -> None:
        if self.network is not None:
            await self.network.close_peer(peer_id)

    def _forget_peer(self, peer_id: Any) -> None:
        if self.discovery is not None:
            self.discovery.forget(peer_id)
        self.store.forget_peer(str(peer_id))

    def _publish_records(self, raws: list[bytes]) -> None:
        if self.gossip is not None:
            self.gossip.publish(raws)

    def _gossip_with(self, peer_id: Any) -> None:
        """Open gossip with a peer admitted after it connected."""
        pubsub = self.gossip.pubsub if self.gossip is not None else None
        if pubsub is None or self._nursery is None:
            return

        async def add() -> None:
            try:
                await pubsub.ensure_peer_stream(peer_id)
            except Exception as exc:  # noqa: BLE001 - gone already: its next connection adds it
                log.debug("pubsub stream to %s: %r", peer_id, exc)

        self._nursery.start_soon(add)

    async def close_denied(self) -> None:
        if self.network is None:
            return
        for peer_id in list(self.network.connections):
            if self.is_cut_off(str(peer_id)):
                try:
                    await self.network.close_peer(peer_id)
                except Exception as exc:  # noqa: BLE001 - already gone is fine
                    log.debug("closing %s: %s", peer_id, exc)

    async def _on_silent_peer(self, peer_id: Any, reason: str) -> None:
        """The liveness check closed a peer that stopped answering: report it
        down now (with why) and have discovery redial it."""
        peer = str(peer_id)
        if peer in self.connected:
            self.connected.discard(peer)
            self.control.publish(PeerEvent(peer=peer, up=False, silent=reason))
            if self.sync is not None:
                self.sync.peer_down(peer)
        if self.discovery is not None:
            self.discovery.connection_lost(peer_id)

    async def _watch_peers(self) -> None:
        """Look at the connections whenever one comes or goes (at most one
        look per :data:`PEER_WATCH_INTERVAL_S`), and every
        :data:`PEER_WATCH_IDLE_S` anyway; every :data:`PEER_WATCH_INTERVAL_S`
        while a connected peer is not admitted (it may become a member any
        moment: its join taken in the handshake, or brought by sync) or this
        device is not a member yet (its peers count once they took its
        join)."""
        from .connection_events import ConnectionNotifee

        send, changes = trio.open_memory_channel[Any](PEER_WATCH_BACKLOG)
        notifee = ConnectionNotifee(send)
        self.network.register_notifee(notifee)
        try:
            while True:
                waiting = await self._look_at_peers()
                await trio.sleep(PEER_WATCH_INTERVAL_S)
                if not waiting:
                    with trio.move_on_after(PEER_WATCH_IDLE_S - PEER_WATCH_INTERVAL_S):
                        await changes.receive()
                while True:  # the look reads every connection: one is enough
                    try:
                        changes.receive_nowait()
                    except trio.WouldBlock:
                        break
        finally:
            self.network.remove_notifee(notifee)

    async def _look_at_peers(self) -> bool:
        """Report peers that came and went (events, the sync planner, the
        island state and the outage clock); close peers cut off and
        outsiders past their grace. Returns True while a connected peer
        waits to count (not admitted, or not past the join handshake)."""
        from .liveness import live_peers

        await self.close_denied()
        live = {str(p) for p in live_peers(self.network) if not self.is_cut_off(str(p))}
        current = {p for p in live if self.gate.admits(p)}
        await self.gatekeeper.close_outsiders(live - current)
        waiting = bool(live - current)
        if self.gate.open:
            # Not a member yet: a peer counts once it took our join.
            self.gatekeeper.start_joins(current - self.connected, self._nursery)
            current &= self.connected | {p for p in current if self.gatekeeper.joined(p)}
            waiting = True
        fresh = sorted(current - self.connected)
        at_once = []
        for peer in fresh:
            self.control.publish(PeerEvent(peer=peer, up=True))
            if self._leads(peer) and self.peer_exchange is not None:  # one exchange teaches both sides
                self._nursery.start_soon(self._meet, peer)
            else:
                at_once.append(peer)
        if at_once and self.sync is not None:
            self.sync.peers_up(at_once)
        for peer in sorted(self.connected - current):
            self.control.publish(PeerEvent(peer=peer, up=False))
            if self.sync is not None:
                self.sync.peer_down(peer)
        self.connected = current
        island = not current
        self.observe_outage(now_ms(), bool(current))
        if island != self.island:
            self.island = island
            self.control.publish(IslandEvent(island=island, connected=len(current)))
        return waiting

    def observe_outage(self, now: int, reachable: bool) -> None:
        """Feed the outage clock and persist what changed."""
        from meshpantry.pantry.outage_info import load_clock, save_clock

        if self.outage is None:
            self.outage = load_clock(self.store)
        new = self.outage.observe(now, reachable, int(self.settings.outage_after_s * 1000))
        if new != self.outage:
            save_clock(self.store, self.outage, new)
            self.outage = new

    async def _meet(self, peer: str) -> None:
        """A peer this node leads came up: exchange addresses, links and set
        fingerprints first (bounded by MEET_TIMEOUT_S), then tell the sync
        planner, which skips the on-connect session when both sides already
        hold the same set (it could not move a record)."""
        from .discovery_service import MEET_TIMEOUT_S, exchange_addresses

        assert self.peer_exchange is not None
        agrees = await exchange_addresses(self.peer_exchange, peer, MEET_TIMEOUT_S)
        if self.sync is not None and peer in self.connected:
            self.sync.peers_up([peer], agreeing=[peer] if agrees else [])

    async def _watch_horizon(self) -> None:
        """Sample the highest Lamport counter held, for routine syncs."""
        while True:
            self.horizon.observe(_monotonic_ms(), self.store.max_lamport())
            await trio.sleep(RESOLUTION_MS / 1000)

    def _leads(self, peer: str) -> bool:
        """Of two connected peers, the one with the smaller id starts the
        address exchange (as it starts the on-connect sync)."""
        return str(self.host.peer_id) < peer

    # -- lifetime ----------------------------------------------------------------------

    _nursery: trio.Nursery | None = None

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        try:
            await self._run(task_status=task_status)
        finally:
            self.checking.close()

    async def _run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        from .gossip import open_gossip
        from .host import open_host

        async with trio.open_nursery() as nursery:
            await nursery.start(self.control.serve)
            self._nursery = nursery
            if self.store.count() < CATCH_UP_RECORDS:
                self.checking.prepare()  # a new device: its first sync catches up
            if not self._neighbourhood_ready.is_set():
                task_status.started()
                task_status = trio.TASK_STATUS_IGNORED
                log.warning("no neighbourhood yet: waiting for 'neighbourhood create' or 'join'")
                await self._neighbourhood_ready.wait()
            async with open_host(self.settings, self.pantry.key) as host:
                self.host = host
                self.network = host.libp2p.get_network()
                from .liveness import Liveness
                from .streams import safe_handler

                host.libp2p.set_stream_handler(JOIN_PROTOCOL, safe_handler(
                    lambda stream: serve_join(stream, self.gate, self.ingest, self.gatekeeper.took_join), "join"))
                self.liveness = liveness = Liveness.for_host(host.libp2p, on_dead=self._on_silent_peer)
                self.sync = SyncService(
                    me=str(host.peer_id), libp2p=host.libp2p, store=self.store, pantry=self.pantry,
                    liveness=liveness, ingest=self.ingest, ingest_soon=self.ingest_soon, publish=self.control.publish,
                    denied=self.denied, rng=self.rng, horizon=self.horizon, settings=self.settings,
                    progress=self.sync_progress, totals=self.sync_totals, last_sync=self.last_sync,
                    gate=self.gate, limits=ServeLimits(frame_ms=round(self.settings.sync_frame_s * 1000)),
                )
                await nursery.start(self.sync.run)
                async with open_gossip(
                    host, self.store.neighbourhood, self._admits, self._on_gossip, self.settings,
                    on_forged=lambda peer, error: self.ban(str(peer), f"gossip: {error}"),
                    admits_peer=self.gate.admits, reach=self.store.max_lamport,
                ) as gossip:
                    self.gossip = gossip
                    nursery.start_soon(self._watch_peers)
                    nursery.start_soon(self._watch_horizon)
                    await nursery.start(liveness.run)
                    from .discovery_service import start_discovery

                    found = await start_discovery(
                        self.store, host, self.settings, self.rng, self.not_dialled, nursery,
                        busy=lambda peer: bool(self.sync_progress.get(peer, {}).get("active")))
                    self.discovery, self.peer_exchange, self.mdns = found.discovery, found.peer_exchange, found.mdns
                    from libp2p.peer.id import ID

                    self.sync.still_agrees = lambda peer: found.peer_exchange.still_agrees(ID.from_base58(peer))
                    from .discovery_service import refresh_reports

                    nursery.start_soon(refresh_reports, self.peer_exchange, self.discovery, self._leads)
                    log.info("node ready: %s", ", ".join(self.dial_addresses()))
                    task_status.started()
                    await trio.sleep_forever()


def _event_of(record: Record, *, own: bool) -> RecordEvent:
    return RecordEvent(id=record.id.hex(), kind=record.kind, author=record.author.hex(),
                       seq=record.seq, time=record.time, own=own)
