"""Waiting for a turn on trio's clock (:mod:`meshpantry.node.sync_turns`):
a session still reconciling holds the others for a moment only."""

from __future__ import annotations

import pytest
import trio

from meshpantry.node.sync_turns import RECONCILING_WAIT_MS, SMALLER_FIRST_MS, Turns


@pytest.mark.trio
async def test_a_session_stuck_reconciling_holds_another_for_the_patience_only(autojump_clock):
    """A peer that went silent in the middle of its reconciliation (or a
    cycle of such waits across replicas) holds a session here for
    RECONCILING_WAIT_MS, not for the session's whole bound."""
    turns = Turns("m")
    async with turns.session("z") as stuck, turns.session("a") as waiting:
        stuck.go()  # running, and never reports its reconciliation over
        started = trio.current_time()
        await waiting.wait()
        waited_ms = (trio.current_time() - started) * 1000
    assert waited_ms == pytest.approx(RECONCILING_WAIT_MS, abs=1)
    assert waited_ms < SMALLER_FIRST_MS


@pytest.mark.trio
async def test_a_session_goes_once_the_other_reconciled(autojump_clock):
    turns = Turns("m")
    async with turns.session("z") as first, turns.session("a") as ours:  # rule 2 lets a through
        first.go()
        went_at: list[float] = []

        async def wait() -> None:
            await ours.wait()
            went_at.append(trio.current_time())

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait)
            await trio.sleep(0.5)
            assert not went_at
            first.reconciled()  # nothing more to find; it only sends now
        assert went_at == [pytest.approx(0.5, abs=0.01)]
