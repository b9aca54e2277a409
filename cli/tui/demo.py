"""``meshpantry tui --demo``: a live little neighbourhood on loopback.

Three neighbour households (each its own node process in a temporary data
directory, listening on 127.0.0.1 with mDNS off, pointing at the founder as a
static peer) fill a board, plan a meal and share recipes through their control
sockets; the UI then opens on a fourth, demo household of its own, also in a
temporary directory. Nothing touches the user's real data directory, the
neighbourhood's name starts with "Demo —" and every offer and recipe carries
the ``demo`` tag, so demo records can never be mistaken for, or mixed into, a
real neighbourhood. The nodes stop and the directories go when the UI closes.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from meshpantry.control.client import ControlClient
from meshpantry.control.frames import Wire

from .answers import Answer, UnexpectedAnswer
from .node_process import start_node, stop_node, wait_for_socket_blocking

DEMO_PREFIX = "Demo — "
DEMO_NEIGHBOURHOOD = DEMO_PREFIX + "Elm Street"
DEMO_TAG = "demo"
HOUR_MS = 3600 * 1000
#: How long to wait for the founder's host to listen (its address goes into
#: the invite code and the neighbours' static peer lists).
LISTEN_TIMEOUT_S = 20.0
#: How long a joined demo household may take to sync the founder's invite:
#: a second on an idle laptop, many on a busy machine.
JOIN_SYNC_TIMEOUT_S = 60.0

NEIGHBOURS = (("Rosa's kitchen", "north end"), ("The Okafors", "Elm St 20s"), ("Flat 3B", "the tower"))
YOU = ("You (demo)", "Elm St 40s")


@dataclass
class DemoNeighbourhood:
    """The demo's temporary root, node processes and data directories."""

    root: Path
    processes: list = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)

    @property
    def you(self) -> Path:
        return self.dirs[-1]

    def stop(self) -> None:
        """Stop every demo node and remove the temporary directories."""
        for process in self.processes:
            stop_node(process)
        shutil.rmtree(self.root, ignore_errors=True)


def call(data_dir: Path, op: str, **args: Wire) -> Answer:
    """``op`` on the node of ``data_dir``: its answer, a map."""
    with ControlClient.connect(data_dir) as client:
        answer = client.call(op, **args)
    if not isinstance(answer, dict):
        raise UnexpectedAnswer(f"to {op} is not a map")
    return answer


def start_demo(root: Path | None = None, say=print) -> DemoNeighbourhood:
    """Start the demo neighbourhood; returns it with the UI's household last."""
    from .launch import create_household

    root = Path(root or tempfile.mkdtemp(prefix="meshpantry-demo-"))
    demo = DemoNeighbourhood(root)
    try:
        founder = root / "neighbour-1"
        create_household(founder, *NEIGHBOURS[0])
        say("starting the demo founder's node on 127.0.0.1…")
        demo.processes.append(start_node(founder, ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns"), detached=False))
        demo.dirs.append(founder)
        wait_for_socket_blocking(founder, demo.processes[0])
        call(founder, "create_neighbourhood", name=DEMO_NEIGHBOURHOOD, household=NEIGHBOURS[0][0], area=NEIGHBOURS[0][1])
        listen = _wait_listen(founder)
        code = call(founder, "create_invite", uses=len(NEIGHBOURS) + 1, note="demo households")["code"]
        others = list(NEIGHBOURS[1:]) + [YOU]
        say(f"starting {len(others)} more demo households…")
        for index, (name, area) in enumerate(others, 2):
            data_dir = root / ("you" if (name, area) == YOU else f"neighbour-{index}")
            create_household(data_dir, name, area)
            peers = [arg for address in listen for arg in ("--peer", address)]
            demo.processes.append(start_node(data_dir, ("--network", "loopback", "--listen", "127.0.0.1:0", "--no-mdns", *peers), detached=False))
            demo.dirs.append(data_dir)
        for data_dir, process, (name, area) in zip(demo.dirs[1:], demo.processes[1:], others):
            wait_for_socket_blocking(data_dir, process)
            call(data_dir, "join", code=code, household=name, area=area)
        for data_dir, (name, _) in zip(demo.dirs[1:], others):
            _wait_member(data_dir, name)
        say("filling the board, a meal and recipes…")
        populate(demo.dirs[:-1])
    except BaseException:
        demo.stop()
        raise
    return demo


def _wait_listen(data_dir: Path) -> list[str]:
    deadline = time.monotonic() + LISTEN_TIMEOUT_S
    while time.monotonic() < deadline:
        listen = call(data_dir, "status").get("listen") or []
        if listen:
            return listen
        time.sleep(0.1)
    raise RuntimeError("the demo founder's node did not start listening")


def _wait_member(data_dir: Path, name: str) -> None:
    """Wait until a joined household's node holds the invite its join cites
    (synced from the founder), so its own records count."""
    deadline = time.monotonic() + JOIN_SYNC_TIMEOUT_S
    while time.monotonic() < deadline:
        households = call(data_dir, "neighbourhood_show")["households"]
        if any(h["name"] == name for h in households):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the demo household {name} did not sync with the founder")


def populate(neighbours: list[Path]) -> None:
    """Sample offers, a meal and recipes from the demo neighbours (tagged demo)."""
    now = int(time.time() * 1000)
    rosa, okafors, flat = (neighbours + neighbours * 2)[:3]
    offers = [
        (rosa, "tomatoes", 3, "kg", 20, ["veg"], []),
        (rosa, "sourdough loaf", 2, "loaf", 10, ["bread"], ["gluten"]),
        (okafors, "jollof rice", 6, "portion", 30, ["cooked"], []),
        (okafors, "eggs", 12, "egg", 24 * 6, ["dairy-free"], ["egg"]),
        (flat, "apples", 5, "kg", 24 * 9, ["fruit"], []),
        (flat, "peanut butter", 1, "jar", 24 * 60, ["spread"], ["peanuts"]),
    ]
    for data_dir, item, quantity, unit, hours, tags, allergens in offers:
        call(data_dir, "offer_add", item=item, quantity=quantity, unit=unit, best_before=now + hours * HOUR_MS,
             area=None, tags=[DEMO_TAG, *tags], allergens=allergens, note="demo offer")
    call(okafors, "meal_add", dish="Street soup night", time=now + 50 * HOUR_MS, place="the community hall",
         needs=[{"item": "onions", "quantity": 6, "unit": "pc"}, {"item": "stock", "quantity": 4, "unit": "l"},
                {"item": "bread", "quantity": 3, "unit": "loaf"}], note="demo meal")
    call(rosa, "recipe_add", title="Rosa's tomato sauce", tags=[DEMO_TAG, "sauce"], serves=4, origin="Naples",
         ingredients=[{"item": "tomatoes", "amount": "1", "unit": "kg"}, {"item": "garlic", "amount": "3", "unit": "clove"}],
         steps=["Soften the garlic in olive oil", "Add the tomatoes and simmer 40 minutes"],
         story="Her grandmother's, written on the back of a tram ticket.")
    call(flat, "recipe_add", title="Apple crumble", tags=[DEMO_TAG, "pudding"], serves=6,
         ingredients=[{"item": "apples", "amount": "1", "unit": "kg"}, {"item": "oats", "amount": "200", "unit": "g"}],
         steps=["Slice the apples", "Rub butter into oats and flour", "Bake 35 minutes"])


def run_demo(args: argparse.Namespace) -> int:
    """Start the demo, open the UI on the demo household, stop it all after."""
    from meshpantry.control.aclient import AsyncControlClient

    from .app import build_app

    def say(text: str) -> None:
        print(f"meshpantry demo: {text}", file=sys.stderr)

    previous = signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        demo = start_demo(say=say)
        try:
            app = build_app(lambda: AsyncControlClient.connect(demo.you))
            code = app.run()
        finally:
            say("stopping the demo nodes")
            demo.stop()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code if isinstance(code, int) else 0


def _exit_on_signal(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends the demo like quitting does: its nodes stop with it."""
    raise SystemExit(128 + signum)
