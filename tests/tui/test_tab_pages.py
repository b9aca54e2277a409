"""The swaps, meals and recipes tabs read the node a page at a time, as the
board does: a cursor page when the tab opens, the next page on ``m`` or when
the cursor reaches the last row, and a refresh that keeps what was scrolled
to. None of them asks for a whole list (which, on a node with 100,000
records, would not fit in one reply)."""

from __future__ import annotations

import pytest

from cli.tui.app import build_app
from cli.tui.widgets import paged

from .local_pantry import HOUR_MS, NOW_MS, exchange, fixed_pantry
from .test_board_pages import CountingClient, settle

#: 12 rows are three pages of 5.
PAGE = 5
ROWS = 12
#: The ops that answer a whole list at once.
UNPAGED = {"offer_list", "swaps", "meal_list", "recipe_list", "log"}


@pytest.fixture(scope="module")
def busy_household(tmp_path_factory):
    """Alder with 12 meals, 12 recipes and 12 claims on Birch's offers."""
    root = tmp_path_factory.mktemp("pages")
    alder = fixed_pantry(root / "alder", 1, "Alder", "north end")
    birch = fixed_pantry(root / "birch", 2, "Birch", "south end")
    alder.create_neighbourhood("Test Close", "Alder", "north end")
    birch.join(alder.create_invite(uses=1)["code"], "Birch", "south end")
    exchange(alder, birch)
    offers = [birch.offer_add(f"jar {n:02d}", 2, "jar", best_before=NOW_MS + 90 * HOUR_MS) for n in range(ROWS)]
    exchange(alder, birch)
    for n, offer in enumerate(offers):
        alder.clock = lambda n=n: NOW_MS - (n + 1) * 60_000  # distinct times: newest first is jar 00
        alder.claim_add(offer["id"], 1)
        alder.meal_add(f"meal {n:02d}", NOW_MS + (n + 1) * HOUR_MS, "the hall")
        alder.recipe_add(f"recipe {n:02d}", steps=["cook"])
    alder.clock = lambda: NOW_MS
    yield alder
    alder.close()
    birch.close()


async def _ready(client):
    return client


TABS = [
    # tab key, pane, op, what a row is called in the test, the first rows in order
    ("2", "swaps", "swaps_page", "offer_item", [f"jar {n:02d}" for n in range(ROWS)]),
    ("3", "meals", "meal_page", "dish", [f"meal {n:02d}" for n in range(ROWS)]),
    ("4", "recipes", "recipe_page", "title", [f"recipe {n:02d}" for n in range(ROWS)]),
]


@pytest.mark.asyncio
@pytest.mark.parametrize("key,name,op,field,expected", TABS, ids=[t[1] for t in TABS])
async def test_the_tab_loads_page_after_page(busy_household, monkeypatch, key, name, op, field, expected):
    monkeypatch.setattr(paged, "PAGE_ROWS", PAGE)
    client = CountingClient(busy_household, {"island": False, "connected": []})
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.refreshes >= 1)
        await pilot.press(key)
        pane = app.pane(name)
        await settle(pilot, lambda: pane.loads >= 1)
        assert [row[field] for row in pane.rows] == expected[:PAGE]
        assert pane.next is not None and pane.table.row_count == PAGE
        # The key loads the page after the cursor.
        pane.table.focus()
        await pilot.press("m")
        await settle(pilot, lambda: len(pane.rows) == 2 * PAGE)
        asked, args = client.asked[-1]
        assert asked == op and args["after"] is not None and args["limit"] == PAGE
        # Moving the cursor onto the last row loads the last page.
        for _ in range(2 * PAGE):
            await pilot.press("down")
        await settle(pilot, lambda: pane.next is None)
        assert [row[field] for row in pane.rows] == expected
        assert pane.table.row_count == ROWS
        # The detail follows the cursor onto a row of a later page.
        while pane.table.cursor_row < ROWS - 1:
            await pilot.press("down")
        assert pane.selected()[field] == expected[-1]
        # A refresh reads from the top as many rows as were shown.
        await app.reload()
        assert len(pane.rows) == ROWS and client.asked[-1][1]["limit"] >= ROWS
        assert pane.selected()[field] == expected[-1], "the cursor stays on its row"
        assert not UNPAGED & {asked for asked, _ in client.asked}


@pytest.mark.asyncio
async def test_a_recipe_search_reads_the_first_page_of_matches(busy_household, monkeypatch):
    monkeypatch.setattr(paged, "PAGE_ROWS", PAGE)
    client = CountingClient(busy_household, {"island": False, "connected": []})
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.refreshes >= 1)
        await pilot.press("4")
        pane = app.pane("recipes")
        await settle(pilot, lambda: pane.loads >= 1)
        loads = pane.loads
        pane.query_one("#recipe-search").value = "recipe 1"
        await settle(pilot, lambda: pane.loads > loads and len(pane.rows) == 2)
        assert [row["title"] for row in pane.rows] == ["recipe 10", "recipe 11"]
        assert pane.next is None
        assert client.asked[-1] == ("recipe_page", {"limit": PAGE, "search": "recipe 1"})


def test_the_whole_list_ops_for_meals_and_recipes_are_gone():
    """Every tab pages, so the node no longer answers a whole list of meals
    or recipes (the replies that could outgrow a frame): asked for one, it
    says the op is unknown."""
    from meshpantry.control.client import bind_request
    from meshpantry.pantry.errors import UnknownOp

    for op in ("meal_list", "recipe_list"):
        with pytest.raises(UnknownOp):
            bind_request(op, (), {})
    assert bind_request("meal_page", (), {"limit": 5}).op == "meal_page"


class OddClient(CountingClient):
    """A node of another version: pages without their rows, a list for a map."""

    async def call(self, op, **args):
        if op == "offer_page":
            return {"items": [], "next": None}
        if op == "meal_page":
            return ["not", "a", "map"]
        return await super().call(op, **args)


@pytest.mark.asyncio
async def test_an_answer_of_an_unknown_shape_is_reported_not_a_crash(busy_household):
    client = OddClient(busy_household, {"island": False, "connected": []})
    app = build_app(lambda: _ready(client), clock=lambda: NOW_MS, follow_events=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot, lambda: app.errors)
        assert "has no list of offers" in app.errors[0]
        await pilot.press("3")
        await settle(pilot, lambda: len(app.errors) == 2)
        assert "to meal_page is not a map" in app.errors[1]
        await pilot.press("4")
        pane = app.pane("recipes")
        await settle(pilot, lambda: pane.loads >= 1)
        assert app.is_running and pane.rows
