"""Known peers, redial with backoff, and connection events, on loopback."""

from __future__ import annotations

import random
from contextlib import AsyncExitStack

import pytest
import trio

from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from meshpantry.node.addresses import usable_address
from meshpantry.node.discovery import Discovery
from meshpantry.node.host import open_host, peer_id_from_author

from .conftest import LOOPBACK_SETTINGS
from .helpers import wait_until


def test_usable_address_keeps_tcp_over_ip_and_loopback_when_asked():
    """Only plain TCP over IP is dialled; loopback-only nodes dial loopback only."""
    assert usable_address("/ip4/127.0.0.1/tcp/4747", True) == "/ip4/127.0.0.1/tcp/4747"
    assert usable_address("/ip4/127.0.0.1/tcp/4747/p2p/12D3KooWByPEXsSr5k5JeCPSSjV9rATVNyYix32tbAHb1tDfsLC9", True) == (
        "/ip4/127.0.0.1/tcp/4747"
    )
    assert usable_address("/ip4/192.168.1.20/tcp/4747", True) is None
    assert usable_address("/ip4/192.168.1.20/tcp/4747", False) == "/ip4/192.168.1.20/tcp/4747"
    assert usable_address("/ip4/0.0.0.0/tcp/4747", False) is None
    assert usable_address("/ip4/127.0.0.1/udp/4747/quic-v1", False) is None
    assert usable_address("/dns4/example.org/tcp/4747", False) is None
    assert usable_address("not an address", False) is None


class Events:
    def __init__(self) -> None:
        self.log: list[tuple[str, object, float]] = []

    async def up(self, peer_id) -> None:
        self.log.append(("up", peer_id, trio.current_time()))

    async def down(self, peer_id) -> None:
        self.log.append(("down", peer_id, trio.current_time()))

    def kinds(self, peer_id) -> list[str]:
        return [kind for kind, who, _ in self.log if who == peer_id]


@pytest.mark.trio
async def test_restarted_neighbour_is_redialled_within_seconds():
    """
    A knows B (static peer). B stops: A reports B down and keeps trying with
    backoff. B restarts (same key, same port): A is connected again within
    seconds, not the ~65 s of py-libp2p's own auto-connector.
    """
    key_b = DeviceKey.generate()
    settings_a = LOOPBACK_SETTINGS
    events = Events()
    remembered: list[tuple[object, list[str]]] = []
    async with AsyncExitStack() as outer:
        host_a = await outer.enter_async_context(open_host(settings_a, DeviceKey.generate()))
        nursery = await outer.enter_async_context(trio.open_nursery())

        async with open_host(LOOPBACK_SETTINGS, key_b) as host_b:
            port = int(host_b.listen_addrs[0].value_for_protocol("tcp"))
            discovery = Discovery(
                host_a,
                settings_a.__class__(**{**settings_a.__dict__, "static_peers": (host_b.dial_addrs()[0],)}),
                random.Random(7),
                on_peer_up=events.up,
                on_peer_down=events.down,
                remember=lambda peer, addrs: remembered.append((peer, addrs)),
            )
            await nursery.start(discovery.run)
            await wait_until(lambda: events.kinds(host_b.peer_id) == ["up"], 5)
            assert not discovery.island
            assert remembered == [(host_b.peer_id, [f"/ip4/127.0.0.1/tcp/{port}"])]

        await wait_until(lambda: events.kinds(host_b.peer_id) == ["up", "down"], 5)
        assert discovery.island
        await trio.sleep(2)  # A's dials fail meanwhile and back off
        assert discovery.stats.dial_failures >= 2
        restarted = NodeSettings(listen_host="127.0.0.1", listen_port=port, mdns_enabled=False)
        async with open_host(restarted, key_b) as host_b2:
            assert host_b2.peer_id == peer_id_from_author(key_b.public)
            took = await wait_until(lambda: events.kinds(host_b2.peer_id) == ["up", "down", "up"], 8)
            print(f"restarted neighbour redialled {took:.2f} s after it came back")
        nursery.cancel_scope.cancel()
    # Backoff after ~2 s of failures is at most 0.5 * 2^3 * 1.25 = 5 s.
    assert took < 6, f"restarted neighbour redialled after {took:.1f} s"


@pytest.mark.trio
async def test_address_book_peers_are_dialled_and_damaged_entries_skipped():
    """Peers loaded from the persisted book are dialled at start."""
    async with open_host(LOOPBACK_SETTINGS, DeviceKey.generate()) as a, open_host(
        LOOPBACK_SETTINGS, DeviceKey.generate()
    ) as b:
        events = Events()
        discovery = Discovery(a, LOOPBACK_SETTINGS, random.Random(5), on_peer_up=events.up)
        loaded = discovery.load_book(
            [
                (str(b.peer_id), [str(b.listen_addrs[0])]),
                ("not-a-peer-id", ["/ip4/127.0.0.1/tcp/9"]),
                (str(a.peer_id), [str(a.listen_addrs[0])]),  # ourselves: ignored
                (str(peer_id_from_author(DeviceKey.generate().public)), ["/ip4/10.1.2.3/tcp/4747"]),
            ]
        )
        assert loaded == 1  # the LAN address is refused: this node is loopback-only
        async with trio.open_nursery() as nursery:
            await nursery.start(discovery.run)
            await wait_until(lambda: events.kinds(b.peer_id) == ["up"], 5)
            nursery.cancel_scope.cancel()
