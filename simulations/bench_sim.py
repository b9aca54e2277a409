"""Scale benchmark of the deterministic simulator: ``python -m simulations.bench sim``.

Runs the ``scale`` scenario (a busy evening, power cuts, a short outage into
islands, power back) at the issue's two sizes and prints, for each, the wall
time and the CPU time of the whole run (founding, simulation, invariant checks)
against the issue's 60 s target, with what the run did. The in-memory store model is
used at these sizes; every signature is checked once per run and the result
shared; everything else is the real code (records, admission, the sync session,
views). CPU time is shown beside wall time because this machine is shared.
The run's trace digest is printed too: a change that makes the simulator
faster must leave it as it was.
"""

from __future__ import annotations

import argparse
import sys
import time

from .__main__ import resolve_scenario
from .sim.scenario import load, override
from .sim.simulation import Simulation

#: The issue's sizes: (nodes, records).
SIZES = ((1000, 10_000), (100, 100_000))

#: Seconds of wall time each size may take.
TARGET_S = 60.0


def parse_size(text: str) -> tuple[int, int]:
    nodes, records = text.lower().split("x")
    return int(nodes), int(records)


def run_size(scenario_name: str, nodes: int, records: int, seed: int) -> dict:
    scenario = override(load(resolve_scenario(scenario_name)), nodes=nodes, records=records)
    wall, cpu = time.monotonic(), time.process_time()
    outcome = Simulation(scenario, seed, backend="memory").run()
    f = outcome.figures
    return {
        "nodes": nodes,
        "records": f["records"]["valid"],
        "wall_s": time.monotonic() - wall,
        "cpu_s": time.process_time() - cpu,
        "phases": f["wall_s"],
        "ok": outcome.ok,
        "violations": [v.detail for v in outcome.violations[:3]],
        "gossip_messages": f["gossip"]["messages"],
        "sync_sessions": f["sync"]["sessions"],
        "sync_records": f["sync"]["records"],
        "session_s": f["sync"]["session_s"],
        "converged_after_heal_s": None if f["convergence"]["after_heal_ms"] is None
        else f["convergence"]["after_heal_ms"] / 1000,
        "signature_checks": f["records"]["signature_checks"],
        "replay": outcome.replay_command(),
        "trace": outcome.trace_digest,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulations.bench sim", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", action="append", type=parse_size,
                        help="NODESxRECORDS, repeatable (default: 1000x10000 and 100x100000)")
    parser.add_argument("--scenario", default="scale")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    status = 0
    print(f"{'nodes':>6} {'records':>8} {'wall s':>8} {'cpu s':>8} {'target':>7} {'sessions':>9} "
          f"{'healed in':>10} {'invariants':>11}")
    for nodes, records in args.size or SIZES:
        row = run_size(args.scenario, nodes, records, args.seed)
        met = row["wall_s"] <= TARGET_S
        healed = "-" if row["converged_after_heal_s"] is None else f"{row['converged_after_heal_s']:.1f} s"
        print(f"{row['nodes']:>6} {row['records']:>8} {row['wall_s']:>8.1f} {row['cpu_s']:>8.1f} "
              f"{'met' if met else 'MISSED':>7} {row['sync_sessions']:>9} {healed:>10} "
              f"{'hold' if row['ok'] else 'VIOLATED':>11}", flush=True)
        print(f"       phases: setup {row['phases']['setup_s']:.1f} s, run {row['phases']['run_s']:.1f} s, "
              f"checks {row['phases']['check_s']:.1f} s; {row['session_s']:.1f} s inside sync sessions; "
              f"{row['gossip_messages']} gossip messages, "
              f"{row['sync_records']} records by sync, {row['signature_checks']} signature checks; "
              f"trace {row['trace'][:16]} (the same seed and size give the same trace)", flush=True)
        if not row["ok"]:
            print(f"       violated: {row['violations']}; replay: {row['replay']}", flush=True)
            status = 1
        elif not met:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
