"""A neighbourhood built in-process with fixed keys and a fixed clock, so the
same records (and the same screenshots) come out on every run.

:class:`LocalClient` serves the app's requests from a real
:class:`~meshpantry.pantry.Pantry` directly: the control socket's answers
without a node process. Used where the picture must not change between runs
(snapshots) and for the board benchmark; every flow is also tested against
real nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshpantry.control.client import bind_request
from meshpantry.control.routes import pantry_routes, routes
from meshpantry.keys import DeviceKey, write_key
from meshpantry.pantry import Pantry
from meshpantry.pantry.household import CHAIN_CHECKED

#: 2026-11-20 12:00 UTC: a fixed "now" for records and for the app's clock.
NOW_MS = 1_795_608_000_000
HOUR_MS = 3_600_000


def fixed_pantry(data_dir: Path, seed_byte: int, household: str, area: str | None = None) -> Pantry:
    """A Pantry with a key from ``seed_byte`` and a clock stopped at NOW_MS."""
    write_key(data_dir, DeviceKey(bytes([seed_byte]) * 32))
    pantry = Pantry.open(data_dir)
    pantry.clock = lambda: NOW_MS
    pantry.store.set_setting("household_name", household)
    if area:
        pantry.store.set_setting("household_area", area)
    pantry.store.set_setting(CHAIN_CHECKED, 1)
    return pantry


def exchange(a: Pantry, b: Pantry) -> None:
    """Hand every record each holds to the other (a perfect sync)."""
    for source, target in ((a, b), (b, a)):
        target.store.ingest([r.raw for r in source.store.records()], NOW_MS)


class LocalClient:
    """The app's client interface over an in-process Pantry."""

    def __init__(self, pantry: Pantry, status: dict | None = None) -> None:
        self.pantry = pantry
        self.node_status = status or {}
        self.routes = routes(*pantry_routes(pantry))

    async def call(self, op: str, **args: Any) -> Any:
        if op == "status":  # as the node answers: its own fields over the Pantry's
            base = self.pantry.status() if self.pantry.store.neighbourhood else {
                **self.pantry.whoami(), "records": self.pantry.store.count(), "peers": []}
            return {**base, "node_running": True, **self.node_status}
        request = bind_request(op, (), args)
        return await self.routes[request.op].run(request)

    async def subscribe(self, names: list[str] | None = None) -> None:
        return None

    async def events(self):
        if False:  # pragma: no cover - an event stream that never yields
            yield {}
        import asyncio

        await asyncio.Event().wait()

    async def close(self) -> None:
        return None


def sample_neighbourhood(root: Path) -> tuple[Pantry, Pantry]:
    """Alder (founder) and Birch with offers, claims, a meal and recipes."""
    alder = fixed_pantry(root / "alder", 1, "Alder", "north end")
    birch = fixed_pantry(root / "birch", 2, "Birch", "south end")
    alder.create_neighbourhood("Test Close", "Alder", "north end")
    code = alder.create_invite(uses=2)["code"]
    birch.join(code, "Birch", "south end")
    exchange(alder, birch)
    plums = alder.offer_add("plums", 4, "kg", best_before=NOW_MS + 5 * HOUR_MS, area="north end",
                            tags=["fruit"], note="from the tree")
    alder.offer_add("oat loaf", 2, "loaf", best_before=NOW_MS + 60 * HOUR_MS, tags=["bread"], allergens=["gluten"])
    birch.offer_add("rice", 5, "kg", tags=["dry"])
    birch.offer_add("lentil soup", 6, "portion", best_before=NOW_MS + 20 * HOUR_MS, area="south end",
                    tags=["cooked"], allergens=["celery"])
    exchange(alder, birch)
    # Distinct times keep the claims' order fixed (invite keys are random, so
    # record ids, the tie-break, differ between runs).
    birch.clock = lambda: NOW_MS - 20 * 60_000
    birch.claim_add(plums["id"], 3, "after six?")
    birch.clock = lambda: NOW_MS - 10 * 60_000
    birch.claim_add(plums["id"], 2)
    birch.clock = lambda: NOW_MS
    meal = alder.meal_add("Soup night", NOW_MS + 30 * HOUR_MS, "the hall",
                          needs=[{"item": "leeks", "quantity": 4, "unit": "pc"},
                                 {"item": "stock", "quantity": 2, "unit": "l"}])
    exchange(alder, birch)
    birch.meal_pledge(meal["id"], "leeks", 3, "pc")
    soup = alder.recipe_add("Leek soup", ingredients=[{"item": "leeks", "amount": "4", "unit": "pc"}],
                            steps=["Sweat the leeks", "Add stock, simmer 20 minutes"], tags=["soup"], serves=4,
                            story="Good on a cold night.")
    alder.recipe_story(soup["id"], "He made it every Friday.", title="Grandad's pot")
    exchange(alder, birch)
    return alder, birch
