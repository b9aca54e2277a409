"""The membership gate: who may use this node.

Rules:

* A peer's libp2p id *is* its device key: the Ed25519 key that signs the
  device's records is also its libp2p identity (:func:`.host.author_from_peer_id`
  reads one from the other; a peer id of any other key type is nobody's
  device). So a connection tells, from its Noise handshake alone, which
  device is at the other end.
* A **member** is a device the log admits (its join or device link counts)
  that is not revoked, and not denied by hand on this node.
* Members may sync (both ways), gossip (GossipSub opens streams to members
  only and resets theirs from anyone else, so a non-member neither reads the
  topic nor feeds it), exchange addresses, and count as neighbours.
* A **newcomer** holding an invite gets the join handshake and nothing else:
  on :data:`JOIN_PROTOCOL` it hands over its own join record; the member
  ingests it like any record (the invite, the proof and the neighbourhood are
  checked by the ingest pipeline) and answers whether the newcomer is now a
  member. Then, and only then, it may sync.
* Any other peer (a non-member, a node of another neighbourhood, a revoked
  device) keeps its connection for :data:`JOIN_GRACE_S` at most, in which only
  the join handshake answers it; then the connection is closed with a logged
  reason, and the peer is neither remembered in the address book nor dialled
  again.
* While this device is not itself a member of its own log (it has just
  joined and has not yet received the records that admit it), it cannot tell
  members from anyone else: the gate is *open* and it talks to every peer it
  reaches. It only asks, and everything it receives is checked as always.

Theory of operation: :class:`MembershipGate` answers "is this peer a
member" from the store, with the revoked and the counted devices counted
from the membership records the log holds (``Store.roster``, the views'
own rule over those records alone), read again only once a membership
record (a join, link, invite or revoke) arrived since the last read, looked
for at most once per :data:`REVOKED_REFRESH_S` (the gate is asked per
connection and per stream, never per record). It never reads the views:
reading them brings every view table up to the log, which a bulk ingest (a
heal's sync, a new device's catch-up) leaves behind on purpose. Read on
every change of the log, the gate made each node fold every healed record
into its views while it healed, and a new device folded its whole
neighbourhood the moment its own join arrived, before it was in step.
:class:`Gatekeeper` acts on the answers for the node (closing outsiders,
handing over our join). :func:`serve_join` and :func:`request_join` are the
two ends of the join handshake: one frame each way, each a 4-byte big-endian length and a body
(the join record's raw bytes; the answer's canonical msgpack
``{"member": bool, "reason": str}``).
"""

from __future__ import annotations

import functools
import logging
import struct
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Collection

import trio
from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import canonical, decode_record, limits
from protocol.errors import DecodeError, RemoteError

from .host import NotAnAuthor, author_from_peer_id
from .streams import StreamChannel

log = logging.getLogger(__name__)

JOIN_PROTOCOL = TProtocol("/meshpantry/join/1")

#: Seconds a peer that is not a member keeps its connection: time to dial,
#: agree on the join protocol and hand over one record (well under a second
#: on a LAN), with room for a Raspberry Pi that is busy syncing.
JOIN_GRACE_S = 10.0

#: Join handshakes one peer may start per :data:`JOIN_GRACE_S`: a newcomer
#: needs one (a second if its first member did not know the invite yet);
#: each costs us a signature check and a store transaction.
MAX_JOIN_ATTEMPTS = 3

#: Seconds the revoked devices read from the roster stay trusted while
#: membership records keep arriving (a revoke reaches the gate within this long).
REVOKED_REFRESH_S = 1.0

#: A join handshake's frames: the join record (at most a record's size) one
#: way, a short answer the other.
MAX_JOIN_FRAME = limits.MAX_RECORD_BYTES
LENGTH = struct.Struct(">I")


class JoinRefused(RemoteError):
    """The other side of a join handshake did not make us a member; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"join refused: {reason}")
        self.reason = reason


def device_of(peer: ID | str) -> bytes | None:
    """The device key a peer id carries, or None for ids that carry none."""
    return _device_of_text(str(peer))


#: Peer ids whose device key is remembered (the gate is asked about the same
#: few peers many times a second; decoding base58 and the key each time cost
#: a healing node a few percent of its CPU).
DEVICE_CACHE = 1024


@functools.lru_cache(maxsize=DEVICE_CACHE)
def _device_of_text(peer: str) -> bytes | None:
    try:
        return author_from_peer_id(ID.from_base58(peer))
    except (NotAnAuthor, ValueError, TypeError):
        return None
    except Exception:  # noqa: BLE001 - a malformed id text is nobody's device
        return None


class MembershipGate:
    """Whether a peer is a member, from ``store``; ``me`` is this device's key,
    ``denied`` the peer ids (text) denied by hand."""

    def __init__(self, store: Any, me: bytes, denied: set[str], *, clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.me, self.denied, self.clock = store, me, denied, clock
        self._revoked: dict[bytes, int] = {}  # device -> the seq after which it was revoked
        self._counted: Collection[bytes] = ()  # devices whose join or link counts (the roster)
        self._revoked_at = (-1, float("-inf"))  # (log position, clock) of the last read
        self._join_attempts: dict[str, list[float]] = {}  # peer -> clock readings of its recent tries

    @property
    def open(self) -> bool:
        """True while this device is not a member of its own log (see the rules)."""
        return not self._is_member_device(self.me)

    def is_member(self, peer: ID | str, *, fresh: bool = False) -> bool:
        """Whether ``peer`` is a member device, not revoked, not denied: the
        log admits it and its join or link counts (the roster) (a join made
        with a spent, expired or cancelled invite is stored but never counts).
        ``fresh`` reads the roster again if a membership record arrived since the last read."""
        if str(peer) in self.denied:
            return False
        device = device_of(peer)
        if device is None or not self._is_member_device(device):
            return False
        revoked = self._revoked_devices(fresh=fresh)
        return device in self._counted and device not in revoked

    def past_revocation(self, author: bytes, seq: int) -> bool:
        """Whether a record ``seq`` of ``author`` comes after the author's
        revocation: such records are not forwarded by gossip (they never
        count; a revoked device gets no more reach through this node)."""
        after = self._revoked_devices().get(author)
        return after is not None and seq > after

    def admits(self, peer: ID | str) -> bool:
        """Whether ``peer`` may use this node beyond the join handshake."""
        if str(peer) in self.denied:
            return False
        return self.open or self.is_member(peer)

    def may_try_join(self, peer: str) -> bool:
        """Count a join handshake ``peer`` starts; False once it started
        :data:`MAX_JOIN_ATTEMPTS` within :data:`JOIN_GRACE_S`."""
        now = self.clock()
        for other in [p for p, times in self._join_attempts.items() if now - times[-1] >= JOIN_GRACE_S]:
            del self._join_attempts[other]
        recent = [t for t in self._join_attempts.get(peer, []) if now - t < JOIN_GRACE_S]
        if len(recent) >= MAX_JOIN_ATTEMPTS:
            return False
        self._join_attempts[peer] = recent + [now]
        return True

    def _is_member_device(self, device: bytes) -> bool:
        try:
            return self.store.is_member_device(device)
        except Exception:  # noqa: BLE001 - no neighbourhood yet: nobody is
            return False

    def _revoked_devices(self, *, fresh: bool = False) -> dict[bytes, int]:
        """The revoked devices (and, beside them, the counted ones) read from
        the membership roster, trusted for :data:`REVOKED_REFRESH_S` unless ``fresh``,
        and read again only if a membership record arrived since."""
        position, read_at = self._revoked_at
        now = self.clock()
        if now - read_at < REVOKED_REFRESH_S and not fresh:
            return self._revoked
        current = self.store.membership_position()
        if current != position:
            try:
                roster = self.store.roster()
                self._revoked, self._counted = dict(roster.revoked), frozenset(roster.households)
            except Exception:  # noqa: BLE001 - no neighbourhood yet
                self._revoked, self._counted = {}, frozenset()
                current = -1  # read again next time
        self._revoked_at = (current, now)
        return self._revoked


# -- the join handshake --------------------------------------------------------------

Ingest = Callable[[list[bytes], str], Awaitable[Any]]


def _frame(body: bytes) -> bytes:
    return LENGTH.pack(len(body)) + body


async def _read_frame(channel: StreamChannel) -> bytes:
    (size,) = LENGTH.unpack(await channel.read_exactly(LENGTH.size))
    if not 0 < size <= MAX_JOIN_FRAME:
        raise DecodeError(f"join frame of {size} bytes (1..{MAX_JOIN_FRAME})")
    return await channel.read_exactly(size)


def own_join(store: Any, me: bytes) -> bytes | None:
    """This device's own join record, raw, or None (a founder, a linked device)."""
    for raw in store.chain(me)[:4]:  # the join is a device's first or second record
        if decode_record(raw).kind == "join":
            return raw
    return None


async def serve_join(stream: Any, gate: MembershipGate, ingest: Ingest, on_member: Callable[[str], Any]) -> None:
    """The member's end: take the newcomer's join record, ingest it, answer.

    The record must be a ``join`` signed by the device at the other end of
    the connection; the ingest pipeline checks the rest (neighbourhood,
    signature, invite, proof). ``on_member(peer)`` runs when the peer is a
    member afterwards. Raises a :class:`~protocol.errors.RemoteError` (the
    caller resets the stream) for a frame that is not such a record."""
    channel = StreamChannel(stream)
    peer = str(channel.peer_id)
    if not gate.is_member(peer) and not gate.may_try_join(peer):
        raise JoinRefused(f"more than {MAX_JOIN_ATTEMPTS} join handshakes within {JOIN_GRACE_S:g} s")
    raw = await _read_frame(channel)
    if not gate.is_member(peer):
        record = decode_record(raw)
        if record.kind != "join" or record.author != device_of(peer):
            raise JoinRefused(f"a join handshake carries the peer's own join record, not a {record.kind}")
        await ingest([raw], peer)
    member = gate.is_member(peer, fresh=True)
    reason = "" if member else "this node does not know the invite, or it is spent, expired or revoked"
    log.info("join handshake with %s: %s", peer, "now a member" if member else f"refused ({reason})")
    await channel.write(_frame(canonical.encode({"member": member, "reason": reason})))
    await channel.close()
    if member:
        on_member(peer)


async def request_join(libp2p: Any, peer_id: ID, join_raw: bytes) -> None:
    """The newcomer's end: hand ``join_raw`` to ``peer_id``. Returns once it
    says we are a member; raises :class:`JoinRefused` when it does not, and
    the stream's errors when it cannot answer."""
    stream = await libp2p.new_stream(peer_id, [JOIN_PROTOCOL])
    channel = StreamChannel(stream)
    try:
        await channel.write(_frame(join_raw))
        answer = canonical.decode(await _read_frame(channel), what="join answer", max_bytes=MAX_JOIN_FRAME)
    finally:
        await channel.close()
    if not isinstance(answer, dict) or answer.get("member") is not True:
        reason = answer.get("reason") if isinstance(answer, dict) else None
        raise JoinRefused(str(reason or "no reason given")[:200])


class Outsiders:
    """Connected peers the gate does not admit, and since when (trio time):
    :meth:`due` names those whose :data:`JOIN_GRACE_S` ran out."""

    def __init__(self, grace_s: float = JOIN_GRACE_S) -> None:
        self.grace_s = grace_s
        self.since: dict[str, float] = {}
        self.closed = 0  #: connections closed for want of membership since start

    def due(self, outsiders: set[str], now: float) -> list[str]:
        """Note ``outsiders`` (connected now, not admitted); forget the rest;
        return those connected past the grace, oldest first."""
        for peer in list(self.since):
            if peer not in outsiders:
                del self.since[peer]
        for peer in outsiders:
            self.since.setdefault(peer, now)
        return sorted((p for p in outsiders if now - self.since[p] >= self.grace_s), key=self.since.__getitem__)


# -- what the node does about the gate's answers ------------------------------------

#: Seconds one join handshake may take (a member answers in milliseconds).
JOIN_TIMEOUT_S = 10.0
#: Seconds before a join handshake a peer refused is tried again (its node
#: may learn the invite meanwhile, through another member).
JOIN_RETRY_S = 10.0
#: Marks a peer that took our join.
_JOINED = float("inf")


@dataclass(frozen=True)
class GatekeeperActions:
    """What the gatekeeper may do to the node's networking."""

    libp2p: Callable[[], Any]  #: the running host's libp2p host
    close_peer: Callable[[ID], Awaitable[None]]  #: close every connection to a peer
    forget: Callable[[ID], None]  #: drop a peer from discovery and the address book
    publish: Callable[[list[bytes]], None]  #: gossip records
    gossip_with: Callable[[ID], None]  #: open gossip with a peer admitted late


class Gatekeeper:
    """Acts on the gate, from the node's peer watch: closes outsiders after
    their grace (forgotten, never dialled again), and, while the gate is
    open, hands this device's join to each peer it reaches. Also the
    member's side of a taken join: gossips the newcomer's join record, so
    every member knows it within moments, and opens gossip with it."""

    def __init__(self, gate: MembershipGate, store: Any, me: bytes, actions: GatekeeperActions,
                 grace_s: float = JOIN_GRACE_S) -> None:
        self.gate, self.store, self.me, self.actions = gate, store, me, actions
        self.outsiders = Outsiders(grace_s)
        self._join_tried: dict[str, float] = {}  # peer -> trio time of our last try, or _JOINED

    def joined(self, peer: str) -> bool:
        """Whether ``peer`` took our join (or we had none to hand over)."""
        return self._join_tried.get(peer) == _JOINED

    async def close_outsiders(self, outsiders: set[str]) -> None:
        """Close the peers of ``outsiders`` (connected, not admitted) whose
        join grace ran out; forget them so they are not dialled again."""
        for peer in self.outsiders.due(outsiders, trio.current_time()):
            log.warning("closing the connection to %s: not a member of this neighbourhood", peer)
            self.outsiders.closed += 1
            peer_id = ID.from_base58(peer)
            self.actions.forget(peer_id)
            try:
                await self.actions.close_peer(peer_id)
            except Exception as exc:  # noqa: BLE001 - already gone is fine
                log.debug("closing %s: %r", peer, exc)

    def start_joins(self, peers: set[str], nursery: trio.Nursery) -> None:
        """Hand our join record to each of ``peers`` not tried within
        :data:`JOIN_RETRY_S` (in ``nursery``)."""
        if not peers:
            return
        join = own_join(self.store, self.me)
        now = trio.current_time()
        for peer in sorted(peers):
            tried = self._join_tried.get(peer)
            if tried == _JOINED or (tried is not None and now - tried < JOIN_RETRY_S):
                continue
            if join is None:  # a founder, a linked or restored device: nothing to hand over
                self._join_tried[peer] = _JOINED
                continue
            self._join_tried[peer] = now
            nursery.start_soon(self._join_via, peer, join)

    async def _join_via(self, peer: str, join: bytes) -> None:
        try:
            with trio.fail_after(JOIN_TIMEOUT_S):
                await request_join(self.actions.libp2p(), ID.from_base58(peer), join)
        except trio.Cancelled:
            raise
        except JoinRefused as refused:
            log.warning("%s did not take our join: %s", peer, refused.reason)
            return
        except Exception as exc:  # noqa: BLE001 - gone, or a node that predates the handshake: try to sync
            log.info("join handshake with %s failed: %r", peer, exc)
        self._join_tried[peer] = _JOINED
        self.admitted(peer)

    def took_join(self, peer: str) -> None:
        """A newcomer's join, handed to us, made it a member."""
        device = device_of(peer)
        join = own_join(self.store, device) if device is not None else None
        if join is not None:
            self.actions.publish([join])
        self.admitted(peer)

    def admitted(self, peer: str) -> None:
        """``peer`` is a member now (or we are, to it): gossip with it."""
        self.outsiders.since.pop(peer, None)
        self.actions.gossip_with(ID.from_base58(peer))
