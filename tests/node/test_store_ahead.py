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


def _held_batches(holds: dict[int, trio.Event], joined: set[int], taken: list[int], stored: list[int]):
    """An ``ingest_soon`` whose batch ``n`` is stored once ``holds[n]`` is
    set (at once without one), and says it joined the batch before when
    ``n`` is in ``joined``."""
    from meshpantry.node.checking import Pending

    def ingest_soon(raws, peer, *, catching_up=False):
        number = len(taken)
        taken.append(len(raws))

        async def store():
            if number in holds:
                await holds[number].wait()
            stored.append(number)
            return len(raws)

        return Pending(store, lambda: None, joined=number in joined)

    return ingest_soon


@pytest.mark.trio
async def test_a_batch_joined_to_the_checks_being_stored_does_not_hold_the_session(monkeypatch):
    """
    batch 0 (10 records): its store begins and waits
    batch 1 (200, more than the bound of 100) joined batch 0's checks: the
    store under way stores it, so batch 2 is taken in at once
    """
    monkeypatch.setattr(store_behind, "STORE_AHEAD_RECORDS", AHEAD)
    holds = {0: trio.Event()}
    taken: list[int] = []
    stored: list[int] = []
    behind = store_behind.StoreBehind(_held_batches(holds, {1}, taken, stored), "peer-a", 0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(behind.run)
        await behind.take([b"r"] * 10)
        await trio.testing.wait_all_tasks_blocked()  # batch 0's store has begun
        await behind.take([b"r"] * 2 * AHEAD)
        nursery.start_soon(behind.take, [b"r"] * 10)
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [10, 2 * AHEAD, 10] and stored == []
        holds[0].set()
        await behind.settle()
    assert stored == [0, 1, 2]


@pytest.mark.trio
async def test_a_batch_joined_to_checks_not_yet_stored_waits_with_them(monkeypatch):
    """
    batch 0: being stored (held); batch 1 (10): queued; batch 2 (200)
    joined batch 1's checks: both wait for the store, batch 3 is not taken
    in; once batch 1's store begins (still held), batch 3 is
    """
    monkeypatch.setattr(store_behind, "STORE_AHEAD_RECORDS", AHEAD)
    holds = {0: trio.Event(), 1: trio.Event()}
    taken: list[int] = []
    stored: list[int] = []
    behind = store_behind.StoreBehind(_held_batches(holds, {2}, taken, stored), "peer-a", 0)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(behind.run)
        await behind.take([b"r"] * 10)
        await trio.testing.wait_all_tasks_blocked()
        await behind.take([b"r"] * 10)
        await behind.take([b"r"] * 2 * AHEAD)
        nursery.start_soon(behind.take, [b"r"] * 10)
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [10, 10, 2 * AHEAD]  # batch 3 waits
        holds[0].set()
        await trio.testing.wait_all_tasks_blocked()
        assert taken == [10, 10, 2 * AHEAD, 10] and stored == [0]
        holds[1].set()
        await behind.settle()
    assert stored == [0, 1, 2, 3]
