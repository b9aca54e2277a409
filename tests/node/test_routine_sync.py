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


class _Libp2p:
    def set_stream_handler(self, protocol, handler):
        self.handler = handler


@pytest.mark.trio
async def test_the_service_sleeps_until_the_planners_timer(node, autojump_clock, monkeypatch):
    """The loop wakes for the periodic tick (30 s +/- 20 %) and for new
    events, and otherwise sleeps: on an autojump clock, time only moves
    while every task is blocked."""
    import trio

    settings = replace(node.settings, sync_interval_s=30.0, sync_jitter=0.2)
    service = SyncService(
        me="0", libp2p=_Libp2p(), store=node.store, pantry=node.pantry, liveness=None, ingest=node.ingest,
        publish=node.control.publish, denied=node.denied, rng=random.Random(1), horizon=node.horizon,
        settings=settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    started: list[tuple[float, StartSession]] = []

    async def session(action: StartSession) -> None:
        started.append((trio.current_time(), action))
        await trio.sleep(1)
        service.session_ended(action.peer, Outcome.DONE)

    monkeypatch.setattr(service, "_session", session)
    async with trio.open_nursery() as nursery:
        begin = trio.current_time()
        await nursery.start(service.run)
        service.peers_up(["peer-a"])
        await trio.sleep(100)
        nursery.cancel_scope.cancel()
    modes = [action.mode for _, action in started]
    assert modes[0] is Mode.FULL and modes[1:] == [Mode.ROUTINE] * (len(modes) - 1)
    ticks = [t - begin for t, _ in started[1:]]
    assert 3 <= len(ticks) <= 4 and 24 <= ticks[0] <= 36


@pytest.mark.trio
async def test_a_session_with_a_peer_that_still_agrees_is_skipped(node):
    """A peer exchange found both sides holding the same set and this side's
    has not changed since: a routine or requested session could not move a
    record from here and opens no stream; one for a gap still runs."""
    service = SyncService(
        me="0", libp2p=None, store=node.store, pantry=node.pantry, liveness=None, ingest=node.ingest,
        publish=node.control.publish, denied=node.denied, rng=random.Random(1), horizon=node.horizon,
        settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    service.still_agrees = lambda peer: peer == "peer-a"
    service._nursery = _Nursery()  # records the sessions started, runs none
    service.peers_up(["peer-a"], agreeing=["peer-a"])
    service.requested("peer-a")
    service.perform(service.planner.handle_timer(service.planner.get_timer()))  # the routine tick
    assert service._nursery.started == [] and service.totals["skipped"] == 3
    service.gap_seen("peer-a", [b"\x01" * 32])
    service.perform(service.planner.handle_timer(now_ms() + 60_000))
    assert [action.mode for action in service._nursery.started] == [Mode.FULL]


class _Nursery:
    def __init__(self) -> None:
        self.started: list[StartSession] = []

    def start_soon(self, function, action) -> None:
        self.started.append(action)


@pytest.mark.trio
async def test_a_session_with_a_peer_whose_session_is_served_now_waits_and_is_tried_again(node):
    """The peer's own session with this node moves records both ways: a
    second one from this side would send every record twice. It opens no
    stream, is reported busy, and the planner tries again shortly."""
    from meshpantry.core.sync.planner import RETRY_MS

    service = SyncService(
        me="0", libp2p=None, store=node.store, pantry=node.pantry, liveness=None, ingest=node.ingest,
        publish=node.control.publish, denied=node.denied, rng=random.Random(1), horizon=node.horizon,
        settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    service.planner.peers_up(["peer-a"], now_ms())
    service.planner.running["peer-a"] = Mode.FULL
    service.served["peer-a"] = 1
    await service._session(StartSession("peer-a", Mode.FULL, None))  # libp2p=None: a stream would fail
    assert service.totals["deferred"] == 1 and service.totals["sessions"] == 0
    assert "peer-a" not in service.planner.running and service.outgoing == {}
    again = service.planner.handle_timer(now_ms() + 2 * RETRY_MS + 1)
    assert StartSession("peer-a", Mode.FULL, None) in again
