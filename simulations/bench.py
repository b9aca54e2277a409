"""Benchmarks: ``python -m simulations.bench NAME [options]``.

Each benchmark lives in its own module with a ``main(argv) -> int`` function and
is listed in :data:`BENCHMARKS`; ``all`` runs every one with its defaults.
"""

from __future__ import annotations

import importlib
import sys

#: Benchmark name -> module holding its ``main(argv)``; add new ones here.
BENCHMARKS: dict[str, str] = {
    "bundle": "simulations.bench_bundle",
    "ingest": "simulations.bench_ingest",
    "sync": "simulations.bench_sync",
    "reconcile": "simulations.bench_reconcile",
    "node": "simulations.bench_node",
    "newdevice": "simulations.bench_newdevice",
    "sim": "simulations.bench_sim",
    "tui": "simulations.bench_tui",
    "views": "simulations.bench_views",
}


def usage() -> str:
    names = "|".join(sorted(BENCHMARKS))
    return f"usage: python -m simulations.bench {{{names}|all}} [options]  (NAME --help for options)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name == "all":
        status = 0
        for each in BENCHMARKS:
            print(f"== {each}", flush=True)
            status = max(status, importlib.import_module(BENCHMARKS[each]).main(rest))
        return status
    if name not in BENCHMARKS:
        print(f"unknown benchmark {name!r}; {usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(BENCHMARKS[name]).main(rest)


if __name__ == "__main__":
    sys.exit(main())
