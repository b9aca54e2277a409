"""The items a replica reconciles, and the index that answers range questions.

An item is ``(lamport, id)`` for one record held. Items sort by lamport, then
id; records missed lately have the highest lamports, so they cluster at the end
of the order, and a range split finds them cheaply.

:class:`ItemIndex` is a snapshot of the sorted items that answers, for a range
of positions ``[lo, hi)``:

* its fingerprint: the first 16 bytes of SHA-256 over
  ``(sum of the ids as 256-bit little-endian integers mod 2^256) || count``,
  O(log n) from prefix sums over the blocks and within one;
* its power sums ``p_j = sum(x^j) mod P`` for j = 1..k, where ``x`` is an
  id's 64-bit value (see :func:`sum_value`): for large ranges and small k,
  O(k * (block size + blocks)) from each block's sums plus the items at the
  range's two ragged ends; else O(count * k);
* its stratum counts (how many ids fall in each of STRATA classes by their
  last byte, see :mod:`.estimate`): for large ranges from each block's
  counts plus the ragged ends', O(block size + blocks); else O(count), in C.

Building an index costs a pass over every item, so a store keeps one and
grows it with the records that arrived since (:func:`index_with_new`). The
items are kept in blocks that never change once built (:mod:`.blocks`): new
items, above every item held or among them (records that arrive out of
Lamport order), rebuild only the runs of blocks they fall in, and every
other block is shared with the older snapshot, so a session's view never
changes while the store grows and growth never costs a pass over the items
held. Where blocks begin depends on the items alone, so indexes holding the
same items in a stretch share its blocks and what those computed.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, bisect_right, insort
from functools import partial
from itertools import accumulate, chain, compress, islice, repeat
from operator import attrgetter, itemgetter, mul, ne
from typing import Iterable, Protocol, Sequence

from protocol import limits
from protocol.sync import FINGERPRINT_BYTES, SUMS_PRIME, Bound

from .blocks import (
    MAX_BLOCK_ITEMS,
    PREFIX_POWERS,
    Block,
    chunked,
    cut_flags,
    packed,
    power_sums_of,
    powers_of,
    strata_counts,
    sum_value,
    unpacked,
)

__all__ = [
    "EMPTY_FINGERPRINT", "PREFIX_MIN_RANGE", "PREFIX_POWERS", "ItemIndex", "SyncItems",
    "fingerprint_of", "index_of", "index_with_new", "powers_of", "sum_value",
]

_MOD = 1 << 256

#: Ranges whose sums one snapshot remembers (a failed decode asks the same
#: range for more); a session touches a few hundred ranges at most.
_SUMS_CACHE_RANGES = 4096

#: Ranges smaller than this sum their powers directly: cheap, and it keeps
#: the blocks' power sums from being built for sessions that never need them.
PREFIX_MIN_RANGE = 512

#: New items up to this many are put into a block's keys one by one (a
#: bisection and a move each, in C), more by a sort of both.
_INSERTED_ITEMS = 8

#: Ranges at least this large count their strata from the blocks' counts
#: (and the ragged ends'); smaller ones count every item.
STRATA_PREFIX_FROM = 512


class SyncItems(Protocol):
    """What a session needs from a store.

    A store may also offer ``sync_index() -> ItemIndex`` (an index of
    exactly what ``sync_items`` returns, usually kept with
    :func:`index_with_new`); a session uses it when present, so the index is
    built once per item set instead of once per session.
    """

    def sync_items(self) -> Sequence[tuple[int, bytes]]:
        """Every record held, as ``(lamport, id)``, sorted ascending."""
        ...

    def raws_in_chain_order(self, ids: Iterable[bytes]) -> list[bytes]:
        """The raw bytes of the records with these ids that are held, sorted
        by (author, seq)."""
        ...


def _direct_power_sums(values: list[int], k: int, start: int = 0) -> list[int]:
    """p_(start+1)..p_k of ``values`` without remembering any power: the
    many powers a range asked for more than PREFIX_POWERS sums needs would
    fill the shared cache with powers few other ranges ask for. A range
    asked again for more sums (a failed decode asks for more) starts from
    x^start (one modular power per value, in C), not from x."""
    prime = SUMS_PRIME
    reduced = prime.__rmod__
    if start == 0:
        sums = [sum(values) % prime]
        powers = values
        start = 1
    else:
        sums = []
        powers = list(map(pow, values, repeat(start), repeat(prime)))  # in C
    for _ in range(k - start):
        powers = list(map(reduced, map(mul, powers, values)))  # in C
        sums.append(sum(powers) % prime)
    return sums


def fingerprint_of(id_sum: int, count: int) -> bytes:
    digest = hashlib.sha256((id_sum % _MOD).to_bytes(32, "little") + count.to_bytes(8, "little"))
    return digest.digest()[:FINGERPRINT_BYTES]


EMPTY_FINGERPRINT = fingerprint_of(0, 0)


class KeyLookup(Protocol):
    """How the snapshots of one growing item set find an item's key by its
    id (:meth:`ItemIndex.position`). An id's key never changes, so a lookup
    may answer for items a snapshot does not hold: its bisection never
    finds them. A store that knows every id's key already may pass its own
    (see :func:`index_with_new`)."""

    def get(self, item_id: bytes) -> tuple[int, bytes] | None:
        """The key of the item with this id, or None if unknown."""
        ...

    def extended(self, new: Sequence[tuple[int, bytes]]) -> "KeyLookup":
        """A lookup that knows ``new`` items too (may be this one)."""
        ...


class _Lookup:
    """A :class:`KeyLookup` filled from the items themselves, on first use."""

    def __init__(self) -> None:
        self.keyed: dict[bytes, tuple[int, bytes]] = {}
        self.pending: list[Sequence[tuple[int, bytes]]] = []  #: item batches not yet in ``keyed``

    def get(self, item_id: bytes) -> tuple[int, bytes] | None:
        if self.pending:
            for batch in self.pending:
                self.keyed.update(zip(map(itemgetter(1), batch), batch))  # in C
            self.pending.clear()
        return self.keyed.get(item_id)

    def extended(self, new: Sequence[tuple[int, bytes]]) -> "_Lookup":
        self.pending.append(tuple(new))  # the caller's list may change later
        return self


class _Keys:
    """The keys of one snapshot, in order, as a read-only sequence
    (``keys[i]`` and ``keys[lo:hi]``)."""

    __slots__ = ("_index",)

    def __init__(self, index: "ItemIndex") -> None:
        self._index = index

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, at):  # type: ignore[no-untyped-def]
        index = self._index
        if isinstance(at, slice):
            lo, hi, step = at.indices(len(index))
            assert step == 1, "keys are sliced in order"
            return index._gather(lo, hi, _block_keys)
        if at < 0:
            at += len(index)
        if not 0 <= at < len(index):
            raise IndexError(at)
        block = bisect_right(index._starts, at) - 1
        return index._blocks[block].keys[at - index._starts[block]]


def _block_keys(block: Block) -> list[tuple[int, bytes]]:
    return block.keys


class ItemIndex:
    """A sorted snapshot of a replica's items with O(log n) range fingerprints.

    The items are held in blocks (see :mod:`.blocks`),
    with prefix sums over the blocks: a position is found by bisection over
    the blocks' starts, a range's id sum is two prefix differences, and its
    power sums add the whole blocks' sums to the ragged ends'.
    ``ItemIndex(items)`` builds one from sorted, unique items;
    :func:`index_with_new` grows one as a store grows, rebuilding only the
    blocks new items fall in (the others are shared with the older snapshot).
    """

    def __init__(
        self, items: Sequence[tuple[int, bytes]] = (), *, kept: bool = False, _blocks: list[Block] | None = None,
        lookup: KeyLookup | None = None, _grown: tuple[ItemIndex, int] | None = None,
    ) -> None:
        """``kept``: the index outlives a session (a store keeps it); the
        answers are the same either way. ``lookup``: how to find an item's
        key by its id (by default from the items, on first use).
        ``_grown``: (an older index, n) whose first n blocks are this one's
        first n: the sums over them are taken from it, not added again."""
        if _blocks is None:
            _blocks = chunked(items) if len(items) else []
        blocks = _blocks
        self._blocks = blocks
        if _grown is None:
            self._starts = list(accumulate(map(_COUNT, blocks), initial=0))  # in C
            self._firsts = list(map(_FIRST, blocks))
            self._totals = list(accumulate(map(_TOTAL, blocks), initial=0))
        else:
            older, same = _grown
            rest = blocks[same:]
            self._starts = _prefix_then(older._starts, same, map(_COUNT, rest))
            self._firsts = older._firsts[:same] + list(map(_FIRST, rest))
            self._totals = _prefix_then(older._totals, same, map(_TOTAL, rest))
            source = older._source
            if source is not None:  # older has not built its sums yet: take its own source (no chains)
                older, same = source[0], min(same, source[1])
            _grown = (older, same)
        #: (an older index, n): its first n blocks are this one's, for the
        #: prefix sums built on first use; dropped once those are built
        self._source: tuple[ItemIndex, int] | None = _grown
        #: for each block, 1 when it begins a run (the first always): see index_with_new
        self._run_flags: bytearray | None = None
        self._count = self._starts[-1]
        if lookup is None:
            lookup = _Lookup()
            lookup.pending.extend(map(_block_keys, blocks))
        self._lookup = lookup
        #: _block_powers[j - 1][b]: sum of x^j over the first b blocks (not reduced mod P)
        self._block_powers: list[list[int]] = []
        #: _block_strata[b]: the stratum counts of the first b blocks, packed (built on first use)
        self._block_strata: list[int] | None = None
        self._sums: dict[tuple[int, int], list[int]] = {}

    @property
    def keys(self) -> _Keys:
        """This snapshot's keys, in order."""
        return _Keys(self)

    def __len__(self) -> int:
        return self._count

    def _gather(self, lo: int, hi: int, part) -> list:  # type: ignore[no-untyped-def]
        """``part(block)``'s entries for the items in ``[lo, hi)``, concatenated."""
        if lo >= hi:
            return []
        starts, blocks = self._starts, self._blocks
        block = bisect_right(starts, lo) - 1
        out: list = []
        while lo < hi:
            start = starts[block]
            out += part(blocks[block])[lo - start : hi - start]
            block += 1
            lo = starts[block]
        return out

    def _prefix(self, position: int) -> int:
        """Sum of the ids of the first ``position`` items."""
        if position >= self._count:
            return self._totals[-1]
        block = bisect_right(self._starts, position) - 1
        offset = position - self._starts[block]
        return self._totals[block] + (self._blocks[block].prefix()[offset] if offset else 0)

    def locate(self, bound: Bound) -> int:
        """Position of the first item at or above ``bound``."""
        return self._locate(bound.key)

    def _locate(self, key: tuple[int, bytes]) -> int:
        block = bisect_right(self._firsts, key) - 1
        if block < 0:
            return 0
        return self._starts[block] + bisect_left(self._blocks[block].keys, key)

    def id_sum(self, lo: int, hi: int) -> int:
        return self._prefix(hi) - self._prefix(lo)

    def fingerprint(self, lo: int, hi: int) -> bytes:
        return fingerprint_of(self.id_sum(lo, hi), hi - lo)

    def ids(self, lo: int, hi: int) -> list[bytes]:
        return [item_id for _lamport, item_id in self._gather(lo, hi, _block_keys)]

    def position(self, item_id: bytes) -> int | None:
        """Position of the item with this id, or None if not held."""
        key = self._lookup.get(item_id)
        if key is None:
            return None
        block = bisect_right(self._firsts, key) - 1
        if block < 0:
            return None
        keys = self._blocks[block].keys
        at = bisect_left(keys, key)
        return self._starts[block] + at if at < len(keys) and keys[at] == key else None

    def _strata_prefix(self) -> list[int]:
        """Prefix sums over the blocks of their packed stratum counts."""
        source = self._source
        if source is not None and source[0]._block_strata is not None:
            older, same = source
            prefix = _prefix_then(older._block_strata, same, map(Block.strata, islice(self._blocks, same, None)))
        else:
            prefix = list(accumulate(map(Block.strata, self._blocks), initial=0))
        self._block_strata = prefix
        self._release_source()
        return prefix

    def values(self, lo: int, hi: int) -> list[int]:
        """:func:`sum_value` of each item in ``[lo, hi)``."""
        return self._gather(lo, hi, Block.values)

    def _powers_over_blocks(self, k: int) -> list[list[int]]:
        """Prefix sums over the blocks of p_1..p_k (built on first use)."""
        columns = self._block_powers
        if len(columns) < k:
            source = self._source
            older = source[0]._block_powers if source is not None else []
            same = source[1] if len(older) >= k else 0  # type: ignore[index]
            rows = [block.power_sums(k) for block in islice(self._blocks, same, None)]
            for j in range(len(columns), k):
                if same:  # the older index's sums over the blocks both hold
                    columns.append(_prefix_then(older[j], same, map(itemgetter(j), rows)))
                else:
                    columns.append(list(accumulate(map(itemgetter(j), rows), initial=0)))
            self._release_source()
        return columns

    def _release_source(self) -> None:
        """Forget the older index once every prefix sum built on first use is built."""
        if self._block_strata is not None and len(self._block_powers) >= PREFIX_POWERS:
            self._source = None

    def power_sums(self, lo: int, hi: int, k: int) -> list[int]:
        """``[p_1, ..., p_k]`` of the items in ``[lo, hi)``.

        For ranges of PREFIX_MIN_RANGE items or more and k up to
        PREFIX_POWERS: the whole blocks' sums (each block's computed once and
        shared by every snapshot that holds it) plus the range's ragged ends,
        O(k * (block size + blocks)). Otherwise O((hi - lo) * k) additions of
        remembered powers (see :func:`powers_of`), and a range asked again
        for more sums (a failed decode asks for more) only pays for the new ones.
        """
        if k <= PREFIX_POWERS and hi - lo >= PREFIX_MIN_RANGE:
            starts = self._starts
            first = bisect_left(starts, lo)  # whole blocks [first, last) lie inside the range
            last = bisect_right(starts, hi) - 1
            if first < last:
                prime = SUMS_PRIME
                columns = self._powers_over_blocks(k)
                ends = power_sums_of(self.values(lo, starts[first]) + self.values(starts[last], hi), k)
                return [(columns[j][last] - columns[j][first] + ends[j]) % prime for j in range(k)]
        sums = self._sums.get((lo, hi))
        if sums is None:
            if len(self._sums) > _SUMS_CACHE_RANGES:
                self._sums.clear()
            sums = self._sums[(lo, hi)] = []
        if len(sums) < k and k > PREFIX_POWERS:
            sums.extend(_direct_power_sums(self.values(lo, hi), k, len(sums)))
        elif len(sums) < k:
            sums.extend(power_sums_of(self.values(lo, hi), k, len(sums)))
        return sums[:k]

    def strata(self, lo: int, hi: int) -> tuple[int, ...]:
        """How many items of ``[lo, hi)`` fall in each stratum (the low bits
        of an id's last byte; see :mod:`.estimate`). A range of
        STRATA_PREFIX_FROM items or more adds the whole blocks' counts
        (each block's counted once and shared by every snapshot that holds
        it) to its ragged ends', O(block size + blocks); a smaller one
        counts its items, O(hi - lo), in C."""
        if hi - lo >= STRATA_PREFIX_FROM:
            starts = self._starts
            first = bisect_left(starts, lo)  # whole blocks [first, last) lie inside the range
            last = bisect_right(starts, hi) - 1
            if first < last:
                prefix = self._block_strata
                if prefix is None:
                    prefix = self._block_strata = self._strata_prefix()
                ends = self._gather(lo, starts[first], _block_keys) + self._gather(starts[last], hi, _block_keys)
                return unpacked(prefix[last] - prefix[first] + packed(strata_counts(ends)))
        return tuple(strata_counts(self._gather(lo, hi, _block_keys)))

    def bound_before(self, position: int) -> Bound:
        """The shortest bound above item ``position - 1`` and at most item
        ``position`` (0 < position < len)."""
        assert 0 < position < self._count
        keys = self.keys
        low_lamport, low_id = keys[position - 1]
        lamport, item_id = keys[position]
        if lamport != low_lamport:
            return Bound(lamport)
        shared = 0
        while shared < limits.ID_BYTES and low_id[shared] == item_id[shared]:
            shared += 1
        assert shared < limits.ID_BYTES, "duplicate item"
        return Bound(lamport, item_id[: shared + 1])


def index_with_new(
    previous: ItemIndex | None, new: Sequence[tuple[int, bytes]], *, lookup: KeyLookup | None = None
) -> ItemIndex:
    """An index of ``previous``'s items and ``new`` ones (sorted, unique, none
    of them in ``previous``), for a store that knows what arrived since it
    last asked. ``lookup``: for the first index (no ``previous``), how it
    and the snapshots grown from it find an item's key by its id, when the
    store knows that already (by default from the items). Only the runs of blocks the new items fall in are rebuilt
    (merged with them and cut again, see :func:`.blocks.chunked`); the
    other blocks are shared with ``previous``, which stays unchanged (a
    running session's snapshot). O(new items + the items of the runs
    touched + blocks). Returns ``previous`` itself when nothing is new."""
    if previous is None:
        return ItemIndex(new, kept=True, lookup=lookup)
    if not new:
        return previous
    blocks = list(previous._blocks)
    if not blocks:
        return ItemIndex(_blocks=chunked(new), lookup=previous._lookup.extended(new))
    firsts = previous._firsts
    # The blocks that begin runs (the first block and those whose first
    # item begins a run): a run's blocks are rebuilt together.
    flags = previous._run_flags
    if flags is None:
        flags = bytearray(cut_flags(firsts))
        flags[0] = 1
    runs = []
    at = 0
    while at != -1:
        runs.append(at)
        at = flags.find(1, at + 1)
    runs.append(len(blocks))
    # new[cuts[r]:cuts[r + 1]] fall in run r: from its first key up to the
    # next run's (items below every block go to the first); one bisection
    # per run, in C, however many items are new
    cuts = [0, *map(partial(bisect_left, new), map(firsts.__getitem__, islice(runs, 1, len(runs) - 1))), len(new)]
    rebuilt: list[tuple[int, int, list[Block]]] = []
    for run in compress(range(len(runs) - 1), map(ne, cuts, islice(cuts, 1, None))):
        first, end = runs[run], runs[run + 1]
        added = list(new[cuts[run] : cuts[run + 1]])
        if end - first == 1:  # a run of one block: usually it stays one
            old = blocks[first]
            merged = _merged(old.keys, added)
            if len(merged) <= MAX_BLOCK_ITEMS and not any(cut_flags(added)):
                rebuilt.append((first, end, [old.grown(merged, added)]))
                continue
        else:
            merged = _merged(list(chain.from_iterable(map(_block_keys, blocks[first:end]))), added)
        rebuilt.append((first, end, chunked(merged)))
    for first, end, parts in reversed(rebuilt):  # from the end, so earlier block numbers stay put
        blocks[first:end] = parts
    same = rebuilt[0][0]  # blocks below the first run rebuilt are previous's
    grown = ItemIndex(_blocks=blocks, lookup=previous._lookup.extended(new), _grown=(previous, same))
    # the run flags of the blocks kept, then of the new ones (O(new blocks), not O(blocks))
    run_flags = flags[:same] + cut_flags(grown._firsts[same:])
    run_flags[0] = 1
    grown._run_flags = run_flags
    return grown


def _prefix_then(prefix: list[int], same: int, values: Iterable[int]) -> list[int]:
    """``prefix[: same + 1]`` followed by its running sum on over ``values``."""
    head = prefix[: same + 1]
    head.extend(islice(accumulate(values, initial=head[-1]), 1, None))
    return head


_COUNT, _FIRST, _TOTAL = attrgetter("count"), attrgetter("first"), attrgetter("total")


def _merged(keys: list[tuple[int, bytes]], added: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    """``keys`` and ``added`` (each sorted, none in both) in one sorted list:
    the added items above every key (the newest records, usually most of
    them) go at the end as they are; the others are inserted one by one
    when few, else sorted with the keys."""
    among = bisect_right(added, keys[-1])  # added[among:] lie above every key
    if among == 0:
        return keys + added
    if among <= _INSERTED_ITEMS:
        merged = list(keys)
        for item in added[:among]:
            insort(merged, item)  # a bisection and a move, in C
    else:
        merged = sorted(keys + added[:among])  # timsort: two runs, linear
    merged += added[among:]
    return merged


def index_of(items: SyncItems) -> ItemIndex:
    """The store's own index when it keeps one (``sync_index``), else one
    built from ``sync_items``."""
    sync_index = getattr(items, "sync_index", None)
    if sync_index is not None:
        return sync_index()
    return ItemIndex(items.sync_items())
