"""The new-meal and new-recipe forms' checks (pure: no node, no screen)."""

from __future__ import annotations

from cli.tui.meal_rules import MAX_LABEL_BYTES, check_meal
from cli.tui.recipe_rules import check_recipe, split_tags

NOW = 1_795_608_000_000
HOUR_MS = 3_600_000


def meal(**fields: str) -> dict[str, str]:
    return {"dish": "Soup", "time": "+2h", "place": "the hall", "needs": "", "note": "", **fields}


def test_meal_check_builds_meal_add_arguments():
    """Blank need lines are skipped; times read like the command line's."""
    result = check_meal(meal(needs="500 g rice\n\n  2 l stock  \n", note=" bowls "), NOW)
    assert result.ok, result.errors
    assert result.args == {"dish": "Soup", "time": NOW + 2 * HOUR_MS, "place": "the hall", "note": "bowls",
                           "needs": [{"quantity": 500, "unit": "g", "item": "rice"},
                                     {"quantity": 2, "unit": "l", "item": "stock"}]}


def test_meal_check_names_each_bad_field():
    result = check_meal(meal(dish="", time="someday", place="x" * (MAX_LABEL_BYTES + 1)), NOW)
    assert set(result.errors) == {"dish", "time", "place"}
    assert result.errors["place"] == f"at most {MAX_LABEL_BYTES} bytes"


def test_meal_check_refuses_past_times_and_bad_need_lines():
    assert check_meal(meal(time="-2h"), NOW).errors["time"].startswith("e.g.")
    assert check_meal(meal(time="2020-01-01 18:00"), NOW).errors["time"] == "that is already past"
    assert check_meal(meal(needs="1 kg rice\nrice 1 kg"), NOW).errors["needs"].startswith("line 2: QUANTITY UNIT ITEM")
    assert check_meal(meal(needs="0 kg rice"), NOW).errors["needs"] == "line 1: a quantity of at least 1"
    assert check_meal(meal(needs="10000000000000 g rice"), NOW).errors["needs"].startswith("line 1: at most")


def test_recipe_check_reads_ingredient_lines_like_the_command_line():
    result = check_recipe({"title": " Dal ", "ingredients": "1.5 cup lentils\n2 onions\nsalt to taste\n1/2 tsp cumin",
                           "steps": "Rinse\n\nSimmer", "story": "", "origin": "Punjab", "tags": "Soup, born in the outage,"})
    assert result.ok, result.errors
    assert result.args["title"] == "Dal"
    assert result.args["ingredients"] == [{"amount": "1.5", "unit": "cup", "item": "lentils"},
                                          {"amount": "2", "item": "onions"}, {"item": "salt to taste"},
                                          {"amount": "1/2", "unit": "tsp", "item": "cumin"}]
    assert result.args["steps"] == ["Rinse", "Simmer"]
    assert result.args["tags"] == ["born in the outage", "soup"] and "story" not in result.args


def test_recipe_check_flags_lines_the_node_would_refuse():
    assert check_recipe({"title": ""}).errors == {"title": "what is the dish called?"}
    assert check_recipe({"title": "T", "ingredients": "flour\n3"}).errors["ingredients"].startswith("line 2:")
    assert check_recipe({"title": "T", "ingredients": "1/0 cup flour"}).errors["ingredients"] == "line 1: 1/0 divides by zero"
    assert "tags" in check_recipe({"title": "T", "tags": "x" * (MAX_LABEL_BYTES + 1)}).errors


def test_tags_split_on_commas_only():
    assert split_tags(" Born in the outage ,veg,,VEG ") == ["born in the outage", "veg"]
