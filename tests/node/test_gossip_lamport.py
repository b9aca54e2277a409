"""The node's topic validator applies the Lamport bound against its log's
reach: a message carrying a counter far beyond it is neither delivered nor
forwarded, and its forwarder is not blamed."""

from __future__ import annotations

import trio
from libp2p.pubsub.pb import rpc_pb2

from meshpantry.core.membership import Admission
from meshpantry.keys import DeviceKey
from meshpantry.node.gossip import BatchValidator, GossipStats
from meshpantry.node.gossip_batch import encode_batch
from meshpantry.node.host import peer_id_from_author
from protocol import seal
from protocol.limits import MAX_COUNTER

HOOD = bytes(range(32))
NOW = 1_700_000_000_000


def offer(key: DeviceKey, lamport: int):
    return seal(key.secret, neighbourhood=HOOD, seq=1, prev=None, lamport=lamport, time=NOW, kind="offer",
                body={"item": "plums", "quantity": 1, "unit": "kg"})


def validate(records, reach) -> tuple[bool, GossipStats, list]:
    me, sender = DeviceKey.generate(), DeviceKey.generate()
    blamed: list = []
    stats = GossipStats()
    validator = BatchValidator(peer_id_from_author(me.public), HOOD, lambda r: Admission.ADMIT, stats,
                               on_forged=lambda peer, error: blamed.append(error), clock=lambda: NOW,
                               reach=reach)
    message = rpc_pb2.Message(data=encode_batch([r.raw for r in records]),
                              from_id=peer_id_from_author(sender.public).to_bytes())

    async def main():
        return await validator(peer_id_from_author(sender.public), message)

    return trio.run(main), stats, blamed


def test_a_counter_at_its_limit_is_not_forwarded():
    key = DeviceKey.generate()
    accepted, stats, blamed = validate([offer(key, MAX_COUNTER)], reach=lambda: 40)
    assert not accepted and stats.invalid_messages == 1 and blamed == []


def test_a_counter_within_the_lead_is_forwarded():
    accepted, _, _ = validate([offer(DeviceKey.generate(), 41)], reach=lambda: 40)
    assert accepted
