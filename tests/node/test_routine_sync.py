"""The node runs the sync planner: routine (periodic) syncs leave the newest
records to gossip, and every other sync is full."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from meshpantry.core.sync.planner import Mode, Outcome, StartSession
from meshpantry.node.sync_driver import now_ms
from meshpantry.node.sync_service import SyncService, SyncTotals


@pytest.mark.trio
async def test_routine_sync_passes_the_horizon_and_others_do_not(node, monkeypatch):
    settings = replace(node.settings, sync_interval_s=30.0, sync_jitter=0.0)
    # "0" sorts before every peer id: this side leads. It is no admitted
    # member under that id, so every peer counts (planner rule 1).
    service = SyncService(
        me="0", libp2p=None, store=node.store, pantry=node.pantry, liveness=None, ingest=node.ingest,
        publish=node.control.publish, denied=node.denied, rng=random.Random(1), horizon=node.horizon,
        settings=settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    started: list[StartSession] = []
    monkeypatch.setattr(service, "perform", started.extend)
    service.peers_up(["peer-a"])
    assert started == [StartSession("peer-a", Mode.FULL, None)]
    tick = service.planner.get_timer()
    service.planner.session_ended("peer-a", Outcome.DONE, now_ms())
    node.horizon.observe(tick - 20_000, 5)  # held lamport 5 twenty seconds before the tick
    node.horizon.observe(tick - 1_000, 9)  # and 9 just before it
    service.perform(service.planner.handle_timer(tick))
    assert started[1:] == [StartSession("peer-a", Mode.ROUTINE, 6)]
