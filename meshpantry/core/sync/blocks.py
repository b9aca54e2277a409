"""The blocks an item index is cut into, and what each block knows of itself.

A block is a run of consecutive sorted items, never changed once built: its
keys, its id sum, and (built on first use) its prefix id sums, sum values,
power sums and stratum counts. An :class:`~.items.ItemIndex` answers a range
from the whole blocks inside it and the items at its two ragged ends.

Where a block begins is chosen by the items themselves (:func:`chunked`): an
item whose id has a small byte at CUT_BYTE begins a **run**, about one item
in MEAN_BLOCK_ITEMS; a run longer than MAX_BLOCK_ITEMS is cut every
MAX_BLOCK_ITEMS items from its start. So the blocks of a stretch of the
order depend on the items held there alone, not on the order they arrived
in: two replicas (or two snapshots of one) that hold the same items in a
stretch hold the same blocks there, and a block is built once for all of
them (:func:`block_of` finds a block with the same keys built already, for
as long as any index holds it). A simulator running a thousand replicas of
one neighbourhood sums each block's powers once, not once per replica.

What the blocks are never changes an answer: sums add, whatever the cut.
"""

from __future__ import annotations

import struct
import weakref
from itertools import accumulate, repeat
from operator import itemgetter, mul
from typing import Iterable, Sequence

from protocol import limits
from protocol.sync import STRATA, SUMS_PRIME

Key = tuple[int, bytes]

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


def power_sums_of(values: Sequence[int], k: int, start: int = 0) -> list[int]:
    """p_(start+1)..p_k of ``values``, each reduced mod P: the first two
    straight from the values (in C), more from the remembered powers of
    :func:`powers_of`."""
    prime = SUMS_PRIME
    if start == 0 and 1 <= k <= 2:
        sums = [sum(values) % prime]
        if k == 2:
            sums.append(sum(map(mul, values, values)) % prime)
        return sums
    rows = powers_of(values, k)
    return [sum(map(itemgetter(j), rows)) % prime for j in range(start, k)]


#: Powers each block keeps the sums of (built on first use). A failed decode
#: asks for 8 sums and then 16: beyond 16 a range is usually split instead
#: (see splits.SUMS_EFFORT), so 16 covers the sums asked most.
PREFIX_POWERS = 16

#: Items per block on average. A new item costs a rebuild of its run, and a
#: new snapshot a pass over the blocks, O(items / MEAN_BLOCK_ITEMS): 128
#: keeps both small at 100,000 items (~800 blocks), and a range's power sums
#: add the remembered powers of about MEAN_BLOCK_ITEMS items at each ragged
#: end (the block a point falls in is twice the mean on average) to the
#: blocks' sums.
MEAN_BLOCK_ITEMS = 128

#: Most items in one block: a run without a cut for longer (about one run in
#: 55) is cut every MAX_BLOCK_ITEMS items from its start.
MAX_BLOCK_ITEMS = 4 * MEAN_BLOCK_ITEMS

#: The id byte that says whether an item begins a run: neither the bytes a
#: sum value is taken from nor the stratum byte (ids are SHA-256 digests, so
#: every byte is uniform and independent of the others).
CUT_BYTE = 16

#: byte at CUT_BYTE -> 1 when the item begins a run, for bytes.translate.
_CUT_OF_BYTE = bytes(1 if byte < 256 // MEAN_BLOCK_ITEMS else 0 for byte in range(256))

#: The id bytes a sum value is taken from.
_VALUE_BYTES = slice(0, 8)

#: byte -> its stratum (low bits), for bytes.translate.
_STRATUM_OF_BYTE = bytes(byte % STRATA for byte in range(256))

#: Stratum counts packed into one integer, 32 bits per stratum (little-endian
#: fields): the counts of two runs of items add as their packed integers do,
#: so a range's counts are a difference of two prefix sums over the blocks.
#: 32 bits hold any count of items an index can hold.
_PACKED_STRATA = struct.Struct(f"<{STRATA}I")


def sum_value(item_id: bytes) -> int:
    """The id's element of GF(P) for power sums, never 0 (0 would vanish)."""
    return int.from_bytes(item_id[_VALUE_BYTES], "big") % (SUMS_PRIME - 1) + 1


def values_of(keys: Iterable[Key]) -> list[int]:
    """:func:`sum_value` of each key's id, in C (no Python frame per item)."""
    heads = map(int.from_bytes, map(itemgetter(_VALUE_BYTES), map(itemgetter(1), keys)), repeat("big"))
    return list(map((1).__add__, map((SUMS_PRIME - 1).__rmod__, heads)))


def strata_counts(keys: Iterable[Key]) -> list[int]:
    """How many of ``keys`` fall in each stratum (in C)."""
    lasts = bytes(map(itemgetter(limits.ID_BYTES - 1), map(itemgetter(1), keys)))
    classes = lasts.translate(_STRATUM_OF_BYTE)
    return list(map(classes.count, range(STRATA)))


def packed(counts: Sequence[int]) -> int:
    """Stratum counts as one integer (see :data:`_PACKED_STRATA`)."""
    return int.from_bytes(_PACKED_STRATA.pack(*counts), "little")


def unpacked(value: int) -> tuple[int, ...]:
    """The stratum counts :func:`packed` packed."""
    return _PACKED_STRATA.unpack(value.to_bytes(_PACKED_STRATA.size, "little"))


def _id_numbers(keys: Iterable[Key]) -> Iterable[int]:
    return map(int.from_bytes, map(itemgetter(1), keys), repeat("little"))


class Block:
    """Consecutive sorted items, never changed once built (see the module's
    docstring); every snapshot that holds it shares it."""

    __slots__ = ("keys", "count", "first", "total", "_prefix", "_values", "_powers", "_strata", "__weakref__")

    def __init__(self, keys: list[Key], total: int | None = None) -> None:
        """``total``: the sum of the keys' ids, when the caller knows it."""
        self.keys = keys
        self.count = len(keys)
        self.first = keys[0]
        # map() over builtins throughout: no Python frame per item.
        self.total = sum(_id_numbers(keys)) if total is None else total
        self._prefix: list[int] | None = None
        self._values: list[int] | None = None
        self._powers: list[int] = []  #: _powers[j - 1]: sum of x^j over the block, mod P
        self._strata: int | None = None  #: the block's stratum counts, packed

    def prefix(self) -> list[int]:
        """Sums of the ids of the first 0..count items (only a block a range
        begins or ends inside is asked)."""
        prefix = self._prefix
        if prefix is None:
            prefix = self._prefix = list(accumulate(_id_numbers(self.keys), initial=0))
        return prefix

    def grown(self, merged: list[Key], added: list[Key]) -> "Block":
        """The block of ``merged``, this block's keys and ``added`` (not
        empty): sums and counts add, so the id sum, power sums and stratum
        counts this block knows carry over plus the added items'; when
        ``added`` all lie above this block's keys, so do its sum values and
        prefix id sums, extended. A block of those keys built already is
        taken instead (:func:`block_of`)."""
        found = _find(merged)
        if found is not None:
            return found
        numbers = list(_id_numbers(added))
        block = _interned(Block(merged, self.total + sum(numbers)))
        values = None
        if added[0] > self.keys[-1]:  # appended: the block's items keep their places
            if self._values is not None:
                values = values_of(added)
                block._values = self._values + values
            if self._prefix is not None:
                block._prefix = self._prefix + list(accumulate(numbers, initial=self._prefix[-1]))[1:]
        if self._strata is not None:
            block._strata = self._strata + packed(strata_counts(added))
        sums = self._powers
        if sums:
            prime = SUMS_PRIME
            more = power_sums_of(values_of(added) if values is None else values, len(sums))
            block._powers = [(total + extra) % prime for total, extra in zip(sums, more)]
        return block

    def strata(self) -> int:
        """The block's stratum counts, packed (see :func:`packed`), counted
        on first use."""
        counts = self._strata
        if counts is None:
            counts = self._strata = packed(strata_counts(self.keys))
        return counts

    def values(self) -> list[int]:
        """:func:`sum_value` of every key, computed on first use."""
        values = self._values
        if values is None:
            values = self._values = values_of(self.keys)
        return values

    def power_sums(self, k: int) -> list[int]:
        """p_1..p_k (at least) of the block, from the shared powers of
        :func:`powers_of`; a block asked for more only pays for the new ones."""
        sums = self._powers
        if len(sums) < k:
            sums.extend(power_sums_of(self.values(), k, len(sums)))
        return sums


#: (count, first key, last key) -> a block of those keys, while any index
#: holds it (weak references: a block nobody holds is let go).
_blocks: "weakref.WeakValueDictionary[tuple[int, Key, Key], Block]" = weakref.WeakValueDictionary()


def _find(keys: list[Key]) -> Block | None:
    found = _blocks.get((len(keys), keys[0], keys[-1]))
    # The count and the ends nearly always name the keys; the keys decide.
    return found if found is not None and found.keys == keys else None


def _interned(block: Block) -> Block:
    _blocks[(block.count, block.first, block.keys[-1])] = block
    return block


def block_of(keys: list[Key]) -> Block:
    """The block of ``keys`` (sorted, not empty): one built already with the
    same keys, with all it computed, when an index still holds one; else a
    new one, found by the next caller asking for these keys."""
    found = _find(keys)
    return found if found is not None else _interned(Block(keys))


def is_cut(key: Key) -> bool:
    """Whether the item ``key`` begins a run (see the module's docstring)."""
    return _CUT_OF_BYTE[key[1][CUT_BYTE]] == 1


def cut_flags(keys: Iterable[Key]) -> bytes:
    """For each key, 1 when it begins a run, else 0 (in C)."""
    return bytes(map(itemgetter(CUT_BYTE), map(itemgetter(1), keys))).translate(_CUT_OF_BYTE)


def chunked(keys: Sequence[Key]) -> list[Block]:
    """Sorted ``keys`` cut into blocks: a block begins at the first key, at
    every key that begins a run, and every MAX_BLOCK_ITEMS keys into a run.
    The caller passes keys from the first item held or from a key that
    begins a run up to the next such key (or the last item), so the blocks
    are those of every index holding these items there."""
    flags = cut_flags(keys)
    starts = [0]
    at = flags.find(1, 1)
    while at != -1:
        starts.append(at)
        at = flags.find(1, at + 1)
    starts.append(len(keys))
    blocks = []
    for start, end in zip(starts, starts[1:]):
        for lo in range(start, end, MAX_BLOCK_ITEMS):
            blocks.append(block_of(list(keys[lo : min(lo + MAX_BLOCK_ITEMS, end)])))
    return blocks
