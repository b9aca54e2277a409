"""The host: device key as peer id, Noise only, yamux, safe handlers."""

from __future__ import annotations

import pytest
import trio
from libp2p import new_host
from libp2p.custom_types import TProtocol
from libp2p.security.insecure.transport import PLAINTEXT_PROTOCOL_ID, InsecureTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_PROTOCOL_ID
from libp2p.stream_muxer.yamux.yamux import Yamux
from libp2p.network.stream.exceptions import StreamEOF

from meshpantry.keys import DeviceKey
from meshpantry.node.host import (
    DialFailed,
    NotAnAuthor,
    author_from_peer_id,
    connect_bounded,
    keypair_from_seed,
    open_host,
    peer_id_from_author,
    peer_info_from_multiaddr,
    tcp_multiaddr,
)
from meshpantry.node.streams import StreamChannel, StreamTimeout, safe_handler

from .conftest import LOOPBACK_SETTINGS

ECHO = TProtocol("/meshpantry/test-echo/1")
BOOM = TProtocol("/meshpantry/test-boom/1")


def test_author_key_and_peer_id_convert_both_ways():
    """The peer id embeds the device's Ed25519 key, nothing else."""
    key = DeviceKey.generate()
    peer_id = peer_id_from_author(key.public)
    assert author_from_peer_id(peer_id) == key.public
    from libp2p.peer.id import ID

    assert ID.from_pubkey(keypair_from_seed(key.seed).public_key) == peer_id
    from libp2p.crypto.secp256k1 import create_new_key_pair as secp

    with pytest.raises(NotAnAuthor):
        author_from_peer_id(ID.from_pubkey(secp().public_key))


async def echo(stream) -> None:
    channel = StreamChannel(stream)
    data = await channel.read(1024)
    await channel.write(data[::-1])


@pytest.mark.trio
async def test_two_hosts_talk_over_noise_and_yamux():
    """A dial completes over Noise + yamux and a stream echoes."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, open_host(
        LOOPBACK_SETTINGS, DeviceKey.generate()
    ) as b:
        b.libp2p.set_stream_handler(ECHO, safe_handler(echo))
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        (conn,) = a.libp2p.get_network().get_connections(b.peer_id)
        assert type(conn.muxed_conn).__name__ == "Yamux"
        assert conn.muxed_conn.secured_conn.negotiated_security_protocol == "/noise"
        assert conn.muxed_conn.secured_conn.get_remote_peer() == b.peer_id
        stream = await a.libp2p.new_stream(b.peer_id, [ECHO])
        channel = StreamChannel(stream)
        await channel.write(b"pantry")
        assert await channel.read(1024) == b"yrtnap"
        assert a.listen_addrs[0].value_for_protocol("ip4") == "127.0.0.1"


@pytest.mark.trio
async def test_plaintext_dialer_is_refused():
    """A peer that offers only plaintext gets no connection at all."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as ours:
        key_pair = keypair_from_seed(DeviceKey.generate().seed)
        plain = new_host(
            key_pair=key_pair,
            sec_opt={TProtocol(PLAINTEXT_PROTOCOL_ID): InsecureTransport(key_pair)},
            muxer_opt={TProtocol(YAMUX_PROTOCOL_ID): Yamux},
            listen_addrs=[tcp_multiaddr("127.0.0.1", 0)],
        )
        async with plain.run([tcp_multiaddr("127.0.0.1", 0)]):
            with pytest.raises(DialFailed):
                await connect_bounded(plain, peer_info_from_multiaddr(ours.dial_addrs()[0]), 5)
            await trio.sleep(0.2)
            assert ours.libp2p.get_network().get_connections(plain.get_id()) == []
            # ...and we never dial down to plaintext either.
            with pytest.raises(DialFailed):
                await connect_bounded(
                    ours.libp2p, peer_info_from_multiaddr(f"{plain.get_addrs()[0]}"), 5
                )
            await plain.get_network().close()


@pytest.mark.trio
async def test_raising_handlers_do_not_take_the_host_down():
    """Handlers that raise (StreamEOF, bugs) are contained and counted."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, open_host(
        LOOPBACK_SETTINGS, DeviceKey.generate()
    ) as b:

        async def boom(stream) -> None:
            data = await StreamChannel(stream).read(10)
            if data == b"eof":
                raise StreamEOF("peer went away")
            raise RuntimeError("a bug in a handler")

        guarded = safe_handler(boom, "boom")
        b.libp2p.set_stream_handler(BOOM, guarded)
        b.libp2p.set_stream_handler(ECHO, safe_handler(echo))
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        for payload in (b"eof", b"bug", b"eof", b"bug"):
            stream = await a.libp2p.new_stream(b.peer_id, [BOOM])
            channel = StreamChannel(stream, read_timeout_s=5)
            await channel.write(payload)
            assert await channel.read(10) == b""  # reset: nothing comes back
        assert guarded.stats.failed == 4
        stream = await a.libp2p.new_stream(b.peer_id, [ECHO])
        channel = StreamChannel(stream)
        await channel.write(b"still here")
        assert await channel.read(1024) == b"ereh llits"


@pytest.mark.trio
async def test_silent_peer_read_is_bounded():
    """A read from a peer that never writes ends in StreamTimeout, not a hang."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, open_host(
        LOOPBACK_SETTINGS, DeviceKey.generate()
    ) as b:

        async def silent(stream) -> None:
            await trio.sleep(5)

        b.libp2p.set_stream_handler(ECHO, safe_handler(silent))
        await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)
        channel = StreamChannel(await a.libp2p.new_stream(b.peer_id, [ECHO]), read_timeout_s=0.3)
        with pytest.raises(StreamTimeout):
            await channel.read(10)


@pytest.mark.trio
async def test_dial_after_a_failure_reaches_a_new_address_at_once():
    """
    py-libp2p refuses dials to a peer for 60 s after one failed, and dials a
    single TCP address per peer: a neighbour back on a new port after a dead
    one must still be reached at once, the dead address tried first.
    """
    from libp2p.peer.peerinfo import PeerInfo

    key = DeviceKey.generate()
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a:
        dead = tcp_multiaddr("127.0.0.1", 1)
        peer = peer_id_from_author(key.public)
        with pytest.raises(DialFailed):
            await connect_bounded(a.libp2p, PeerInfo(peer, [dead]), 5)
        async with open_host(LOOPBACK_SETTINGS, key) as back:
            with trio.fail_after(3):
                await connect_bounded(a.libp2p, PeerInfo(peer, [dead, back.listen_addrs[0]]), 5)
            assert a.libp2p.get_network().get_connections(peer)


def test_wildcard_listen_address_expands_to_local_addresses():
    """0.0.0.0 is no address to dial: each local IPv4 address is, LAN first."""
    from meshpantry.node.host import expand_unspecified

    local = lambda: ["127.0.0.1", "192.168.1.20"]  # noqa: E731
    assert expand_unspecified(["/ip4/0.0.0.0/tcp/4747"], local) == [
        "/ip4/192.168.1.20/tcp/4747",
        "/ip4/127.0.0.1/tcp/4747",
    ]
    assert expand_unspecified(["/ip4/127.0.0.1/tcp/4747"], local) == ["/ip4/127.0.0.1/tcp/4747"]


def test_a_peer_id_is_the_device_key_in_an_identity_multihash_as_the_spec_says():
    """protocol/SPEC.md section 9.2: peer id = 00 24 08 01 12 20 || key, and back."""
    from pathlib import Path

    import protocol
    from meshpantry.node.host import author_from_peer_id, peer_id_from_author

    key = DeviceKey.generate().public
    peer_id = peer_id_from_author(key)
    assert peer_id.to_bytes() == bytes.fromhex("002408011220") + key
    assert str(peer_id).startswith("12D3KooW")
    assert author_from_peer_id(peer_id) == key
    spec = (Path(protocol.__file__).parent / "SPEC.md").read_text(encoding="utf-8")
    assert "peer id = 00 24 || 08 01 12 20 || key" in spec
