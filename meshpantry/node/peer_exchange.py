"""Peer exchange: connected members tell each other where members listen.

Protocol ``/meshpantry/peers/1``, one exchange per stream:

1. the opener sends one frame, the answerer reads it;
2. the answerer sends one frame back; both close.

A frame is a 4-byte big-endian length (1..:data:`MAX_FRAME_BYTES`) followed
by canonical msgpack ``{"peers": [[peer_id, [address, ...]], ...]}``:
``peer_id`` is the libp2p peer id's bytes, each address a multiaddr string
without ``/p2p``. The sender lists itself first (where it listens), then the
peers it has reached at least once. At most :data:`MAX_PEERS` entries of at
most :data:`MAX_ADDRS` addresses of at most :data:`MAX_ADDRESS_CHARS` each.

Only members take part: the stream is refused unless ``is_member(author)``
holds for the other side's key, and addresses of peers whose key is not a
member's are ignored. Learnt addresses go to :meth:`Discovery.add_peer`; they
are dialled, and remembered only once they worked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from libp2p.custom_types import TProtocol
from libp2p.peer.id import ID

from protocol import canonical
from protocol.errors import BadLength, Malformed, WrongType

from .discovery import Discovery
from .host import NotAnAuthor, RunningHost, author_from_peer_id
from .streams import StreamChannel, reset_quietly_shielded, safe_handler

PROTOCOL = TProtocol("/meshpantry/peers/1")

#: Entries per frame. A neighbourhood of tens of households fits; a node
#: that knows hundreds shares the first 64 and the others learn the rest from
#: those peers in turn.
MAX_PEERS = 64

#: Addresses per entry (Wi-Fi, Ethernet, loopback and a few spares).
MAX_ADDRS = 8

#: Characters of one address: /ip6/<39 chars>/tcp/<5 digits> is under 60.
MAX_ADDRESS_CHARS = 128

#: Bytes of one frame: 64 entries x (40-byte id + 8 x 128-char addresses)
#: is about 68 KiB at the very worst; real frames are a few KiB.
MAX_FRAME_BYTES = 72 * 1024

LENGTH_BYTES = 4

IsMember = Callable[[bytes], bool]


def encode_frame(entries: list[tuple[ID, list[str]]]) -> bytes:
    """A length-prefixed frame for ``entries`` (cut to the limits)."""
    peers = [
        [peer_id.to_bytes(), [a for a in addrs if len(a) <= MAX_ADDRESS_CHARS][:MAX_ADDRS]]
        for peer_id, addrs in entries[:MAX_PEERS]
    ]
    body = canonical.encode({"peers": peers})
    assert 0 < len(body) <= MAX_FRAME_BYTES
    return len(body).to_bytes(LENGTH_BYTES, "big") + body


def decode_body(body: bytes) -> list[tuple[ID, list[str]]]:
    """The entries of a frame body. Raises a :class:`DecodeError` subclass."""
    value = canonical.decode(body, what="peer exchange", max_bytes=MAX_FRAME_BYTES)
    if type(value) is not dict or set(value) != {"peers"}:
        raise Malformed("peer exchange: expected a map with exactly 'peers'")
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
    return entries


async def read_frame(channel: StreamChannel) -> list[tuple[ID, list[str]]]:
    """Read one frame. Raises StreamTimeout, StreamBroken or DecodeError."""
    size = int.from_bytes(await channel.read_exactly(LENGTH_BYTES), "big")
    if not 0 < size <= MAX_FRAME_BYTES:
        raise Malformed(f"peer exchange frame of {size} bytes")
    return decode_body(await channel.read_exactly(size))


@dataclass
class ExchangeStats:
    exchanges: int = 0  #: completed, either side
    refused: int = 0  #: streams from non-members
    learnt: int = 0  #: entries that taught discovery something new


class PeerExchange:
    """Serves and starts peer exchanges for one host.

    Call :meth:`install` once to serve the protocol; call
    :meth:`exchange_with` when a peer comes up (e.g. from the runner's
    ``on_peer_up``). ``is_member(author_key) -> bool`` is the membership test.
    """

    def __init__(self, host: RunningHost, discovery: Discovery, is_member: IsMember) -> None:
        self.host, self.discovery, self.is_member = host, discovery, is_member
        self.stats = ExchangeStats()
        self.handler = safe_handler(self._serve, "peer-exchange")

    def install(self) -> None:
        self.host.libp2p.set_stream_handler(PROTOCOL, self.handler)

    def _is_member_peer(self, peer_id: ID) -> bool:
        try:
            return self.is_member(author_from_peer_id(peer_id))
        except NotAnAuthor:
            return False

    def _our_entries(self, remote: ID) -> list[tuple[ID, list[str]]]:
        own = (self.host.peer_id, self.host.reachable_addrs())
        others = [entry for entry in self.discovery.shareable() if entry[0] != remote]
        return [own] + others[: MAX_PEERS - 1]

    def _learn(self, remote: ID, entries: list[tuple[ID, list[str]]]) -> int:
        learnt = 0
        for peer_id, addrs in entries:
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
        entries = await read_frame(channel)
        await channel.write(encode_frame(self._our_entries(remote)))
        self._learn(remote, entries)

    async def exchange_with(self, peer_id: ID) -> int:
        """Swap known addresses with a connected member; returns how many
        entries taught us something. Returns 0 without a stream for
        non-members. Raises StreamTimeout, StreamBroken, a DecodeError or the
        library's stream errors when the peer misbehaves or is gone."""
        if not self._is_member_peer(peer_id):
            return 0
        stream = await self.host.libp2p.new_stream(peer_id, [PROTOCOL])
        channel = StreamChannel(stream)
        try:
            await channel.write(encode_frame(self._our_entries(peer_id)))
            entries = await read_frame(channel)
        except BaseException:
            await reset_quietly_shielded(stream)
            raise
        await channel.close()
        return self._learn(peer_id, entries)
