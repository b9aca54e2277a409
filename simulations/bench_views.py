"""Benchmark: what the views cost a household with a long log.

    python -m simulations.bench views [--records 10000 100000] [--authors 1000]
                                      [--mix realistic open] [--keep DIR] [--node]

For each record count and each mix it builds a store (in a temporary
directory, or under ``--keep`` where a build is reused), then measures in a
fresh process, so that the memory figures are that process's own:

- RSS after opening the household's pantry (store + key), and after its
  first ``status``, with the peak so far;
- the first ``status`` after opening;
- a search that matches nothing (every open offer looked at);
- the ingest of one new record (which, where views grow in the record's
  transaction, includes their update);
- the first ``status`` after one new record arrives (a peer's offer, ingested
  as gossip would be), and the first ``offer list --limit 50`` after another.

With ``--node`` the figures come from a real node process on a copy of each
store instead, through its control socket (:mod:`simulations.bench_views_node`).

Mixes, from ``--authors`` devices (1,000 households by default) that joined
by invite: ``realistic`` is a busy board where most offers are closed
(claimed, accepted, handed over, withdrawn or past their date) with a few
meals and recipes; ``open`` is nothing but open offers. Figures are printed,
never asserted; the issue's targets are RSS <= 150 MB and <= 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgpack

#: The figures the issue asks for.
TARGET_MB = 150
TARGET_MS = 100.0
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
#: Records handed to one ``Store.ingest`` while building.
BUILD_BATCH = 5_000
ITEMS = ("tomatoes", "apples", "bread", "rice", "eggs", "lentils", "plums", "soup", "milk", "onions")
EXTRA_FILE = "bench-extra.msgpack"


class _Author:
    def __init__(self, public: bytes, secret: bytes) -> None:
        self.public, self.secret = public, secret
        self.seq, self.prev = 0, None


class _Writer:
    """Signs records for many authors with one causal Lamport counter (one island)."""

    def __init__(self, neighbourhood: bytes, lamport: int, now: int) -> None:
        self.neighbourhood = neighbourhood
        self.lamport = lamport
        self.now = now
        self.out: list[bytes] = []

    def write(self, author: _Author, kind: str, body: dict[str, Any], keep: bool = True):
        from protocol import seal

        self.lamport += 1
        record = seal(
            author.secret, neighbourhood=self.neighbourhood, seq=author.seq + 1, prev=author.prev,
            lamport=self.lamport, time=self.now - DAY_MS + self.lamport, kind=kind, body=body,
        )
        author.seq, author.prev = record.seq, record.id
        if keep:
            self.out.append(record.raw)
        return record


def build(data_dir: Path, records: int, authors: int, mix: str, seed: int = 1) -> None:
    """A household (the founder) whose store holds about ``records`` records
    of ``authors`` devices in the ``mix``, plus two unsent offers in
    :data:`EXTRA_FILE` for the measurement."""
    import nacl.bindings

    from meshpantry.core.membership import join_message
    from meshpantry.pantry import Pantry
    from meshpantry.store.log import head

    rng = random.Random(seed)
    pantry = Pantry.create(data_dir, "Bench kitchen", area="bench street")
    try:
        pantry.create_neighbourhood("Bench Close", "Bench kitchen", "bench street")
        store = pantry.store
        nb = store.neighbourhood
        founder = _Author(pantry.key.public, pantry.key.secret)
        founder.seq, founder.prev = head(store._conn, founder.public)
        now = pantry.clock()
        w = _Writer(nb, store.max_lamport(), now)
        people = []
        for index in range(authors - 1):
            public, secret = nacl.bindings.crypto_sign_seed_keypair(
                rng.getrandbits(256).to_bytes(32, "big")
            )
            invite_public, invite_secret = nacl.bindings.crypto_sign_seed_keypair(
                rng.getrandbits(256).to_bytes(32, "big")
            )
            invite = w.write(founder, "invite", {"key": invite_public, "expires": now + DAY_MS, "uses": 1})
            person = _Author(public, secret)
            proof = nacl.bindings.crypto_sign(join_message(nb, public), invite_secret)[:64]
            w.write(person, "join", {"invite": invite.id, "proof": proof})
            w.write(person, "household", {"name": f"house {index}", "area": f"block {index % 40}"})
            people.append(person)
        everyone = [founder, *people]
        while len(w.out) < records:
            if mix == "open":
                _open_offer(w, rng.choice(everyone), rng, now)
            else:
                _realistic_step(w, everyone, rng, now)
        extra = [_open_offer(w, rng.choice(people), rng, now, keep=False).raw for _ in range(3)]
        (data_dir / EXTRA_FILE).write_bytes(msgpack.packb(extra))
        for start in range(0, len(w.out), BUILD_BATCH):
            report = store.ingest(w.out[start : start + BUILD_BATCH], now=now)
            assert not report.rejected, report.rejected[:3]
        started = time.perf_counter()
        pantry.status()  # a node reads its views after a sync (they catch up here)
        print(f"  first status after the build: {time.perf_counter() - started:.1f} s", flush=True)
    finally:
        pantry.close()


def _open_offer(w: _Writer, author: _Author, rng: random.Random, now: int, keep: bool = True):
    item = rng.choice(ITEMS)
    body = {
        "item": f"{item} {rng.randrange(10_000)}", "quantity": rng.randint(1, 9), "unit": "kg",
        "best_before": now + rng.randint(2, 600) * HOUR_MS, "area": f"block {rng.randrange(40)}",
        "tags": [rng.choice(("veg", "fruit", "bread", "dry", "cooked"))],
    }
    return w.write(author, "offer", body, keep=keep)


def _realistic_step(w: _Writer, everyone: list[_Author], rng: random.Random, now: int) -> None:
    """One offer and what becomes of it: mostly claimed, accepted and handed
    over; some withdrawn, some left to expire, a few left open; now and then
    a meal with pledges or a recipe with an edit and a story."""
    offerer = rng.choice(everyone)
    roll = rng.random()
    if roll < 0.05:
        meal = w.write(offerer, "meal", {
            "dish": "soup", "time": now + rng.randint(-5, 5) * DAY_MS, "place": "the yard",
            "needs": [{"item": "leeks", "quantity": 4, "unit": "items"}],
        })
        for _ in range(rng.randint(1, 3)):
            w.write(rng.choice(everyone), "pledge", {"meal": meal.id, "item": "leeks", "quantity": 1, "unit": "items"})
        return
    if roll < 0.08:
        recipe = w.write(offerer, "recipe", {"title": f"stew {rng.randrange(999)}", "steps": ["chop", "stir"], "ingredients": []})
        w.write(rng.choice(everyone), "recipe_edit", {"recipe": recipe.id, "set": {"serves": 4}})
        w.write(rng.choice(everyone), "story", {"recipe": recipe.id, "text": "grandmother's"})
        return
    quantity = rng.randint(1, 6)
    expired = roll < 0.25
    body = {
        "item": f"{rng.choice(ITEMS)} {rng.randrange(10_000)}", "quantity": quantity, "unit": "kg",
        "best_before": now + (-rng.randint(1, 300) if expired else rng.randint(2, 600)) * HOUR_MS,
        "area": f"block {rng.randrange(40)}",
    }
    offer = w.write(offerer, "offer", body)
    if expired:
        return
    if roll < 0.32:
        w.write(offerer, "offer_withdraw", {"offer": offer.id})
        return
    if roll < 0.37:
        return  # left open
    claimant = rng.choice([a for a in rng.sample(everyone, 3) if a is not offerer] or everyone)
    claim = w.write(claimant, "claim", {"offer": offer.id, "quantity": quantity})
    w.write(offerer, "claim_decision", {"claim": claim.id, "accept": True, "quantity": quantity})
    w.write(offerer, "handover", {"claim": claim.id})
    w.write(claimant, "handover", {"claim": claim.id})


# -- measuring (in a fresh process) ---------------------------------------------


def _memory() -> tuple[float, float]:
    """(RSS, peak RSS) of this process in MB."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, value = line.split(":")
            fields[name] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def measure(data_dir: Path) -> dict[str, float]:
    """Open the pantry in ``data_dir`` and take the figures (see the module doc)."""
    from meshpantry.pantry import Pantry

    figures: dict[str, float] = {}
    figures["rss_imports"], _ = _memory()
    pantry = Pantry.open(data_dir)
    try:
        figures["rss_open"], _ = _memory()
        started = time.perf_counter()
        pantry.status()
        figures["status_after_open_ms"] = (time.perf_counter() - started) * 1000
        figures["rss_status"], figures["rss_peak"] = _memory()
        extra = msgpack.unpackb((data_dir / EXTRA_FILE).read_bytes())
        now = pantry.clock()
        started = time.perf_counter()
        pantry.store.ingest([extra[0]], now=now)  # the first ingest also loads membership
        figures["ingest_first_ms"] = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        pantry.store.ingest([extra[1]], now=now)
        figures["ingest_new_ms"] = (time.perf_counter() - started) * 1000
        cpu, started = time.process_time(), time.perf_counter()
        pantry.status()
        figures["status_new_ms"] = (time.perf_counter() - started) * 1000
        figures["status_new_cpu_ms"] = (time.process_time() - cpu) * 1000
        started = time.perf_counter()
        pantry.store.ingest([extra[2]], now=now)
        figures["ingest_new_ms"] += (time.perf_counter() - started) * 1000
        figures["ingest_new_ms"] /= 2
        cpu, started = time.process_time(), time.perf_counter()
        rows = pantry.offer_list(limit=50)
        figures["offer_list_new_ms"] = (time.perf_counter() - started) * 1000
        figures["offer_list_new_cpu_ms"] = (time.process_time() - cpu) * 1000
        figures["offer_rows"] = len(rows)
        cpu, started = time.process_time(), time.perf_counter()
        pantry.offer_list(search="no such thing", limit=50)  # the worst case: every row looked at
        figures["offer_search_ms"] = (time.perf_counter() - started) * 1000
        figures["offer_search_cpu_ms"] = (time.process_time() - cpu) * 1000
        figures["records"] = pantry.store.count()
        figures["rss_end"], figures["rss_peak"] = _memory()
    finally:
        pantry.close()
    return figures


def _ensure_built(template: Path, records: int, authors: int, mix: str) -> None:
    if not (template / EXTRA_FILE).exists():
        if template.exists():
            shutil.rmtree(template)
        started = time.perf_counter()
        build(template, records, authors, mix)
        print(f"  built {mix} store of ~{records} records in {time.perf_counter() - started:.0f} s", flush=True)


def _run_one(template: Path, records: int, authors: int, mix: str) -> dict[str, float]:
    _ensure_built(template, records, authors, mix)
    with tempfile.TemporaryDirectory(prefix="meshpantry-views-") as tmp:
        copy = Path(tmp) / "node"
        shutil.copytree(template, copy, ignore=shutil.ignore_patterns("*.lock", "lock"))
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--measure", str(copy)],
            check=True, capture_output=True, text=True, env={**os.environ},
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench views", description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--authors", type=int, default=1_000)
    parser.add_argument("--mix", nargs="+", choices=("realistic", "open"), default=["realistic", "open"])
    parser.add_argument("--keep", type=Path, help="build stores under DIR and reuse them")
    parser.add_argument("--node", action="store_true", help="measure a real node process through its control socket")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return 0
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="meshpantry-views-build-") as tmp:
        root = args.keep or Path(tmp)
        for records in args.records:
            for mix in args.mix:
                print(f"{mix}, {records} records, {args.authors} authors:", flush=True)
                if args.node:
                    from simulations.bench_views_node import measure_node, report

                    template = root / f"{mix}-{records}-{args.authors}"
                    _ensure_built(template, records, args.authors, mix)
                    report(measure_node(template), TARGET_MB, TARGET_MS)
                    continue
                f = _run_one(root / f"{mix}-{records}-{args.authors}", records, args.authors, mix)
                print(
                    f"  records {f['records']:.0f}; RSS after open {f['rss_open']:.0f} MB, after first status "
                    f"{f['rss_status']:.0f} MB, at the end {f['rss_end']:.0f} MB, peak {f['rss_peak']:.0f} MB "
                    f"(target {TARGET_MB} MB; {f['rss_imports']:.0f} MB after imports)"
                )
                print(f"  first status after open           {f['status_after_open_ms']:8.1f} ms")
                print(f"  first ingest of one record        {f['ingest_first_ms']:8.1f} ms (loads membership)")
                print(f"  later ingest of one record        {f['ingest_new_ms']:8.1f} ms (mean of two)")
                print(
                    f"  first status after a new record   {f['status_new_ms']:8.1f} ms "
                    f"(CPU {f['status_new_cpu_ms']:.1f} ms; target {TARGET_MS:.0f} ms)"
                )
                print(
                    f"  first offer list --limit 50 after a new record {f['offer_list_new_ms']:8.1f} ms "
                    f"(CPU {f['offer_list_new_cpu_ms']:.1f} ms, {f['offer_rows']:.0f} rows)"
                )
                print(
                    f"  offer list --search matching nothing --limit 50 {f['offer_search_ms']:8.1f} ms "
                    f"(CPU {f['offer_search_cpu_ms']:.1f} ms)"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
