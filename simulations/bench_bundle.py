"""Bundle benchmark: a courier's bundle of a whole neighbourhood's log.

``python -m simulations.bench bundle [--records N] [--authors A] [--behind K] [--rounds R]``

On one real neighbourhood of N records by A devices (the ingest benchmark's
builder), measured in the same run:

1. the baseline: ``Store.ingest`` of every record into a fresh database, in
   one call (what sync does with a large batch);
2. writing the bundle (:func:`meshpantry.core.bundle.encode_bundle`, with the
   summary of the whole log) and reading it back (``decode_bundle``): time
   and bytes per record;
3. importing it as ``meshpantry bundle import`` does (``Store.ingest_whole``:
   the same pipeline, all or nothing, in slices with progress): its rate and
   its ratio to (1);
4. the return bundle: an island holding all but the last K records writes
   its summary, the other answers it (``lacking``): how many records the
   answer holds (exactly K when exact) and how long the answer took.

Figures are the best of ``--rounds`` rounds.
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import nacl.bindings

from meshpantry.core import bundle as core
from meshpantry.store import Store

from .bench_ingest import build_neighbourhood, chain_order


def chains_of(records) -> dict:
    out: dict = {}
    for r in records:
        out.setdefault(r.author, []).append((r.seq, r.id))
    return out


def fresh_store(tmp: str, name: str, hood: bytes) -> Store:
    store = Store.open(Path(tmp) / name)
    store.set_setting("neighbourhood", hood)
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.bench bundle")
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--authors", type=int, default=30)
    parser.add_argument("--behind", type=int, default=500, help="records the answering side holds more")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    records = chain_order(build_neighbourhood(args.records, args.authors, lambda _: None))
    raws = [r.raw for r in records]
    hood, now = records[0].id, max(r.time for r in records)
    _, secret = nacl.bindings.crypto_sign_seed_keypair(hashlib.sha256(b"bench0").digest())
    chains = chains_of(records)
    best: dict[str, float] = {}

    def keep(name: str, seconds: float) -> None:
        best[name] = min(best.get(name, seconds), seconds)

    for round_ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
            with fresh_store(tmp, f"base{round_}", hood) as store:
                started = time.perf_counter()
                assert not store.ingest(raws, now).rejected
                keep("baseline", time.perf_counter() - started)
            started = time.perf_counter()
            data = core.encode_bundle(secret, neighbourhood=hood, created=now, raws=raws, summary=core.summarise(chains))
            keep("encode", time.perf_counter() - started)
            started = time.perf_counter()
            bundle = core.decode_bundle(data)
            keep("decode", time.perf_counter() - started)
            with fresh_store(tmp, f"bundle{round_}", hood) as store:
                started = time.perf_counter()
                report = store.ingest_whole(list(bundle.raws), now, judge=core.judge)
                keep("import", time.perf_counter() - started)
                assert len(report.added) == len(raws)
            behind = chains_of(records[: len(records) - args.behind])
            summary = core.summarise(behind)
            started = time.perf_counter()
            answer = core.lacking(summary, chains)
            keep("answer", time.perf_counter() - started)
    n = len(raws)
    print(f"bundle of {n:,} records by {args.authors} devices: {len(data):,} bytes "
          f"({len(data) / n:.0f} per record; summary {len(bundle.manifest.summary) * core.SUMMARY_ENTRY_BYTES:,} bytes)")
    print(f"baseline Store.ingest   {n / best['baseline']:9,.0f} records/s")
    print(f"write bundle            {n / best['encode']:9,.0f} records/s")
    print(f"read bundle             {n / best['decode']:9,.0f} records/s")
    print(f"import (all or nothing) {n / best['import']:9,.0f} records/s  "
          f"ratio to baseline {best['baseline'] / best['import']:.2f}")
    print(f"return bundle: {len(answer.ids)} records for {args.behind} lacking "
          f"({'exact' if len(answer.ids) == args.behind and not answer.unproven else 'NOT exact'}), "
          f"answered in {best['answer'] * 1000:.0f} ms")
    return 0
