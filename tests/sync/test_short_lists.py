"""Ranges where about as many records differ as a side holds are settled by
short ids (SHORT_LIST, answered by WANT_LISTED), not by solving sums: the
union is reached whatever the sets, in fewer round trips, with no solve."""

from __future__ import annotations

import hashlib
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meshpantry.core.sync import reconcile, sums
from meshpantry.core.sync.errors import ProtocolViolation
from meshpantry.core.sync.items import ItemIndex
from meshpantry.core.sync.reconcile import respond
from meshpantry.core.sync.replies import DENSE_ITEMS, LIST_IDS, dense
from protocol import sync as wire

from .replicas import Link, Replica, fake_record

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _items(numbers: set[int]) -> list[tuple[int, bytes]]:
    return sorted((n // 3, hashlib.sha256(n.to_bytes(4, "big")).digest()) for n in numbers)


def _short_lists(index: ItemIndex, cuts: list[int]) -> wire.Reconcile:
    """A message listing every item of ``index`` by its short id, the key
    space cut at the given item positions (an empty part is an empty ID_LIST)."""
    entries = []
    points = sorted({c for c in cuts if 0 < c < len(index)})
    for lo, hi in zip([0, *points], [*points, len(index)]):
        upper = wire.INF if hi == len(index) else index.bound_before(hi)
        ids = tuple(item_id[: wire.SHORT_ID_BYTES] for item_id in index.ids(lo, hi))
        entries.append(wire.Entry(upper, wire.ShortList(ids) if ids else wire.IdList(())))
    if not entries:
        entries.append(wire.Entry(wire.INF, wire.IdList(())))
    return wire.Reconcile(tuple(entries))


@SETTINGS
@given(
    st.sets(st.integers(0, 3000), max_size=300),
    st.sets(st.integers(0, 3000), max_size=300),
    st.lists(st.integers(0, 300), max_size=6),
)
def test_short_lists_and_their_answer_yield_the_union_for_any_sets(mine, theirs, cuts):
    a, b = ItemIndex(_items(mine)), ItemIndex(_items(theirs))
    reply = respond(b, _short_lists(a, cuts))  # b answers a's short lists
    assert all(isinstance(e.mode, (wire.Skip, wire.WantListed)) for e in reply.entries)
    answer = respond(a, wire.Reconcile(tuple(reply.entries), tuple(reply.needs)))
    assert answer.settled  # a's answer to the bits is all SKIP: nothing left to say
    b_sends = {b.keys[p][1] for p in reply.send}
    a_sends = {a.keys[p][1] for p in answer.send}
    a_ids, b_ids = {i for _, i in a.keys}, {i for _, i in b.keys}
    assert a_sends == a_ids - b_ids and b_sends == b_ids - a_ids


@given(st.integers(1, wire.MAX_SHORT_IDS), st.data())
def test_want_listed_names_exactly_the_positions_it_was_built_from(count, data):
    wanted = sorted(data.draw(st.sets(st.integers(0, count - 1), max_size=50)))
    mode = wire.WantListed.of(count, wanted)
    assert mode.wanted() == wanted and len(mode.bits) == (count + 7) // 8
    decoded = wire.decode_frame(wire.encode_body(wire.Reconcile((wire.Entry(wire.INF, mode),))))
    assert decoded.entries[0].mode == mode


def test_bits_over_another_number_of_items_than_mine_are_refused():
    index = ItemIndex(_items(set(range(50))))
    with pytest.raises(ProtocolViolation):
        respond(index, wire.Reconcile((wire.Entry(wire.INF, wire.WantListed.of(49, [0])),)))


def test_a_range_is_dense_when_it_holds_few_items_per_difference():
    assert not dense(LIST_IDS, 1000)  # listed whole instead
    assert dense(LIST_IDS + 1, 1000) and dense(150, 100) and not dense(151, 100)
    assert DENSE_ITEMS == 1.5


def _islands(seed: int, per_island: int, base: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Common records, then two islands' records written at the same time
    (their lamports interleave), as after a partition."""
    rng = random.Random(seed)
    common = [fake_record(0, n + 1, n + 1, rng.randbytes(8)) for n in range(base)]
    islands = []
    for island in (1, 2):
        islands.append([fake_record(island, n + 1, base + 1 + n // 2, rng.randbytes(8)) for n in range(per_island)])
    return common, islands[0], islands[1]


def _frames_sent(link: Link) -> list[list[wire.Frame]]:
    """Wrap the link so that every flight's frames are recorded."""
    flights: list[list[wire.Frame]] = []
    deliver = link.deliver

    def recording(side: int, size: int | None = None, now: int = 0) -> bool:
        data = bytes(link.queues[side])
        if data and not link.cut:
            flights.append([wire.decode_frame(body) for body in wire.FrameReader().feed(data)])
        return deliver(side, size, now)

    link.deliver = recording  # type: ignore[method-assign]
    return flights


@pytest.mark.parametrize("per_island,base", [(2_500, 60), (1_200, 1_000)])
def test_a_dense_two_sided_difference_is_listed_not_solved(monkeypatch, per_island, base):
    common, left, right = _islands(7, per_island, base)
    a, b = Replica(common + left), Replica(common + right)
    solves = []
    real = sums.difference_polynomials
    monkeypatch.setattr(reconcile, "difference_polynomials", lambda *args, **kw: solves.append(1) or real(*args, **kw))
    link = Link(a, b)
    flights = _frames_sent(link)
    link.lockstep()
    assert a.ids == b.ids == {hashlib.sha256(r).digest() for r in common + left + right}
    modes = [type(e.mode) for flight in flights for f in flight if isinstance(f, wire.Reconcile) for e in f.entries]
    assert wire.ShortList in modes and wire.WantListed in modes and wire.Roots not in modes
    assert len(solves) <= 1  # at most the opening's two sums, before the difference is known
    # The side answering with bits sends its records in the same flight.
    answer = next(flight for flight in flights if any(
        isinstance(f, wire.Reconcile) and any(isinstance(e.mode, wire.WantListed) for e in f.entries) for f in flight))
    assert any(isinstance(f, wire.Records) for f in answer) and isinstance(answer[-1], wire.End)
    assert (len(flights) + 1) // 2 <= 3


def test_a_sparse_difference_is_still_solved_from_sums():
    """40 missing on each side, spread over 3,000 records: sums, no list."""
    common, _, _ = _islands(8, 0, 3_000)
    rng = random.Random(8)
    gone = rng.sample(range(3_000), 80)
    a = Replica(r for n, r in enumerate(common) if n not in gone[:40])
    b = Replica(r for n, r in enumerate(common) if n not in gone[40:])
    link = Link(a, b)
    flights = _frames_sent(link)
    link.lockstep()
    assert a.ids == b.ids
    modes = {type(e.mode) for flight in flights for f in flight if isinstance(f, wire.Reconcile) for e in f.entries}
    assert wire.ShortList not in modes and wire.Roots in modes


@pytest.mark.parametrize("few_first", [True, False])
def test_a_dense_one_sided_difference_is_listed_by_the_side_holding_fewer(few_first):
    """One side holds one island, the other all three: the short list comes
    from the side with fewer items (16 bytes each), whichever opens."""
    common, left, right = _islands(9, 1_500, 60)
    _, more, _ = _islands(10, 1_500, 0)
    left = left[:500]  # the many side holds few enough per difference to list too
    few, many = Replica(common + left), Replica(common + left + right + more)
    link = Link(few, many) if few_first else Link(many, few)
    flights = _frames_sent(link)
    link.lockstep()
    assert few.ids == many.ids
    listed = [sum(len(e.mode.ids) for e in f.entries if isinstance(e.mode, wire.ShortList))
              for flight in flights for f in flight if isinstance(f, wire.Reconcile)]
    assert sum(listed) == len(common) + len(left)  # the few side's items, once


def test_sums_enough_for_a_one_sided_difference_that_fail_do_not_echo_forever():
    """A difference that looks one-sided by its stratum counts (14 extras on
    one side) but hides a pair in one stratum (16 differ): the side holding
    more answers the echoed fingerprint with 15 sums, which fail; the other
    side must then cut the range, not echo its fingerprint again (before,
    the two echoed each other until MAX_ROUNDS)."""
    rng = random.Random(11)
    records = [fake_record(n % 40, n // 40 + 1, n // 3 + 1, rng.randbytes(8)) for n in range(3_700)]
    ids = [hashlib.sha256(r).digest() for r in records]
    by_stratum: dict[int, list[int]] = {}
    for n, item_id in enumerate(ids):
        by_stratum.setdefault(item_id[31] % 16, []).append(n)
    pair = by_stratum[3][:2]  # one record each side lacks, in one stratum
    extras = [by_stratum[s][5 + s // 8] for s in range(16) if s != 3][:14]
    a = Replica(r for n, r in enumerate(records) if n != pair[1])
    b = Replica(r for n, r in enumerate(records) if n != pair[0] and n not in extras)
    assert len(a.ids) - len(b.ids) == 14
    link = Link(a, b)
    link.lockstep()
    assert a.ids == b.ids == set(ids)
