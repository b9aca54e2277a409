"""A GossipSub peer set up from protocol/SPEC.md section 9 alone, as another
implementation would be: py-libp2p's router with the library's own choices
except those the spec fixes (``/meshsub/1.2.0`` offered first, message id
SHA-256 of the data, StrictSign), and no validator of ours.

Run as ``python -m tests.mesh.foreign MULTIADDR NEIGHBOURHOOD_HEX DATA_DIR``.
It dials the node, prints ``protocol: <id>`` once the link is in the topic's
mesh, then ``received: <record id hex>`` for every record the node gossips to
it. When a line ``publish`` arrives on stdin it writes an offer in the
(stopped) household of ``DATA_DIR``, publishes it as a batch of one and
prints ``published: <record id hex>``. It stops when stdin closes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from meshpantry.node.host import connect_bounded, open_host, peer_info_from_multiaddr
from protocol import decode_record


def say(line: str) -> None:
    print(line, flush=True)


def publish_from(data_dir: Path) -> bytes:
    """A new offer of the household in ``data_dir``, written by its store."""
    from meshpantry.pantry import Pantry

    pantry = Pantry.open(data_dir)
    try:
        offer = pantry.offer_add("leeks from a 1.2 peer", 3, "items")
        return pantry.store.get(bytes.fromhex(offer["id"]))
    finally:
        pantry.close()


async def main(target: str, neighbourhood: bytes, data_dir: Path) -> None:
    import msgpack
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    topic = f"/meshpantry/{neighbourhood.hex()}/records/1"
    settings = NodeSettings(listen_port=0, mdns_enabled=False)
    async with open_host(settings, DeviceKey.generate()) as host:
        router = GossipSub(["/meshsub/1.2.0", "/meshsub/1.1.0"], degree=6, degree_low=4,
                           degree_high=12, heartbeat_interval=1)
        pubsub = Pubsub(host.libp2p, router, msg_id_constructor=lambda m: hashlib.sha256(m.data).digest())
        async with background_trio_service(pubsub), background_trio_service(router):
            await pubsub.wait_until_ready()
            subscription = await pubsub.subscribe(topic)
            info = peer_info_from_multiaddr(target)
            await connect_bounded(host.libp2p, info, 10)
            with trio.fail_after(30):
                while info.peer_id not in router.mesh.get(topic, ()):
                    await trio.sleep(0.1)
            say(f"protocol: {router.peer_protocol[info.peer_id]}")

            async def receive() -> None:
                while True:
                    msg = await subscription.get()
                    if msg.from_id == host.peer_id.to_bytes():
                        continue
                    for raw in msgpack.unpackb(msg.data):
                        say(f"received: {decode_record(raw).id.hex()}")

            async def commands() -> None:
                stdin = trio.lowlevel.FdStream(sys.stdin.fileno())
                buffer = b""
                while chunk := await stdin.receive_some():
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip() == b"publish":
                            raw = publish_from(data_dir)
                            await pubsub.publish(topic, msgpack.packb([raw]))
                            say(f"published: {decode_record(raw).id.hex()}")
                nursery.cancel_scope.cancel()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(receive)
                nursery.start_soon(commands)


if __name__ == "__main__":
    trio.run(main, sys.argv[1], bytes.fromhex(sys.argv[2]), Path(sys.argv[3]))
