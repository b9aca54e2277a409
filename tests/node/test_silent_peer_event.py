"""A peer the liveness check closed is reported down on the control socket,
with the reason, once, and handed to discovery for redial."""

from __future__ import annotations

import pytest

from meshpantry.control.events import PeerEvent


class FakeDiscovery:
    def __init__(self) -> None:
        self.lost: list[object] = []

    def connection_lost(self, peer_id: object) -> None:
        self.lost.append(peer_id)


@pytest.mark.trio
async def test_silent_peer_is_reported_down_once_and_redialled(node, monkeypatch):
    events: list[PeerEvent] = []
    monkeypatch.setattr(node.control, "publish", events.append)
    node.discovery = FakeDiscovery()
    node.connected = {"peer-a", "peer-b"}
    await node._on_silent_peer("peer-a", "no answer to a ping within 4 s")
    await node._on_silent_peer("peer-a", "no answer to a ping within 4 s")  # closed twice: one event
    assert events == [PeerEvent(peer="peer-a", up=False, silent="no answer to a ping within 4 s")]
    assert node.connected == {"peer-b"}
    assert node.discovery.lost == ["peer-a", "peer-a"]
