"""Meals: shared meals with what they need against what is pledged.

The table shows each meal's overall coverage bar; the detail shows every
need with its own bar and the pledges made. ``p`` pledges to the meal under
the cursor, prefilled with the first thing still missing; ``n`` proposes a
new meal.
"""

from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from ..show import amount, relative
from ..widgets.coverage import coverage_bar
from ..widgets.pane import Pane, cells, keep_cursor, selected_key


class MealsPane(Pane):
    BINDINGS = [Binding("p", "pledge", "Pledge"), Binding("n", "new_meal", "New meal")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.meals: dict[str, dict] = {}
        self.now = 0

    def compose(self):
        table = DataTable(id="meals-table", cursor_type="row", zebra_stripes=True)
        table.add_column("dish", key="dish", width=20)
        table.add_column("when", key="when", width=9)
        table.add_column("place", key="place", width=14)
        table.add_column("coverage", key="coverage", width=15)
        table.add_column("host", key="host", width=10)
        yield table
        with VerticalScroll(id="meal-detail-box"):
            yield Static(id="meal-detail")

    @property
    def table(self) -> DataTable:
        return self.query_one("#meals-table", DataTable)

    async def reload(self, app: Any) -> None:
        meals = await app.ask("meal_list")
        if meals is None:
            return
        self.now = app.clock()
        table = self.table
        key = selected_key(table)
        table.clear()
        self.meals = {}
        for meal in meals:
            self.meals[meal["id"]] = meal
            table.add_row(*cells(meal["dish"], relative(meal["time"], self.now), meal.get("place") or "",
                                 coverage_bar(meal["coverage"], 100), meal.get("household_name") or ""),
                          key=meal["id"])
        keep_cursor(table, key)
        self.show_detail()

    def selected(self) -> dict | None:
        return self.meals.get(selected_key(self.table) or "")

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_detail()

    def show_detail(self) -> None:
        detail = self.query_one("#meal-detail", Static)
        meal = self.selected()
        if meal is None:
            detail.update("No meals planned yet.")
            return
        detail.update(meal_detail(meal, self.now))

    def action_pledge(self) -> None:
        meal = self.selected()
        if meal is None:
            self.app.notify("No meal selected.", severity="warning")
            return
        from .dialogs import PledgeDialog

        self.app.push_screen(PledgeDialog(meal))

    def action_new_meal(self) -> None:
        from .meal_form import MealForm

        self.app.push_screen(MealForm(), self.select)

    def select(self, meal: dict | None) -> None:
        """Put the cursor on ``meal`` (a node answer with its ``id``) when listed."""
        if meal and meal.get("id") in self.meals:
            self.table.move_cursor(row=self.table.get_row_index(meal["id"]))
            self.table.focus()


def meal_detail(meal: dict, now: int) -> Group:
    """The meal's line, its needs with coverage bars, then the pledges."""
    head = Text(f"{meal['dish']} · {relative(meal['time'], now)} · {meal.get('place') or ''}", style="bold")
    if meal.get("note"):
        head.append(f"  {meal['note']}", style="italic")
    grid = Table.grid(padding=(0, 2))
    grid.add_column(width=18)
    grid.add_column()
    grid.add_column()
    for need in meal.get("needs", []):
        grid.add_row(*cells(need["item"], coverage_bar(need["pledged"], need["quantity"]),
                            f"{need['pledged']}/{amount(need['quantity'], need['unit'])}"))
    if not meal.get("needs"):
        grid.add_row(*cells("needs nothing listed", "", ""))
    for pledge in meal.get("pledges", []):
        grid.add_row(*cells(Text(f"+ {pledge['household_name']}", style="green"),
                            amount(pledge["quantity"], pledge["unit"]) + f" {pledge['item']}", pledge.get("note") or ""))
    return Group(head, grid)
