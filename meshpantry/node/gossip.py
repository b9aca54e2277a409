"""Live gossip of records over GossipSub, one topic per neighbourhood.

Gossip is a best-effort accelerator: a record usually reaches every member in
milliseconds this way, and the sync protocol repairs whatever gossip missed.
Nothing is dropped silently, though: every loss we can see is counted in
:class:`GossipStats`.

The message format and its checks are in :mod:`.gossip_batch`.

Validation (:class:`BatchValidator`) runs on every message before it is
delivered or forwarded: every record in it goes through the ingest pipeline's
checks (:mod:`meshpantry.core.ingest`: decoding and limits, neighbourhood,
time bound, signature), then the core's gossip decision
(:func:`meshpantry.core.gossip.decide`, which the simulator's gossip runs
too) applies the Lamport bound against the reach of the node's log and asks
the membership callback ``admits(record)``: the message is
accepted and forwarded only when every record passed, and a record that
fails decoding, its signature or the neighbourhood (honest members only
forward what they accepted) marks the forwarder as faulty or hostile.

Each record of a message is decoded once and its signature checked once: the
validator keeps the records it checked, and delivery hands those very
records to ``on_records`` (the node ingests them with
:meth:`meshpantry.store.Store.ingest_verified`), not the bytes again.

Order: records inside one message arrive in the order published, but py-libp2p
validates messages concurrently, so two messages can be delivered in either
order. Consumers must accept records out of chain order (the store holds a
record until its predecessor arrives; sync fills any gap).

Settings (why: ``meshpantry/node/LIBP2P.md``, "GossipSub settings"): GossipSub
protocol ids ``/meshsub/1.2.0`` then ``/meshsub/1.1.0`` (:data:`GOSSIPSUB_PROTOCOLS`),
heartbeat 1 s, spam protection and adaptive gossip off (both lose data or
memory under our load), StrictSign kept (other policies fail silently against
go and js; a peer whose messages carry no signature is reported once in the
log, by a correction in :mod:`.libp2p_compat`). Publishing is paced (one message per
``gossip_interval_s``, carrying everything queued) and the subscription is
drained at all times into our own bounded buffer. The library's per-peer
queues are enlarged, a peer's bad RPC is contained to its stream and signed
peer records are checked once: corrections installed with the host
(:mod:`.libp2p_compat`); the router's delivery log is trimmed here
(:func:`.libp2p_compat.trim_delivery_log`).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict, deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import AsyncIterator, Awaitable, Callable, Iterable

import trio
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11, PROTOCOL_ID_V12, GossipSub
from libp2p.pubsub.pb import rpc_pb2
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from meshpantry.core.gossip import decide
from protocol import Record
from protocol.errors import RemoteError

from . import libp2p_compat
from .config import NodeSettings
from .gate import JOIN_GRACE_S
from .gossip_batch import (
    MAX_BATCH_BYTES,
    MAX_BATCH_RECORDS,
    Admits,
    decode_and_check,
    encode_batch,
    message_id,
    topic_for,
)
from .host import RunningHost

log = logging.getLogger(__name__)

#: Records waiting to be published. Beyond it the oldest are dropped (and
#: counted): they are in the store, and sync will carry them.
MAX_QUEUED_RECORDS = 20_000

#: Validated messages waiting for ``on_records``. The library's own
#: subscription queue holds 32 and drops silently, so we empty it at once into
#: this larger one, which drops (counted) only when the consumer stalls.
MAX_PENDING_DELIVERIES = 1024

#: Seconds the library lets one message's validation run before dropping it
#: and caching it as invalid. Its 5 s default is too short for a full batch
#: on a Raspberry Pi shared with a busy sync (~0.5 s alone, more under load).
VALIDATION_TIMEOUT_S = 30.0

#: Seconds between trims of the router's per-message delivery log, which
#: py-libp2p only trims on its adaptive-gossip path (switched off here): left
#: alone it grows by one entry per message for ever.
TRIM_INTERVAL_S = libp2p_compat.DELIVERY_LOG_KEEP_S

#: Re-exported: the per-peer queue size set by :mod:`.libp2p_compat`.
PEER_QUEUE_RPCS = libp2p_compat.PEER_QUEUE_RPCS

#: GossipSub versions offered, preferred first (protocol/SPEC.md, section 9.2).
#: go-libp2p and js-libp2p offer 1.2 first; py-libp2p 0.8.1 speaks 1.2 (1.1
#: plus IDONTWANT, which saves forwarding a batch to a peer that already has
#: it). 1.1 stays for peers that stop there. 1.0 is not offered: every
#: current implementation speaks 1.1, and each version offered is one more
#: path to test; 1.3 and later are not offered until py-libp2p's support has
#: been tried against other implementations.
GOSSIPSUB_PROTOCOLS = (PROTOCOL_ID_V12, PROTOCOL_ID_V11)

#: Mesh degree: target, low and high. A neighbourhood has tens of nodes;
#: six links keep two hops to everyone without flooding a Raspberry Pi.
MESH_DEGREE, MESH_DEGREE_LOW, MESH_DEGREE_HIGH = 6, 4, 12

#: Seconds between two looks at whether a peer whose pubsub stream is held
#: unread has been admitted meanwhile (a newcomer's join just taken).
ADMIT_POLL_S = 0.25

#: Seconds between GossipSub heartbeats (mesh repair, gossip of ids).
HEARTBEAT_INTERVAL_S = 1

#: Validated messages whose checked records wait for delivery. Delivery takes
#: them as soon as the library hands the message over, so only messages in
#: between wait here; a message pushed out is checked again on delivery
#: (counted in ``GossipStats.rechecked_messages``). At most 64 x 256 KiB.
MAX_CHECKED_MESSAGES = 64

#: ``on_records(records, origin, forwarder)``: the publisher of the message
#: and the peer that handed it to us (None when not known any more).
OnRecords = Callable[[list[Record], ID, "ID | None"], Awaitable[None]]


def wall_clock_ms() -> int:
    """This device's wall clock in ms (the time bound of the checks)."""
    return int(time.time() * 1000)


@dataclass
class GossipStats:
    """Counters for the status page. Records and messages are counted apart."""

    published_messages: int = 0
    published_records: int = 0
    received_messages: int = 0  #: valid messages from others, delivered to us
    received_records: int = 0
    invalid_messages: int = 0  #: failed validation: not delivered, not forwarded
    dropped_records: int = 0  #: lost by us: publish queue or delivery buffer full
    publish_errors: int = 0  #: publish calls that raised (records counted dropped)
    validation_timeouts: int = 0  #: messages the library stopped validating (dropped)
    rechecked_messages: int = 0  #: delivered after their checked records were pushed out
    duplicates_dropped: int = 0  #: copies that came while the same message was validated


class BatchValidator:
    """The topic validator: ``await validator(forwarder, msg) -> bool``.

    Our own publishes are trusted (their records came out of our store);
    everything else goes through :func:`.gossip_batch.check_batch`'s checks,
    the stateless ones on a worker thread (a 512-record batch takes ~100 ms of
    CPU) so the event loop keeps running, and ``admits`` back in trio. The
    records of a valid message are kept for :meth:`take`, so delivery does not
    decode or verify them again.
    """

    def __init__(
        self, own_id: ID, neighbourhood: bytes, admits: Admits, stats: GossipStats,
        on_forged: Callable[[ID, RemoteError], None] | None = None,
        clock: Callable[[], int] = wall_clock_ms,
        reach: Callable[[], int] | None = None,
    ) -> None:
        self.own_id, self.neighbourhood, self.admits, self.stats = own_id, neighbourhood, admits, stats
        self.on_forged = on_forged
        #: the Lamport reach of the node's log (step 5b), or None to skip it
        self.reach = reach
        self.clock = clock
        self._checked: OrderedDict[bytes, list[Record]] = OrderedDict()
        #: message id -> the peer that handed it over, for gap repair.
        self._forwarders: OrderedDict[bytes, ID] = OrderedDict()

    async def __call__(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if forwarder == self.own_id and msg.from_id == self.own_id.to_bytes():
            return True
        try:
            try:
                checked: list[Record] | RemoteError = await trio.to_thread.run_sync(
                    decode_and_check, msg.data, self.neighbourhood, self.clock()
                )
            except RemoteError as error:
                checked = error
            decision = decide(checked, self.admits, None if self.reach is None else self.reach())
        except trio.Cancelled:
            self.stats.validation_timeouts += 1  # the library gave up (or we stop)
            raise
        except Exception:  # a bug in admits() must not reach the library
            self.stats.invalid_messages += 1
            log.exception("gossip validation failed unexpectedly; message dropped")
            return False
        if not decision.forward:
            self.stats.invalid_messages += 1
            log.info("gossip from %s rejected: %s", forwarder, decision.error)
            if self.on_forged is not None and decision.blame:
                # Members forward only what they validated: a record failing a
                # check every member runs marks the forwarder itself as faulty.
                self.on_forged(forwarder, decision.error)  # type: ignore[arg-type]
            return False
        records = list(decision.records)
        self._checked[message_id(msg)] = records
        self._forwarders[message_id(msg)] = forwarder
        while len(self._checked) > MAX_CHECKED_MESSAGES:
            self._checked.popitem(last=False)
        while len(self._forwarders) > MAX_CHECKED_MESSAGES:
            self._forwarders.popitem(last=False)
        return True

    def forwarder(self, msg: rpc_pb2.Message) -> ID | None:
        """The peer that handed ``msg`` to us (once), or None if forgotten."""
        return self._forwarders.pop(message_id(msg), None)

    def take(self, msg: rpc_pb2.Message) -> list[Record] | None:
        """The records this validator checked for ``msg`` (once), or None if
        it kept none (pushed out, or never validated here)."""
        return self._checked.pop(message_id(msg), None)

    async def checked_records(self, msg: rpc_pb2.Message) -> list[Record]:
        """The records of a delivered message: those checked by validation,
        or, if they were pushed out meanwhile, checked again now. Raises a
        :class:`~protocol.errors.RemoteError` only in that second case."""
        records = self.take(msg)
        if records is None:
            self.stats.rechecked_messages += 1
            records = await trio.to_thread.run_sync(
                decode_and_check, msg.data, self.neighbourhood, self.clock()
            )
        return records


class NodePubsub(Pubsub):
    """Pubsub that validates a message once however many peers send it
    (:meth:`push_msg`), without the library's replay of recent messages to a
    new peer.

    py-libp2p 0.8 sends every new peer the message cache's last three
    heartbeats of messages, one RPC each, once the peer's stream is up and
    again on its subscription. A node has no use for them: the sync on
    connect brings everything the peer lacks in one session, and a record
    published while the link forms reaches the peer by the mesh, the
    heartbeat's IHAVE, gap repair or the next sync. After islands rejoin,
    every new link replayed the window to a peer that checked the records
    again, while the same records came by sync, and forwarded them to its
    whole mesh. See LIBP2P.md, "Pubsub: no replay on a new link"."""

    def __init__(self, *args: object, stats: GossipStats, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.stats = stats  #: the gossip service's counters (``duplicates_dropped``)
        #: Ids of the messages being validated now (see :meth:`push_msg`).
        self.validating: set[bytes] = set()

    async def push_msg(self, msg_forwarder: ID, msg: rpc_pb2.Message) -> None:
        """The library's ``push_msg``, but a message that arrives while a
        copy of it is being validated is dropped as already seen.

        py-libp2p marks a message seen only once its validation passed, and
        validation waits for our checks (a worker thread, tens of
        milliseconds a batch): every copy that came from another mesh peer
        meanwhile was checked again, record by record, and forwarded again:
        on five nodes writing 500 records live, up to 38% more signature
        checks than records. The message id is the hash of the data
        (:func:`.gossip_batch.message_id`), and validation judges the data
        alone, so a copy has the verdict of the first. If the first fails,
        the message is not marked seen and a later copy is judged afresh; a
        copy dropped meanwhile is one the sync brings if anyone holds it."""
        key = self._msg_id_constructor(msg)
        if key in self.validating:
            self.stats.duplicates_dropped += 1
            return
        self.validating.add(key)
        try:
            await super().push_msg(msg_forwarder, msg)
        finally:
            self.validating.discard(key)

    async def _send_recent_messages_to_new_peer(self, peer_id: ID) -> None:
        return None

    async def _replay_recent_messages(self, peer_id: ID, topic: str) -> None:
        return None


class GatedPubsub(NodePubsub):
    """Pubsub that talks only to the peers ``admits_peer`` lets through: it
    opens no stream to anyone else, and reads none of theirs. A stream from a
    peer not admitted is held unread for ``admit_wait_s`` (a newcomer's join
    handshake usually lands meanwhile: then it is read from then on), and
    reset if the peer is still not admitted; what it sent meanwhile waits in
    the stream's receive window (bounded, see LIBP2P.md). One stream per
    peer is held; any other is reset at once. So a peer that is
    not a member neither reads the topic nor feeds it (nor costs a signature
    check). :meth:`ensure_peer_stream` adds a peer admitted later."""

    def __init__(self, *args: object, admits_peer: Callable[[ID], bool],
                 admit_wait_s: float = JOIN_GRACE_S, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.admits_peer = admits_peer
        self.admit_wait_s = admit_wait_s
        self.refused = 0  #: streams and peers refused since start
        self._held: set[ID] = set()  # peers with a stream held unread

    async def _handle_new_peer(self, peer_id: ID) -> None:
        if not self.admits_peer(peer_id):
            self.refused += 1
            return
        await super()._handle_new_peer(peer_id)

    async def stream_handler(self, stream) -> None:  # type: ignore[no-untyped-def]
        peer_id = stream.muxed_conn.peer_id
        if not self.admits_peer(peer_id):
            if peer_id in self._held:  # one held stream per peer: its window bounds what waits
                self.refused += 1
                await stream.reset()
                return
            self._held.add(peer_id)
            try:
                with trio.move_on_after(self.admit_wait_s):
                    while not self.admits_peer(peer_id):
                        await trio.sleep(ADMIT_POLL_S)
            finally:
                self._held.discard(peer_id)
            if not self.admits_peer(peer_id):
                self.refused += 1
                await stream.reset()
                return
        await super().stream_handler(stream)


#: Seconds a new gossip peer is sent no IHAVE: longer than the message
#: cache's gossip window (3 heartbeats), so what was cached before the link
#: came up is never advertised on it.
NEW_PEER_QUIET_S = 4.0


class NodeGossipSub(GossipSub):
    """GossipSub that advertises no cached message (IHAVE) to a peer added
    less than :data:`NEW_PEER_QUIET_S` ago.

    A new peer's on-connect sync brings what it lacks; IHAVE would pull the
    cache window's messages over the new link one by one (the lazy
    counterpart of the replay :class:`NodePubsub` leaves out). When islands
    rejoin right after their members wrote, each such message then crossed
    to the other islands and flooded each of them, every member receiving
    it from most of its mesh: heals in which that happened took 1.2 to 2
    times the CPU of heals in which it did not. Live messages still reach
    the new peer through the mesh at once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self._added_at: dict[ID, float] = {}

    def add_peer(self, peer_id: ID, protocol_id) -> None:  # type: ignore[no-untyped-def]
        super().add_peer(peer_id, protocol_id)
        self._added_at[peer_id] = time.monotonic()

    def remove_peer(self, peer_id: ID) -> None:
        self._added_at.pop(peer_id, None)
        super().remove_peer(peer_id)

    def gossip_heartbeat(self):  # type: ignore[no-untyped-def]
        peers_to_gossip = super().gossip_heartbeat()
        settled = time.monotonic() - NEW_PEER_QUIET_S
        for peer in [p for p in peers_to_gossip if self._added_at.get(p, settled) > settled]:
            del peers_to_gossip[peer]
        return peers_to_gossip


def build_router() -> GossipSub:
    """Our GossipSub settings. The corrections to py-libp2p's pubsub are in
    place once a host was built (:func:`.host.build_host`)."""
    assert libp2p_compat.installed(), "build the host first: it installs libp2p_compat"
    return NodeGossipSub(
        list(GOSSIPSUB_PROTOCOLS),
        degree=MESH_DEGREE,
        degree_low=MESH_DEGREE_LOW,
        degree_high=MESH_DEGREE_HIGH,
        heartbeat_interval=HEARTBEAT_INTERVAL_S,
        spam_protection_enabled=False,
        adaptive_gossip_enabled=False,
        # Every member of one LAN shares a subnet (often one address behind a
        # hotspot); IP diversity means nothing here.
        eclipse_protection_enabled=False,
    )


class Gossip:
    """A running gossip service; made by :func:`open_gossip`.

    ``publish(raws)`` never blocks: it queues records for the paced publisher.
    """

    def __init__(self, host: RunningHost, neighbourhood: bytes, settings: NodeSettings) -> None:
        self.host = host
        self.topic = topic_for(neighbourhood)
        self.settings = settings
        self.stats = GossipStats()
        self.pubsub: Pubsub | None = None
        self._queue: deque[bytes] = deque()
        self._wakeup = trio.Event()

    def publish(self, raws: Iterable[bytes]) -> None:
        """Queue records (already accepted into our store) for gossip."""
        for raw in raws:
            if len(self._queue) >= MAX_QUEUED_RECORDS:
                self._queue.popleft()
                self.stats.dropped_records += 1
            self._queue.append(raw)
        self._wakeup.set()

    @property
    def queued(self) -> int:
        return len(self._queue)

    def topic_peers(self) -> list[ID]:
        """Peers subscribed to our topic (those gossip can reach directly)."""
        if self.pubsub is None:
            return []
        return list(self.pubsub.peer_topics.get(self.topic, ()))

    async def _publish_loop(self) -> None:
        assert self.pubsub is not None
        while True:
            await self._wakeup.wait()
            self._wakeup = trio.Event()
            while self._queue:
                batch = self._take_batch()
                try:
                    await self.pubsub.publish(self.topic, encode_batch(batch))
                except Exception as error:  # the library raises assorted errors
                    self.stats.publish_errors += 1
                    self.stats.dropped_records += len(batch)
                    log.warning("gossip publish failed: %r", error)
                else:
                    self.stats.published_messages += 1
                    self.stats.published_records += len(batch)
                await trio.sleep(self.settings.gossip_interval_s)

    def _take_batch(self) -> list[bytes]:
        batch: list[bytes] = []
        size = 5
        while self._queue and len(batch) < MAX_BATCH_RECORDS:
            cost = len(self._queue[0]) + 5
            if batch and size + cost > MAX_BATCH_BYTES:
                break
            batch.append(self._queue.popleft())
            size += cost
        return batch

    def trim_delivery_log(self, now: float) -> int:
        """Forget router delivery timestamps older than a minute before
        ``now`` (``time.time()`` seconds); returns how many were dropped."""
        if self.pubsub is None:
            return 0
        return libp2p_compat.trim_delivery_log(self.pubsub.router, now)

    async def _trim_loop(self) -> None:
        while True:
            await trio.sleep(TRIM_INTERVAL_S)
            self.trim_delivery_log(time.time())

    async def _drain_loop(
        self, subscription, deliveries: trio.MemorySendChannel, validator: BatchValidator
    ) -> None:
        own = self.host.peer_id.to_bytes()
        while True:
            msg = await subscription.get()
            if msg.from_id == own:
                continue  # our own publish, echoed back by the library
            try:
                records = await validator.checked_records(msg)
            except RemoteError:
                self.stats.invalid_messages += 1
                continue
            try:
                deliveries.send_nowait((records, ID(msg.from_id), validator.forwarder(msg)))
            except trio.WouldBlock:
                self.stats.dropped_records += len(records)
                log.warning("gossip delivery buffer full; %d records left to sync", len(records))

    async def _deliver_loop(self, deliveries: trio.MemoryReceiveChannel, on_records: OnRecords) -> None:
        async for records, origin, forwarder in deliveries:
            self.stats.received_messages += 1
            self.stats.received_records += len(records)
            try:
                await on_records(records, origin, forwarder)
            except Exception:  # a consumer bug must not stop gossip
                log.exception("on_records failed for %d gossiped records", len(records))


@asynccontextmanager
async def open_gossip(
    host: RunningHost,
    neighbourhood: bytes,
    admits: Admits,
    on_records: OnRecords,
    settings: NodeSettings,
    *,
    on_forged: Callable[[ID, RemoteError], None] | None = None,
    admits_peer: Callable[[ID], bool] | None = None,
    reach: Callable[[], int] | None = None,
) -> AsyncIterator[Gossip]:
    """Run GossipSub on ``host`` for one neighbourhood while the block runs.

    ``admits(record) -> Admission`` is asked for every record of every message
    (after the stateless checks); only ADMIT passes. ``on_records(records,
    origin, forwarder)`` gets the checked records of every valid message from
    another node, in arrival order, one call at a time, with the message's
    publisher and the peer that handed it over (None if not known). Start this before dialling
    peers so that every connection also carries gossip. With
    ``admits_peer(peer_id) -> bool`` (the membership gate) gossip runs only
    with the peers it admits (:class:`GatedPubsub`). With ``reach() -> int``
    (the Lamport reach of the node's log) a message carrying a counter beyond
    it is ignored, not forwarded (the ingest pipeline's step 5b).
    """
    gossip = Gossip(host, neighbourhood, settings)
    validator = BatchValidator(host.peer_id, neighbourhood, admits, gossip.stats, on_forged, reach=reach)
    router = build_router()
    options = dict(msg_id_constructor=message_id, validation_timeout=VALIDATION_TIMEOUT_S)
    pubsub = (NodePubsub(host.libp2p, router, stats=gossip.stats, **options) if admits_peer is None
              else GatedPubsub(host.libp2p, router, admits_peer=admits_peer, admit_wait_s=settings.join_grace_s,
                               stats=gossip.stats, **options))
    pubsub.set_topic_validator(
        gossip.topic, validator, True
    )
    gossip.pubsub = pubsub
    async with background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(gossip.topic)
        send, receive = trio.open_memory_channel(MAX_PENDING_DELIVERIES)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gossip._drain_loop, subscription, send, validator)
            nursery.start_soon(gossip._deliver_loop, receive, on_records)
            nursery.start_soon(gossip._publish_loop)
            nursery.start_soon(gossip._trim_loop)
            try:
                yield gossip
            finally:
                nursery.cancel_scope.cancel()
