"""Sync between two real SQLite stores through the trio driver.

    store A (everything)  <--memory stream-->  store B (the founding records,
    plus offers A lacks)                         then both hold the union
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from meshpantry.core.sync import SyncSession
from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
from meshpantry.store import Store
from tests.core.records import TestNeighbourhood


async def _sync(a: Store, b: Store, now: int) -> tuple:
    left, right = trio.testing.memory_stream_pair()
    results = {}

    async def run(name, stream, session, store):
        results[name] = await run_sync(
            TrioStream(stream), session, lambda raws: store.ingest(raws, now=now)
        )

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run, "a", left, SyncSession.initiator(a, now=now_ms()), a)
        nursery.start_soon(run, "b", right, SyncSession.responder(b, now=now_ms()), b)
    return results["a"], results["b"]


@pytest.mark.trio
async def test_two_real_stores_end_with_the_union(tmp_path: Path):
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    cal = nb.join(3, name="Cal")
    founding = list(nb.records)
    for _ in range(30):
        nb.offer(bea)
    only_a = nb.records[len(founding) :]
    for _ in range(20):
        nb.offer(cal)
    only_b = nb.records[len(founding) + len(only_a) :]
    with Store.open(tmp_path / "a") as a, Store.open(tmp_path / "b") as b:
        for store, extra in ((a, only_a), (b, only_b)):
            store.set_setting("neighbourhood", nb.id)
            report = store.ingest([r.raw for r in founding + extra], now=nb.clock)
            assert not report.rejected
        result_a, result_b = await _sync(a, b, nb.clock)
        assert result_a.ok and result_b.ok, (result_a, result_b)
        assert a.count() == b.count() == len(nb.records)
        assert set(a.sync_items()) == set(b.sync_items())
        assert result_a.stats.records_received == len(only_b)
        assert result_b.stats.records_received == len(only_a)
