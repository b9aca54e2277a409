"""A sync session takes in (and acknowledges) batches ahead of its store up to
a bound of records, so the checking processes always have records to check
while the node stores a large batch."""

from __future__ import annotations

import random

import pytest
import trio
import trio.testing

from meshpantry.node import store_behind
from tests.node.test_sync_service import _service_storing_with

#: The bound the test runs with: several of its 10-record frames.
AHEAD = 100


class _SmallReads:
    """A byte stream whose reads bring at most 256 bytes: the records come
    in batches of a frame or two, as on a slow link."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self._stream = stream

    async def read(self, max_bytes: int) -> bytes:
        return await self._stream.receive_some(min(max_bytes, 256))

    async def write(self, data: bytes) -> None:
        await self._stream.send_all(data)

    async def close(self) -> None:
        await self._stream.aclose()


@pytest.mark.trio
async def test_batches_are_taken_in_while_one_is_stored_up_to_the_bound(node, monkeypatch):
    """
    peer ──RECORDS, 10 a frame──▶ node, whose store of the first batch waits:
    the batches after it are taken in (acknowledged, their checks could
    start) until at least AHEAD records wait for the store, and no further;
    once the store goes on, every batch is stored, in order
    """
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.checking import Pending
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
    from tests.sync.replicas import Replica, chains

    class SmallFrames(SyncSession):
        batch_records = 10

    monkeypatch.setattr(store_behind, "STORE_AHEAD_RECORDS", AHEAD)
    full, empty = Replica(chains(400, 10, random.Random(5))), Replica()
    sizes: list[int] = []
    stored: list[int] = []
    go_on = trio.Event()

    def ingest_soon(batch, peer, *, catching_up=False):
        number = len(sizes)
        sizes.append(len(batch))

        async def store():
            if number == 0:
                await go_on.wait()
            empty.ingest(batch)
            stored.append(number)
            return len(batch)

        return Pending(store, lambda: None)

    service = _service_storing_with(node, ingest_soon)
    left, right = trio.testing.memory_stream_pair()
    results = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_sync, TrioStream(right), SmallFrames.responder(full, now=now_ms()), full.ingest)

        async def initiator():
            results.append(await service._run("peer-a", _SmallReads(left), SyncSession.initiator(empty, now=now_ms())))

        nursery.start_soon(initiator)
        await trio.testing.wait_all_tasks_blocked(cushion=0.05)
        waiting = sizes[1:]
        assert len(waiting) >= 2, sizes  # more than one batch beyond the one being stored
        assert sum(waiting[:-1]) < AHEAD <= sum(waiting), sizes
        assert stored == []
        go_on.set()
    [result] = results
    assert result.ok, result.error
    assert empty.ids == full.ids
    assert stored == list(range(len(sizes)))
