"""The recipe book: recipes, their communal edits, stories and lineage.

Rules:

* Any member may edit any recipe or tell a story about it: the book is communal.
* ``title``, ``origin``, ``tags`` and ``serves`` are last-writer-wins per field,
  ordered by (lamport, author, record id) over the recipe and its edits' ``set``.
* Steps and ingredient lines are two :class:`~meshpantry.core.sequence.Sequence`
  lists. A recipe's ``i``-th step is element ``(recipe id, i)`` and so is its
  ``i``-th ingredient line, each in its own list; a ``recipe_edit``'s ``k``-th
  operation inserts element ``(edit id, k)``. An operation may name an element
  inserted by an earlier operation of the same edit.
* An edit is all or nothing: if any operation names an element that is not in
  that list (:class:`UnknownElement`), the whole edit is rejected.
* Contributors are households, credited in order of their first contribution:
  the creator, then editors and storytellers.
* Lineage: ``adapted_from`` is kept as written, whether or not that recipe is
  held; ``variations`` lists the held recipes adapted from this one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocol import Record
from protocol.kinds import RECIPE_SET_FIELDS

from .sequence import ElementId, Sequence
from .validation import UnknownElement

STEPS, INGREDIENTS = "steps", "ingredients"

_OP_SEQUENCE = {
    "insert_step": STEPS,
    "remove_step": STEPS,
    "insert_ingredient": INGREDIENTS,
    "remove_ingredient": INGREDIENTS,
}


@dataclass(frozen=True, slots=True)
class IngredientLine:
    element: ElementId  #: name this line in an edit's ``after`` / ``target``
    item: str
    amount: str | None
    unit: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class Step:
    element: ElementId
    text: str


@dataclass(frozen=True, slots=True)
class StoryView:
    id: bytes
    recipe: bytes
    author: bytes
    household: bytes
    title: str | None
    text: str
    created: int  #: advisory time, ms


@dataclass(frozen=True, slots=True)
class RecipeView:
    """A recipe as the neighbourhood has shaped it. Tuples are in list order;
    ``stories`` and ``variations`` in (lamport, id) order."""

    id: bytes
    author: bytes
    household: bytes  #: the creator
    created: int
    lamport: int
    title: str
    origin: str | None
    tags: tuple[str, ...]
    serves: int | None
    ingredients: tuple[IngredientLine, ...]
    steps: tuple[Step, ...]
    story: str | None
    stories: tuple[bytes, ...]
    contributors: tuple[bytes, ...]
    editors: tuple[bytes, ...]
    storytellers: tuple[bytes, ...]
    adapted_from: bytes | None
    variations: tuple[bytes, ...]
    updated: int  #: advisory time of the last counted edit or story


@dataclass
class _Recipe:
    record: Record
    household: bytes
    fields: dict[str, Any]
    stamps: dict[str, tuple]
    sequences: dict[str, Sequence]
    updated: int
    stories: list[bytes] = field(default_factory=list)
    contributors: dict[bytes, None] = field(default_factory=dict)
    editors: dict[bytes, None] = field(default_factory=dict)
    storytellers: dict[bytes, None] = field(default_factory=dict)


def _stamp(record: Record) -> tuple:
    return (record.lamport, record.author, record.id)


def edit_elements(record: Record) -> list[bytes]:
    """Ids of the other records whose elements a ``recipe_edit`` names."""
    named = []
    for op in record.body.get("ops", ()):
        ref = op.get("after") if op["op"].startswith("insert") else op["target"]
        if ref is not None and ref[0] != record.id:
            named.append(ref[0])
    return named


class RecipeFold:
    """Accumulates recipe records in (lamport, id) order; see the module rules.
    Methods raise :class:`ValidationError` for a record that does not count."""

    def __init__(self) -> None:
        self._recipes: dict[bytes, _Recipe] = {}
        self._stories: dict[bytes, StoryView] = {}

    def recipe(self, record: Record, household: bytes) -> None:
        body = record.body
        fields = {name: body.get(name) for name in RECIPE_SET_FIELDS}
        sequences = {STEPS: Sequence(STEPS), INGREDIENTS: Sequence(INGREDIENTS)}
        for name, items in ((STEPS, body.get("steps", ())), (INGREDIENTS, body.get("ingredients", ()))):
            after = None
            for i, value in enumerate(items):
                sequences[name].insert((record.id, i), after, record.lamport, value)
                after = (record.id, i)
        recipe = _Recipe(
            record, household, fields, dict.fromkeys(fields, _stamp(record)), sequences, record.time
        )
        recipe.contributors[household] = None
        self._recipes[record.id] = recipe

    def recipe_edit(self, record: Record, household: bytes) -> None:
        recipe = self._recipes[record.body["recipe"]]
        ops = record.body.get("ops", ())
        self._check_ops(record.id, ops, recipe.sequences)
        for k, op in enumerate(ops):
            sequence = recipe.sequences[_OP_SEQUENCE[op["op"]]]
            if op["op"].startswith("insert"):
                after = op.get("after")
                value = op["text"] if op["op"] == "insert_step" else _line(op)
                sequence.insert((record.id, k), _ref(after), record.lamport, value)
            else:
                sequence.remove(_ref(op["target"]))
        stamp = _stamp(record)
        for name, value in record.body.get("set", {}).items():
            if name in recipe.fields and stamp > recipe.stamps[name]:
                recipe.fields[name], recipe.stamps[name] = value, stamp
        recipe.updated = max(recipe.updated, record.time)
        recipe.contributors.setdefault(household, None)
        recipe.editors.setdefault(household, None)

    @staticmethod
    def _check_ops(edit_id: bytes, ops: list, sequences: dict[str, Sequence]) -> None:
        own: dict[int, str] = {}  # index -> sequence of this edit's earlier inserts
        for k, op in enumerate(ops):
            name = _OP_SEQUENCE[op["op"]]
            ref = op.get("after") if op["op"].startswith("insert") else op["target"]
            if ref is not None:
                element = _ref(ref)
                if element[0] == edit_id:
                    if own.get(element[1]) != name:
                        raise UnknownElement(name, element)
                elif element not in sequences[name]:
                    raise UnknownElement(name, element)
            if op["op"].startswith("insert"):
                own[k] = name

    def story(self, record: Record, household: bytes) -> None:
        recipe = self._recipes[record.body["recipe"]]
        recipe.stories.append(record.id)
        recipe.contributors.setdefault(household, None)
        recipe.storytellers.setdefault(household, None)
        recipe.updated = max(recipe.updated, record.time)
        self._stories[record.id] = StoryView(
            record.id,
            recipe.record.id,
            record.author,
            household,
            record.body.get("title"),
            record.body["text"],
            record.time,
        )

    def finish(self) -> tuple[dict[bytes, RecipeView], dict[bytes, StoryView]]:
        """Return (recipes, stories) views keyed by id in (lamport, id) order."""
        variations: dict[bytes, list[bytes]] = {}
        for recipe_id, recipe in self._recipes.items():
            origin = recipe.record.body.get("adapted_from")
            if origin is not None:
                variations.setdefault(origin, []).append(recipe_id)
        views = {
            recipe_id: _view(recipe, tuple(variations.get(recipe_id, ())))
            for recipe_id, recipe in self._recipes.items()
        }
        return views, dict(self._stories)


def _ref(value: list | None) -> ElementId | None:
    return None if value is None else (value[0], value[1])


def _line(op: dict) -> dict:
    return {key: op[key] for key in ("item", "amount", "unit", "note") if key in op}


def _view(recipe: _Recipe, variations: tuple[bytes, ...]) -> RecipeView:
    record, f = recipe.record, recipe.fields
    ingredients = tuple(
        IngredientLine(element, line["item"], line.get("amount"), line.get("unit"), line.get("note"))
        for element, line in recipe.sequences[INGREDIENTS].items()
    )
    steps = tuple(Step(element, text) for element, text in recipe.sequences[STEPS].items())
    return RecipeView(
        id=record.id,
        author=record.author,
        household=recipe.household,
        created=record.time,
        lamport=record.lamport,
        title=f["title"],
        origin=f["origin"],
        tags=tuple(f["tags"] or ()),
        serves=f["serves"],
        ingredients=ingredients,
        steps=steps,
        story=record.body.get("story"),
        stories=tuple(recipe.stories),
        contributors=tuple(recipe.contributors),
        editors=tuple(recipe.editors),
        storytellers=tuple(recipe.storytellers),
        adapted_from=record.body.get("adapted_from"),
        variations=variations,
        updated=recipe.updated,
    )
