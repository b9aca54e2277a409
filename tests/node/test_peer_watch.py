"""The node's watch over its connections: it looks when a connection comes
or goes, and otherwise only now and then."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import trio

from meshpantry.node.host import peer_id_from_author
from meshpantry.node.runner import PEER_WATCH_IDLE_S, PEER_WATCH_INTERVAL_S


class _Conn:
    def __init__(self, peer_id) -> None:
        self.is_closed = False
        self.muxed_conn = self
        self.peer_id = peer_id


class _Network:
    """The swarm's connections and notifees, as the watch reads them."""

    def __init__(self) -> None:
        self.connections: dict = {}
        self.notifees: list = []

    def register_notifee(self, notifee) -> None:
        self.notifees.append(notifee)

    def remove_notifee(self, notifee) -> None:
        self.notifees.remove(notifee)

    async def connect(self, peer_id) -> None:
        conn = _Conn(peer_id)
        self.connections[peer_id] = [conn]
        for notifee in self.notifees:
            await notifee.connected(self, conn)


@pytest.mark.trio
async def test_the_watch_looks_at_once_when_a_peer_connects_and_rarely_when_nothing_changes(node, autojump_clock):
    """
    quiet      : a look every PEER_WATCH_IDLE_S, not every PEER_WATCH_INTERVAL_S
    B connects : B is reported up within PEER_WATCH_INTERVAL_S of connecting
    """
    looks: list[float] = []
    look = node._look_at_peers

    async def counted() -> None:
        looks.append(trio.current_time())
        await look()

    node._look_at_peers = counted
    node.network = network = _Network()
    node.host = SimpleNamespace(peer_id="~")  # sorts after every peer id: B leads
    member = peer_id_from_author(node.pantry.key.public)  # a member's id: the gate admits it
    async with trio.open_nursery() as nursery:
        node._nursery = nursery
        nursery.start_soon(node._watch_peers)
        await trio.sleep(10 * PEER_WATCH_IDLE_S - 0.01)
        assert len(looks) == 10
        connected_at = trio.current_time()
        await network.connect(member)
        await trio.sleep(PEER_WATCH_INTERVAL_S)
        assert node.connected == {str(member)} and looks[-1] - connected_at <= PEER_WATCH_INTERVAL_S
        nursery.cancel_scope.cancel()
    assert network.notifees == []


@pytest.mark.trio
async def test_a_connected_peer_not_admitted_yet_is_looked_at_often(node, autojump_clock):
    """
    B connects before this node holds its join: B is no member yet. When its
    join arrives (handshake or sync: no connection changes), B counts within
    PEER_WATCH_INTERVAL_S, not at the next idle look.
    """
    from meshpantry.keys import DeviceKey

    node.network = network = _Network()
    node.host = SimpleNamespace(peer_id="~")
    newcomer = peer_id_from_author(DeviceKey.generate().public)
    members = {str(peer_id_from_author(node.pantry.key.public))}
    node.gate.is_member = lambda peer, **_: str(peer) in members
    async with trio.open_nursery() as nursery:
        node._nursery = nursery
        nursery.start_soon(node._watch_peers)
        await network.connect(newcomer)
        await trio.sleep(PEER_WATCH_IDLE_S)
        assert node.connected == set()
        members.add(str(newcomer))  # its join is logged
        admitted_at = trio.current_time()
        await trio.sleep(PEER_WATCH_INTERVAL_S + 0.01)
        assert node.connected == {str(newcomer)}
        assert trio.current_time() - admitted_at < PEER_WATCH_IDLE_S
        nursery.cancel_scope.cancel()
