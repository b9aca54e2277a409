"""Real node processes on loopback: live propagation latency, heal time after
islands rejoin, and sync efficiency.

``python -m simulations.bench node [--sizes 10,20] [--records 10000]``

1. Propagation: N nodes in a random mesh (each dials three earlier ones);
   records written through one node's control socket at a steady pace; the
   time until each other node reports the record (control-socket events,
   timestamped by this process) gives p50/p99 over every (record, node) pair.
   After a final sync round, records missing anywhere are counted.
2. Heal: 20 nodes in 4 islands of 5 (links cut with the nodes' deny lists);
   each island writes its share of the divergent records; the links return
   and the time until every node holds the identical set is measured.
   Beside it, the physical bound: the signatures every node must verify
   divided by the verify rate measured in this run and the cores here; and
   the store floor: the same records through the store's whole ingest
   (decode, verify, admission, SQLite) with no network, measured likewise.
   The nodes' idle CPU (pings, heartbeats, timers) is measured for a few
   seconds before the links return: it goes on through the heal. With
   ``--reconnect-records N``, the same heal (same islands, same links)
   runs first with only N divergent records: its CPU less its idle share is
   what the links' return costs whatever the records (handshakes, gossip
   set-up, peer exchange, sessions that find equal sets). Store floor,
   links' return and idle CPU over the heal's time, summed, are the ratio
   before a record crosses the network.
3. Sync: bytes the sync sessions put on the wire against the bytes of the
   records they delivered, and the round trips, from the nodes' counters.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from meshpantry.control.client import ControlClient
from meshpantry.control.events import RecordEvent

from . import profiling
from .processes import NodeProcess, eventually, make_neighbourhood, start_mesh


def _progress(message: str) -> None:
    print(f"  .. {time.strftime('%H:%M:%S')} {message}", file=sys.stderr, flush=True)


def _links(rng: random.Random):
    return lambda i: sorted(rng.sample(range(i), min(3, i))) if i else []


class Watcher(threading.Thread):
    """Collects (record id -> time seen) from one node's event stream."""

    def __init__(self, node: NodeProcess) -> None:
        super().__init__(daemon=True)
        self.node = node
        self.seen: dict[str, float] = {}
        self.ready = threading.Event()

    def run(self) -> None:
        client = ControlClient.connect(self.node.data_dir)
        events = client.events(["record"])
        self.ready.set()
        try:
            for event in events:
                if isinstance(event, RecordEvent):
                    self.seen.setdefault(event.id, time.monotonic())
        except Exception:  # the node stopped: the benchmark is over
            return


def same(nodes: list[NodeProcess]) -> bool:
    """Every node holds the identical record set (cheap: digests of ids)."""
    return len({n.call("dump", ids=False, state=False)["ids_digest"] for n in nodes}) == 1


class Agreement:
    """:func:`same` for the heal's wait, on one kept control connection per
    node, polled every :data:`HEAL_POLL_S`. What the nodes spend answering
    counts as their heal CPU: a call on a new connection costs a node about
    0.3 ms, one on a kept connection 0.18 ms, and twenty nodes polled every
    tenth of a second answered on the order of a thousand calls a heal."""

    def __init__(self, nodes: list[NodeProcess]) -> None:
        self.nodes = nodes
        self.clients: dict[Path, ControlClient] = {}

    def __call__(self) -> bool:
        digests = set()
        for node in self.nodes:
            client = self.clients.get(node.data_dir)
            if client is None:
                client = self.clients[node.data_dir] = ControlClient.connect(node.data_dir)
            try:
                digests.add(client.call("dump", ids=False, state=False)["ids_digest"])
            except BaseException:
                self.clients.pop(node.data_dir).close()
                raise
        return len(digests) == 1

    def close(self) -> None:
        for client in self.clients.values():
            client.close()
        self.clients.clear()


#: Seconds between two looks at whether the heal is over (:class:`Agreement`).
HEAL_POLL_S = 0.25


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def propagation(root: Path, size: int, count: int, rng: random.Random) -> dict:
    _progress(f"propagation: starting {size} nodes")
    dirs = make_neighbourhood(root / f"prop{size}", size)
    nodes = start_mesh(dirs, _links(rng), sync_interval=30)
    try:
        eventually(lambda: same(nodes), 120, "initial sync")
        watchers = [Watcher(n) for n in nodes]
        for w in watchers:
            w.start()
            w.ready.wait(10)
        time.sleep(1.0)
        sent: dict[str, tuple[float, int]] = {}
        _progress(f"propagation: {count} records from random nodes, 10 per second")
        for i in range(count):
            origin = rng.randrange(size)
            started = time.monotonic()
            offer = nodes[origin].call("offer_add", item=f"bench {i}", quantity=1, unit="items")
            sent[offer["id"]] = (started, origin)
            time.sleep(0.1)
        time.sleep(3.0)
        latencies = []
        missing_live = 0
        for rid, (started, origin) in sent.items():
            for j, w in enumerate(watchers):
                if j == origin:
                    continue
                if rid in w.seen:
                    latencies.append(w.seen[rid] - started)
                else:
                    missing_live += 1
        for n in nodes:
            n.call("sync_now")
        eventually(lambda: same(nodes), 60, "final sync")
        held = [set(n.call("dump")["ids"]) for n in nodes]
        missing_after_sync = sum(len(set(sent) - h) for h in held)
        return {
            "nodes": size, "records": count, "pairs": len(latencies),
            "p50_ms": 1000 * statistics.median(latencies) if latencies else None,
            "p99_ms": 1000 * percentile(latencies, 0.99) if latencies else None,
            "missed_by_gossip": missing_live, "missing_after_sync": missing_after_sync,
        }
    finally:
        for n in nodes:
            n.stop()


def verify_rate(samples: int = 1000, rounds: int = 5) -> float:
    """Signatures one core verifies per CPU second: the best of ``rounds``
    rounds of ``samples``. A round that shares its core with other
    processes (the nodes of the run before may still be stopping) reads
    low: one round of 3,000 at a run's start measured from 14,000 to 18,600
    a second in one sitting, and the ratio a run printed moved with it by a
    third. Work on the other core alone does not lower it (18,600 beside a
    Python loop there, or beside a second process verifying). The best
    round is the undisturbed rate, the one a node's own verifying is held
    to."""
    import nacl.bindings

    from protocol import seal

    pk, sk = nacl.bindings.crypto_sign_seed_keypair(b"\x09" * 32)
    record = seal(sk, neighbourhood=b"\x01" * 32, seq=1, prev=None, lamport=1, time=0, kind="offer",
                  body={"item": "x" * 40, "quantity": 1, "unit": "g", "note": "y" * 120})
    from protocol import verify_record

    # CPU time, not wall time: on a machine other work also loads, the wall
    # rate would count the waits and flatter the nodes' CPU ratio.
    best = 0.0
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(samples):
            verify_record(record)
        best = max(best, samples / (time.process_time() - started))
    return best


#: Records the store-only floor is measured on: enough for a steady rate.
FLOOR_RECORDS = 4_000


def store_rate() -> float:
    """Records per second one process takes in through Store.ingest (decode,
    verify, admission, SQLite) on the calling thread: what every node must
    do for every record it lacks, before any networking."""
    from .bench_ingest import build_neighbourhood, ingest_rate

    records = build_neighbourhood(FLOOR_RECORDS, 40, lambda _line: None)
    return ingest_rate(records, 500, 1, lambda _line: None)


#: Counters of the nodes' links the heal reports (dials made, peers that came
#: up, links closed by the connection target, peers closed as silent).
_LINK_COUNTERS = ("dials", "connects", "trimmed", "silent")


def _links_of(status: dict) -> dict:
    discovery, liveness = status.get("discovery") or {}, status.get("liveness") or {}
    return {"dials": discovery.get("dials", 0), "connects": discovery.get("connects", 0),
            "trimmed": discovery.get("trimmed", 0), "silent": liveness.get("dropped", 0)}


def _cpu_of(nodes: list[NodeProcess]) -> float:
    """CPU seconds the node processes (and their workers) have used so far."""
    return sum(n.cpu_seconds() for n in nodes)


def _cpu_per_s(nodes: list[NodeProcess], seconds: float) -> float:
    """CPU seconds a second the nodes use over the next ``seconds``."""
    cpu, started = _cpu_of(nodes), time.monotonic()
    time.sleep(seconds)
    return (_cpu_of(nodes) - cpu) / (time.monotonic() - started)


#: Seconds the nodes' CPU is sampled once the heal is over: what twenty
#: nodes with nothing left to do burn (gossip heartbeats, pings, peer
#: exchange, timers), beside what the heal cost.
QUIET_S = 5.0


def _profile(nodes: list[NodeProcess], into: Path) -> list[subprocess.Popen]:
    """py-spy on every node process (and its workers), collapsed stacks into
    ``into``/h<j>.txt once stopped."""
    into.mkdir(parents=True, exist_ok=True)
    started = []
    for j, node in enumerate(nodes):
        assert node.process is not None
        started.append(profiling.spy(node.process.pid, into / f"h{j}.txt", rate=50))
    return started


def heal(root: Path, records: int, rng: random.Random, keep_logs: Path | None = None,
         profile: Path | None = None) -> dict:
    islands, per_island = 4, 5
    size = islands * per_island
    rate = verify_rate()
    ingest_per_s = store_rate()
    _progress(f"heal: starting {size} nodes in {islands} islands")
    dirs = make_neighbourhood(root / "heal", size)
    random_links = _links(rng)

    def links(i: int) -> list[int]:
        # A chain inside each island (i dials i - islands) keeps every island
        # connected once the links between islands are cut; the random links
        # cross islands and make the heal a real merge.
        return sorted(set(random_links(i)) | ({i - islands} if i >= islands else set()))

    nodes = start_mesh(dirs, links, sync_interval=30)
    try:
        eventually(lambda: same(nodes), 180, "initial sync")
        island_of = [i % islands for i in range(size)]
        for i, node in enumerate(nodes):
            others = [m.peer_id for j, m in enumerate(nodes) if island_of[j] != island_of[i]]
            node.call("deny_peers", peers=others)
        for i, node in enumerate(nodes):
            node.call("allow_peers", peers=[m.peer_id for j, m in enumerate(nodes) if island_of[j] == island_of[i]])
        time.sleep(2.0)
        _progress(f"heal: writing {records} records inside the islands")
        per_node = records // size

        def write(node: NodeProcess) -> None:
            with ControlClient.connect(node.data_dir) as client:
                for k in range(per_node):
                    client.call("offer_add", item=f"island item {k}", quantity=1 + k % 9, unit="items",
                                note="written while the islands were apart")

        threads = [threading.Thread(target=write, args=(n,)) for n in nodes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        written = per_node * size
        expected = nodes[0].call("dump", ids=False)["count"] - 0
        for island in range(islands):
            members = [n for j, n in enumerate(nodes) if island_of[j] == island]
            eventually(lambda members=members: same(members),
                       120 + records // 20, f"island {island} agrees within itself")
        counts = [n.call("dump", ids=False, state=False)["count"] for n in nodes]
        before = {n.data_dir: n.call("status")["sync"] for n in nodes}
        gossip_before = {n.data_dir: n.call("status")["gossip"] for n in nodes}
        links_before = {n.data_dir: _links_of(n.call("status")) for n in nodes}
        # What the nodes spend with nothing to do (liveness pings, GossipSub
        # heartbeats, timers) goes on through the heal: measured here, before
        # the links return, it is the heal's background.
        _progress("heal: the nodes idle before the links return")
        idle_cpu_per_s = _cpu_per_s(nodes, QUIET_S)
        _progress("heal: links return")
        spies = _profile(nodes, profile) if profile is not None else []
        cpu_before = _cpu_of(nodes)
        healed_at = time.monotonic()
        for node in nodes:
            node.call("allow_peers")
        for node in nodes:
            node.call("sync_now")
        agreement = Agreement(nodes)
        try:
            eventually(agreement, 600, "heal", every=HEAL_POLL_S)
        finally:
            agreement.close()
        heal_s = time.monotonic() - healed_at
        cpu_used = _cpu_of(nodes) - cpu_before
        profiling.stop(spies)
        quiet_cpu_per_s = _cpu_per_s(nodes, QUIET_S)
        rate = max(rate, verify_rate())  # again once the nodes are quiet: the best of both
        ingest_per_s = max(ingest_per_s, store_rate())  # likewise: measured first, it may share a core
        final = nodes[0].call("dump", ids=False, state=False)["count"]
        to_verify = sum(final - c for c in counts)
        states = {n.call("dump", ids=False)["state_digest"] for n in nodes}
        cores = os.cpu_count() or 1
        bound_s = to_verify / rate / cores
        floor_s = to_verify / ingest_per_s / cores
        after = {n.data_dir: n.call("status")["sync"] for n in nodes}
        gossip_after = {n.data_dir: n.call("status")["gossip"] for n in nodes}
        links_after = {n.data_dir: _links_of(n.call("status")) for n in nodes}
        links = {k: sum(links_after[d][k] - links_before[d][k] for d in after) for k in _LINK_COUNTERS}
        gossip_received = sum(gossip_after[d]["received_records"] - gossip_before[d]["received_records"] for d in after)
        gossip_published = sum(gossip_after[d]["published_records"] - gossip_before[d]["published_records"] for d in after)
        sync_bytes = sum(after[d]["bytes_sent"] - before[d]["bytes_sent"] for d in after)
        record_bytes = sum(after[d]["record_bytes_received"] - before[d]["record_bytes_received"] for d in after)
        trips = sum(after[d]["round_trips"] - before[d]["round_trips"] for d in after)
        sessions = sum(after[d]["sessions"] - before[d]["sessions"] for d in after)
        idle = sum(after[d].get("idle_sessions", 0) - before[d].get("idle_sessions", 0) for d in after)
        failed = sum(after[d]["failed"] - before[d]["failed"] for d in after)
        skipped = sum(after[d].get("skipped", 0) - before[d].get("skipped", 0) for d in after)
        gave_way = sum(after[d].get("gave_way", 0) - before[d].get("gave_way", 0) for d in after)
        sync_records = sum(after[d]["records_received"] - before[d]["records_received"] for d in after)
        if keep_logs is not None:
            keep_logs.mkdir(parents=True, exist_ok=True)
            for j, n in enumerate(nodes):
                log_file = Path(n.data_dir) / "node-test.log"
                if log_file.exists():
                    (keep_logs / f"h{j}.log").write_bytes(log_file.read_bytes())
        del expected
        return {
            "same_state": len(states) == 1, "node_cpu_s": cpu_used, "idle_cpu_per_s": idle_cpu_per_s,
            "quiet_cpu_per_s": quiet_cpu_per_s,
            "verify_cpu_s": to_verify / rate, "cpu_over_verify": cpu_used / (to_verify / rate) if to_verify else None,
            "nodes": size, "islands": islands, "divergent_records": written, "heal_s": heal_s,
            "signatures_to_verify": to_verify, "verify_per_s_one_core": rate, "cores": cores,
            "bound_s": bound_s, "heal_over_bound": heal_s / bound_s if bound_s else None,
            "store_per_s_one_core": ingest_per_s, "store_floor_s": floor_s,
            "sync_bytes_on_wire": sync_bytes, "sync_record_bytes": record_bytes,
            "wire_over_records": sync_bytes / record_bytes if record_bytes else None,
            "sync_sessions": sessions, "idle_sessions": idle, "round_trips": trips,
            "links": links, "failed_sessions": failed, "skipped_sessions": skipped, "gave_way": gave_way, "sync_records_received": sync_records,
            "gossip_received_records": gossip_received, "gossip_published_records": gossip_published,
        }
    finally:
        for n in nodes:
            n.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.bench node", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,20", help="node counts for the propagation runs")
    parser.add_argument("--messages", type=int, default=100, help="records written in each propagation run")
    parser.add_argument("--records", type=int, default=10_000, help="divergent records in the heal run")
    parser.add_argument("--skip-heal", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reconnect-records", type=int, default=0, metavar="N",
                        help="first run the same heal (same islands and links) with only N divergent "
                             "records, to measure what the links' return costs apart from the records "
                             "(0, the default: skip it)")
    parser.add_argument("--keep-logs", type=Path, default=None,
                        help="copy the heal nodes' logs into this directory (h0.log ...)")
    parser.add_argument("--profile", type=Path, default=None,
                        help="py-spy every heal node from the links' return to identical; collapsed "
                             "stacks into this directory (h0.txt ...)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
        root = Path(tmp)
        print("live propagation (control-socket write to event on every other node)")
        print(f"{'nodes':>6} {'records':>8} {'p50 ms':>8} {'p99 ms':>8} {'missed live':>12} {'missing after sync':>19}")
        ok = True
        for size in (int(s) for s in args.sizes.split(",") if s.strip()):
            r = propagation(root, size, args.messages, rng)
            print(f"{r['nodes']:>6} {r['records']:>8} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f} "
                  f"{r['missed_by_gossip']:>12} {r['missing_after_sync']:>19}", flush=True)
            ok = ok and r["missing_after_sync"] == 0 and (size < 20 or r["p99_ms"] <= 1000)
        if not args.skip_heal:
            base = None
            if args.reconnect_records > 0:
                # The heal's links come from its own generator: the same seed
                # gives both heals the same islands and links.
                base = heal(root / "reconnect", args.reconnect_records, random.Random(args.seed))
            h = heal(root, args.records, random.Random(args.seed) if base is not None else rng, args.keep_logs, args.profile)
            print()
            print(f"heal after {h['islands']} islands of {h['nodes'] // h['islands']} rejoin, "
                  f"{h['divergent_records']} divergent records")
            print(f"  time to identical on every node   {h['heal_s']:8.1f} s")
            print(f"  physical bound                    {h['bound_s']:8.1f} s  "
                  f"({h['signatures_to_verify']} signatures / {h['verify_per_s_one_core']:.0f} per s / {h['cores']} cores)")
            print(f"  heal / bound                      {h['heal_over_bound']:8.2f}   (target <= 2)")
            print(f"  store floor, no network           {h['store_floor_s']:8.1f} s  "
                  f"({h['store_floor_s'] / h['bound_s']:.2f} x bound: the same records through Store.ingest "
                  f"at {h['store_per_s_one_core']:.0f} per s, one core)")
            print(f"  CPU used by the nodes while healing {h['node_cpu_s']:6.1f} s  "
                  f"(verification alone needs {h['verify_cpu_s']:.1f} s on one core)")
            background = h["idle_cpu_per_s"] * h["heal_s"] / h["verify_cpu_s"]
            print(f"  CPU of the nodes before the heal  {h['idle_cpu_per_s']:6.2f} s per s  "
                  f"(idle, the {QUIET_S:.0f} s before the links return; x heal time = {background:.2f} x "
                  f"verification CPU)")
            print(f"  CPU of the nodes just after       {h['quiet_cpu_per_s']:6.2f} s per s  "
                  f"(the first {QUIET_S:.0f} s once identical; x heal time = "
                  f"{h['quiet_cpu_per_s'] * h['heal_s'] / h['node_cpu_s']:.0%} of the heal's CPU)")
            print(f"  node CPU / verification CPU       {h['cpu_over_verify']:8.2f}   (target <= 2.5; "
                  f"independent of how many processes share a core)")
            if base is not None:
                # The small heal's own idle work is the background's, not the links'.
                links_cpu_s = max(0.0, base["node_cpu_s"] - base["idle_cpu_per_s"] * base["heal_s"])
                share = links_cpu_s / h["verify_cpu_s"]
                floor = h["store_floor_s"] / h["bound_s"]
                print(f"  CPU of the links' return alone    {links_cpu_s:6.1f} s  "
                      f"({share:.2f} x this heal's verification CPU: the same heal with "
                      f"{base['divergent_records']} divergent records, run first, in {base['heal_s']:.1f} s, "
                      f"less its nodes' idle CPU)")
                print(f"  store floor + links + idle        {floor + share + background:8.2f}   (the ratio before a "
                      f"record crosses the network or is reconciled: {floor:.2f} + {share:.2f} + {background:.2f})")
            print(f"  sync bytes on the wire            {h['sync_bytes_on_wire']:>10}")
            print(f"  bytes of the records delivered    {h['sync_record_bytes']:>10}")
            print(f"  wire / records                    {h['wire_over_records']:8.3f}   (target <= 1.10)")
            print(f"  sessions, round trips             {h['sync_sessions']}, {h['round_trips']}  "
                  f"(each session counted by both its sides; {h['idle_sessions']} moved no record)")
            print(f"  sessions failed, skipped, gave way {h['failed_sessions']}, {h['skipped_sessions']}, "
                  f"{h['gave_way']}  (skipped: a peer exchange showed both sides agreeing; gave way: "
                  f"ended unanswered for a session a peer started, and started again)")
            print("  links during the heal             " + ", ".join(f"{v} {k}" for k, v in h["links"].items()))
            print(f"  records received by sync          {h['sync_records_received']}  "
                  f"({h['sync_records_received'] / max(1, h['signatures_to_verify']):.2f} x those each node lacked)")
            print(f"  gossip during the heal            {h['gossip_published_records']} records published, "
                  f"{h['gossip_received_records']} received")
            print(f"  same state on every node          {h['same_state']}")
            ok = ok and h["heal_over_bound"] is not None and h["heal_over_bound"] <= 2
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
