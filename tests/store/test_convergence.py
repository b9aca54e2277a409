"""Stores that receive the same records in any order, split into any batches,
with any duplicates, end with the same log and the same state."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.store import Store
from tests.core.records import TestNeighbourhood


def neighbourhood() -> TestNeighbourhood:
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    cy = nb.join(3, name="Cy", inviter=bea)
    linked = nb.link(cy, 4)
    offer = nb.offer(bea, "leeks", 4, "items")
    claim = nb.claim(cy, offer, 3)
    nb.accept(bea, claim, 3)
    nb.offer(linked, "eggs", 6, "items")
    nb.claim(nb.founder, offer, 1)
    return nb


NB = neighbourhood()


def deliver(directory: Path, rng: random.Random) -> Store:
    raws = [r.raw for r in NB.records]
    raws += rng.sample(raws, k=rng.randrange(len(raws)))  # duplicates
    rng.shuffle(raws)
    store = Store.open(directory)
    store.set_setting("neighbourhood", NB.id)
    while raws:
        size = rng.randint(1, 6)
        batch, raws = raws[:size], raws[size:]
        assert not store.ingest(batch, now=NB.clock).rejected
    return store


@settings(max_examples=15, deadline=None)
@given(seeds=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)))
def test_any_delivery_order_gives_the_same_log_and_state(tmp_path_factory, seeds):
    first = deliver(tmp_path_factory.mktemp("a"), random.Random(seeds[0]))
    second = deliver(tmp_path_factory.mktemp("b"), random.Random(seeds[1]))
    try:
        expected = sorted((r.lamport, r.id) for r in NB.records)
        assert first.sync_items() == second.sync_items() == expected
        assert first.waiting_ids() == second.waiting_ids() == []
        assert first.heads() == second.heads()
        assert first.state() == second.state()
    finally:
        first.close()
        second.close()
