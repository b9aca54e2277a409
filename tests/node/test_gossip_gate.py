"""Gossip behind the membership gate, between real hosts on loopback: a peer
the gate does not admit neither reads the topic nor feeds it; one admitted
later (a newcomer whose join was taken) gets the topic from then on.

::

    member A ══ gossip ══ member B        outsider X (subscribed, connected to A and B)
        publish ──────────▶ B: arrives    X: nothing, ever
        X publishes ──────▶ A, B: nothing arrives, nothing is checked
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
import trio

from libp2p.pubsub.gossipsub import PROTOCOL_ID_V11

from meshpantry.keys import DeviceKey
from meshpantry.node.gossip import GatedPubsub, open_gossip
from meshpantry.node.host import open_host

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until
from .test_gossip import Inbox, link

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


async def test_an_outsider_neither_reads_nor_feeds_the_topic_until_admitted(neighbourhood):
    members: set = set()
    async with AsyncExitStack() as stack:
        hosts, gossips, inboxes = [], [], []
        for admit in (True, True, False):
            host = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
            if admit:
                members.add(host.peer_id)
            inbox = Inbox()
            gated = None if not admit else (lambda peer: peer in members)
            gossip = await stack.enter_async_context(
                open_gossip(host, neighbourhood.id, neighbourhood.admits, inbox, LOOPBACK_SETTINGS,
                            admits_peer=gated))
            hosts.append(host), gossips.append(gossip), inboxes.append(inbox)
        a, b, x = hosts
        await link(a, b), await link(x, a), await link(x, b)
        assert isinstance(gossips[0].pubsub, GatedPubsub)
        await wait_until(lambda: b.peer_id in gossips[0].topic_peers(), 10)
        await trio.sleep(2.0)  # heartbeats: X would be grafted by now if it could be

        first = neighbourhood.records(3)
        gossips[0].publish([r.raw for r in first])
        await wait_until(lambda: len(inboxes[1].raws) == 3, 10)
        from_x = neighbourhood.records(2)
        gossips[2].publish([r.raw for r in from_x])
        await trio.sleep(2.0)
        assert inboxes[2].raws == []  # the outsider read nothing
        assert len(inboxes[0].raws) == 0 and len(inboxes[1].raws) == 3  # and fed nothing
        assert x.peer_id not in gossips[0].pubsub.peers and x.peer_id not in gossips[1].pubsub.peers
        assert gossips[0].pubsub.refused > 0
        # X's own pubsub stream to A is held unread; another one is reset at once.
        with trio.fail_after(5):
            with pytest.raises(Exception):  # reset while negotiating, or right after
                extra = await x.libp2p.new_stream(a.peer_id, [PROTOCOL_ID_V11])
                while await extra.read(1024):
                    pass
                raise EOFError("closed")
        assert gossips[0].stats.received_messages == 0 and gossips[0].stats.invalid_messages == 0  # never checked

        # X's join was taken: admitted, it gets the topic from then on.
        members.add(x.peer_id)
        for gossip in gossips[:2]:
            await gossip.pubsub.ensure_peer_stream(x.peer_id)
        await gossips[2].pubsub.ensure_peer_stream(a.peer_id)
        await wait_until(lambda: x.peer_id in gossips[0].topic_peers(), 10)
        later = neighbourhood.records(2)
        await trio.sleep(1.5)  # let the mesh take X in
        gossips[0].publish([r.raw for r in later])
        await wait_until(lambda: set(inboxes[2].raws) >= {r.raw for r in later}, 10)
