"""Reconcile CPU of heal-like sessions: what the reconcile rules cost beside
what checking the records they move costs.

After a partition, each island's records interleave with the others' in the
item order (the islands wrote at the same time), so nearly every item of a
range differs: the sessions of a heal are dense two-sided differences, then,
as islands merge, one-sided ones. This benchmark replays such sessions
between two in-memory replicas (synthetic records, as ``bench sync``: a
session never looks inside a record) in lockstep and measures, on one core:

* **reconcile CPU**: time in the reconcile rules (the opening and every
  reply, both sides), and the whole sessions' CPU (framing and record
  batches included);
* the same per record moved, and as a ratio to the CPU that verifying the
  signatures of those records needs (measured in the same run): the
  heal's bound is that verification, so reconciliation should be a small
  fraction of it;
* round trips and wire bytes / record bytes.

Four islands of 2,500 records and 60 records held by all; the cases are
the pairs a heal goes through. Each case runs ``--repeats`` times on fresh
records (new ids, so no remembered powers help) and the mean is printed.

Usage: ``python -m simulations.bench reconcile [--repeats N] [--seed S]``
"""

from __future__ import annotations

import argparse
import hashlib
import random
import time
from collections import Counter
from types import SimpleNamespace

from meshpantry.core.sync import SyncSession, reconcile

from .bench_node import verify_rate
from .bench_sync import RECORD_BYTES, Replica, SyntheticRecord, run_session

#: Islands of the replayed heal, records each writes, and records all hold.
ISLANDS, PER_ISLAND, BASE = 4, 2_500, 60

#: (name, islands the initiator holds, islands the responder holds).
CASES = [
    ("a | b", "a", "b"),
    ("ab | cd", "ab", "cd"),
    ("ab | ac", "ab", "ac"),
    ("abc | abd", "abc", "abd"),
    ("abcd | abc", "abcd", "abc"),
    ("a | abcd", "a", "abcd"),
    ("abcd | ab", "abcd", "ab"),
    ("abcd | abcd", "abcd", "abcd"),
]


def heal_records(rng: random.Random) -> dict[str, list[SyntheticRecord]]:
    """Records by island name ("" for those all hold): five authors per
    island writing at the same pace, so the islands' lamports interleave."""
    out: dict[str, list[SyntheticRecord]] = {name: [] for name in ["", *"abcd"[:ISLANDS]]}
    seqs: Counter[int] = Counter()

    def write(island: str, author: int, lamport: int) -> None:
        seqs[author] += 1
        raw = (author.to_bytes(4, "big") + seqs[author].to_bytes(4, "big") + lamport.to_bytes(8, "big")
               + rng.randbytes(RECORD_BYTES - 16))
        out[island].append(SyntheticRecord(lamport, hashlib.sha256(raw).digest(), author, seqs[author], raw))

    for n in range(BASE):
        write("", n % 20, n + 1)
    for number, island in enumerate("abcd"[:ISLANDS]):
        for n in range(PER_ISLAND):
            write(island, number + ISLANDS * rng.randrange(5), BASE + 1 + n // 3 + rng.randrange(3))
    return out


class _TimedRules:
    """The reconcile rules, with the CPU they take added up."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.message_work = reconcile.message_work
        self.opening = self._timed(reconcile.opening)
        self.respond = self._timed(reconcile.respond)

    def _timed(self, rule):
        def timed(*args, **kwargs):
            started = time.process_time()
            try:
                return rule(*args, **kwargs)
            finally:
                self.seconds += time.process_time() - started
        return timed


def run_case(initiator: Replica, responder: Replica) -> SimpleNamespace:
    """One session in lockstep (:func:`.bench_sync.run_session`); CPU of the
    rules and of everything."""
    rules = _TimedRules()
    kind = type("TimedSession", (SyncSession,), {"rules": rules})
    started = time.process_time()
    outcome = run_session(initiator, responder, kind=kind)
    total = time.process_time() - started
    return SimpleNamespace(rules=rules.seconds, total=total, flights=outcome.flights, wire=outcome.wire_bytes,
                           converged=outcome.converged)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.bench reconcile", description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each case, on fresh records")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rate = verify_rate()
    print(f"reconcile CPU of heal-like sessions: {ISLANDS} islands x {PER_ISLAND} records, {BASE} held by all; "
          f"mean of {args.repeats} runs; verification: {rate:.0f} signatures per CPU second")
    header = (f"{'case':12} {'moved':>6} {'RTs':>4} {'wire/rec':>8} {'rules ms':>9} {'session ms':>10}"
              f" {'rules us/rec':>12} {'rules/verify':>12} converged")
    print(header)
    print("-" * len(header))
    sums = Counter()
    failures = 0
    for name, left, right in CASES:
        runs = []
        for repeat in range(args.repeats):
            records = heal_records(random.Random(args.seed * 1_000 + repeat))
            a = Replica([*records[""], *(r for island in left for r in records[island])])
            b = Replica([*records[""], *(r for island in right for r in records[island])])
            moved = len(a.by_id.keys() ^ b.by_id.keys())
            runs.append((moved, run_case(a, b)))
        moved = sum(m for m, _ in runs) / len(runs)
        rules = sum(r.rules for _, r in runs) / len(runs)
        total = sum(r.total for _, r in runs) / len(runs)
        flights = max(r.flights for _, r in runs)
        ratio = sum(r.wire / max(1, m * RECORD_BYTES) for m, r in runs) / len(runs)
        converged = all(r.converged for _, r in runs)
        failures += not converged
        sums.update(moved=moved, rules=rules, total=total)
        per_record = rules / moved * 1e6 if moved else 0.0
        over_verify = rules / (moved / rate) if moved else 0.0
        print(f"{name:12} {moved:>6.0f} {(flights + 1) // 2:>4} {ratio if moved else 0:>8.3f} {rules * 1e3:>9.1f}"
              f" {total * 1e3:>10.1f} {per_record:>12.1f} {over_verify:>12.3f} {'yes' if converged else 'NO':>9}")
    print(f"{'all':12} {sums['moved']:>6.0f} {'':>4} {'':>8} {sums['rules'] * 1e3:>9.1f} {sums['total'] * 1e3:>10.1f}"
          f" {sums['rules'] / sums['moved'] * 1e6:>12.1f} {sums['rules'] / (sums['moved'] / rate):>12.3f}")
    print("rules: CPU in the reconcile rules (both sides); session: all of both sessions' CPU; "
          "rules/verify: rules CPU / CPU to verify the records moved")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
