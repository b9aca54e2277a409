"""The new-recipe form: title, ingredients, steps, story, origin, tags."""

from __future__ import annotations

from textual.binding import Binding

from ..answers import Answer, Args
from ..recipe_rules import check_recipe
from .checked_form import CheckedForm, FormCheck


class RecipeForm(CheckedForm):
    """Add a recipe of one's own to the communal book."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "submit", "Add")]
    title_text = "Add a recipe"
    submit_text = "Add"
    fields = (
        ("title", "Title", "leek soup", 1),
        ("ingredients", "Ingredients", "one a line: 1.5 cup flour", 4),
        ("steps", "Steps", "one a line, in order", 3),
        ("story", "Story", "the story behind the dish", 2),
        ("origin", "Origin", "where it comes from", 1),
        ("tags", "Tags", "comma separated: soup, born in the outage", 1),
    )

    def rules(self, raw: dict[str, str]) -> FormCheck:
        return check_recipe(raw)

    async def send(self, args: Args) -> Answer | None:
        return await self.app.act("recipe_add", f"Added the recipe {args['title']}.", **args)
