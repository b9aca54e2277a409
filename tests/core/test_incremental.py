"""IncrementalState is build_state, grown one batch at a time.

    records ──shuffle, duplicate, hold some back──▶ batches ──add──▶ IncrementalState
        │                                                               │
        └──────────────────────── build_state ───────────── == ─────────┘
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpantry.core import incremental
from meshpantry.core.incremental import IncrementalState
from meshpantry.core.state import build_state
from protocol import Record

from .activity import random_activity
from .records import TestNeighbourhood, fork_of, reseal

LAWS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(min_value=0, max_value=2**32)


def troubled_activity(seed: int) -> list[Record]:
    """Random activity plus what a hostile or confused mesh adds: a fork, a
    record of another neighbourhood, a record of a kind this version does
    not know, and a claim of an offer that never arrives."""
    nb = random_activity(seed)
    rng = random.Random(seed)
    records = list(nb.records)
    device = rng.choice(list(nb.devices.values()))
    own = [r for r in records if r.author == device.public and r.seq > 1]
    if own:
        victim = rng.choice(own)
        records.append(fork_of(device, victim, {"item": "twin", "quantity": 1, "unit": "kg"}) if victim.kind == "offer"
                       else reseal(device, victim, time=victim.time + 1))
    other = TestNeighbourhood(name="Elsewhere", founder=9)
    records.append(other.offer(other.founder, "foreign", 1, "kg"))
    tail = max((r for r in records if r.author == nb.founder.public), key=lambda r: r.seq)
    records.append(reseal(nb.founder, tail, kind="future_kind", body={"x": 1},
                          seq=tail.seq + 1, prev=tail.id, lamport=tail.lamport + 1))
    phantom = nb.offer(nb.founder, "phantom", 1, "kg", observe=False)
    records.append(nb.claim(nb.devices[3], phantom, 1))
    return records


def grow(records: list[Record], neighbourhood: bytes, rng: random.Random, load: bool) -> IncrementalState:
    """Add ``records`` in random batches, checking the state now and then."""
    by_id = {r.id: r for r in records}
    state = IncrementalState(neighbourhood, load=(lambda ids: [by_id[i] for i in ids]) if load else None)
    held: list[Record] = []
    i = 0
    while i < len(records):
        batch = records[i : i + rng.randint(1, 6)]
        i += len(batch)
        state.add(batch)
        held.extend(batch)
        if rng.random() < 0.1:
            assert state.state() == build_state(held, neighbourhood)
    return state


@LAWS
@given(seed=seeds, rng=st.randoms(use_true_random=False), load=st.booleans())
def test_any_order_any_duplicates_and_late_gaps_give_build_state(seed, rng, load):
    """Shuffled, duplicated, with a fifth held back and filled late: the same state."""
    records = troubled_activity(seed)
    neighbourhood = records[0].id
    late = [r for r in records if rng.random() < 0.2]
    early = [r for r in records if r not in late]
    order = early + [rng.choice(records) for _ in range(10)]
    rng.shuffle(order)
    rng.shuffle(late)
    state = grow(order + late + late[:3], neighbourhood, rng, load)
    assert state.state() == build_state(records, neighbourhood)


@LAWS
@given(seed=seeds, rng=st.randoms(use_true_random=False))
def test_small_fold_chunks_and_a_bulk_first_load_agree(seed, rng):
    """A first load of everything at once, folded a few records at a time
    with a loader: the same state as build_state."""
    records = troubled_activity(seed)
    neighbourhood = records[0].id
    rng.shuffle(records)
    by_id = {r.id: r for r in records}
    saved = incremental.FOLD_CHUNK, incremental.FRESH_LIMIT
    incremental.FOLD_CHUNK, incremental.FRESH_LIMIT = 5, 3
    try:
        state = IncrementalState(neighbourhood, load=lambda ids: [by_id[i] for i in ids])
        state.add(records)
    finally:
        incremental.FOLD_CHUNK, incremental.FRESH_LIMIT = saved
    assert state.state() == build_state(records, neighbourhood)


def test_a_new_claim_folds_only_its_offer():
    """One claim arriving on a board of many offers re-folds the claim's offer
    group (the offer, its claims) and nothing else."""
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    offers = [nb.offer(nb.founder, f"item {i}", 3, "kg") for i in range(200)]
    nb.claim(bea, offers[0], 1)
    state = IncrementalState(nb.id)
    state.add(nb.records)
    claim = nb.claim(bea, offers[17], 2)
    done = state.add([claim])
    assert done is not None
    assert (done.authors, done.roster, done.folded) == (1, False, 2)  # offer 17 and its claim
    assert state.state() == build_state(nb.records, nb.id)


def test_a_gap_filled_late_touches_only_that_authors_records():
    """A gap in Bea's chain: her later records wait; the missing record
    arrives and only her chain and the groups of her records are folded."""
    nb = TestNeighbourhood()
    bea = nb.join(2, name="Bea")
    for i in range(50):
        nb.offer(nb.founder, f"item {i}", 1, "kg")
    gap = nb.offer(bea, "leeks", 2, "kg")
    after = [nb.offer(bea, f"bea {i}", 1, "kg") for i in range(3)]
    state = IncrementalState(nb.id)
    state.add([r for r in nb.records if r.id != gap.id])
    assert all(state.state().waiting[r.id] == gap.id for r in after)
    done = state.add([gap])
    assert done is not None
    assert done.authors == 1 and done.folded == 4
    assert state.state() == build_state(nb.records, nb.id)


def test_a_join_re_folds_only_the_joiners_records():
    """Records of a device that wait for its join count once the join
    arrives; the founder's offers are not folded again."""
    nb = TestNeighbourhood()
    for i in range(30):
        nb.offer(nb.founder, f"item {i}", 1, "kg")
    cy = nb.join(3, name="Cy")
    cys = [nb.offer(cy, f"cy {i}", 1, "kg") for i in range(4)]
    join = next(r for r in nb.records if r.kind == "join")
    state = IncrementalState(nb.id)
    state.add([r for r in nb.records if r.id != join.id])
    assert all(r.id in state.state().waiting for r in cys)
    done = state.add([join])
    assert done is not None and done.roster
    assert done.folded == 5  # Cy's household profile and four offers
    assert state.state() == build_state(nb.records, nb.id)


def test_a_record_the_loader_cannot_read_is_left_out_of_the_views():
    """A record whose stored bytes changed on disk is not returned by the
    store's loader: the views leave it out, as if it were not held, and
    every other record is shown (a node with one damaged record kept
    answering nothing at all)."""
    nb = TestNeighbourhood()
    offers = [nb.offer(nb.founder, f"item {i}", 1, "kg") for i in range(8)]
    records = nb.records
    damaged = offers[-1].id
    by_id = {r.id: r for r in records}
    saved = incremental.FOLD_CHUNK, incremental.FRESH_LIMIT
    incremental.FOLD_CHUNK, incremental.FRESH_LIMIT = 5, 3
    try:
        state = IncrementalState(nb.id, load=lambda ids: [by_id[i] for i in ids if i != damaged])
        state.add(records)
        shown = state.state()
    finally:
        incremental.FOLD_CHUNK, incremental.FRESH_LIMIT = saved
    expected = build_state([r for r in records if r.id != damaged], nb.id)
    assert shown.offers == expected.offers and len(shown.offers) == 7
    assert damaged not in shown.offers and damaged not in shown.counted
