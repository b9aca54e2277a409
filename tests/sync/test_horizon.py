"""The settled horizon: routine syncs leave the newest records to gossip."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.sync import Done
from meshpantry.core.sync.horizon import Horizon
from meshpantry.core.sync.items import ItemIndex
from meshpantry.core.sync.reconcile import opening
from protocol.sync import INF, Bound, Fingerprint, IdList, Skip, Sums

from .replicas import Link, Replica, chains, fields


def test_no_history_a_window_old_means_everything():
    horizon = Horizon(window_ms=10_000, resolution_ms=1_000)
    assert horizon.bound(0) is None
    horizon.observe(0, 50)
    horizon.observe(5_000, 80)
    assert horizon.bound(9_999) is None  # the oldest sample is not a window old yet


def test_bound_is_the_counter_held_a_window_ago():
    horizon = Horizon(window_ms=10_000, resolution_ms=1_000)
    for second, lamport in enumerate((10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 130)):
        horizon.observe(second * 1_000, lamport)
    # At 12 s the window starts at 2 s, when the replica held lamport 30.
    assert horizon.bound(12_000) == 31
    assert horizon.bound(12_500) == 31
    assert horizon.bound(13_000) == 41  # later queries move with time (old samples dropped)


def test_quiet_window_means_everything():
    """Nothing new for a whole window: the routine sync is the full one."""
    horizon = Horizon(window_ms=10_000, resolution_ms=1_000)
    horizon.observe(0, 10)
    horizon.observe(1_000, 500)
    assert horizon.bound(11_000) is None
    assert horizon.bound(60_000) is None


def test_samples_within_the_resolution_are_merged_but_the_latest_is_known():
    horizon = Horizon(window_ms=10_000, resolution_ms=1_000)
    horizon.observe(0, 10)
    for ms in range(1, 1_000, 10):
        horizon.observe(ms, 10 + ms)  # one sample at 0 holds 10; the latest is 1,001
    assert horizon.bound(10_500) == 11
    horizon.observe(10_600, 1_001)
    assert horizon.bound(10_700) == 11


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3_000), st.integers(0, 50)), min_size=1, max_size=60),
       st.integers(0, 200_000))
def test_bound_never_reaches_past_what_was_held_a_window_ago(steps, query_after):
    """Whatever the history, records written after ``now - window`` by a writer
    who saw our state (counters above what we then held) are never inside the
    bound, and everything we held is inside once nothing changed for a window."""
    window = 10_000
    horizon = Horizon(window_ms=window, resolution_ms=1_000)
    now, lamport, history = 0, 0, []
    for gap, grow in steps:
        now += gap
        lamport += grow
        horizon.observe(now, lamport)
        history.append((now, lamport))
    query = now + query_after
    bound = horizon.bound(query)
    held_then = max((lam for t, lam in history if t <= query - window), default=None)
    if bound is None:
        assert held_then is None or held_then >= lamport
    else:
        assert held_then is not None and bound <= held_then + 1
        assert bound <= lamport  # something is left out, or the bound would be None


def test_opening_below_a_bound_skips_the_top():
    items = sorted((lamport, bytes([lamport % 256]) * 32) for lamport in range(1, 5_001))
    index = ItemIndex(items)
    entries = opening(index, below=4_001)
    assert [type(e.mode) for e in entries] == [Sums, Skip]
    assert entries[0].upper == Bound(4_001) and entries[0].mode.count == 4_000
    assert entries[1].upper == INF
    middle = opening(index, below=1_001)
    assert [type(e.mode) for e in middle] == [Fingerprint, Skip] and middle[0].mode.count == 1_000
    few = opening(index, below=3)
    assert isinstance(few[0].mode, IdList) and len(few[0].mode.ids) == 2
    assert opening(index, below=9_999) == opening(index)


def _split_at(raws: list[bytes], cut: int) -> tuple[list[bytes], list[bytes]]:
    return [r for r in raws if fields(r)[2] < cut], [r for r in raws if fields(r)[2] >= cut]


def test_routine_session_moves_only_what_is_below_the_bound():
    """Both sides lack some of the other's records, old and new: a session
    with a bound brings exactly the old ones, both ways, and leaves the new."""
    rng = random.Random(3)
    raws = chains(50, 40, rng)
    cut = max(fields(r)[2] for r in raws) - 100
    old, new = _split_at(raws, cut)
    lost_old = rng.sample(range(len(old)), 60)
    lost_new = [len(old) + i for i in rng.sample(range(len(new)), 40)]
    lost_a = set(lost_old[:30] + lost_new[:20])  # every record is held by one side at least
    lost_b = set(lost_old[30:] + lost_new[20:])
    ordered = old + new
    a = Replica(r for i, r in enumerate(ordered) if i not in lost_a)
    b = Replica(r for i, r in enumerate(ordered) if i not in lost_b)
    link = Link(a, b, below=cut)
    link.lockstep()
    assert all(isinstance(o, Done) for o in link.outcomes)
    old_ids = Replica(old).ids
    assert old_ids <= a.ids and old_ids <= b.ids
    assert all(fields(r)[2] < cut for r in a.received + b.received)
    assert a.ids != b.ids  # the newest differences are left to gossip
    full = Link(a, b)
    full.lockstep()
    assert a.ids == b.ids == Replica(raws).ids


def test_routine_session_with_equal_old_records_is_one_round_trip():
    rng = random.Random(5)
    raws = chains(100, 50, rng)
    cut = max(fields(r)[2] for r in raws) - 50
    old, new = _split_at(raws, cut)
    a = Replica(old + new[: len(new) // 2])
    b = Replica(old + new[len(new) // 2:])
    link = Link(a, b, below=cut)
    link.lockstep()
    assert link.flights == 2
    assert a.received == [] and b.received == []
