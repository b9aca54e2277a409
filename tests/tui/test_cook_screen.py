"""Cookable now in the UI: 7 opens it, the pantry list is edited in place,
and the recipe under the cursor says where each line can come from."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from cli.tui.screens.cook import CookScreen

from .conftest import app_on, until, wait_node
from .nodes import run_node
from .screen_text import screen_text

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture(scope="module")
def kitchen(tmp_path_factory):
    node = run_node(tmp_path_factory.mktemp("cook") / "rowan", "Rowan")
    node.call("create_neighbourhood", name="Kitchen Row", household="Rowan", area="south end")
    wait_node(lambda: node.call("status").get("listen"), what="the host to listen")
    node.call("recipe_add", title="Candle-light flatbread",
              ingredients=[{"item": "flour", "amount": "2", "unit": "cup"},
                           {"item": "butter", "amount": "100", "unit": "g", "note": "or margarine"}])
    node.call("recipe_add", title="Outage stew", ingredients=[{"item": "potatoes"}, {"item": "leeks"}])
    node.call("offer_add", item="margarine", quantity=250, unit="g")
    yield node
    node.stop()


async def test_cook_now_with_the_pantry_list(kitchen):
    app = app_on(kitchen)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.refreshes > 0, what="the first load")
        await pilot.press("7")
        await until(pilot, lambda: isinstance(app.screen, CookScreen) and "0 recipe(s) can be cooked now" in screen_text(app),
                    what="the cook screen")
        field = app.screen.query_one("#cook-pantry-input", Input)
        field.focus()
        field.value = "1 kg flour"
        await pilot.press("enter")
        await until(pilot, lambda: "1 recipe(s) can be cooked now" in screen_text(app), what="flour on the list")
        text = screen_text(app)
        assert "Pantry list: 1 kg flour" in text
        assert "✓ 2 cup flour  (your pantry)" in text
        assert "◆ 100 g butter → margarine  (your own offer)" in text
        field.value = "-flour"
        await pilot.press("enter")
        await until(pilot, lambda: "Pantry list: empty" in screen_text(app), what="flour off the list")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, CookScreen), what="back to the tabs")
    assert kitchen.call("pantry_list")["items"] == []
