"""Discovery wired into a node: typed pieces, the cut-off test passed in at
construction, and the address book kept in the store."""

from __future__ import annotations

import dataclasses
import random

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.discovery_service import Discoverers, start_discovery
from meshpantry.node.host import open_host
from meshpantry.node.peer_exchange import PROTOCOL

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until


@pytest.mark.trio
async def test_a_cut_off_peer_is_not_dialled_until_allowed_again(node):
    """
    A knows B from its settings but B is cut off: A's redial loop leaves it
    alone. Once B is allowed and a redial asked for, A connects and the
    address book in A's store remembers where B listens.
    """
    cut_off = {"yes": True}
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as b:
        settings = dataclasses.replace(LOOPBACK_SETTINGS, static_peers=(b.dial_addrs()[0],))
        async with open_host(settings, node.pantry.key) as a, trio.open_nursery() as nursery:
            found = await start_discovery(
                node.store, a, settings, random.Random(3),
                lambda peer: cut_off["yes"] and peer == str(b.peer_id), nursery)
            assert isinstance(found, Discoverers) and found.mdns is None
            assert PROTOCOL in a.libp2p.get_mux().handlers  # peer exchange is served
            await trio.sleep(1.5)  # more than a redial tick
            assert found.discovery.stats.dials == 0 and found.discovery.island
            cut_off["yes"] = False
            found.discovery.redial_now()
            await wait_until(lambda: not found.discovery.island, 10)
            assert [p.peer_id for p in node.store.peer_addresses()] == [str(b.peer_id)]
            nursery.cancel_scope.cancel()


def test_a_peer_is_exchanged_with_again_for_news_or_by_its_leader_when_its_report_is_old():
    """Either side exchanges when it has news; without news only the side
    that leads, and only once the peer's report is missing or older than
    the backstop."""
    from libp2p.peer.id import ID

    from meshpantry.node.discovery import KnownPeer
    from meshpantry.node.discovery_service import REPORT_BACKSTOP_S, REPORT_REFRESH_S, refresh_due

    peer = KnownPeer(ID(b"\x00\x01x"), connected=True, reported_at=None)
    assert refresh_due(peer, 100.0, leads=True, news=False)  # no report yet
    assert not refresh_due(peer, 100.0, leads=False, news=False)
    peer.reported_at = 100.0
    for now in (100.0 + REPORT_REFRESH_S, 100.0 + REPORT_BACKSTOP_S - 1):
        assert not refresh_due(peer, now, leads=True, news=False)
        assert refresh_due(peer, now, leads=False, news=True) and refresh_due(peer, now, leads=True, news=True)
    assert refresh_due(peer, 100.0 + REPORT_BACKSTOP_S, leads=True, news=False)
    assert not refresh_due(peer, 100.0 + REPORT_BACKSTOP_S, leads=False, news=False)
