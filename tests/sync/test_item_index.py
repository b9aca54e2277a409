"""The item index a store keeps and grows: every answer equals a fresh build's,
and a session's snapshot never changes while the store grows."""

from __future__ import annotations

import hashlib
import operator
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.sync.blocks import CUT_BYTE, MAX_BLOCK_ITEMS
from meshpantry.core.sync.items import PREFIX_MIN_RANGE, ItemIndex, index_of, index_with_new
from protocol.sync import INF, STRATA, Bound


def _item(number: int, lamport: int) -> tuple[int, bytes]:
    return lamport, hashlib.sha256(number.to_bytes(8, "big")).digest()


def _grown(rng: random.Random, added: int, in_middle: bool, number: int, lamport: int) -> tuple[list, int, int]:
    """``added`` new items after item ``number`` at Lamport ``lamport``: the
    newest (each one Lamport above the last) or anywhere below it
    (``in_middle``); returns them with the new last number and Lamport."""
    new = []
    for _ in range(added):
        lamport += 1
        number += 1
        new.append(_item(number, rng.randrange(lamport + 1) if in_middle else lamport))
    return new, number, lamport


def _answers(index: ItemIndex, rng: random.Random) -> list:
    """Fingerprints, sums, positions and bounds over ranges chosen by ``rng``."""
    count = len(index)
    out: list = [count, index.locate(INF), index.fingerprint(0, count), index.power_sums(0, count, 3),
                 index.strata(0, count)]
    for _ in range(6):
        lo = rng.randrange(count + 1)
        hi = rng.randrange(lo, count + 1)
        k = rng.choice((1, 2, 5, 8, 9))
        out += [index.fingerprint(lo, hi), index.power_sums(lo, hi, k), index.values(lo, hi), index.ids(lo, hi),
                index.strata(lo, hi)]
        if 0 < lo < count:
            out.append(index.bound_before(lo))
            out.append(index.locate(Bound(index.keys[lo][0])))
            out.append(index.position(index.keys[lo][1]))
    out.append(index.position(b"\x00" * 32))
    return out


def _same_as_fresh(index: ItemIndex, items: list[tuple[int, bytes]], seed: int) -> None:
    assert index.keys[: len(index)] == items
    assert _answers(index, random.Random(seed)) == _answers(ItemIndex(items), random.Random(seed))


@settings(max_examples=40, deadline=None)
@given(
    st.integers(0, 3 * PREFIX_MIN_RANGE),
    st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=6),
    st.integers(0, 2**32),
)
def test_a_grown_index_answers_as_a_fresh_one(start, growths, seed):
    """Growth from the new items alone (in order, or below items held):
    every answer equals a fresh build's, older snapshots keep theirs and do
    not find items they never held, and nothing new returns the same index."""
    rng = random.Random(seed)
    lamport = start // 4
    items = sorted(_item(n, n // 4) for n in range(start))
    number = start
    index = index_with_new(None, items)
    index.position(b"\x01" * 32)  # fill the id lookup so that growth extends it
    index.power_sums(0, len(index), 2)
    snapshots = [(index, list(items))]
    for added, in_middle in growths:
        new, number, lamport = _grown(rng, added, in_middle, number, lamport)
        items = sorted(items + new)
        index = index_with_new(index, sorted(new))
        _same_as_fresh(index, items, seed)
        for older, held in snapshots:
            assert all(older.position(item_id) is None for _lamport, item_id in new)
        snapshots.append((index, list(items)))
    for snapshot, held in snapshots:
        _same_as_fresh(snapshot, held, seed + 1)
    assert index_with_new(index, []) is index


def test_a_session_uses_the_store_index_when_it_keeps_one():
    class Store:
        calls = 0

        def sync_items(self):
            raise AssertionError("the kept index is used instead")

        def sync_index(self):
            Store.calls += 1
            return kept

        def raws_in_chain_order(self, ids):
            return []

    kept = ItemIndex([_item(1, 1)])
    assert index_of(Store()) is kept and Store.calls == 1


def test_a_large_growth_among_the_items_held_answers_as_a_fresh_one():
    """Thousands of items arriving at once below and among the items held
    (records synced after an outage, out of Lamport order), several times:
    every answer equals a fresh build's, and the older snapshots keep theirs."""
    rng = random.Random(5)
    items = sorted(_item(n, rng.randrange(1000)) for n in range(1500))
    index = index_with_new(None, items)
    index.position(items[0][1])
    index.power_sums(0, len(index), 16)
    snapshots = [(index, list(items))]
    number = len(items)
    for added, top in ((2000, 1000), (700, 3000), (1, 1), (300, 10)):
        new = sorted(_item(number + n, rng.randrange(top)) for n in range(added))
        number += added
        items = sorted(items + new)
        index = index_with_new(index, new)
        _same_as_fresh(index, items, added)
        assert index.power_sums(0, len(index), 16) == ItemIndex(items).power_sums(0, len(items), 16)
        snapshots.append((index, list(items)))
    for snapshot, held in snapshots:
        _same_as_fresh(snapshot, held, 3)


def test_stratum_counts_of_any_range_are_a_count_of_its_ids():
    """Ranges large enough to be counted from the blocks' counts, in grown
    indexes (blocks rebuilt, kept, split) and fresh ones: each equals a
    count of the ids' last bytes by stratum."""
    rng = random.Random(11)
    items = sorted(_item(n, rng.randrange(400)) for n in range(3000))
    index = index_with_new(None, items[:1000])
    index.strata(0, len(index))  # the blocks' counts exist before growth
    index = index_with_new(index, items[1000:2500])
    index = index_with_new(index, items[2500:])
    keys = index.keys[: len(index)]
    for candidate in (index, ItemIndex(keys)):
        for _ in range(40):
            lo = rng.randrange(len(keys))
            hi = rng.randrange(lo, len(keys) + 1)
            expected = [0] * STRATA
            for _lamport, item_id in keys[lo:hi]:
                expected[item_id[-1] % STRATA] += 1
            assert candidate.strata(lo, hi) == tuple(expected)


def test_growth_by_the_newest_items_answers_as_a_fresh_one():
    """The usual growth, the newest records above every item held, in
    batches that fill, overflow and skip past blocks, each snapshot asked
    for everything first (so that what its blocks computed carries over):
    every answer equals a fresh build's."""
    rng = random.Random(3)
    items: list[tuple[int, bytes]] = []
    index = index_with_new(None, [])
    number = 0
    for added in (300, 1, 200, 56, 255, 1, 700, 3, 129, 1000):
        new = [_item(number + n, number + n) for n in range(added)]
        number += added
        if len(index):
            _answers(index, rng)
            index.strata(0, len(index))
            index.power_sums(0, len(index), 16)
        items += new
        index = index_with_new(index, new)
        _same_as_fresh(index, items, added)
        assert index.power_sums(0, len(index), 16) == ItemIndex(items).power_sums(0, len(items), 16)


def _long_runs(count: int, seed: int) -> list[tuple[int, bytes]]:
    """Sorted items whose ids rarely begin a run: runs far longer than a
    block, cut every MAX_BLOCK_ITEMS items."""
    rng = random.Random(seed)
    items = []
    for number in range(count):
        item_id = bytearray(hashlib.sha256(number.to_bytes(8, "big")).digest())
        if rng.random() < 0.998:
            item_id[CUT_BYTE] = 255  # not a cut
        items.append((rng.randrange(count // 2), bytes(item_id)))
    return sorted(items)


def test_blocks_depend_on_the_items_held_alone():
    """However an index grew (at once, by the newest items, by items among
    those held, in long runs cut every MAX_BLOCK_ITEMS items), its blocks
    are those of a fresh build of the same items, the same objects (built
    once and shared), and every answer is a fresh build's."""
    for items in (sorted(_item(n, n // 3) for n in range(3000)), _long_runs(3000, 1)):
        rng = random.Random(len(items))
        order = list(items)
        rng.shuffle(order)
        index = index_with_new(None, [])
        grown = 0
        while grown < len(order):
            batch = sorted(order[grown : grown + rng.choice((1, 7, 300, 900))])
            grown += len(batch)
            index = index_with_new(index, batch)
            index.power_sums(0, len(index), 2)
        fresh = ItemIndex(items)
        assert [block.keys for block in index._blocks] == [block.keys for block in fresh._blocks]
        assert all(map(operator.is_, index._blocks, fresh._blocks))
        assert max(block.count for block in index._blocks) <= MAX_BLOCK_ITEMS
        _same_as_fresh(index, items, 9)
    assert max(block.count for block in fresh._blocks) == MAX_BLOCK_ITEMS  # the long runs were cut


def test_a_store_may_lend_the_index_its_own_key_lookup():
    """A lookup that knows the key of every id, held or not: positions are a
    fresh build's, and a snapshot never finds an item it does not hold."""

    class Everything:
        def __init__(self, items):
            self.keyed = {item_id: (lamport, item_id) for lamport, item_id in items}

        def get(self, item_id):
            return self.keyed.get(item_id)

        def extended(self, new):
            return self

    rng = random.Random(4)
    items = sorted(_item(n, rng.randrange(500)) for n in range(2000))
    lookup = Everything(items)
    held = sorted(rng.sample(items, 1200))
    first = index_with_new(None, held[:700], lookup=lookup)
    grown = index_with_new(first, held[700:])
    for lamport, item_id in items:
        assert grown.position(item_id) == ItemIndex(held).position(item_id)
        assert first.position(item_id) == ItemIndex(held[:700]).position(item_id)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(PREFIX_MIN_RANGE, 4 * PREFIX_MIN_RANGE),
    st.lists(st.tuples(st.integers(1, 40), st.booleans(), st.sampled_from(("none", "sums", "strata", "all"))),
             min_size=1, max_size=8),
    st.integers(0, 2**32),
)
def test_sums_over_blocks_taken_from_an_older_snapshot_equal_a_fresh_build(start, growths, seed):
    """A grown index takes the prefix sums over the blocks it shares with an
    older snapshot from that snapshot, whichever of them the older ones built
    (power sums, stratum counts, both, or none yet): its answers equal a fresh
    build's after any run of growths."""
    rng = random.Random(seed)
    items = sorted(_item(n, n // 4) for n in range(start))
    number, lamport = start, start // 4
    index = index_with_new(None, items)
    for added, in_middle, asked in growths:
        new, number, lamport = _grown(rng, added, in_middle, number, lamport)
        items = sorted(items + new)
        index = index_with_new(index, sorted(new))
        count = len(index)
        if asked in ("sums", "all"):
            index.power_sums(0, count, 3)
        if asked in ("strata", "all"):
            index.strata(0, count)
    _same_as_fresh(index, items, seed)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 3 * PREFIX_MIN_RANGE), st.lists(st.integers(1, 80), min_size=1, max_size=5), st.integers(0, 2**32))
def test_a_range_asked_for_more_and_more_sums_answers_as_asked_once(count, asks, seed):
    """A range asked for k sums, then for more (a failed decode asks for
    more), answers each time what an index asked once for that many
    answers: the sums beyond the ones known extend them, never differ."""
    rng = random.Random(seed)
    items = sorted(_item(number, rng.randrange(count)) for number in range(count))
    index = ItemIndex(items)
    lo = rng.randrange(count)
    hi = rng.randrange(lo, count + 1)
    for k in asks:
        assert index.power_sums(lo, hi, k) == ItemIndex(items).power_sums(lo, hi, k)
