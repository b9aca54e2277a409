"""The waiting room's budget, in bytes as well as records, on a real SQLite
file: records from keys no member vouches for (sent by a member that relays
them, or by anyone before the gate closed) cannot fill the disk.

    stranger keys ──▶ 840 records of ~16 KB (12 MB) ──▶ store
                                              waiting room: at most 10 MiB
"""

from __future__ import annotations

import os

from meshpantry.core.waiting import MAX_WAITING_BYTES, MAX_WAITING_BYTES_PER_AUTHOR, WaitingRoom


def test_the_room_keeps_its_byte_bounds_oldest_first():
    room = WaitingRoom(per_author=100, total=1000, bytes_per_author=10_000, total_bytes=25_000)
    dropped = []
    for n in range(10):
        dropped += room.add(bytes([n]) * 32, b"a" * 32, "offer", 3_000)
    assert room.bytes == 9_000 and dropped == [bytes([n]) * 32 for n in range(7)]  # 3 x 3,000 per author
    for n in range(10):
        dropped += room.add(bytes([100 + n]) * 32, bytes([n]) * 32, "offer", 3_000)
    assert room.bytes <= 25_000 and len(room) == 8
    assert room.ids()[-1] == bytes([109]) * 32  # the newest stays


def test_large_records_of_strangers_fill_at_most_ten_mib_of_the_store(store, nb, tmp_path):
    store.ingest([r.raw for r in nb.records], now=nb.clock)
    before = _disk_bytes(tmp_path)
    strangers = [nb.device(100 + n) for n in range(12)]
    note = "x" * 15_000
    total = 0
    for stranger in strangers:
        raws = [nb.household(stranger, f"s{i}", note=note).raw for i in range(70)]
        total += sum(map(len, raws))
        store.ingest(raws, now=nb.clock)
    room = store._loaded_waiting()
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    grown = _disk_bytes(tmp_path) - before
    print(f"offered {total / 2**20:.1f} MiB of stranger records; waiting {room.bytes / 2**20:.1f} MiB "
          f"in {len(room)} records; store grew {grown / 2**20:.1f} MiB")
    assert total > MAX_WAITING_BYTES
    assert room.bytes <= MAX_WAITING_BYTES
    assert all(sum(room._sizes[r] for r, (a, _) in room.entries.items() if a == s.public)
               <= MAX_WAITING_BYTES_PER_AUTHOR for s in strangers)
    assert store.waiting_ids() == room.ids()
    # The room's bytes, one batch in flight, and SQLite's pages (freed pages are reused).
    assert grown < 1.5 * MAX_WAITING_BYTES


def _disk_bytes(root) -> int:
    return sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
