"""Waiting for a turn on trio's clock (:mod:`meshpantry.node.sync_turns`):
a session still reconciling holds the others until it is done, and a
served one for a moment at most when it is this node's own and
unanswered."""

from __future__ import annotations

import pytest
import trio

from meshpantry.node.sync_turns import RECONCILING_WAIT_MS, SMALLER_FIRST_MS, Turns


@pytest.mark.trio
async def test_our_session_stuck_reconciling_holds_a_served_one_for_the_patience_only(autojump_clock):
    """Served sessions waiting for each node's own session could form a
    cycle across nodes: such a wait lasts RECONCILING_WAIT_MS, not the
    session's whole bound."""
    turns = Turns("z")
    async with turns.session("z") as stuck, turns.session("a") as waiting:
        stuck.go()  # our own, running, and never reports its reconciliation over
        started = trio.current_time()
        await waiting.wait()
        waited_ms = (trio.current_time() - started) * 1000
    assert waited_ms == pytest.approx(RECONCILING_WAIT_MS, abs=1)
    assert waited_ms < SMALLER_FIRST_MS


@pytest.mark.trio
async def test_a_served_session_reconciling_holds_another_until_it_is_done(autojump_clock):
    """A served session runs at its initiator past its wait there: waiting
    for it closes no cycle, so the wait outlasts the patience, and ends as
    soon as its reconciliation does."""
    turns = Turns("m")
    async with turns.session("z") as served, turns.session("a") as waiting:
        served.go()
        went_at: list[float] = []

        async def wait() -> None:
            await waiting.wait()
            went_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(2 * RECONCILING_WAIT_MS / 1000)
            assert not went_at
            served.reconciled()
        assert went_at == [pytest.approx(2 * RECONCILING_WAIT_MS / 1000, abs=0.01)]


@pytest.mark.trio
async def test_our_unanswered_session_gives_way_once_the_patience_runs_out(autojump_clock):
    """Rule 5 on trio's clock: the served session asks ours to give way
    when its patience runs out, ours is cancelled in its yielding scope, and
    the served one goes on once ours has left the book."""
    turns = Turns("m")
    went_at: list[float] = []
    ended: list[float] = []

    async def ours() -> None:
        async with turns.session("m", peer="y") as turn:
            turn.go()
            with turn.yielding() as scope:
                await trio.sleep_forever()  # its peer never answers
            assert scope.cancelled_caught and turn.gave_way_to == "a"
            await trio.sleep(0.5)  # closing its stream
            ended.append(trio.current_time())

    async def served() -> None:
        async with turns.session("a") as turn:
            await turn.wait()
            went_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ours)
        await trio.sleep(0.1)
        nursery.start_soon(served)
    patience = RECONCILING_WAIT_MS / 1000
    assert ended == [pytest.approx(0.1 + patience + 0.5, abs=0.01)]
    assert went_at == [pytest.approx(ended[0], abs=0.01)]


@pytest.mark.trio
async def test_our_answered_session_holds_the_served_one_until_it_has_reconciled(autojump_clock):
    """Answered, our session is reconciling with its peer: it is not ended,
    and the served one waits past its patience until ours has reconciled
    (rule 4), not going on beside it to ask for the same records."""
    turns = Turns("m")
    async with turns.session("m", peer="y") as ours, turns.session("a") as served:
        ours.go()
        ours.answered()

        async def reconcile() -> None:
            await trio.sleep(3.5)  # its reconciliation outlasts the patience
            ours.reconciled()

        with ours.yielding() as scope:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(reconcile)
                started = trio.current_time()
                await served.wait()
                waited = trio.current_time() - started
        assert not scope.cancelled_caught and ours.gave_way_to is None
        assert RECONCILING_WAIT_MS < 3_500
        assert waited == pytest.approx(3.5, abs=0.01)


@pytest.mark.trio
async def test_our_answered_session_stuck_reconciling_holds_the_served_one_within_its_bound(autojump_clock):
    """The host's bound still holds: a served session goes on after
    SMALLER_FIRST_MS however long our answered session reconciles."""
    turns = Turns("m")
    async with turns.session("m", peer="y") as ours, turns.session("a") as served:
        ours.go()
        ours.answered()
        started = trio.current_time()
        await served.wait()
        assert (trio.current_time() - started) * 1000 == pytest.approx(SMALLER_FIRST_MS, abs=1)
