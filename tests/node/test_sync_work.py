"""The reconcile work a peer's sessions cost the node is bounded per peer
within a window (:class:`meshpantry.core.sync.work.WorkLedger`): each
session the node serves or starts gets what is left of the peer's share as
its budget, is charged what it cost, and a peer whose message passes its
budget is refused before it is solved and cut off.

::

    greedy ──HELLO, RECONCILE (16 solves)──▶ node   share spent: cut off
    honest ──HELLO, RECONCILE (16 solves)──▶ node   answered, charged
"""

from __future__ import annotations

import logging
import random

import pytest
import trio

from meshpantry.core.sync.work import MAX_PEER_WORK, message_work
from meshpantry.core.sync.items import ItemIndex
from meshpantry.node.sync_driver import now_ms
from meshpantry.node.sync_service import SYNC_PROTOCOL, ServeLimits
from protocol import sync as wire

from .helpers import wait_until
from .test_sync_slots import peer_of, serving

pytestmark = [pytest.mark.trio, pytest.mark.timeout(120)]


def solves(count: int) -> wire.Reconcile:
    """``count`` SUMS entries of 64 sums, each solvable over a range that
    holds no item (the work of a solve each)."""
    rng = random.Random(3)
    entries = [wire.Entry(wire.Bound(index), wire.Sums(0, bytes(16), tuple(rng.randrange(1, 1 << 60)
                                                                          for _ in range(wire.MAX_SUMS))))
               for index in range(1, count + 1)]
    return wire.Reconcile((*entries, wire.Entry(wire.INF, wire.Skip())))


async def answer(stream) -> str:
    """Say HELLO and send the message; read until a RECONCILE, an ABORT or the end."""
    reader = wire.FrameReader()
    await stream.write(wire.encode_frame(wire.Hello()) + wire.encode_frame(solves(16)))
    with trio.fail_after(10):
        try:
            while data := await stream.read(65536):
                for body in reader.feed(data):
                    frame = wire.decode_frame(body)
                    if isinstance(frame, wire.Abort):
                        return f"abort {frame.code}"
                    if isinstance(frame, wire.Reconcile):
                        return "answered"
        except Exception:  # noqa: BLE001 - a reset is an answer
            return "reset"
    return "closed"


async def test_a_peer_whose_share_is_spent_is_refused_and_cut_off_and_another_is_answered(node, caplog):
    caplog.set_level(logging.INFO)
    cost = message_work(ItemIndex(node.store.sync_items()), solves(16).entries)
    assert cost > 0
    async with serving(node, ServeLimits()) as (host, service), peer_of(host) as greedy, peer_of(host) as honest:
        service.work.charge(str(greedy.peer_id), MAX_PEER_WORK - cost // 2, now_ms())
        refused = await answer(await greedy.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL]))
        assert refused in ("abort 2", "reset", "closed")
        await wait_until(lambda: service.is_cut_off(str(greedy.peer_id)), 10)
        assert any("sync session asks for" in r.getMessage() for r in caplog.records)

        stream = await honest.libp2p.new_stream(host.peer_id, [SYNC_PROTOCOL])
        assert await answer(stream) == "answered"
        await stream.reset()
        await wait_until(lambda: service.work.spent(str(honest.peer_id), now_ms()) == cost, 10)
        assert not service.is_cut_off(str(honest.peer_id))
