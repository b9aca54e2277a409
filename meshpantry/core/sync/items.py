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
  O(k * (BLOCK_ITEMS + blocks)) from each block's sums plus the items at the
  range's two ragged ends; else O(count * k);
* its stratum counts (how many ids fall in each of STRATA classes by their
  last byte, see :mod:`.estimate`), O(count) in C.

Building an index costs a pass over every item, so a store keeps one and
grows it with the records that arrived since (:func:`index_with_new`). The
items are kept in blocks that never change once built: new items, above
every item held or among them (records that arrive out of Lamport order),
rebuild only the blocks they fall in, and every other block is shared with
the older snapshot, so a session's view never changes while the store grows
and growth never costs a pass over the items held.
"""

from __future__ import annotations

import hashlib
import struct
from bisect import bisect_left, bisect_right
from functools import partial
from itertools import accumulate, compress, islice, repeat
from operator import attrgetter, itemgetter, ne
from typing import Iterable, Protocol, Sequence

from protocol import limits
from protocol.sync import FINGERPRINT_BYTES, STRATA, SUMS_PRIME, Bound

_MOD = 1 << 256

#: Ranges whose sums one snapshot remembers (a failed decode asks the same
#: range for more); a session touches a few hundred ranges at most.
_SUMS_CACHE_RANGES = 4096

#: Values whose powers are remembered (about 40 bytes per power): powers never
#: change, and every replica and session asks for the same values' powers, so
#: they are computed once. Past this many values the memory is given back.
_POWER_CACHE_VALUES = 1 << 17

#: value -> [x, x^2, ..., x^m] mod P, m the most sums asked of a range holding x.
_powers: dict[int, list[int]] = {}


def powers_of(values: Sequence[int], k: int) -> list[list[int]]:
    """For each value x, a list whose first k entries are x^1..x^k mod P
    (shared and remembered: callers must not change them)."""
    if len(_powers) > _POWER_CACHE_VALUES:
        _powers.clear()
    rows = list(map(_powers.get, values))
    if rows and None not in rows and min(map(len, rows)) >= k:
        return rows  # all remembered: no Python step per value
    prime = SUMS_PRIME
    for number, row in enumerate(rows):
        if row is None or len(row) < k:
            x = values[number]
            if row is None:
                row = _powers[x] = [x]
                rows[number] = row
            power = row[-1]
            for _ in range(k - len(row)):
                power = power * x % prime
                row.append(power)
    return rows

#: Powers each block keeps the sums of (built on first use). A failed decode
#: asks for 8 sums and then 16: beyond 16 a range is usually split instead
#: (see splits.SUMS_EFFORT), so 16 covers the sums asked most.
PREFIX_POWERS = 16

#: Items per block of the index (a block that grows past it is cut in two).
#: A new item costs a rebuild of its block, O(BLOCK_ITEMS), and a new
#: snapshot a pass over the blocks, O(items / BLOCK_ITEMS): 256 keeps both
#: small at 100,000 items (~400 blocks), and a range's power sums add at
#: most 2 x 255 remembered powers at its ragged ends to the blocks' sums.
BLOCK_ITEMS = 256

#: Ranges smaller than this sum their powers directly: cheap, and it keeps
#: the blocks' power sums from being built for sessions that never need them.
PREFIX_MIN_RANGE = 512


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


#: The id bytes a sum value is taken from.
_VALUE_BYTES = slice(0, 8)


#: byte -> its stratum (low bits), for bytes.translate.
_STRATUM_OF_BYTE = bytes(byte % STRATA for byte in range(256))

#: Stratum counts packed into one integer, 32 bits per stratum (little-endian
#: fields): the counts of two runs of items add as their packed integers do,
#: so a range's counts are a difference of two prefix sums over the blocks.
#: 32 bits hold any count of items an index can hold.
_PACKED_STRATA = struct.Struct(f"<{STRATA}I")

#: Ranges at least this large count their strata from the blocks' counts
#: (and the ragged ends'); smaller ones count every item.
STRATA_PREFIX_FROM = 2 * BLOCK_ITEMS


def _strata_counts(keys: Iterable[tuple[int, bytes]]) -> list[int]:
    """How many of ``keys`` fall in each stratum (in C)."""
    lasts = bytes(map(itemgetter(limits.ID_BYTES - 1), map(itemgetter(1), keys)))
    classes = lasts.translate(_STRATUM_OF_BYTE)
    return list(map(classes.count, range(STRATA)))


def _packed(counts: Sequence[int]) -> int:
    return int.from_bytes(_PACKED_STRATA.pack(*counts), "little")


def _unpacked(packed: int) -> tuple[int, ...]:
    return _PACKED_STRATA.unpack(packed.to_bytes(_PACKED_STRATA.size, "little"))


def _direct_power_sums(values: list[int], k: int) -> list[int]:
    """p_1..p_k of ``values`` without remembering any power: the many
    powers a range asked for more than PREFIX_POWERS sums needs would fill
    the shared cache with powers few other ranges ask for."""
    prime = SUMS_PRIME
    sums = []
    powers = values
    for _ in range(k):
        sums.append(sum(powers) % prime)
        powers = [power * x % prime for power, x in zip(powers, values)]
    return sums


def sum_value(item_id: bytes) -> int:
    """The id's element of GF(P) for power sums, never 0 (0 would vanish)."""
    return int.from_bytes(item_id[_VALUE_BYTES], "big") % (SUMS_PRIME - 1) + 1


def fingerprint_of(id_sum: int, count: int) -> bytes:
    digest = hashlib.sha256((id_sum % _MOD).to_bytes(32, "little") + count.to_bytes(8, "little"))
    return digest.digest()[:FINGERPRINT_BYTES]


EMPTY_FINGERPRINT = fingerprint_of(0, 0)


class _Block:
    """A run of at most BLOCK_ITEMS consecutive sorted items, never changed
    once built, so every snapshot that holds it shares it: its keys, its id
    sum, and (built on first use) its prefix id sums, sum values and power
    sums."""

    __slots__ = ("keys", "count", "first", "total", "_prefix", "_values", "_powers", "_strata")

    def __init__(self, keys: list[tuple[int, bytes]], total: int | None = None) -> None:
        """``total``: the sum of the keys' ids, when the caller knows it."""
        self.keys = keys
        self.count = len(keys)
        self.first = keys[0]
        # map() over builtins throughout: no Python frame per item.
        self.total = sum(map(int.from_bytes, map(itemgetter(1), keys), repeat("little"))) if total is None else total
        self._prefix: list[int] | None = None
        self._values: list[int] | None = None
        self._powers: list[int] = []  #: _powers[j - 1]: sum of x^j over the block, mod P
        self._strata: int | None = None  #: the block's stratum counts, packed (see _PACKED_STRATA)

    def prefix(self) -> list[int]:
        """Sums of the ids of the first 0..count items (only a block a range
        begins or ends inside is asked)."""
        prefix = self._prefix
        if prefix is None:
            numbers = map(int.from_bytes, map(itemgetter(1), self.keys), repeat("little"))
            prefix = self._prefix = list(accumulate(numbers, initial=0))
        return prefix

    def grown(self, merged: list[tuple[int, bytes]], added: list[tuple[int, bytes]]) -> "_Block":
        """The block of ``merged``, this block's keys and ``added`` (not
        empty): sums and counts add, so the id sum, power sums and stratum
        counts this block knows carry over plus the added items'; when
        ``added`` all lie above this block's keys, so do its sum values and
        prefix id sums, extended."""
        numbers = list(map(int.from_bytes, map(itemgetter(1), added), repeat("little")))
        block = _Block(merged, self.total + sum(numbers))
        values = None
        if added[0] > self.keys[-1]:  # appended: the block's items keep their places
            if self._values is not None:
                values = _values_of(added)
                block._values = self._values + values
            if self._prefix is not None:
                block._prefix = self._prefix + list(accumulate(numbers, initial=self._prefix[-1]))[1:]
        if self._strata is not None:
            block._strata = self._strata + _packed(_strata_counts(added))
        sums = self._powers
        if sums:
            prime = SUMS_PRIME
            rows = powers_of(_values_of(added) if values is None else values, len(sums))
            block._powers = [(total + sum(map(itemgetter(j), rows))) % prime for j, total in enumerate(sums)]
        return block

    def strata(self) -> int:
        """The block's stratum counts, packed (see :data:`_PACKED_STRATA`),
        counted on first use."""
        packed = self._strata
        if packed is None:
            packed = self._strata = _packed(_strata_counts(self.keys))
        return packed

    def values(self) -> list[int]:
        """:func:`sum_value` of every key, computed on first use."""
        values = self._values
        if values is None:
            values = self._values = _values_of(self.keys)
        return values

    def power_sums(self, k: int) -> list[int]:
        """p_1..p_k (at least) of the block, from the shared powers of
        :func:`powers_of`; a block asked for more only pays for the new ones."""
        sums = self._powers
        if len(sums) < k:
            rows = powers_of(self.values(), k)
            prime = SUMS_PRIME
            sums.extend(sum(map(itemgetter(j), rows)) % prime for j in range(len(sums), k))
        return sums


def _values_of(keys: Iterable[tuple[int, bytes]]) -> list[int]:
    """:func:`sum_value` of each key's id, in C (no Python frame per item)."""
    heads = map(int.from_bytes, map(itemgetter(_VALUE_BYTES), map(itemgetter(1), keys)), repeat("big"))
    return list(map((1).__add__, map((SUMS_PRIME - 1).__rmod__, heads)))


def _blocks_of(keys: Sequence[tuple[int, bytes]], size: int = BLOCK_ITEMS) -> list[_Block]:
    """Sorted ``keys`` cut into blocks of ``size`` items (the last may be smaller)."""
    return [_Block(list(keys[at : at + size])) for at in range(0, len(keys), size)]


class _Lookup:
    """id -> its key, shared by the snapshots of one growing item set and
    filled on first use. An id's key never changes, so entries for items a
    snapshot does not hold do no harm: its bisection never finds them."""

    def __init__(self) -> None:
        self.keyed: dict[bytes, tuple[int, bytes]] = {}
        self.pending: list[Sequence[tuple[int, bytes]]] = []  #: item batches not yet in ``keyed``

    def get(self, item_id: bytes) -> tuple[int, bytes] | None:
        if self.pending:
            for batch in self.pending:
                self.keyed.update(zip(map(itemgetter(1), batch), batch))  # in C
            self.pending.clear()
        return self.keyed.get(item_id)


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


def _block_keys(block: _Block) -> list[tuple[int, bytes]]:
    return block.keys


class ItemIndex:
    """A sorted snapshot of a replica's items with O(log n) range fingerprints.

    The items are held in blocks of at most BLOCK_ITEMS (see :class:`_Block`),
    with prefix sums over the blocks: a position is found by bisection over
    the blocks' starts, a range's id sum is two prefix differences, and its
    power sums add the whole blocks' sums to the ragged ends'.
    ``ItemIndex(items)`` builds one from sorted, unique items;
    :func:`index_with_new` grows one as a store grows, rebuilding only the
    blocks new items fall in (the others are shared with the older snapshot).
    """

    def __init__(
        self, items: Sequence[tuple[int, bytes]] = (), *, kept: bool = False, _blocks: list[_Block] | None = None,
        _lookup: _Lookup | None = None,
    ) -> None:
        """``kept``: the index outlives a session (a store keeps it); the
        answers are the same either way."""
        blocks = _blocks_of(items) if _blocks is None else _blocks
        self._blocks = blocks
        self._starts = list(accumulate(map(attrgetter("count"), blocks), initial=0))  # in C
        self._firsts = list(map(attrgetter("first"), blocks))
        self._totals = list(accumulate(map(attrgetter("total"), blocks), initial=0))
        self._count = self._starts[-1]
        if _lookup is None:
            _lookup = _Lookup()
            _lookup.pending.extend(map(_block_keys, blocks))
        self._lookup = _lookup
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

    def values(self, lo: int, hi: int) -> list[int]:
        """:func:`sum_value` of each item in ``[lo, hi)``."""
        return self._gather(lo, hi, _Block.values)

    def _powers_over_blocks(self, k: int) -> list[list[int]]:
        """Prefix sums over the blocks of p_1..p_k (built on first use)."""
        columns = self._block_powers
        if len(columns) < k:
            rows = [block.power_sums(k) for block in self._blocks]
            for j in range(len(columns), k):
                columns.append(list(accumulate(map(itemgetter(j), rows), initial=0)))
        return columns

    def power_sums(self, lo: int, hi: int, k: int) -> list[int]:
        """``[p_1, ..., p_k]`` of the items in ``[lo, hi)``.

        For ranges of PREFIX_MIN_RANGE items or more and k up to
        PREFIX_POWERS: the whole blocks' sums (each block's computed once and
        shared by every snapshot that holds it) plus the range's ragged ends,
        O(k * (BLOCK_ITEMS + blocks)). Otherwise O((hi - lo) * k) additions of
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
                rows = powers_of(self.values(lo, starts[first]) + self.values(starts[last], hi), k)
                return [
                    (columns[j][last] - columns[j][first] + sum(map(itemgetter(j), rows))) % prime
                    for j in range(k)
                ]
        sums = self._sums.get((lo, hi))
        if sums is None:
            if len(self._sums) > _SUMS_CACHE_RANGES:
                self._sums.clear()
            sums = self._sums[(lo, hi)] = []
        if len(sums) < k and k > PREFIX_POWERS:
            sums[:] = _direct_power_sums(self.values(lo, hi), k)
        elif len(sums) < k:
            rows = powers_of(self.values(lo, hi), k)
            prime = SUMS_PRIME
            sums.extend(sum(map(itemgetter(j), rows)) % prime for j in range(len(sums), k))
        return sums[:k]

    def strata(self, lo: int, hi: int) -> tuple[int, ...]:
        """How many items of ``[lo, hi)`` fall in each stratum (the low bits
        of an id's last byte; see :mod:`.estimate`). A range of
        STRATA_PREFIX_FROM items or more adds the whole blocks' counts
        (each block's counted once and shared by every snapshot that holds
        it) to its ragged ends', O(BLOCK_ITEMS + blocks); a smaller one
        counts its items, O(hi - lo), in C."""
        if hi - lo >= STRATA_PREFIX_FROM:
            starts = self._starts
            first = bisect_left(starts, lo)  # whole blocks [first, last) lie inside the range
            last = bisect_right(starts, hi) - 1
            if first < last:
                prefix = self._block_strata
                if prefix is None:
                    prefix = self._block_strata = list(accumulate(map(_Block.strata, self._blocks), initial=0))
                ends = self._gather(lo, starts[first], _block_keys) + self._gather(starts[last], hi, _block_keys)
                return _unpacked(prefix[last] - prefix[first] + _packed(_strata_counts(ends)))
        return tuple(_strata_counts(self._gather(lo, hi, _block_keys)))

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


def index_with_new(previous: ItemIndex | None, new: Sequence[tuple[int, bytes]]) -> ItemIndex:
    """An index of ``previous``'s items and ``new`` ones (sorted, unique, none
    of them in ``previous``), for a store that knows what arrived since it
    last asked. Only the blocks the new items fall in are rebuilt (merged
    with them, and cut in two when they grow past BLOCK_ITEMS); the others
    are shared with ``previous``, which stays unchanged (a running session's
    snapshot). O(new items + BLOCK_ITEMS per block touched + blocks).
    Returns ``previous`` itself when nothing is new."""
    if previous is None:
        return ItemIndex(new, kept=True)
    if not new:
        return previous
    blocks = list(previous._blocks)
    firsts = previous._firsts
    if not blocks:
        return ItemIndex(_blocks=_blocks_of(new), _lookup=_reused(previous._lookup, new))
    # new[cuts[b - 1]:cuts[b]] fall in block b: from its first key up to the
    # next block's (items below every block go to the first); one bisection
    # per block, in C, however many items are new
    cuts = [0, *map(partial(bisect_left, new), islice(firsts, 1, None)), len(new)]
    rebuilt: list[tuple[int, list[_Block]]] = []
    for block in compress(range(len(blocks)), map(ne, cuts, islice(cuts, 1, None))):
        old, added = blocks[block], list(new[cuts[block] : cuts[block + 1]])
        appended = added[0] > old.keys[-1]
        if appended and old.count + len(added) > BLOCK_ITEMS and 2 * old.count >= BLOCK_ITEMS:
            # Items above a block at least half full that would overflow it
            # (the newest records, the usual growth): the block is kept as
            # it is, with whatever it has computed, and the items get blocks
            # of their own.
            rebuilt.append((block, [old, *_blocks_of(added)]))
            continue
        merged = old.keys + added if appended else sorted(old.keys + added)  # timsort: two runs, linear
        if len(merged) > BLOCK_ITEMS:
            size = BLOCK_ITEMS if len(merged) > 2 * BLOCK_ITEMS else -(-len(merged) // 2)
            rebuilt.append((block, _blocks_of(merged, size)))
        else:
            rebuilt.append((block, [old.grown(merged, added)]))
    for block, parts in reversed(rebuilt):  # from the end, so earlier block numbers stay put
        blocks[block : block + 1] = parts
    return ItemIndex(_blocks=blocks, _lookup=_reused(previous._lookup, new))


def _reused(lookup: _Lookup, new: Sequence[tuple[int, bytes]]) -> _Lookup:
    lookup.pending.append(tuple(new))  # the caller's list may change later
    return lookup


def index_of(items: SyncItems) -> ItemIndex:
    """The store's own index when it keeps one (``sync_index``), else one
    built from ``sync_items``."""
    sync_index = getattr(items, "sync_index", None)
    if sync_index is not None:
        return sync_index()
    return ItemIndex(items.sync_items())
