"""The node's sync service on one clock: a stream that cannot be opened by
its deadline is reported to the planner as unreachable and to the liveness
check as a missed probe, and nothing is banned for it."""

from __future__ import annotations

import logging
import random

import pytest
import trio
import trio.testing

from meshpantry.core.sync import PeerAborted
from meshpantry.core.sync.deadlines import OPEN_STREAM_MS
from meshpantry.core.sync.planner import Mode, Outcome, StartSession
from meshpantry.core.sync.turns import Phase
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


@pytest.mark.trio
async def test_a_session_takes_in_its_next_batch_while_it_stores_the_one_before(node):
    """
    peer ──RECORDS in small frames──▶ node, whose store of a batch waits
    the next batch is taken in (its checks could start, it is acknowledged)
    while the batch before it is still being stored; batches are stored in
    the order they came; the session is done once the last one is stored
    """
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.checking import Pending
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
    from tests.sync.replicas import Replica, chains

    class SmallFrames(SyncSession):
        batch_records = 10

    raws = chains(100, 10, random.Random(3))
    full, empty = Replica(raws), Replica()
    steps: list[str] = []
    taken_in = [trio.Event() for _ in range(100)]

    def ingest_soon(batch, peer, *, catching_up=False):
        number = sum(step.startswith("taken") for step in steps)
        steps.append(f"taken {number}")
        taken_in[number].set()

        async def store():
            steps.append(f"storing {number}")
            with trio.fail_after(5):
                await taken_in[number + 1].wait()  # the next batch came meanwhile
            empty.ingest(batch)
            steps.append(f"stored {number}")
            return len(batch)

        return Pending(store, lambda: None)

    service = _service_storing_with(node, ingest_soon)
    left, right = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_sync, TrioStream(right), SmallFrames.responder(full, now=now_ms()), full.ingest)
        session = SyncSession.initiator(empty, now=now_ms())
        # The last batch has no next one: it is let through once the session is over.
        nursery.start_soon(lambda: _release_last(taken_in, steps))
        result = await service._run("peer-a", TrioStream(left), session)
        nursery.cancel_scope.cancel()
    assert result.ok, result.error
    assert empty.ids == full.ids
    batches = sum(step.startswith("taken") for step in steps)
    assert batches >= 3
    for number in range(batches - 1):
        assert steps.index(f"taken {number + 1}") < steps.index(f"stored {number}")
    assert [s for s in steps if s.startswith("stored")] == [f"stored {n}" for n in range(batches)]


async def _release_last(taken_in, steps):
    """Set the event the last batch's store waits for once no batch came for a while."""
    while True:
        count = sum(step.startswith("taken") for step in steps)
        await trio.sleep(0.5)
        if count and count == sum(step.startswith("taken") for step in steps):
            taken_in[count].set()
            return


@pytest.mark.trio
async def test_a_session_that_breaks_still_stores_what_it_took_in(node):
    """The peer goes away after the first batch was taken in (and
    acknowledged): the session fails, and that batch is stored all the same
    before the session's end is reported."""
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.checking import Pending
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
    from tests.sync.replicas import Replica, chains

    class SmallFrames(SyncSession):
        batch_records = 10

    full, empty = Replica(chains(100, 10, random.Random(4))), Replica()
    steps: list[str] = []
    first_taken = trio.Event()

    def ingest_soon(batch, peer, *, catching_up=False):
        number = sum(step.startswith("taken") for step in steps)
        steps.append(f"taken {number}")
        first_taken.set()

        async def store():
            await trio.sleep(0.2)
            empty.ingest(batch)
            steps.append(f"stored {number}")
            return len(batch)

        return Pending(store, lambda: steps.append(f"dropped {number}"))

    service = _service_storing_with(node, ingest_soon)
    left, right = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:

        async def peer_that_leaves():
            with trio.move_on_after(10):
                async with trio.open_nursery() as inner:
                    inner.start_soon(run_sync, TrioStream(right), SmallFrames.responder(full, now=now_ms()),
                                     full.ingest)
                    await first_taken.wait()
                    inner.cancel_scope.cancel()
            await right.aclose()

        nursery.start_soon(peer_that_leaves)
        result = await service._run("peer-a", TrioStream(left), SyncSession.initiator(empty, now=now_ms()))
    assert not result.ok
    assert "stored 0" in steps and not any(step.startswith("dropped") for step in steps)
    assert steps[-1].startswith("stored")  # nothing taken in was left behind
    assert 0 < len(empty.ids) < len(full.ids)


@pytest.mark.trio
async def test_a_recovery_of_our_chain_holds_no_served_session_nor_gives_way(node, autojump_clock, monkeypatch):
    """A session fetching this node's own chain never reconciles: while its
    stream opens it holds no served session (rule 4), and it never gives
    way (rule 5), which would only put the recovery off. Counted as
    reconciling until its session began, it held the served session for
    the whole stream opening (10 s here, the peer never answering)."""

    class Liveness:
        async def missed(self, peer_id, why):
            pass

    peer = str(peer_id_from_author(DeviceKey.generate().public))
    service = SyncService(
        me="m", libp2p=_SilentLibp2p(), store=node.store, pantry=node.pantry, liveness=Liveness(),
        ingest=node.ingest, publish=node.control.publish, denied=node.denied, rng=random.Random(1),
        horizon=node.horizon, settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
    )
    ended: list[Outcome] = []
    monkeypatch.setattr(service, "session_ended", lambda p, outcome: ended.append(outcome))
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        nursery.start_soon(service._session, StartSession(peer, Mode.RECOVER))
        while not service.turns.book.phases()[Phase.RUNNING]:
            await trio.sleep(0)
        # "1": smaller than the peer (rule 5 would apply) and than "m" (rule 2 does not)
        async with service.turns.session("1") as served:
            started = trio.current_time()
            await served.wait()
            waited = trio.current_time() - started
        while not ended:
            await trio.sleep(1)
        nursery.cancel_scope.cancel()
    assert waited == 0
    assert ended == [Outcome.UNREACHABLE]  # its stream never opened; it did not give way (BUSY)


def _service_storing_with(node, ingest_soon, me: str = "0") -> SyncService:
    """A sync service (of peer ``me``) over ``node``'s store whose sessions
    hand their batches to ``ingest_soon`` (no host: the tests drive ``_run``
    themselves)."""
    return SyncService(
        me=me, libp2p=None, store=node.store, pantry=node.pantry, liveness=None, ingest=node.ingest,
        ingest_soon=ingest_soon, publish=lambda *a: None, denied=set(), rng=random.Random(1),
        horizon=node.horizon, settings=node.settings, progress={}, totals=SyncTotals(), last_sync={},
    )


def _peers_holding_what_the_node_lacks(names, seed: int):
    """100 records (10 chains) held by each of the peers ``names`` and none
    by the node: (the records, the peers' replicas by name, the node's
    replica, the sizes of the batches delivered to the node, and an
    ``ingest_soon`` that counts each batch and stores it a moment later)."""
    from meshpantry.node.checking import Pending
    from tests.sync.replicas import Replica, chains

    raws = chains(10, 10, random.Random(seed))
    peers, node_replica = {name: Replica(raws) for name in names}, Replica()
    delivered: list[int] = []

    def ingest_soon(batch, peer, *, catching_up=False):
        async def store():
            await trio.sleep(0.05)
            node_replica.ingest(batch)
            return len(batch)

        delivered.append(len(batch))
        return Pending(store, lambda: None)

    return raws, peers, node_replica, delivered, ingest_soon


@pytest.mark.trio
async def test_a_session_bringing_records_holds_the_others_until_they_are_stored(node):
    """
    peer zz ──RECORDS in small frames──▶ node (each batch stored slowly)
    a session of peer a (a smaller id: the order of ids alone lets it
    through) does not reconcile here while zz's records come and until the
    last one is stored: it would ask for them again; then it may
    """
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.checking import Pending
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
    from tests.sync.replicas import Replica, chains

    class SmallFrames(SyncSession):
        batch_records = 10

    full, empty = Replica(chains(10, 10, random.Random(5))), Replica()

    def ingest_soon(batch, peer, *, catching_up=False):
        async def store():
            await trio.sleep(0.3)
            empty.ingest(batch)
            return len(batch)

        return Pending(store, lambda: None)

    service = _service_storing_with(node, ingest_soon)
    book = service.turns.book
    seen: list[bool] = []
    left, right = trio.testing.memory_stream_pair()
    async with service.turns.session("zz") as turn, service.turns.session("a") as other:
        turn.go()
        assert not book.may_go(other.token)  # zz's session is to reconcile first (rule 4)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_sync, TrioStream(right), SmallFrames.responder(full, now=now_ms()), full.ingest)

            async def watch() -> None:
                while True:
                    seen.append(book.may_go(other.token))
                    await trio.sleep(0.02)

            nursery.start_soon(watch)
            result = await service._run("zz", TrioStream(left), SyncSession.initiator(empty, now=now_ms()), turn)
            seen.append(book.may_go(other.token))
            nursery.cancel_scope.cancel()
    assert result.ok, result.error and empty.ids == full.ids
    assert seen.count(False) >= 10 and seen[-1] is True


@pytest.mark.trio
async def test_two_peers_holding_what_the_node_lacks_send_it_once(node):
    """
    peer z ──session──▶ node ◀──session── peer a     (z and a hold the same
    100 records, the node none; z's session starts first, a's at once after)

    Rule 2 lets a's session through (a smaller id than z's), and z's was
    not receiving yet: it was still reconciling. Both found the same
    records missing and both peers sent all of them (200 delivered for
    100: how a heal's nodes got 1.13 to 1.32 times the records they
    lacked). Now a's waits until z's reconciliation is over (rule 4), then
    until its records are stored (rule 3), and finds nothing missing.
    """
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync

    raws, peers, node_replica, delivered, ingest_soon = _peers_holding_what_the_node_lacks(("z", "a"), 7)
    service = _service_storing_with(node, ingest_soon)
    results = {}

    async def session_of(peer: str) -> None:
        async with service.turns.session(peer) as turn:
            await turn.wait()
            left, right = trio.testing.memory_stream_pair()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_sync, TrioStream(right), SyncSession.responder(peers[peer], now=now_ms()),
                                   peers[peer].ingest)
                results[peer] = await service._run(peer, TrioStream(left),
                                                   SyncSession.initiator(node_replica, now=now_ms()), turn)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(session_of, "z")
        while not service.turns.book.phases()[Phase.RUNNING]:
            await trio.sleep(0)
        nursery.start_soon(session_of, "a")
    assert results["z"].ok and results["a"].ok
    assert node_replica.ids == peers["z"].ids
    assert sum(delivered) == len(raws)


@pytest.mark.trio
async def test_our_session_waiting_at_its_peer_gives_way_to_a_peer_bringing_the_same_records(node, autojump_clock):
    """
    node m ──own session──▶ peer y    (y holds it unanswered for 5 s, as a
                                       busy node holds a session it serves)
    node m ◀──session────── peer a    (a and y hold the same 100 records, m none)

    a's session waited its patience (2 s) for m's own, then went on beside
    it and brought the 100 records; y answered later, from what m held when
    its session began (nothing), and sent all 100 again: 200 delivered, as
    in heals where records by sync were 1.03 to 1.13 times those lacked.
    Now m's session gives way unanswered (rule 5): it ends as GaveWay (the
    planner starts it again) and the records come once.
    """
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.sync_driver import TrioStream, now_ms, run_sync
    from meshpantry.node.sync_turns import RECONCILING_WAIT_MS, GaveWay

    raws, peers, node_replica, delivered, ingest_soon = _peers_holding_what_the_node_lacks(("y", "a"), 8)
    service = _service_storing_with(node, ingest_soon, me="m")
    results, ended_at = {}, {}

    async def ours() -> None:
        async with service.turns.session("m", "y") as turn:
            await turn.wait()
            left, right = trio.testing.memory_stream_pair()

            async def y_answers_late() -> None:
                await trio.sleep(5)
                results["at y"] = await run_sync(TrioStream(right), SyncSession.responder(peers["y"], now=now_ms()),
                                                 peers["y"].ingest)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(y_answers_late)
                results["y"] = await service._run("y", TrioStream(left),
                                                  SyncSession.initiator(node_replica, now=now_ms()), turn)
                ended_at["y"] = trio.current_time()

    async def served_from_a() -> None:
        async with service.turns.session("a") as turn:
            await turn.wait()
            left, right = trio.testing.memory_stream_pair()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(run_sync, TrioStream(right), SyncSession.initiator(peers["a"], now=now_ms()),
                                   peers["a"].ingest)
                results["a"] = await service._run("a", TrioStream(left),
                                                  SyncSession.responder(node_replica, now=now_ms()), turn)

    begin = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ours)
        while not service.turns.book.phases()[Phase.RUNNING]:
            await trio.sleep(0)
        nursery.start_soon(served_from_a)
    assert results["a"].ok and node_replica.ids == peers["a"].ids
    assert sum(delivered) == len(raws)
    assert isinstance(results["y"].error, GaveWay)
    assert (ended_at["y"] - begin) * 1000 == pytest.approx(RECONCILING_WAIT_MS, abs=5)
    assert service.totals["gave_way"] == 1 and service.totals["failed"] == 0
    # y is told, with ABORT 8 after m's opening: no fault of either side.
    error = results["at y"].error
    assert isinstance(error, PeerAborted) and error.withdrawn, error


@pytest.mark.trio
async def test_a_session_its_peer_withdraws_before_an_answer_is_no_failure(node, autojump_clock, caplog):
    """A peer's session that the peer withdraws unanswered (ABORT 8: it gave
    way to another session) is counted and reported as withdrawn, not as a
    failed sync; this node's own that gives way is reported as such."""
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.sync_driver import TrioStream, Writing, now_ms, run_sync, withdraw

    caplog.set_level(logging.INFO, logger="meshpantry.sync")
    raws, peers, node_replica, _, ingest_soon = _peers_holding_what_the_node_lacks(("a",), 9)
    events = []
    service = _service_storing_with(node, ingest_soon)
    service.publish = events.append
    left, right = trio.testing.memory_stream_pair()
    initiator, writing = SyncSession.initiator(peers["a"], now=now_ms()), Writing()

    async def a_gives_way() -> None:
        with trio.move_on_after(0.5):
            await run_sync(TrioStream(right), initiator, peers["a"].ingest, writing=writing)
        await withdraw(TrioStream(right), initiator, writing, "gives way")

    async with service.turns.session("a") as turn, trio.open_nursery() as nursery:
        nursery.start_soon(a_gives_way)
        await trio.sleep(1)  # the withdrawal came before this node's turn to answer
        turn.go()
        result = await service._run("a", TrioStream(left), SyncSession.responder(node_replica, now=now_ms()), turn)
    assert isinstance(result.error, PeerAborted) and result.error.withdrawn
    assert service.totals["withdrawn"] == 1 and service.totals["failed"] == 0
    assert events[-1].ended == "withdrawn" and events[-1].ok is False
    assert any("the peer gave way to another session" in r.getMessage() for r in caplog.records)
    assert not any("failed" in r.getMessage() for r in caplog.records)


@pytest.mark.trio
async def test_a_peer_that_opens_a_session_and_stays_silent_holds_no_one_up(node):
    """A session a peer started counts as reconciling (rule 4) only once the
    peer's first message came: a member that opens a sync stream and sends
    nothing does not hold another peer's session up."""
    from meshpantry.core.sync import SyncSession
    from meshpantry.node.sync_driver import TrioStream, now_ms
    from tests.sync.replicas import Replica

    service = _service_storing_with(node, lambda *args, **kwargs: None)
    book = service.turns.book
    left, _silent_side = trio.testing.memory_stream_pair()
    async with service.turns.session("z") as silent, service.turns.session("a") as other:
        silent.go()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(service._run, "z", TrioStream(left), SyncSession.responder(Replica(), now=now_ms()),
                               silent)
            await trio.sleep(0.05)
            assert book.may_go(other.token)
            nursery.cancel_scope.cancel()
