"""Cookable now: what the recipe book makes of the pantry list and the board.

Opened with ``7`` (or ``k`` on the Recipes tab). The left column lists the
recipes, those that can be cooked now first (the node's ``cook`` op,
:mod:`meshpantry.core.cookable`); the right shows the one under the cursor,
line by line: on the pantry list, on offer (from whom), a substitute the
recipe records, or missing. The field at the bottom edits this household's
own pantry list, which never leaves the device: ``2 kg flour`` adds,
``-flour`` takes off. Escape goes back.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static

from ..widgets.pane import selected_key


class CookScreen(Screen):
    BINDINGS = [
        Binding("escape", "close", "Back"),
        Binding("r", "ready", "Ready only"),
        Binding("slash", "pantry", "Pantry list", key_display="/"),
    ]
    DEFAULT_CSS = """
    CookScreen #cook-list { width: 36; }
    CookScreen #cook-detail-box { padding: 0 1; }
    CookScreen #cook-pantry { height: auto; max-height: 4; color: $text-muted; }
    """

    def __init__(self) -> None:
        super().__init__(id="cook")
        self.recipes: list[dict[str, Any]] = []
        self.pantry: list[dict[str, Any]] = []
        self.ready_only = False

    def compose(self):
        yield Static(id="cook-summary")
        with Horizontal():
            with Vertical(id="cook-list"):
                table = DataTable(id="cook-table", cursor_type="row", zebra_stripes=True)
                table.add_column("recipe", key="title", width=22)
                table.add_column("", key="state", width=10)
                yield table
            with VerticalScroll(id="cook-detail-box"):
                yield Static(id="cook-detail")
        yield Static(id="cook-pantry")
        yield Input(placeholder="your pantry list: '2 kg flour' adds, '-flour' takes off", id="cook-pantry-input")
        yield Footer()

    async def on_mount(self) -> None:
        await self.load()
        self.query_one("#cook-table", DataTable).focus()

    async def load(self) -> None:
        app: Any = self.app
        answer = await app.ask("cook", ready_only=self.ready_only)
        listed = await app.ask("pantry_list")
        if answer is None or listed is None:
            return
        self.recipes = [r for r in answer.get("recipes") or [] if isinstance(r, dict)]
        self.pantry = [i for i in listed.get("items") or [] if isinstance(i, dict)]
        self.query_one("#cook-summary", Static).update(Text(
            f" {answer.get('ready', 0)} recipe(s) can be cooked now · {answer.get('pantry_items', 0)} on your "
            f"pantry list · {answer.get('offers', 0)} live offers" + (" · ready only" if self.ready_only else ""),
            style="bold"))
        table = self.query_one("#cook-table", DataTable)
        table.clear()
        for recipe in self.recipes:
            state = Text("cook now", style="bold green") if recipe["ready"] else Text(f"{len(recipe['missing'])} missing")
            table.add_row(recipe["title"], state, key=recipe["id"])
        self.query_one("#cook-pantry", Static).update(Text(
            " Pantry list: " + (", ".join(_words(i) for i in self.pantry) or "empty")))
        self.show_selected()

    def show_selected(self) -> None:
        key = selected_key(self.query_one("#cook-table", DataTable))
        recipe = next((r for r in self.recipes if r["id"] == key), self.recipes[0] if self.recipes else None)
        detail = self.query_one("#cook-detail", Static)
        if recipe is None:
            detail.update("No recipe with ingredients yet: add one on the Recipes tab (4).")
            return
        detail.update(recipe_detail(recipe))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_selected()

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        from cli.commands_recipes import parse_ingredient

        app: Any = self.app
        text = event.value.strip()
        if not text:
            return
        if text.startswith("-"):
            done = await app.ask("pantry_remove", item=text[1:].strip())
        else:
            try:
                line = parse_ingredient(text)
            except ValueError as exc:
                app.report(str(exc))
                return
            done = await app.ask("pantry_add", item=line["item"], amount=line.get("amount"), unit=line.get("unit"))
        if done is not None:
            event.input.value = ""
            await self.load()

    def action_pantry(self) -> None:
        self.query_one("#cook-pantry-input", Input).focus()

    async def action_ready(self) -> None:
        self.ready_only = not self.ready_only
        await self.load()

    def action_close(self) -> None:
        self.app.pop_screen()


def _words(line: dict[str, Any]) -> str:
    return " ".join(str(x) for x in (line.get("amount"), line.get("unit"), line.get("item")) if x)


def recipe_detail(recipe: dict[str, Any]) -> Text:
    """A recipe's lines as the cook reads them: where each can come from."""
    text = Text(recipe["title"] + "\n", style="bold")
    text.append("Can be cooked now\n\n" if recipe["ready"] else f"Missing: {', '.join(recipe['missing'])}\n\n",
                style="green" if recipe["ready"] else "dark_orange")
    for line in recipe["lines"]:
        what = _words(line)
        use = f" → {line['use']}" if line.get("use") else ""
        if line["source"] == "pantry":
            text.append(f"✓ {what}{use}  (your pantry)\n")
        elif line["source"] == "offer":
            offer = line["offer"]
            who = "your own offer" if offer["mine"] else f"{offer['household_name']} offers {offer['remaining']} {offer['unit']}"
            text.append(f"◆ {what}{use}  ({who})\n", style="cyan")
        else:
            text.append(f"✗ {what}  missing\n", style="dark_orange")
    if recipe.get("substitutions"):
        text.append("\nSubstitutes from the recipe: " + ", ".join(f"{s['use']} for {s['item']}" for s in recipe["substitutions"]))
    return text
