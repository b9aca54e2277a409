"""The pantry list stays on the device; 'cook' says what can be cooked now."""

from __future__ import annotations

from tests.cli.conftest import exchange


def test_the_pantry_list_is_kept_on_this_device_only(pair):
    okafors, zhengs = pair
    before = len(okafors.records())
    assert okafors.run("pantry", "add", "2", "kg", "flour")[0] == 0
    assert okafors.json("pantry", "add", "salt")["items"] == [{"amount": "2", "item": "flour", "unit": "kg"}, {"item": "salt"}]
    assert len(okafors.records()) == before  # nothing signed, nothing to gossip
    exchange(okafors, zhengs)
    assert zhengs.json("pantry", "list")["items"] == []
    assert okafors.json("pantry", "remove", "Flour")["removed"] == "flour"
    code, _, err = okafors.run("pantry", "remove", "saffron")
    assert code == 4 and "saffron" in err


def test_cook_matches_recipes_with_the_list_offers_and_substitutes(pair):
    okafors, zhengs = pair
    assert okafors.run("recipe", "add", "Candle-light flatbread", "--ingredient", "2 cup flour",
                       "--ingredient", "100 g butter (or margarine)", "--ingredient", "1 tsp salt")[0] == 0
    assert okafors.run("recipe", "add", "Outage stew", "--ingredient", "500 g potatoes", "--ingredient", "2 leeks")[0] == 0
    assert zhengs.run("offer", "add", "margarine", "250", "g")[0] == 0
    exchange(okafors, zhengs)
    okafors.run("pantry", "add", "flour")
    okafors.run("pantry", "add", "salt")
    result = okafors.json("cook")
    assert [(r["title"], r["ready"]) for r in result["recipes"]] == [("Candle-light flatbread", True), ("Outage stew", False)]
    bread, stew = result["recipes"]
    assert bread["substitutions"] == [{"item": "butter", "use": "margarine"}]
    assert bread["lines"][1]["offer"]["household_name"] == "The Zhengs"
    assert stew["missing"] == ["potatoes", "leeks"]
    assert [r["title"] for r in okafors.json("cook", "--ready")["recipes"]] == ["Candle-light flatbread"]
    code, out, _ = okafors.run("cook")
    assert "COOK NOW" in out and "-> margarine: The Zhengs offers 250 g" in out and "MISSING  500 g potatoes" in out


def test_a_recipe_line_records_its_substitutes(founded):
    founded.run("recipe", "add", "Pie", "--ingredient", "100 g butter (or margarine, or lard)")
    line = founded.json("recipe", "list")["recipes"][0]
    shown = founded.json("recipe", "show", line["id"])["ingredients"][0]
    assert shown == {"position": 1, "item": "butter", "amount": "100", "unit": "g", "note": "or margarine, or lard"}
