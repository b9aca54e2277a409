"""Recipes: list and search on the left, the recipe on the right.

A recipe shows its ingredient lines, steps, stories, contributors and lineage
(what it was adapted from, its variations). ``t`` adds a step, ``v`` makes a
variation, ``y`` tells a story about it; ``n`` adds a new recipe.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from ..show import labels
from ..widgets.pane import Pane, cells, keep_cursor, selected_key


class RecipesPane(Pane):
    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("t", "step", "Add step"),
        Binding("v", "variation", "Variation"),
        Binding("y", "story", "Story"),
        Binding("n", "new_recipe", "New"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.recipes: dict[str, dict] = {}

    def compose(self):
        with Horizontal():
            with Vertical(id="recipe-list"):
                yield Input(placeholder="search recipes", id="recipe-search")
                table = DataTable(id="recipes-table", cursor_type="row", zebra_stripes=True)
                table.add_column("title", key="title", width=22)
                table.add_column("serves", key="serves", width=6)
                yield table
            with VerticalScroll(id="recipe-detail-box"):
                yield Static(id="recipe-detail")

    @property
    def table(self) -> DataTable:
        return self.query_one("#recipes-table", DataTable)

    async def reload(self, app: Any) -> None:
        search = self.query_one("#recipe-search", Input).value.strip() or None
        recipes = await app.ask("recipe_list", search=search)
        if recipes is None:
            return
        table = self.table
        key = selected_key(table)
        table.clear()
        self.recipes = {}
        for recipe in recipes:
            self.recipes[recipe["id"]] = recipe
            table.add_row(*cells(recipe["title"], recipe.get("serves") or "-"), key=recipe["id"])
        keep_cursor(table, key)
        self.show_detail()

    async def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "recipe-search":
            await self.reload(self.app)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def selected(self) -> dict | None:
        return self.recipes.get(selected_key(self.table) or "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        recipe = self.selected()
        detail = self.query_one("#recipe-detail", Static)
        detail.update(recipe_text(recipe) if recipe else "No recipes match.")

    def action_search(self) -> None:
        self.query_one("#recipe-search", Input).focus()

    def _open(self, dialog: str) -> None:
        recipe = self.selected()
        if recipe is None:
            self.app.notify("No recipe selected.", severity="warning")
            return
        from . import dialogs

        self.app.push_screen(getattr(dialogs, dialog)(recipe))

    def action_step(self) -> None:
        self._open("StepDialog")

    def action_variation(self) -> None:
        self._open("VariationDialog")

    def action_story(self) -> None:
        self._open("StoryDialog")

    def action_new_recipe(self) -> None:
        from .recipe_form import RecipeForm

        self.app.push_screen(RecipeForm(), self.select)

    def select(self, recipe: dict | None) -> None:
        """Put the cursor on ``recipe`` (a node answer with its ``id``) when listed."""
        if recipe and recipe.get("id") in self.recipes:
            self.table.move_cursor(row=self.table.get_row_index(recipe["id"]))
            self.table.focus()


def recipe_text(recipe: dict) -> Text:
    """The whole recipe as text: title, lineage, ingredients, steps, stories, credits."""
    text = Text()
    text.append(recipe["title"], style="bold underline")
    meta = [f"serves {recipe['serves']}" if recipe.get("serves") else "", recipe.get("origin") or "",
            labels(recipe.get("tags"))]
    meta = [m for m in meta if m]
    if meta:
        text.append("\n" + " · ".join(meta), style="italic")
    if recipe.get("adapted_from"):
        text.append(f"\nadapted from: {recipe['adapted_from']['title']}")
    if recipe.get("variations"):
        text.append("\nvariations: " + ", ".join(v["title"] for v in recipe["variations"]))
    if recipe.get("story"):
        text.append(f"\n\n{recipe['story']}", style="italic")
    text.append("\n\nIngredients", style="bold")
    for line in recipe.get("ingredients", []):
        amount = " ".join(str(p) for p in (line.get("amount"), line.get("unit")) if p)
        note = f" ({line['note']})" if line.get("note") else ""
        text.append(f"\n • {amount + ' ' if amount else ''}{line['item']}{note}")
    if not recipe.get("ingredients"):
        text.append("\n (none yet)")
    text.append("\n\nSteps", style="bold")
    for step in recipe.get("steps", []):
        text.append(f"\n {step['position']}. {step['text']}")
    if not recipe.get("steps"):
        text.append("\n (none yet: t adds one)")
    for story in recipe.get("stories", []):
        text.append(f"\n\n“{story.get('title') or 'A story'}” by {story['household_name']}", style="bold")
        text.append(f"\n{story['text']}")
    text.append("\n\ncontributors: " + (", ".join(recipe.get("contributors") or []) or "-"), style="italic")
    return text
