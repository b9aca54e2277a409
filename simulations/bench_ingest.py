"""Ingest benchmark: records per second through decode + verify + admission +
SQLite insert, beside the raw Ed25519 verify rates measured in the same run.

``python -m simulations.bench ingest [--records N] [--authors A] [--batch B]``

It builds a real neighbourhood (a founder, invites and joins for ``A - 1``
members, then offers from every member until there are N records), then
measures on those very records:

1. PyNaCl (libsodium) single-core verify rate, the same call the store makes;
2. ``cryptography`` single-core verify rate, for comparison;
3. full-path ingest into a fresh database file, in batches of B records given
   in chain order (as the sync protocol sends them): as the store runs by
   default (it times large batches on worker threads and on the calling thread
   and keeps the cheaper), then with the worker threads forced, then with the
   calling thread only;
4. the ratio of the default ingest rate to (1). The target is at least 0.70;
   and the store floor: (1) over the calling thread's ingest rate, the
   multiple of verifying alone that taking a record in costs one core (the
   heal benchmark's floor);
5. steps 1-4 per record on one core, as a checking process runs them (the
   records in chain order, best of ``--rounds``): the decoder beside the
   checked decoder it falls back to (the decoding a record cost before the
   short path), steps 1-3, steps 1-4 and the signature check alone, in µs;
6. the gossip path as the node runs it (the topic validator, then
   ``Store.ingest_verified`` with the records it checked), without the
   network: its rate, and how many times each record was decoded and its
   signature checked, counted (the target is one each).

Each figure is the best of ``--rounds`` interleaved rounds: the build machine
is shared, and the best run is the one least disturbed.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
import timeit
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import nacl.bindings
import trio
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from meshpantry.core.chain import ChainHead, next_record
from meshpantry.core.ingest import check_record, check_unsigned
from meshpantry.core.membership import join_message
from meshpantry.store import Store
from meshpantry.store import verification
from protocol import Record, decode_record, verify_record
from protocol.envelope import SIGNING_CONTEXT, decode_record_checked

#: Kinds that gossip can carry only after their admission path is logged; the
#: gossip figure takes them in by sync first (a message is refused whole when
#: one record in it is not admitted yet).
MEMBERSHIP = ("neighbourhood", "invite", "join")

#: The ingest target, as a fraction of PyNaCl's single-core verify rate.
TARGET_RATIO = 0.70

#: A fixed start for the records' clock (2026-01-01T00:00:00Z), so runs match.
T0 = 1_767_225_600_000
DAY_MS = 24 * 60 * 60 * 1000

#: Print progress every this many records while building or ingesting.
PROGRESS_EVERY = 5_000


def build_neighbourhood(records: int, authors: int, progress: Callable[[str], None]) -> list[Record]:
    """A valid neighbourhood of exactly ``records`` records by ``authors`` devices,
    in writing order (Lamport counters causal, as inside one island)."""
    assert authors >= 1 and records >= 3 * authors - 1, "too few records for the authors"
    keys = [nacl.bindings.crypto_sign_seed_keypair(hashlib.sha256(b"bench%d" % i).digest())
            for i in range(authors)]
    heads = [ChainHead() for _ in keys]
    out: list[Record] = []
    clock = T0

    def write(i: int, hood: bytes, kind: str, body: dict) -> Record:
        nonlocal clock
        clock += 1_000
        lamport = out[-1].lamport if out else 0
        record = next_record(keys[i][1], heads[i].observe(lamport), neighbourhood=hood,
                             kind=kind, body=body, now=clock)
        heads[i] = heads[i].observe(lamport).after(record)
        out.append(record)
        if len(out) % PROGRESS_EVERY == 0:
            progress(f"  built {len(out):,} records")
        return record

    genesis = write(0, b"", "neighbourhood", {"name": "Bench Street"})
    hood = genesis.id
    for i in range(1, authors):
        invite_public, invite_secret = nacl.bindings.crypto_sign_seed_keypair(
            hashlib.sha256(b"bench-invite%d" % i).digest())
        invite = write(0, hood, "invite", {"key": invite_public, "expires": T0 + DAY_MS, "uses": 1})
        proof = nacl.bindings.crypto_sign(join_message(hood, keys[i][0]), invite_secret)[:64]
        write(i, hood, "join", {"invite": invite.id, "proof": proof})
    n = 0
    while len(out) < records:
        write(n % authors, hood, "offer", {
            "item": f"heirloom tomatoes, batch {n}", "quantity": 1 + n % 40, "unit": "kg",
            "area": "north end, by the bakery", "tags": ["vegan", "organic", "outage"],
            "note": "Picked this morning. Bring a bag; ring twice, the bell is quiet.",
        })
        n += 1
    return out


def chain_order(records: list[Record]) -> list[Record]:
    """Each author's records in seq order, authors by their first Lamport counter
    (the order :meth:`Store.raws_in_chain_order` gives a syncing peer)."""
    first: dict[bytes, int] = {}
    for r in records:
        first[r.author] = min(r.lamport, first.get(r.author, r.lamport))
    return sorted(records, key=lambda r: (first[r.author], r.author, r.seq))


def pynacl_rate(records: list[Record]) -> float:
    messages = [(r.signature + SIGNING_CONTEXT + r.payload, r.author) for r in records]
    started = time.perf_counter()
    for signed, key in messages:
        nacl.bindings.crypto_sign_open(signed, key)
    return len(messages) / (time.perf_counter() - started)


def cryptography_rate(records: list[Record]) -> float:
    keys = {r.author: Ed25519PublicKey.from_public_bytes(r.author) for r in records}
    items = [(keys[r.author], r.signature, SIGNING_CONTEXT + r.payload) for r in records]
    started = time.perf_counter()
    for key, signature, message in items:
        key.verify(signature, message)
    return len(items) / (time.perf_counter() - started)


def ingest_rate(
    records: list[Record], batch: int, workers: int | None, progress: Callable[[str], None]
) -> float:
    """Records per second of Store.ingest into a fresh database file."""
    raws = [r.raw for r in chain_order(records)]
    now = records[-1].time
    with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
        with Store.open(Path(tmp), workers=workers) as store:
            store.set_setting("neighbourhood", records[0].id)
            started = time.perf_counter()
            for start in range(0, len(raws), batch):
                report = store.ingest(raws[start : start + batch], now)
                assert not report.rejected and not report.waiting, report
                done = start + batch
                if done % PROGRESS_EVERY < batch and done < len(raws):
                    progress(f"  ingested {done:,} records")
            elapsed = time.perf_counter() - started
            assert store.count() == len(raws)
    return len(raws) / elapsed


def step_costs(records: list[Record]) -> dict[str, float]:
    """µs per record of the stateless steps on this core: each over all of
    ``records`` in chain order, best of a few runs."""
    raws = [r.raw for r in chain_order(records)]
    hood, now = records[0].id, records[-1].time
    decoded = [decode_record(raw) for raw in raws]
    runs = {
        "decode": lambda: [decode_record(raw) for raw in raws],
        "checked decode": lambda: [decode_record_checked(raw) for raw in raws],
        "steps 1-3": lambda: [check_unsigned(raw, neighbourhood=hood, now=now) for raw in raws],
        "steps 1-4": lambda: [check_record(raw, neighbourhood=hood, now=now) for raw in raws],
        "verify": lambda: [verify_record(record) for record in decoded],
    }
    return {name: min(timeit.repeat(run, number=1, repeat=3)) / len(raws) * 1e6
            for name, run in runs.items()}


@contextmanager
def counted(records: list[Record]) -> Iterator[tuple[Counter, Counter]]:
    """(decodes, signature checks) of ``records`` while the block runs: every
    construction of a :class:`Record` from their bytes, every libsodium
    check of their signed bytes."""
    raws = {r.raw for r in records}
    payloads = {r.payload for r in records}
    decodes: Counter[bytes] = Counter()
    checks: Counter[bytes] = Counter()
    real_init, real_open = Record.__init__, nacl.bindings.crypto_sign_open

    def counting_init(self, raw, *args, **kwargs):
        if raw in raws:
            decodes[raw] += 1
        real_init(self, raw, *args, **kwargs)

    def counting_open(signed, key):
        if signed[64 + len(SIGNING_CONTEXT):] in payloads:
            checks[signed[64 + len(SIGNING_CONTEXT):]] += 1
        return real_open(signed, key)

    Record.__init__ = counting_init  # type: ignore[method-assign]
    nacl.bindings.crypto_sign_open = counting_open
    try:
        yield decodes, checks
    finally:
        Record.__init__ = real_init  # type: ignore[method-assign]
        nacl.bindings.crypto_sign_open = real_open


def gossip_path(records: list[Record], count: bool) -> tuple[float, float, float]:
    """Records per second through the node's gossip path (validator, then
    ``Store.ingest_verified``), and with ``count`` the decodes and signature
    checks per record (else zeros)."""
    from libp2p.peer.id import ID
    from libp2p.pubsub.pb import rpc_pb2

    from meshpantry.node.gossip import BatchValidator, GossipStats
    from meshpantry.node.gossip_batch import MAX_BATCH_BYTES, MAX_BATCH_RECORDS, encode_batch

    ordered = chain_order(records)
    membership = [r for r in ordered if r.kind in MEMBERSHIP]
    gossiped = [r for r in ordered if r.kind not in MEMBERSHIP]
    per_message = min(MAX_BATCH_RECORDS, MAX_BATCH_BYTES // (max(len(r.raw) for r in gossiped) + 5))
    now = records[-1].time
    with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
        with Store.open(Path(tmp)) as store:
            store.set_setting("neighbourhood", records[0].id)
            store.ingest([r.raw for r in membership], now)
            own, peer = ID(b"bench-node"), ID(b"bench-peer")
            stats = GossipStats()
            validator = BatchValidator(own, records[0].id, store.admission, stats, clock=lambda: now)

            async def run() -> None:
                for start in range(0, len(gossiped), per_message):
                    batch = gossiped[start : start + per_message]
                    msg = rpc_pb2.Message(data=encode_batch([r.raw for r in batch]), from_id=peer.to_bytes())
                    assert await validator(peer, msg), "the bench's records are valid"
                    report = store.ingest_verified(await validator.checked_records(msg), now)
                    assert len(report.added) == len(batch), report

            started = time.perf_counter()
            if count:
                with counted(gossiped) as (decodes, checks):
                    trio.run(run)
            else:
                trio.run(run)
            elapsed = time.perf_counter() - started
            assert store.count() == len(records)
    if not count:
        return len(gossiped) / elapsed, 0.0, 0.0
    return (len(gossiped) / elapsed, sum(decodes.values()) / len(gossiped),
            sum(checks.values()) / len(gossiped))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulations.bench ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--records", type=int, default=20_000, help="records to ingest (default 20,000)")
    parser.add_argument("--authors", type=int, default=100, help="devices writing them (default 100)")
    parser.add_argument("--batch", type=int, default=1_000, help="records per ingest call (default 1,000)")
    parser.add_argument(
        "--rounds", type=int, default=2,
        help="measure everything this many times, interleaved, and keep each best (default 2)",
    )
    args = parser.parse_args(argv)

    def progress(line: str) -> None:
        print(line, flush=True)

    progress(f"building {args.records:,} records by {args.authors} authors...")
    records = build_neighbourhood(args.records, args.authors, progress)
    size = sum(len(r.raw) for r in records) / len(records)
    progress(f"  average record size {size:.0f} bytes")
    workers = verification.worker_count()
    best = {"nacl": 0.0, "crypto": 0.0, "default": 0.0, "parallel": 0.0, "single": 0.0, "gossip": 0.0}
    steps: dict[str, float] = {}
    for round_ in range(1, args.rounds + 1):
        # Interleaved so that a burst of load from elsewhere hits every figure alike.
        progress(f"round {round_}/{args.rounds}: raw verify rates (one core)...")
        best["nacl"] = max(best["nacl"], pynacl_rate(records))
        best["crypto"] = max(best["crypto"], cryptography_rate(records))
        progress(f"round {round_}/{args.rounds}: ingest, batches of {args.batch:,}, store default...")
        best["default"] = max(best["default"], ingest_rate(records, args.batch, None, progress))
        progress(f"round {round_}/{args.rounds}: ingest, {workers} checking threads forced...")
        best["parallel"] = max(best["parallel"], ingest_rate(records, args.batch, workers, progress))
        progress(f"round {round_}/{args.rounds}: ingest, checking on the calling thread...")
        best["single"] = max(best["single"], ingest_rate(records, args.batch, 1, progress))
        progress(f"round {round_}/{args.rounds}: gossip path (validator, then ingest of its records)...")
        best["gossip"] = max(best["gossip"], gossip_path(records, count=False)[0])
        progress(f"round {round_}/{args.rounds}: steps 1-4 per record, one core...")
        for name, cost in step_costs(records).items():
            steps[name] = min(cost, steps.get(name, cost))
    progress("gossip path once more, counting decodes and signature checks...")
    _, decodes, checks = gossip_path(records, count=True)
    ratio = best["default"] / best["nacl"]
    verdict = "meets" if ratio >= TARGET_RATIO else "MISSES"
    print()
    print(f"records: {len(records):,} by {args.authors} authors, {size:.0f} bytes each on average; "
          f"best of {args.rounds} rounds; {workers} cores")
    print(f"  PyNaCl verify, 1 core             {best['nacl']:>9,.0f} /s")
    print(f"  cryptography verify, 1 core       {best['crypto']:>9,.0f} /s")
    print(f"  ingest, store default             {best['default']:>9,.0f} /s")
    print(f"  ingest, {workers} checking threads       {best['parallel']:>9,.0f} /s")
    print(f"  ingest, calling thread only       {best['single']:>9,.0f} /s")
    print(f"  ratio ingest / PyNaCl 1 core      {ratio:>9.2f}   ({verdict} the {TARGET_RATIO:.2f} target)")
    print(f"  store floor, 1 core               {best['nacl'] / best['single']:>9.2f} x verifying alone   "
          f"(the heal benchmark's floor: ingest on the calling thread)")
    print(f"  steps 1-4 per record, 1 core      decode {steps['decode']:.1f} µs "
          f"(checked decoder {steps['checked decode']:.1f}, {steps['checked decode'] / steps['decode']:.2f}x), "
          f"steps 1-3 {steps['steps 1-3']:.1f}, steps 1-4 {steps['steps 1-4']:.1f}, "
          f"verify alone {steps['verify']:.1f}")
    print(f"  gossip path (validator + ingest)  {best['gossip']:>9,.0f} /s   (membership records taken in by sync first)")
    print(f"  gossip path, per record           {decodes:>9.2f} decodes, {checks:.2f} signature checks   (target 1 and 1)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
