"""Peer exchange: connected members tell each other where members listen,
whom they are connected to, and which record set they hold.

Protocol ``/meshpantry/peers/2`` (``/meshpantry/peers/1`` is still served),
one exchange per stream:

1. the opener sends one frame, the answerer reads it;
2. the answerer sends one frame back; both close.

A frame is a 4-byte big-endian length (1..:data:`MAX_FRAME_BYTES`) followed
by canonical msgpack ``{"links": [peer_id, ...], "peers": [[peer_id,
[address, ...]], ...], "set": fingerprint}``: ``peer_id`` is the libp2p peer
id's bytes, each address a multiaddr string without ``/p2p``. ``peers``: the
sender lists itself first (where it listens), then the peers it has reached
at least once. At most :data:`MAX_PEERS` entries of at most
:data:`MAX_ADDRS` addresses of at most :data:`MAX_ADDRESS_CHARS` each.
``links``: the peers the sender is connected to now (at most
:data:`MAX_PEERS`), which the connection target reads
(:mod:`.connection_target`). ``set``: the sync fingerprint of every record
the sender holds (``protocol/SYNC.md``, the fingerprint of the whole range,
``FINGERPRINT_BYTES`` bytes). Version 1 frames carry ``peers`` alone; a
version 1 opener gets a version 1 answer.

Agreement: each side compares the peer's ``set`` with its own fingerprint
when the frame arrives and keeps the answer (:meth:`PeerExchange.agrees`).
Equal fingerprints mean both held the same records: a sync session started
on connect could not move a record, and the runner skips it
(``protocol/SPEC.md``, "Peer exchange"). The fingerprint they shared is
kept too (:meth:`PeerExchange.still_agrees`): while this side's set has not
changed since, the sync planner drops the sessions it would start with that
peer (routine, requested, or queued on connect; never one for a gossip gap),
and sessions refresh it too (:mod:`.sync_service`).

Refresh: each side remembers what it last told each peer (its links and the
peers it shares, :meth:`PeerExchange.has_news`). A side whose links or
shared peers changed since exchanges again soon (whichever side changed:
the other learns within a refresh period), and the side that leads the
pair exchanges anyway when the peer's report is old
(:func:`.discovery_service.refresh_due`). A quiet mesh, where nothing
changes, exchanges rarely instead of every few seconds; the set
fingerprint is not news (a changed set syncs, and a session that settles
both sides on one set records the agreement).

Only members take part: the stream is refused unless ``is_member(author)``
holds for the other side's key, and addresses of peers whose key is not a
member's are ignored. Learnt addresses go to :meth:`Discovery.add_peer`; they
are dialled, and remembered only once they worked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import trio

from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import canonical
from protocol.errors import BadLength, Malformed, WrongType
from protocol.sync import FINGERPRINT_BYTES

from .discovery import Discovery
from .host import NotAnAuthor, RunningHost, author_from_peer_id
from .streams import StreamChannel, reset_quietly_shielded, safe_handler

PROTOCOL = TProtocol("/meshpantry/peers/2")
#: The first version (``peers`` only), still answered for older nodes.
PROTOCOL_V1 = TProtocol("/meshpantry/peers/1")

#: Entries per frame. A neighbourhood of tens of households fits; a node
#: that knows hundreds shares the first 64 and the others learn the rest from
#: those peers in turn.
MAX_PEERS = 64

#: Addresses per entry (Wi-Fi, Ethernet, loopback and a few spares).
MAX_ADDRS = 8

#: Characters of one address: /ip6/<39 chars>/tcp/<5 digits> is under 60.
MAX_ADDRESS_CHARS = 128

#: Bytes of one frame: 64 entries x (40-byte id + 8 x 128-char addresses)
#: is about 68 KiB at the very worst, 64 links add under 3 KiB; real frames
#: are a few KiB.
MAX_FRAME_BYTES = 72 * 1024

LENGTH_BYTES = 4

IsMember = Callable[[bytes], bool]
Fingerprint = Callable[[], bytes]
#: What a frame tells a peer besides the set: the sender's links and the
#: peers it shares, each with its addresses (order does not matter).
News = tuple[frozenset[ID], frozenset[tuple[ID, tuple[str, ...]]]]

_V1_KEYS = frozenset({"peers"})
_V2_KEYS = frozenset({"peers", "links", "set"})


@dataclass(frozen=True)
class Frame:
    """One side's frame. ``links`` and ``set`` are None in a version 1 frame."""

    entries: list[tuple[ID, list[str]]]
    links: list[ID] | None = None
    set: bytes | None = None


def encode_frame(entries: list[tuple[ID, list[str]]], links: list[ID] | None = None,
                 fingerprint: bytes | None = None) -> bytes:
    """A length-prefixed frame for ``entries`` (cut to the limits): version 2
    when ``links`` and ``fingerprint`` are given, else version 1."""
    assert (links is None) == (fingerprint is None)
    peers = [
        [peer_id.to_bytes(), [a for a in addrs if len(a) <= MAX_ADDRESS_CHARS][:MAX_ADDRS]]
        for peer_id, addrs in entries[:MAX_PEERS]
    ]
    value: dict = {"peers": peers}
    if links is not None:
        assert fingerprint is not None and len(fingerprint) == FINGERPRINT_BYTES
        value["links"] = [peer_id.to_bytes() for peer_id in links[:MAX_PEERS]]
        value["set"] = fingerprint
    body = canonical.encode(value)
    assert 0 < len(body) <= MAX_FRAME_BYTES
    return len(body).to_bytes(LENGTH_BYTES, "big") + body


def decode_body(body: bytes) -> list[tuple[ID, list[str]]]:
    """The entries of a frame body. Raises a :class:`DecodeError` subclass."""
    return decode_frame_body(body).entries


def decode_frame_body(body: bytes) -> Frame:
    """A frame body of either version. Raises a :class:`DecodeError` subclass."""
    value = canonical.decode(body, what="peer exchange", max_bytes=MAX_FRAME_BYTES)
    if type(value) is not dict or set(value) not in (_V1_KEYS, _V2_KEYS):
        raise Malformed("peer exchange: expected a map of 'peers' (and 'links' and 'set')")
    links: list[ID] | None = None
    fingerprint: bytes | None = None
    if "links" in value:
        raw_links, fingerprint = value["links"], value["set"]
        if type(raw_links) is not list:
            raise WrongType("links", "array", type(raw_links).__name__)
        if len(raw_links) > MAX_PEERS:
            raise BadLength("links", MAX_PEERS, len(raw_links))
        if any(type(raw) is not bytes for raw in raw_links):
            raise Malformed("peer exchange link is not a peer id")
        if type(fingerprint) is not bytes or len(fingerprint) != FINGERPRINT_BYTES:
            raise Malformed(f"peer exchange set is not a {FINGERPRINT_BYTES}-byte fingerprint")
        links = [ID(raw) for raw in raw_links]
    peers = value["peers"]
    if type(peers) is not list:
        raise WrongType("peers", "array", type(peers).__name__)
    if len(peers) > MAX_PEERS:
        raise BadLength("peers", MAX_PEERS, len(peers))
    entries = []
    for entry in peers:
        if type(entry) is not list or len(entry) != 2:
            raise Malformed("peer exchange entry must be [peer_id, addresses]")
        raw_id, addrs = entry
        if type(raw_id) is not bytes or type(addrs) is not list or len(addrs) > MAX_ADDRS:
            raise Malformed("peer exchange entry has the wrong types or too many addresses")
        if any(type(a) is not str or len(a) > MAX_ADDRESS_CHARS for a in addrs):
            raise Malformed("peer exchange address is not a short string")
        entries.append((ID(raw_id), list(addrs)))
    return Frame(entries, links, fingerprint)


async def read_frame(channel: StreamChannel) -> Frame:
    """Read one frame. Raises StreamTimeout, StreamBroken or DecodeError."""
    size = int.from_bytes(await channel.read_exactly(LENGTH_BYTES), "big")
    if not 0 < size <= MAX_FRAME_BYTES:
        raise Malformed(f"peer exchange frame of {size} bytes")
    return decode_frame_body(await channel.read_exactly(size))


@dataclass
class ExchangeStats:
    exchanges: int = 0  #: completed, either side
    refused: int = 0  #: streams from non-members
    learnt: int = 0  #: entries that taught discovery something new
    agreed: int = 0  #: exchanges where both sides held the same set


class PeerExchange:
    """Serves and starts peer exchanges for one host.

    Call :meth:`install` once to serve the protocol; call
    :meth:`exchange_with` when a peer comes up (e.g. from the runner's
    ``on_peer_up``). ``is_member(author_key) -> bool`` is the membership test;
    ``fingerprint()`` the sync fingerprint of the set held now.
    """

    def __init__(self, host: RunningHost, discovery: Discovery, is_member: IsMember,
                 fingerprint: Fingerprint) -> None:
        self.host, self.discovery, self.is_member = host, discovery, is_member
        self.fingerprint = fingerprint
        self.stats = ExchangeStats()
        self.handler = safe_handler(self._serve, "peer-exchange")
        self._agrees: dict[ID, bool] = {}
        #: peer -> the fingerprint both sides held at the last exchange that
        #: found them agreeing (dropped by one that did not).
        self._shared: dict[ID, bytes] = {}
        #: peer -> (what this side last told it, trio time it did).
        self._told: dict[ID, tuple[News, float]] = {}

    def install(self) -> None:
        self.host.libp2p.set_stream_handler(PROTOCOL, self.handler)
        self.host.libp2p.set_stream_handler(PROTOCOL_V1, self.handler)

    def agrees(self, peer_id: ID) -> bool:
        """True when the last exchange with ``peer_id`` found both sides
        holding the same set (forgotten once read: it ages fast)."""
        return self._agrees.pop(peer_id, False)

    def still_agrees(self, peer_id: ID) -> bool:
        """True when the last exchange with ``peer_id`` found both sides
        holding the same set and this side's set has not changed since. The
        peer's may have: then its own test fails and it is the one to start
        a session (the side that changed syncs)."""
        shared = self._shared.get(peer_id)
        return shared is not None and shared == self.fingerprint()

    def _is_member_peer(self, peer_id: ID) -> bool:
        try:
            return self.is_member(author_from_peer_id(peer_id))
        except NotAnAuthor:
            return False

    def _our_entries(self, remote: ID) -> list[tuple[ID, list[str]]]:
        own = (self.host.peer_id, self.host.reachable_addrs())
        others = [entry for entry in self.discovery.shareable() if entry[0] != remote]
        return [own] + others[: MAX_PEERS - 1]

    def has_news(self, peer_id: ID, since: float = float("-inf")) -> bool:
        """True when this side's links or shared peers differ from what it
        last told ``peer_id``, or it told it nothing since ``since`` (trio
        time; e.g. when the current connection came up)."""
        told = self._told.get(peer_id)
        if told is None or told[1] < since:
            return True
        return told[0] != _news(self.discovery.links(), self._our_entries(peer_id))

    def _our_frame(self, remote: ID, version: int) -> tuple[bytes, News]:
        """The frame for ``remote`` and the news it tells."""
        entries = self._our_entries(remote)
        links = self.discovery.links()
        news = _news(links, entries)
        if version == 1:
            return encode_frame(entries), news
        return encode_frame(entries, links, self.fingerprint()), news

    def _told_now(self, remote: ID, news: News) -> None:
        self._told[remote] = (news, trio.current_time())

    def _learn(self, remote: ID, frame: Frame) -> int:
        if frame.set is not None:
            own = self.fingerprint()
            agrees = self._agrees[remote] = frame.set == own
            self.stats.agreed += agrees
            if agrees:
                self._shared[remote] = own
            else:
                self._shared.pop(remote, None)
        if frame.links is not None:
            self.discovery.report_links(remote, frame.links)
        learnt = 0
        for peer_id, addrs in frame.entries:
            if peer_id == remote:
                learnt += self.discovery.add_peer(peer_id, addrs, verified=True)
            elif self._is_member_peer(peer_id):
                learnt += self.discovery.add_peer(peer_id, addrs)
        self.stats.learnt += learnt
        self.stats.exchanges += 1
        return learnt

    async def _serve(self, stream) -> None:
        channel = StreamChannel(stream)
        remote = channel.peer_id
        if not self._is_member_peer(remote):
            self.stats.refused += 1
            raise PermissionError(f"peer exchange refused to non-member {remote}")
        frame = await read_frame(channel)
        ours, news = self._our_frame(remote, 1 if frame.set is None else 2)
        await channel.write(ours)
        self._told_now(remote, news)
        self._learn(remote, frame)

    async def exchange_with(self, peer_id: ID) -> int:
        """Swap known addresses with a connected member; returns how many
        entries taught us something. Returns 0 without a stream for
        non-members. Raises StreamTimeout, StreamBroken, a DecodeError or the
        library's stream errors when the peer misbehaves or is gone."""
        if not self._is_member_peer(peer_id):
            return 0
        stream = await self.host.libp2p.new_stream(peer_id, [PROTOCOL])
        channel = StreamChannel(stream)
        ours, news = self._our_frame(peer_id, 2)
        try:
            await channel.write(ours)
            frame = await read_frame(channel)
        except BaseException:
            await reset_quietly_shielded(stream)
            raise
        self._told_now(peer_id, news)
        await channel.close()
        return self._learn(peer_id, frame)


def _news(links: list[ID], entries: list[tuple[ID, list[str]]]) -> News:
    return frozenset(links), frozenset((peer_id, tuple(sorted(addrs))) for peer_id, addrs in entries)
