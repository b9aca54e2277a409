"""Sync with real signed records: chain order, own-chain recovery."""

from __future__ import annotations

import random

import nacl.bindings

from meshpantry.core.sync import Done, author_of
from protocol import Record, decode_and_verify, seal

from .replicas import Link, sync_until_quiet

NEIGHBOURHOOD = bytes(range(32))


def _key(seed: int) -> bytes:
    _public, secret = nacl.bindings.crypto_sign_seed_keypair(bytes([seed]) * 32)
    return secret


def _signed_chains(authors: int, per_author: int, seed: int = 1) -> list[Record]:
    """Records of several devices, interleaved, each chain linked by prev."""
    rng = random.Random(seed)
    keys = [_key(i + 1) for i in range(authors)]
    heads: list[Record | None] = [None] * authors
    lamport = 0
    out = []
    for _ in range(authors * per_author):
        who = rng.randrange(authors)
        head = heads[who]
        lamport += 1
        record = seal(
            keys[who],
            neighbourhood=NEIGHBOURHOOD,
            seq=1 if head is None else head.seq + 1,
            prev=None if head is None else head.id,
            lamport=lamport,
            time=1_700_000_000_000 + lamport,
            kind="note",
            body={"text": f"record {lamport}"},
        )
        heads[who] = record
        out.append(record)
    return out


class SignedReplica:
    """Holds verified records; ingest checks that each arrives after its prev."""

    def __init__(self, records=()) -> None:
        self.records: dict[bytes, Record] = {r.id: r for r in records}
        self.arrivals: list[Record] = []

    @property
    def ids(self) -> set[bytes]:
        return set(self.records)

    def sync_items(self):
        return sorted((r.lamport, r.id) for r in self.records.values())

    def raws_in_chain_order(self, ids):
        found = [self.records[i] for i in ids if i in self.records]
        return [r.raw for r in sorted(found, key=lambda r: (r.author, r.seq))]

    def ingest(self, raws: list[bytes]) -> None:
        for raw in raws:
            record = decode_and_verify(raw)
            assert record.prev is None or record.prev in self.records, "arrived before its prev"
            self.records[record.id] = record
            self.arrivals.append(record)


def test_missing_signed_records_arrive_verified_and_in_chain_order():
    records = _signed_chains(authors=6, per_author=40)
    rng = random.Random(2)
    cut = {r.id for r in records if r.seq > 10 and rng.random() < 0.9}
    behind = SignedReplica(r for r in records if r.id not in cut)
    ahead = SignedReplica(records)
    sync_until_quiet(behind, ahead, max_sessions=1)
    assert behind.ids == ahead.ids
    assert behind.arrivals and ahead.arrivals == []


def test_author_of_reads_the_author_without_a_full_decode():
    record = _signed_chains(1, 1)[0]
    assert author_of(record.raw) == record.author
    assert author_of(b"not a record") is None


def test_an_empty_device_fetches_exactly_its_own_chain():
    """A device restored with its key asks a peer for its own chain first:
    it receives every record it signed, in seq order, and nothing else."""
    records = _signed_chains(authors=5, per_author=30)
    own = records[0].author
    device = SignedReplica()
    peer = SignedReplica(records)
    link = Link(device, peer, fetch_author=own)
    link.lockstep()
    assert all(isinstance(o, Done) for o in link.outcomes)
    assert [r.seq for r in device.arrivals] == list(range(1, 1 + sum(r.author == own for r in records)))
    assert {r.author for r in device.arrivals} == {own}
    assert link.sessions[0].stats.records_sent == 0
    assert peer.ids == {r.id for r in records}


def test_fetching_an_unknown_author_ends_cleanly_with_nothing():
    peer = SignedReplica(_signed_chains(authors=2, per_author=5))
    device = SignedReplica()
    link = Link(device, peer, fetch_author=bytes(32))
    link.lockstep()
    assert all(isinstance(o, Done) for o in link.outcomes)
    assert device.arrivals == []
