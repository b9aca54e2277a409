"""mDNS restricted to the configured interfaces (loopback here, always)."""

from __future__ import annotations

import random
import socket

import pytest
import trio
from zeroconf import InterfaceChoice, IPVersion, Zeroconf

from meshpantry.keys import DeviceKey
from meshpantry.node.config import NodeSettings
from meshpantry.node.discovery import Discovery
from meshpantry.node.host import open_host
from meshpantry.node.mdns import Mdns, parse_dnsaddrs, zeroconf_arguments

from .helpers import wait_until

MDNS_ON_LOOPBACK = NodeSettings(listen_port=0, mdns_enabled=True, mdns_interfaces=("127.0.0.1",))


def test_interfaces_setting_maps_to_zeroconf_arguments():
    """Named addresses pass through as-is; only the word 'all' means every interface."""
    assert zeroconf_arguments(("127.0.0.1",)) == {"interfaces": ["127.0.0.1"], "ip_version": IPVersion.V4Only}
    assert zeroconf_arguments(("all",))["interfaces"] is InterfaceChoice.All


def test_dnsaddr_txt_records_parse_to_one_peer():
    """TXT records give the peer id and its addresses; junk entries are skipped."""
    peer = "12D3KooWByPEXsSr5k5JeCPSSjV9rATVNyYix32tbAHb1tDfsLC9"
    parsed = parse_dnsaddrs(
        {
            b"dnsaddr": f"/ip4/127.0.0.1/tcp/4747/p2p/{peer}".encode(),
            b"dnsaddr2": b"\xff\xfe",
            b"dnsaddr3": b"/ip4/127.0.0.1/tcp/1/p2p/notapeer",
            b"other": b"x",
        }
    )
    assert parsed is not None and str(parsed[0]) == peer and parsed[1] == ["/ip4/127.0.0.1/tcp/4747"]
    assert parse_dnsaddrs({b"dnsaddr": None}) is None


@pytest.mark.trio
async def test_mdns_binds_loopback_only_and_two_nodes_find_each_other():
    """
    The interfaces setting reaches Zeroconf: its only sending socket is bound
    to 127.0.0.1 with multicast going out of 127.0.0.1. Two nodes announcing
    on loopback find and connect to each other through mDNS alone.
    """
    made: list[tuple[dict, Zeroconf]] = []

    def recording_factory(**kwargs):
        zc = Zeroconf(**kwargs)
        made.append((kwargs, zc))
        return zc

    async with open_host(MDNS_ON_LOOPBACK, DeviceKey.generate()) as a, open_host(
        MDNS_ON_LOOPBACK, DeviceKey.generate()
    ) as b:
        async with trio.open_nursery() as nursery:
            discovery_a = Discovery(a, MDNS_ON_LOOPBACK, random.Random(1))
            await nursery.start(discovery_a.run)
            mdns_a = Mdns(a, MDNS_ON_LOOPBACK, discovery_a.add_peer, recording_factory)
            mdns_b = Mdns(b, MDNS_ON_LOOPBACK, lambda peer, addrs: None, recording_factory)
            await nursery.start(mdns_a.run)
            await nursery.start(mdns_b.run)

            assert [kwargs for kwargs, _ in made] == [
                {"interfaces": ["127.0.0.1"], "ip_version": IPVersion.V4Only}
            ] * 2
            for _, zc in made:
                senders = [(s.sock.getsockname(), s.sock.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)) for s in zc.engine.senders]
                assert senders == [(("127.0.0.1", 5353), socket.inet_aton("127.0.0.1"))]

            await wait_until(lambda: b.peer_id in discovery_a.connected_peers(), 15)
            assert mdns_a.found >= 1
            nursery.cancel_scope.cancel()
