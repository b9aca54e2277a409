"""The items a replica reconciles, and the index that answers range questions.

An item is ``(lamport, id)`` for one record held. Items sort by lamport, then
id; records missed lately have the highest lamports, so they cluster at the end
of the order, and a range split finds them cheaply.

:class:`ItemIndex` takes a snapshot of the sorted items once per session and
answers, for a range of positions ``[lo, hi)``:

* its fingerprint: the first 16 bytes of SHA-256 over
  ``(sum of the ids as 256-bit little-endian integers mod 2^256) || count``,
  O(1) from precomputed prefix sums;
* its power sums ``p_j = sum(x^j) mod P`` for j = 1..k, where ``x`` is an
  id's 64-bit value (see :func:`sum_value`), in O(count * k).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from typing import Iterable, Protocol, Sequence

from protocol import limits
from protocol.sync import FINGERPRINT_BYTES, SUMS_PRIME, Bound

_MOD = 1 << 256

#: Power sums are cached per range with one power per item; the cache is
#: dropped past this many items per item held (a few levels of splits).
_SUMS_CACHE_FACTOR = 4


class SyncItems(Protocol):
    """What a session needs from a store."""

    def sync_items(self) -> Sequence[tuple[int, bytes]]:
        """Every record held, as ``(lamport, id)``, sorted ascending."""
        ...

    def raws_in_chain_order(self, ids: Iterable[bytes]) -> list[bytes]:
        """The raw bytes of the records with these ids that are held, sorted
        by (author, seq)."""
        ...


def sum_value(item_id: bytes) -> int:
    """The id's element of GF(P) for power sums, never 0 (0 would vanish)."""
    return int.from_bytes(item_id[:8], "big") % (SUMS_PRIME - 1) + 1


def fingerprint_of(id_sum: int, count: int) -> bytes:
    digest = hashlib.sha256((id_sum % _MOD).to_bytes(32, "little") + count.to_bytes(8, "little"))
    return digest.digest()[:FINGERPRINT_BYTES]


EMPTY_FINGERPRINT = fingerprint_of(0, 0)


class ItemIndex:
    """A sorted snapshot of a replica's items with O(1) range fingerprints."""

    def __init__(self, items: Sequence[tuple[int, bytes]]) -> None:
        self.keys: list[tuple[int, bytes]] = list(items)
        assert all(a < b for a, b in zip(self.keys, self.keys[1:])), "sync_items must be sorted and unique"
        prefix = [0] * (len(self.keys) + 1)
        acc = 0
        for position, (_lamport, item_id) in enumerate(self.keys):
            acc += int.from_bytes(item_id, "little")
            prefix[position + 1] = acc
        self._prefix = prefix
        self._positions: dict[bytes, int] | None = None
        self._values: list[int] | None = None
        self._sums: dict[tuple[int, int], tuple[list[int], list[int]]] = {}
        self._cached_items = 0

    def __len__(self) -> int:
        return len(self.keys)

    def locate(self, bound: Bound) -> int:
        """Position of the first item at or above ``bound``."""
        return bisect_left(self.keys, bound.key)

    def id_sum(self, lo: int, hi: int) -> int:
        return self._prefix[hi] - self._prefix[lo]

    def fingerprint(self, lo: int, hi: int) -> bytes:
        return fingerprint_of(self.id_sum(lo, hi), hi - lo)

    def ids(self, lo: int, hi: int) -> list[bytes]:
        return [item_id for _lamport, item_id in self.keys[lo:hi]]

    def position(self, item_id: bytes) -> int | None:
        """Position of the item with this id, or None if not held."""
        if self._positions is None:
            self._positions = {item_id: pos for pos, (_l, item_id) in enumerate(self.keys)}
        return self._positions.get(item_id)

    def values(self, lo: int, hi: int) -> list[int]:
        """:func:`sum_value` of each item in ``[lo, hi)``."""
        if self._values is None:
            self._values = [sum_value(item_id) for _lamport, item_id in self.keys]
        return self._values[lo:hi]

    def power_sums(self, lo: int, hi: int, k: int) -> list[int]:
        """``[p_1, ..., p_k]`` of the items in ``[lo, hi)``.

        O((hi - lo) * k) the first time; a range asked again for more sums
        (a failed decode asks for more) only pays for the new ones.
        """
        cached = self._sums.get((lo, hi))
        if cached is None:
            if self._cached_items > _SUMS_CACHE_FACTOR * len(self.keys) + 1024:
                self._sums.clear()
                self._cached_items = 0
            cached = ([], self.values(lo, hi))
            self._sums[(lo, hi)] = cached
            self._cached_items += hi - lo
        sums, powers = cached
        prime = SUMS_PRIME
        if len(sums) < k:
            values = self.values(lo, hi)
            for _ in range(k - len(sums)):
                if sums:  # powers holds x^len(sums); raise each to the next power
                    powers = [p * x % prime for p, x in zip(powers, values)]
                sums.append(sum(powers) % prime)
            self._sums[(lo, hi)] = (sums, powers)
        return sums[:k]

    def bound_before(self, position: int) -> Bound:
        """The shortest bound above item ``position - 1`` and at most item
        ``position`` (0 < position < len)."""
        assert 0 < position < len(self.keys)
        low_lamport, low_id = self.keys[position - 1]
        lamport, item_id = self.keys[position]
        if lamport != low_lamport:
            return Bound(lamport)
        shared = 0
        while shared < limits.ID_BYTES and low_id[shared] == item_id[shared]:
            shared += 1
        assert shared < limits.ID_BYTES, "duplicate item"
        return Bound(lamport, item_id[: shared + 1])
