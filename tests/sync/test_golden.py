"""Golden values of the sync wire format, byte for byte, so that a second
implementation can check its fingerprints, sums, bounds and entries.

Items: ids SHA-256(b"\\x00"), SHA-256(b"\\x01"), SHA-256(b"\\x02") with lamports
5, 5 and 7, sorted by (lamport, id).
"""

from __future__ import annotations

import hashlib

from meshpantry.core.sync.items import EMPTY_FINGERPRINT, ItemIndex, sum_value
from protocol import sync as wire

IDS = [hashlib.sha256(bytes([i])).digest() for i in range(3)]
INDEX = ItemIndex(sorted([(5, IDS[0]), (5, IDS[1]), (7, IDS[2])]))


def test_fingerprints():
    assert EMPTY_FINGERPRINT.hex() == "2c34ce1df23b838c5abf2a7f6437cca3"
    assert INDEX.fingerprint(0, 3).hex() == "fd037fa02e3372dbb97145aad1eac15a"


def test_sum_values_and_power_sums():
    assert sum_value(IDS[0]) == 7940984811893783193
    assert INDEX.power_sums(0, 3, 2) == [10802678194482230312, 3741780967250271768]


def test_shortest_bounds_between_items():
    assert INDEX.bound_before(1) == wire.Bound(5, b"n")  # same lamport: one byte of id
    assert INDEX.bound_before(2) == wire.Bound(7)  # lamports differ: no prefix


def test_a_reconcile_frame():
    frame = wire.Reconcile(
        (
            wire.Entry(INDEX.bound_before(1), wire.Fingerprint(1, INDEX.fingerprint(0, 1))),
            wire.Entry(wire.INF, wire.Sums(2, INDEX.fingerprint(1, 3), tuple(INDEX.power_sums(1, 3, 1)))),
        )
    )
    assert wire.encode_frame(frame).hex() == (
        "36" "02" "00" "02"  # length 54, RECONCILE, not idle, 2 entries
        "06" "01" "6e"  # bound: lamport 0 + 6 - 1 = 5, prefix "n"
        "01" "01" "ff8e187ff454f5ddf27aae902538ed7a"  # FINGERPRINT count 1
        "00"  # bound INF
        "04" "02" "7be45fb06934a85c5d26da29a3d11f36" "01" "49f5c06600b35f62"  # SUMS count 2, k 1
        "00"  # no stratum counts
        "00"  # no needs
    )
