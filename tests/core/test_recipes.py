"""Recipes: concurrent step edits, tombstones, last-writer-wins fields, credits, lineage."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from meshpantry.core.sequence import Sequence
from meshpantry.core.state import build_state

from .records import TestNeighbourhood, insert_ingredient, insert_step, remove_ingredient, remove_step


def kitchen() -> tuple[TestNeighbourhood, list]:
    nb = TestNeighbourhood()
    return nb, [nb.founder, nb.join(2, name="Bea"), nb.join(3, name="Cy")]


def steps(state, recipe) -> list[str]:
    return [s.text for s in state.recipes[recipe.id].steps]


def test_concurrent_inserts_at_one_place_both_survive_in_a_fixed_order():
    """Bea and Cy, cut off from each other, both add a step after "boil".

        boil ─┬─ (Bea) salt   ──▶ boil, <newer of the two>, <older>, serve
              └─ (Cy)  stir
    """
    nb, (ada, bea, cy) = kitchen()
    recipe = nb.recipe(ada, steps=["boil", "serve"])
    before = list(nb.records)
    e1 = nb.edit_recipe(bea, recipe, ops=[insert_step("salt", (recipe.id, 0))], observe=before)
    e2 = nb.edit_recipe(cy, recipe, ops=[insert_step("stir", (recipe.id, 0))], observe=before)
    newer, older = sorted([e1, e2], key=lambda e: (e.lamport, e.id), reverse=True)
    expected = ["boil", newer.body["ops"][0]["text"], older.body["ops"][0]["text"], "serve"]
    for order in range(6):
        records = list(nb.records)
        random.Random(order).shuffle(records)
        assert steps(build_state(records, nb.id), recipe) == expected


def test_an_insert_lands_right_after_its_anchor_even_past_older_inserts():
    nb, (ada, bea, cy) = kitchen()
    recipe = nb.recipe(ada, steps=["boil", "serve"])
    nb.edit_recipe(bea, recipe, ops=[insert_step("salt", (recipe.id, 0))])
    nb.edit_recipe(cy, recipe, ops=[insert_step("taste", (recipe.id, 0))])
    assert steps(build_state(nb.records, nb.id), recipe) == ["boil", "taste", "salt", "serve"]


def test_one_edit_keeps_its_own_order_and_may_chain_on_itself():
    nb, (ada, bea, _) = kitchen()
    recipe = nb.recipe(ada, steps=["boil"])
    edit_id_ops = [insert_step("a", (recipe.id, 0)), insert_step("b", (recipe.id, 0))]
    e1 = nb.edit_recipe(bea, recipe, ops=edit_id_ops)
    nb.edit_recipe(ada, recipe, ops=[insert_step("first"), insert_step("second", None)])
    chained = nb.edit_recipe(bea, recipe, ops=[insert_step("x", (e1.id, 1))])
    nb.edit_recipe(bea, recipe, ops=[insert_step("y", (chained.id, 0)), insert_step("z", None)])
    state = build_state(nb.records, nb.id)
    assert steps(state, recipe) == ["z", "first", "second", "boil", "a", "b", "x", "y"]


def test_removal_is_a_tombstone_that_still_anchors_inserts():
    nb, (ada, bea, cy) = kitchen()
    recipe = nb.recipe(ada, steps=["boil", "serve"])
    before = list(nb.records)
    nb.edit_recipe(bea, recipe, ops=[remove_step((recipe.id, 0))], observe=before)
    nb.edit_recipe(cy, recipe, ops=[insert_step("salt", (recipe.id, 0))], observe=before)
    nb.edit_recipe(ada, recipe, ops=[remove_step((recipe.id, 0))])  # removing twice is harmless
    assert steps(build_state(nb.records, nb.id), recipe) == ["salt", "serve"]


@settings(max_examples=60, deadline=None)
@given(plan=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 50), st.booleans()), max_size=12))
def test_every_insert_survives_exactly_once_unless_removed(plan):
    """Three devices insert and remove steps while seeing random subsets of each other."""
    nb, cooks = kitchen()
    recipe = nb.recipe(cooks[0], steps=["s0", "s1"])
    elements = [(recipe.id, 0), (recipe.id, 1)]
    seen = {c.seed: [*nb.records] for c in cooks}
    inserted, removed = {"s0", "s1"}, set()
    for n, (who, anchor, remove) in enumerate(plan):
        cook = cooks[who]
        known = {r.id for r in seen[cook.seed]}
        visible = [e for e in elements if e[0] in known]
        target = visible[anchor % len(visible)]
        if remove:
            op = remove_step(target)
        else:
            op = insert_step(f"t{n}", target)
        edit = nb.edit_recipe(cook, recipe, ops=[op], observe=seen[cook.seed])
        seen[cook.seed].append(edit)
        if remove:
            removed.add(target)
        else:
            inserted.add(f"t{n}")
            elements.append((edit.id, 0))
            for other in cooks:  # others learn of it at once, half the time
                if n % 2:
                    seen[other.seed].append(edit)
    texts = {**{(recipe.id, i): f"s{i}" for i in range(2)}}
    for record in nb.records:
        if record.kind == "recipe_edit" and record.body["ops"][0]["op"] == "insert_step":
            texts[(record.id, 0)] = record.body["ops"][0]["text"]
    state = build_state(nb.records, nb.id)
    assert len(state.rejected) == 0
    listed = steps(state, recipe)
    assert sorted(listed) == sorted(inserted - {texts[e] for e in removed})
    assert steps(build_state(list(reversed(nb.records)), nb.id), recipe) == listed


def test_ingredients_fields_credits_and_lineage():
    nb, (ada, bea, cy) = kitchen()
    recipe = nb.recipe(
        ada, "outage bread", steps=["mix"], ingredients=[{"item": "flour", "amount": "500", "unit": "g"}],
        origin="Elm Street", tags=["born in the outage"], story="We had no oven.",
    )
    nb.edit_recipe(
        bea, recipe, set={"serves": 4, "title": "Outage bread"},
        ops=[insert_ingredient("water", (recipe.id, 0), amount="1/2", unit="l"), remove_ingredient((recipe.id, 0))],
    )
    nb.story(cy, recipe, "Baked on a camping stove.")
    variation = nb.recipe(cy, "outage flatbread", adapted_from=recipe.id)
    state = build_state(nb.records, nb.id)
    view = state.recipes[recipe.id]
    assert view.title == "Outage bread" and view.serves == 4 and view.origin == "Elm Street"
    assert [(i.item, i.amount, i.unit) for i in view.ingredients] == [("water", "1/2", "l")]
    assert view.story == "We had no oven." and view.tags == ("born in the outage",)
    assert [state.stories[s].text for s in view.stories] == ["Baked on a camping stove."]
    assert view.contributors == (ada.public, bea.public, cy.public)
    assert view.editors == (bea.public,) and view.storytellers == (cy.public,)
    assert view.variations == (variation.id,)
    assert state.recipes[variation.id].adapted_from == recipe.id


def test_sequence_order_does_not_depend_on_insertion_order():
    """The same elements inserted in two causal orders list identically."""
    ops = [((b"a", 0), None, 1), ((b"b", 0), (b"a", 0), 2), ((b"c", 0), (b"a", 0), 2), ((b"d", 0), None, 3)]
    one, two = Sequence("steps"), Sequence("steps")
    for element, after, lamport in ops:
        one.insert(element, after, lamport, element[0].decode())
    for element, after, lamport in [ops[0], ops[3], ops[2], ops[1]]:
        two.insert(element, after, lamport, element[0].decode())
    assert one.values() == two.values() == ["d", "a", "c", "b"]
