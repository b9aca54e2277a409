"""Checking the new-recipe form as the user types (inline validation).

:func:`check_recipe` turns the form's raw text into the arguments of the
node's ``recipe_add`` plus a message per wrong field. Ingredient lines read
like the command line's ``--ingredient``
(:func:`cli.commands_recipes.parse_ingredient`). It never raises.
"""

from __future__ import annotations

from cli.commands_recipes import parse_ingredient
from protocol import limits

from .meal_rules import label_error, lines_of, parsed_lines
from .offer_rules import OfferCheck as FormCheck

#: The record schema's own bounds: the form says so before the node refuses.
MAX_LABEL_BYTES = limits.MAX_LABEL_BYTES
MAX_TEXT_BYTES = limits.MAX_TEXT_BYTES
MAX_LINES = limits.MAX_LIST_ITEMS

FIELDS = ("title", "ingredients", "steps", "story", "origin", "tags")


def split_tags(text: str) -> list[str]:
    """``"Soup, born in the outage,"`` -> ``["born in the outage", "soup"]``:
    comma separated (a tag may hold spaces), lowercased as the node stores them."""
    return sorted({part.strip().lower() for part in text.split(",") if part.strip()})


def ingredient_error(number: int, line: dict) -> str | None:
    """What is wrong with one parsed ingredient line, or None."""
    if any(len(line.get(k, "").encode()) > MAX_LABEL_BYTES for k in ("item", "unit")):
        return f"line {number}: item and unit at most {MAX_LABEL_BYTES} bytes each"
    amount = line.get("amount", "")
    if "/" in amount and int(amount.rsplit("/", 1)[1]) == 0:
        return f"line {number}: {amount} divides by zero"
    return None


def check_recipe(raw: dict[str, str]) -> FormCheck:
    """Check the form's text (names in :data:`FIELDS`; ``ingredients`` one
    ``AMOUNT UNIT ITEM`` a line, ``steps`` one a line, ``tags`` comma
    separated). Returns args for ``recipe_add`` and errors."""
    result = FormCheck()
    text = {name: (raw.get(name) or "") for name in FIELDS}
    title = text["title"].strip()
    error = label_error(title, "what is the dish called?")
    if error:
        result.errors["title"] = error
    result.args["title"] = title
    ingredients, error = parsed_lines(
        text["ingredients"], parse_ingredient, ingredient_error, "AMOUNT UNIT ITEM, e.g. 1.5 cup flour"
    )
    if error:
        result.errors["ingredients"] = error
    steps = [line for _, line in lines_of(text["steps"])]
    too_long = next((n for n, line in lines_of(text["steps"]) if len(line.encode()) > MAX_TEXT_BYTES), None)
    if too_long is not None:
        result.errors["steps"] = f"line {too_long}: at most {MAX_TEXT_BYTES} bytes"
    for name, found in (("ingredients", ingredients), ("steps", steps)):
        if len(found) > MAX_LINES:
            result.errors[name] = f"at most {MAX_LINES} lines"
    result.args["ingredients"] = ingredients
    result.args["steps"] = steps
    story = text["story"].strip()
    if story:
        if len(story.encode()) > MAX_TEXT_BYTES:
            result.errors["story"] = f"at most {MAX_TEXT_BYTES} bytes"
        result.args["story"] = story
    origin = text["origin"].strip()
    if origin:
        if len(origin.encode()) > MAX_LABEL_BYTES:
            result.errors["origin"] = f"at most {MAX_LABEL_BYTES} bytes"
        result.args["origin"] = origin
    tags = split_tags(text["tags"])
    if any(len(tag.encode()) > MAX_LABEL_BYTES for tag in tags):
        result.errors["tags"] = f"each tag at most {MAX_LABEL_BYTES} bytes"
    elif len(tags) > MAX_LINES:
        result.errors["tags"] = f"at most {MAX_LINES} tags"
    result.args["tags"] = tags
    return result
