"""A hostile process: dials a node and sends what no honest peer sends.

Run as ``python -m tests.mesh.hostile MULTIADDR NEIGHBOURHOOD_HEX MODE``.

``sync``: on its own sync stream each, random garbage, a frame claiming to be
larger than any frame may be, a truncated frame followed by silence, and
records with forged signatures and from outsiders. It prints one line per
attempt saying how the node answered (``reset``, ``closed`` or ``open``).

``gossip``: joins the neighbourhood's topic and publishes a batch with a
forged record, then reports whether its connection survived (waiting up
to 30 s for the node to close it).
"""

from __future__ import annotations

import random
import sys

import nacl.bindings
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from meshpantry.node.host import connect_bounded, open_host, peer_info_from_multiaddr
from meshpantry.node.sync_service import SYNC_PROTOCOL
from protocol import seal
from protocol import sync as wire


def forged_records(neighbourhood: bytes) -> list[bytes]:
    pk, sk = nacl.bindings.crypto_sign_seed_keypair(b"\x66" * 32)
    outsider = seal(sk, neighbourhood=neighbourhood, seq=1, prev=None, lamport=1, time=1_700_000_000_000,
                    kind="offer", body={"item": "poison", "quantity": 1, "unit": "g"})
    raw = bytearray(outsider.raw)
    raw[-1] ^= 0x01  # break the signature
    return [outsider.raw, bytes(raw)]


async def attempt(host, peer_id, label: str, data: bytes, *, linger: float = 1.0) -> None:
    try:
        with trio.fail_after(10):
            stream = await host.libp2p.new_stream(peer_id, [SYNC_PROTOCOL])
    except Exception as error:  # the node may have cut us off already
        print(f"{label}: refused ({type(error).__name__})", flush=True)
        return
    outcome = "open"
    try:
        await stream.write(data)
        with trio.move_on_after(linger):
            while True:
                chunk = await stream.read(65536)
                if not chunk:
                    outcome = "closed"
                    break
    except Exception as error:
        outcome = f"reset ({type(error).__name__})"
    print(f"{label}: {outcome}", flush=True)
    try:
        await stream.reset()
    except Exception:
        pass


async def gossip_forgery(host, info, neighbourhood: bytes) -> None:
    from meshpantry.core.membership import Admission
    from meshpantry.node.gossip import open_gossip

    async def ignore(raws, origin) -> None:
        return None

    settings = NodeSettings(listen_port=0, mdns_enabled=False)
    async with open_gossip(host, neighbourhood, lambda record: Admission.ADMIT, ignore, settings) as gossip:
        await connect_bounded(host.libp2p, info, 10)
        await trio.sleep(3.0)  # let the mesh form
        gossip.publish(forged_records(neighbourhood))
        alive = True
        with trio.move_on_after(30.0):  # a ban is immediate; an outsider's join grace is 10 s
            while alive:
                await trio.sleep(0.5)
                alive = any(not c.is_closed for c in host.libp2p.get_network().get_connections(info.peer_id))
        print(f"gossip: {'connected' if alive else 'cut off'}", flush=True)


async def main(target: str, neighbourhood: bytes, mode: str) -> None:
    rng = random.Random(mode)
    settings = NodeSettings(listen_port=0, mdns_enabled=False)
    async with open_host(settings, DeviceKey(bytes(rng.randrange(256) for _ in range(32)))) as host:
        info = peer_info_from_multiaddr(target)
        if mode == "gossip":
            await gossip_forgery(host, info, neighbourhood)
            return
        await connect_bounded(host.libp2p, info, 10)
        peer = info.peer_id
        await attempt(host, peer, "garbage", bytes(rng.randrange(256) for _ in range(4096)))
        await attempt(host, peer, "oversized", wire.encode_varint(wire.MAX_FRAME_BYTES * 8) + b"\x03" + b"\x00" * 1000)
        hello = wire.encode_frame(wire.Hello())
        await attempt(host, peer, "truncated", hello + wire.encode_varint(5000) + b"\x03\x00\x01", linger=2.0)
        records = wire.encode_frame(wire.Records(tuple(forged_records(neighbourhood))))
        await attempt(host, peer, "forged", hello + records)
        await attempt(host, peer, "after", hello)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], bytes.fromhex(sys.argv[2]), sys.argv[3])
