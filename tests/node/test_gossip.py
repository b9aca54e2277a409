"""Live gossip between real hosts on loopback."""

from __future__ import annotations

from contextlib import AsyncExitStack

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
