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
