"""Routine (periodic) syncs leave the newest records to gossip; every other
sync is full."""

from __future__ import annotations

import pytest
import trio

from meshpantry.node import sync_service


@pytest.mark.trio
async def test_routine_sync_passes_the_horizon_and_others_do_not(node, monkeypatch):
    calls = []

    async def fake_sync(_node, peer, *, below=None):
        calls.append((peer, below))

    monkeypatch.setattr(sync_service, "sync_with_peer", fake_sync)
    now = int(trio.current_time() * 1000)
    node.horizon.observe(now - 20_000, 5)  # held lamport 5 twenty seconds ago
    node.horizon.observe(now - 1_000, 9)  # and 9 now
    await node.sync_with("peer-a", routine=True)
    await node.sync_with("peer-b")
    assert calls == [("peer-a", 6), ("peer-b", None)]
