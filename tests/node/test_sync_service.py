"""The node's sync service on one clock: a stream that cannot be opened by
its deadline is reported to the planner as unreachable and to the liveness
check as a missed probe, and nothing is banned for it."""

from __future__ import annotations

import random

import pytest
import trio

from meshpantry.core.sync.deadlines import OPEN_STREAM_MS
from meshpantry.core.sync.planner import Mode, Outcome, StartSession
from meshpantry.keys import DeviceKey
from meshpantry.node.host import peer_id_from_author
from meshpantry.node.sync_service import SyncService, SyncTotals


class _SilentLibp2p:
    """A host whose peer never answers the stream negotiation."""

    def set_stream_handler(self, protocol, handler):
        pass

    async def new_stream(self, peer_id, protocols):
        await trio.sleep_forever()


@pytest.mark.trio
async def test_a_stream_not_opened_by_its_deadline_is_unreachable(node, autojump_clock, monkeypatch):
    missed: list[tuple[str, str]] = []

    class Liveness:
        async def missed(self, peer_id, why):
            missed.append((str(peer_id), why))

        def heard(self, peer_id):
            raise AssertionError("no session ran")

    peer = str(peer_id_from_author(DeviceKey.generate().public))
    service = SyncService(
        me="0", libp2p=_SilentLibp2p(), store=node.store, pantry=node.pantry, liveness=Liveness(),
        ingest=node.ingest, publish=node.control.publish, denied=node.denied, rng=random.Random(1),
        horizon=node.horizon, settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    ended: list[tuple[str, Outcome, float]] = []
    monkeypatch.setattr(service, "session_ended", lambda p, outcome: ended.append((p, outcome, trio.current_time())))
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        begin = trio.current_time()
        await service._session(StartSession(peer, Mode.FULL))
        nursery.cancel_scope.cancel()
    assert [(p, outcome) for p, outcome, _ in ended] == [(peer, Outcome.UNREACHABLE)]
    assert (ended[0][2] - begin) * 1000 == pytest.approx(OPEN_STREAM_MS, abs=1)
    assert missed == [(peer, f"sync stream not opened within {OPEN_STREAM_MS} ms")]
    assert not service.planner.cut_off
