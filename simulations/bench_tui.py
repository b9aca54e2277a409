"""Benchmark: how fast the terminal UI opens a board of 10,000 offers and
applies a filter to it.

    python -m simulations.bench_tui [--offers 10000] [--in-process]

Builds a neighbourhood whose board holds ``--offers`` open offers in a
temporary data directory, starts a real node on it (loopback, no mDNS) and
runs the app headless against the node's control socket. It prints, as the
median of a few runs:

- open: the board tab's reload, i.e. the node's ``offer_page`` answer (the
  first rows the board draws) over the control socket plus drawing the
  table, and the first paint after it;
- filter: typing a filter until the node's filtered answer is drawn;

each as wall time and as the UI process's own CPU time (on a busy machine the
wall time also counts waiting for a core).

Target: at most 100 ms each. ``--in-process`` answers from a Pantry in the
benchmark's own process instead of a node (no socket, no msgpack).
"""

from __future__ import annotations

import argparse
import os
import asyncio
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


async def measure(connect, offers: int) -> dict[str, list[float]]:
    from textual.widgets import Input

    from cli.tui.app import build_app

    app = build_app(connect, follow_events=False)
    times: dict[str, list[float]] = {"open": [], "filter": [], "answer": [], "open_cpu": [], "filter_cpu": []}
    async with app.run_test(size=(120, 40)) as pilot:
        while not app.refreshes:
            await pilot.pause(0.05)
        from cli.tui.screens.board import BOARD_PAGE

        board = app.pane("board")
        assert len(board.offers) == min(offers, BOARD_PAGE), f"the board got {len(board.offers)} offers"
        for run in range(RUNS):
            started = time.perf_counter()
            answer = await app.ask("offer_page", sort="expiry", limit=BOARD_PAGE)
            times["answer"].append((time.perf_counter() - started) * 1000)
            started, cpu = time.perf_counter(), time.process_time()
            await board.reload(app)
            await painted(pilot)
            times["open"].append((time.perf_counter() - started) * 1000)
            times["open_cpu"].append((time.process_time() - cpu) * 1000)
            await pilot.pause()
            field = board.query_one("#filter-text", Input)
            loads = board.loads
            started, cpu = time.perf_counter(), time.process_time()
            field.value = f"apples {10 * run + 1}"  # Input.Changed -> the node filters 10k offers -> redraw
            while board.loads == loads:
                await asyncio.sleep(0.001)
            await painted(pilot)
            times["filter"].append((time.perf_counter() - started) * 1000)
            times["filter_cpu"].append((time.process_time() - cpu) * 1000)
            await pilot.pause()
            assert board.offers and all(f"apples {10 * run + 1}" in o["item"] for o in board.offers)
            loads = board.loads
            field.value = ""
            while board.loads == loads:
                await pilot.pause()
            await pilot.pause()
            del answer
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_tui", description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--in-process", action="store_true", help="answer from a Pantry in this process")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="meshpantry-bench-") as tmp:
        data_dir = Path(tmp) / "bench"
        started = time.perf_counter()
        build_board(data_dir, args.offers)
        print(f"built a board of {args.offers} offers in {time.perf_counter() - started:.1f} s")
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
                    pantry.close()

            async def connect():
                return InProcess()
        else:
            from cli.tui.node_process import start_node, stop_node, wait_for_socket_blocking
            from meshpantry.control.aclient import AsyncControlClient

            process = start_node(data_dir, ("--listen", "127.0.0.1:0", "--no-mdns"), detached=False)
            wait_for_socket_blocking(data_dir, process)

            async def connect():
                return await AsyncControlClient.connect(data_dir)
        try:
            times = asyncio.run(measure(connect, args.offers))
        finally:
            if process is not None:
                stop_node(process)
    where = "in-process pantry" if args.in_process else "node over the control socket"
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} on {os.cpu_count()} cores: wall times include waiting for a CPU")
    print(f"board of {args.offers} offers, {where}, median of {RUNS} runs (target {TARGET_MS:.0f} ms):")
    worst = 0.0
    rows = (("answer", "  node answer (offer_page)"), ("open", "open the board"), ("open_cpu", "  UI process CPU"),
            ("filter", "apply a filter"), ("filter_cpu", "  UI process CPU"))
    for name, label in rows:
        median = statistics.median(times[name])
        if name in ("open", "filter"):
            worst = max(worst, median)
        print(f"  {label:<28} {median:8.1f} ms   (min {min(times[name]):.1f}, max {max(times[name]):.1f})")
    return 0 if worst <= TARGET_MS else 1


if __name__ == "__main__":
    sys.exit(main())
