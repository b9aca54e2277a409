"""Recipes: list and search on the left, the recipe on the right.

A recipe shows its ingredient lines, steps, stories, contributors and lineage
(what it was adapted from, its variations). ``t`` adds a step, ``v`` makes a
variation, ``y`` tells a story about it; ``n`` adds a new recipe; ``k`` (or ``7``
anywhere) shows what can be cooked now (:mod:`.cook`). The node sends the book a page at a time in title
order (see :class:`~cli.tui.widgets.paged.PagedPane`): the next page loads
when the cursor reaches the last recipe held, or on ``m``; the search is the
node's, over the whole book.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Input, Static

from meshpantry.control.frames import Wire

from ..answers import Answer, RecipeRow, recipe_rows
from ..show import labels
from ..widgets.paged import PagedPane
from ..widgets.pane import cells, selected_key

if TYPE_CHECKING:
    from ..app import PantryApp


class RecipesPane(PagedPane[RecipeRow]):
    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("t", "step", "Add step"),
        Binding("v", "variation", "Variation"),
        Binding("y", "story", "Story"),
        Binding("n", "new_recipe", "New"),
        Binding("k", "app.cook", "Cook now", show=False),
    ]
    op = "recipe_page"
    table_id = "recipes-table"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        #: The recipes held, by id.
        self.recipes: dict[str, RecipeRow] = {}

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

    def page_args(self) -> dict[str, Wire]:
        return {"search": self.query_one("#recipe-search", Input).value.strip() or None}

    def rows_of(self, page: Answer) -> list[RecipeRow]:
        return recipe_rows(page)

    async def page_loaded(self, app: PantryApp, rows: list[RecipeRow], fresh: bool) -> None:
        if fresh:
            self.recipes = {}
        self.recipes.update((recipe["id"], recipe) for recipe in rows)

    def row_cells(self, recipe: RecipeRow) -> tuple[Text, ...]:
        return cells(recipe["title"], recipe.get("serves") or "-")

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "recipe-search":
            self.reload_soon(first_page=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def selected(self) -> RecipeRow | None:
        return self.recipes.get(selected_key(self.table) or "")

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

    def select(self, recipe: Answer | None) -> None:
        """Put the cursor on ``recipe`` (a node answer with its ``id``) when listed."""
        if recipe and recipe.get("id") in self.recipes:
            self.table.move_cursor(row=self.table.get_row_index(recipe["id"]))
            self.table.focus()


def recipe_text(recipe: RecipeRow) -> Text:
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
