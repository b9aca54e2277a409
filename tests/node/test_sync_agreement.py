"""Agreement learnt from sessions: a session that left both sides holding
one set makes the sessions queued with that peer afterwards (on connect, on
request, routine) pointless, and they are dropped unopened until this
node's set changes.

::

    peer ══ full sync ══▶ node      both hold the union
    node: sync with peer?           dropped unopened (skipped)
    node writes a record
    node: sync with peer?           opens a stream
"""

from __future__ import annotations

import pytest
import trio

from meshpantry.core.sync import SyncSession
from meshpantry.node.sync_driver import now_ms, run_sync
from meshpantry.node.sync_service import SYNC_PROTOCOL, ServeLimits, _channel

from tests.sync.replicas import Replica

from .helpers import wait_until
from .test_sync_slots import peer_of, serving

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


class _Recording:
    """The service's host, noting every sync stream it opens (and opening none)."""

    def __init__(self, libp2p) -> None:
        self.libp2p, self.opened = libp2p, []

    def set_stream_handler(self, protocol, handler) -> None:
        self.libp2p.set_stream_handler(protocol, handler)

    async def new_stream(self, peer_id, protocols):
        self.opened.append(str(peer_id))
        raise ConnectionError("not in this test")


async def test_a_session_that_settled_both_sides_on_one_set_makes_the_next_one_pointless(node):
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as peer:
        replica = Replica()
        stream = await peer.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        result = await run_sync(_channel(stream), SyncSession.initiator(replica, now=now_ms()), replica.ingest)
        assert result.ok and len(replica.ids) == node.store.count()
        other = str(peer.peer_id)
        await wait_until(lambda: service.served == {}, 10)
        recording = service.libp2p = _Recording(host.libp2p)
        service.planner.peers_up([other], now_ms())
        service.requested(other)
        await trio.sleep(0.2)
        assert recording.opened == [] and service.totals["skipped"] >= 1
        node.pantry.offer_add("bread", 1, "loaf")  # this side's set changed: a session may move it
        service.requested(other)
        await wait_until(lambda: recording.opened == [other], 10)
