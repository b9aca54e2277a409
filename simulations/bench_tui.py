"""Benchmark: how fast the terminal UI opens a board of 10,000 (or 100,000)
offers and applies a filter to it.

    python -m simulations.bench_tui [--offers 10000] [--data-dir DIR] [--in-process]

Builds a neighbourhood whose board holds ``--offers`` open offers (into
``--data-dir`` when given and kept there, so a large board is built once and
reused; each run works on a copy), starts a real node on it (loopback, no
mDNS) and runs the app headless against the node's control socket. It
prints:

- cold open: from starting the app to the board drawn, on a node just
  started (nothing cached: the node's first ``status`` and ``offer_page``
  read the state from the store), once;
- open after a new record: a neighbour's offer arrives (the node's state
  changes), then the board's reload and its first paint;
- open: the board tab's reload (the node's ``offer_page`` answer for the
  first rows over the control socket, plus drawing the table) and the first
  paint after it;
- filter: typing a filter until the node's filtered answer is drawn;

the last three as the median of a few runs, each as wall time and as the UI
process's own CPU time (on a busy machine the wall time also counts waiting
for a core), beside the node's answer alone. Target: at most 100 ms each.
The benchmark prints figures and asserts nothing about them.
``--in-process`` answers from a Pantry in the benchmark's own process
instead of a node (no socket, no msgpack).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

#: The figure the issue asks for.
TARGET_MS = 100.0
RUNS = 5
ITEMS = ("tomatoes", "apples", "bread", "rice", "eggs", "lentils", "plums", "soup", "milk", "onions")
TAGS = ("veg", "fruit", "bread", "dry", "cooked")
ALLERGENS = ((), ("gluten",), ("egg",), ("milk",), ("nuts",))
HOUR_MS = 3_600_000


def build_board(data_dir: Path, offers: int) -> None:
    """A founder household with ``offers`` open offers, written straight to its store."""
    from meshpantry.pantry import Pantry

    pantry = Pantry.create(data_dir, "Bench kitchen", area="bench street")
    try:
        pantry.create_neighbourhood("Bench Close", "Bench kitchen", "bench street")
        now = pantry.clock()
        for index in range(offers):
            body = {
                "item": f"{ITEMS[index % len(ITEMS)]} {index}", "quantity": 1 + index % 9, "unit": "kg",
                "best_before": now + (1 + index % 300) * HOUR_MS, "area": f"block {index % 40}",
                "tags": [TAGS[index % len(TAGS)]],
            }
            allergens = ALLERGENS[index % len(ALLERGENS)]
            if allergens:
                body["allergens"] = list(allergens)
            pantry._write("offer", body)
    finally:
        pantry.close()


async def painted(pilot) -> None:
    """Let every widget handle its pending messages, then paint the screen
    once: what ``Pilot.pause`` does, without its idle detection (which sleeps
    in 20 ms steps until the process looks idle, and would time that)."""
    await pilot._wait_for_screen()
    pilot.app.screen._on_timer_update()


async def measure(connect, offers: int, add_offer) -> dict[str, list[float]]:
    """Time the board against the client ``connect`` returns; ``add_offer``
    (async) makes a new offer arrive at the node."""
    from textual.widgets import Input

    from cli.tui.app import build_app
    from cli.tui.screens.board import BOARD_PAGE

    app = build_app(connect, follow_events=False)
    times: dict[str, list[float]] = {name: [] for name in (
        "cold", "cold_cpu", "answer", "open", "open_cpu", "new", "new_cpu", "filter_answer", "filter", "filter_cpu")}
    started, cpu = time.perf_counter(), time.process_time()
    async with app.run_test(size=(120, 40)) as pilot:
        board = app.pane("board")
        while not board.loads:
            await asyncio.sleep(0.001)
        await painted(pilot)
        times["cold"].append((time.perf_counter() - started) * 1000)
        times["cold_cpu"].append((time.process_time() - cpu) * 1000)
        assert len(board.offers) == min(offers, BOARD_PAGE), f"the board got {len(board.offers)} offers"
        await pilot.pause()
        for run in range(RUNS):
            started = time.perf_counter()
            await app.ask("offer_page", sort="expiry", limit=BOARD_PAGE)
            times["answer"].append((time.perf_counter() - started) * 1000)
            started, cpu = time.perf_counter(), time.process_time()
            await board.reload(app)
            await painted(pilot)
            times["open"].append((time.perf_counter() - started) * 1000)
            times["open_cpu"].append((time.process_time() - cpu) * 1000)
            await pilot.pause()
            await add_offer(run)
            started, cpu = time.perf_counter(), time.process_time()
            await board.reload(app)
            await painted(pilot)
            times["new"].append((time.perf_counter() - started) * 1000)
            times["new_cpu"].append((time.process_time() - cpu) * 1000)
            await pilot.pause()
            wanted = f"apples {10 * run + 1}"
            started = time.perf_counter()
            await app.ask("offer_page", sort="expiry", limit=BOARD_PAGE, search=wanted)
            times["filter_answer"].append((time.perf_counter() - started) * 1000)
            field = board.query_one("#filter-text", Input)
            loads = board.loads
            started, cpu = time.perf_counter(), time.process_time()
            field.value = wanted  # Input.Changed -> the node filters the board -> redraw
            while board.loads == loads:
                await asyncio.sleep(0.001)
            await painted(pilot)
            times["filter"].append((time.perf_counter() - started) * 1000)
            times["filter_cpu"].append((time.process_time() - cpu) * 1000)
            await pilot.pause()
            assert board.offers and all(wanted in o["item"] for o in board.offers)
            loads = board.loads
            field.value = ""
            while board.loads == loads:
                await pilot.pause()
            await pilot.pause()
    return times


def prepare(data_dir: Path | None, offers: int, work: Path) -> Path:
    """A copy (in ``work``) of a board of ``offers`` offers: built into
    ``data_dir`` when that holds none yet, reused when it does."""
    source = data_dir if data_dir is not None else work / "built"
    if not (source / "meshpantry.sqlite3").exists():
        started = time.perf_counter()
        building = source.with_name(source.name + ".building")
        shutil.rmtree(building, ignore_errors=True)
        build_board(building, offers)
        building.rename(source)
        print(f"built a board of {offers} offers in {time.perf_counter() - started:.1f} s into {source}")
    else:
        print(f"reusing the board in {source}")
    copy = work / "bench"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("control.sock", "*.lock", "node.log"))
    return copy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_tui", description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--data-dir", type=Path, help="build the board here once and reuse it (each run uses a copy)")
    parser.add_argument("--in-process", action="store_true", help="answer from a Pantry in this process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
        data_dir = prepare(args.data_dir, args.offers, Path(tmp))
        process = None
        if args.in_process:
            from meshpantry.pantry import Pantry

            pantry = Pantry.open(data_dir)

            class InProcess:
                async def call(self, op, **kw):
                    if op == "status":
                        return {**pantry.status(), "node_running": True, "island": True, "connected": []}
                    return getattr(pantry, op)(**kw)

                async def close(self):
                    return None

            async def connect():
                return InProcess()

            async def add_offer(run: int) -> None:
                pantry.offer_add(f"quinces {run}", 1, "kg")
        else:
            from cli.tui.node_process import start_node, stop_node, wait_for_socket_blocking
            from meshpantry.control.aclient import AsyncControlClient

            process = start_node(data_dir, ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns"), detached=False)
            wait_for_socket_blocking(data_dir, process)

            async def connect():
                return await AsyncControlClient.connect(data_dir)

            async def add_offer(run: int) -> None:
                client = await AsyncControlClient.connect(data_dir)
                try:
                    await client.call("offer_add", item=f"quinces {run}", quantity=1, unit="kg")
                finally:
                    await client.close()
        try:
            times = asyncio.run(measure(connect, args.offers, add_offer))
        finally:
            if process is not None:
                stop_node(process)
            if args.in_process:
                pantry.close()
    where = "in-process pantry" if args.in_process else "node over the control socket"
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores: "
          "wall times include waiting for a CPU")
    print(f"board of {args.offers} offers, {where} (target {TARGET_MS:.0f} ms):")
    rows = (("cold", "cold open (app start, once)"), ("cold_cpu", "  UI process CPU"),
            ("new", "open after a new record"), ("new_cpu", "  UI process CPU"),
            ("answer", "  node answer (offer_page)"), ("open", "open the board"), ("open_cpu", "  UI process CPU"),
            ("filter_answer", "  node answer (filtered)"), ("filter", "apply a filter"),
            ("filter_cpu", "  UI process CPU"))
    for name, label in rows:
        median = statistics.median(times[name])
        many = f"   (min {min(times[name]):.1f}, max {max(times[name]):.1f}, median of {len(times[name])})"
        print(f"  {label:<30} {median:9.1f} ms{many if len(times[name]) > 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
