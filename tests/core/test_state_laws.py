"""CRDT laws of build_state over random neighbourhood activity.

    replica A ──┐
                ├── union (any order, any duplicates) ──▶ one state
    replica B ──┘
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpantry.core.board import ClaimStatus
from meshpantry.core.membership import COUNTING_KINDS
from meshpantry.core.recipes import edit_elements
from meshpantry.core.state import REFERENCES, RecordStatus, build_state

from .activity import random_activity

LAWS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
seeds = st.integers(min_value=0, max_value=2**32)


def names(record) -> set[bytes]:
    """Ids of the records ``record`` refers to in its body."""
    named = {record.body[f] for f, _ in REFERENCES.get(record.kind, ())}
    if record.kind == "recipe_edit":
        named.update(edit_elements(record))
    return named


@LAWS
@given(seed=seeds, shuffle=st.randoms(use_true_random=False), extra=st.integers(0, 30))
def test_any_order_and_any_duplicates_give_the_same_state(seed, shuffle, extra):
    """Permuting and duplicating the records never changes the state."""
    records = random_activity(seed).records
    reference = build_state(records, records[0].id)
    jumbled = records + [shuffle.choice(records) for _ in range(extra)]
    shuffle.shuffle(jumbled)
    state = build_state(jumbled, records[0].id)
    assert state == reference
    assert list(state.offers) == list(reference.offers)
    assert list(state.claims) == list(reference.claims)
    assert [r.steps for r in state.recipes.values()] == [r.steps for r in reference.recipes.values()]


@LAWS
@given(seed=seeds, split=st.randoms(use_true_random=False))
def test_two_replicas_merged_in_either_order_agree(seed, split):
    """Replicas holding overlapping subsets reach one state whichever merges into which."""
    records = random_activity(seed).records
    genesis = records[0].id
    a = [r for r in records if split.random() < 0.7]
    b = [r for r in records if split.random() < 0.7]
    a_then_b = build_state(a + b, genesis)
    b_then_a = build_state(b + a, genesis)
    assert a_then_b == b_then_a
    assert build_state(a + b + a, genesis) == a_then_b  # merging again changes nothing


@LAWS
@given(seed=seeds, keep=st.randoms(use_true_random=False))
def test_every_subset_keeps_the_invariants(seed, keep):
    """Whatever subset a replica holds: each record has one fate, and no offer is over-allocated."""
    records = random_activity(seed).records
    subset = [r for r in records if keep.random() < 0.8]
    state = build_state(subset, records[0].id)
    fates = [state.status(r.id) for r in subset]
    assert RecordStatus.UNKNOWN not in fates
    buckets = (state.counted, set(state.waiting), set(state.rejected), state.uninterpreted)
    assert sum(len(b) for b in buckets) == len({r.id for r in subset})
    for offer in state.offers.values():
        accepted = sum(
            c.accepted_quantity for c in state.claims_on(offer.id) if c.status is ClaimStatus.ACCEPTED
        )
        assert accepted == offer.allocated <= offer.quantity
        assert offer.remaining == offer.quantity - offer.allocated >= 0
    for claim in state.claims.values():
        assert not claim.completed or claim.status is ClaimStatus.ACCEPTED


@LAWS
@given(seed=seeds, pick=st.randoms(use_true_random=False))
def test_a_record_whose_referent_is_missing_waits_then_counts(seed, pick):
    """Remove one counted record: everything that names it waits; put it back: all counts again."""
    records = random_activity(seed).records
    genesis = records[0].id
    full = build_state(records, genesis)
    candidates = [r for r in records if r.id in full.counted and r.kind not in COUNTING_KINDS]
    missing = pick.choice(candidates)
    dependants = [r for r in records if missing.id in names(r) and r.id in full.counted]
    without = build_state([r for r in records if r.id != missing.id], genesis)
    for record in dependants:
        assert without.status(record.id) is RecordStatus.WAITING
        assert without.waiting[record.id] == missing.id
    assert build_state([*records], genesis) == full


def test_a_shuffled_large_activity_converges():
    """A longer run: four arrival orders, one state."""
    records = random_activity(7, steps=400).records
    states = []
    for order in range(4):
        jumbled = list(records)
        random.Random(order).shuffle(jumbled)
        states.append(build_state(jumbled, records[0].id))
    assert all(s == states[0] for s in states)
    assert len(states[0].counted) > len(records) // 2
