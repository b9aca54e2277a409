"""Live gossip between real hosts on loopback."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack, asynccontextmanager

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.gossip import PEER_QUEUE_RPCS, open_gossip
from meshpantry.core.membership import Admission
from meshpantry.core.validation import NotAdmitted, TimeInFuture, WrongNeighbourhood
from meshpantry.node.gossip_batch import (
    MAX_BATCH_RECORDS,
    check_batch,
    decode_batch,
    encode_batch,
    message_id,
    topic_for,
)
from meshpantry.node.host import connect_bounded, open_host, peer_info_from_multiaddr
from protocol.envelope import assemble
from protocol.limits import MAX_FUTURE_SKEW_MS
from protocol.errors import BadSignature, Malformed, NonCanonical, TooLarge

from .conftest import LOOPBACK_SETTINGS, NOW_MS, make_neighbourhood
from .helpers import wait_until


class Inbox:
    """Collects what ``on_records`` hands over."""

    def __init__(self) -> None:
        self.raws: list[bytes] = []
        self.arrivals: list[float] = []

    async def __call__(self, records, origin, forwarder=None) -> None:
        self.raws.extend(r.raw for r in records)
        self.arrivals.extend([trio.current_time()] * len(records))


async def start_node(stack: AsyncExitStack, hood, admits=None):
    host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
    inbox = Inbox()
    gossip = await stack.enter_async_context(
        open_gossip(host, hood.id, admits or hood.admits, inbox, LOOPBACK_SETTINGS)
    )
    return host, gossip, inbox


async def link(a, b) -> None:
    await connect_bounded(a.libp2p, peer_info_from_multiaddr(b.dial_addrs()[0]), 5)


def forged(raw_record) -> bytes:
    """The same payload with one bit of the signature flipped."""
    signature = bytearray(raw_record.signature)
    signature[0] ^= 1
    return assemble(raw_record.payload, bytes(signature))


def test_batch_codec_round_trip_and_limits(neighbourhood):
    """A batch decodes to the raws it was made of; malformed data is refused."""
    raws = [r.raw for r in neighbourhood.records(3)]
    assert decode_batch(encode_batch(raws)) == raws
    with pytest.raises(Malformed):
        decode_batch(b"\x90")  # empty array
    with pytest.raises(Malformed):
        decode_batch(encode_batch(raws)[:-1])  # truncated
    with pytest.raises(NonCanonical):
        decode_batch(b"\xdc\x00\x01\xc4\x01x")  # array16 holding one item
    with pytest.raises(TooLarge):
        decode_batch(b"\x91" + b"\x00" * (256 * 1024))
    with pytest.raises(Malformed):
        decode_batch(b"\xdc" + (MAX_BATCH_RECORDS + 1).to_bytes(2, "big") + b"\xc4\x01x" * (MAX_BATCH_RECORDS + 1))


def test_check_batch_rejects_forgery_outsiders_and_other_neighbourhoods(neighbourhood):
    """Every record goes through the ingest pipeline's checks, in its order."""
    good = neighbourhood.records(2)

    def check(raws, admits=neighbourhood.admits, now=NOW_MS):
        return check_batch(encode_batch(raws), neighbourhood.id, now, admits)

    assert [r.id for r in check([r.raw for r in good])] == [r.id for r in good]
    with pytest.raises(BadSignature):
        check([good[0].raw, forged(good[1])])
    with pytest.raises(NotAdmitted) as caught:
        check([good[0].raw], admits=lambda record: Admission.WAIT)
    assert caught.value == NotAdmitted(good[0].author, good[0].kind, True)
    with pytest.raises(NotAdmitted) as caught:
        check([good[0].raw], admits=lambda record: Admission.REJECT)
    assert caught.value.waiting is False
    with pytest.raises(TimeInFuture):
        check([good[0].raw], now=good[0].time - MAX_FUTURE_SKEW_MS - 1)
    other = make_neighbourhood()
    with pytest.raises(WrongNeighbourhood) as caught:
        check([other.records(1)[0].raw], admits=lambda record: Admission.ADMIT)
    assert caught.value.data == {"expected": neighbourhood.id, "found": other.id}
    assert topic_for(neighbourhood.id) == f"/meshpantry/{neighbourhood.id.hex()}/records/1"


@pytest.mark.trio
async def test_batch_of_500_crosses_two_hops_complete_and_forgeries_stop_at_first_hop(neighbourhood):
    """
    A ── B ── C        A publishes 500 records at once: B and C get all of them.
         │             H (hostile, no validation of its own) publishes forged and
         H             outsider records: B refuses them, so C never sees them.
    """
    records = neighbourhood.records(500)
    async with AsyncExitStack() as stack:
        a_host, a, _ = await start_node(stack, neighbourhood)
        b_host, b, b_inbox = await start_node(stack, neighbourhood)
        c_host, c, c_inbox = await start_node(stack, neighbourhood)
        h_host, h, _ = await start_node(stack, neighbourhood, admits=lambda record: Admission.ADMIT)
        await link(a_host, b_host)
        await link(c_host, b_host)
        await link(h_host, b_host)
        await wait_until(lambda: len(b.topic_peers()) == 3 and a.topic_peers() and c.topic_peers(), 10)
        queues = b.pubsub.peer_queues.values()
        assert len(queues) == 3 and all(q._queue.max_size == PEER_QUEUE_RPCS for q in queues)

        h.publish([forged(records[0])])
        await wait_until(lambda: b.stats.invalid_messages == 1, 10)
        outsider = make_neighbourhood()  # signed fine, but another neighbourhood
        h.publish([r.raw for r in outsider.records(2)])
        await wait_until(lambda: b.stats.invalid_messages == 2, 10)
        intruder = make_neighbourhood()  # our neighbourhood id, but not a member
        intruder.genesis = neighbourhood.genesis
        h.publish([r.raw for r in intruder.records(1)])
        await wait_until(lambda: b.stats.invalid_messages == 3, 10)

        a.publish(r.raw for r in records)
        await wait_until(lambda: len(b_inbox.raws) >= 500 and len(c_inbox.raws) >= 500, 20)
        await trio.sleep(0.3)  # anything forwarded late would show up now

    wanted = sorted(r.raw for r in records)
    # The router's delivery log (never trimmed by py-libp2p with adaptive
    # gossip off) is trimmed by us.
    (times,) = b.pubsub.router.recent_message_deliveries.values()
    count, latest = len(times), max(times)
    assert count >= 1 and b.trim_delivery_log(now=latest) == 0
    assert b.trim_delivery_log(now=latest + 61) == count and times == []
    assert sorted(b_inbox.raws) == wanted  # complete, no duplicates
    assert sorted(c_inbox.raws) == wanted
    assert a.stats.published_records == 500 and a.stats.published_messages >= 1
    assert a.stats.dropped_records == 0 and b.stats.dropped_records == 0
    assert c.stats.invalid_messages == 0  # B never forwarded what it refused


@pytest.mark.trio
async def test_a_new_peer_is_not_sent_the_message_cache(neighbourhood):
    """A published records alone; B connects while they are still in A's
    message cache (three heartbeats). py-libp2p would send them to B, one RPC
    each, and B would check them and forward them to its mesh; the node's
    on-connect sync brings them instead. Records published once B is there
    reach it by gossip as always."""
    async with AsyncExitStack() as stack:
        a_host, a, _ = await start_node(stack, neighbourhood)
        b_host, b, b_inbox = await start_node(stack, neighbourhood)
        before = neighbourhood.records(3)
        a.publish(r.raw for r in before)
        await wait_until(lambda: a.stats.published_records == 3, 10)
        assert len(a.pubsub.router.mcache.window(a.topic)) >= 1  # still in the cache
        await link(a_host, b_host)
        await wait_until(lambda: b_host.peer_id in a.topic_peers() and a_host.peer_id in b.topic_peers(), 10)
        await trio.sleep(1.0)  # the replay came within milliseconds of the subscription
        assert b_inbox.raws == [] and b.stats.received_messages == 0

        after = neighbourhood.records(2)
        await trio.sleep(1.0)  # a heartbeat grafts B into A's mesh
        a.publish(r.raw for r in after)
        await wait_until(lambda: len(b_inbox.raws) == 2, 10)
        assert sorted(b_inbox.raws) == sorted(r.raw for r in after)


@pytest.mark.trio
async def test_a_new_peer_is_not_advertised_the_message_cache(neighbourhood, monkeypatch):
    """With a mesh of one, A keeps one of B and C out of its mesh, and every
    heartbeat advertises its cached messages (IHAVE) to that one, which asks
    for them (IWANT). For a peer that connected within NEW_PEER_QUIET_S, the
    advertisement is left out: its on-connect sync brings what it lacks. After
    islands rejoin, each such message crossed and flooded the other island."""
    from meshpantry.node import gossip as gossip_module

    for name in ("MESH_DEGREE", "MESH_DEGREE_LOW", "MESH_DEGREE_HIGH"):
        monkeypatch.setattr(gossip_module, name, 1)
    async with AsyncExitStack() as stack:
        a_host, a, _ = await start_node(stack, neighbourhood)
        b_host, b, b_inbox = await start_node(stack, neighbourhood)
        c_host, c, c_inbox = await start_node(stack, neighbourhood)
        cached = neighbourhood.records(3)
        a.publish(r.raw for r in cached)
        await wait_until(lambda: a.stats.published_records == 3, 10)
        await link(b_host, a_host), await link(c_host, a_host)
        await wait_until(lambda: len(a.topic_peers()) == 2, 10)
        await wait_until(lambda: len(a.pubsub.router.mesh.get(a.topic, ())) == 1, 10)
        await trio.sleep(2.5)  # two heartbeats with the messages in A's gossip window
        assert b_inbox.raws == [] and c_inbox.raws == []
        assert b.stats.received_messages == 0 and c.stats.received_messages == 0


@pytest.mark.trio
async def test_an_unparsable_gossip_rpc_costs_its_stream_not_the_host(neighbourhood):
    """A peer writes garbage on the GossipSub protocol: the library would let
    the parse error stop the receiver's whole swarm. Only that stream goes;
    the receiver keeps gossiping and accepts new connections."""
    from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11

    records = neighbourhood.records(3)
    async with AsyncExitStack() as stack:
        b_host, b, b_inbox = await start_node(stack, neighbourhood)
        hostile = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        await link(hostile, b_host)
        stream = await hostile.libp2p.new_stream(b_host.peer_id, [PROTOCOL_ID_V11])
        await stream.write(b"\x10" + b"\xff" * 16)  # a 16-byte RPC that is not protobuf
        await trio.sleep(0.5)
        a_host, a, _ = await start_node(stack, neighbourhood)
        await link(a_host, b_host)  # a dead swarm would refuse this
        await wait_until(lambda: a.topic_peers() and b.topic_peers(), 10)
        a.publish(r.raw for r in records)
        await wait_until(lambda: len(b_inbox.raws) == 3, 10)
    assert sorted(b_inbox.raws) == sorted(r.raw for r in records)


@asynccontextmanager
async def foreign_gossip(stack: AsyncExitStack, topic: str, protocols, *, strict_signing: bool = True):
    """A GossipSub peer set up as another implementation would be from
    protocol/SPEC.md section 9 alone: py-libp2p's router with the library's
    own choices except those the spec fixes (the protocols it offers, in its
    order, and the message id), no topic validator of ours."""
    from libp2p.pubsub.gossipsub import GossipSub
    from libp2p.pubsub.pubsub import Pubsub
    from libp2p.tools.anyio_service import background_trio_service

    host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
    router = GossipSub(list(protocols), degree=6, degree_low=4, degree_high=12, heartbeat_interval=1)
    pubsub = Pubsub(host.libp2p, router, msg_id_constructor=message_id, strict_signing=strict_signing)
    async with background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        subscription = await pubsub.subscribe(topic)
        yield host, pubsub, subscription


@pytest.mark.trio
@pytest.mark.parametrize("offered", [("/meshsub/1.2.0", "/meshsub/1.1.0"), ("/meshsub/1.2.0",)])
async def test_a_peer_offering_meshsub_1_2_first_exchanges_gossip_both_ways(neighbourhood, offered):
    """go-libp2p and js-libp2p offer /meshsub/1.2.0 first. Our node accepts it
    (and a peer offering nothing else), the link runs 1.2 in both directions,
    and batches pass both ways."""
    topic = topic_for(neighbourhood.id)
    theirs = neighbourhood.records(2)
    ours = neighbourhood.records(3)
    async with AsyncExitStack() as stack:
        f_host, f_pubsub, f_subscription = await stack.enter_async_context(
            foreign_gossip(stack, topic, offered)
        )
        host, gossip, inbox = await start_node(stack, neighbourhood)
        await link(f_host, host)
        await wait_until(lambda: gossip.topic_peers() and f_pubsub.peer_topics.get(topic), 10)
        assert gossip.pubsub.router.peer_protocol[f_host.peer_id] == "/meshsub/1.2.0"
        assert f_pubsub.router.peer_protocol[host.peer_id] == "/meshsub/1.2.0"
        await wait_until(lambda: f_host.peer_id in gossip.pubsub.router.mesh.get(topic, ()), 10)

        await f_pubsub.publish(topic, encode_batch([r.raw for r in theirs]))
        await wait_until(lambda: len(inbox.raws) == 2, 10)
        gossip.publish(r.raw for r in ours)
        with trio.fail_after(10):
            received = await f_subscription.get()
            while received.from_id != host.peer_id.to_bytes():  # skip its own publish
                received = await f_subscription.get()
    assert inbox.raws == [r.raw for r in theirs]
    assert decode_batch(received.data) == [r.raw for r in ours]
    assert received.from_id == host.peer_id.to_bytes() and received.signature


@pytest.mark.trio
async def test_unsigned_gossip_is_reported_once_by_peer_and_not_delivered(neighbourhood, caplog):
    """A peer under the StrictNoSign policy sends messages with no from,
    seqno or signature. Our node (StrictSign) cannot exchange gossip with it:
    it drops them, and says so once, naming the peer, at warning level."""
    from libp2p.pubsub.pb import rpc_pb2

    from meshpantry.node import libp2p_compat

    libp2p_compat.forget_unsigned_reports()
    topic = topic_for(neighbourhood.id)
    records = neighbourhood.records(2)
    caplog.set_level(logging.WARNING, logger="meshpantry.node.libp2p_compat")
    async with AsyncExitStack() as stack:
        f_host, f_pubsub, _ = await stack.enter_async_context(
            foreign_gossip(stack, topic, ("/meshsub/1.2.0",), strict_signing=False)
        )
        host, gossip, inbox = await start_node(stack, neighbourhood)
        await link(f_host, host)
        await wait_until(lambda: f_host.peer_id in gossip.pubsub.router.mesh.get(topic, ())
                         and host.peer_id in f_pubsub.router.mesh.get(topic, ()), 10)
        for record in records:  # as StrictNoSign publishes: data and topic only
            unsigned = rpc_pb2.Message(data=encode_batch([record.raw]), topicIDs=[topic])
            await f_pubsub.push_msg(f_host.peer_id, unsigned)
        await wait_until(lambda: len(caplog.records) >= 1, 10)
        await trio.sleep(0.3)  # the second message, were it delivered or reported
    reports = [r for r in caplog.records if r.name == "meshpantry.node.libp2p_compat"]
    assert len(reports) == 1 and reports[0].levelno == logging.WARNING
    assert str(f_host.peer_id) in reports[0].getMessage()
    assert "StrictNoSign" in reports[0].getMessage()
    assert inbox.raws == []


def test_the_spec_states_the_gossip_the_node_runs():
    """protocol/SPEC.md section 9 names the protocol ids, limits, topic and
    message id the node uses."""
    import hashlib
    from pathlib import Path

    from libp2p.pubsub.pb import rpc_pb2

    import protocol
    from meshpantry.node.gossip import GOSSIPSUB_PROTOCOLS
    from meshpantry.node.gossip_batch import MAX_BATCH_BYTES

    spec = (Path(protocol.__file__).parent / "SPEC.md").read_text(encoding="utf-8")
    gossip = spec[spec.index("### 9.3 Gossip"):spec.index("## 10. Golden vectors")]
    assert [str(p) for p in GOSSIPSUB_PROTOCOLS] == ["/meshsub/1.2.0", "/meshsub/1.1.0"]
    assert "`/meshsub/1.2.0` and\n`/meshsub/1.1.0`" in gossip
    assert f"1 to {MAX_BATCH_RECORDS} items" in gossip and f"at most {MAX_BATCH_BYTES} bytes" in gossip
    assert "`/meshpantry/<neighbourhood id as 64 lower-case hex digits>/records/1`" in gossip
    assert "SHA-256 of the message's `data`" in gossip
    data = encode_batch([b"\x92\xc4\x00\xc4\x00"])
    assert message_id(rpc_pb2.Message(data=data)) == hashlib.sha256(data).digest()


@pytest.mark.trio
async def test_a_copy_arriving_while_the_first_is_checked_is_not_checked_again(neighbourhood):
    """
    A ── B        A publishes; C forwards its copy to B while B is still
     \\  /         checking A's (B's check is held until C's copy has come,
      C           as when a busy Raspberry Pi checks slower than a peer
                  forwards). py-libp2p marks a message seen only once it is
    valid, so B checked every copy that came meanwhile again: on five nodes
    writing live, up to 38% more signature checks than records. B now
    checks the message once, drops C's copy (counted), and delivers the
    records once.
    """
    records = neighbourhood.records(20)
    async with AsyncExitStack() as stack:
        a_host, a, _ = await start_node(stack, neighbourhood)
        b_host, b, b_inbox = await start_node(stack, neighbourhood)
        c_host, c, c_inbox = await start_node(stack, neighbourhood)
        await link(a_host, b_host)
        await link(a_host, c_host)
        await link(c_host, b_host)
        await wait_until(lambda: len(a.topic_peers()) == len(b.topic_peers()) == len(c.topic_peers()) == 2, 10)
        await trio.sleep(2.5)  # heartbeats graft everyone into everyone's mesh
        original = b.pubsub.topic_validators[b.topic]
        checks = []

        async def slow_check(forwarder, msg):
            checks.append(forwarder)
            # Held until C's copy has come: dropped (counted), or checked
            # again (a second entry in ``checks``).
            with trio.move_on_after(5):
                while b.stats.duplicates_dropped == 0 and len(checks) < 2:
                    await trio.sleep(0.01)
            return await original.validator(forwarder, msg)

        b.pubsub.topic_validators[b.topic] = original._replace(validator=slow_check)
        a.publish(r.raw for r in records)
        await wait_until(lambda: len(b_inbox.raws) == 20 and len(c_inbox.raws) == 20, 10)
        await trio.sleep(0.5)  # anything checked or delivered late shows up now
        assert a.stats.published_messages == 1
        assert checks == [a_host.peer_id]
        assert b.stats.duplicates_dropped == 1
        assert sorted(b_inbox.raws) == sorted(r.raw for r in records)  # once each
        assert b.stats.received_messages == 1 and b.stats.invalid_messages == 0
