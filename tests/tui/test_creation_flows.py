"""Proposing a meal and adding a recipe through the UI, against a real node
on loopback (one founded household; the tests run in order on it)."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, TextArea

from cli.tui.screens.meal_form import MealForm
from cli.tui.screens.recipe_form import RecipeForm
from meshpantry.pantry.errors import PantryError

from .conftest import app_on, type_text, until, wait_node
from .nodes import run_node
from .screen_text import screen_text

pytestmark = pytest.mark.asyncio(loop_scope="function")


@pytest.fixture(scope="module")
def alder(tmp_path_factory):
    """Alder's node, founder of "Test Close"."""
    node = run_node(tmp_path_factory.mktemp("creation") / "alder", "Alder")
    node.call("create_neighbourhood", name="Test Close", household="Alder", area="north end")
    wait_node(lambda: node.call("whoami").get("neighbourhood"), what="Alder's neighbourhood")
    yield node
    node.stop()


def rows(app, table_id: str) -> list[list[str]]:
    table = app.query_one(f"#{table_id}", DataTable)
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


def form_open(app, form_type) -> bool:
    """``form_type`` is on top and has focused its first field."""
    return isinstance(app.screen, form_type) and app.focused is not None and app.focused.screen is app.screen


def field_text(app, name: str) -> str:
    widget = app.screen.query_one(f"#form-{name}")
    return widget.text if isinstance(widget, TextArea) else widget.value


def error_under(app, name: str) -> str:
    """The message shown under field ``name`` ('' while hidden)."""
    error = app.screen.query_one(f"#error-{name}")
    return str(error.render()) if error.display else ""


async def open_form(pilot, tab: str, form_type) -> None:
    app = pilot.app
    await until(pilot, lambda: app.refreshes > 0, what="the first load")
    await pilot.press(tab)
    await pilot.pause()
    assert "n New" in screen_text(app), "the footer shows the key for the form"
    await pilot.press("n")
    await until(pilot, lambda: form_open(app, form_type), what="the form")


async def test_propose_meal(alder):
    """n on Meals opens the form; Tab moves through it (Enter makes a new need
    line); ctrl+s proposes and the meal is listed at once, needs parsed."""
    app = app_on(alder, follow_events=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "3", MealForm)
        await type_text(pilot, "Bean stew")
        await pilot.press("tab")
        await type_text(pilot, "tomorrow 18:30")
        await pilot.press("tab")
        await type_text(pilot, "the hall")
        await pilot.press("tab")
        assert isinstance(app.focused, TextArea)
        await type_text(pilot, "500 g beans")
        await pilot.press("enter")
        await type_text(pilot, "2 l stock")
        await pilot.press("tab")
        await type_text(pilot, "bring a bowl")
        await pilot.pause()
        assert not app.screen.query_one("#submit").disabled
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, MealForm), what="the form to close")
        # follow_events is off: only the form's own refresh can show it.
        assert [r[0] for r in rows(app, "meals-table")] == ["Bean stew"]
        assert "Bean stew · in " in screen_text(app)
    meal = alder.call("meal_page")["meals"][0]
    assert (meal["dish"], meal["place"], meal["note"]) == ("Bean stew", "the hall", "bring a bowl")
    assert [(n["quantity"], n["unit"], n["item"]) for n in meal["needs"]] == [(500, "g", "beans"), (2, "l", "stock")]
    assert meal["time"] > app.clock()


async def test_meal_form_flags_bad_lines_and_keeps_text(alder):
    """A need line out of order and an unreadable time are flagged under their
    own fields; ctrl+s then stays on the form with everything typed."""
    app = app_on(alder, follow_events=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "3", MealForm)
        await type_text(pilot, "Pancakes")
        await pilot.press("tab")
        await type_text(pilot, "someday")
        await pilot.press("tab")
        await type_text(pilot, "no. 12")
        await pilot.press("tab")
        await type_text(pilot, "2 l milk")
        await pilot.press("enter")
        await type_text(pilot, "flour 500 g")
        await pilot.pause()
        assert error_under(app, "time") == "e.g. tomorrow 18:00, 2026-12-01 19:30, +2h"
        assert error_under(app, "needs") == "line 2: QUANTITY UNIT ITEM, e.g. 500 g rice"
        assert error_under(app, "place") == "" and error_under(app, "dish") == ""
        assert "line 2: QUANTITY UNIT ITEM" in screen_text(app), "the message is on screen at 80x24"
        assert app.screen.query_one("#submit").disabled
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, MealForm)
        assert app.focused is app.screen.query_one("#form-time", Input), "focus goes to the first wrong field"
        assert field_text(app, "needs") == "2 l milk\nflour 500 g"
        assert field_text(app, "time") == "someday"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, MealForm), what="escape to cancel")
    assert [m["dish"] for m in alder.call("meal_page")["meals"]] == ["Bean stew"]


async def test_add_recipe(alder):
    """n on Recipes opens the form; ingredient lines read like the command
    line's (amount, unit, item); the new recipe is listed and selected."""
    app = app_on(alder, follow_events=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "4", RecipeForm)
        await type_text(pilot, "Outage dal")
        await pilot.press("tab")
        await type_text(pilot, "250 g lentils")
        await pilot.press("enter")
        await type_text(pilot, "2 onions")
        await pilot.press("enter")
        await type_text(pilot, "salt to taste")
        await pilot.press("tab")
        await type_text(pilot, "Rinse")
        await pilot.press("enter")
        await type_text(pilot, "Simmer")
        await pilot.press("tab")
        await type_text(pilot, "Lights out.")
        await pilot.press("tab")
        await type_text(pilot, "Punjab")
        await pilot.press("tab")
        await type_text(pilot, "Dal, no power")
        await pilot.press("enter")  # Enter on the last field submits
        await until(pilot, lambda: not isinstance(app.screen, RecipeForm), what="the form to close")
        assert [r[0] for r in rows(app, "recipes-table")] == ["Outage dal"]
        assert "Simmer" in screen_text(app)
    recipe = alder.call("recipe_page")["recipes"][0]
    assert recipe["title"] == "Outage dal"
    assert [(i.get("amount"), i.get("unit"), i["item"]) for i in recipe["ingredients"]] == [
        ("250", "g", "lentils"), ("2", None, "onions"), (None, None, "salt to taste")]
    assert [s["text"] for s in recipe["steps"]] == ["Rinse", "Simmer"]
    assert (recipe["story"], recipe["origin"]) == ("Lights out.", "Punjab")
    assert recipe["tags"] == ["dal", "no power"]


async def test_recipe_form_flags_bad_line_and_survives_refusal(alder):
    """An ingredient line without an item is flagged under Ingredients; once
    fixed, a node refusal leaves the form open with the text; then it goes in."""
    app = app_on(alder, follow_events=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_form(pilot, "4", RecipeForm)
        await type_text(pilot, "Flatbread")
        await pilot.press("tab")
        await type_text(pilot, "300 g flour")
        await pilot.press("enter")
        await type_text(pilot, "2")
        await pilot.pause()
        assert error_under(app, "ingredients") == "line 2: AMOUNT UNIT ITEM, e.g. 1.5 cup flour"
        assert app.screen.query_one("#form-ingredients").has_class("-invalid")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RecipeForm)
        assert field_text(app, "ingredients") == "300 g flour\n2"
        await type_text(pilot, " tsp salt")
        await pilot.pause()
        assert error_under(app, "ingredients") == ""
        real_call = app.client.call

        async def refuse(op, **args):
            if op == "recipe_add":
                raise PantryError("the node is refusing recipes today")
            return await real_call(op, **args)

        app.client.call = refuse
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.errors, what="the refusal")
        assert app.errors[-1] == "the node is refusing recipes today"
        assert isinstance(app.screen, RecipeForm), "a refusal keeps the form open"
        assert field_text(app, "title") == "Flatbread"
        assert field_text(app, "ingredients") == "300 g flour\n2 tsp salt"
        app.client.call = real_call
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, RecipeForm), what="the form to close")
        assert app.pane("recipes").selected()["title"] == "Flatbread", "the cursor is on the new recipe"
    flatbread = next(r for r in alder.call("recipe_page")["recipes"] if r["title"] == "Flatbread")
    assert [(i.get("amount"), i.get("unit"), i["item"]) for i in flatbread["ingredients"]] == [
        ("300", "g", "flour"), ("2", "tsp", "salt")]
