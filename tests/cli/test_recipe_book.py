"""The recipe book: variations start from their parent, and the exported
book shows its family tree and the recipes born in the outage."""

from __future__ import annotations

import time

from meshpantry.core.outage import OutageClock
from meshpantry.pantry import Pantry
from meshpantry.pantry.outage_info import save_clock


def test_a_variation_starts_from_its_parents_steps_and_ingredients(founded):
    parent = founded.json("recipe", "add", "Leek soup", "--ingredient", "4 pc leeks",
                          "--ingredient", "30 g butter (or oil)", "--step", "Sweat the leeks", "--step", "Add stock")
    child = founded.json("recipe", "add", "Leek and potato soup", "--adapted-from", parent["id"][:8])
    assert [s["text"] for s in child["steps"]] == ["Sweat the leeks", "Add stock"]
    assert [(i["item"], i["amount"], i["unit"], i["note"]) for i in child["ingredients"]] == [
        ("leeks", "4", "pc", None), ("butter", "30", "g", "or oil")]
    own = founded.json("recipe", "add", "Leek pie", "--adapted-from", parent["id"][:8], "--step", "Line the tin")
    assert [s["text"] for s in own["steps"]] == ["Line the tin"] and len(own["ingredients"]) == 2


def test_the_book_has_a_family_tree_and_the_recipes_born_in_the_outage(founded, tmp_path):
    stew = founded.json("recipe", "add", "Stew", "--step", "Simmer")
    founded.json("recipe", "add", "Outage stew", "--adapted-from", stew["id"][:8])
    pantry = Pantry.open(founded.data_dir)
    save_clock(pantry.store, OutageClock(), OutageClock(began=pantry.clock() + 1))  # after the stews
    pantry.close()
    time.sleep(0.01)
    founded.json("recipe", "add", "Camping-stove rice", "--step", "Boil")  # written in the outage: no tag needed
    code, out, _ = founded.run("recipe", "export")
    tree = out.split("## Family tree")[1].split("## Born in the outage")[0]
    assert "- [Stew](#r-" in tree and "  - [Outage stew](#r-" in tree
    born = out.split("## Born in the outage")[1].split("## Camping")[0]
    assert "Camping-stove rice" in born and "Outage stew" not in born
    html = founded.run("recipe", "export", "--format", "html")[1]
    assert '<section id="born-in-the-outage">' in html and '<nav id="lineage">' in html and "<script" not in html
