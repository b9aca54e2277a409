"""Peer exchange among members, on loopback."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.discovery import Discovery
from meshpantry.node.host import connect_bounded, open_host, peer_id_from_author, peer_info_from_multiaddr
from meshpantry.node.peer_exchange import (
    MAX_FRAME_BYTES,
    MAX_PEERS,
    PROTOCOL_V1,
    Frame,
    PeerExchange,
    decode_body,
    decode_frame_body,
    encode_frame,
    read_frame,
)
from meshpantry.node.streams import StreamChannel
from protocol.errors import DecodeError

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until


def test_frame_round_trip_and_bounds():
    """Entries survive encoding; oversize or malformed bodies are refused."""
    peer = peer_id_from_author(DeviceKey.generate().public)
    frame = encode_frame([(peer, ["/ip4/127.0.0.1/tcp/4747", "/ip4/127.0.0.1/tcp/" + "9" * 200])])
    assert int.from_bytes(frame[:4], "big") == len(frame) - 4
    assert decode_body(frame[4:]) == [(peer, ["/ip4/127.0.0.1/tcp/4747"])]
    for body in (b"\x80", b"\x81\xa5peers\xc0", b"\x81\xa5peers\x91\x91\xc4\x01x", frame[4:-1]):
        with pytest.raises(DecodeError):
            decode_body(body)
    with pytest.raises(DecodeError):
        decode_body(b"\x00" * (MAX_FRAME_BYTES + 1))


def test_version_2_frame_carries_links_and_the_set_fingerprint():
    """Links and the set survive encoding; a version 1 frame has neither; a
    wrong-sized set, too many links or a stray key are refused."""
    peers = [peer_id_from_author(DeviceKey.generate().public) for _ in range(3)]
    frame = encode_frame([(peers[0], ["/ip4/127.0.0.1/tcp/4747"])], peers[1:], b"\x07" * 16)
    assert decode_frame_body(frame[4:]) == Frame([(peers[0], ["/ip4/127.0.0.1/tcp/4747"])], peers[1:], b"\x07" * 16)
    assert decode_frame_body(encode_frame([(peers[0], [])])[4:]) == Frame([(peers[0], [])])
    from protocol import canonical

    for value in (
        {"peers": [], "links": [], "set": b"\x07" * 15},
        {"peers": [], "links": [peers[0].to_bytes()] * (MAX_PEERS + 1), "set": b"\x07" * 16},
        {"peers": [], "links": ["x"], "set": b"\x07" * 16},
        {"peers": [], "links": []},
        {"peers": [], "set": b"\x07" * 16, "links": [], "extra": 1},
    ):
        with pytest.raises(DecodeError):
            decode_frame_body(canonical.encode(value))


async def start(stack, key, members, fingerprint=b"\x01" * 16):
    host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, key))
    nursery = await stack.enter_async_context(trio.open_nursery())
    stack.callback(nursery.cancel_scope.cancel)
    discovery = Discovery(host, LOOPBACK_SETTINGS, random.Random(3))
    await nursery.start(discovery.run)
    held = [fingerprint]
    exchange = PeerExchange(host, discovery, lambda author: author in members, lambda: held[0])
    exchange.held = held  # the test changes the set fingerprint through it
    exchange.install()
    return host, discovery, exchange


@pytest.mark.trio
async def test_members_learn_each_other_and_outsiders_learn_nothing():
    """
    A ── B ── C    A swaps addresses with B, learns where C listens and dials
                   it. D (not a member) is refused and its entries ignored.
    """
    keys = [DeviceKey.generate() for _ in range(4)]
    members = {k.public for k in keys[:3]}
    async with AsyncExitStack() as stack:
        (a, da, xa), (b, db, xb), (c, dc, xc), (d, dd, xd) = [
            await start(stack, key, members) for key in keys
        ]
        db.add_peer(c.peer_id, c.dial_addrs())
        await wait_until(lambda: c.peer_id in db.connected_peers(), 5)
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        await wait_until(lambda: b.peer_id in da.connected_peers(), 5)

        assert await xa.exchange_with(b.peer_id) >= 1
        await wait_until(lambda: c.peer_id in da.connected_peers(), 5)

        await connect_bounded(d.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        with pytest.raises(Exception):
            await xd.exchange_with(b.peer_id)  # B resets the stream
        assert xb.stats.refused == 1
        assert d.peer_id not in [peer for peer, _ in db.shareable()]
        assert all(peer != d.peer_id for peer, _ in da.shareable())
        # B also ignores a member's report about a non-member.
        assert xb._learn(a.peer_id, Frame([(d.peer_id, ["/ip4/127.0.0.1/tcp/1"])])) == 0


@pytest.mark.trio
async def test_an_exchange_tells_both_sides_whether_they_hold_the_same_set_and_their_links():
    """
    A ── B ── C   equal sets: both sides see agreement; A learns B's links (C).
    Each side still agrees while its own set stays as it was; the side whose
    set changed no longer does (it is the one to sync).
    A's set grows: the next exchange shows disagreement on both sides.
    A version 1 opener gets a version 1 answer (no links, no set).
    """
    keys = [DeviceKey.generate() for _ in range(3)]
    members = {k.public for k in keys}
    async with AsyncExitStack() as stack:
        (a, da, xa), (b, db, xb), (c, dc, xc) = [await start(stack, key, members) for key in keys]
        db.add_peer(c.peer_id, c.dial_addrs())
        await wait_until(lambda: c.peer_id in db.connected_peers(), 5)
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        await wait_until(lambda: b.peer_id in da.connected_peers() and a.peer_id in db.connected_peers(), 5)

        await xa.exchange_with(b.peer_id)
        assert xa.agrees(b.peer_id) and xb.agrees(a.peer_id)
        assert not xa.agrees(b.peer_id)  # an answer is read once
        assert c.peer_id in da.peers[b.peer_id].links
        assert xa.still_agrees(b.peer_id) and xb.still_agrees(a.peer_id)

        xa.held[0] = b"\x02" * 16
        assert not xa.still_agrees(b.peer_id) and xb.still_agrees(a.peer_id)
        await xa.exchange_with(b.peer_id)
        assert not xa.agrees(b.peer_id) and not xb.agrees(a.peer_id)
        xa.held[0] = xb.held[0]
        assert not xa.still_agrees(b.peer_id) and not xb.still_agrees(a.peer_id)

        stream = await a.libp2p.new_stream(b.peer_id, [PROTOCOL_V1])
        channel = StreamChannel(stream)
        await channel.write(encode_frame([(a.peer_id, a.dial_addrs())]))
        answer = await read_frame(channel)
        assert answer.links is None and answer.set is None and answer.entries[0][0] == b.peer_id
        await channel.close()


@pytest.mark.trio
async def test_a_side_has_news_for_a_peer_only_until_it_told_it_its_changed_links():
    """
    A ── B        after an exchange neither side has news for the other;
    A ── B ── C   C connects to B: B has news for A (a new link), A none for
                  B; once B told A (B opens the exchange), A knows C is B's
                  link and neither has news again. A new set is no news.
    """
    keys = [DeviceKey.generate() for _ in range(3)]
    members = {k.public for k in keys}
    async with AsyncExitStack() as stack:
        (a, da, xa), (b, db, xb), (c, dc, xc) = [await start(stack, key, members) for key in keys]
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        await wait_until(lambda: b.peer_id in da.connected_peers() and a.peer_id in db.connected_peers(), 5)
        assert xa.has_news(b.peer_id) and xb.has_news(a.peer_id)  # nothing told yet
        await xa.exchange_with(b.peer_id)
        assert not xa.has_news(b.peer_id) and not xb.has_news(a.peer_id)

        db.add_peer(c.peer_id, c.dial_addrs())
        await wait_until(lambda: c.peer_id in db.connected_peers(), 5)
        assert xb.has_news(a.peer_id) and not xa.has_news(b.peer_id)
        assert c.peer_id not in da.peers[b.peer_id].links
        await xb.exchange_with(a.peer_id)
        assert c.peer_id in da.peers[b.peer_id].links
        assert not xb.has_news(a.peer_id) and not xa.has_news(b.peer_id)

        xb.held[0] = b"\x02" * 16
        assert not xb.has_news(a.peer_id)
        # Told before the connection came up again: news whatever it was.
        assert xb.has_news(a.peer_id, since=trio.current_time() + 1)
