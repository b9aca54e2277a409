"""Recipes: the neighbourhood's communal recipe book."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from .numbers import whole_number
from .output import emit, short, table, waiting_words
from .paging import add_paging, emit_paged
from .session import Household, Subcommands
from .terminal_text import terminal_safe

_NOTE = re.compile(r"^(.*\S)\s*\(([^()]*)\)\s*$")
_AMOUNT = re.compile(r"^(\d{1,9}(\.\d{1,6})?|\d{1,9}/\d{1,9})$")


def parse_ingredient(text: str) -> dict:
    """``'1.5 cup flour'`` -> amount, unit, item; ``'2 eggs'`` -> amount, item;
    ``'salt to taste'`` -> item. A leading number is the amount; when two or
    more words follow it, the first of them is the unit. A closing
    parenthesis is the line's note, where substitutes are recorded:
    ``'100 g butter (or margarine)'``."""
    note = None
    found = _NOTE.match(text)
    if found:
        text, note = found.group(1), found.group(2).strip() or None
    words = text.split()
    if not words:
        raise argparse.ArgumentTypeError("an ingredient needs at least an item")
    line: dict = {}
    if _AMOUNT.match(words[0]):
        line["amount"] = words.pop(0)
        if len(words) >= 2:
            line["unit"] = words.pop(0)
    if not words:
        raise argparse.ArgumentTypeError(f"{text!r} names no item")
    line["item"] = " ".join(words)
    if note:
        line["note"] = note
    return line


def _ingredient(text: str) -> dict:
    return parse_ingredient(text)


def register(commands: Subcommands, common: argparse.ArgumentParser) -> None:
    recipe = commands.add_parser("recipe", parents=[common], help="the communal recipe book").add_subparsers(dest="action", metavar="ACTION", required=True)
    p = recipe.add_parser("add", parents=[common], help="add a recipe (or a variation with --adapted-from)")
    p.add_argument("title")
    p.add_argument("--ingredient", dest="ingredients", type=_ingredient, action="append", default=[], help="'AMOUNT UNIT ITEM (NOTE)', e.g. '1.5 cup flour', '100 g butter (or margarine)' (repeatable)")
    p.add_argument("--step", dest="steps", action="append", default=[], help="one step, in order (repeatable)")
    p.add_argument("--story", help="the story behind the dish")
    p.add_argument("--origin", help="cultural origin")
    p.add_argument("--tag", dest="tags", action="append", default=[], help="e.g. 'born in the outage' (repeatable)")
    p.add_argument("--serves", type=whole_number())
    p.add_argument("--adapted-from", help="id of the recipe this one varies")
    p.set_defaults(handler=cmd_recipe_add)

    p = recipe.add_parser("edit", parents=[common], help="change a recipe: fields, steps, ingredient lines")
    p.add_argument("recipe")
    p.add_argument("--title")
    p.add_argument("--origin")
    p.add_argument("--tag", dest="tags", action="append", default=None)
    p.add_argument("--serves", type=whole_number())
    p.add_argument("--add-step", help="text of a new step")
    p.add_argument("--after", type=whole_number(), default=None, help="position to insert after (default: at the end; 0 = first)")
    p.add_argument("--remove-step", type=whole_number(), action="append", default=[], help="position of a step to remove")
    p.add_argument("--add-ingredient", type=_ingredient, help="'AMOUNT UNIT ITEM'")
    p.add_argument("--remove-ingredient", type=whole_number(), action="append", default=[])
    p.set_defaults(handler=cmd_recipe_edit)

    p = recipe.add_parser("story", parents=[common], help="add a story to a recipe")
    p.add_argument("recipe")
    p.add_argument("text")
    p.add_argument("--title")
    p.set_defaults(handler=lambda a, pantry: emit(a, pantry.recipe_story(a.recipe, a.text, a.title), render_recipe))

    p = recipe.add_parser("show", parents=[common], help="a recipe with steps, stories, contributors and lineage")
    p.add_argument("recipe")
    p.set_defaults(read_only=True, handler=lambda a, pantry: emit(a, pantry.recipe_show(a.recipe), render_recipe))

    p = recipe.add_parser("list", parents=[common], help="the recipe book")
    p.add_argument("--search")
    add_paging(p, "recipes")
    p.set_defaults(read_only=True, handler=cmd_recipe_list)

    p = recipe.add_parser("export", parents=[common], help="export the recipe book")
    p.add_argument("--format", choices=("markdown", "html"), default="markdown")
    p.add_argument("--output", "-o", type=Path, help="file to write (default: standard output)")
    p.set_defaults(read_only=True, handler=cmd_recipe_export)


def cmd_recipe_add(args: argparse.Namespace, pantry: Household) -> None:
    result = pantry.recipe_add(
        args.title, ingredients=args.ingredients, steps=args.steps, story=args.story,
        origin=args.origin, tags=args.tags, serves=args.serves, adapted_from=args.adapted_from,
    )
    emit(args, result, render_recipe)


def cmd_recipe_edit(args: argparse.Namespace, pantry: Household) -> None:
    current = pantry.recipe_show(args.recipe)
    add_steps = []
    if args.add_step:
        after = len(current["steps"]) if args.after is None else args.after
        add_steps.append((after, args.add_step))
    add_ingredients = []
    if args.add_ingredient:
        after = len(current["ingredients"]) if args.after is None else args.after
        add_ingredients.append((after, args.add_ingredient))
    result = pantry.recipe_edit(
        args.recipe, title=args.title, origin=args.origin, tags=args.tags, serves=args.serves,
        add_steps=add_steps, remove_steps=args.remove_step,
        add_ingredients=add_ingredients, remove_ingredients=args.remove_ingredient,
    )
    emit(args, result, render_recipe)


def cmd_recipe_list(args: argparse.Namespace, pantry: Household) -> None:
    emit_paged(args, lambda after: pantry.recipe_page(search=args.search, limit=args.limit, after=after), "recipes",
               lambda rs: table(
                   [(short(r["id"]), r["title"], r.get("origin") or "", ",".join(r.get("tags") or []), ", ".join(r["contributors"])) for r in rs],
                   ["id", "title", "origin", "tags", "contributors"],
               ), "The recipe book is empty. Add one with 'meshpantry recipe add TITLE'.", "meshpantry recipe list")


def cmd_recipe_export(args: argparse.Namespace, pantry: Household) -> int:
    text = pantry.recipe_export(args.format)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(terminal_safe(text, newlines=True))
    return 0


def render_recipe(r: dict) -> str:
    if waiting_words(r):
        return waiting_words(r)
    lines = [f"{r['title']}  ({r['id']})"]
    meta = [x for x in (r.get("origin"), f"serves {r['serves']}" if r.get("serves") else None, ", ".join(r.get("tags") or [])) if x]
    if meta:
        lines.append(" | ".join(meta))
    if r.get("adapted_from"):
        lines.append(f"adapted from {r['adapted_from']['title']} ({short(r['adapted_from']['id'])})")
    if r.get("ingredients"):
        lines.append("\nIngredients")
        for i in r["ingredients"]:
            lines.append(f"  {i['position']:>2}. " + " ".join(x for x in (i.get("amount"), i.get("unit"), i["item"]) if x)
                         + (f" ({i['note']})" if i.get("note") else ""))
    if r.get("steps"):
        lines.append("\nSteps")
        for s in r["steps"]:
            lines.append(f"  {s['position']:>2}. {s['text']}")
    if r.get("story"):
        lines.append("\n" + r["story"])
    for story in r.get("stories") or []:
        lines.append(f"\n{story.get('title') or 'A story'} - {story['household_name']}\n{story['text']}")
    if r.get("variations"):
        lines.append("\nVariations: " + ", ".join(f"{v['title']} ({short(v['id'])})" for v in r["variations"]))
    lines.append("\nContributors: " + ", ".join(r["contributors"]))
    return "\n".join(lines)
