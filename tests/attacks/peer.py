"""A hostile peer process for the attack suite: a libp2p host with a key
the test chooses (a member's, a revoked member's or an outsider's) that does
one thing no honest peer does, and prints one line per step saying how the
node answered.

Run as ``python -m tests.attacks.peer MODE TARGET_MULTIADDR SEED_HEX ARG...``:

``gossip TOPIC_HEX LINGER FILE``
    joins the neighbourhood's topic and publishes the batches in ``FILE``
    (msgpack: a list of lists of raw records), then waits up to ``LINGER``
    seconds to see whether the node closes the connection.
``sync FILE``
    ``FILE`` holds a msgpack list of byte strings; each is written on its own
    sync stream, which is then read for a second.
``rounds FILE``
    one sync stream: a Hello, then each frame of ``FILE`` (a msgpack list of
    encoded frames) in turn, each once the node answered the one before;
    prints how the node answered each.
``slowloris SECONDS``
    a sync stream that sends a Hello and the header of a 1,000-byte frame,
    then one byte of it a second.
``streams COUNT``
    ``COUNT`` sync streams at once, each sending a Hello and then nothing.
``yamux MIB``
    a sync stream that says Hello (the node serves it), then a second one,
    which waits for the node's sync slot unread, and on it DATA frames
    straight to the connection, ignoring the stream's send window.
``read TOPIC_HEX SECONDS``
    subscribes to the topic and counts what it receives.
"""

from __future__ import annotations

import hashlib
import struct
import sys

import msgpack
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from meshpantry.node.host import connect_bounded, open_host, peer_info_from_multiaddr
from meshpantry.node.sync_service import SYNC_PROTOCOL
from protocol import sync as wire


def say(line: str) -> None:
    print(line, flush=True)


def connected(host, peer) -> bool:
    return any(not c.is_closed for c in host.libp2p.get_network().get_connections(peer))


async def wait_closed(host, peer, seconds: float) -> bool:
    with trio.move_on_after(seconds):
        while connected(host, peer):
            await trio.sleep(0.2)
    return not connected(host, peer)


async def gossip(host, info, topic_hex: str, linger: str, path: str) -> None:
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    topic = f"/meshpantry/{topic_hex}/records/1"
    batches = msgpack.unpackb(open(path, "rb").read())
    router = GossipSub(["/meshsub/1.2.0", "/meshsub/1.1.0"], degree=6, degree_low=4, degree_high=12,
                       heartbeat_interval=1)
    pubsub = Pubsub(host.libp2p, router, msg_id_constructor=lambda m: hashlib.sha256(m.data).digest())
    async with background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        await pubsub.subscribe(topic)
        await connect_bounded(host.libp2p, info, 10)
        with trio.move_on_after(8):
            while info.peer_id not in router.mesh.get(topic, ()):
                await trio.sleep(0.1)
        say(f"mesh: {'yes' if info.peer_id in router.mesh.get(topic, ()) else 'no'}")
        sent = 0
        for batch in batches:
            if not connected(host, info.peer_id):
                break
            try:
                await pubsub.publish(topic, msgpack.packb(batch))
            except Exception as error:  # noqa: BLE001 - the node may have cut us off
                say(f"publish failed: {type(error).__name__}")
                break
            sent += 1
        say(f"published: {sent}")
        say(f"connection: {'closed' if await wait_closed(host, info.peer_id, float(linger)) else 'open'}")


async def read_topic(host, info, topic_hex: str, seconds: float) -> None:
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    topic = f"/meshpantry/{topic_hex}/records/1"
    router = GossipSub(["/meshsub/1.2.0", "/meshsub/1.1.0"], degree=6, degree_low=4, degree_high=12,
                       heartbeat_interval=1)
    pubsub = Pubsub(host.libp2p, router, msg_id_constructor=lambda m: hashlib.sha256(m.data).digest())
    async with background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(topic)
        await connect_bounded(host.libp2p, info, 10)
        say("subscribed")
        received = 0
        with trio.move_on_after(seconds):
            while True:
                msg = await subscription.get()
                received += len(msgpack.unpackb(msg.data))
        say(f"received: {received}")


async def attempt(host, peer, data: bytes, linger: float = 1.0) -> str:
    try:
        with trio.fail_after(10):
            stream = await host.libp2p.new_stream(peer, [SYNC_PROTOCOL])
    except Exception as error:  # noqa: BLE001 - refused is an answer
        return f"refused ({type(error).__name__})"
    outcome = "open"
    try:
        await stream.write(data)
        with trio.move_on_after(linger):
            while True:
                if not await stream.read(65536):
                    outcome = "closed"
                    break
    except Exception as error:  # noqa: BLE001 - a reset is an answer
        outcome = f"reset ({type(error).__name__})"
    try:
        await stream.reset()
    except Exception:  # noqa: BLE001
        pass
    return outcome


async def rounds(host, peer, frames: list[bytes]) -> None:
    """See the module docstring (``rounds``)."""
    with trio.fail_after(10):
        stream = await host.libp2p.new_stream(peer, [SYNC_PROTOCOL])
    reader = wire.FrameReader()
    try:
        await stream.write(wire.encode_frame(wire.Hello()))
        for index, frame in enumerate(frames):
            await stream.write(frame)
            answer = None
            with trio.move_on_after(30):
                while answer is None:
                    data = await stream.read(65536)
                    if not data:
                        answer = "closed"
                        break
                    for body in reader.feed(data):
                        decoded = wire.decode_frame(body)
                        if isinstance(decoded, wire.Abort):
                            answer = f"abort {decoded.code}: {decoded.reason}"
                        elif isinstance(decoded, wire.Reconcile):
                            answer = "answered"
            say(f"{index}: {answer or 'no answer'}")
            if answer != "answered":
                return
    except Exception as error:  # noqa: BLE001 - a reset is an answer
        say(f"reset ({type(error).__name__})")
    finally:
        try:
            await stream.reset()
        except Exception:  # noqa: BLE001
            pass


async def slowloris(host, peer, seconds: float) -> None:
    start = trio.current_time()
    try:
        stream = await host.libp2p.new_stream(peer, [SYNC_PROTOCOL])
        await stream.write(wire.encode_frame(wire.Hello()) + wire.encode_varint(1000) + b"\x03")
        with trio.move_on_after(seconds):
            while True:
                await trio.sleep(1.0)
                await stream.write(b"\x00")
        outcome = "held"
    except Exception as error:  # noqa: BLE001 - a reset is the answer we hope for
        outcome = f"cut ({type(error).__name__})"
    say(f"slowloris: {outcome} after {trio.current_time() - start:.1f} s")


async def streams(host, peer, count: int) -> None:
    outcomes: dict[str, int] = {}
    hello = wire.encode_frame(wire.Hello())

    async def one() -> None:
        outcome = await attempt(host, peer, hello, linger=12.0)
        key = outcome.split(" ")[0]
        outcomes[key] = outcomes.get(key, 0) + 1

    async with trio.open_nursery() as nursery:
        for _ in range(count):
            nursery.start_soon(one)
    say("streams: " + " ".join(f"{k}={v}" for k, v in sorted(outcomes.items())))


async def yamux(host, peer, mib: int) -> None:
    from libp2p.stream_muxer.yamux.yamux import TYPE_DATA, YAMUX_HEADER_FORMAT

    served = await host.libp2p.new_stream(peer, [SYNC_PROTOCOL])
    await served.write(wire.encode_frame(wire.Hello()))
    try:
        stream = await host.libp2p.new_stream(peer, [SYNC_PROTOCOL])
    except Exception as error:  # noqa: BLE001 - shed while it was negotiated: nothing to flood
        say(f"yamux: second stream refused ({type(error).__name__}), nothing sent")
        return
    muxed = stream.muxed_stream
    frame = 64 * 1024
    header = struct.pack(YAMUX_HEADER_FORMAT, 0, TYPE_DATA, 0, muxed.stream_id, frame)
    chunk, sent, cut = b"\xab" * frame, 0, False
    with trio.move_on_after(60):
        while sent < mib * 1024 * 1024:
            if muxed.conn.event_shutting_down.is_set():
                cut = True
                break
            try:
                await muxed.conn._write_frame(header + chunk)
            except Exception:  # noqa: BLE001 - the node closed the connection under us
                cut = True
                break
            sent += frame
    cut = cut or await wait_closed(host, peer, 5)
    say(f"yamux: sent {sent // (1024 * 1024)} MiB, {'cut off' if cut else 'still connected'}")


async def main(mode: str, target: str, seed_hex: str, *args: str) -> None:
    settings = NodeSettings(listen_port=0, mdns_enabled=False)
    async with open_host(settings, DeviceKey(bytes.fromhex(seed_hex))) as host:
        info = peer_info_from_multiaddr(target)
        if mode == "gossip":
            return await gossip(host, info, *args)
        if mode == "read":
            return await read_topic(host, info, args[0], float(args[1]))
        await connect_bounded(host.libp2p, info, 10)
        if mode == "sync":
            for index, data in enumerate(msgpack.unpackb(open(args[0], "rb").read())):
                say(f"{index}: {await attempt(host, info.peer_id, data)}")
        elif mode == "rounds":
            await rounds(host, info.peer_id, msgpack.unpackb(open(args[0], "rb").read()))
        elif mode == "slowloris":
            await slowloris(host, info.peer_id, float(args[0]))
        elif mode == "streams":
            await streams(host, info.peer_id, int(args[0]))
        elif mode == "yamux":
            await yamux(host, info.peer_id, int(args[0]))
        else:
            raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    trio.run(main, *sys.argv[1:])
