"""Redial after a repair: a connection coming up cuts every other peer's
backoff short; a connection our side closed is handed back for redial."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.discovery import NETWORK_CHANGE_GAP_S, Discovery
from meshpantry.node.host import open_host, peer_id_from_author
from meshpantry.node.liveness import close_peer

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until


def closed_port() -> int:
    """A loopback port nothing listens on (dials to it are refused)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.trio
async def test_a_connection_coming_up_redials_peers_that_back_off():
    """
    A backs off from C (unreachable, next dial a minute away). B connects:
    A dials C within a second or two, keeps C's failure count (the backoff
    goes on where it was); B reconnecting soon after redials C again only
    once the gap since the last such redial has passed
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        discovery = Discovery(a, LOOPBACK_SETTINGS, random.Random(3))
        c_id = peer_id_from_author(DeviceKey.generate().public)
        discovery.add_peer(c_id, [f"/ip4/127.0.0.1/tcp/{closed_port()}"], verified=True)
        c = discovery.peers[c_id]
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(discovery.run)
        await wait_until(lambda: c.failures == 1 and not c.dialing, 5)
        c.failures, c.next_dial = 6, trio.current_time() + 60  # deep in backoff
        await trio.sleep(1.5)
        assert c.failures == 6  # nothing dials it meanwhile

        discovery.add_peer(b.peer_id, [str(b.listen_addrs[0])])
        took = await wait_until(lambda: c.failures == 7 and not c.dialing, 3)
        assert discovery.peers[b.peer_id].connected
        # Failure count kept: back at the cap (10 s for a neighbour), not at 2 * 0.5 s.
        assert c.next_dial - trio.current_time() > 5
        print(f"C redialled {took:.2f} s after B's dial started")

        # B drops and is back within the gap: C waits for the gap's end.
        first = trio.current_time()
        await close_peer(a.libp2p.get_network(), b.peer_id)
        await wait_until(lambda: discovery.stats.connects == 2, 5)
        assert c.failures == 7
        await wait_until(lambda: c.failures == 8, NETWORK_CHANGE_GAP_S + 3)
        assert trio.current_time() - first >= NETWORK_CHANGE_GAP_S - 1
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_connection_closed_by_our_side_is_reported_down_and_redialled():
    """
    A closes its connection to B (as the liveness check does to a silent
    peer) and hands B back: B is reported down, then up again within seconds
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        log: list[str] = []

        async def up(peer_id) -> None:
            log.append("up")

        async def down(peer_id) -> None:
            log.append("down")

        discovery = Discovery(a, LOOPBACK_SETTINGS, random.Random(4), on_peer_up=up, on_peer_down=down)
        discovery.add_peer(b.peer_id, [str(b.listen_addrs[0])], static=True)
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(discovery.run)
        await wait_until(lambda: log == ["up"], 5)
        await close_peer(a.libp2p.get_network(), b.peer_id)
        discovery.connection_lost(b.peer_id)
        took = await wait_until(lambda: log == ["up", "down", "up"], 5)
        assert took < 3
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_neighbours_expected_back_are_dialled_often_and_strangers_rarely():
    """
    two unreachable peers, deep in backoff: a neighbour from the address
    book (expected back) is dialled again within EXPECTED_BACK_REDIAL_MAX_S;
    one no longer expected waits up to redial_max_s
    """
    from meshpantry.node.discovery import EXPECTED_BACK_REDIAL_MAX_S

    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a:
        discovery = Discovery(a, LOOPBACK_SETTINGS, random.Random(5))
        near = peer_id_from_author(DeviceKey.generate().public)
        gone = peer_id_from_author(DeviceKey.generate().public)
        discovery.load_book([(near, [f"/ip4/127.0.0.1/tcp/{closed_port()}"]),
                             (gone, [f"/ip4/127.0.0.1/tcp/{closed_port()}"])])
        discovery.peers[gone].expected_until = trio.current_time() - 1
        for peer in discovery.peers.values():
            peer.failures = 12
        async with trio.open_nursery() as nursery:
            await nursery.start(discovery.run)
            await wait_until(lambda: all(p.failures == 13 and not p.dialing for p in discovery.peers.values()), 5)
            now = trio.current_time()
            jitter = 1 + LOOPBACK_SETTINGS.redial_jitter
            assert discovery.peers[near].next_dial - now <= EXPECTED_BACK_REDIAL_MAX_S * jitter
            assert discovery.peers[gone].next_dial - now >= LOOPBACK_SETTINGS.redial_max_s * (2 - jitter) - 1
            nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_a_peer_that_dialled_us_can_be_redialled_by_us():
    """
    A dials B. B learns where A listens (identify) and remembers it; A stops
    dialling and the connection closes: B redials A on its own
    """
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        b = await stack.enter_async_context(open_host(LOOPBACK_SETTINGS, DeviceKey.generate()))
        remembered: list[tuple[object, list[str]]] = []
        at_a = Discovery(a, LOOPBACK_SETTINGS, random.Random(6))
        at_b = Discovery(b, LOOPBACK_SETTINGS, random.Random(7),
                         remember=lambda peer, addrs: remembered.append((peer, addrs)))
        at_a.add_peer(b.peer_id, [str(b.listen_addrs[0])], static=True)
        nursery = await stack.enter_async_context(trio.open_nursery())
        await nursery.start(at_b.run)
        async with trio.open_nursery() as dialling_side:
            await dialling_side.start(at_a.run)
            await wait_until(lambda: a.peer_id in at_b.peers and at_b.peers[a.peer_id].addrs, 5)
            dialling_side.cancel_scope.cancel()
        assert at_b.peers[a.peer_id].addrs == [str(a.listen_addrs[0])]
        assert remembered == [(a.peer_id, [str(a.listen_addrs[0])])]
        assert at_b.stats.dials == 0
        await close_peer(b.libp2p.get_network(), a.peer_id)
        await wait_until(lambda: at_b.stats.connects == 2, 5)
        assert at_b.stats.dials >= 1
        nursery.cancel_scope.cancel()


@pytest.mark.trio
async def test_the_library_auto_connector_dials_nothing():
    """B's peerstore knows A's address; asking the library's auto-connector to
    top up connections dials nothing (our discovery decides who is dialled)"""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, open_host(
        LOOPBACK_SETTINGS, DeviceKey.generate()
    ) as b:
        b.libp2p.get_peerstore().add_addrs(a.peer_id, a.listen_addrs, 3600)
        await b.libp2p.get_network().auto_connector.maybe_connect()
        await trio.sleep(1)
        assert b.libp2p.get_network().get_connections(a.peer_id) == []
