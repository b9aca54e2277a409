"""The items a replica reconciles, and the index that answers range questions.

An item is ``(lamport, id)`` for one record held. Items sort by lamport, then
id; records missed lately have the highest lamports, so they cluster at the end
of the order, and a range split finds them cheaply.

:class:`ItemIndex` is a snapshot of the sorted items that answers, for a range
of positions ``[lo, hi)``:

* its fingerprint: the first 16 bytes of SHA-256 over
  ``(sum of the ids as 256-bit little-endian integers mod 2^256) || count``,
  O(1) from precomputed prefix sums;
* its power sums ``p_j = sum(x^j) mod P`` for j = 1..k, where ``x`` is an
  id's 64-bit value (see :func:`sum_value`): for large ranges and small k,
  O(k * POWER_BLOCK) from prefix sums of each power kept per block of items
  plus the items at the range's two ragged ends; else O(count * k);
* its stratum counts (how many ids fall in each of STRATA classes by their
  last byte, see :mod:`.estimate`), O(count) in C.

Building an index costs a pass over every item, so a store keeps one and
extends it with the records that arrived since (:func:`index_with_new`):
new records mostly arrive above every item held, and appending them costs
only the new items. Snapshots share the
append-only columns underneath; a snapshot sees only its first ``len`` items,
so a session's view never changes while the store grows.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from itertools import accumulate, islice, repeat
from operator import itemgetter
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

#: Powers kept as prefix sums (each built on first use). A failed decode
#: asks for 8 sums and then 16: beyond 16 a range is usually split instead
#: (see reconcile.SUMS_EFFORT), so 16 covers the sums asked most.
PREFIX_POWERS = 16

#: Items per block of the prefix power columns, which hold one entry per
#: block, not per item: building them is one C-level sum per block and
#: power (a 100,000-item index in ~10 ms, where a prefix per item took
#: 170 ms and 8 bytes per item and power), and a range's ragged ends cost
#: at most 2 x 63 remembered powers per sum.
POWER_BLOCK = 64

#: Ranges smaller than this sum their powers directly: cheap, and it keeps
#: the prefix columns from being built for sessions that never need them.
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


class _Columns:
    """Append-only columns over sorted items, shared by the snapshots of one
    growing item set: keys, prefix id sums, sum values, and (built on first
    use) prefix sums of powers of the values mod P."""

    def __init__(self) -> None:
        self.keys: list[tuple[int, bytes]] = []
        self.prefix: list[int] = [0]
        self.values: list[int] = []
        self.powers: list[array] = []  #: powers[j - 1][b]: sum of x^j over the first b blocks, mod P
        #: id -> its key, filled on first use up to ``_keyed`` items. An id's
        #: key never changes, so head copies share this dict: entries for
        #: items a copy does not hold are never found by its bisection.
        self.keyed: dict[bytes, tuple[int, bytes]] = {}
        self._keyed = 0

    def append(self, items: Sequence[tuple[int, bytes]]) -> None:
        """Add items above every key held; the caller guarantees they are
        sorted and unique (checking it would cost a pass per growth)."""
        if not items:
            return
        keys = self.keys
        assert not keys or keys[-1] < items[0], "appended items must sort above the index"
        start = len(keys)
        keys.extend(items)
        # map() over builtins throughout: no Python frame per item.
        numbers = map(int.from_bytes, map(itemgetter(1), items), repeat("little"))
        self.prefix.extend(islice(accumulate(numbers, initial=self.prefix[start]), 1, None))

    def head(self, count: int) -> "_Columns":
        """New columns holding copies of the first ``count`` items' entries
        (C-speed slices; no per-item Python work)."""
        head = _Columns()
        head.keys = self.keys[:count]
        head.prefix = self.prefix[: count + 1]
        head.values = self.values[:count]
        head.keyed = self.keyed
        head._keyed = min(count, self._keyed)
        if self.powers:  # only whole blocks below ``count`` stay; the rest is redone later
            head.powers = [column[: count // POWER_BLOCK + 1] for column in self.powers]
        return head

    def value_column(self) -> list[int]:
        """:func:`sum_value` of every key, computed on first use."""
        values = self.values
        if len(values) < len(self.keys):
            ids = map(itemgetter(1), islice(self.keys, len(values), None))
            heads = map(int.from_bytes, map(itemgetter(_VALUE_BYTES), ids), repeat("big"))
            values.extend(map((1).__add__, map((SUMS_PRIME - 1).__rmod__, heads)))  # sum_value, in C
        return values

    def _extend_powers(self, first: int = 0) -> None:
        """Extend power columns ``first + 1`` and up over every whole block
        of keys, from the shared powers of :func:`powers_of` (every replica
        holds mostly the same items, so each value's powers are computed
        once). All columns from ``first`` on must cover the same blocks."""
        prime = SUMS_PRIME
        count = len(self.powers)
        covered = len(self.powers[first]) - 1
        blocks = len(self.keys) // POWER_BLOCK
        if blocks <= covered:
            return
        values = self.value_column()
        totals = [column[-1] for column in self.powers[first:]]
        news: list[list[int]] = [[] for _ in totals]
        for block in range(covered, blocks):
            rows = powers_of(values[block * POWER_BLOCK : (block + 1) * POWER_BLOCK], count)
            for j, column in enumerate(islice(zip(*rows), first, count)):
                totals[j] = (totals[j] + sum(column)) % prime
                news[j].append(totals[j])
        for column, new in zip(self.powers[first:], news):
            column.extend(new)

    def power_prefix(self, k: int) -> list[array]:
        """Per-block prefix power columns for j = 1..k (k <= PREFIX_POWERS),
        covering every whole block of keys. Columns are built on first use,
        the first two together (a k = 1 range is soon followed by k = 2)."""
        if self.powers:
            self._extend_powers()
        built = len(self.powers)
        if built < k:
            self.powers.extend(array("Q", [0]) for _ in range(max(k, 2) - built))
            self._extend_powers(built)
        return self.powers

    def position(self, item_id: bytes, count: int) -> int | None:
        """Position of ``item_id`` among the first ``count`` keys, or None."""
        keys = self.keys
        if self._keyed < len(keys):
            fresh = keys[self._keyed :]
            self.keyed.update(zip(map(itemgetter(1), fresh), fresh))  # in C
            self._keyed = len(keys)
        key = self.keyed.get(item_id)
        if key is None:
            return None
        position = bisect_left(keys, key, 0, count)
        return position if position < count and keys[position] == key else None


class ItemIndex:
    """A sorted snapshot of a replica's items with O(1) range fingerprints.

    ``ItemIndex(items)`` builds one from sorted, unique items;
    :func:`index_with_new` extends one as a store grows.
    """

    def __init__(
        self, items: Sequence[tuple[int, bytes]] = (), *, kept: bool = False, _columns: _Columns | None = None
    ) -> None:
        """``kept``: the index outlives a session (a store keeps it), so the
        prefix power columns, a pass over every item, pay for themselves."""
        self._kept = kept or _columns is not None
        if _columns is None:
            _columns = _Columns()
            _columns.append(list(items))
        self._columns = _columns
        self._count = len(_columns.keys)
        self.keys = _columns.keys  #: the first ``len(self)`` entries are this snapshot's
        self._prefix = _columns.prefix
        self._sums: dict[tuple[int, int], list[int]] = {}

    def __len__(self) -> int:
        return self._count

    def locate(self, bound: Bound) -> int:
        """Position of the first item at or above ``bound``."""
        return bisect_left(self.keys, bound.key, 0, self._count)

    def id_sum(self, lo: int, hi: int) -> int:
        return self._prefix[hi] - self._prefix[lo]

    def fingerprint(self, lo: int, hi: int) -> bytes:
        return fingerprint_of(self.id_sum(lo, hi), hi - lo)

    def ids(self, lo: int, hi: int) -> list[bytes]:
        return [item_id for _lamport, item_id in self.keys[lo:hi]]

    def position(self, item_id: bytes) -> int | None:
        """Position of the item with this id, or None if not held."""
        return self._columns.position(item_id, self._count)

    def values(self, lo: int, hi: int) -> list[int]:
        """:func:`sum_value` of each item in ``[lo, hi)``."""
        return self._columns.value_column()[lo:hi]

    def power_sums(self, lo: int, hi: int, k: int) -> list[int]:
        """``[p_1, ..., p_k]`` of the items in ``[lo, hi)``.

        O(k * POWER_BLOCK) for ranges of PREFIX_MIN_RANGE items or more and
        k up to PREFIX_POWERS in a kept index (per-block prefix columns,
        built once per item set, plus the range's ragged ends); otherwise O((hi - lo) * k) additions of remembered powers (see
        :func:`powers_of`), and a range asked again for more sums (a failed
        decode asks for more) only pays for the new ones.
        """
        if self._kept and k <= PREFIX_POWERS and hi - lo >= PREFIX_MIN_RANGE:
            prime = SUMS_PRIME
            columns = self._columns.power_prefix(k)
            first = -(-lo // POWER_BLOCK)  # whole blocks [first, last) lie inside the range
            last = min(hi // POWER_BLOCK, len(columns[0]) - 1)
            ends = self.values(lo, first * POWER_BLOCK) + self.values(last * POWER_BLOCK, hi)
            rows = powers_of(ends, k)
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
        of an id's last byte; see :mod:`.estimate`)."""
        lasts = bytes(map(itemgetter(limits.ID_BYTES - 1), map(itemgetter(1), self.keys[lo:hi])))
        classes = lasts.translate(_STRATUM_OF_BYTE)
        return tuple(map(classes.count, range(STRATA)))

    def bound_before(self, position: int) -> Bound:
        """The shortest bound above item ``position - 1`` and at most item
        ``position`` (0 < position < len)."""
        assert 0 < position < self._count
        low_lamport, low_id = self.keys[position - 1]
        lamport, item_id = self.keys[position]
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
    last asked. New items above all of ``previous``'s are appended to its
    columns, O(new items); otherwise the columns are copied up to the first
    new item (C-speed slices, so a running session's snapshot is untouched)
    and the rest is merged and appended, O(items above it + new). Returns
    ``previous`` itself when nothing is new."""
    if previous is None:
        return ItemIndex(new, kept=True)
    if not new:
        return previous
    columns, count = previous._columns, len(previous)
    keys = columns.keys
    first = bisect_left(keys, new[0], 0, count)
    if first == count and len(keys) == count:
        columns.append(new)
        return ItemIndex(_columns=columns)
    above = keys[first:count]
    columns = columns.head(first)
    columns.append(sorted(above + list(new)) if above else new)  # timsort: two runs, linear
    return ItemIndex(_columns=columns)


def index_of(items: SyncItems) -> ItemIndex:
    """The store's own index when it keeps one (``sync_index``), else one
    built from ``sync_items``."""
    sync_index = getattr(items, "sync_index", None)
    if sync_index is not None:
        return sync_index()
    return ItemIndex(items.sync_items())
