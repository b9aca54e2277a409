"""Command line of the outage simulation harness.

    python -m simulations run scenarios/city-outage.toml --seed 7 --out DIR
    python -m simulations run city-outage --seeds 1-200 --quiet
    python -m simulations replay DIR/run.json
    python -m simulations drill --nodes 12 --out DIR

``run`` exits 1 when an invariant fails, after printing the seed and a
one-line command that replays the run exactly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .sim import report
from .sim.progress import ProgressBar
from .sim.scenario import ScenarioError, load, override
from .sim.simulation import BACKENDS, Simulation

HERE = Path(__file__).resolve().parent


def resolve_scenario(name: str) -> Path:
    """A scenario path as given, or relative to this package, or a bare name
    from ``scenarios/``. Raises FileNotFoundError."""
    for candidate in (Path(name), HERE / name, HERE / "scenarios" / f"{name}.toml"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"no scenario {name!r} (looked in ., {HERE}, {HERE / 'scenarios'})")


def parse_seeds(text: str) -> list[int]:
    """``7`` or ``1-200`` or ``1,5,9``."""
    seeds: list[int] = []
    for part in text.split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            seeds.extend(range(int(low), int(high) + 1))
        else:
            seeds.append(int(part))
    return seeds


def run_one(path: Path, seed: int, args: argparse.Namespace, out: Path | None) -> bool:
    scenario = override(load(path), nodes=args.nodes, records=args.records)
    bar = ProgressBar(f"{scenario.name} seed {seed}", quiet=args.quiet)
    sim = Simulation(scenario, seed, backend=args.backend, on_progress=bar.update)
    outcome = sim.run()
    bar.close()
    if out is not None:
        report.write(outcome, out)
    if not args.quiet or not outcome.ok:
        print(report.summary(outcome))
        if out is not None:
            print(f"report: {out}")
    if not outcome.ok:
        print(f"FAILED: seed {seed}; replay with:\n  {outcome.replay_command()}", file=sys.stderr)
    return outcome.ok


def cmd_run(args: argparse.Namespace) -> int:
    path = resolve_scenario(args.scenario)
    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    failed = []
    for seed in seeds:
        out = None
        if args.out:
            out = Path(args.out) if len(seeds) == 1 else Path(args.out) / f"seed-{seed}"
        if not run_one(path, seed, args, out):
            failed.append(seed)
    if len(seeds) > 1:
        print(f"{len(seeds) - len(failed)} of {len(seeds)} seeds passed" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


def cmd_replay(args: argparse.Namespace) -> int:
    recorded = json.loads(Path(args.run_json).read_text(encoding="utf-8"))
    path = resolve_scenario(recorded["source"])
    scenario = override(load(path), nodes=recorded["nodes"], records=recorded["records"])
    bar = ProgressBar(f"replay {scenario.name} seed {recorded['seed']}", quiet=args.quiet)
    outcome = Simulation(scenario, recorded["seed"], backend=recorded["backend"], on_progress=bar.update).run()
    bar.close()
    if args.out:
        report.write(outcome, Path(args.out))
    print(report.summary(outcome))
    same = outcome.trace_digest == recorded["trace_digest"]
    print("trace: identical to the recorded run" if same else
          f"trace: DIFFERS from the recorded run ({recorded['trace_digest'][:16]} vs {outcome.trace_digest[:16]})")
    return 0 if same and outcome.ok == recorded["ok"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m simulations", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a scenario for one seed or many")
    run.add_argument("scenario", help="a scenario file or name (city-outage, courier, ...)")
    run.add_argument("--seed", type=int, default=7)
    run.add_argument("--seeds", help="several seeds: 1-200 or 1,5,9 (overrides --seed)")
    run.add_argument("--nodes", type=int, help="override the scenario's node count")
    run.add_argument("--records", type=int, help="override the scenario's record count")
    run.add_argument("--backend", choices=BACKENDS, default="auto",
                     help="real SQLite stores or the in-memory model (auto: by size)")
    run.add_argument("--out", help="directory for summary.txt, run.json and the plots")
    run.add_argument("--quiet", action="store_true", help="no progress bar; print only failures")
    run.set_defaults(func=cmd_run)
    replay = sub.add_parser("replay", help="run a recorded run again and compare its trace")
    replay.add_argument("run_json")
    replay.add_argument("--out")
    replay.add_argument("--quiet", action="store_true")
    replay.set_defaults(func=cmd_replay)
    sub.add_parser("drill", help="an outage drill with real node processes (see drill --help)")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["drill"]:  # the drill has its own options
        from .drill import main as drill_main

        return drill_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ScenarioError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
